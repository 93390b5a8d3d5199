"""Reading CSV files with Python's csv module, with errors that name file, line and column."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import DataError


def _read_rows(path: Path, delimiter: str) -> list[tuple[int, list[str]]]:
    """Non-blank records with their line numbers (1-based, the record's last line)."""
    if not path.exists():
        raise DataError(f"{path}: no such file; expected a CSV file (data.path, relative paths "
                        f"resolve against the spec's folder)")
    if path.is_dir():
        raise DataError(f"{path}: this is a folder; expected a CSV file")
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh, delimiter=delimiter)
            rows = [(reader.line_num, row) for row in reader if any(c.strip() for c in row)]
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start}); expected a CSV text file") \
            from None
    except csv.Error as exc:
        raise DataError(f"{path}, line {reader.line_num}: malformed CSV ({exc})") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read the file ({exc.strerror})") from None
    if not rows:
        raise DataError(f"{path}: the file is empty; expected a header line and rows of "
                        f"{delimiter!r}-separated numbers")
    return rows


def _column_label(j: int, header: list[str] | None) -> str:
    return f"column {j + 1} ({header[j]!r})" if header else f"column {j + 1}"


def _parse_matrix(path: Path, rows, cols: list[int], header) -> np.ndarray:
    """The given columns of the records as float64, with a precise error for a bad cell."""
    try:
        M = np.array([[row[j] for j in cols] for _, row in rows], dtype=np.float64)
    except ValueError:
        M = None
    if M is not None and np.all(np.isfinite(M)):
        return M.reshape(len(rows), len(cols))
    M = np.empty((len(rows), len(cols)))
    for i, (line, row) in enumerate(rows):
        for k, j in enumerate(cols):
            cell = row[j].strip()
            try:
                v = M[i, k] = float(cell)
            except ValueError:
                got = "an empty cell" if not cell else repr(row[j])
                raise DataError(f"{path}, line {line}, {_column_label(j, header)}: expected a "
                                f"number, got {got}") from None
            if not math.isfinite(v):
                raise DataError(f"{path}, line {line}, {_column_label(j, header)}: the value "
                                f"{row[j]!r} is not a finite number; fill in or remove missing "
                                f"and infinite values")
    return M


def _check_ragged(path: Path, rows, width: int, first: str) -> None:
    for line, row in rows:
        if len(row) != width:
            raise DataError(f"{path}, line {line}: this row has {len(row)} field(s), expected "
                            f"{width} ({first}); check the delimiter and quoting")


def _column_index(path: Path, t: str | int, header: list[str] | None, width: int, line: int) -> int:
    if isinstance(t, str) and header is None:
        raise DataError(f"{path}, line {line}: data.target names the column {t!r}, but every cell "
                        f"of the first line is a number, so it was read as data, not as a header; "
                        f"set header = true if it is a header, or give the target as a 0-based "
                        f"column index")
    if isinstance(t, str):
        names = [h.strip() for h in header]
        if t not in names:
            raise DataError(f"{path}, line {line}: no column named {t!r} (data.target); the header "
                            f"has columns {', '.join(map(repr, names))}")
        return names.index(t)
    if not -width <= t < width:
        raise DataError(f"{path}: target column index {t} (data.target) is out of range; the file "
                        f"has {width} columns (indices 0 to {width - 1}, or -1 for the last)")
    return t % width


def _header_and_data(path: Path, delimiter: str, header: bool | None):
    rows = _read_rows(path, delimiter)
    head_line, first = rows[0]
    if header is None:
        header = _looks_like_header(first, rows[1][1] if len(rows) > 1 else None)
    data = rows[1:] if header else rows
    names = first if header else None
    width = len(first)
    _check_ragged(path, data, width, f"as in the header on line {head_line}" if header else
                  f"as in the first row on line {head_line}")
    if not data:
        raise DataError(f"{path}: the file has a header on line {head_line} but no data rows")
    return head_line, names, data, width


def _looks_like_header(first: list[str], second: list[str] | None) -> bool:
    """Whether the first line names the columns: some cell of it is text (not a number, not
    empty) above a number in the second line; with no second line of the same width, some cell
    is text. A first line of numbers (and text only in text columns, such as class labels) is
    data, except pandas' names of unnamed columns, 0, 1, 2, ..."""
    if _default_column_names(first):
        return True
    text = [bool(c.strip()) and not _is_number(c) for c in first]
    if second is None or len(second) != len(first):
        return any(text)
    return any(t and _is_number(b) for t, b in zip(text, second))


def _default_column_names(first: list[str]) -> bool:
    """``0,1,2,...`` (after an empty index cell, ``,0,1,...``): the header pandas writes for
    unnamed columns (``DataFrame(X).to_csv()``), not a row of data."""
    cells = [c.strip() for c in first]
    if len(cells) > 1 and cells[0] == "":
        cells = cells[1:]
    return len(cells) > 1 and cells == [str(i) for i in range(len(cells))]


def _is_number(cell: str) -> bool:
    try:
        float(cell)
        return True
    except ValueError:
        return False


def load_csv(path: str | Path, target: str | int | list = -1, *, header: bool | None = None,
             delimiter: str = ",", labels: bool = False):
    """Read a CSV file of features and target(s).

    Args:
        path: the CSV file.
        target: the target column(s): a header name, a 0-based index (negative from the end),
            or a list of them.
        header: whether the first non-blank line names the columns; None detects it: a header
            when some cell of it is text above a number in the next line (a first line of
            numbers, with text only in text columns such as class labels, is data).
        delimiter: the field separator (one character).
        labels: the target is class labels (kept as strings) rather than numbers.

    Returns:
        ``(X float64 (N, d), y, feature names)``; ``y`` is ``(N,)`` strings when ``labels``,
        else float64 ``(N,)`` for one target column or ``(N, k)`` for several; the feature
        names are the header's (``[]`` without a header).

    Raises:
        DataError: missing or empty file, missing target column, ragged rows, a non-numeric,
            NaN or infinite feature (or regression target) cell; the message names the file,
            line and column.
    """
    path = Path(path)
    head_line, names, data, width = _header_and_data(path, delimiter, header)
    targets = target if isinstance(target, list) else [target]
    t_idx = [_column_index(path, t, names, width, head_line) for t in targets]
    feat = [j for j in range(width) if j not in t_idx]
    if not feat:
        raise DataError(f"{path}: no feature columns are left after taking the target column(s)")
    X = _parse_matrix(path, data, feat, names)
    fnames = [names[j].strip() for j in feat] if names else []
    if labels:
        if len(t_idx) != 1:
            raise DataError(f"{path}: a classification target is one column, got {len(t_idx)} "
                            f"(data.target)")
        y = np.array([row[t_idx[0]].strip() for _, row in data])
        blank = np.flatnonzero(y == "")
        if len(blank):
            raise DataError(f"{path}, line {data[blank[0]][0]}, "
                            f"{_column_label(t_idx[0], names)}: empty class label")
        return X, y, fnames
    y = _parse_matrix(path, data, t_idx, names)
    return X, (y[:, 0] if len(t_idx) == 1 else y), fnames


def load_csv_features(path: str | Path, n_inputs: int, *, header: bool | None = None,
                      delimiter: str = ",", ignore: str | int | None = None,
                      names: Sequence[str] = ()) -> np.ndarray:
    """Read inputs for prediction: a CSV of ``n_inputs`` numeric columns.

    Columns are matched by name when the file has a header that names some of ``names`` (the
    training features, in the model's input order): they may come in any order, and a missing
    feature or an unknown column is an error. Otherwise they are taken in the file's order (with
    a :class:`~symbp.errors.SymbpWarning` when both sides have names but share none).

    Args:
        path: the CSV file.
        n_inputs: the model's input width.
        header: whether the first line names the columns; None detects it (see
            :func:`load_csv`).
        delimiter: the field separator.
        ignore: a column to drop if present (e.g. the training target's name or index).
        names: the training data's feature names (empty: match by position).

    Returns:
        ``X`` float64 ``(N, n_inputs)``, not standardised, columns in the model's input order.

    Raises:
        DataError: as :func:`load_csv`; the column count is not ``n_inputs``; or, matching by
            name, a feature is missing or a column is not a feature.
    """
    path = Path(path)
    head_line, header_names, data, width = _header_and_data(path, delimiter, header)
    if header_names and names:
        if {h.strip() for h in header_names} & set(names):
            cols = _columns_by_name(path, head_line, header_names, list(names), ignore)
            return _parse_matrix(path, data, cols, header_names)
        # no name in common: names the user never wrote (a bundled data set's), or their own
        # for the same columns; positions are all there is to go by, and the user is told
        import warnings

        from ..errors import SymbpWarning

        shown = ", ".join(names[:4]) + (f", ... ({len(names)} in all)" if len(names) > 4 else "")
        warnings.warn(f"{path}, line {head_line}: none of the column names is a training "
                      f"feature's ({shown}), so the columns are taken in order",
                      SymbpWarning, stacklevel=2)
    drop = set()
    if isinstance(ignore, str) and header_names and \
            ignore in [h.strip() for h in header_names]:
        drop.add([h.strip() for h in header_names].index(ignore))
    elif isinstance(ignore, int) and not isinstance(ignore, bool) and width > n_inputs:
        drop.add(_column_index(path, ignore, header_names, width, head_line))
    cols = [j for j in range(width) if j not in drop]
    if len(cols) != n_inputs:
        raise DataError(f"{path}, line {head_line}: the file has {len(cols)} feature column(s) "
                        f"but the model has {n_inputs} input(s); they must be equal")
    return _parse_matrix(path, data, cols, header_names)


def _columns_by_name(path: Path, line: int, header: list[str], names: list[str],
                     ignore: str | int | None) -> list[int]:
    """The header's column index of each of ``names``; every other column must be ``ignore``."""
    cells = [h.strip() for h in header]
    twice = sorted({c for c in cells if c in names and cells.count(c) > 1})
    missing = [n for n in names if n not in cells]
    extra = [j for j, c in enumerate(cells) if c not in names]
    if isinstance(ignore, str):
        extra = [j for j in extra if cells[j] != ignore]
    elif isinstance(ignore, int) and not isinstance(ignore, bool) and \
            -len(cells) <= ignore < len(cells):
        extra = [j for j in extra if j != ignore % len(cells)]
    if not (twice or missing or extra):
        return [cells.index(n) for n in names]
    problems = ([f"missing {_names(missing)}"] if missing else []) + \
        ([f"unknown {_names([cells[j] for j in extra])}"] if extra else []) + \
        ([f"named twice {_names(twice)}"] if twice else [])
    raise DataError(f"{path}, line {line}: the header's columns are matched by name to the "
                    f"model's training features ({_names(names)}); {'; '.join(problems)}. "
                    f"Rename the columns, or remove the header line to take the columns in order")


def _names(names: list[str], most: int = 8) -> str:
    """``'a', 'b', ... (20 in all)``."""
    shown = ", ".join(map(repr, names[:most]))
    return shown + (f", ... ({len(names)} in all)" if len(names) > most else "")
