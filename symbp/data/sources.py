"""The named data sets: scikit-learn's bundled sets, the seed documents' data, and npz files."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from ..errors import DataError
from .table import SEED_SETS

SEED000_GENERATOR_SEED = 0


def seed_data(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The data of a seed document: ``(X (N, d) float64, y (N,))`` (labels or targets)."""
    if name == "seed000":
        rng = np.random.default_rng(SEED000_GENERATOR_SEED)
        X = rng.random((100, 2))
        return X, rng.integers(0, 2, 100)
    if name == "seed001":
        return np.array([[1, 2], [2, 3], [3, 4], [4, 5]], dtype=np.float64), np.array([0, 0, 1, 1])
    if name == "seed002_quadratic":
        x = np.arange(5, dtype=np.float64)
        return x[:, None], x ** 2
    if name == "seed003":
        x = np.arange(1, 5, dtype=np.float64)
        return x[:, None], 2 * x
    raise ValueError(f"unknown seed data set {name!r}; expected one of {', '.join(SEED_SETS)}")


def _sklearn(name: str):
    if name == "digits":
        found = _digits_file()
        if found is not None:
            return found
    try:
        import sklearn.datasets as skd
    except ImportError:
        raise DataError(f"data.source = {name!r}: this data set comes with scikit-learn, which is "
                        f"not installed; install it with pip install \"symbp[data]\" (or pip "
                        f"install scikit-learn), or use source = \"csv\"") from None
    bunch = getattr(skd, f"load_{name}")()
    return np.asarray(bunch.data, dtype=np.float64), bunch.target, list(bunch.feature_names)


def _digits_file():
    """scikit-learn's digits, read from the file its ``load_digits`` reads (as it reads it),
    without importing scikit-learn: that import is 0.8 s of a 3 s ``symbp train digits_softmax``
    or ``symbp demo``. None where the file is not where scikit-learn keeps it or not as
    expected, and the caller goes through ``load_digits`` (tests/test_data.py checks the two
    agree)."""
    import importlib.util

    try:
        found = importlib.util.find_spec("sklearn")  # finds the package, does not import it
    except (ImportError, ValueError, AttributeError):  # e.g. sys.modules["sklearn"] = None
        return None
    if found is None or not found.submodule_search_locations:
        return None
    path = Path(next(iter(found.submodule_search_locations))) / "datasets" / "data" / "digits.csv.gz"
    try:
        data = np.loadtxt(path, delimiter=",")
    except (OSError, ValueError, EOFError):
        return None
    if data.shape != (1797, 65):
        return None
    names = [f"pixel_{row}_{col}" for row in range(8) for col in range(8)]
    return data[:, :-1], data[:, -1].astype(int), names


def _npz(path: Path, x_key: str, y_key: str) -> tuple[np.ndarray, np.ndarray]:
    if not path.is_file():
        raise DataError(f"{path}: no such file; expected a NumPy .npz archive (data.path)")
    if not zipfile.is_zipfile(path):  # np.load would read it as a pickle and advise allow_pickle
        raise DataError(f"{path}: cannot read it as a NumPy .npz archive (not a zip archive, "
                        f"which every .npz file is)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            for key, k in (("x_key", x_key), ("y_key", y_key)):
                if k not in archive.files:
                    raise DataError(f"{path}: no array named {k!r} (data.{key}); the archive has "
                                    f"{', '.join(archive.files) or 'no arrays'}")
            X, y = archive[x_key], archive[y_key]
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: cannot read it as a NumPy .npz archive ({exc})") from None
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2 or X.dtype.kind not in "biuf":
        raise DataError(f"{path}: array {x_key!r} has shape {X.shape} and dtype {X.dtype}; "
                        f"expected numbers, one row per sample (N, features)")
    if y.ndim not in (1, 2) or len(y) != len(X):
        raise DataError(f"{path}: array {y_key!r} has shape {y.shape}; expected one target per "
                        f"row of {x_key!r} ({len(X)} rows)")
    X = X.astype(np.float64)
    bad = np.argwhere(~np.isfinite(X))
    if len(bad):
        r, c = bad[0]
        raise DataError(f"{path}: array {x_key!r} has a NaN or infinite value at row {r}, "
                        f"column {c} ({X[r, c]}); expected finite numbers")
    return X, y
