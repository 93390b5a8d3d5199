"""The ``[data]`` table of a spec, and loading the data it names.

Modules: ``table`` (validation), ``dataset`` (:class:`Dataset`, :func:`load_data`, splitting,
encoding), ``sources`` (the sklearn, seed and npz sets), ``csvfile`` (the CSV reader).

Contract: :func:`validate_data_table` checks the table statically (no file is opened) and raises
:class:`~symbp.errors.SpecError` naming the key (``data.split``); importing this module registers
it in :data:`symbp.spec.SECTION_VALIDATORS`. :func:`load_data` reads the data, checks that it
fits the model (feature count = ``model.inputs``, target width = the last layer's units), splits
it, standardises it with train statistics and returns a :class:`Dataset` of float64 2-D arrays.
Any problem with the data itself raises :class:`~symbp.errors.DataError`, one paragraph naming
the file (or key), the line and column where there is one, and what was expected.

Format::

    [data]
    source = "digits"        # sklearn (pip install "symbp[data]"): digits | iris | wine |
                             #   breast_cancer
                             # csv:    source = "csv", path = "data.csv", target = "label",
                             #         header = true (default: detected), delimiter = ","
                             # npz:    source = "npz", path = "d.npz", x_key = "X", y_key = "y"
                             # inline: source = "inline", x = [[0, 1], [1, 0]], y = [1, 0]
                             # seeds:  seed000 | seed001 | seed002_quadratic | seed003
    task = "classification"  # or "regression"
    split = [0.7, 0.1, 0.2]  # train / validation / test fractions
    seed = 0                 # seed of the split's shuffle
    standardize = true       # (x - mean) / std with mean and std of the train part only
    one_hot = true           # classification targets -> one-hot columns

Keys and defaults:

- ``path`` (csv, npz): relative paths resolve against the spec's folder.
- ``target`` (csv): a column name (needs a header line), a 0-based column index (negative
  counts from the end), or a list of them (several regression targets). Default: the last
  column. ``delimiter`` (one character) defaults to ``","``.
- ``header`` (csv): whether the first line names the columns. Left out, it is detected (so no
  data row is taken for a header, nor a header for data): the first line is a header when some
  cell of it is text (not a number, not empty) above a number in the second line; a first line
  whose cells all parse as numbers, or whose only text is in text columns (class labels), is
  data. ``symbp predict`` detects it the same way. Set it for a header of numbers only
  (``header = true``), or to be sure (``header = false``: the target is then a column index).
- ``x_key`` / ``y_key`` (npz): default ``"X"`` and ``"y"``.
- ``x`` / ``y`` (inline): rows of numbers (a flat list is one feature); labels (numbers or
  strings) or rows of regression targets.
- ``task``: classification for digits, iris, wine, breast_cancer, seed000 and seed001;
  regression otherwise.
- ``split``: ``[0.7, 0.1, 0.2]`` for the sklearn sets, ``[1, 0, 0]`` otherwise. With no
  validation or test part the samples keep their order; otherwise they are shuffled with
  ``numpy.random.default_rng(seed)`` and taken train first, then validation, then test.
- ``standardize``: true for the sklearn sets, false otherwise (data as given, so the seeds'
  systems train exactly as written). Features with zero spread get std 1.
- ``one_hot``: default true when the model has more than one output. Class labels are sorted
  (numbers numerically, strings lexicographically); whole-number labels from 0 whose largest is
  ``outputs - 1`` are taken as class indices (so a class absent from the data keeps its
  column). With one output and no one-hot, a binary target is a 0/1 column (the first sorted
  class is 0).

The seed sets (the data of the seed articles, copied in tests/data/seeds, see their README):

- ``seed000``: 100 samples, 2 features uniform in [0, 1), labels 0/1 with equal chance. The
  seed draws them with the legacy global state (``np.random.rand(100, 2)``,
  ``np.random.randint(0, 2, 100)``) and no seed, so every run of it sees other data; symbp
  draws the same distributions in the same order from a seeded Generator
  (``rng = np.random.default_rng(0)``; ``rng.random((100, 2))``; ``rng.integers(0, 2, 100)``),
  so the values are fixed, but they are not (and cannot be) the values of any run of the seed.
- ``seed001``: x = [[1, 2], [2, 3], [3, 4], [4, 5]], labels [0, 0, 1, 1].
- ``seed002_quadratic``: x = [0, 1, 2, 3, 4], y = x^2.
- ``seed003``: x = [1, 2, 3, 4], y = 2x.
"""

from __future__ import annotations

from .csvfile import load_csv, load_csv_features
from .dataset import Dataset, Standardizer, load_data, split_indices
from .sources import seed_data
from .table import (SEED_SETS, SKLEARN_SETS, SOURCES, default_task, standardizes,
                    validate_data_table)

__all__ = ["Dataset", "SEED_SETS", "SKLEARN_SETS", "SOURCES", "Standardizer", "default_task",
           "load_csv", "load_csv_features", "load_data", "seed_data", "split_indices",
           "standardizes", "validate_data_table"]
