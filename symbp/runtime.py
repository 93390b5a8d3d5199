"""Compiled models: generated Numba kernels behind a small Python API.

Contract: :func:`compile_spec` and :func:`compile_derivation` return a :class:`CompiledModel`
whose kernels come from the generated module of :mod:`symbp.codegen`, cached on disk by
:mod:`symbp.codegen.cache`. A cache hit imports the stored module and Numba loads its stored
machine code: no SymPy derivation, no code generation and no Numba compilation. Parameters are
dicts ``{"W1": (d0, d1), "b1": (d1,), ...}`` of C-contiguous arrays of the model's dtype;
``step`` and ``train_epochs`` update them in place. See ``docs/runtime.md``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
import operator
import os
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .codegen import cache
from .errors import SymbpError

TARGETS = ("cpu", "parallel", "cuda")
#: Activations initialised with He (fan-in, gain 2); the others with Glorot (fan-in + fan-out).
HE_INIT = ("relu", "leaky_relu", "elu", "gelu", "silu")


#: The cpu target holds BLAS to one thread when the largest matrix product of a call has fewer
#: multiply-adds than this: waking a BLAS thread pool costs more than it saves on small products,
#: and NumPy's own OpenBLAS (a second pool, separate from the SciPy one Numba calls) still
#: spinning after the user's NumPy work stalls it. Measured: config ii's step with a NumPy
#: prediction between epochs took 1.84 ms with threaded BLAS, 0.34 ms with one thread.
BLAS_THREADED_MIN_WORK = 1 << 23
#: The parallel target splits a call's rows into one block per thread (Numba's thread count),
#: but only as many blocks as have at least this many multiply-adds each (rows x the network's
#: weights): a smaller block finishes before the threads are woken. See
#: ``benchmarks/parallel_blocks.py`` for the measurement behind the figure.
PARALLEL_MIN_WORK = 1 << 16
#: ... and no more blocks than keep their gradient copies (one per block after the first)
#: under this many bytes.
PARALLEL_MAX_GRAD_BYTES = 1 << 28
_BLAS_LIBS: list = []
_BLAS_LOCK = threading.Lock()
_BLAS_HELD: list = [0, []]  # [depth, thread counts to restore]
_BLAS_IMPORT_LOCK = threading.Lock()
_THREADS_FN: list = []  # the thread-count getter, found once


def numba_threads() -> int:
    """``numba.get_num_threads()`` (the calling thread's count, as ``numba.set_num_threads``
    left it), read through the threading layer's own C getter once the layer is up. The
    public function takes two locks on every call (~1 us, a fifth of config i's step); the
    parallel runtime asks on every kernel call."""
    if not _THREADS_FN:
        import numba
        from numba.np.ufunc import parallel

        numba.get_num_threads()  # starts the threading layer, which sets the getter
        fast = getattr(parallel, "_get_num_threads", None)
        _THREADS_FN.append(fast if callable(fast) else numba.get_num_threads)
    return _THREADS_FN[0]()


def load_numba_blas() -> None:
    """Import ``scipy.linalg.cython_blas``, the BLAS that Numba's ``gemm`` wrapper
    (``numba_xxgemm``, behind ``np.dot`` and the kernels' ``_matmul``) calls, without running
    ``scipy.linalg``'s package init.

    That init (array-API shims, docstring processing, LAPACK wrappers) costs ~0.25 s, a third
    of a warm start, and nothing here uses it: Numba only looks the module up by name
    (``importlib.import_module`` when typing, ``PyImport_ImportModule`` at the first product),
    and finds this one in ``sys.modules``. A later ``import scipy.linalg`` runs its init as
    usual and reuses the same extension module. Anything unexpected (another SciPy layout)
    falls back to the plain import.
    """
    name = "scipy.linalg.cython_blas"
    if name in sys.modules:
        return
    with _BLAS_IMPORT_LOCK:  # two threads must not both load it (the import system's own lock
        if name in sys.modules:  # is per module name, and this bypasses it)
            return
        try:
            import importlib.machinery

            import scipy

            spec = importlib.machinery.PathFinder.find_spec(
                name, [os.path.join(os.path.dirname(scipy.__file__), "linalg")])
            if spec is None or not isinstance(spec.loader,
                                              importlib.machinery.ExtensionFileLoader):
                raise ImportError(name)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            module.__pyx_capi__["dgemm"]  # what Numba reads: fail here, not inside a kernel
            sys.modules[name] = module
        except Exception:
            import scipy.linalg.cython_blas  # noqa: F401


@contextlib.contextmanager
def blas_single_threaded():
    """Hold every loaded BLAS library (NumPy's, and SciPy's, which the kernels' products call) to
    one thread inside the block, then restore each library's own count.

    The ``parallel`` target runs under it: its kernels split each BLAS product over Numba's
    threads themselves, and a second pool of spinning BLAS threads on the same cores stalls
    both. ``threadpoolctl`` finds the libraries and their vendor-specific thread calls (the
    controller is built once; each entry and exit is two ctypes calls per library). Nested and
    concurrent blocks (other Python threads) share one hold: the counts are restored when the
    last block ends.
    """
    with _BLAS_LOCK:
        if not _BLAS_LIBS:
            load_numba_blas()  # the BLAS Numba calls: loaded first, so threadpoolctl sees it
            from threadpoolctl import ThreadpoolController

            found = ThreadpoolController().select(user_api="blas").lib_controllers
            _BLAS_LIBS[:] = found or [None]
        libs = [lib for lib in _BLAS_LIBS if lib is not None]
        if _BLAS_HELD[0] == 0:
            _BLAS_HELD[1] = [lib.get_num_threads() for lib in libs]
            for lib in libs:
                lib.set_num_threads(1)
        _BLAS_HELD[0] += 1
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _BLAS_HELD[0] -= 1
            if _BLAS_HELD[0] == 0:
                for lib, n in zip(libs, _BLAS_HELD[1]):
                    lib.set_num_threads(n)


class RuntimeInputError(SymbpError):
    """Arrays given to a compiled model do not fit it (shape, dtype, layout, missing names)."""


@dataclass
class NonFinite:
    """The first non-finite quantity met by :meth:`CompiledModel.train_epochs`."""

    epoch: int
    step: int
    quantity: str

    def __str__(self) -> str:
        return f"non-finite {self.quantity} at epoch {self.epoch} step {self.step}"


@dataclass
class TrainResult:
    """What :meth:`CompiledModel.train_epochs` returns.

    Attributes:
        losses: mean minibatch loss of each epoch that completed (float64 array).
        nonfinite: the first non-finite quantity, or None; training stopped before the update.
        t: optimizer steps taken so far (also stored in ``state["t"]``).
    """

    losses: np.ndarray
    nonfinite: NonFinite | None = None
    t: int = 0
    epochs: list[int] = field(default_factory=list)


class CompiledModel:
    """Kernels of one spec for one target and dtype; see the module docstring."""

    def __init__(self, module, path: Path | None = None):
        self.module = module
        self.path = path
        self.name = module.SPEC_NAME
        self.target = module.TARGET
        self.dtype = np.dtype(module.DTYPE)
        self.sizes = tuple(module.SIZES)
        self.param_names = tuple(module.PARAMS)
        self.activations = tuple(module.ACTIVATIONS)
        self.optimizer = module.OPTIMIZER
        self.state_names = tuple(module.STATE)
        self.hyper = dict(module.HYPER)
        self.quantities = tuple(module.QUANTITIES)
        self._sealed: set[str] = set()
        self._state_for: tuple[dict, dict] | None = None  # (params, the state kept for them)
        self._ws = np.empty(0, dtype=self.dtype)  # step and train_epochs work array, grown
        self._ws_rows = (-1, False, 0)             # (rows, train, blocks) it was sized for
        self._order = np.empty(0, dtype=np.int64)  # train_epochs' row order (when it shuffles)
        # per-call plumbing, computed once (CompiledModel.step on a tiny net is mostly this)
        self._shapes = {f"{k}{l}": ((self.sizes[l - 1], self.sizes[l]) if k == "W" else
                                    (self.sizes[l],))
                        for l in range(1, len(self.sizes)) for k in ("W", "b")}
        self._state_keys = [f"{s}_{p}" for s in self.state_names for p in self.param_names]
        # the arrays the last call checked, held so that their ids stay theirs: a call with the
        # same arrays (a training loop) skips the checks (~0.2 us instead of ~2-4 us)
        self._params_checked: list[np.ndarray] = []
        self._state_checked: list[np.ndarray] = []
        self._hyper_default = [self.dtype.type(v) for v in self.hyper.values()]
        self._eta_at = list(self.hyper).index("eta") if "eta" in self.hyper else None
        self._host_ws = hasattr(module, "workspace_size")  # cpu, parallel; cuda keeps buffers
        self._macs = sum(a * b for a, b in zip(self.sizes, self.sizes[1:]))  # per row, forward
        self._grad_bytes = (self._macs + sum(self.sizes[1:])) * self.dtype.itemsize
        min_w = getattr(module, "BLAS_MIN_WEIGHTS", 1024)
        self._blas_weights = max((a * b for a, b in zip(self.sizes, self.sizes[1:])
                                  if a * b >= min_w), default=0)  # largest layer on BLAS
        # the fused softmax cross-entropy gradient ŷ − y needs rows of Y that sum to 1
        self._target_rows_tol = ((1e-6 if self.dtype == np.float64 else 1e-3)
                                 if module.LOSS == "softmax_cross_entropy" else None)
        self._ones = np.ones(self.sizes[-1], dtype=self.dtype)

    def __repr__(self) -> str:
        return (f"CompiledModel({self.name!r}, {'-'.join(map(str, self.sizes))}, "
                f"target={self.target!r}, dtype={self.dtype.name!r}, optimizer={self.optimizer!r})")

    @property
    def source(self) -> str:
        """The generated module's source text."""
        return Path(self.module.__file__).read_text(encoding="utf-8")

    # -- parameters and optimizer state --------------------------------------------------------
    def shapes(self) -> dict[str, tuple[int, ...]]:
        """``{"W1": (d0, d1), "b1": (d1,), ...}``."""
        return dict(self._shapes)

    def init_params(self, seed: int = 0) -> dict[str, np.ndarray]:
        """Random parameters: He-normal weights for ReLU-like layers, Glorot-normal otherwise,
        zero biases; deterministic in ``seed``."""
        rng = np.random.default_rng(seed)
        params = {}
        for l in range(1, len(self.sizes)):
            fan_in, fan_out = self.sizes[l - 1], self.sizes[l]
            if self.activations[l - 1] in HE_INIT:
                std = math.sqrt(2.0 / fan_in)
            else:
                std = math.sqrt(2.0 / (fan_in + fan_out))
            params[f"W{l}"] = (std * rng.standard_normal((fan_in, fan_out))).astype(self.dtype)
            params[f"b{l}"] = np.zeros(fan_out, dtype=self.dtype)
        return params

    def init_state(self, params: dict | None = None) -> dict:
        """Zero optimizer state (``m_W1``, ``s_W1``, ... for Adam; ``v_W1`` for momentum) and the
        step count ``t = 0``."""
        shapes = self.shapes()
        state = {f"{s}_{p}": np.zeros(shapes[p], dtype=self.dtype)
                 for s in self.state_names for p in self.param_names}
        state["t"] = 0
        return state

    # -- kernels ---------------------------------------------------------------------------------
    def forward(self, params: dict, X) -> np.ndarray:
        """The prediction ``yhat`` for inputs ``X`` (N, d0)."""
        X = self._data(X, 0, "X")
        return self._run("forward", *self._params(params), X, rows=len(X))

    def loss(self, params: dict, X, Y) -> float:
        """The loss at ``(X, Y)``."""
        X, Y = self._xy(X, Y)
        return float(self._run("loss", *self._params(params), X, Y, rows=len(X)))

    def loss_and_grad(self, params: dict, X, Y) -> tuple[float, dict[str, np.ndarray]]:
        """``(loss, grads)`` with ``grads`` keyed like ``params``."""
        X, Y = self._xy(X, Y, step=True)
        L, *grads = self._run("loss_and_grad", *self._params(params), X, Y, rows=len(X))
        return float(L), dict(zip(self.param_names, grads))

    def step(self, params: dict, X, Y, lr: float | None = None, state: dict | None = None,
             **hyper) -> float:
        """One optimizer step on ``(X, Y)``, updating ``params`` (and ``state``) in place.

        Args:
            lr: the learning rate (``eta``); default: the optimizer's default.
            state: the optimizer state from :meth:`init_state`; for momentum and Adam a state
                kept by the model for this ``params`` dict is used when omitted.
            hyper: other hyper-parameters (``mu``, ``beta1``, ``beta2``, ``epsilon``).

        Returns:
            The loss before the step.
        """
        X, Y = self._xy(X, Y, step=True)
        state = self._state(params, state)
        args = [*self._params(params, inplace=True), *self._state_arrays(state), X, Y,
                *self._hyper(lr, hyper)]
        if self.module.USES_T:
            args.append(int(state["t"]) + 1)
        if self._host_ws:
            args.append(self.workspace(len(X)))
        L = self._run("step", *args, rows=len(X))
        state["t"] = int(state["t"]) + 1
        return float(L)

    def train_epochs(self, params: dict, state: dict | None, X, Y, lr: float | None = None,
                     batch_size: int = 32, n_epochs: int = 1, seed: int = 0,
                     start_epoch: int = 0, **hyper) -> TrainResult:
        """Minibatch training inside one compiled call, updating ``params`` and ``state``.

        Epoch ``e`` shuffles with a seed derived from ``(seed, e)``, so epochs 0..9 in one call
        equal 0..4 then 5..9 (``start_epoch=5``) with the same ``params`` and ``state``.
        Stops before the first update whose loss or gradients are not finite and reports it.

        Returns:
            A :class:`TrainResult`.
        """
        X, Y = self._xy(X, Y, step=True)
        if batch_size < 1 or n_epochs < 0:
            raise RuntimeInputError("batch_size must be >= 1 and n_epochs >= 0")
        state = self._state(params, state)
        losses = np.zeros(n_epochs, dtype=np.float64)
        batch = min(int(batch_size), len(X))
        args = [*self._params(params, inplace=True), *self._state_arrays(state), X, Y,
                *self._hyper(lr, hyper), int(state["t"]), int(batch_size), int(n_epochs),
                int(seed), int(start_epoch), losses]
        if self._host_ws:  # cpu, parallel: buffers in a kept array
            shuffle = batch < len(X)
            ws = self.workspace(batch, train=shuffle)
            if self._order.size != (len(X) if shuffle else 0):
                self._order = np.empty(len(X) if shuffle else 0, dtype=np.int64)
            flags = self.module.UPDATE | self.module.CHECK
            t, epoch, stp, L = self._run("train_epochs", *args, ws, self._order, flags, rows=batch)
            code = -1 if epoch < 0 else self.module.first_nonfinite(
                ws, batch, min(batch, len(X) - stp * batch), L)
        else:
            t, epoch, stp, code = self._run("train_epochs", *args, rows=batch)
        state["t"] = int(t)
        if code < 0 and epoch < 0:
            return TrainResult(losses, None, int(t), list(range(start_epoch, start_epoch + n_epochs)))
        done = epoch - start_epoch
        bad = NonFinite(int(epoch), int(stp), self.quantities[code] if code >= 0 else "L")
        return TrainResult(losses[:done], bad, int(t), list(range(start_epoch, epoch)))

    def workspace(self, n_rows: int, train: bool = False) -> np.ndarray:
        """The flat work array the generated ``step`` (or, with ``train``, ``train_epochs``)
        kernel takes for ``n_rows`` rows (the batch size): kept by the model and grown on
        demand, so repeated calls allocate nothing."""
        nb = self.blocks(n_rows)
        if (n_rows, train, nb) != self._ws_rows:  # (workspace_size is plain Python: a few us)
            need = self.module.workspace_size(n_rows, train, *((nb,) if nb > 0 else ()))
            if self._ws.size < need:
                self._ws = np.empty(need, dtype=self.dtype)
            self._ws_rows = (n_rows, train, nb)
        return self._ws

    def blocks(self, n_rows: int) -> int:
        """The parallel target: the number of row blocks (threads) a call on ``n_rows`` rows
        runs on: Numba's thread count (``numba.set_num_threads``), fewer where a block would
        have under ``PARALLEL_MIN_WORK`` multiply-adds or the blocks' gradient copies would
        pass ``PARALLEL_MAX_GRAD_BYTES``. 0 for the other targets (their kernels take no
        block count)."""
        if self.target != "parallel":
            return 0
        by_work = n_rows * self._macs // PARALLEL_MIN_WORK
        by_memory = 1 + PARALLEL_MAX_GRAD_BYTES // self._grad_bytes
        return max(1, min(numba_threads(), n_rows, by_work, by_memory))

    def to_device(self, params: dict, state: dict | None = None):
        """cuda only: a :class:`~symbp.runtime_cuda.DeviceSession` keeping ``params`` and
        ``state`` on the device across steps; reading its ``params`` copies them back."""
        if self.target != "cuda":
            raise RuntimeInputError(f"to_device needs a cuda model, not {self.target!r}")
        from .runtime_cuda import DeviceSession

        return DeviceSession(self, params, state)

    # -- plumbing ----------------------------------------------------------------------------------
    def blas_threads(self, n_rows: int):
        """The context a kernel call on ``n_rows`` rows runs in: BLAS held to one thread where
        the parallel target splits the rows into blocks (each block's products then run on
        its own Numba thread), and for calls whose largest product is small (see
        ``BLAS_THREADED_MIN_WORK``); otherwise BLAS keeps its own thread count. A network
        without BLAS products is never held (the hold costs two library calls)."""
        nb = self.blocks(n_rows)
        return blas_single_threaded() if self._hold_blas(n_rows, nb) else contextlib.nullcontext()

    def _hold_blas(self, n_rows: int, nb: int) -> bool:
        if self.target not in ("cpu", "parallel") or self._blas_weights == 0:
            return False
        return nb > 1 or self._blas_weights * n_rows < BLAS_THREADED_MIN_WORK

    def _run(self, name: str, *args, rows: int):
        fn = getattr(self.module, name)
        nb = self.blocks(rows)
        if self.target == "parallel":
            args = (*args, nb)
        if self._hold_blas(rows, nb):
            with blas_single_threaded():
                out = fn(*args)
        elif self.target == "cuda":
            from .runtime_cuda import quiet_launches

            with quiet_launches():
                out = fn(*args)
        else:
            out = fn(*args)
        if self.path is not None and name not in self._sealed:
            self._sealed.add(name)  # Numba wrote (or loaded) machine code: record the files
            cache.seal(self.path)
        return out

    def _params(self, params: dict, inplace: bool = False) -> list[np.ndarray]:
        try:
            given = [params[n] for n in self.param_names]
        except (KeyError, TypeError):
            raise RuntimeInputError(f"params has no {_first_missing(params, self.param_names)!r} "
                                    f"(expected {', '.join(self.param_names)})") from None
        if _same_arrays(given, self._params_checked):
            return given  # the arrays of the last call, used as they are (a training loop)
        shapes = self._shapes
        out = [self._array(a, f"params[{n!r}]", shapes[n], inplace, "init_params()")
               for n, a in zip(self.param_names, given)]
        # remembered only when used as given: a converted copy would miss the caller's writes
        self._params_checked = out if _same_arrays(out, given) else []
        return out

    def _array(self, a, what: str, shape: tuple, inplace: bool, maker: str) -> np.ndarray:
        """``a`` as a kernel argument: of ``shape`` and this model's dtype (converted, or with
        ``inplace`` required, because the kernels write into it)."""
        if not isinstance(a, np.ndarray) or a.shape != shape:
            raise RuntimeInputError(f"{what} must be an array of shape {shape}, not "
                                    f"{getattr(a, 'shape', type(a).__name__)}")
        if a.dtype != self.dtype or not a.flags.c_contiguous:
            if inplace:
                raise RuntimeInputError(
                    f"{what} is updated in place and must be a C-contiguous {self.dtype.name} "
                    f"array (got {a.dtype}{'' if a.flags.c_contiguous else ', not C-contiguous'}); "
                    f"use {maker} or np.ascontiguousarray(a, dtype={self.dtype.name!r})")
            a = np.ascontiguousarray(a, dtype=self.dtype)
        if not a.flags.writeable:
            if inplace:
                raise RuntimeInputError(f"{what} is updated in place but is read-only")
            a = a.copy()
        return a

    def _data(self, a, axis: int, what: str) -> np.ndarray:
        a = np.ascontiguousarray(a, dtype=self.dtype)
        if not a.flags.writeable:  # a read-only memmap: the kernels are typed for writable arrays
            a = a.copy()
        width = self.sizes[axis]
        if a.ndim == 1 and width == 1 and what == "Y":
            a = a.reshape(-1, 1)
        if a.ndim != 2 or a.shape[1] != width:
            raise RuntimeInputError(f"{what} must have shape (N, {width}), not {a.shape}")
        return a

    def _xy(self, X, Y, step: bool = False):
        """X and Y as kernel arguments, with the same number of rows; with ``step`` (a gradient
        is taken) at least one, and targets the loss's gradient holds for."""
        X, Y = self._data(X, 0, "X"), self._data(Y, -1, "Y")
        if len(X) != len(Y) or (step and len(X) == 0):
            need = "at least one row and " if step else ""
            raise RuntimeInputError(f"X has {len(X)} rows and Y has {len(Y)}: they need "
                                    f"{need}the same number of rows")
        if step:
            self._check_targets(Y)
        return X, Y

    def _check_targets(self, Y: np.ndarray) -> None:
        """For softmax cross-entropy: every row of Y sums to 1 (~5 us for 128 x 10); else the
        kernels' gradient ŷ − y would silently be the gradient of another loss."""
        tol = self._target_rows_tol
        if tol is None or not len(Y):
            return
        sums = Y @ self._ones  # a BLAS matrix-vector product: the cheapest row sums from Python
        if sums.min() < 1 - tol or sums.max() > 1 + tol:  # NaN targets: the non-finite report
            row = int(np.argmax(np.abs(sums - 1)))
            raise RuntimeInputError(
                f"row {row} of Y sums to {float(Y[row].sum()):g}, not 1: with softmax "
                f"cross-entropy the gradient the kernels compute, (ŷ − y) per row, is the "
                f"gradient of the loss only for targets whose rows sum to 1 (one-hot labels or "
                f"probabilities)")

    def _state(self, params: dict, state: dict | None) -> dict:
        if state is not None:
            if not isinstance(state, dict) or not _is_count(state.get("t")):
                raise RuntimeInputError("the optimizer state must be a dict with the step count "
                                        "'t' (a whole number >= 0) and its arrays; use init_state()")
            return state
        # the dict itself is held (not its id, which a new dict may reuse once this one is gone)
        if self._state_for is None or self._state_for[0] is not params:
            self._state_for = (params, self.init_state(params))
        return self._state_for[1]

    def _state_arrays(self, state: dict) -> list[np.ndarray]:
        try:
            arrays = [state[n] for n in self._state_keys]
        except KeyError:
            missing = [n for n in self._state_keys if n not in state]
            raise RuntimeInputError(f"optimizer state lacks {', '.join(missing)}; "
                                    "use init_state()") from None
        if _same_arrays(arrays, self._state_checked):
            return arrays  # the arrays of the last call (a training loop)
        shapes = self._shapes
        self._state_checked = [
            self._array(a, f"state[{n!r}]", shapes[n.split("_", 1)[1]], True, "init_state()")
            for n, a in zip(self._state_keys, arrays)]
        return self._state_checked

    def _hyper(self, lr, hyper: dict) -> list:
        for name, v in ((("lr", lr),) if lr is not None else ()) + tuple(hyper.items()):
            if type(v) is not float and not _is_real(v):
                raise RuntimeInputError(f"{name} = {v!r}: expected a number")
        if not hyper:  # the common call: the defaults, maybe another learning rate
            if lr is None or self._eta_at is None:
                return self._hyper_default
            out = list(self._hyper_default)
            out[self._eta_at] = self.dtype.type(lr)
            return out
        unknown = set(hyper) - set(self.hyper)
        if unknown:
            raise RuntimeInputError(f"unknown hyper-parameters {sorted(unknown)} for "
                                    f"{self.optimizer} (expected {sorted(self.hyper)})")
        values = dict(self.hyper, **hyper)
        if lr is not None:
            values["eta"] = lr
        return [self.dtype.type(values[h]) for h in self.hyper]


def _is_real(v) -> bool:
    """A real number (a float, an int, a NumPy scalar or 0-d array, a Fraction, a Decimal),
    not a bool, a string or an array of several values."""
    if isinstance(v, (bool, np.bool_, str, bytes)) or np.ndim(v) != 0:
        return False
    if isinstance(v, (np.ndarray, np.generic)) and v.dtype.kind not in "iuf":
        return False  # np.array(True), np.array("0.1")
    try:
        float(v)
    except (TypeError, ValueError):
        return False
    return not np.iscomplexobj(v)


def _same_arrays(a: list, b: list) -> bool:
    """The same array objects, in order (identity; shapes and dtypes were checked when ``b`` was
    remembered, and an array's own shape or dtype is not reassigned in place in practice)."""
    return len(a) == len(b) and all(map(operator.is_, a, b))


def _first_missing(params, names) -> str:
    try:
        return next(n for n in names if n not in params)
    except TypeError:  # not a mapping at all
        return names[0]


def _is_count(t) -> bool:
    """A step count: a whole number >= 0 (a Python or NumPy integer, or a 0-d array of one)."""
    try:
        return not isinstance(t, (bool, str)) and int(t) == t and t >= 0
    except (TypeError, ValueError):
        return False


# --- building and loading ---------------------------------------------------------------------

def _import(path: Path, name: str | None = None):
    name = name or path.stem
    if name in sys.modules and getattr(sys.modules[name], "__file__", None) == str(path):
        return sys.modules[name]
    load_numba_blas()  # before Numba types or loads a kernel's _matmul (3 ms; else 0.25 s later)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _check(target: str, dtype: str) -> None:
    from .codegen import DTYPES

    if target not in TARGETS:
        raise RuntimeInputError(f"unknown target {target!r}; expected one of {', '.join(TARGETS)}")
    if dtype not in DTYPES:
        raise RuntimeInputError(f"unknown dtype {dtype!r}; expected float64 or float32")
    if target == "cuda":
        from .runtime_cuda import require_cuda

        require_cuda()  # numba-cuda installed, and a GPU or the simulator


def compile_derivation(d, target: str = "cpu", dtype: str = "float64",
                       use_cache: bool = True) -> CompiledModel:
    """Compile a :class:`~symbp.derive.Derivation` (generated source and Numba code cached).

    Args:
        d: the derivation (its spec, optimizer and equations).
        target: ``cpu``, ``parallel`` or ``cuda``.
        dtype: ``float64`` or ``float32``.
        use_cache: look up and store the generated module in the on-disk cache.

    Raises:
        RuntimeInputError: unknown target or dtype.
        CudaUnavailable: ``cuda`` without numba-cuda, or without a GPU or the simulator.
        CodegenError: the derivation has an expression or op without a lowering.
    """
    _check(target, dtype)
    key = cache.cache_key(d.spec.raw, d.spec.name, target, dtype, d.optimizer.name)
    return _load_or_build(key, d.spec.name, target, dtype, lambda: d, use_cache)


def compile_spec(spec, target: str = "cpu", dtype: str = "float64", optimizer: str | None = None,
                 use_cache: bool = True) -> CompiledModel:
    """Compile a spec (path, bundled name, TOML text or :class:`~symbp.spec.Spec`).

    On a cache hit nothing is derived: the key comes from the spec's TOML content alone.
    """
    from .spec_files import read_spec_text

    _check(target, dtype)
    # symbp.spec imports SymPy, which a cache hit never needs; a Spec object exists only once
    # that module is loaded
    spec_module = sys.modules.get(f"{__package__}.spec")
    if spec_module is not None and isinstance(spec, spec_module.Spec):
        raw, name = spec.raw, spec.name
        loader = lambda: spec  # noqa: E731
    else:
        import tomllib

        text, _, default = read_spec_text(spec)
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            raw = None
        name = raw.get("name", default) if isinstance(raw, dict) else default

        def loader():
            from .spec import load_spec

            return load_spec(spec)

        if raw is None:
            loader()  # raises the SpecError
    opt = optimizer or ((raw.get("train") or {}).get("optimizer", "sgd")
                        if isinstance(raw.get("train"), dict) else "sgd")
    key = cache.cache_key(raw, name, target, dtype, opt)

    def derive_it():
        from .derive import derive

        return derive(loader(), optimizer=opt)

    return _load_or_build(key, name, target, dtype, derive_it, use_cache)


def _load_or_build(key, name, target, dtype, get_derivation, use_cache) -> CompiledModel:
    path = cache.lookup(key) if use_cache else None
    if path is None:
        from .codegen import generate_source

        source = generate_source(get_derivation(), target, dtype)
        module_name = cache.module_name(name, key)
        if use_cache:
            try:
                path = cache.store(key, module_name, source)
            except OSError as exc:
                import warnings

                from .errors import CacheWarning

                warnings.warn(f"cannot write the cache folder {cache.cache_dir()} ({exc}); "
                              f"compiling without the cache (set SYMBP_CACHE_DIR to a writable "
                              f"folder to keep compiled kernels between runs)", CacheWarning,
                              stacklevel=3)
                use_cache = False
        if not use_cache:
            path = _scratch_folder() / f"{module_name}.py"
            path.write_text(source, encoding="utf-8")
    module = _import(path)
    return CompiledModel(module, path if use_cache else None)


def _scratch_folder() -> Path:
    """A temporary folder for an uncached module (and Numba's files), removed at exit."""
    import atexit
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="symbp-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def load_module(path: str | os.PathLike) -> CompiledModel:
    """A :class:`CompiledModel` over a generated module file (e.g. from ``symbp codegen -o``).

    The module is imported under a name made from its resolved path (``symbp_file_<hash>_<stem>``),
    never its bare file name: a file called ``random.py`` must not replace the standard library's
    module, and two ``model.py`` in different folders must not replace each other. The name is
    the same in every process, so Numba's cache of the file stays valid; importing the same file
    yourself under another name (``import model``) makes Numba's cached code of the other name
    unusable (delete the ``__pycache__`` next to it).

    Raises:
        RuntimeInputError: the file is missing or is not a module generated by symbp.
        CudaUnavailable: a ``cuda`` module without numba-cuda, or without a GPU or the simulator.
    """
    import hashlib

    path = Path(path).resolve()
    if not path.is_file():
        raise RuntimeInputError(f"{path}: no such file; expected a module written by "
                                f"`symbp codegen -o FILE`")
    text = path.read_text(encoding="utf-8", errors="replace")
    target = next((t for t in TARGETS if f"\nTARGET = '{t}'\n" in text), None)
    dtype = next((d for d in ("float64", "float32") if f"\nDTYPE = '{d}'\n" in text), None)
    if target is None or dtype is None or "\nSPEC_NAME = " not in text:
        raise RuntimeInputError(f"{path}: not a module generated by symbp (it has no TARGET, "
                                f"DTYPE and SPEC_NAME constants); write one with `symbp codegen "
                                f"SPEC -o FILE`")
    _check(target, dtype)  # for cuda: numba-cuda and a device (or the simulator, set up)
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
    safe = "".join(ch if ch.isalnum() else "_" for ch in path.stem)[:40]
    return CompiledModel(_import(path, f"symbp_file_{digest}_{safe}"))
