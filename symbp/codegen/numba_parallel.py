"""The ``parallel`` emitter: the cpu loop nests with ``prange`` over independent work.

Contract: same body printer and nodes as :mod:`symbp.codegen.numba_cpu`; only the decorator
(``@njit(parallel=True)``), the heads of the outermost loops (``prange`` over batch rows or
output units) and the weight gradient's loop order differ: ``dW`` is accumulated per input unit
``i`` (rows of ``dW`` are independent) and ``db`` per output unit, with the same summation order
over the batch as the serial code, so the two targets agree to rounding of the loss sum only.

Numba's threads own the cores: each BLAS product is split into blocks of rows (``np.dot`` on
row slices inside ``prange``), and the runtime holds BLAS to one thread while a
parallel kernel runs (:func:`symbp.runtime.blas_single_threaded`). Two thread pools that both
spin on the same cores (Numba's and OpenBLAS's) made a step 50-130 times slower on two cores.
"""

from __future__ import annotations

from .code import For, Line
from .lower import WeightGrad
from .numba_cpu import CpuEmitter


class ParallelEmitter(CpuEmitter):
    """``prange`` over rows / units; see the module docstring."""

    target = "parallel"
    decorator = "@njit(cache=True, error_model='numpy', fastmath={'contract'}, parallel=True)"
    imports = ("import math", "", "import numpy as np", "from numba import njit, prange")

    def outer(self, var: str, stop: str) -> str:
        return f"prange({stop})"

    @staticmethod
    def _blocks(n: str, dot: str) -> list:
        """``dot`` (on rows ``lo:hi``) for blocks of at least 64 of ``n`` rows, at most 16
        blocks. (The block count does not come from ``get_num_threads()``: a kernel that calls
        it cannot be cached.)"""
        size = f"max(64, ({n} + 15) // 16)"
        if n.isdigit():
            size = str(max(64, (int(n) + 15) // 16))
        return [Line(f"bs = {size}"), Line(f"nb = ({n} + bs - 1) // bs"),
                For("b", "prange(nb)", [Line("lo = b * bs"), Line(f"hi = min(lo + bs, {n})"),
                                        Line(dot)])]

    def _dot_rows(self, a: str, w: str, out: str) -> list:
        return self._blocks("n_rows", f"np.dot({a}[lo:hi], {w}, {out}[lo:hi])")

    def _dot_weightgrad(self, g: WeightGrad) -> list:
        # rows lo:hi of dW need columns lo:hi of x (copied, contiguous)
        return self._blocks(str(g.inner), f"np.dot(np.ascontiguousarray({g.x}[:, lo:hi].T), "
                                          f"{g.delta}, {g.dW}[lo:hi])")

    def emit_weightgrad(self, g: WeightGrad) -> list:
        if g.blas:
            return super().emit_weightgrad(g)
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
