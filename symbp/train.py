"""Training with the compiled kernels: the ``[train]`` table, the :class:`Trainer`, metrics.

Contract: importing this module registers :func:`validate_train_table` in
:data:`symbp.spec.SECTION_VALIDATORS`. :class:`Trainer` runs the compiled whole-loop kernel
(:meth:`symbp.runtime.CompiledModel.train_epochs`) over chunks of epochs: the minibatches, their
seeded shuffling, the forward and backward passes and the optimizer's update all run inside one
compiled call per chunk, and Python only records the per-epoch losses, evaluates the metric,
draws the progress bar and writes checkpoints between chunks. The shuffle of epoch ``e`` is a
function of ``(seed, e)`` only, so the result does not depend on how the epochs are chunked:
the same seed gives the same parameters run after run, and an interrupted run resumed from a
checkpoint ends exactly where an uninterrupted one does. A non-finite loss or gradient stops
training with :class:`TrainingDiverged`, naming the epoch, the step and the first non-finite
quantity; the last good parameters (and checkpoint) are kept.

Format::

    [train]
    optimizer = "adam"       # sgd | momentum | adam (update equations: `symbp derive`)
    lr = 0.01                # learning rate eta (default: the optimizer's, sgd 0.1,
                             #   momentum 0.01, adam 0.001)
    epochs = 30              # passes over the training part
    batch_size = 32          # minibatch size; 0 = full batch (the default)
    seed = 0                 # parameter initialisation and minibatch shuffling
    momentum = 0.9           # optimizer = "momentum" only: v <- momentum v + g
    beta1 = 0.9              # optimizer = "adam" only
    beta2 = 0.999            #   "
    epsilon = 1e-8           #   "
    checkpoint_every = 10    # with --checkpoint DIR: write a checkpoint every K epochs
    target = "cpu"           # cpu | parallel | cuda (the command line's --target wins)
    dtype = "float64"        # float64 | float32

L2 weight decay is part of the loss (``[loss] l2 = 1e-4``), so it appears in the derivation.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np

from .errors import SpecError, SymbpError
from .rules.optimizers import OPTIMIZERS
from .spec import SECTION_VALIDATORS

TARGETS = ("cpu", "parallel", "cuda")
DTYPES = ("float64", "float32")
#: Optimizer-specific keys of the table -> (optimizer, hyper-parameter symbol name).
HYPER_KEYS = {"momentum": ("momentum", "mu"), "beta1": ("adam", "beta1"),
              "beta2": ("adam", "beta2"), "epsilon": ("adam", "epsilon")}
TRAIN_KEYS = ("optimizer", "lr", "epochs", "batch_size", "seed", "checkpoint_every", "target",
              "dtype") + tuple(HYPER_KEYS)
MAX_EPOCHS = 10**9


class TrainingDiverged(SymbpError):
    """The loss or a gradient became non-finite (NaN or infinite) during training.

    Attributes:
        epoch: 1-based epoch in which it happened.  step: 1-based step within that epoch.
        quantity: the first non-finite quantity in computation order (``L``, ``delta1``, ...).
        last_good_epoch: epochs completed before it (the parameters kept).
    """

    def __init__(self, epoch: int, step: int, quantity: str, last_good_epoch: int,
                 checkpoint: str | None = None):
        self.epoch, self.step, self.quantity = epoch, step, quantity
        self.last_good_epoch = last_good_epoch
        what = "the loss" if quantity == "L" else f"{quantity}"
        msg = (f"training diverged: non-finite value (NaN or inf) in epoch {epoch}, step {step}; "
               f"first non-finite quantity: {what}. Try a smaller learning rate (lr), or check "
               f"the spec's warnings.")
        if checkpoint:
            msg += f" The last good checkpoint ({checkpoint}) is kept."
        super().__init__(msg)


# --- the [train] table ------------------------------------------------------------------------

def validate_train_table(table: Any, source: str) -> None:
    """Check every key of the ``[train]`` table.

    Raises:
        SpecError: naming ``train.<key>``: an unknown key, a value of the wrong type or range, or
            a hyper-parameter of another optimizer (``beta1`` with ``optimizer = "sgd"``).
    """
    if not isinstance(table, dict):
        raise SpecError(source, "train", "expected a table such as { optimizer = \"adam\", "
                        "lr = 0.01, epochs = 30 }")
    for key in table:
        if key not in TRAIN_KEYS:
            hint = (" (L2 weight decay is part of the loss: [loss] l2 = ...)"
                    if key in ("l2", "weight_decay", "alpha") else "")
            raise SpecError(source, f"train.{key}", f"unknown key; expected one of "
                            f"{', '.join(TRAIN_KEYS)}{hint}")
    opt = table.get("optimizer", "sgd")
    if opt not in OPTIMIZERS:
        raise SpecError(source, "train.optimizer", f"expected one of {', '.join(OPTIMIZERS)}, "
                        f"got {opt!r}")
    for key, (owner, _) in HYPER_KEYS.items():
        if key in table and owner != opt:
            raise SpecError(source, f"train.{key}", f"applies to optimizer = {owner!r} only, "
                            f"but the optimizer is {opt!r}")
    if "lr" in table:
        _positive(table["lr"], source, "train.lr")
    if "epsilon" in table:
        _positive(table["epsilon"], source, "train.epsilon")
    for key in ("momentum", "beta1", "beta2"):
        if key in table:
            v = _positive(table[key], source, f"train.{key}", zero=True)
            if v >= 1:
                raise SpecError(source, f"train.{key}", f"expected a number in [0, 1), got {v}")
    _whole(table, "epochs", source, 1, MAX_EPOCHS)
    _whole(table, "batch_size", source, 0, 2**31 - 1)
    _whole(table, "seed", source, 0, 2**63 - 1)
    _whole(table, "checkpoint_every", source, 1, MAX_EPOCHS)
    for key, allowed in (("target", TARGETS), ("dtype", DTYPES)):
        if key in table and table[key] not in allowed:
            raise SpecError(source, f"train.{key}", f"expected one of {', '.join(allowed)}, got "
                            f"{table[key]!r}")


def _positive(value: Any, source: str, key: str, zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value < 0 or (value == 0 and not zero):
        what = "a number >= 0" if zero else "a positive number"
        raise SpecError(source, key, f"expected {what}, got {value!r}")
    return float(value)


def _whole(table: dict, key: str, source: str, lo: int, hi: int) -> None:
    if key not in table:
        return
    v = table[key]
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        extra = " (0 = full batch)" if key == "batch_size" else ""
        raise SpecError(source, f"train.{key}", f"expected a whole number >= {lo}{extra}, got "
                        f"{v!r}")


SECTION_VALIDATORS["train"] = validate_train_table


@dataclass(frozen=True)
class TrainConfig:
    """The training settings: the ``[train]`` table, defaults filled in, overrides applied."""

    optimizer: str = "sgd"
    lr: float = 0.1
    epochs: int = 100
    batch_size: int = 0
    seed: int = 0
    momentum: float = 0.9
    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-8
    checkpoint_every: int = 10
    target: str = "cpu"
    dtype: str = "float64"

    @classmethod
    def from_spec(cls, spec, **overrides) -> TrainConfig:
        """The spec's ``[train]`` table with ``overrides`` (``None`` values ignored) on top.

        Overrides are validated like the table (a :class:`SpecError` names ``train.<key>``).
        An ``optimizer`` override drops the table's hyper-parameters of other optimizers.
        """
        table = dict(spec.section("train") or {})
        given = {k: v for k, v in overrides.items() if v is not None}
        if "optimizer" in given:
            table = {k: v for k, v in table.items()
                     if k not in HYPER_KEYS or HYPER_KEYS[k][0] == given["optimizer"]}
        table.update(given)
        validate_train_table(table, spec.source)
        opt = OPTIMIZERS[table.get("optimizer", "sgd")]
        table.setdefault("lr", float(opt.hyper["eta"]))
        defaults = cls()
        for key, (owner, sym) in HYPER_KEYS.items():
            if owner == opt.name and key not in table:
                table[key] = float(opt.hyper.get(sym, getattr(defaults, key)))
        return replace(defaults, **{k: (float(v) if isinstance(getattr(defaults, k), float)
                                        else v) for k, v in table.items()})

    @property
    def hyper(self) -> dict[str, float]:
        """The optimizer's hyper-parameters by symbol name (``eta``, ``mu``, ``beta1``, ...)."""
        names = OPTIMIZERS[self.optimizer].hyper
        values = {"eta": self.lr, "mu": self.momentum, "beta1": self.beta1, "beta2": self.beta2,
                  "epsilon": self.epsilon}
        return {k: float(values[k]) for k in names}

    def resume_key(self) -> dict:
        """The settings a resumed run must share with the run that wrote the checkpoint."""
        return {"optimizer": self.optimizer, "lr": self.lr, "batch_size": self.batch_size,
                "seed": self.seed, "dtype": self.dtype, **self.hyper}


# --- metrics ----------------------------------------------------------------------------------

def metric_name(task: str) -> str:
    """``accuracy`` for classification, ``mse`` (mean squared error per output) for regression."""
    return "accuracy" if task == "classification" else "mse"


def predicted_classes(yhat: np.ndarray) -> np.ndarray:
    """Class indices from predictions: argmax of several outputs, ``yhat > 0.5`` of one."""
    yhat = np.asarray(yhat)
    if yhat.shape[1] == 1:
        return (yhat[:, 0] > 0.5).astype(np.int64)
    return np.argmax(yhat, axis=1)


def score(task: str, yhat: np.ndarray, Y: np.ndarray) -> float:
    """The metric of :func:`metric_name` on predictions ``yhat`` and encoded targets ``Y``."""
    if len(Y) == 0:
        return float("nan")
    if task == "classification":
        return float(np.mean(predicted_classes(yhat) == predicted_classes(Y)))
    with np.errstate(over="ignore", invalid="ignore"):
        return float(np.mean((np.asarray(yhat, dtype=np.float64) - Y) ** 2))


def data_warnings(spec, data) -> list[str]:
    """Warnings about data that does not suit the loss (BCE with targets outside [0, 1])."""
    out = []
    kind = spec.loss.kind
    Y = data.Y_train
    if kind in ("bce", "bce_logits", "cross_entropy", "softmax_cross_entropy") and len(Y) and \
            (Y.min() < 0 or Y.max() > 1):
        out.append(f"the loss {kind} expects targets in [0, 1] (probabilities), but the "
                   f"training targets range over [{Y.min():g}, {Y.max():g}]: the loss is not "
                   f"a likelihood there and training may diverge; rescale the targets or use "
                   f"task = \"classification\"")
    return out


# --- the trainer ------------------------------------------------------------------------------

@dataclass
class TrainRun:
    """What a training run produced.

    Attributes:
        params: the trained parameters ``{"W1": ..., "b1": ..., ...}``.
        state: the optimizer state (``m_W1``, ...; ``t``).
        epoch: epochs completed (including those before a resume).
        losses: per-epoch mean training loss, one per completed epoch.
        metric: ``accuracy`` or ``mse``; metric_epochs / metric_train / metric_val: its values
            on the training and validation parts after those epochs (NaN for an empty part).
        test_metric: the metric on the test part at the end (NaN when there is none).
        steps: optimizer steps taken in this run; seconds: time inside the compiled calls.
        resumed_from: the epoch a resumed run started at (0 for a fresh run).
        checkpoint: the last checkpoint written (or resumed from), if any; checkpoint_epoch:
            the epoch it holds.
    """

    params: dict
    state: dict
    epoch: int
    losses: list = field(default_factory=list)
    metric: str = "accuracy"
    metric_epochs: list = field(default_factory=list)
    metric_train: list = field(default_factory=list)
    metric_val: list = field(default_factory=list)
    test_metric: float = float("nan")
    steps: int = 0
    seconds: float = 0.0
    compile_seconds: float = 0.0
    resumed_from: int = 0
    checkpoint: str | None = None
    checkpoint_epoch: int = 0

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.seconds if self.seconds > 0 else float("nan")

    @property
    def final_loss(self) -> float:
        return float(self.losses[-1]) if self.losses else float("nan")

    def summary(self) -> dict:
        """A JSON-ready summary (what ``symbp train --json`` prints)."""
        def num(v):
            return None if v is None or not math.isfinite(v) else float(v)

        return {"epochs": self.epoch, "resumed_from": self.resumed_from,
                "final_loss": num(self.final_loss),
                "first_loss": num(self.losses[0] if self.losses else None),
                "metric": self.metric,
                "train_metric": num(self.metric_train[-1] if self.metric_train else None),
                "val_metric": num(self.metric_val[-1] if self.metric_val else None),
                "test_metric": num(self.test_metric), "steps": self.steps,
                "seconds": round(self.seconds, 6), "steps_per_second": num(self.steps_per_second),
                "compile_seconds": round(self.compile_seconds, 3),
                "checkpoint": self.checkpoint,
                "losses": [num(v) for v in self.losses],
                "metric_epochs": list(self.metric_epochs),
                "metric_train": [num(v) for v in self.metric_train],
                "metric_val": [num(v) for v in self.metric_val]}


#: Progress callback: ``fn(epoch, total_epochs, loss, metric_name, metric_value, steps_per_s)``.
ProgressFn = Callable[[int, int, float, str, float, float], None]


class Trainer:
    """Runs compiled training epochs in chunks; see the module docstring.

    Args:
        derivation: the :class:`~symbp.derive.Derivation` trained.
        model: its :class:`symbp.runtime.CompiledModel`.
        data: the :class:`~symbp.data.Dataset` (train part trained on, validation part scored).
        config: the :class:`TrainConfig`.
        checkpoint_dir: write ``checkpoint.npz`` there every ``config.checkpoint_every`` epochs
            and at the end.
        resume: continue from ``checkpoint_dir``'s checkpoint.
        progress: called after every chunk of epochs.
        report_seconds: the longest a chunk should take, so progress is shown this often.
        metric_points: the metric is evaluated at least this many times in a run (the epochs
            are cut into at least this many chunks), for the accuracy curve of ``--plot``.
    """

    def __init__(self, derivation, model, data, config: TrainConfig, *, checkpoint_dir=None,
                 resume: bool = False, progress: ProgressFn | None = None,
                 report_seconds: float = 0.2, metric_points: int = 50):
        self.model, self.data, self.config = model, data, config
        self.d = derivation
        self.spec = self.d.spec
        self.sizes = tuple(self.spec.model.sizes)
        self.checkpoint_dir = checkpoint_dir
        self.resume = resume
        self.progress = progress
        self.report_seconds = report_seconds
        self.metric_points = max(1, metric_points)
        self.np_dtype = np.dtype(config.dtype)
        self.X = np.ascontiguousarray(data.X_train, dtype=self.np_dtype)
        self.Y = np.ascontiguousarray(data.Y_train, dtype=self.np_dtype)
        if resume and checkpoint_dir is None:
            raise SymbpError("--resume needs --checkpoint DIR (the folder to resume from)")

    @property
    def batch(self) -> int:
        n = len(self.X)
        return n if self.config.batch_size in (0, None) else min(self.config.batch_size, n)

    @property
    def steps_per_epoch(self) -> int:
        return -(-len(self.X) // self.batch)

    def _start(self) -> TrainRun:
        from .checkpoint import load_checkpoint

        res = TrainRun({}, {}, 0, metric=metric_name(self.data.task))
        if self.resume:
            ck = load_checkpoint(self.checkpoint_dir, self.spec, self.d.params,
                                 state_names(self.d), self.sizes, self.config.resume_key(),
                                 task=self.data.task, classes=self.data.classes,
                                 feature_names=self.data.feature_names)
            res.params = {k: np.array(v, dtype=self.np_dtype) for k, v in ck["params"].items()}
            res.state = {k: np.array(v, dtype=self.np_dtype) for k, v in ck["state"].items()}
            res.state["t"] = ck["step"]
            res.epoch = res.resumed_from = ck["epoch"]
            res.losses = list(ck["losses"])
            m = ck["metrics"]
            res.metric_epochs = [int(e) for e in m["metric_epochs"]]
            res.metric_train, res.metric_val = list(m["metric_train"]), list(m["metric_val"])
            res.checkpoint, res.checkpoint_epoch = str(ck["path"]), ck["epoch"]
        else:
            res.params = self.model.init_params(self.config.seed)
            res.state = self.model.init_state(res.params)
        return res

    def run(self) -> TrainRun:
        """Train to ``config.epochs`` epochs.

        Raises:
            TrainingDiverged: a non-finite loss or gradient; the result so far is in
                ``self.result`` (parameters after the last good epoch).
            CheckpointError: resuming from a missing, corrupt or mismatched checkpoint.
        """
        cfg = self.config
        self.result = res = self._start()
        total = cfg.epochs
        cap = max(1, (total - res.epoch) // self.metric_points)
        chunk = 1
        t0 = time.perf_counter()  # zero epochs on copies: compiles the kernel (or loads it)
        run_epochs(self.model, _copy(res.params), _copy(res.state), self.X, self.Y, cfg,
                   self.batch, 0, res.epoch)
        res.compile_seconds = time.perf_counter() - t0
        while res.epoch < total:
            n = min(chunk, total - res.epoch)
            if self.checkpoint_dir is not None:  # end chunks on checkpoint epochs
                n = min(n, cfg.checkpoint_every - res.epoch % cfg.checkpoint_every)
            saved = _copy(res.params), _copy(res.state)
            t0 = time.perf_counter()
            losses, report = run_epochs(self.model, res.params, res.state, self.X, self.Y, cfg,
                                        self.batch, n, res.epoch)
            elapsed = time.perf_counter() - t0
            if report is not None:
                self._diverged(res, saved, report)
            res.seconds += elapsed
            res.steps += n * self.steps_per_epoch
            res.losses.extend(float(v) for v in losses[:n])
            res.epoch += n
            self._score(res)
            if self.checkpoint_dir is not None and (res.epoch % cfg.checkpoint_every == 0
                                                    or res.epoch == total):
                self._checkpoint(res)
            if self.progress is not None:
                self.progress(res.epoch, total, res.losses[-1], res.metric, self._shown(res),
                              res.steps_per_second)
            per_epoch = elapsed / n
            chunk = max(1, min(cap, int(self.report_seconds / max(per_epoch, 1e-9))))
        if len(self.data.X_test):
            res.test_metric = score(self.data.task, self.predict(res.params, self.data.X_test),
                                    self.data.Y_test)
        return res

    def predict(self, params: dict, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.forward(params, np.ascontiguousarray(X, self.np_dtype)))

    def _score(self, res: TrainRun) -> None:
        task = self.data.task
        res.metric_epochs.append(res.epoch)
        res.metric_train.append(score(task, self.predict(res.params, self.X), self.data.Y_train))
        res.metric_val.append(score(task, self.predict(res.params, self.data.X_val),
                                    self.data.Y_val) if len(self.data.X_val) else float("nan"))

    @staticmethod
    def _shown(res: TrainRun) -> float:
        v = res.metric_val[-1]
        return v if math.isfinite(v) else res.metric_train[-1]

    def _checkpoint(self, res: TrainRun) -> None:
        from .checkpoint import save_checkpoint

        state = {k: v for k, v in res.state.items() if k != "t"}
        metrics = {"metric_epochs": res.metric_epochs, "metric_train": res.metric_train,
                   "metric_val": res.metric_val}
        path = save_checkpoint(self.checkpoint_dir, self.spec, self.sizes, res.params, state,
                               epoch=res.epoch, step=int(res.state["t"]), seed=self.config.seed,
                               config=self.config.resume_key(), losses=res.losses,
                               metrics=metrics, task=self.data.task, classes=self.data.classes,
                               feature_names=self.data.feature_names)
        res.checkpoint, res.checkpoint_epoch = str(path), res.epoch

    def _diverged(self, res: TrainRun, saved, report) -> None:
        """Restore the parameters after the last complete epoch, then raise."""
        epoch, step, quantity = report
        res.params, res.state = saved
        good = epoch - res.epoch  # complete epochs of this chunk before the bad one
        if good > 0:
            losses, again = run_epochs(self.model, res.params, res.state, self.X, self.Y,
                                       self.config, self.batch, good, res.epoch)
            assert again is None, "replaying finite epochs must stay finite"
            res.losses.extend(float(v) for v in losses[:good])
            res.epoch += good
        raise TrainingDiverged(epoch + 1, step + 1, quantity, res.epoch, res.checkpoint)


def _copy(d: dict) -> dict:
    return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in d.items()}


# --- the compiled model's training interface --------------------------------------------------

def state_names(d) -> list[str]:
    """Names of the optimizer state arrays: ``v_W1`` ...; ``m_W1`` ... then ``s_W1`` ...."""
    return [f"{s}_{p}" for s in d.optimizer.state for p in d.params]


def run_epochs(model, params: dict, state: dict, X, Y, config: TrainConfig, batch: int,
               n_epochs: int, start_epoch: int):
    """``n_epochs`` epochs from ``start_epoch`` in one compiled call, in place.

    Returns:
        ``(losses, report)``: per-epoch mean losses and ``None``, or for a non-finite loss or
        gradient ``(epoch, step, quantity)`` (0-based epoch and step).
    """
    h = config.hyper
    out = model.train_epochs(params, state, X, Y, h.pop("eta"), batch, n_epochs, config.seed,
                             start_epoch, **h)
    bad = out.nonfinite
    return out.losses, None if bad is None else (int(bad.epoch), int(bad.step), str(bad.quantity))


def prepare(spec, config: TrainConfig, *, data=None):
    """Derive ``spec`` with ``config``'s optimizer, load its data and compile it.

    Returns:
        ``(derivation, data, model, seconds)``: seconds spent deriving, generating and
        importing (a warm cache makes this fast; Numba's own compile or load comes at the first
        call, timed by :meth:`Trainer.run` as ``compile_seconds``).

    Raises:
        SymbpError: no ``[data]`` table (and no ``data`` given), or the data does not load.
    """
    from .derive import derive
    from .runtime import compile_derivation

    t0 = time.perf_counter()
    d = derive(spec, optimizer=config.optimizer)
    if data is None:
        table = spec.section("data")
        if table is None:
            raise SymbpError(f"{spec.source}: the spec has no [data] table, so there is nothing "
                             f"to train on; add one such as [data] source = \"digits\" (see "
                             f"derivations/digits_softmax.toml)")
        from .data import load_data

        data = load_data(table, spec.base_dir, spec.model.sizes[0], spec.model.sizes[-1],
                         source=spec.source)
    model = compile_derivation(d, target=config.target, dtype=config.dtype)
    return d, data, model, time.perf_counter() - t0
