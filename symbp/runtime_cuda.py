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

The machines symbp is developed on have no GPU: the cuda kernels are tested under Numba's CUDA
simulator (``NUMBA_ENABLE_CUDASIM=1``), which runs the same kernel source on the CPU.
"""

from __future__ import annotations

import importlib

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

    if not config.ENABLE_CUDASIM and not cuda.is_available():
        raise CudaUnavailable("the cuda target found no usable CUDA GPU (numba.cuda.is_available() "
                              "is False); use target cpu or parallel, or set "
                              "NUMBA_ENABLE_CUDASIM=1 before starting Python to run the kernels "
                              "in Numba's CUDA simulator (slow, for testing)")


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

    def forward(self, X) -> np.ndarray:
        """The prediction at the device parameters."""
        return self.device.forward(self.model._data(X, 0, "X"))

    def loss(self, X, Y) -> float:
        return float(self.device.loss(*self.model._xy(X, Y)))

    def loss_and_grad(self, X, Y, grads: bool = True):
        """``(loss, grads dict)``; with ``grads=False`` the gradients stay on the device
        (``(loss, None)``)."""
        L, g = self.device.loss_and_grad(*self.model._xy(X, Y, step=True), grads)
        return float(L), (dict(zip(self.model.param_names, g)) if g is not None else None)

    def step(self, X, Y, lr: float | None = None, **hyper) -> float:
        """One optimizer step of the device copies; returns the loss before it."""
        args = [*self.model._xy(X, Y, step=True), *self.model._hyper(lr, hyper)]
        if self.model.module.USES_T:
            args.append(self.t + 1)
        L = self.device.step(*args)
        self.t += 1
        return float(L)

    def train_epochs(self, X, Y, lr: float | None = None, batch_size: int = 32,
                     n_epochs: int = 1, seed: int = 0, start_epoch: int = 0, **hyper):
        """As :meth:`symbp.runtime.CompiledModel.train_epochs`, on the device copies."""
        from .runtime import NonFinite, RuntimeInputError, TrainResult

        X, Y = self.model._xy(X, Y, step=True)
        if len(X) != len(Y):
            raise RuntimeInputError(f"X has {len(X)} rows but Y has {len(Y)}")
        if batch_size < 1 or n_epochs < 0:
            raise RuntimeInputError("batch_size must be >= 1 and n_epochs >= 0")
        losses = np.zeros(n_epochs, dtype=np.float64)
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
