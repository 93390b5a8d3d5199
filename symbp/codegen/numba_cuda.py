"""The ``cuda`` emitter: IR nodes -> ``numba.cuda.jit`` kernels.

Contract: same body printer as :mod:`symbp.codegen.numba_cpu` (:meth:`CpuEmitter.block`, which
calls :func:`~symbp.codegen.printer.print_assignments`) and the same index mapping
(``buf[n, j]``, ``buf[j]``, ``buf[i]``); what differs is the prologue (``@cuda.jit``, one kernel
per node) and the loop heads. Each ``emit_*`` returns a :class:`Kernel`, the kernel's code and
how the host launches it:

- :class:`~symbp.codegen.lower.Gemm`: one thread per (row n, unit j) in 16 x 16 blocks; the
  block stages 16 x 16 tiles of both operands in shared memory (loads coalesced along the
  contiguous axis, whichever way the weights are read), each thread sums its dot product over
  the tiles in k order, then runs the fused epilogue (bias, activation, activation derivative);
- :class:`~symbp.codegen.lower.Softmax`, :class:`~symbp.codegen.lower.Pointwise`,
  :class:`~symbp.codegen.lower.SoftmaxLoss`: one thread per row; each row's loss goes to
  ``lrow[n]`` and :meth:`CudaEmitter.loss_total` (one thread) sums the rows in order, scales by
  ``c`` and adds the L2 penalty, so the loss is summed in the cpu target's order;
- :class:`~symbp.codegen.lower.WeightGrad`: one thread per weight (i, j), tiled over the batch
  the same way, summing in row order; each thread also sums its column of ``delta`` and those
  of row ``i == 0`` write ``db[j]`` (no atomics: deterministic);
- :class:`~symbp.codegen.lower.Update`: a device function for one element, and kernels that
  update many parameters per launch (thread ``i`` of their concatenated flat parameters; one
  launch unless the arguments would pass ``MAX_UPDATE_ARRAYS``). Launches, not arithmetic,
  bound the small nets' step on a GPU.

Every sum runs in the cpu target's order (k, or batch rows, ascending; tile padding adds exact
zeros), so cuda and cpu agree to rounding. Kernels use only what Numba's CUDA simulator supports
(shared arrays and ``syncthreads``, no atomics, no cooperative groups), so the simulator runs the
same source the GPU compiles.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sympy as sp

from .code import Comment, For, FunctionDef, If, Line, render
from .lower import ACC, Gemm, Pointwise, Softmax, SoftmaxLoss, Update, WeightGrad
from .numba_cpu import CpuEmitter
from .printer import print_assignments


#: side of the shared-memory tiles and of the thread blocks of tiled kernels. The kernels read
#: the module constants TILE and TILE_PAD (= TILE + 1), frozen when Numba compiles them; tests
#: under the simulator set smaller ones on the module before the first launch.
TILE = 16
#: arrays per optimizer-update launch (see :meth:`CudaEmitter.update_all`)
MAX_UPDATE_ARRAYS = 32


@dataclass(frozen=True)
class Kernel:
    """A kernel and its launch: ``grid`` is ``(rows, cols)`` (2-D) or ``(size,)`` (1-D), each an
    expression the host evaluates (``"n_rows"``, ``"3"``); ``tiled`` kernels take blocks of
    ``TILE x TILE`` threads, threadIdx.x along the columns, and a grid whose x counts row tiles
    (the grid's x may reach 2**31 - 1 blocks, its y only 65535)."""

    fn: FunctionDef
    grid: tuple[str, ...]
    tiled: bool = False

    @property
    def name(self) -> str:
        return self.fn.name

    @property
    def args(self) -> tuple[str, ...]:
        return self.fn.args


class CudaEmitter(CpuEmitter):
    """One kernel per node; see the module docstring."""

    target = "cuda"
    decorator = "@cuda.jit(cache=True)"
    device_decorator = "@cuda.jit(device=True, cache=True)"
    imports = ("import math", "", "import numpy as np", "from numba import cuda, njit")
    #: rewrite sets of the scalar bodies: no cpu-only vector set (LLVM intrinsics); the GPU has
    #: fast exp/log of its own
    sets = ("stable", "light")

    def __init__(self, dtype: str, hyper: tuple[str, ...] = (), candidates: tuple[str, ...] = ()):
        super().__init__(dtype, hyper)
        #: names a kernel may take as arguments, in argument order (set by the module builder)
        self.candidates = tuple(candidates)

    # -- prologue and loop heads -----------------------------------------------------------------
    def kernel(self, name: str, body: list, grid: tuple[str, ...], doc: str,
               fixed: tuple[str, ...] = (), tiled: bool = False) -> Kernel:
        """A kernel whose arguments are ``fixed`` or the candidates its body reads."""
        text = "\n".join(line for line in render(body).splitlines()
                         if not line.lstrip().startswith("#"))
        # a name read, not an attribute (cuda.blockIdx.x is not the argument x)
        args = fixed or tuple(n for n in self.candidates if re.search(rf"(?<![\w.]){n}\b", text))
        return Kernel(FunctionDef(name, args, body, self.decorator, doc), grid, tiled)

    def _tiles(self, *names: str) -> list:
        """Shared ``TILE x (TILE + 1)`` arrays (the pad column spreads a column's reads over the
        memory banks) and the thread's place in its block."""
        np_dt = f"np.{self.dtype}"
        return [*(Line(f"{n} = cuda.shared.array((TILE, TILE_PAD), {np_dt})") for n in names),
                Line("tx = cuda.threadIdx.x"), Line("ty = cuda.threadIdx.y")]

    def _stage(self, tile: str, src: str, row: str, col: str, ok: str) -> Line:
        """``tile[ty, tx] = src[row, col]``, an exact zero where ``ok`` is false."""
        return Line(f"{tile}[ty, tx] = {src}[{row}, {col}] if {ok} else {self.zero()}")

    def threads2(self, rows: str, cols, body: list, r: str = "n", c: str = "j") -> list:
        """The head of a (rows x cols) loop nest: one thread per element."""
        return [Line(f"{r}, {c} = cuda.grid(2)"), If(f"{r} < {rows} and {c} < {cols}", body)]

    def threads1(self, var: str, stop, body: list) -> list:
        """The head of a 1-D loop: one thread per iteration."""
        return [Line(f"{var} = cuda.grid(1)"), If(f"{var} < {stop}", body)]

    # -- contractions with fused epilogues ------------------------------------------------------
    def emit_gemm(self, g: Gemm) -> Kernel:
        hoisted, body = self.block(g.epilogue, g.reads, {ACC: "acc"})
        # ta[r, t] = a[row r, k0 + t]; tw[t, c] = W[k0 + t, col c] (read back as tw[c, t] when
        # the weights are used transposed: staged as W[col, k] rows, coalesced either way)
        if g.transpose_w:
            wload = self._stage("tw", g.w, "jw", "k0 + tx", f"jw < {g.cols} and k0 + tx < {g.inner}")
            wread, jw = "tw[tx, t]", [Line(f"jw = cuda.blockIdx.y * TILE + ty")]
        else:
            wload = self._stage("tw", g.w, "k0 + ty", "j", f"k0 + ty < {g.inner} and j < {g.cols}")
            wread, jw = "tw[t, tx]", []
        tiles = [
            *self._tiles("ta", "tw"),
            Line(f"n = cuda.blockIdx.x * TILE + ty"), Line(f"j = cuda.blockIdx.y * TILE + tx"),
            *jw, Line(f"acc = {self.zero()}"),
            For("k0", f"range(0, {g.inner}, TILE)", [
                self._stage("ta", g.a, "n", "k0 + tx", f"n < n_rows and k0 + tx < {g.inner}"),
                wload, Line("cuda.syncthreads()"),
                For("t", f"range(TILE)", [Line(f"acc += ta[ty, t] * {wread}")]),
                Line("cuda.syncthreads()")]),
            If(f"n < n_rows and j < {g.cols}", body)]
        return self.kernel(f"_k_{g.out}", [Comment(g.comment), *hoisted, *tiles],
                           ("n_rows", str(g.cols)),
                           f"{g.out}: one thread per (row n, unit j); a length-{g.inner} dot "
                           "product\nin TILE x TILE shared-memory tiles, then the epilogue.",
                           tiled=True)

    def _row_max(self, z: str, cols: int) -> list:
        return [Line(f"m = {z}[n, 0]"),
                For("k", f"range(1, {cols})", [Line(f"m = max(m, {z}[n, k])")])]

    def emit_softmax(self, s: Softmax) -> Kernel:
        # yhat[n, :] = exp(z[n, :] - max) / sum(exp(z[n, :] - max))
        e = print_assignments([("e", sp.exp(sp.Symbol("zk") - sp.Symbol("m")))], self.dtype,
                              {sp.Symbol("zk"): f"{s.z}[n, k]"}, set()).body
        row = self._row_max(s.z, s.cols) + [
            Line(f"total = {self.zero()}"),
            For("k", f"range({s.cols})", [Line(e[-1]), Line(f"{s.yhat}[n, k] = e"),
                                          Line("total += e")]),
            For("k", f"range({s.cols})", [Line(f"{s.yhat}[n, k] /= total")])]
        return self.kernel(f"_k_{s.yhat}", [Comment(s.comment), *self.threads1("n", "n_rows", row)],
                           ("n_rows",), f"{s.yhat}: row-wise softmax, one thread per row n.")

    # -- loss and output error -------------------------------------------------------------------
    def _loss_name(self, assigns) -> str:
        return f"_k_{assigns[0][0].buffer}" if assigns else "_k_loss_rows"

    def emit_pointwise(self, p: Pointwise) -> Kernel:
        assigns = list(p.assigns) + [(sp.Symbol("row"), sp.Symbol("row") + p.loss)]
        hoisted, body = self.block(assigns, p.reads, col="k")
        row = [Line(f"row = {self.zero()}"), For("k", f"range({p.cols})", body),
               Line("lrow[n] = row")]
        what = "the output error and " if p.assigns else ""
        return self.kernel(self._loss_name(p.assigns),
                           [Comment(p.comment), *hoisted, *self.threads1("n", "n_rows", row)],
                           ("n_rows",), f"{what}the loss of row n in lrow[n]; one thread per row.")

    def emit_softmaxloss(self, s: SoftmaxLoss) -> Kernel:
        # per row: L_n = sum_k y[n,k] (lse - z[n,k]), lse = m + log(sum_k exp(z[n,k] - m))
        lse, y, z = sp.Symbol("lse"), sp.Symbol("y"), sp.Symbol(s.z)
        assigns = [(sp.Symbol("row"), sp.Symbol("row") + y * (lse - z))]
        if s.delta is not None:
            assigns.insert(0, s.delta)
        hoisted, body = self.block(assigns, s.reads, col="k")
        e = print_assignments([("total", sp.Symbol("total") + sp.exp(z - sp.Symbol("m")))],
                              self.dtype, {z: f"{s.z}[n, k]"}, set()).body
        row = self._row_max(s.z, s.cols) + [
            Line(f"total = {self.zero()}"),
            For("k", f"range({s.cols})", [Line(e[-1])]),
            Line("lse = m + math.log(total)"), *hoisted,
            Line(f"row = {self.zero()}"), For("k", f"range({s.cols})", body),
            Line("lrow[n] = row")]
        assigned = [s.delta] if s.delta is not None else []
        what = "the output error and " if assigned else ""
        return self.kernel(self._loss_name(assigned),
                           [Comment(s.comment), *self.threads1("n", "n_rows", row)], ("n_rows",),
                           f"{what}the softmax cross-entropy of row n in lrow[n] (log-sum-exp); "
                           "one thread per row.")

    def loss_total(self, mean: bool, penalty, shapes: dict) -> Kernel:
        """One thread: ``status[0] = L`` (rows summed in order, times c, plus the L2 penalty)
        and ``status[1] = 0`` (no non-finite gradient seen yet)."""
        body = [Line("L = 0.0"), For("n", "range(n_rows)", [Line("L += lrow[n]")])]
        if mean:
            body.append(Line("L = c * L"))
        if penalty is not None:
            coef, weights = penalty
            body.append(Line(f"pen = {self.zero()}"))
            for w in weights:
                rows, cols = shapes[w]
                body.append(For("i", f"range({rows})", [For("j", f"range({cols})", [
                    Line(f"pen += {w}[i, j] * {w}[i, j]")])]))
            body.append(Line(f"L += {self.lit(coef)} * pen"))
        body += [Line("status[0] = L"), Line("status[1] = 0.0")]
        return self.kernel("_k_loss_total", [If("cuda.grid(1) == 0", body)], ("1",),
                           "The loss L into status[0] from the row losses; one thread.")

    # -- parameter gradients -----------------------------------------------------------------------
    def emit_weightgrad(self, g: WeightGrad) -> Kernel:
        z = self.zero()
        init = z if g.decay is None else \
            f"{self.lit(g.decay)} * {g.w}[i, j] if i < {g.inner} and j < {g.cols} else {z}"
        # xs[t, r] = x[n0 + t, input r]; ds[t, c] = delta[n0 + t, unit c]: rows of both staged
        body = [
            *self._tiles("xs", "ds"),
            Line(f"i = cuda.blockIdx.x * TILE + ty"), Line(f"j = cuda.blockIdx.y * TILE + tx"),
            Line(f"ix = cuda.blockIdx.x * TILE + tx"),
            Line(f"acc = {init}"), Line(f"total = {z}"),
            For("n0", f"range(0, n_rows, TILE)", [
                self._stage("xs", g.x, "n0 + ty", "ix", f"n0 + ty < n_rows and ix < {g.inner}"),
                self._stage("ds", g.delta, "n0 + ty", "j", f"n0 + ty < n_rows and j < {g.cols}"),
                Line("cuda.syncthreads()"),
                For("t", f"range(TILE)", [Line("d = ds[t, tx]"), Line("acc += xs[t, ty] * d"),
                                         Line("total += d")]),
                Line("cuda.syncthreads()")]),
            If(f"i < {g.inner} and j < {g.cols}", [
                Line(f"{g.dW}[i, j] = acc"), If("i == 0", [Line(f"{g.db}[j] = total")])])]
        return self.kernel(f"_k_{g.dW}", [Comment(g.comment), *body], (str(g.inner), str(g.cols)),
                           f"{g.dW} and {g.db}: one thread per weight (i, j), summing over the "
                           "batch\nin row order, TILE rows at a time through shared memory.",
                           tiled=True)

    def nonfinite(self, grads: list[tuple[str, int]]) -> Kernel:
        """``status[1] = 1`` where an element of a (flat) gradient is not finite."""
        z = self.zero()
        checks = [If(f"i < {size} and {g}[i] * {z} != {z}", [Line("status[1] = 1.0")])
                  for g, size in grads]
        stop = max(size for _, size in grads)
        return self.kernel("_k_nonfinite", [Line("i = cuda.grid(1)"), *checks], (str(stop),),
                           "Flags a non-finite gradient element in status[1] (inf * 0 and nan * 0 "
                           "are nan).", fixed=(*(g for g, _ in grads), "status"))

    def gather(self, d_in: int, d_out: int) -> Kernel:
        """Minibatch rows ``order[start:start + m]`` of (x, y) into (xb, yb)."""
        width = max(d_in, d_out)
        body = [Line("src = order[start + r]")]
        for buf, src, d in (("xb", "x", d_in), ("yb", "y", d_out)):
            copy = Line(f"{buf}[r, k] = {src}[src, k]")
            body.append(copy if d == width else If(f"k < {d}", [copy]))
        return self.kernel("_k_gather", self.threads2("m", width, body, "r", "k"), ("m", str(width)),
                           "Rows order[start + r] of x and y into xb and yb; one thread per "
                           "element.", fixed=("x", "y", "order", "start", "m", "xb", "yb"))

    # -- optimizer update ------------------------------------------------------------------------
    def emit_update(self, u: Update) -> FunctionDef:
        """The optimizer on element ``i`` of one flat parameter ``p`` (gradient ``g``), in place:
        a device function, called by :meth:`update_all`'s kernel."""
        hoisted, body = self.block(u.assigns, u.reads, invariant=u.invariant)
        args = ("p", "g", *u.state, *u.hyper, *(("t",) if u.uses_t else ()), "i")
        return FunctionDef("_update_one", args, [Comment(u.comment), *hoisted, *body],
                           self.device_decorator,
                           "The optimizer on element i of the flat parameter p, in place.")

    def update_all(self, u: Update, params: list[tuple[str, int]]) -> list[Kernel]:
        """Kernels that update every parameter, as few as the launch's argument space allows:
        thread ``i`` of a kernel's parameters laid end to end (``params``: (name, size) in
        order) calls ``_update_one`` on its element. A kernel takes at most
        ``MAX_UPDATE_ARRAYS`` arrays (each is 7 words of kernel parameters; CUDA before 12.1
        allows 4 KiB of them), so deep nets with Adam get a few launches, not one per
        parameter."""
        per = 2 + len(u.state)
        group = max(1, MAX_UPDATE_ARRAYS // per)
        chunks = [params[k:k + group] for k in range(0, len(params), group)]
        return [self._update_kernel(u, chunk, "_k_update" + (f"_{c + 1}" if c else ""))
                for c, chunk in enumerate(chunks)]

    def _update_kernel(self, u: Update, params: list[tuple[str, int]], name: str) -> Kernel:
        hyper = (*u.hyper, *(("t",) if u.uses_t else ()))
        args, branches, start = [], [], 0
        for pname, size in params:
            arrays = (f"{pname}_flat", f"d{pname}_flat", *(f"{s}_{pname}_flat" for s in u.state))
            args += arrays
            index = f"i - {start}" if start else "i"
            branches.append((f"i < {start + size}",
                             [Line(f"_update_one({', '.join((*arrays, *hyper, index))})")]))
            start += size
        chain = If(*branches[-1])
        for test, body in reversed(branches[:-1]):
            chain = If(test, body, [chain])
        what = ", ".join(n for n, _ in params)
        return self.kernel(name, [Line("i = cuda.grid(1)"), chain], (str(start),),
                           f"The optimizer on {what} ({start} elements) in one launch; one "
                           "thread per element.", fixed=(*args, *hyper))
