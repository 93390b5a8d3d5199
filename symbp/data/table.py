"""Static validation of the ``[data]`` table (see :mod:`symbp.data` for the format).

Importing this module registers :func:`validate_data_table` in
:data:`symbp.spec.SECTION_VALIDATORS`.
"""

from __future__ import annotations

import math
from typing import Any

from ..errors import SpecError
from ..spec import SECTION_VALIDATORS

SKLEARN_SETS = ("digits", "iris", "wine", "breast_cancer")
SEED_SETS = ("seed000", "seed001", "seed002_quadratic", "seed003")
SOURCES = SKLEARN_SETS + SEED_SETS + ("csv", "npz", "inline")
TASKS = ("classification", "regression")
COMMON_KEYS = ("source", "task", "split", "seed", "standardize", "one_hot")
SOURCE_KEYS = {"csv": ("path", "target", "header", "delimiter"), "npz": ("path", "x_key", "y_key"),
               "inline": ("x", "y")}


def validate_data_table(table: Any, source: str) -> None:
    """Check the ``[data]`` table without reading any file.

    Args:
        table: the parsed ``[data]`` table.
        source: the spec's file name, for messages.

    Raises:
        SpecError: a key is missing, unknown for this source, or has a bad value.
    """
    if not isinstance(table, dict):
        raise SpecError(source, "data", "expected a table such as { source = \"digits\" }")
    src = table.get("source")
    if src not in SOURCES:
        got = "missing" if src is None else f"got {src!r}"
        raise SpecError(source, "data.source", f"{got}; expected one of {', '.join(SOURCES)}")
    allowed = COMMON_KEYS + SOURCE_KEYS.get(src, ())
    for key in table:
        if key not in allowed:
            raise SpecError(source, f"data.{key}", f"unknown key for source = {src!r}; expected "
                            f"one of {', '.join(allowed)}")
    if src in ("csv", "npz"):
        if not isinstance(table.get("path"), str) or not table["path"].strip():
            raise SpecError(source, "data.path", f"missing or empty; source = {src!r} needs "
                            f"path = \"file.{src}\"")
    for key in ("x_key", "y_key"):
        if key in table and (not isinstance(table[key], str) or not table[key]):
            raise SpecError(source, f"data.{key}", "expected a non-empty string (an array name)")
    for key in ("header", "standardize", "one_hot"):
        if key in table and not isinstance(table[key], bool):
            raise SpecError(source, f"data.{key}", f"expected true or false, got {table[key]!r}")
    if "delimiter" in table and not is_delimiter(table["delimiter"]):
        raise SpecError(source, "data.delimiter", f"expected {DELIMITER_EXPECTED}, got "
                        f"{table['delimiter']!r}")
    if "target" in table:
        _check_target(table["target"], table.get("header", True), source)
    task = table.get("task", default_task(src))
    if task not in TASKS:
        raise SpecError(source, "data.task", f"expected \"classification\" or \"regression\", "
                        f"got {task!r}")
    if table.get("one_hot") is True and task == "regression":
        raise SpecError(source, "data.one_hot", "one_hot = true needs task = \"classification\"")
    if "split" in table:
        _check_split(table["split"], source)
    if "seed" in table:
        s = table["seed"]
        if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s < 2**63:
            raise SpecError(source, "data.seed", f"expected a whole number >= 0, got {s!r}")
    if src == "inline":
        _check_inline(table, task, source)


#: What :func:`is_delimiter` accepts, for messages.
DELIMITER_EXPECTED = "one character such as \",\", \";\" or \"\\t\" (not a quote or a line break)"


def is_delimiter(d: Any) -> bool:
    """Whether ``d`` can separate CSV fields: one character, not a quote or a line break."""
    return isinstance(d, str) and len(d) == 1 and d not in "\"\r\n"


def default_task(src: str) -> str:
    return "classification" if src in SKLEARN_SETS + ("seed000", "seed001") else "regression"


def standardizes(table: dict) -> bool:
    """Whether a (valid) ``[data]`` table standardises the features: ``standardize``, by default
    true for the sklearn sets only."""
    return bool(table.get("standardize", table["source"] in SKLEARN_SETS))


def _check_target(target: Any, header: Any, source: str) -> None:
    items = target if isinstance(target, list) else [target]
    if not items:
        raise SpecError(source, "data.target", "expected a column name or index, got []")
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (str, int)):
            raise SpecError(source, "data.target", f"expected a column name, a 0-based column "
                            f"index or a list of them, got {item!r}")
        if isinstance(item, str) and header is False:
            raise SpecError(source, "data.target", f"with header = false the target is a 0-based "
                            f"column index, not the name {item!r}")


def _check_split(split: Any, source: str) -> None:
    ok = (isinstance(split, list) and len(split) == 3
          and all(isinstance(f, (int, float)) and not isinstance(f, bool) for f in split))
    if not ok or not all(math.isfinite(f) and f >= 0 for f in split):
        raise SpecError(source, "data.split", f"expected three fractions >= 0 (train, validation, "
                        f"test) such as [0.8, 0.0, 0.2], got {split!r}")
    if abs(sum(split) - 1) > 1e-9 or split[0] <= 0:
        raise SpecError(source, "data.split", f"the fractions must add up to 1 with a train part "
                        f"> 0, got {split!r} (sum {sum(split):g})")


def _check_inline(table: dict, task: str, source: str) -> None:
    x, y = table.get("x"), table.get("y")
    if not isinstance(x, list) or not x:
        raise SpecError(source, "data.x", "missing or empty; expected rows of numbers such as "
                        "[[0, 1], [1, 0]] (or a flat list for one feature)")
    if not isinstance(y, list) or len(y) != len(x):
        n = f"{len(y)} values" if isinstance(y, list) else repr(y)
        raise SpecError(source, "data.y", f"expected one target per row of data.x ({len(x)}), "
                        f"got {n}")
    for key, rows, labels_ok in (("x", x, False), ("y", y, task == "classification")):
        width = len(rows[0]) if isinstance(rows[0], list) else None  # None: one value a row
        shape = f"a list of {width} values" if width else "a single value"
        for i, row in enumerate(rows):
            cells = row if isinstance(row, list) else [row]
            if (len(row) if isinstance(row, list) else None) != width or not cells:
                raise SpecError(source, f"data.{key}[{i}]", f"expected {shape} like the first "
                                f"row, got {row!r}")
            for v in cells:
                if isinstance(v, str) and labels_ok and width is None:
                    continue
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                    hint = ("; class labels need data.task = \"classification\" (inline data "
                            "is a regression unless it says so)"
                            if isinstance(v, str) and key == "y" and task != "classification"
                            else "")
                    raise SpecError(source, f"data.{key}[{i}]", f"expected finite numbers"
                                    f"{' or class labels' if labels_ok else ''}, got {v!r}{hint}")


SECTION_VALIDATORS["data"] = validate_data_table
