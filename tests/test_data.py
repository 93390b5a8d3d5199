"""Tests of the [data] table and data loading (symbp.data)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from symbp.data import (Dataset, Standardizer, load_csv, load_csv_features, load_data, seed_data,
                        split_indices, validate_data_table)
from symbp.errors import DataError, SpecError
from symbp.spec import SECTION_VALIDATORS, spec_from_dict


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def shapes(ds: Dataset) -> tuple:
    return tuple(a.shape for a in (ds.X_train, ds.Y_train, ds.X_val, ds.Y_val, ds.X_test,
                                   ds.Y_test))


# --- sources load with the right shapes ---------------------------------------------------------

SKLEARN_CASES = [  # source, inputs, classes, samples
    ("digits", 64, 10, 1797),
    ("iris", 4, 3, 150),
    ("wine", 13, 3, 178),
    ("breast_cancer", 30, 2, 569),
]


@pytest.mark.parametrize("name, n_in, k, n", SKLEARN_CASES)
def test_sklearn_sets_load_split_and_one_hot(name, n_in, k, n):
    ds = load_data({"source": name}, Path("."), n_in, k)
    n_va, n_te = round(0.1 * n), round(0.2 * n)
    n_tr = n - n_va - n_te
    assert shapes(ds) == ((n_tr, n_in), (n_tr, k), (n_va, n_in), (n_va, k), (n_te, n_in),
                          (n_te, k))
    assert ds.task == "classification" and ds.one_hot and ds.classes == tuple(range(k))
    assert len(ds.feature_names) == n_in
    for Y in (ds.Y_train, ds.Y_val, ds.Y_test):
        assert Y.dtype == np.float64 and np.all(Y.sum(axis=1) == 1)
    # default standardize = true for the sklearn sets: train columns have mean 0
    assert np.allclose(ds.X_train.mean(axis=0), 0, atol=1e-9)
    assert not ds.standardizer.is_identity
    assert name in ds.info() and f"{k} classes" in ds.info()


def test_breast_cancer_with_one_output_is_a_0_1_column():
    ds = load_data({"source": "breast_cancer"}, Path("."), 30, 1)
    assert ds.Y_train.shape[1] == 1 and not ds.one_hot
    assert set(np.unique(ds.Y_train)) == {0.0, 1.0}
    assert ds.classes == (0, 1)


SEED_CASES = [  # source, inputs, outputs, samples, task
    ("seed000", 2, 1, 100, "classification"),
    ("seed001", 2, 1, 4, "classification"),
    ("seed002_quadratic", 1, 1, 5, "regression"),
    ("seed003", 1, 1, 4, "regression"),
]


@pytest.mark.parametrize("name, n_in, n_out, n, task", SEED_CASES)
def test_seed_sets_load_whole_in_order_unstandardized(name, n_in, n_out, n, task):
    ds = load_data({"source": name}, Path("."), n_in, n_out)
    assert shapes(ds) == ((n, n_in), (n, n_out), (0, n_in), (0, n_out), (0, n_in), (0, n_out))
    assert ds.task == task
    X, y = seed_data(name)
    assert np.array_equal(ds.X_train, X)  # order kept, not standardised
    assert np.array_equal(ds.Y_train[:, 0], y)
    assert ds.standardizer.is_identity


def test_seed003_is_x_and_2x():
    ds = load_data({"source": "seed003"}, Path("."), 1, 1)
    assert ds.X_train.tolist() == [[1.0], [2.0], [3.0], [4.0]]
    assert ds.Y_train.tolist() == [[2.0], [4.0], [6.0], [8.0]]
    assert ds.classes is None


def test_seed002_quadratic_and_seed001_values():
    ds = load_data({"source": "seed002_quadratic"}, Path("."), 1, 1)
    assert ds.X_train[:, 0].tolist() == [0, 1, 2, 3, 4]
    assert ds.Y_train[:, 0].tolist() == [0, 1, 4, 9, 16]
    ds = load_data({"source": "seed001"}, Path("."), 2, 1)
    assert ds.X_train.tolist() == [[1, 2], [2, 3], [3, 4], [4, 5]]
    assert ds.Y_train[:, 0].tolist() == [0, 0, 1, 1]


def test_seed000_matches_a_seeded_generator_and_its_distribution():
    X, y = seed_data("seed000")
    rng = np.random.default_rng(0)
    assert np.array_equal(X, rng.random((100, 2)))
    assert np.array_equal(y, rng.integers(0, 2, 100))
    assert X.min() >= 0 and X.max() < 1 and set(y.tolist()) == {0, 1}
    assert np.array_equal(seed_data("seed000")[0], X)  # fixed, not a fresh draw


def test_inline_classification_with_string_labels_and_one_hot():
    table = {"source": "inline", "task": "classification", "x": [[0, 0], [0, 1], [1, 0], [1, 1]],
             "y": ["dog", "cat", "cat", "bird"]}
    ds = load_data(table, Path("."), 2, 3)
    assert ds.classes == ("bird", "cat", "dog")
    assert ds.Y_train.tolist() == [[0, 0, 1], [0, 1, 0], [0, 1, 0], [1, 0, 0]]


def test_inline_regression_multi_target_and_flat_x():
    ds = load_data({"source": "inline", "x": [1, 2, 3], "y": [[1, 2], [3, 4], [5, 6]]},
                   Path("."), 1, 2)
    assert ds.task == "regression" and ds.X_train.shape == (3, 1)
    assert ds.Y_train.tolist() == [[1, 2], [3, 4], [5, 6]]


def test_one_hot_places_each_label_in_its_own_column():
    y = [2, 0, 1, 2, 0]
    ds = load_data({"source": "inline", "task": "classification", "x": [[v] for v in range(5)],
                    "y": y}, Path("."), 1, 3)
    assert np.array_equal(ds.Y_train, np.eye(3)[y])
    # one_hot = false with one output and two classes: 0/1 column, first sorted class is 0
    ds = load_data({"source": "inline", "task": "classification", "x": [1, 2, 3],
                    "y": [5, 7, 5], "one_hot": False}, Path("."), 1, 1)
    assert ds.Y_train[:, 0].tolist() == [0, 1, 0] and ds.classes == (5, 7)


def test_whole_number_labels_are_class_indices_even_if_one_is_absent():
    ds = load_data({"source": "inline", "task": "classification", "x": [1, 2], "y": [0, 3]},
                   Path("."), 1, 4)
    assert ds.classes == (0, 1, 2, 3)
    assert ds.Y_train.tolist() == [[1, 0, 0, 0], [0, 0, 0, 1]]


def test_npz_source(tmp_path):
    X = np.arange(20.0).reshape(10, 2)
    y = np.arange(10) % 2
    np.savez(tmp_path / "d.npz", feats=X, labels=y)
    table = {"source": "npz", "path": "d.npz", "x_key": "feats", "y_key": "labels",
             "task": "classification"}
    ds = load_data(table, tmp_path, 2, 2)
    assert np.array_equal(ds.X_train, X) and np.array_equal(ds.Y_train, np.eye(2)[y])
    with pytest.raises(DataError, match=r"d\.npz.*no array named 'X'.*feats, labels"):
        load_data({"source": "npz", "path": "d.npz"}, tmp_path, 2, 1)
    with pytest.raises(DataError, match=r"nothere\.npz: no such file"):
        load_data({"source": "npz", "path": "nothere.npz"}, tmp_path, 2, 1)


def test_sklearn_missing_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(DataError, match=r'pip install "symbp\[data\]"'):
        load_data({"source": "iris"}, Path("."), 4, 3)


def test_digits_read_without_importing_sklearn_equal_load_digits():
    from sklearn.datasets import load_digits

    from symbp.data import sources

    X, y, names = sources._digits_file()
    ref = load_digits()
    assert np.array_equal(X, ref.data) and np.array_equal(y, ref.target)
    assert y.dtype == ref.target.dtype and names == list(ref.feature_names)


def test_digits_fall_back_to_load_digits_where_the_file_is_not_found(monkeypatch):
    import importlib.util

    from symbp.data import sources

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert sources._digits_file() is None
    X, y, names = sources._sklearn("digits")        # through sklearn.datasets.load_digits
    assert X.shape == (1797, 64) and sorted(set(y.tolist())) == list(range(10))


# --- split and standardisation ------------------------------------------------------------------

def test_split_is_deterministic_disjoint_and_covering():
    a = split_indices(50, (0.6, 0.2, 0.2), seed=3)
    b = split_indices(50, (0.6, 0.2, 0.2), seed=3)
    c = split_indices(50, (0.6, 0.2, 0.2), seed=4)
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert not np.array_equal(a[0], c[0])
    assert [len(p) for p in a] == [30, 10, 10]
    assert sorted(np.concatenate(a).tolist()) == list(range(50))


def test_split_through_load_data_is_disjoint_and_seeded():
    x = [[float(i)] for i in range(40)]
    table = {"source": "inline", "x": x, "y": list(range(40)), "split": [0.5, 0.25, 0.25],
             "seed": 7}
    d1 = load_data(table, Path("."), 1, 1)
    d2 = load_data(table, Path("."), 1, 1)
    d3 = load_data({**table, "seed": 8}, Path("."), 1, 1)
    parts = [set(d1.X_train[:, 0]), set(d1.X_val[:, 0]), set(d1.X_test[:, 0])]
    assert [len(p) for p in parts] == [20, 10, 10]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert set().union(*parts) == set(range(40))
    assert np.array_equal(d1.X_test, d2.X_test) and not np.array_equal(d1.X_test, d3.X_test)
    assert np.array_equal(d1.X_train, d1.Y_train)  # rows stay paired with their targets


def test_too_few_samples_for_the_split():
    with pytest.raises(DataError, match=r"2 sample\(s\) are too few"):
        load_data({"source": "inline", "x": [1, 2], "y": [1, 2], "split": [0.5, 0.25, 0.25]},
                  Path("."), 1, 1)


def test_standardisation_uses_train_statistics_only():
    # train part (split [0.5, 0, 0.5]) decided by the seed; compute expected stats by hand
    x = [[1.0, 10.0], [2.0, 10.0], [3.0, 10.0], [4.0, 10.0], [100.0, 10.0], [200.0, 10.0]]
    table = {"source": "inline", "x": x, "y": [0] * 6, "split": [0.5, 0.0, 0.5], "seed": 1,
             "standardize": True}
    ds = load_data(table, Path("."), 2, 1)
    tr, _, te = split_indices(6, (0.5, 0.0, 0.5), 1)
    raw = np.array(x)
    mean, std = raw[tr].mean(axis=0), raw[tr].std(axis=0)
    assert np.allclose(ds.standardizer.mean, mean)
    assert np.allclose(ds.standardizer.std[0], std[0]) and ds.standardizer.std[1] == 1.0
    assert np.allclose(ds.X_test[:, 0], (raw[te, 0] - mean[0]) / std[0])
    assert np.allclose(ds.X_train[:, 0].mean(), 0) and np.allclose(ds.X_train[:, 0].std(), 1)
    assert not np.allclose(ds.standardizer.mean[0], raw[:, 0].mean())  # not the full data's
    assert np.all(ds.X_test[:, 1] == 0)  # constant column: std 1, mean removed
    assert np.allclose(ds.standardizer.transform(raw[te]), ds.X_test)
    assert np.allclose(ds.standardizer.inverse_transform(ds.X_test), raw[te])


def test_standardize_false_keeps_values():
    st = Standardizer.identity(2)
    assert st.is_identity and np.array_equal(st.transform([[3.0, 4.0]]), [[3.0, 4.0]])


# --- model fit ----------------------------------------------------------------------------------

def test_feature_count_mismatch_names_source_and_both_numbers():
    with pytest.raises(DataError, match=r"'iris'.*4 feature column\(s\).*3 input\(s\)"):
        load_data({"source": "iris"}, Path("."), 3, 3)


def test_target_width_mismatch_names_both_numbers(tmp_path):
    with pytest.raises(DataError, match=r"3 classes.*3 columns.*4 output\(s\)"):
        load_data({"source": "iris"}, Path("."), 4, 4)
    with pytest.raises(DataError, match=r"3 classes.*1 output"):
        load_data({"source": "iris"}, Path("."), 4, 1)
    p = write(tmp_path, "r.csv", "a,b,y\n1,2,3\n4,5,6\n")
    with pytest.raises(DataError, match=r"r\.csv: the targets have 1 column\(s\).*2 output\(s\)"):
        load_data({"source": "csv", "path": "r.csv", "target": "y"}, tmp_path, 2, 2)


# --- CSV ----------------------------------------------------------------------------------------

def test_csv_with_header_and_named_target(tmp_path):
    write(tmp_path, "d.csv", "x1,label,x2\n1,b,2\n\n3,a,4\n5,b,6\n")
    ds = load_data({"source": "csv", "path": "d.csv", "target": "label",
                    "task": "classification"}, tmp_path, 2, 1)
    assert ds.feature_names == ("x1", "x2")
    assert ds.X_train.tolist() == [[1, 2], [3, 4], [5, 6]]
    assert ds.classes == ("a", "b") and ds.Y_train[:, 0].tolist() == [1, 0, 1]
    assert str(tmp_path / "d.csv") in ds.info()


def test_csv_without_header_target_by_index_and_delimiter(tmp_path):
    write(tmp_path, "d.csv", "7;1.5;2\n8;2.5;3\n")
    ds = load_data({"source": "csv", "path": "d.csv", "header": False, "target": 0,
                    "delimiter": ";"}, tmp_path, 2, 1)
    assert ds.X_train.tolist() == [[1.5, 2], [2.5, 3]] and ds.Y_train[:, 0].tolist() == [7, 8]


def test_csv_default_target_is_last_column_and_quoted_fields(tmp_path):
    p = write(tmp_path, "d.csv", 'a,"b, c",y\n1,"2",3\n')
    X, y, names = load_csv(p)
    assert names == ["a", "b, c"] and X.tolist() == [[1, 2]] and y.tolist() == [3]


def test_csv_string_labels_that_are_numbers_sort_numerically(tmp_path):
    write(tmp_path, "d.csv", "x,y\n0,10\n1,9\n2,10\n")
    ds = load_data({"source": "csv", "path": "d.csv", "task": "classification",
                    "one_hot": True}, tmp_path, 1, 2)
    assert ds.classes == (9, 10) and ds.Y_train.tolist() == [[0, 1], [1, 0], [0, 1]]


def test_csv_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"nope\.csv: no such file") as e:
        load_data({"source": "csv", "path": "nope.csv"}, tmp_path, 1, 1)
    assert str(tmp_path) in str(e.value)  # resolved against base_dir


def test_csv_empty_file(tmp_path):
    write(tmp_path, "e.csv", "\n  \n")
    with pytest.raises(DataError, match=r"e\.csv: the file is empty"):
        load_data({"source": "csv", "path": "e.csv"}, tmp_path, 1, 1)
    write(tmp_path, "h.csv", "a,b\n")
    with pytest.raises(DataError, match=r"h\.csv: the file has a header on line 1 but no data"):
        load_data({"source": "csv", "path": "h.csv"}, tmp_path, 1, 1)


def test_csv_missing_target_column(tmp_path):
    write(tmp_path, "d.csv", "a,b,c\n1,2,3\n")
    with pytest.raises(DataError, match=r"d\.csv, line 1: no column named 'label'.*'a', 'b', 'c'"):
        load_data({"source": "csv", "path": "d.csv", "target": "label"}, tmp_path, 2, 1)
    with pytest.raises(DataError, match=r"d\.csv: target column index 5 .*3 columns"):
        load_data({"source": "csv", "path": "d.csv", "target": 5}, tmp_path, 2, 1)


def test_csv_non_numeric_cell_names_line_column_and_value(tmp_path):
    write(tmp_path, "d.csv", "a,b,y\n1,2,3\n4,oops,6\n")
    with pytest.raises(DataError, match=r"d\.csv, line 3, column 2 \('b'\): expected a number, "
                       r"got 'oops'"):
        load_data({"source": "csv", "path": "d.csv"}, tmp_path, 2, 1)
    write(tmp_path, "n.csv", "1,2,3\n4,,6\n")
    with pytest.raises(DataError, match=r"n\.csv, line 2, column 2: expected a number, got an "
                       r"empty cell"):
        load_data({"source": "csv", "path": "n.csv", "header": False}, tmp_path, 2, 1)


def test_csv_non_numeric_regression_target(tmp_path):
    write(tmp_path, "d.csv", "a,y\n1,2\n4,x\n")
    with pytest.raises(DataError, match=r"d\.csv, line 3, column 2 \('y'\): expected a number"):
        load_data({"source": "csv", "path": "d.csv"}, tmp_path, 1, 1)


def test_csv_nan_and_inf(tmp_path):
    write(tmp_path, "d.csv", "a,b,y\n1,2,3\n4,5,6\n7,nan,9\n")
    with pytest.raises(DataError, match=r"d\.csv, line 4, column 2 \('b'\): the value 'nan' is "
                       r"not a finite number"):
        load_data({"source": "csv", "path": "d.csv"}, tmp_path, 2, 1)
    write(tmp_path, "i.csv", "a,b,y\n1,2,-inf\n")
    with pytest.raises(DataError, match=r"i\.csv, line 2, column 3 \('y'\): the value '-inf'"):
        load_data({"source": "csv", "path": "i.csv"}, tmp_path, 2, 1)


def test_csv_ragged_rows(tmp_path):
    write(tmp_path, "d.csv", "a,b,y\n1,2,3\n4,5\n")
    with pytest.raises(DataError, match=r"d\.csv, line 3: this row has 2 field\(s\), expected 3 "
                       r"\(as in the header on line 1\)"):
        load_data({"source": "csv", "path": "d.csv"}, tmp_path, 2, 1)


def test_csv_error_is_one_paragraph(tmp_path):
    write(tmp_path, "d.csv", "a,b,y\n1,2,3\n4,x,6\n")
    with pytest.raises(DataError) as e:
        load_data({"source": "csv", "path": "d.csv"}, tmp_path, 2, 1)
    assert "\n" not in str(e.value)


def test_load_csv_features(tmp_path):
    p = write(tmp_path, "p.csv", "a,b,label\n1,2,x\n3,4,y\n")
    assert load_csv_features(p, 2, ignore="label").tolist() == [[1, 2], [3, 4]]
    q = write(tmp_path, "q.csv", "1,2\n3,4\n")  # no header, detected
    assert load_csv_features(q, 2, ignore="label").tolist() == [[1, 2], [3, 4]]
    with pytest.raises(DataError, match=r"q\.csv.*2 feature column\(s\).*3 input\(s\)"):
        load_csv_features(q, 3)
    with pytest.raises(DataError, match=r"p\.csv, line 2, column 3 \('label'\)"):
        load_csv_features(p, 3)


# --- validation of the table --------------------------------------------------------------------

BAD_TABLES = [  # table, key, message fragment
    ({"source": "digits", "colour": 1}, "data.colour", "unknown key"),
    ({"source": "digits", "path": "x.csv"}, "data.path", "unknown key for source = 'digits'"),
    ({"source": "csv", "path": "d.csv", "x": [[1]]}, "data.x", "unknown key"),
    ({}, "data.source", "missing"),
    ({"source": "mnist"}, "data.source", "got 'mnist'"),
    ({"source": "csv"}, "data.path", "missing"),
    ({"source": "digits", "task": "ranking"}, "data.task", "'ranking'"),
    ({"source": "digits", "split": [0.5, 0.5]}, "data.split", "three fractions"),
    ({"source": "digits", "split": [0.5, 0.4, 0.2]}, "data.split", "add up to 1"),
    ({"source": "digits", "split": [0, 0.5, 0.5]}, "data.split", "train part"),
    ({"source": "digits", "split": [1.5, -0.5, 0]}, "data.split", ">= 0"),
    ({"source": "digits", "seed": -1}, "data.seed", "whole number"),
    ({"source": "digits", "seed": 1.5}, "data.seed", "whole number"),
    ({"source": "digits", "standardize": "yes"}, "data.standardize", "true or false"),
    ({"source": "seed003", "one_hot": True}, "data.one_hot", "classification"),
    ({"source": "csv", "path": "d.csv", "delimiter": ";;"}, "data.delimiter", "one character"),
    ({"source": "csv", "path": "d.csv", "header": False, "target": "y"}, "data.target", "index"),
    ({"source": "csv", "path": "d.csv", "target": 1.5}, "data.target", "column name"),
    ({"source": "npz", "path": "d.npz", "x_key": ""}, "data.x_key", "non-empty"),
    ({"source": "inline", "x": [[1, 2]], "y": [1, 2]}, "data.y", "one target per row"),
    ({"source": "inline", "x": [[1, 2], [3]], "y": [1, 2]}, "data.x[1]", "like the first row"),
    ({"source": "inline", "x": [[1, "a"]], "y": [1]}, "data.x[0]", "finite numbers"),
    ({"source": "inline", "x": [[1]], "y": ["a"]}, "data.y[0]", "finite numbers"),
    ({"source": "inline", "x": [], "y": []}, "data.x", "missing or empty"),
    ("digits", "data", "expected a table"),
]


@pytest.mark.parametrize("table, key, fragment", BAD_TABLES)
def test_validate_rejects_bad_tables_naming_the_key(table, key, fragment):
    with pytest.raises(SpecError) as e:
        validate_data_table(table, "m.toml")
    assert e.value.key == key and e.value.source == "m.toml"
    assert fragment in e.value.problem
    assert f"key '{key}'" in str(e.value)


@pytest.mark.parametrize("table", [
    {"source": "digits", "task": "classification", "split": [0.8, 0.0, 0.2], "seed": 0,
     "standardize": True, "one_hot": True},
    {"source": "csv", "path": "d.csv", "target": "label", "header": True, "delimiter": "\t"},
    {"source": "csv", "path": "d.csv", "target": [0, -1], "header": False},
    {"source": "npz", "path": "d.npz", "x_key": "X", "y_key": "y"},
    {"source": "inline", "x": [[1, 2]], "y": ["a"], "task": "classification"},
    {"source": "seed000", "split": [1, 0, 0]},
])
def test_validate_accepts_good_tables(table):
    assert validate_data_table(table, "m.toml") is None


def test_validator_is_registered_and_used_by_the_spec_loader():
    assert SECTION_VALIDATORS["data"] is validate_data_table
    raw = {"model": {"inputs": 1, "layers": [{"units": 1}]}, "loss": "mse",
           "data": {"source": "seed003", "bogus": 1}}
    with pytest.raises(SpecError, match=r"data\.bogus"):
        spec_from_dict(raw, "s.toml")


def test_toml_spec_end_to_end(tmp_path):
    from symbp.spec import load_spec

    write(tmp_path, "pts.csv", "a,b,label\n0,0,0\n0,1,1\n1,0,1\n1,1,0\n0.5,0.5,1\n")
    spec_path = write(tmp_path, "xor.toml", """
[model]
inputs = 2
layers = [{ units = 3, activation = "tanh" }, { units = 1, activation = "sigmoid" }]

[loss]
kind = "bce"

[data]
source = "csv"
path = "pts.csv"
target = "label"
task = "classification"
split = [0.6, 0.2, 0.2]
seed = 5
standardize = true
""")
    spec = load_spec(str(spec_path))
    ds = load_data(spec.section("data"), spec.base_dir, spec.model.inputs,
                   spec.model.sizes[-1], source=spec.source)
    assert shapes(ds) == ((3, 2), (3, 1), (1, 2), (1, 1), (1, 2), (1, 1))
    assert ds.classes == (0, 1) and ds.origin == str(tmp_path / "pts.csv")


def test_npz_nan_names_the_file_row_and_column(tmp_path):
    X = np.ones((3, 2))
    X[2, 1] = np.nan
    np.savez(tmp_path / "d.npz", X=X, y=np.zeros(3))
    with pytest.raises(DataError, match=r"d\.npz: array 'X' has a NaN .* row 2, column 1"):
        load_data({"source": "npz", "path": "d.npz"}, tmp_path, 2, 1)


# --- fewer than two classes, no samples, header detection, columns by name ---------------------

@pytest.mark.parametrize("labels, n_out", [(["cat"] * 4, 3), ([1, 1, 1, 1], 1), ([0] * 4, 2)])
def test_classification_needs_two_classes(labels, n_out):
    table = {"source": "inline", "task": "classification", "x": [0, 1, 2, 3], "y": labels}
    with pytest.raises(DataError, match=r"data\.x: every sample has the class .*at least two "
                                        r"classes"):
        load_data(table, Path("."), 1, n_out)


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_npz_without_samples_is_a_data_error(tmp_path, task):
    np.savez(tmp_path / "e.npz", X=np.zeros((0, 2)), y=np.zeros(0, dtype=np.int64))
    with pytest.raises(DataError, match=r"e\.npz: the data has no samples \(0 rows\)"):
        load_data({"source": "npz", "path": "e.npz", "task": task}, tmp_path, 2, 3)


@pytest.mark.parametrize("text", ["1,2,3\n4,5,6\n7,8,9\n", "1,2,cat\n4,5,dog\n7,8,cat\n"])
def test_csv_without_header_keeps_its_first_row(tmp_path, text):
    write(tmp_path, "d.csv", text)
    task = "classification" if "cat" in text else "regression"
    ds = load_data({"source": "csv", "path": "d.csv", "task": task}, tmp_path, 2, 1)
    assert ds.X_train.tolist() == [[1, 2], [4, 5], [7, 8]]
    assert ds.feature_names == ()
    # set explicitly, the header key is obeyed: the first line is a header of numbers
    ds = load_data({"source": "csv", "path": "d.csv", "task": task, "header": True}, tmp_path,
                   2, 1)
    assert ds.X_train.tolist() == [[4, 5], [7, 8]] and ds.feature_names == ("1", "2")


def test_csv_header_is_still_detected_and_a_named_target_needs_one(tmp_path):
    write(tmp_path, "h.csv", "a,b,label\n1,2,cat\n4,5,dog\n")
    ds = load_data({"source": "csv", "path": "h.csv", "target": "label",
                    "task": "classification"}, tmp_path, 2, 1)
    assert ds.X_train.tolist() == [[1, 2], [4, 5]] and ds.feature_names == ("a", "b")
    write(tmp_path, "n.csv", "1,2,0\n4,5,1\n")
    with pytest.raises(DataError, match=r"n\.csv, line 1: data\.target names the column "
                                        r"'label', but every cell of the first line is a number"):
        load_data({"source": "csv", "path": "n.csv", "target": "label"}, tmp_path, 2, 1)


def test_load_csv_features_matches_named_columns(tmp_path):
    p = write(tmp_path, "p.csv", "b,label,a\n2,x,1\n4,y,3\n")
    assert load_csv_features(p, 2, ignore="label", names=["a", "b"]).tolist() == [[1, 2], [3, 4]]
    # without training names, or without a header, the columns are taken in order
    assert load_csv_features(p, 2, ignore="label").tolist() == [[2, 1], [4, 3]]
    q = write(tmp_path, "q.csv", "2,1\n4,3\n")
    assert load_csv_features(q, 2, names=["a", "b"]).tolist() == [[2, 1], [4, 3]]
    r = write(tmp_path, "r.csv", "a,c,d\n1,2,3\n")
    with pytest.raises(DataError, match=r"r\.csv, line 1: the header's columns are matched by "
                                        r"name .*\('a', 'b'\); missing 'b'; unknown 'c', 'd'"):
        load_csv_features(r, 2, names=["a", "b"])


def test_delimiter_check_is_shared():
    from symbp.data.table import is_delimiter

    assert is_delimiter(";") and is_delimiter("\t")
    assert not any(is_delimiter(d) for d in ("", "ab", "\"", "\n", 1))


@pytest.mark.parametrize("head", ["0,1,2\n", ",0,1\n"])
def test_pandas_names_of_unnamed_columns_are_a_header(tmp_path, head):
    # DataFrame(X).to_csv(index=False) writes 0,1,2 and to_csv() ,0,1 (an index column first):
    # names, not a first sample
    rows = "1,2,3\n4,5,6\n7,8,9\n"
    if head.startswith(","):
        rows = "".join(f"{i},{line}\n" for i, line in enumerate(("1,3", "4,6", "7,9")))
    write(tmp_path, "p.csv", head + rows)
    ds = load_data({"source": "csv", "path": "p.csv", "task": "regression"}, tmp_path, 2, 1)
    assert len(ds.X_train) + len(ds.X_val) + len(ds.X_test) == 3


def test_inline_string_labels_without_the_classification_task_say_which_key_to_set():
    table = {"source": "inline", "x": [[0, 1], [1, 0]], "y": ["a", "b"]}
    with pytest.raises(SpecError, match=r'data\.y\[0\].*got .a.; class labels need '
                                        r'data\.task = "classification"'):
        validate_data_table(table, "m.toml")
