"""The ``parallel`` emitter: the cpu loop nests with ``prange`` over independent work.

Contract: same body printer and nodes as :mod:`symbp.codegen.numba_cpu`; only the decorator
(``@njit(parallel=True)``), the heads of the outermost loops (``prange`` over batch rows or
output units) and the weight gradient's loop order differ: ``dW`` is accumulated per input unit
``i`` (rows of ``dW`` are independent) and ``db`` per output unit, with the same summation order
over the batch as the serial code, so the two targets agree to rounding of the loss sum only.
"""

from __future__ import annotations

from .code import Comment, For, Line
from .lower import WeightGrad
from .numba_cpu import CpuEmitter


class ParallelEmitter(CpuEmitter):
    """``prange`` over rows / units; see the module docstring."""

    target = "parallel"
    decorator = "@njit(cache=True, error_model='numpy', parallel=True)"
    imports = ("import math", "", "import numpy as np", "from numba import njit, prange")

    def outer(self, var: str, stop: str) -> str:
        return f"prange({stop})"

    def emit_weightgrad(self, g: WeightGrad) -> list:
        if g.blas:
            out = [Comment(g.comment), Line(f"np.dot({g.x}.T, {g.delta}, {g.dW})")]
            if g.decay is not None:
                out.append(Line(f"{g.dW} += {self.lit(g.decay)} * {g.w}"))
            return out + self._bias_grad(g)
        return [For("i", f"prange({g.inner})", [
            self._decay_init(g),
            For("n", "range(n_rows)", [
                Line(f"{g.x}_ni = {g.x}[n, i]"),
                For("j", f"range({g.cols})", [Line(f"{g.dW}[i, j] += {g.x}_ni * {g.delta}[n, j]")])])],
            comment=g.comment)] + self._bias_grad(g)

    def _bias_grad(self, g: WeightGrad) -> list:
        return [For("j", f"prange({g.cols})", [
            Line(f"total = {self.zero()}"),
            For("n", "range(n_rows)", [Line(f"total += {g.delta}[n, j]")]),
            Line(f"{g.db}[j] = total")])]
