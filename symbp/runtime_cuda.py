"""The ``cuda`` target at run time: availability checks and device-resident sessions.

Contract: :func:`require_cuda` raises :class:`CudaUnavailable` with what to do when numba-cuda
is missing or no GPU (nor Numba's CUDA simulator) is there; :func:`symbp.runtime.compile_derivation`
calls it for ``target="cuda"``. A :class:`DeviceSession` (from
:meth:`symbp.runtime.CompiledModel.to_device`) keeps the parameters and optimizer state of a
cuda model on the device across ``step``/``train_epochs`` calls and copies them back into the
host dicts only when read (:attr:`DeviceSession.params`, :attr:`DeviceSession.state`,
:meth:`DeviceSession.pull`). :class:`~symbp.runtime.CompiledModel`'s own methods keep the cpu
contract instead (host arrays in, updated in place), copying parameters to the device and back
on every ``step`` and once per ``train_epochs`` call.

A session takes ``X`` and ``Y`` either as host arrays (copied to the device on each call) or as
device arrays that it uses in place, without a copy: Numba's ``DeviceNDArray`` or any object with
the ``__cuda_array_interface__`` (CuPy, PyTorch CUDA tensors). A device array must already have
the model's dtype, shape ``(N, width)`` and a C-contiguous layout; symbp never converts device
data behind the caller's back, so anything else is a :class:`~symbp.runtime.RuntimeInputError`.

CI has no GPU: the cuda kernels are tested there under Numba's CUDA simulator
(``NUMBA_ENABLE_CUDASIM=1``), which runs the same kernel source on the CPU; ``.ci/gpu-check``
runs the same cases on a real device.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import threading

import numpy as np

from .errors import SymbpError


class CudaUnavailable(SymbpError):
    """The cuda target cannot run here (numba-cuda missing, or no GPU and no simulator)."""


def require_cuda() -> None:
    """Raise :class:`CudaUnavailable` unless cuda kernels can run (a GPU or the simulator)."""
    try:
        cuda = importlib.import_module("numba.cuda")
    except ImportError as exc:
        raise CudaUnavailable('the cuda target needs the package numba-cuda: pip install '
                              '"symbp[cuda]"') from exc
    from numba import config

    if config.ENABLE_CUDASIM:
        _lock_simulator_shared_arrays()
        return
    broken = _registry_error()
    if broken is not None:
        import numba_cuda

        raise CudaUnavailable(
            f"numba-cuda {numba_cuda.__version__} cannot compile kernels under NumPy "
            f"{np.__version__}: loading its typing registries fails ({broken}); NumPy 2.5 "
            f"removed np.row_stack, which numba-cuda 0.30 and older use. Install a NumPy it "
            f"supports (pip install \"numpy<2.5\") or a newer numba-cuda") from broken
    if not cuda.is_available():
        raise CudaUnavailable("the cuda target found no usable CUDA GPU (numba.cuda.is_available() "
                              "is False); use target cpu or parallel, or set "
                              "NUMBA_ENABLE_CUDASIM=1 before starting Python to run the kernels "
                              "in Numba's CUDA simulator (slow, for testing)")


@contextlib.contextmanager
def quiet_launches():
    """Numba's low-occupancy warnings off for the duration: the kernels of one step include
    one-thread and few-block launches by design (the loss total, small layers), and each would
    print "Grid size N will likely result in GPU under-utilization" on every new size. Other
    warnings pass. This switches numba-cuda's own setting (``CUDA_LOW_OCCUPANCY_WARNINGS``, the
    one its test suite switches) rather than the warnings filters, which are process-wide and
    whose every change resets the once-per-location registry."""
    try:
        from numba.cuda import config
    except ImportError:  # numba-cuda versions that kept Numba's config
        from numba.core import config
    old = getattr(config, "CUDA_LOW_OCCUPANCY_WARNINGS", 1)
    config.CUDA_LOW_OCCUPANCY_WARNINGS = 0
    try:
        yield
    finally:
        config.CUDA_LOW_OCCUPANCY_WARNINGS = old


_SHARED_LOCK = threading.Lock()


def _lock_simulator_shared_arrays() -> None:
    """Make the CUDA simulator's ``cuda.shared.array`` safe for the tiled kernels (idempotent).

    The simulator runs each thread of a block as a Python thread and gives the block one array
    per source line, looked up in a dict and created on a miss. Two threads that both miss each
    create one, and the block's threads then stage their tiles into different arrays: wrong
    products, silently (seen in about 1 call in 20 with a short GIL switch interval). This
    wraps the look-up-or-create in a lock; the dynamic (size 0) and aligned forms, which symbp
    does not use, go to the simulator's own code.
    """
    from numba.cuda.simulator.kernelapi import FakeCUDAShared

    original = FakeCUDAShared.array
    if getattr(original, "symbp_locked", False):
        return

    def array(self, shape, dtype, alignment=None):
        if alignment is not None or shape == 0:
            return original(self, shape, dtype, alignment)
        frame = sys._getframe(1)  # the kernel's line names the array, as in the simulator
        caller = (frame.f_code.co_filename, frame.f_lineno)
        with _SHARED_LOCK:
            res = self._allocations.get(caller)
            if res is None:
                if not isinstance(dtype, (np.dtype, type)):
                    from numba.np import numpy_support

                    dtype = numpy_support.as_dtype(dtype)
                res = self._allocations[caller] = np.empty(shape, dtype)
        return res

    array.symbp_locked = True
    array.__wrapped__ = original
    FakeCUDAShared.array = array


def on_device(a) -> bool:
    """True for a CUDA device array: Numba's (the simulator's too) or any object exposing the
    ``__cuda_array_interface__`` (one whose interface refuses to be read, such as a PyTorch
    tensor that requires grad, counts too: :func:`device_data` says why it cannot be used)."""
    if isinstance(a, np.ndarray):
        return False
    try:
        return hasattr(a, "__cuda_array_interface__") or bool(getattr(a, "__cuda_ndarray__", False))
    except Exception:  # noqa: BLE001 - the property exists but raised
        return True


def device_data(model, a, axis: int, what: str):
    """The device array ``a`` as a kernel argument of ``model``, checked (dtype, 2-D shape with
    the layer's width, C-contiguous) and never copied; a 1-D ``Y`` of a one-output network is
    viewed as one column, as host arrays are."""
    from .runtime import RuntimeInputError

    if not getattr(a, "__cuda_ndarray__", False):
        from numba import cuda

        try:
            a = cuda.as_cuda_array(a)  # a view of CuPy's / PyTorch's memory, no copy
        except Exception as exc:  # noqa: BLE001 - the other library says why, in its words
            raise RuntimeInputError(
                f"{what} is a {type(a).__name__} on the device whose __cuda_array_interface__ "
                f"cannot be used ({type(exc).__name__}: {exc}); pass a plain device array "
                f"(for a PyTorch tensor: tensor.detach())") from exc
    width = model.sizes[axis]
    kind = f"{what} is a device array of shape {tuple(a.shape)} and dtype {a.dtype}"
    if np.dtype(a.dtype) != model.dtype:
        raise RuntimeInputError(f"{kind}, but the model computes in {model.dtype.name}: convert "
                                f"it on the device first (symbp never copies device data "
                                f"behind your back), or pass a host array")
    if not a.is_c_contiguous():
        raise RuntimeInputError(f"{kind}, but it is not C-contiguous: the kernels index rows "
                                f"directly; make a contiguous copy on the device first")
    if a.ndim == 1 and width == 1 and what == "Y":
        a = a.reshape(a.shape[0], 1)
    if a.ndim != 2 or a.shape[1] != width:
        raise RuntimeInputError(f"{kind}; expected shape (N, {width})")
    return a


def _registry_error() -> Exception | None:
    """The error numba-cuda's typing registries raise on import, or None. It loads them at the
    first kernel compile, so a version mismatch would otherwise surface as a traceback from
    inside the first launch. Checked only where NumPy lacks ``row_stack`` (the known case)."""
    if hasattr(np, "row_stack"):
        return None
    try:
        importlib.import_module("numba.cuda.np.arrayobj")
    except ImportError:  # the simulator, or a numba-cuda laid out otherwise
        return None
    except AttributeError as exc:
        return exc
    return None


class DeviceSession:
    """A cuda model's parameters and optimizer state kept on the device between calls.

    Args:
        model: a :class:`~symbp.runtime.CompiledModel` with ``target == "cuda"``.
        params: the host parameter dict; :meth:`pull` writes into its arrays in place.
        state: the host optimizer state (:meth:`~symbp.runtime.CompiledModel.init_state`);
            created when omitted.
    """

    def __init__(self, model, params: dict, state: dict | None = None):
        self.model = model
        self._host_params = params
        self._host_state = state if state is not None else model.init_state(params)
        self.t = int(self._host_state["t"])
        arrays = model._params(params, inplace=True)
        state_arrays = model._state_arrays(self._host_state) if model.state_names else ()
        self.device = model.module.DeviceModel(arrays, state_arrays)

    def _data(self, a, axis: int, what: str):
        if on_device(a):
            return device_data(self.model, a, axis, what)
        return self.model._data(a, axis, what)

    def _xy(self, X, Y, step: bool = False):
        """As :meth:`~symbp.runtime.CompiledModel._xy`, device arrays kept where they are."""
        from .runtime import RuntimeInputError

        X, Y = self._data(X, 0, "X"), self._data(Y, -1, "Y")
        if X.shape[0] != Y.shape[0] or (step and X.shape[0] == 0):
            need = "at least one row and " if step else ""
            raise RuntimeInputError(f"X has {X.shape[0]} rows and Y has {Y.shape[0]}: "
                                    f"they need {need}the same number of rows")
        if step and isinstance(Y, np.ndarray):  # device-resident targets are the caller's
            self.model._check_targets(Y)
        return X, Y

    def forward(self, X) -> np.ndarray:
        """The prediction at the device parameters (a host array)."""
        with quiet_launches():
            return self.device.forward(self._data(X, 0, "X"))

    def loss(self, X, Y) -> float:
        with quiet_launches():
            return float(self.device.loss(*self._xy(X, Y)))

    def loss_and_grad(self, X, Y, grads: bool = True):
        """``(loss, grads dict)``; with ``grads=False`` the gradients stay on the device
        (``(loss, None)``)."""
        with quiet_launches():
            L, g = self.device.loss_and_grad(*self._xy(X, Y, step=True), grads)
        return float(L), (dict(zip(self.model.param_names, g)) if g is not None else None)

    def step(self, X, Y, lr: float | None = None, **hyper) -> float:
        """One optimizer step of the device copies; returns the loss before it."""
        args = [*self._xy(X, Y, step=True), *self.model._hyper(lr, hyper)]
        if self.model.module.USES_T:
            args.append(self.t + 1)
        with quiet_launches():
            L = self.device.step(*args)
        self.t += 1
        return float(L)

    def train_epochs(self, X, Y, lr: float | None = None, batch_size: int = 32,
                     n_epochs: int = 1, seed: int = 0, start_epoch: int = 0, **hyper):
        """As :meth:`symbp.runtime.CompiledModel.train_epochs`, on the device copies."""
        from .runtime import NonFinite, RuntimeInputError, TrainResult

        X, Y = self._xy(X, Y, step=True)
        if batch_size < 1 or n_epochs < 0:
            raise RuntimeInputError("batch_size must be >= 1 and n_epochs >= 0")
        losses = np.zeros(n_epochs, dtype=np.float64)
        with quiet_launches():
            t, epoch, stp, code = self.device.train_epochs(
                X, Y, *self.model._hyper(lr, hyper), self.t, int(batch_size), int(n_epochs),
                int(seed), int(start_epoch), losses)
        self.t = int(t)
        if epoch < 0:
            return TrainResult(losses, None, self.t, list(range(start_epoch, start_epoch + n_epochs)))
        bad = NonFinite(int(epoch), int(stp), self.model.quantities[code] if code >= 0 else "L")
        return TrainResult(losses[:epoch - start_epoch], bad, self.t,
                           list(range(start_epoch, epoch)))

    def pull(self) -> None:
        """Copy the device parameters and state into the host dicts given, in place."""
        state = self.model._state_arrays(self._host_state) if self.model.state_names else ()
        self.device.pull(self.model._params(self._host_params, inplace=True), state)
        self._host_state["t"] = self.t

    @property
    def params(self) -> dict:
        """The host parameter dict, brought up to date from the device."""
        self.pull()
        return self._host_params

    @property
    def state(self) -> dict:
        """The host optimizer state, brought up to date from the device."""
        self.pull()
        return self._host_state
