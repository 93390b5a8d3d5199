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
