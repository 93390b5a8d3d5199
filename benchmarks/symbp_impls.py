"""symbp's compiled kernels as benchmark implementations (the protocol in ``peers.py``).

Contract:
  * :func:`factories` returns ``{"symbp cpu": f, "symbp parallel": f}``; ``f(cfg, dtype)``
    compiles the config's network (through the on-disk cache: warm, no derivation) and returns a
    :class:`SymbpImpl`.  ``train_step.load_symbp_impls`` registers them with the harness.
  * ``loss_and_grad`` goes through :meth:`CompiledModel.loss_and_grad` (argument checks
    included); ``step`` calls the generated ``step`` kernel on the arrays ``prepare`` checked
    once (the per-call checks of :meth:`CompiledModel.step` cost ~5 us, more than half of
    config (i)'s step); ``run_steps(n)`` is ``n`` epochs of full-batch training in one call of
    the generated ``train_epochs`` kernel (the whole loop compiled, as JAX's ``fori_loop``).
"""
from __future__ import annotations

from contextlib import nullcontext

import numpy as np

from .configs import Config


def spec_text(cfg: Config) -> str:
    """The TOML spec of a benchmark config (hidden activation, sigmoid+MSE or softmax CE head)."""
    hidden = [cfg.activation] * (cfg.n_layers - 1)
    out = "sigmoid" if cfg.head == "sigmoid" else "identity"
    layers = ", ".join(f'{{ units = {u}, activation = "{a}" }}'
                       for u, a in zip(cfg.sizes[1:], hidden + [out]))
    loss = ('[loss]\nkind = "mse"\nscale = 0.5\nreduction = "mean"\n' if cfg.loss == "mse"
            else '[loss]\nkind = "softmax_cross_entropy"\nreduction = "mean"\n')
    return (f'name = "bench_{cfg.key}"\n[model]\ninputs = {cfg.sizes[0]}\n'
            f'layers = [ {layers} ]\n{loss}')


class SymbpImpl:
    """One compiled model (target, dtype) behind the benchmark protocol."""

    def __init__(self, cfg: Config, dtype, target: str) -> None:
        from symbp.runtime import blas_single_threaded, compile_spec

        self._single_blas = blas_single_threaded
        self.cfg = cfg
        self.dtype = np.dtype(dtype)
        self.model = compile_spec(spec_text(cfg), target, self.dtype.name)
        self.kernels = self.model.module
        self.names = self.model.param_names
        self.loop_name = f"symbp {target} [loop]"
        self.info = (f"generated Numba kernels ({target}); step = the step kernel, "
                     f"[loop] = train_epochs full batch, n epochs in one call")

    def fit_context(self):
        """The setting a whole training fit runs in (digits.py): for the parallel target, BLAS
        held to one thread throughout, as docs/runtime.md recommends when NumPy work (here the
        evaluation between epochs) runs between the kernels."""
        return self._single_blas() if self.model.target == "parallel" else nullcontext()

    def loss_and_grad(self, params, X, Y):
        return self.model.loss_and_grad(params, X, Y)

    def prepare(self, params, X, Y):
        p = {k: np.ascontiguousarray(v, dtype=self.dtype) for k, v in params.items()}
        if p:                                        # (digits.py prepares data alone)
            self.model._params(p, inplace=True)      # shapes, dtype, layout checked once
        X, Y = self.model._xy(X, Y)
        return p, X, Y

    def _call(self, rows: int):
        """(the BLAS context, the parallel kernels' last argument) for a call on ``rows`` rows,
        as the runtime picks them (``CompiledModel.blocks`` asks Numba for its thread count
        once: about 1 us, a fifth of config i's step)."""
        nb = self.model.blocks(rows)
        hold = self.model._hold_blas(rows, nb)
        return (self._single_blas() if hold else nullcontext()), ((nb,) if nb else ())

    def step(self, params, X, Y, lr):
        blas, nb = self._call(len(X))
        with blas:
            self.kernels.step(*[params[k] for k in self.names], X, Y, self.dtype.type(lr),
                              self.model.workspace(len(X)), *nb)
        return params

    def run_steps(self, params, X, Y, lr, n):
        losses = np.empty(n, dtype=np.float64)
        blas, nb = self._call(len(X))
        with blas:
            out = self.kernels.train_epochs(*[params[k] for k in self.names], X, Y,
                                            self.dtype.type(lr), 0, X.shape[0], int(n), 0, 0,
                                            losses, self.model.workspace(len(X)),
                                            self.kernels._NO_ORDER,  # one full batch: no shuffle
                                            self.kernels.UPDATE | self.kernels.CHECK, *nb)
        if out[1] >= 0:
            raise FloatingPointError(f"non-finite values at epoch {out[1]}")
        return params


def factories() -> dict:
    """``{name: factory(cfg, dtype)}`` for the harness (see the module docstring)."""
    return {f"symbp {target}": (lambda cfg, dtype, _t=target: SymbpImpl(cfg, dtype, _t))
            for target in ("cpu", "parallel")}
