"""symbp predict, and CSV errors of train and predict: clear message, exit code 2."""

from __future__ import annotations

import numpy as np
import pytest

from symbp.cli import main
from symbp.commands.predict import format_predictions

SPEC = """
name = "csv_and"
[model]
inputs = 2
layers = [ { units = 3, activation = "tanh" }, { units = 1, activation = "identity" } ]
[loss]
kind = "bce_logits"
[data]
source = "csv"
path = "train.csv"
target = "label"
task = "classification"
[train]
optimizer = "adam"
lr = 0.05
epochs = 300
seed = 0
"""

HEADER = "x1,x2,label\n"
ROWS = "0,0,no\n0,1,no\n1,0,no\n1,1,yes\n"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("csv")
    (folder / "spec.toml").write_text(SPEC)
    (folder / "train.csv").write_text(HEADER + ROWS * 3)
    assert main(["train", str(folder / "spec.toml"), "-q", "--save",
                 str(folder / "model.npz")]) == 0
    return folder


def test_predict_writes_class_labels_and_probabilities(trained, capsys):
    (trained / "in.csv").write_text("x1,x2\n1,1\n0,0\n")
    capsys.readouterr()
    assert main(["predict", str(trained / "spec.toml"), "--params", str(trained / "model.npz"),
                 "--input", str(trained / "in.csv"), "--proba"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "prediction,p_no,p_yes"
    assert lines[1].startswith("yes,") and lines[2].startswith("no,")
    p_yes = float(lines[1].split(",")[2])
    assert 0.5 < p_yes <= 1
    # the training file itself (with its label column) works too: the target column is dropped
    out = trained / "pred.csv"
    assert main(["predict", str(trained / "spec.toml"), "--params", str(trained / "model.npz"),
                 "--input", str(trained / "train.csv"), "-o", str(out)]) == 0
    assert out.read_text().splitlines()[1:5] == ["no", "no", "no", "yes"]


@pytest.mark.parametrize("text, words", [
    ("x1\n1\n2\n", "the header's columns are matched by name to the model's training "
                    "features ('x1', 'x2'); missing 'x2'"),
    ("1\n2\n", "1 feature column(s) but the model has 2 input(s)"),
    ("x1,x2\n1,abc\n", "line 2, column 2 ('x2'): expected a number, got 'abc'"),
    ("x1,x2\n1,2\n3\n", "line 3: this row has 1 field(s), expected 2"),
    ("", "the file is empty"),
])
def test_predict_csv_errors(trained, capsys, text, words):
    (trained / "bad.csv").write_text(text)
    capsys.readouterr()
    rc = main(["predict", str(trained / "spec.toml"), "--params", str(trained / "model.npz"),
               "--input", str(trained / "bad.csv")])
    err = capsys.readouterr().err
    assert rc == 2 and words in err and "bad.csv" in err and "Traceback" not in err


@pytest.mark.parametrize("text, words", [
    ("x1,label\n0,no\n1,yes\n", "1 feature column(s) but the model has 2 input(s)"),
    ("x1,x2,label\n0,zero,no\n1,1,yes\n", "expected a number, got 'zero'"),
    ("x1,x2,label\n0,1,no\n1,yes\n", "line 3: this row has 2 field(s), expected 3"),
    ("", "the file is empty"),
])
def test_train_csv_errors(tmp_path, capsys, text, words):
    (tmp_path / "spec.toml").write_text(SPEC)
    (tmp_path / "train.csv").write_text(text)
    rc = main(["train", str(tmp_path / "spec.toml"), "-q"])
    err = capsys.readouterr().err
    assert rc == 2 and words in err and "Traceback" not in err


def test_predict_rejects_a_parameter_file_of_another_network(trained, capsys, tmp_path):
    (tmp_path / "in.csv").write_text("1\n")
    rc = main(["predict", "seed003_linear_regression", "--params", str(trained / "model.npz"),
               "--input", str(tmp_path / "in.csv")])
    assert rc == 2 and "written for a 2-3-1 network" in capsys.readouterr().err


@pytest.fixture(scope="module")
def trained_one_sided(tmp_path_factory):
    """Trained on ``yes`` iff x1 = 1 and x2 = 0: swapping the columns changes the answer."""
    folder = tmp_path_factory.mktemp("one_sided")
    (folder / "spec.toml").write_text(SPEC)
    (folder / "train.csv").write_text(HEADER + "0,0,no\n0,1,no\n1,0,yes\n1,1,no\n" * 3)
    assert main(["train", str(folder / "spec.toml"), "-q", "--save",
                 str(folder / "model.npz")]) == 0
    return folder


def predict(folder, capsys, text, *extra):
    (folder / "in.csv").write_text(text)
    capsys.readouterr()
    rc = main(["predict", str(folder / "spec.toml"), "--params", str(folder / "model.npz"),
               "--input", str(folder / "in.csv"), *extra])
    out, err = capsys.readouterr()
    return rc, out.splitlines(), err


def test_predict_matches_input_columns_by_their_header_names(trained_one_sided, capsys):
    rc, lines, _ = predict(trained_one_sided, capsys, "x1,x2\n1,0\n0,1\n")
    assert rc == 0 and lines == ["prediction", "yes", "no"]
    rc, swapped, _ = predict(trained_one_sided, capsys, "x2,x1\n0,1\n1,0\n")
    assert rc == 0 and swapped == lines
    rc, positional, _ = predict(trained_one_sided, capsys, "1,0\n0,1\n")  # no header: in order
    assert rc == 0 and positional == lines
    rc, _, err = predict(trained_one_sided, capsys, "x1,b\n1,0\n")  # one name shared: by name
    assert rc == 2 and "missing 'x2'; unknown 'b'" in err and "Traceback" not in err
    # no name shared (a model trained on a bundled set's names): in order, with a warning
    rc, renamed, err = predict(trained_one_sided, capsys, "a,b\n1,0\n0,1\n")
    assert rc == 0 and renamed == lines
    assert "warning: " in err and "none of the column names is a training feature's" in err


@pytest.mark.parametrize("delimiter", ["ab", ""])
def test_predict_delimiter_must_be_one_character(trained, capsys, delimiter):
    with pytest.raises(SystemExit) as info:
        predict(trained, capsys, "x1,x2\n1,1\n", "--delimiter", delimiter)
    err = capsys.readouterr().err
    assert info.value.code == 2 and "argument --delimiter: expected one character" in err


def test_predict_tab_delimiter(trained, capsys):
    rc, lines, _ = predict(trained, capsys, "x1\tx2\n1\t1\n", "--delimiter", "\\t")
    assert rc == 0 and lines == ["prediction", "yes"]


def test_single_class_training_data_is_refused(tmp_path, capsys):
    (tmp_path / "spec.toml").write_text(SPEC)
    (tmp_path / "train.csv").write_text(HEADER + "0,0,no\n1,1,no\n")
    rc = main(["train", str(tmp_path / "spec.toml"), "-q", "--save", str(tmp_path / "m.npz")])
    err = capsys.readouterr().err
    assert rc == 2 and "every sample has the class no" in err and "at least two classes" in err
    assert not (tmp_path / "m.npz").exists()


@pytest.mark.parametrize("yhat, classes", [(np.array([[0.9], [0.2]]), ("only",)),
                                           (np.array([[0.2, 0.3, 0.5]]), ("a", "b"))])
def test_format_predictions_needs_one_label_per_class(yhat, classes):
    for proba in (False, True):
        with pytest.raises(ValueError, match=r"class label\(s\) for \d class probabilities"):
            format_predictions(yhat, "classification", classes, proba)


@pytest.mark.parametrize("edit, words", [
    (("\"tanh\"", "\"relu\""), "layer 1 has the activation tanh, but in the spec 'csv_and' it is "
                               "relu"),
    (("task = \"classification\"", "task = \"regression\""), "written for classification, but "
                                                             "the spec 'csv_and' ([data] task) is "
                                                             "for regression"),
])
def test_predict_refuses_parameters_that_mean_something_else(trained, capsys, tmp_path, edit,
                                                             words):
    (tmp_path / "spec.toml").write_text(SPEC.replace(*edit))
    (tmp_path / "in.csv").write_text("x1,x2\n1,1\n")
    rc = main(["predict", str(tmp_path / "spec.toml"), "--params", str(trained / "model.npz"),
               "--input", str(tmp_path / "in.csv")])
    out, err = capsys.readouterr()
    assert rc == 2 and words in err and out == ""
