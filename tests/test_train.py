"""symbp train: the [train] table, every seed system trains, convergence, determinism, NaN guard,
warnings, progress bar and plot."""

from __future__ import annotations

import io
import json
import re
import shlex
from pathlib import Path

import numpy as np
import pytest

import symbp
from symbp.cli import main
from symbp.errors import SpecError
from symbp.progress import ProgressBar
from symbp.train import TrainConfig, Trainer, prepare

SPEC_HEAD = """
[model]
inputs = 1
layers = [ { units = 1, activation = "identity" } ]
[loss]
kind = "mse"
"""


def run_cli(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def train_json(capsys, *argv):
    rc, out, err = run_cli(capsys, "train", *argv, "--json", "-q")
    assert rc == 0, err
    return json.loads(out), err


# --- the [train] table ------------------------------------------------------------------------

@pytest.mark.parametrize("table, key, words", [
    ("foo = 1", "train.foo", "unknown key"),
    ("weight_decay = 0.1", "train.weight_decay", "[loss] l2"),
    ("optimizer = \"rmsprop\"", "train.optimizer", "sgd, momentum, adam"),
    ("lr = -0.1", "train.lr", "positive"),
    ("lr = true", "train.lr", "positive"),
    ("epochs = 0", "train.epochs", ">= 1"),
    ("batch_size = -1", "train.batch_size", "full batch"),
    ("seed = 1.5", "train.seed", "whole number"),
    ("beta1 = 0.9", "train.beta1", "optimizer = 'adam' only"),
    ("optimizer = \"momentum\"\nmomentum = 1.0", "train.momentum", "[0, 1)"),
    ("optimizer = \"adam\"\nepsilon = 0", "train.epsilon", "positive"),
    ("target = \"gpu\"", "train.target", "cpu, parallel, cuda"),
    ("checkpoint_every = 0", "train.checkpoint_every", ">= 1"),
])
def test_train_table_errors_name_the_key(table, key, words):
    with pytest.raises(SpecError) as info:
        symbp.load_spec(SPEC_HEAD + "[train]\n" + table + "\n")
    assert info.value.key == key
    assert words in str(info.value)


def test_config_defaults_and_overrides():
    spec = symbp.load_spec(SPEC_HEAD + "[train]\noptimizer = \"adam\"\nbeta2 = 0.99\n")
    cfg = TrainConfig.from_spec(spec)
    assert (cfg.lr, cfg.epochs, cfg.batch_size, cfg.beta1, cfg.beta2) == (0.001, 100, 0, 0.9, 0.99)
    assert cfg.hyper == {"eta": 0.001, "beta1": 0.9, "beta2": 0.99, "epsilon": 1e-8}
    cfg = TrainConfig.from_spec(spec, lr=0.5, epochs=None)
    assert cfg.lr == 0.5 and cfg.epochs == 100
    with pytest.raises(SpecError, match="train.batch_size"):
        TrainConfig.from_spec(spec, batch_size=-3)


# --- every seed system trains ---------------------------------------------------------------

@pytest.mark.parametrize("name", ["seed000_sigmoid_mse", "seed001_relu_bce_logits",
                                  "seed002_linear_fit", "deep_tanh_regression"])
def test_seed_system_trains_and_loss_falls(capsys, name):
    out, _ = train_json(capsys, name)
    epochs = TrainConfig.from_spec(symbp.load_spec(name)).epochs
    assert out["epochs"] == epochs and len(out["losses"]) == epochs
    assert out["final_loss"] < 0.9 * out["first_loss"]
    assert out["steps_per_second"] > 0


def test_seed002_fit_is_the_least_squares_line(capsys, tmp_path):
    # y = x^2 on 0..4: the best line is W = 4, b = -2
    train_json(capsys, "seed002_linear_fit", "--epochs", "20000", "--save",
               str(tmp_path / "p.npz"))
    with np.load(tmp_path / "p.npz") as f:
        assert abs(f["param/W1"][0, 0] - 4) < 1e-3 and abs(f["param/b1"][0] + 2) < 1e-3


def test_seed003_converges_to_w2_b0(capsys, tmp_path):
    out, _ = train_json(capsys, "seed003_linear_regression", "--epochs", "20000", "--save",
                        str(tmp_path / "p.npz"))
    with np.load(tmp_path / "p.npz") as f:
        W, b = f["param/W1"], f["param/b1"]
    assert W.shape == (1, 1) and abs(W[0, 0] - 2) < 1e-3 and abs(b[0]) < 1e-3
    assert out["final_loss"] < 1e-10


def test_ill_posed_seed001_warns_then_stops_at_the_first_nonfinite_loss(capsys):
    rc, out, err = run_cli(capsys, "train", "seed001_relu_bce", "-q")
    assert rc == 2 and out == ""
    warn = err.index("warning: the output activation relu")
    error = err.index("training diverged")
    assert warn < error  # warned before training
    assert re.search(r"epoch \d+, step \d+; first non-finite quantity: the loss", err)
    assert "Traceback" not in err


def test_bce_targets_outside_0_1_are_warned_about(capsys):
    spec = SPEC_HEAD.replace('kind = "mse"', 'kind = "bce_logits"') + """
[data]
source = "inline"
x = [0, 1, 2]
y = [0, 2, 3]
[train]
epochs = 1
"""
    d, data, _, _ = prepare(symbp.load_spec(spec), TrainConfig(epochs=1))
    from symbp.train import data_warnings

    (w,) = data_warnings(d.spec, data)
    assert "targets in [0, 1]" in w and "[0, 3]" in w


# --- determinism, digits, divergence --------------------------------------------------------

@pytest.fixture(scope="module")
def digits():
    spec = symbp.load_spec("digits_softmax")
    cfg = TrainConfig.from_spec(spec)
    d, data, model, _ = prepare(spec, cfg)
    return spec, cfg, d, data, model


def test_digits_reaches_096_test_accuracy(digits):
    spec, cfg, d, data, model = digits
    run = Trainer(d, model, data, cfg).run()
    assert run.epoch == 30 and run.metric == "accuracy"
    assert run.test_metric >= 0.96
    assert run.steps == 30 * -(-len(data.X_train) // 32)


def test_same_seed_same_result_other_seed_other_result(digits):
    spec, cfg, d, data, model = digits
    cfg = TrainConfig.from_spec(spec, epochs=3)
    a = Trainer(d, model, data, cfg).run()
    b = Trainer(d, model, data, cfg, report_seconds=0.0).run()  # other chunking, same result
    c = Trainer(d, model, data, TrainConfig.from_spec(spec, epochs=3, seed=1)).run()
    for k in a.params:
        assert np.array_equal(a.params[k], b.params[k])
    assert a.losses == b.losses
    assert not np.array_equal(a.params["W1"], c.params["W1"])


def test_nan_guard_names_epoch_step_and_quantity_and_keeps_last_checkpoint(capsys, tmp_path):
    rc, out, err = run_cli(capsys, "train", "seed003_linear_regression", "--lr", "1000",
                           "--checkpoint", str(tmp_path), "--checkpoint-every", "1", "-q")
    assert rc == 2
    m = re.search(r"non-finite value \(NaN or inf\) in epoch (\d+), step (\d+); first non-finite "
                  r"quantity: (the loss|\w+)", err)
    assert m, err
    epoch, quantity = int(m.group(1)), m.group(3)
    model = symbp.runtime.compile_spec("seed003_linear_regression")
    assert quantity in model.quantities + ("the loss",)
    assert "last good checkpoint" in err
    with np.load(tmp_path / "checkpoint.npz") as f:
        assert int(f["epoch"]) == epoch - 1
        assert all(np.all(np.isfinite(f[k])) for k in f.files if k.startswith("param/"))


def test_divergence_keeps_parameters_of_the_last_complete_epoch():
    spec = symbp.load_spec("seed003_linear_regression")
    cfg = TrainConfig.from_spec(spec, lr=1000.0, epochs=100)
    d, data, model, _ = prepare(spec, cfg)
    t = Trainer(d, model, data, cfg)
    with pytest.raises(symbp.train.TrainingDiverged) as info:
        t.run()
    e = info.value
    assert e.last_good_epoch == e.epoch - 1 == t.result.epoch == len(t.result.losses)
    assert all(np.all(np.isfinite(v)) for v in t.result.params.values())
    # replaying the good epochs from scratch gives the same parameters
    again = Trainer(d, model, data, TrainConfig.from_spec(spec, lr=1000.0,
                                                          epochs=e.last_good_epoch)).run()
    assert np.array_equal(again.params["W1"], t.result.params["W1"])


# --- progress bar and plot --------------------------------------------------------------------

class FakeTTY(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_on_a_terminal_only():
    tty = FakeTTY()
    bar = ProgressBar(stream=tty)
    bar(30, 30, 0.0123, "accuracy", 0.9722, 12345.0)
    bar.close()
    text = tty.getvalue()
    assert text.startswith("\repoch 30/30 [########################] loss 0.0123  accuracy "
                           "0.9722  12,345 steps/s")
    assert text.endswith("\n")
    pipe = io.StringIO()
    quiet = ProgressBar(stream=FakeTTY(), enabled=False)
    for b in (ProgressBar(stream=pipe), quiet):
        b(1, 2, 1.0, "mse", 0.5, 10.0)
        b.close()
    assert pipe.getvalue() == "" and quiet.stream.getvalue() == ""


def test_cli_text_summary_and_plot(capsys, tmp_path):
    png = tmp_path / "curves.png"
    rc, out, err = run_cli(capsys, "train", "seed000_sigmoid_mse", "--epochs", "20", "--plot",
                           str(png))
    assert rc == 0
    assert re.match(r"seed000_sigmoid_mse: 20 epochs, 20 steps in .* steps/s", out)
    assert "accuracy: train" in out
    assert "2-5-1 (sigmoid, sigmoid), loss mse; sgd lr 0.1" in err  # information on stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_spec_without_data_is_a_clear_error(capsys):
    rc, out, err = run_cli(capsys, "train", "seed002_worked_example")
    assert rc == 2 and "no [data] table" in err and "Traceback" not in err


# --- options, output paths and unfinished runs ------------------------------------------------

@pytest.mark.parametrize("option, value, words", [
    ("--epochs", "0", "--epochs: expected a whole number >= 1, got 0"),
    ("--lr", "0", "--lr: expected a positive number, got 0.0"),
    ("--seed", "-5", "--seed: expected a whole number >= 0, got -5"),
    ("--batch-size", "-1", "--batch-size: expected a whole number >= 0 (0 = full batch)"),
    ("--checkpoint-every", "0", "--checkpoint-every: expected a whole number >= 1"),
])
def test_option_errors_name_the_option_not_the_spec(capsys, option, value, words):
    rc, out, err = run_cli(capsys, "train", "seed003_linear_regression", option, value, "-q")
    assert rc == 2 and words in err and "key 'train." not in err and "Traceback" not in err


def test_optimizer_option_drops_the_other_optimizers_hyper_parameters():
    spec = symbp.load_spec(SPEC_HEAD + "[train]\noptimizer = \"adam\"\nbeta1 = 0.8\n")
    cfg = TrainConfig.from_spec(spec, optimizer="momentum")
    assert cfg.optimizer == "momentum" and set(cfg.hyper) == {"eta", "mu"}
    assert TrainConfig.from_spec(spec).beta1 == 0.8


@pytest.mark.parametrize("make, option, words", [
    (lambda p: p.mkdir(), "--save", "this is a folder; expected a file name"),
    (lambda p: p.mkdir(), "--plot", "this is a folder; expected a file name"),
    (lambda p: p.write_text(""), "--checkpoint", "this is a file; expected a folder"),
    (lambda p: (p / "checkpoint.npz").mkdir(parents=True), "--checkpoint",
     "this is a folder; expected a file name"),
])
def test_unwritable_outputs_are_refused_before_training(capsys, tmp_path, make, option, words):
    path = tmp_path / "out"
    make(path)
    rc, out, err = run_cli(capsys, "train", "seed003_linear_regression", option, str(path))
    assert rc == 2 and words in err and "Traceback" not in err
    assert out == "" and "seed003_linear_regression: 1-1" not in err  # nothing was trained


def test_save_under_a_file_is_refused_before_training(capsys, tmp_path):
    (tmp_path / "afile").write_text("")
    rc, out, err = run_cli(capsys, "train", "seed003_linear_regression", "--save",
                           str(tmp_path / "afile" / "p.npz"), "-q")
    assert rc == 2 and "afile is a file, not a folder" in err and out == ""


def test_params_are_kept_when_the_save_file_cannot_be_written(capsys, tmp_path, monkeypatch):
    real = symbp.checkpoint.save_params
    target = tmp_path / "p.npz"

    def failing(path, *args, **kwargs):
        if Path(path) == target:
            raise symbp.errors.CheckpointError(f"{path}: cannot write the file (No space left)")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(symbp.checkpoint, "save_params", failing)
    rc, out, err = run_cli(capsys, "train", "seed003_linear_regression", "--save", str(target),
                           "-q")
    m = re.search(r"the trained parameters were written to (\S+) instead", err)
    assert rc == 2 and m, err
    rescue = Path(m.group(1))
    try:
        spec = symbp.load_spec("seed003_linear_regression")
        saved = symbp.checkpoint.load_params(rescue, spec, ["W1", "b1"], spec.model.sizes)
        assert abs(saved["params"]["W1"][0, 0] - 2) < 0.1  # trained: y = 2x
    finally:
        rescue.unlink()


def test_a_diverged_run_says_save_was_not_written(capsys, tmp_path):
    rc, out, err = run_cli(capsys, "train", "seed003_linear_regression", "--lr", "1000",
                           "--save", str(tmp_path / "p.npz"), "--checkpoint", str(tmp_path / "ck"),
                           "--checkpoint-every", "1", "-q")
    assert rc == 2 and not (tmp_path / "p.npz").exists()
    assert f"--save {tmp_path / 'p.npz'} was not written" in err
    m = re.search(r"the last checkpoint is \S+ \(epoch (\d+)\): write its parameters with "
                  r"(symbp train .*--resume --epochs (\d+) --save FILE)", err)
    assert m and m.group(1) == m.group(3), err
    # the command as printed (the run's own --lr included, which the checkpoint must match)
    # writes the parameters of the last good epoch, training nothing more
    argv = [str(tmp_path / "p.npz") if a == "FILE" else a for a in shlex.split(m.group(2))]
    assert argv[:2] == ["symbp", "train"] and "--lr" in argv
    rc, out, err = run_cli(capsys, *argv[1:])
    assert rc == 0 and (tmp_path / "p.npz").exists()
    assert f"is at epoch {m.group(1)}, which is already >= {m.group(1)}" in err
    assert "nothing was trained" in err and "nothing trained" in out and "nan" not in out


def test_resuming_past_the_epochs_asked_for_says_nothing_was_trained(capsys, tmp_path):
    args = ["train", "seed003_linear_regression", "--checkpoint", str(tmp_path), "-q"]
    assert run_cli(capsys, *args, "--epochs", "20")[0] == 0
    rc, out, err = run_cli(capsys, *args, "--epochs", "3", "--resume")
    assert rc == 0 and "is at epoch 20, which is already >= 3 (--epochs" in err
    assert "nothing was trained" in err
    assert out.startswith("seed003_linear_regression: 20 epochs (the checkpoint's), nothing "
                          "trained") and "nan" not in out


def test_an_interrupted_run_says_what_was_and_was_not_saved(capsys, tmp_path, monkeypatch):
    def interrupt(self, epoch, *rest):
        if epoch >= 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(ProgressBar, "__call__", interrupt)
    rc, out, err = run_cli(capsys, "train", "seed003_linear_regression", "--epochs", "10",
                           "--save", str(tmp_path / "p.npz"), "--checkpoint", str(tmp_path / "ck"),
                           "--checkpoint-every", "2", "-q")
    assert rc == 130 and not (tmp_path / "p.npz").exists()
    assert "training was interrupted; the last checkpoint is " in err
    assert "(epoch 2): continue with --resume, or write its parameters with symbp train " \
           f"seed003_linear_regression --checkpoint {tmp_path / 'ck'} --resume --epochs 2 " \
           "--save FILE" in err
    assert f"--save {tmp_path / 'p.npz'} was not written" in err
