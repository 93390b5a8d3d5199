"""Loading, checking, splitting, encoding and standardising the data of a ``[data]`` table."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import DataError
from .csvfile import load_csv
from .sources import _npz, _sklearn, seed_data
from .table import SEED_SETS, SKLEARN_SETS, default_task, standardizes, validate_data_table


@dataclass(frozen=True)
class Standardizer:
    """``transform(X) = (X - mean) / std``; mean 0 and std 1 when standardisation is off."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray) -> Standardizer:
        """Mean and std (ddof 0) per column of ``X``; std 1 where a column is constant."""
        mean = X.mean(axis=0)
        std = X.std(axis=0)
        return cls(mean, np.where(std > 1e-12 * np.maximum(1.0, np.abs(mean)), std, 1.0))

    @classmethod
    def identity(cls, n_features: int) -> Standardizer:
        return cls(np.zeros(n_features), np.ones(n_features))

    @property
    def is_identity(self) -> bool:
        return bool(np.all(self.mean == 0) and np.all(self.std == 1))

    def transform(self, X: np.ndarray) -> np.ndarray:
        return (np.asarray(X, dtype=np.float64) - self.mean) / self.std

    def inverse_transform(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=np.float64) * self.std + self.mean


@dataclass(frozen=True)
class Dataset:
    """Loaded, split and standardised data. Y has one column per model output."""

    X_train: np.ndarray
    Y_train: np.ndarray
    X_val: np.ndarray
    Y_val: np.ndarray
    X_test: np.ndarray
    Y_test: np.ndarray
    classes: tuple | None       # class labels in output order (classification), else None
    task: str                   # "classification" | "regression"
    feature_names: tuple[str, ...]  # the data's column names; () when it has none
    standardizer: Standardizer
    one_hot: bool = False
    origin: str = ""            # e.g. "digits" or the CSV's path
    split: tuple[float, float, float] = (1.0, 0.0, 0.0)
    seed: int = 0

    @property
    def n_features(self) -> int:
        return self.X_train.shape[1]

    @property
    def n_outputs(self) -> int:
        return self.Y_train.shape[1]

    def info(self) -> str:
        """A short text summary (a few lines)."""
        if self.task == "classification":
            kind = f"classification, {len(self.classes)} classes"
            enc = "one-hot" if self.one_hot else ("0/1 column" if self.n_outputs == 1 else "")
        else:
            kind, enc = "regression", ""
        names = ""
        if self.feature_names:
            names = " (" + ", ".join(self.feature_names[:6]) + (", ...)" if self.n_features > 6
                                                                 else ")")
        lines = [f"data: {self.origin} ({kind})",
                 f"  features: {self.n_features}{names}; outputs: {self.n_outputs}"
                 + (f" ({enc})" if enc else ""),
                 f"  samples: train {len(self.X_train)}, validation {len(self.X_val)}, "
                 f"test {len(self.X_test)} (split {'/'.join(f'{f:g}' for f in self.split)}, "
                 f"seed {self.seed})"]
        if self.classes is not None:
            shown = ", ".join(map(str, self.classes[:10])) + (", ..." if len(self.classes) > 10
                                                              else "")
            lines.append(f"  classes: {shown}")
        lines.append("  standardized with the train part's mean and std"
                     if not self.standardizer.is_identity else "  not standardized")
        return "\n".join(lines)



def load_data(table: dict, base_dir: str | Path, n_inputs: int, n_outputs: int, *,
              source: str = "<spec>") -> Dataset:
    """Load, check, split and standardise the data a ``[data]`` table names.

    Args:
        table: the ``[data]`` table (validated here again).
        base_dir: folder that relative ``path`` values resolve against (the spec's folder).
        n_inputs: the model's input width; the data must have this many features.
        n_outputs: the model's output width; the (encoded) targets must have this many columns.
        source: the spec's file name, for messages about the table.

    Returns:
        A :class:`Dataset`.

    Raises:
        SpecError: the table does not validate.
        DataError: the data is missing, malformed, or does not fit the model.
    """
    validate_data_table(table, source)
    src = table["source"]
    task = table.get("task", default_task(src))
    X, y, names, where = _read_source(table, Path(base_dir), task)
    if len(X) == 0:
        raise DataError(f"{where}: the data has no samples (0 rows); expected one row per sample")
    if X.shape[1] != n_inputs:
        raise DataError(f"{where}: the data has {X.shape[1]} feature column(s) but the model has "
                        f"{n_inputs} input(s) (model.inputs); they must be equal")
    one_hot = table.get("one_hot", n_outputs > 1) if task == "classification" else False
    classes = None
    if task == "classification":
        Y, classes = _encode_classes(y, n_outputs, one_hot, where)
    else:
        Y = _numeric_targets(y, where)
    if Y.shape[1] != n_outputs:
        raise DataError(f"{where}: the targets have {Y.shape[1]} column(s) but the model has "
                        f"{n_outputs} output(s) (the last layer's units); they must be equal")
    default_split = [0.7, 0.1, 0.2] if src in SKLEARN_SETS else [1.0, 0.0, 0.0]
    split = tuple(float(f) for f in table.get("split", default_split))
    seed = table.get("seed", 0)
    tr, va, te = split_indices(len(X), split, seed, where)
    if standardizes(table):
        std = Standardizer.fit(X[tr])
    else:
        std = Standardizer.identity(X.shape[1])
    Xs = std.transform(X)
    origin = where if src in ("csv", "npz") else src
    return Dataset(Xs[tr], Y[tr], Xs[va], Y[va], Xs[te], Y[te], classes, task, tuple(names), std,
                   bool(one_hot), origin, split, seed)


def split_indices(n: int, split: Sequence[float], seed: int,
                  where: str = "data") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train, validation and test indices of ``n`` samples (disjoint, covering all).

    Sizes are ``round(n * fraction)`` for validation and test (at least 1 where the fraction is
    > 0), the rest for training. With no validation or test part the order is kept; otherwise
    the order is a permutation from ``numpy.random.default_rng(seed)``.
    """
    _, f_va, f_te = split
    n_va = max(round(n * f_va), 1) if f_va > 0 else 0
    n_te = max(round(n * f_te), 1) if f_te > 0 else 0
    if n - n_va - n_te < 1:
        raise DataError(f"{where}: {n} sample(s) are too few for the split {list(split)}; the "
                        f"train part would be empty")
    order = np.arange(n) if n_va + n_te == 0 else np.random.default_rng(seed).permutation(n)
    n_tr = n - n_va - n_te
    return order[:n_tr], order[n_tr:n_tr + n_va], order[n_tr + n_va:]


def _read_source(table: dict, base_dir: Path, task: str):
    """-> (X float64 (N, d), y labels or targets (N,) or (N, k), feature names, where).

    The feature names are those the data gives (a CSV header, the sklearn sets'), else ``[]``.

    ``where`` names the data in messages: the file, or the key of the table.
    """
    src = table["source"]
    if src in SKLEARN_SETS:
        X, y, names = _sklearn(src)
        return X, y, names, f"data.source = {src!r}"
    if src in SEED_SETS:
        X, y = seed_data(src)
        return X, y, [], f"data.source = {src!r}"
    if src == "inline":
        X = np.array(table["x"], dtype=np.float64)
        X = X[:, None] if X.ndim == 1 else X
        return X, np.array(table["y"]), [], "data.x"
    path = _resolve(table["path"], base_dir)
    if src == "npz":
        X, y = _npz(path, table.get("x_key", "X"), table.get("y_key", "y"))
        return X, y, [], str(path)
    X, y, names = load_csv(path, table.get("target", -1), header=table.get("header"),
                           delimiter=table.get("delimiter", ","),
                           labels=task == "classification")
    return X, y, names, str(path)


def _resolve(path: str, base_dir: Path) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else base_dir / p



def _encode_classes(y: np.ndarray, n_outputs: int, one_hot: bool, where: str):
    """Labels -> (Y (N, n_outputs or classes), classes)."""
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(f"{where}: a classification target is one column of class labels, got "
                        f"{y.shape[1]} columns; set task = \"regression\" to use them as they are")
    labels = y
    if y.dtype.kind in "OUS":  # strings: numbers where every label is one
        try:
            labels = np.array([float(v) for v in y])
        except ValueError:
            labels = y.astype(str)
    if labels.dtype.kind == "f":
        if not np.all(np.isfinite(labels)):
            raise DataError(f"{where}: a class label is NaN or infinite")
        if np.all(labels == np.round(labels)):
            labels = labels.astype(np.int64)
    classes = np.unique(labels)
    if len(classes) < 2:
        raise DataError(f"{where}: every sample has the class {_show(classes)}; classification "
                        f"needs samples of at least two classes")
    width = n_outputs if one_hot else 2
    if labels.dtype.kind in "iu" and classes[0] >= 0 and classes[-1] == width - 1:
        classes = np.arange(width)  # whole-number labels 0 .. width-1 are class indices
    index = np.searchsorted(classes, labels)
    k = len(classes)
    if one_hot:
        Y = np.zeros((len(labels), k))
        Y[np.arange(len(labels)), index] = 1.0
    elif n_outputs == 1 and k <= 2:
        Y = index[:, None].astype(np.float64)
    else:
        hint = (f"use a last layer of {k} units" if n_outputs == 1 else "set one_hot = true")
        raise DataError(f"{where}: the target has {k} classes, which one output column cannot "
                        f"hold without one-hot encoding, but the model has {n_outputs} output(s); "
                        f"{hint}")
    if one_hot and k != n_outputs:
        raise DataError(f"{where}: the target has {k} classes ({_show(classes)}), so one-hot "
                        f"targets have {k} columns, but the model has {n_outputs} output(s) (the "
                        f"last layer's units); they must be equal")
    return Y, tuple(c.item() for c in classes)


def _show(values) -> str:
    return ", ".join(map(str, values[:8])) + (", ..." if len(values) > 8 else "")


def _numeric_targets(y: np.ndarray, where: str) -> np.ndarray:
    try:
        Y = np.asarray(y, dtype=np.float64)
    except ValueError:
        raise DataError(f"{where}: regression targets must be numbers; for class labels set "
                        f"task = \"classification\"") from None
    Y = Y[:, None] if Y.ndim == 1 else Y
    if not np.all(np.isfinite(Y)):
        raise DataError(f"{where}: a target is NaN or infinite; expected finite numbers")
    return Y
