"""symbp predict, and CSV errors of train and predict: clear message, exit code 2."""

from __future__ import annotations

import pytest

from symbp.cli import main

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
    ("x1\n1\n2\n", "1 feature column(s) but the model has 2 input(s)"),
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
