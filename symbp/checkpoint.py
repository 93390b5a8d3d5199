"""Checkpoints and trained-parameter files: NumPy ``.npz`` archives with documented keys.

Contract: :func:`write_npz` writes atomically: the archive goes to a temporary file in the
target's folder, is flushed and fsynced, and only then renamed over the target
(:func:`os.replace`), so a reader (or a process killed with SIGKILL mid-write) sees the previous
complete file or the new complete file, never a partial one. Loading never unpickles
(``allow_pickle=False``) and checks every key; any problem raises
:class:`~symbp.errors.CheckpointError` naming the file and what is wrong.

Keys of both kinds of file (all plain arrays; strings are NumPy unicode scalars):

==================  ==========================================================================
``format``          ``"symbp-checkpoint"`` or ``"symbp-params"``
``version``         format version, ``1``
``spec_name``       the spec's ``name``
``spec_digest``     SHA-256 of the spec's content (:attr:`symbp.spec.Spec.digest`)
``sizes``           layer widths from input to output, e.g. ``[64, 64, 10]`` (int64)
``param/<name>``    each parameter, ``param/W1`` (d0, d1), ``param/b1`` (d1,), ... in the
                    layout ``z = a W + b`` (rows of ``W`` are input units), float64 or float32
==================  ==========================================================================

A checkpoint (``DIR/checkpoint.npz``, written by ``symbp train --checkpoint DIR``) adds:

==================  ==========================================================================
``epoch``           epochs completed
``step``            optimizer steps taken (Adam's ``t``)
``state/<name>``    optimizer state per parameter: ``state/v_W1`` (momentum), ``state/m_W1`` and
                    ``state/s_W1`` (Adam), same shapes as the parameters
``rng_seed``        the training seed. The minibatch shuffle of epoch ``e`` is seeded with a
                    function of (``rng_seed``, ``e``) only, so (``rng_seed``, ``epoch``) is the
                    complete RNG state of the run
``config/<key>``    the settings a resumed run must share: optimizer, lr, batch_size, seed,
                    dtype and the optimizer's hyper-parameters (eta, mu, beta1, ...)
``losses``          per-epoch mean training loss so far (float64, length ``epoch``)
``metric_epochs``,  epochs at which the metric was evaluated and its values on the training
``metric_train``,   and validation parts (NaN where a part is empty)
``metric_val``
==================  ==========================================================================

A parameter file (``symbp train --save FILE``, read by ``symbp predict``) adds what
prediction needs: ``task`` (``"classification"`` or ``"regression"``), ``classes`` (the class
labels in output order; absent for regression), ``x_mean`` and ``x_std`` (the standardisation
fitted on the training part: the model sees ``(x - x_mean) / x_std``), ``loss`` (the loss kind)
and ``epoch``.

Load a parameter file without symbp::

    with np.load("model.npz") as f:
        W1, b1 = f["param/W1"], f["param/b1"]
"""

from __future__ import annotations

import os
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .errors import CheckpointError

FORMAT_CHECKPOINT = "symbp-checkpoint"
FORMAT_PARAMS = "symbp-params"
VERSION = 1
CHECKPOINT_NAME = "checkpoint.npz"
#: Test hook: seconds the writer sleeps between writing the temporary file and renaming it.
PAUSE_ENV = "SYMBP_CHECKPOINT_PAUSE"


def write_npz(path: str | os.PathLike, arrays: dict[str, Any]) -> Path:
    """Write ``arrays`` to ``path`` atomically (temporary file, fsync, rename).

    Raises:
        CheckpointError: the folder cannot be created or the file cannot be written.
    """
    target = Path(path)
    tmp = target.parent / f".{target.name}.{os.getpid()}.tmp"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as fh:
            np.savez(fh, **{k: np.asarray(v) for k, v in arrays.items()})
            fh.flush()
            os.fsync(fh.fileno())
        pause = os.environ.get(PAUSE_ENV)
        if pause:  # tests kill the writer here
            (target.parent / f".{target.name}.paused").touch()
            time.sleep(float(pause))
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    except OSError as exc:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise CheckpointError(f"{target}: cannot write the file ({exc.strerror or exc})") from None
    return target


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def read_npz(path: str | os.PathLike, kind: str) -> dict[str, np.ndarray]:
    """Read a symbp ``.npz`` of format ``kind`` into a dict, checking the format marker.

    Raises:
        CheckpointError: missing, unreadable, not an npz, or not a symbp file of this kind.
    """
    p = Path(path)
    what = "checkpoint" if kind == FORMAT_CHECKPOINT else "parameter file"
    if not p.is_file():
        raise CheckpointError(f"{p}: no such {what}" + ("" if not p.exists() else
                                                        " (this is a folder)"))
    try:
        with np.load(p, allow_pickle=False) as f:
            data = {k: f[k] for k in f.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise CheckpointError(f"{p}: not a readable .npz {what} ({exc})") from None
    fmt = str(data.get("format", ""))
    if fmt != kind:
        other = {FORMAT_CHECKPOINT: "a checkpoint", FORMAT_PARAMS: "a parameter file"}.get(fmt)
        got = f"it is {other}" if other else "it has no symbp format marker"
        raise CheckpointError(f"{p}: not a symbp {what} ({got}; expected format = {kind!r})")
    version = int(data.get("version", -1))
    if version != VERSION:
        raise CheckpointError(f"{p}: format version {version} is not supported (this symbp "
                              f"reads version {VERSION})")
    return data


def header(spec, sizes, kind: str) -> dict[str, Any]:
    return {"format": kind, "version": VERSION, "spec_name": spec.name,
            "spec_digest": spec.digest, "sizes": np.asarray(sizes, dtype=np.int64)}


def check_fits(data: dict, spec, params: list[str], sizes, path) -> dict[str, np.ndarray]:
    """The ``param/*`` arrays of ``data``, after checking they fit ``spec``'s network.

    The spec digest may differ (a spec edited after training, e.g. more epochs); the network's
    sizes and parameter shapes must not.
    """
    got = tuple(int(s) for s in np.asarray(data.get("sizes", [])).reshape(-1))
    if got != tuple(sizes):
        raise CheckpointError(f"{path}: written for a {'-'.join(map(str, got)) or '?'} network "
                              f"(spec {str(data.get('spec_name', '?'))!r}), but the spec "
                              f"{spec.name!r} is {'-'.join(map(str, sizes))}")
    out = {}
    for name in params:
        key = f"param/{name}"
        if key not in data:
            raise CheckpointError(f"{path}: the parameter {name} ({key}) is missing")
        a = data[key]
        layer = int(name[1:])
        shape = (sizes[layer - 1], sizes[layer]) if name[0] == "W" else (sizes[layer],)
        if a.shape != shape or a.dtype.kind != "f":
            raise CheckpointError(f"{path}: {key} has shape {a.shape} and dtype {a.dtype}; "
                                  f"expected a float array of shape {shape}")
        if not np.all(np.isfinite(a)):
            raise CheckpointError(f"{path}: {key} contains NaN or infinite values")
        out[name] = a
    return out


# --- checkpoints ------------------------------------------------------------------------------

def checkpoint_path(folder: str | os.PathLike) -> Path:
    return Path(folder) / CHECKPOINT_NAME


def save_checkpoint(folder, spec, sizes, params: dict, state: dict, *, epoch: int, step: int,
                    seed: int, config: dict, losses, metrics: dict | None = None) -> Path:
    """Write ``folder/checkpoint.npz`` atomically (see the module docstring for the keys)."""
    arrays = header(spec, sizes, FORMAT_CHECKPOINT)
    arrays.update({f"param/{k}": v for k, v in params.items()})
    arrays.update({f"state/{k}": v for k, v in state.items()})
    arrays.update({"epoch": np.int64(epoch), "step": np.int64(step), "rng_seed": np.int64(seed),
                   "losses": np.asarray(losses, dtype=np.float64)})
    arrays.update({f"config/{k}": v for k, v in config.items()})
    for key in ("metric_epochs", "metric_train", "metric_val"):
        arrays[key] = np.asarray((metrics or {}).get(key, []), dtype=np.float64)
    return write_npz(checkpoint_path(folder), arrays)


def load_checkpoint(folder, spec, params: list[str], state_names: list[str], sizes,
                    config: dict) -> dict:
    """Read and check ``folder/checkpoint.npz`` for resuming ``spec`` with ``config``.

    Returns:
        ``{"params", "state", "epoch", "step", "seed", "losses", "metrics"}``.

    Raises:
        CheckpointError: missing or corrupt, for another network, or written with other
            settings (optimizer, lr, batch size, seed, dtype, hyper-parameters).
    """
    path = checkpoint_path(folder)
    data = read_npz(path, FORMAT_CHECKPOINT)
    p = check_fits(data, spec, params, sizes, path)
    state = {}
    for name in state_names:
        key = f"state/{name}"
        if key not in data:
            raise CheckpointError(f"{path}: the optimizer state {key} is missing (was the "
                                  f"checkpoint written with another optimizer?)")
        state[name] = data[key]
    for key, want in config.items():
        got = data.get(f"config/{key}")
        got = None if got is None else got.item()
        if got != want:
            raise CheckpointError(f"{path}: written with {key} = {got!r}, but this run has "
                                  f"{key} = {want!r}; resume with the same settings, or start "
                                  f"a new run without --resume")
    try:
        epoch, step, seed = int(data["epoch"]), int(data["step"]), int(data["rng_seed"])
        losses = np.asarray(data["losses"], dtype=np.float64)
    except KeyError as exc:
        raise CheckpointError(f"{path}: the key {exc.args[0]!r} is missing") from None
    if len(losses) != epoch:
        raise CheckpointError(f"{path}: {len(losses)} losses recorded for {epoch} epochs")
    metrics = {k: data.get(k, np.zeros(0)) for k in ("metric_epochs", "metric_train",
                                                     "metric_val")}
    return {"params": p, "state": state, "epoch": epoch, "step": step, "seed": seed,
            "losses": losses, "metrics": metrics, "path": path}


# --- parameter files --------------------------------------------------------------------------

def save_params(path, spec, sizes, params: dict, *, task: str, classes, mean, std, epoch: int
                ) -> Path:
    """Write a parameter file (see the module docstring) atomically."""
    arrays = header(spec, sizes, FORMAT_PARAMS)
    arrays.update({f"param/{k}": v for k, v in params.items()})
    arrays.update({"task": task, "loss": spec.loss.kind, "epoch": np.int64(epoch),
                   "x_mean": np.asarray(mean, dtype=np.float64),
                   "x_std": np.asarray(std, dtype=np.float64)})
    if classes is not None:
        arrays["classes"] = np.asarray(classes)
    return write_npz(path, arrays)


def load_params(path, spec, params: list[str], sizes) -> dict:
    """Read a parameter file for ``spec``.

    Returns:
        ``{"params", "task", "classes" (tuple or None), "mean", "std"}``.

    Raises:
        CheckpointError: missing, corrupt, or for another network.
    """
    data = read_npz(path, FORMAT_PARAMS)
    p = check_fits(data, spec, params, sizes, path)
    n_in = sizes[0]
    mean = np.asarray(data.get("x_mean", np.zeros(n_in)), dtype=np.float64)
    std = np.asarray(data.get("x_std", np.ones(n_in)), dtype=np.float64)
    if mean.shape != (n_in,) or std.shape != (n_in,) or not np.all(std > 0):
        raise CheckpointError(f"{path}: x_mean / x_std must be {n_in} numbers (std > 0)")
    classes = tuple(c.item() for c in data["classes"]) if "classes" in data else None
    return {"params": p, "task": str(data.get("task", "regression")), "classes": classes,
            "mean": mean, "std": std}
