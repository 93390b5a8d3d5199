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
``activations``     each layer's activation, e.g. ``["tanh", "leaky_relu(slope=1/100)",
                    "identity"]`` (a softmax output is ``identity`` with the loss
                    ``softmax_cross_entropy``; a custom one is its expression, as SymPy prints it)
``loss``            the loss kind (``mse``, ``bce_logits``, ``softmax_cross_entropy``, ...)
``task``            ``"classification"`` or ``"regression"``
``classes``         the class labels in output order (classification only)
``feature_names``   the training data's column names in input order (empty when the data has
                    no names: a CSV without a header, an ``.npz`` or inline data)
``param/<name>``    each parameter, ``param/W1`` (d0, d1), ``param/b1`` (d1,), ... in the
                    layout ``z = a W + b`` (rows of ``W`` are input units), float64 or float32
==================  ==========================================================================

What a file's parameters mean must be what the spec's network means, or loading it is a
:class:`~symbp.errors.CheckpointError` that names the difference: the layer sizes, each layer's
activation (with its parameters) and the loss kind (which fixes the output: softmax, sigmoid or
linear) must be equal; so must the task, when the spec's ``[data]`` table (for a parameter file)
or the data being trained on (for a checkpoint) says it, and for a checkpoint the classes and the
feature names. Everything else may differ, and ``spec_digest`` is recorded, not compared: the
spec's name, description and comments, the ``[train]`` table (more epochs; a checkpoint checks
the settings a resumed run must share itself, see ``config/<key>``), the loss's ``reduction``,
``scale`` and ``l2`` (training settings, not what the outputs mean), and where the data comes
from. A file without ``activations`` or ``loss`` (written by symbp before they were recorded) is
read with a :class:`~symbp.errors.SymbpWarning` that they could not be checked.

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
prediction needs: ``x_mean`` and ``x_std`` (the standardisation fitted on the training part: the
model sees ``(x - x_mean) / x_std``; they may be left out only where the spec's ``[data]`` does
not standardise) and ``epoch``.

Load a parameter file without symbp::

    with np.load("model.npz") as f:
        W1, b1 = f["param/W1"], f["param/b1"]
"""

from __future__ import annotations

import os
import time
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .data import default_task, standardizes
from .errors import CheckpointError, SymbpWarning

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
    if not zipfile.is_zipfile(p):  # np.load would read it as a pickle and advise allow_pickle
        raise CheckpointError(f"{p}: not a readable .npz {what} (not a zip archive, which every "
                              f".npz file is)")
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


def header(spec, sizes, kind: str, *, task: str, classes, feature_names) -> dict[str, Any]:
    """The keys both kinds of file start with, including what the parameters mean."""
    arrays = {"format": kind, "version": VERSION, "spec_name": spec.name,
              "spec_digest": spec.digest, "sizes": np.asarray(sizes, dtype=np.int64),
              "activations": np.array(activation_names(spec), dtype=str),
              "loss": spec.loss.kind, "task": task,
              "feature_names": np.array(list(feature_names or ()), dtype=str)}
    if classes is not None:
        arrays["classes"] = np.asarray(classes)
    return arrays


def activation_names(spec) -> list[str]:
    """Each layer's activation as the ``activations`` key records it (``leaky_relu(slope=1/100)``;
    a custom activation as SymPy prints its expression, so spacing does not matter)."""
    out = []
    for layer in spec.model.layers:
        act = layer.activation
        if act.name == "custom":
            out.append(str(act.f))
        elif act.params:
            out.append(f"{act.name}({', '.join(f'{k}={v}' for k, v in act.params)})")
        else:
            out.append(act.name)
    return out


def check_fits(data: dict, spec, params: list[str], sizes, path) -> dict[str, np.ndarray]:
    """The ``param/*`` arrays of ``data``, after checking they mean what ``spec``'s network means.

    The sizes, each layer's activation and the loss kind must be equal (see the module docstring
    for the rule); the spec digest may differ (a spec edited after training: more epochs, another
    name, comments). A file that does not record the activations or the loss gives a
    :class:`~symbp.errors.SymbpWarning`.

    Raises:
        CheckpointError: a key is missing or malformed, or the file is for another network;
            the message names the file and the difference.
    """
    got = _sizes(data, path)
    other = f"(spec {_text(data, 'spec_name', path, '?')!r})"
    if got != tuple(sizes):
        raise CheckpointError(f"{path}: written for a {'-'.join(map(str, got))} network {other}, "
                              f"but the spec {spec.name!r} is {'-'.join(map(str, sizes))}")
    unchecked = [key for key in ("activations", "loss") if key not in data]
    if "activations" in data:
        saved = data["activations"]
        want = activation_names(spec)
        if saved.dtype.kind != "U" or saved.shape != (len(want),):
            raise CheckpointError(f"{path}: activations must be {len(want)} strings, one per "
                                  f"layer; got an array of shape {saved.shape} and dtype "
                                  f"{saved.dtype}")
        for i, (a, b) in enumerate(zip(saved.tolist(), want)):
            if a != b:
                raise CheckpointError(
                    f"{path}: written for a network {other} whose layer {i + 1} has the "
                    f"activation {a}, but in the spec {spec.name!r} it is {b} "
                    f"(model.layers[{i}].activation); parameters trained with one activation do "
                    f"not fit another. {_RULE}")
    if "loss" in data:
        loss = _text(data, "loss", path)
        if loss != spec.loss.kind:
            raise CheckpointError(
                f"{path}: written for a network {other} trained with the loss {loss}, but the "
                f"spec {spec.name!r} has the loss {spec.loss.kind} (which fixes what the outputs "
                f"mean). {_RULE}")
    if unchecked:
        warnings.warn(f"{path} does not record {' or '.join(unchecked)} (written by an older "
                      f"symbp?), so they cannot be checked against the spec {spec.name!r}; they "
                      f"are assumed to be the spec's", SymbpWarning, stacklevel=3)
    out = {}
    for name in params:
        key = f"param/{name}"
        if key not in data:
            raise CheckpointError(f"{path}: the parameter {name} ({key}) is missing")
        layer = int(name[1:])
        shape = (sizes[layer - 1], sizes[layer]) if name[0] == "W" else (sizes[layer],)
        out[name] = _finite_floats(path, key, data[key], shape)
    return out


def _finite_floats(path, key: str, a: np.ndarray, shape: tuple, why: str = "") -> np.ndarray:
    """``a`` (the file's ``key``) if it is a finite float array of ``shape``, else an error."""
    if a.shape != shape or a.dtype.kind != "f":
        raise CheckpointError(f"{path}: {key} has shape {a.shape} and dtype {a.dtype}; "
                              f"expected a float array of shape {shape}{why}")
    if not np.all(np.isfinite(a)):
        raise CheckpointError(f"{path}: {key} contains NaN or infinite values")
    return a


_RULE = ("A file fits a spec whose sizes, activations, loss kind and task are the same; the "
         "spec's name, comments, [train] table and the loss's l2 and reduction may differ.")


def _sizes(data: dict, path) -> tuple[int, ...]:
    if "sizes" not in data:
        raise CheckpointError(f"{path}: the key 'sizes' is missing")
    a = data["sizes"]
    if a.ndim != 1 or len(a) < 2 or a.dtype.kind not in "iu" or np.any(a < 1):
        raise CheckpointError(f"{path}: sizes must be the layer widths from input to output, "
                              f"whole numbers >= 1 such as [64, 10]; got {a.tolist()!r}")
    return tuple(int(s) for s in a)


def _text(data: dict, key: str, path, default: str | None = None) -> str:
    """The string scalar ``data[key]`` (``default`` when absent, if given)."""
    if key not in data and default is not None:
        return default
    if key not in data:
        raise CheckpointError(f"{path}: the key {key!r} is missing")
    a = data[key]
    if a.ndim != 0 or a.dtype.kind != "U":
        raise CheckpointError(f"{path}: {key} must be a string; got an array of shape {a.shape} "
                              f"and dtype {a.dtype}")
    return str(a)


def _whole(data: dict, key: str, path) -> int:
    """The whole-number scalar ``data[key]`` (>= 0)."""
    if key not in data:
        raise CheckpointError(f"{path}: the key {key!r} is missing")
    a = data[key]
    if a.ndim != 0 or a.dtype.kind not in "iu" or a < 0:
        raise CheckpointError(f"{path}: {key} must be a whole number >= 0; got "
                              f"{a.tolist()!r} (dtype {a.dtype})")
    return int(a)


def _floats(data: dict, key: str, path, n: int | None = None, *, finite: bool = True
            ) -> np.ndarray:
    """The 1-D float array ``data[key]`` (of length ``n`` if given; all finite if ``finite``)."""
    a = data[key]
    if a.ndim != 1 or a.dtype.kind not in "fiu" or (n is not None and len(a) != n):
        want = f"{n} numbers" if n is not None else "a list of numbers"
        raise CheckpointError(f"{path}: {key} must be {want}; got an array of shape {a.shape} and "
                              f"dtype {a.dtype}")
    a = a.astype(np.float64)
    if finite and not np.all(np.isfinite(a)):
        raise CheckpointError(f"{path}: {key} contains NaN or infinite values")
    return a


def _labels(data: dict, key: str, path) -> tuple:
    """The 1-D array of strings or numbers ``data[key]`` as a tuple of Python values."""
    a = data[key]
    if a.ndim != 1 or a.dtype.kind not in "Uiuf":
        raise CheckpointError(f"{path}: {key} must be a list of labels (strings or numbers); got "
                              f"an array of shape {a.shape} and dtype {a.dtype}")
    return tuple(a.tolist())


def _check_data_meaning(data: dict, path, *, task: str | None, classes=None,
                        feature_names=None, where: str) -> None:
    """The file's task (and classes, feature names) against those of ``where``."""
    saved = _text(data, "task", path, "")
    if saved and saved not in ("classification", "regression"):
        raise CheckpointError(f"{path}: task must be \"classification\" or \"regression\", got "
                              f"{saved!r}")
    if task is not None and saved and saved != task:
        raise CheckpointError(f"{path}: written for {saved}, but {where} is for {task}; the "
                              f"outputs of one do not mean the other's. {_RULE}")
    if classes is not None and "classes" in data and _labels(data, "classes", path) != \
            tuple(classes):
        raise CheckpointError(f"{path}: written for the classes {_show(data['classes'])}, but "
                              f"{where} has the classes {_show(classes)}; the outputs are in "
                              f"the file's class order")
    if feature_names and "feature_names" in data:
        names = _labels(data, "feature_names", path)
        if names and names != tuple(feature_names):
            raise CheckpointError(f"{path}: written for the features {_show(names)} (in this "
                                  f"order), but {where} has {_show(feature_names)}")


def _show(values) -> str:
    values = list(values)
    return ", ".join(map(str, values[:8])) + (", ..." if len(values) > 8 else "")


# --- checkpoints ------------------------------------------------------------------------------

def checkpoint_path(folder: str | os.PathLike) -> Path:
    return Path(folder) / CHECKPOINT_NAME


def save_checkpoint(folder, spec, sizes, params: dict, state: dict, *, epoch: int, step: int,
                    seed: int, config: dict, losses, metrics: dict | None = None,
                    task: str = "regression", classes=None, feature_names=()) -> Path:
    """Write ``folder/checkpoint.npz`` atomically (see the module docstring for the keys)."""
    arrays = header(spec, sizes, FORMAT_CHECKPOINT, task=task, classes=classes,
                    feature_names=feature_names)
    arrays.update({f"param/{k}": v for k, v in params.items()})
    arrays.update({f"state/{k}": v for k, v in state.items()})
    arrays.update({"epoch": np.int64(epoch), "step": np.int64(step), "rng_seed": np.int64(seed),
                   "losses": np.asarray(losses, dtype=np.float64)})
    arrays.update({f"config/{k}": v for k, v in config.items()})
    for key in ("metric_epochs", "metric_train", "metric_val"):
        arrays[key] = np.asarray((metrics or {}).get(key, []), dtype=np.float64)
    return write_npz(checkpoint_path(folder), arrays)


def load_checkpoint(folder, spec, params: list[str], state_names: list[str], sizes,
                    config: dict, *, task: str | None = None, classes=None,
                    feature_names=None) -> dict:
    """Read and check ``folder/checkpoint.npz`` for resuming ``spec`` with ``config``.

    Args:
        task, classes, feature_names: those of the data the resumed run trains on (None: not
            checked).

    Returns:
        ``{"params", "state", "epoch", "step", "seed", "losses", "metrics", "path"}``.

    Raises:
        CheckpointError: missing or corrupt (a key missing or of the wrong shape or type), for
            another network or other data (see :func:`check_fits`), or written with other
            settings (optimizer, lr, batch size, seed, dtype, hyper-parameters).
    """
    path = checkpoint_path(folder)
    data = read_npz(path, FORMAT_CHECKPOINT)
    p = check_fits(data, spec, params, sizes, path)
    _check_data_meaning(data, path, task=task, classes=classes, feature_names=feature_names,
                        where="the data of this run")
    state = {}
    for name in state_names:
        key = f"state/{name}"
        if key not in data:
            raise CheckpointError(f"{path}: the optimizer state {key} is missing (was the "
                                  f"checkpoint written with another optimizer?)")
        state[name] = _finite_floats(path, key, data[key], p[name.split("_", 1)[1]].shape,
                                     ", as its parameter")
    for key, want in config.items():
        got = data.get(f"config/{key}")
        if got is not None and got.ndim != 0:
            raise CheckpointError(f"{path}: config/{key} must be a single value; got an array "
                                  f"of shape {got.shape}")
        got = None if got is None else got.item()
        if got != want:
            raise CheckpointError(f"{path}: written with {key} = {got!r}, but this run has "
                                  f"{key} = {want!r}; resume with the same settings, or start "
                                  f"a new run without --resume")
    epoch, step, seed = (_whole(data, k, path) for k in ("epoch", "step", "rng_seed"))
    if "losses" not in data:
        raise CheckpointError(f"{path}: the key 'losses' is missing")
    losses = _floats(data, "losses", path, finite=False)
    if len(losses) != epoch:
        raise CheckpointError(f"{path}: {len(losses)} losses recorded for {epoch} epochs")
    n = len(data["metric_epochs"]) if "metric_epochs" in data else 0
    metrics = {k: (_floats(data, k, path, n, finite=k == "metric_epochs") if k in data
                   else np.zeros(0)) for k in ("metric_epochs", "metric_train", "metric_val")}
    return {"params": p, "state": state, "epoch": epoch, "step": step, "seed": seed,
            "losses": losses, "metrics": metrics, "path": path}


# --- parameter files --------------------------------------------------------------------------

def save_params(path, spec, sizes, params: dict, *, task: str, classes, mean, std, epoch: int,
                feature_names=()) -> Path:
    """Write a parameter file (see the module docstring) atomically."""
    arrays = header(spec, sizes, FORMAT_PARAMS, task=task, classes=classes,
                    feature_names=feature_names)
    arrays.update({f"param/{k}": v for k, v in params.items()})
    arrays.update({"epoch": np.int64(epoch), "x_mean": np.asarray(mean, dtype=np.float64),
                   "x_std": np.asarray(std, dtype=np.float64)})
    return write_npz(path, arrays)


def load_params(path, spec, params: list[str], sizes) -> dict:
    """Read a parameter file for ``spec``.

    The file must fit the spec's network (:func:`check_fits`) and, where the spec has a
    ``[data]`` table, its task; it may leave out ``x_mean`` and ``x_std`` only where that
    table does not standardise.

    Returns:
        ``{"params", "task", "classes" (tuple or None), "mean", "std", "feature_names"
        (tuple, empty when the training data had no column names)}``.

    Raises:
        CheckpointError: missing, corrupt (a key of the wrong shape, type or value), or for
            another network or task.
    """
    data = read_npz(path, FORMAT_PARAMS)
    p = check_fits(data, spec, params, sizes, path)
    table = spec.section("data")
    task = _spec_task(table)
    _check_data_meaning(data, path, task=task, where=f"the spec {spec.name!r} ([data] task)")
    n_in, n_out = sizes[0], sizes[-1]
    if ("x_mean" in data) != ("x_std" in data):
        raise CheckpointError(f"{path}: x_mean and x_std come together; the file has only "
                              f"{'x_mean' if 'x_mean' in data else 'x_std'}")
    if "x_mean" in data:
        mean, std = _floats(data, "x_mean", path, n_in), _floats(data, "x_std", path, n_in)
        if not np.all(std > 0):
            raise CheckpointError(f"{path}: x_std must be {n_in} numbers > 0 (the model sees "
                                  f"(x - x_mean) / x_std)")
    elif table is not None and standardizes(table):
        raise CheckpointError(f"{path}: the file has no x_mean and x_std, but the spec "
                              f"{spec.name!r} standardises its inputs ([data] standardize), so "
                              f"the network was trained on (x - mean) / std with statistics "
                              f"this file should hold; save it again with symbp train --save")
    else:
        mean, std = np.zeros(n_in), np.ones(n_in)
    saved_task = _text(data, "task", path, "regression")
    classes = None
    if saved_task == "classification":
        if "classes" not in data:
            raise CheckpointError(f"{path}: a classification file needs its class labels "
                                  f"(the key 'classes')")
        classes = _labels(data, "classes", path)
        want = 2 if n_out == 1 else n_out
        if len(classes) != want or len(set(classes)) != len(classes):
            raise CheckpointError(f"{path}: classes must be {want} distinct labels (one per "
                                  f"output{', 0 and 1 of the single output' if n_out == 1 else ''}"
                                  f"); got {len(classes)}: {_show(classes)}")
    names = _labels(data, "feature_names", path) if "feature_names" in data else ()
    if names and len(names) != n_in:
        raise CheckpointError(f"{path}: feature_names must be {n_in} names (one per input), got "
                              f"{len(names)}")
    return {"params": p, "task": saved_task, "classes": classes, "mean": mean, "std": std,
            "feature_names": tuple(map(str, names))}


def _spec_task(table) -> str | None:
    """The task a spec's ``[data]`` table sets (None without the table)."""
    return None if table is None else table.get("task", default_task(table["source"]))
