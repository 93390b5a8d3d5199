"""Checkpoints: resume equals uninterrupted, a killed writer leaves the previous checkpoint,
validation on load."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import symbp
from symbp.checkpoint import (FORMAT_PARAMS, PAUSE_ENV, load_checkpoint, read_npz, save_params,
                              write_npz)
from symbp.cli import main
from symbp.errors import CheckpointError
from symbp.train import TrainConfig, Trainer, prepare, state_names


@pytest.fixture(scope="module")
def digits():
    spec = symbp.load_spec("digits_softmax")
    cfg = TrainConfig.from_spec(spec, epochs=6, checkpoint_every=2)
    d, data, model, _ = prepare(spec, cfg)
    return spec, cfg, d, data, model


def test_resume_equals_uninterrupted(digits, tmp_path):
    spec, cfg, d, data, model = digits
    straight = Trainer(d, model, data, cfg).run()
    # a first run that stops after epoch 4 (checkpoints at 2 and 4) ...
    first = TrainConfig.from_spec(spec, epochs=4, checkpoint_every=2)
    Trainer(d, model, data, first, checkpoint_dir=tmp_path).run()
    # ... resumed to epoch 6 in a fresh trainer
    resumed = Trainer(d, model, data, cfg, checkpoint_dir=tmp_path, resume=True).run()
    assert resumed.resumed_from == 4 and resumed.epoch == 6
    for k in straight.params:
        np.testing.assert_allclose(resumed.params[k], straight.params[k], rtol=0, atol=1e-12)
    np.testing.assert_allclose(resumed.losses, straight.losses, rtol=0, atol=1e-12)
    assert resumed.state["t"] == straight.state["t"] == 6 * -(-len(data.X_train) // 32)


def test_interrupted_run_resumes_to_the_same_parameters(digits, tmp_path):
    spec, cfg, d, data, model = digits

    def interrupt(epoch, *rest):
        if epoch >= 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Trainer(d, model, data, cfg, checkpoint_dir=tmp_path, progress=interrupt).run()
    with np.load(tmp_path / "checkpoint.npz") as f:
        assert int(f["epoch"]) in (2, 4)
    resumed = Trainer(d, model, data, cfg, checkpoint_dir=tmp_path, resume=True).run()
    straight = Trainer(d, model, data, cfg).run()
    for k in straight.params:
        np.testing.assert_allclose(resumed.params[k], straight.params[k], rtol=0, atol=1e-12)


WRITER = textwrap.dedent("""
    import os, sys
    import numpy as np
    from symbp.checkpoint import write_npz, PAUSE_ENV
    path = sys.argv[1]
    write_npz(path, {"epoch": np.int64(1), "w": np.full(1000, 1.0)})
    os.environ[PAUSE_ENV] = "60"
    write_npz(path, {"epoch": np.int64(2), "w": np.full(1000, 2.0)})
""")


def test_checkpoint_survives_a_writer_killed_mid_write(tmp_path):
    path = tmp_path / "checkpoint.npz"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)])
    marker = tmp_path / ".checkpoint.npz.paused"
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None, "the writer exited before pausing"
            assert time.monotonic() < deadline, "the writer never paused"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    tmps = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert tmps and tmps[0].stat().st_size > 0  # the new file was written, never renamed
    with np.load(path) as f:
        assert int(f["epoch"]) == 1 and np.all(f["w"] == 1.0)


def test_cli_checkpoint_and_resume(capsys, tmp_path):
    args = ["train", "seed003_linear_regression", "--checkpoint", str(tmp_path),
            "--checkpoint-every", "50", "-q"]
    assert main(args + ["--epochs", "120"]) == 0
    with np.load(tmp_path / "checkpoint.npz") as f:
        assert int(f["epoch"]) == 120 and int(f["step"]) == 120
        assert str(f["format"]) == "symbp-checkpoint" and int(f["rng_seed"]) == 0
        assert len(f["losses"]) == 120
    capsys.readouterr()
    assert main(args + ["--epochs", "300", "--resume"]) == 0
    assert "(resumed at epoch 120)" in capsys.readouterr().out
    # resuming with another learning rate is refused
    assert main(args + ["--epochs", "400", "--resume", "--lr", "0.02"]) == 2
    assert "written with lr = 0.01" in capsys.readouterr().err


def test_resume_needs_a_checkpoint(capsys, tmp_path):
    assert main(["train", "seed003_linear_regression", "--resume", "-q"]) == 2
    assert "--resume needs --checkpoint" in capsys.readouterr().err
    assert main(["train", "seed003_linear_regression", "--resume", "-q", "--checkpoint",
                 str(tmp_path / "none")]) == 2
    assert "no such checkpoint" in capsys.readouterr().err


def test_load_rejects_corrupt_foreign_and_mismatched_files(tmp_path):
    spec = symbp.load_spec("seed003_linear_regression")
    d = symbp.derive(spec)
    args = (spec, d.params, state_names(d), spec.model.sizes, {"lr": 0.01})
    (tmp_path / "checkpoint.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(CheckpointError, match="not a readable .npz"):
        load_checkpoint(tmp_path, *args)
    (tmp_path / "checkpoint.npz").write_text("epoch,loss\n0,1.5\n")  # text: no pickle advice
    with pytest.raises(CheckpointError, match="not a zip archive") as err:
        load_checkpoint(tmp_path, *args)
    assert "allow_pickle" not in str(err.value)
    write_npz(tmp_path / "checkpoint.npz", {"x": np.zeros(2)})
    with pytest.raises(CheckpointError, match="no symbp format marker"):
        load_checkpoint(tmp_path, *args)
    save_params(tmp_path / "checkpoint.npz", spec, (1, 1), {"W1": np.ones((1, 1)),
                                                           "b1": np.zeros(1)},
                task="regression", classes=None, mean=[0.0], std=[1.0], epoch=3)
    with pytest.raises(CheckpointError, match="it is a parameter file"):
        load_checkpoint(tmp_path, *args)
    assert read_npz(tmp_path / "checkpoint.npz", FORMAT_PARAMS)["epoch"] == 3
    other = symbp.load_spec("seed000_sigmoid_mse")
    with pytest.raises(CheckpointError, match="written for a 1-1 network"):
        symbp.checkpoint.load_params(tmp_path / "checkpoint.npz", other, ["W1", "b1", "W2", "b2"],
                                     other.model.sizes)


# --- what the parameters mean must match; every key is checked --------------------------------

def net(hidden="tanh", *, name="rev", task="classification", standardize=True, loss=None,
        train=None):
    """A 2-4-3 spec: softmax + cross-entropy (another ``loss`` kind: a linear output)."""
    loss = loss or {"kind": "cross_entropy"}
    out = {"units": 3, "activation": "softmax" if loss["kind"] == "cross_entropy" else "identity"}
    raw = {"name": name, "model": {"inputs": 2, "layers": [{"units": 4, "activation": hidden},
                                                           out]},
           "loss": loss,
           "data": {"source": "csv", "path": "d.csv", "target": "label", "task": task,
                    "standardize": standardize}}
    if train:
        raw["train"] = train
    return symbp.spec.spec_from_dict(raw, f"{name}.toml")


def rev_params(seed=0):
    rng = np.random.default_rng(seed)
    return {"W1": rng.normal(size=(2, 4)), "b1": np.zeros(4), "W2": rng.normal(size=(4, 3)),
            "b2": np.zeros(3)}


REV_FILE = {"format": "symbp-params", "version": 1, "spec_name": "rev", "spec_digest": "0" * 64,
            "sizes": np.array([2, 4, 3]), "activations": np.array(["tanh", "identity"]),
            "loss": "softmax_cross_entropy", "task": "classification",
            "classes": np.array(["cat", "dog", "eel"]), "feature_names": np.array(["x1", "x2"]),
            "epoch": 20, "x_mean": np.array([1000.0, 10.0]), "x_std": np.array([800.0, 8.0])}


def write_rev_params(path, **overrides):
    """A parameter file for :func:`net` as ``symbp train --save`` writes it, with ``overrides``
    (``None`` drops a key)."""
    arrays = {**REV_FILE, **{f"param/{k}": v for k, v in rev_params().items()}, **overrides}
    write_npz(path, {k: v for k, v in arrays.items() if v is not None})
    return path


def test_save_params_writes_what_the_parameters_mean(tmp_path):
    spec = net()
    save_params(tmp_path / "p.npz", spec, spec.model.sizes, rev_params(), task="classification",
                classes=("cat", "dog", "eel"), mean=[1000.0, 10.0], std=[800.0, 8.0], epoch=20,
                feature_names=("x1", "x2"))
    data = read_npz(tmp_path / "p.npz", FORMAT_PARAMS)
    for key, value in REV_FILE.items():
        if key not in ("spec_digest", "format"):
            assert np.array_equal(data[key], value), key


def load_rev(path, spec=None):
    spec = spec or net()
    return symbp.checkpoint.load_params(path, spec, ["W1", "b1", "W2", "b2"], spec.model.sizes)


def test_params_load_into_a_spec_that_differs_only_in_what_may_differ(tmp_path):
    path = write_rev_params(tmp_path / "p.npz")
    other = net(name="renamed", train={"optimizer": "sgd", "epochs": 5},
                loss={"kind": "cross_entropy", "l2": 0.01})
    saved = load_rev(path, other)
    assert saved["classes"] == ("cat", "dog", "eel") and saved["feature_names"] == ("x1", "x2")
    assert saved["mean"].tolist() == [1000.0, 10.0]


@pytest.mark.parametrize("spec, words", [
    (net("relu"), r"layer 1 has the activation tanh, but in the spec 'rev' it is relu "
                  r"\(model\.layers\[0\]\.activation\)"),
    (net("leaky_relu"), r"tanh, but .* leaky_relu\(slope=1/100\)"),
    (net(loss={"kind": "mse"}), r"trained with the loss softmax_cross_entropy, but the spec "
                                r"'rev' has the loss mse"),
    (net(task="regression"), r"written for classification, but the spec 'rev' \(\[data\] task\) "
                             r"is for regression"),
])
def test_params_of_another_activation_loss_or_task_are_refused(tmp_path, spec, words):
    path = write_rev_params(tmp_path / "p.npz")
    with pytest.raises(CheckpointError, match=r"p\.npz: .*" + words) as info:
        load_rev(path, spec)
    assert "[train] table" in str(info.value)  # the rule: what may differ


def test_resuming_needs_the_same_activations_task_classes_and_features(tmp_path):
    spec = net()
    d = symbp.derive(spec, optimizer="sgd")
    symbp.checkpoint.save_checkpoint(tmp_path, spec, spec.model.sizes, rev_params(), {},
                                     epoch=1, step=8, seed=0, config={"lr": 0.1}, losses=[0.5],
                                     task="classification", classes=("cat", "dog", "eel"),
                                     feature_names=("x1", "x2"))
    args = (d.params, [], spec.model.sizes, {"lr": 0.1})
    same = dict(task="classification", classes=("cat", "dog", "eel"), feature_names=("x1", "x2"))
    assert load_checkpoint(tmp_path, spec, *args, **same)["epoch"] == 1
    with pytest.raises(CheckpointError, match="activation tanh, but in the spec 'rev' it is relu"):
        load_checkpoint(tmp_path, net("relu"), *args, **same)
    for key, value, words in [("task", "regression", "written for classification, but the data "
                                                     "of this run is for regression"),
                              ("classes", ("ant", "bee", "cow"), "the classes cat, dog, eel, "
                                                                  "but the data of this run"),
                              ("feature_names", ("x2", "x1"), "the features x1, x2")]:
        with pytest.raises(CheckpointError, match=words):
            load_checkpoint(tmp_path, spec, *args, **{**same, key: value})


def test_a_file_without_activations_or_loss_is_read_with_a_warning(tmp_path):
    path = write_rev_params(tmp_path / "p.npz", activations=None, loss=None)
    with pytest.warns(symbp.errors.SymbpWarning, match="does not record activations or loss"):
        assert load_rev(path)["task"] == "classification"


@pytest.mark.parametrize("overrides, words", [
    (dict(x_mean=None, x_std=None), r"no x_mean and x_std, but the spec 'rev' standardises"),
    (dict(x_std=None), r"x_mean and x_std come together"),
    (dict(x_mean=np.array([np.nan, 0.0])), r"x_mean contains NaN or infinite values"),
    (dict(x_mean=np.zeros(3)), r"x_mean must be 2 numbers"),
    (dict(x_std=np.array([1.0, 0.0])), r"x_std must be 2 numbers > 0"),
    (dict(classes=np.array(["cat", "dog"])), r"classes must be 3 distinct labels .*got 2"),
    (dict(classes=None), r"needs its class labels"),
    (dict(sizes=np.array(["a"])), r"sizes must be the layer widths .*got \['a'\]"),
    (dict(sizes=None), r"the key 'sizes' is missing"),
    (dict(task=np.array("ranking")), r"task must be \"classification\" or \"regression\""),
    (dict(activations=np.array([1, 2])), r"activations must be 2 strings"),
    (dict(feature_names=np.array(["x1"])), r"feature_names must be 2 names"),
])
def test_params_file_keys_are_checked(tmp_path, overrides, words):
    path = write_rev_params(tmp_path / "p.npz", **overrides)
    with pytest.raises(CheckpointError, match=r"p\.npz: .*" + words):
        load_rev(path)


def test_params_without_standardisation_load_where_the_spec_does_not_standardise(tmp_path):
    path = write_rev_params(tmp_path / "p.npz", x_mean=None, x_std=None)
    saved = load_rev(path, net(standardize=False))
    assert saved["mean"].tolist() == [0, 0] and saved["std"].tolist() == [1, 1]


@pytest.fixture()
def adam_checkpoint(tmp_path):
    spec = symbp.load_spec("seed003_linear_regression")
    cfg = TrainConfig.from_spec(spec, optimizer="adam", epochs=2, checkpoint_every=1)
    d, data, model, _ = prepare(spec, cfg)
    Trainer(d, model, data, cfg, checkpoint_dir=tmp_path).run()
    return spec, cfg, d, data, model, tmp_path


@pytest.mark.parametrize("key, value, words", [
    ("state/m_W1", np.zeros((2, 2)), r"state/m_W1 has shape \(2, 2\).*expected a float array of "
                                     r"shape \(1, 1\)"),
    ("state/s_b1", np.zeros(3), r"state/s_b1 has shape \(3,\)"),
    ("state/m_W1", np.array([[np.inf]]), r"state/m_W1 contains NaN or infinite"),
    ("step", np.array("abc"), r"step must be a whole number >= 0; got 'abc'"),
    ("epoch", np.float64(2.0), r"epoch must be a whole number >= 0"),
    ("rng_seed", np.array([0, 1]), r"rng_seed must be a whole number >= 0"),
    ("losses", np.zeros((2, 1)), r"losses must be a list of numbers"),
    ("metric_train", np.zeros(5), r"metric_train must be 2 numbers"),
    ("config/lr", np.array([0.01, 0.02]), r"config/lr must be a single value"),
])
def test_checkpoint_optimizer_state_and_scalars_are_checked(adam_checkpoint, key, value, words):
    spec, cfg, d, data, model, folder = adam_checkpoint
    path = folder / "checkpoint.npz"
    arrays = read_npz(path, "symbp-checkpoint")
    arrays[key] = value
    write_npz(path, arrays)
    with pytest.raises(CheckpointError, match=r"checkpoint\.npz: .*" + words):
        Trainer(d, model, data, cfg, checkpoint_dir=folder, resume=True).run()
