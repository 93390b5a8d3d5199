"""The ``cpu`` emitter: IR nodes -> loop nests for ``@njit`` (serial).

Contract: :class:`CpuEmitter` turns each node of a :class:`~symbp.codegen.lower.Program` into
code-AST statements (:mod:`symbp.codegen.code`). Scalar bodies are printed by
:func:`~symbp.codegen.printer.print_assignments` (rewrites, CSE, hoisting); this module decides
only the loop structure, the index mapping (row ``[n, j]``, vector ``[j]``, flat ``[i]``) and
where BLAS is called. The parallel target runs these same loops on blocks of batch rows
(:mod:`symbp.codegen.parallel_module`).
"""

from __future__ import annotations

import sympy as sp

from .code import Comment, For, If, Line
from .lower import ACC, C, Gemm, Pointwise, Ref, Softmax, SoftmaxLoss, Update, WeightGrad
from .printer import VECTOR_MIN_TRIPS, NumbaPrinter, print_assignments


def flat(name: str) -> str:
    """Source text of the flat view of the C-contiguous array ``name`` in compiled code."""
    return f"_view({name}, 0, {name}.size)"


class CpuEmitter:
    """Serial loops; see the module docstring."""

    target = "cpu"
    #: the public kernels: called from Python, never as a first-class function (no C wrapper)
    decorator = "@njit(cache=True, error_model='numpy', fastmath={'contract'}, no_cfunc_wrapper=True)"
    #: functions only compiled code calls (passes, helpers): no CPython wrapper either. Each
    #: wrapper is a function of its own to lower and optimise: ~0.1 s of a cold start in all.
    internal = ("@njit(cache=True, error_model='numpy', fastmath={'contract'},\n"
                "      no_cpython_wrapper=True, no_cfunc_wrapper=True)")
    imports = ("import math", "", "import numpy as np", "from numba import njit")
    #: rewrite sets for every scalar body (the vector set: exp and expm1 in plain arithmetic)
    sets = ("stable", "light", "vector")

    def __init__(self, dtype: str, hyper: tuple[str, ...] = ()):
        self.dtype = dtype
        self.helpers: set[str] = set()
        self.blas = False  # a product went to BLAS: the module needs _matmul
        self.invariant = {C, sp.Symbol("lse")} | {sp.Symbol(h) for h in hyper} | {sp.Symbol("t")}
        self._printer = NumbaPrinter({"dtype": dtype})

    # -- small pieces shared by all emitters ----------------------------------------------------
    def zero(self) -> str:
        return "f32(0)" if self.dtype == "float32" else "0.0"

    def lit(self, value) -> str:
        return self._printer.doprint(sp.nsimplify(value) if isinstance(value, float) else value)

    def index(self, ref: Ref, row: str = "n", col: str = "j", flat: str = "i") -> str:
        if ref.kind == "row":
            return f"{ref.buffer}[{row}, {col}]"
        if ref.kind == "vec":
            return f"{ref.buffer}[{col}]"
        return f"{ref.buffer}[{flat}]"

    def sets_for(self, trips) -> tuple[str, ...]:
        """Rewrite sets for a loop of ``trips`` iterations (None: unknown, long): the vector set
        only where the loop is long enough to vectorise (see ``VECTOR_MIN_TRIPS``)."""
        if trips is not None and trips < VECTOR_MIN_TRIPS:
            return tuple(s for s in self.sets if s != "vector")
        return self.sets

    def block(self, assigns, reads: dict, overrides: dict | None = None, invariant=(),
              trips=None, **idx):
        """Print scalar assignments with element reads mapped to this emitter's indices;
        ``trips``: the inner loop's length (chooses the rewrite sets)."""
        names = {s: self.index(r, **idx) for s, r in reads.items()}
        names.update(overrides or {})
        pairs = [(self.index(t, **idx) if isinstance(t, Ref) else str(t), e) for t, e in assigns]
        printed = print_assignments(pairs, self.dtype, names, self.invariant | set(invariant),
                                    sets=self.sets_for(trips))
        self.helpers.update(printed.helpers)
        return [Line(s) for s in printed.hoisted], [Line(s) for s in printed.body]

    def emit(self, node) -> list:
        """Statements for one node."""
        method = getattr(self, "emit_" + type(node).__name__.lower(), None)
        if method is None:  # pragma: no cover - a node added without an emitter
            raise NotImplementedError(f"{self.target} has no emitter for {type(node).__name__}")
        return method(node)

    # -- contractions with fused epilogues ------------------------------------------------------
    def emit_gemm(self, g: Gemm) -> list:
        w = f"{g.w}.T" if g.transpose_w else g.w
        epilogue, tail = self._split_narrow(g)
        trivial = len(epilogue) == 1 and epilogue[0][1] == ACC
        if g.blas:
            self.blas = True
            out = [Comment(g.comment), Line(f"_matmul({g.a}, {w}, {g.out})")]
            if not trivial:
                hoisted, body = self.block(epilogue, g.reads, trips=g.cols)
                out += hoisted + [For("n", "range(n_rows)", [
                    For("j", f"range({g.cols})", body)])]
            return out + tail
        if g.transpose_w:  # out[n, j] = sum_k a[n, k] W[j, k]: a dot product per element
            # the j loop holds a k loop: it does not vectorise, so libm forms (trips=1)
            hoisted, body = self.block(epilogue, g.reads, {ACC: "acc"}, trips=1)
            row = [For("j", f"range({g.cols})", [
                Line(f"acc = {self.zero()}"),
                For("k", f"range({g.inner})", [Line(f"acc += {g.a}[n, k] * {g.w}[j, k]")]),
                *body])]
        else:  # out[n, :] += a[n, i] W[i, :]: rows of W, contiguous
            hoisted, body = self.block(epilogue, g.reads, trips=g.cols)
            row = [self._fill_row(g.out, g.cols),
                   For("i", f"range({g.inner})", [
                       Line(f"{g.a}_ni = {g.a}[n, i]"),
                       For("j", f"range({g.cols})", [Line(f"{g.out}[n, j] += {g.a}_ni * {g.w}[i, j]")])]),
                   *([] if trivial else [For("j", f"range({g.cols})", body)])]
        return [Comment(g.comment), *hoisted, For("n", "range(n_rows)", row), *tail]

    def _fill_row(self, buf: str, cols: int) -> For:
        """buf[n, :] = 0 as an element loop (a slice assignment costs compile time and, for
        float32, a conversion per call)."""
        return For("j", f"range({cols})", [Line(f"{buf}[n, j] = {self.zero()}")])

    def _split_narrow(self, g: Gemm) -> tuple[list, list]:
        """(row epilogue, flat loop) of a forward layer whose rows are too short to vectorise.

        The epilogue ``z = acc + b; [z_buf = z;] a = f(z)`` runs in a ``j`` loop of ``cols``
        iterations per row; under ``VECTOR_MIN_TRIPS`` that loop stays scalar (libm calls).
        Such a layer keeps ``out[n, j] = acc + b[j]`` in the row loop and computes the rest in
        one loop over the flat buffers, which vectorises whatever the width (config i,
        2-5-1 sigmoid: 6.8 -> 4.4 us per step). Other epilogues are returned unchanged."""
        epi = list(g.epilogue)
        if g.cols >= VECTOR_MIN_TRIPS or len(epi) < 2 or isinstance(epi[0][0], Ref):
            return epi, []
        z, z_expr = epi[0]
        rest = [(t, e) for t, e in epi[1:] if not (t == Ref(g.out) and e == z)]  # out holds z
        if not rest or any(not isinstance(t, Ref) or t.kind != "row" or
                           not e.free_symbols <= {z} for t, e in rest):
            return epi, []
        zf = sp.Symbol("zf")
        flat_bufs = {g.out, *(t.buffer for t, _ in rest)}
        assigns = [(Ref(f"{t.buffer}_f", "flat"), e.subs(z, zf)) for t, e in rest]
        hoisted, body = self.block(assigns, {zf: Ref(f"{g.out}_f", "flat")})
        views = [Line(f"{b}_f = {flat(b)}") for b in sorted(flat_bufs)]
        return [(Ref(g.out), z_expr)], [*views, *hoisted, For(
            "i", f"range({g.out}_f.size)", body)]

    def emit_softmax(self, s: Softmax) -> list:
        # yhat[n, :] = exp(z[n, :] - max) / sum(exp(z[n, :] - max))
        narrow = s.cols < VECTOR_MIN_TRIPS
        zk = sp.Symbol("zk")
        printed = print_assignments([("e", sp.exp(zk - (0 if narrow else sp.Symbol("m"))))],
                                    self.dtype, {zk: f"{s.yhat}_f[i]" if narrow else f"{s.z}[n, k]"},
                                    set(), sets=self.sets_for(None if narrow else s.cols))
        self.helpers.update(printed.helpers)
        e = printed.body
        norm = [Line(f"total = {self.zero()}"),
                For("k", f"range({s.cols})", [Line(f"total += {s.yhat}[n, k]")]),
                For("k", f"range({s.cols})", [Line(f"{s.yhat}[n, k] /= total")])]
        if narrow:  # rows too short to vectorise: the exps in one loop over the flat buffer
            return [For("n", "range(n_rows)", self._row_max(s.z, s.cols) + [
                        For("k", f"range({s.cols})", [Line(f"{s.yhat}[n, k] = {s.z}[n, k] - m")])],
                        comment=s.comment),
                    Line(f"{s.yhat}_f = {flat(s.yhat)}"),
                    For("i", f"range({s.yhat}_f.size)",
                        [Line(e[-1]), Line(f"{s.yhat}_f[i] = e")]),
                    For("n", "range(n_rows)", norm)]
        # exp in a loop of its own (no reduction in it: it vectorises), then the row sum
        row = self._row_max(s.z, s.cols) + [
            For("k", f"range({s.cols})", [Line(e[-1]), Line(f"{s.yhat}[n, k] = e")]), *norm]
        return [For("n", "range(n_rows)", row, comment=s.comment)]

    def _row_max(self, z: str, cols: int) -> list:
        # a comparison, as Python's max(m, z) (NaN never replaces m): Numba's max overload
        # costs ~0.14 s of compile time for the same code
        return [Line(f"m = {z}[n, 0]"),
                For("k", f"range(1, {cols})", [If(f"{z}[n, k] > m", [Line(f"m = {z}[n, k]")])])]

    # -- loss and output error -------------------------------------------------------------------
    def emit_pointwise(self, p: Pointwise) -> list:
        assigns = list(p.assigns) + [(sp.Symbol("row"), sp.Symbol("row") + p.loss)]
        hoisted, body = self.block(assigns, p.reads, col="k", trips=p.cols)
        return [Comment(p.comment), *hoisted, Line("L = 0.0"), For("n", "range(n_rows)", [
            Line(f"row = {self.zero()}"), For("k", f"range({p.cols})", body), Line("L += row")])]

    def emit_softmaxloss(self, s: SoftmaxLoss) -> list:
        # per row: L_n = sum_k y[n,k] (lse - z[n,k]), lse = m + log(sum_k exp(z[n,k] - m)).
        # The forward pass left yhat[n, k] = exp(z[n,k] - m) / total, and exp(0) is exactly 1,
        # so at the row's argmax yhat = 1 / total (in (1/K, 1]: never underflows) and
        # lse = m - log(yhat[n, kmax]): one log per row instead of K more exps.
        lse, y, z = sp.Symbol("lse"), sp.Symbol("y"), sp.Symbol(s.z)
        assigns = [(sp.Symbol("row"), sp.Symbol("row") + y * (lse - z))]
        if s.delta is not None:
            assigns.insert(0, s.delta)
        hoisted, body = self.block(assigns, s.reads, col="k", trips=s.cols)
        row = [Line(f"m = {s.z}[n, 0]"), Line("kmax = 0"),
               For("k", f"range(1, {s.cols})", [If(f"{s.z}[n, k] > m", [
                   Line(f"m = {s.z}[n, k]"), Line("kmax = k")])]),
               Line(f"lse = m - math.log({s.yhat}[n, kmax])"),
               Line(f"row = {self.zero()}"), For("k", f"range({s.cols})", body), Line("L += row")]
        return [Comment(s.comment), *hoisted, Line("L = 0.0"),
                For("n", "range(n_rows)", row)]

    # -- parameter gradients -----------------------------------------------------------------------
    # Element loops, not array expressions (dW += c * W, dW[i, :] = c * W[i, :]): Numba
    # compiles each of those into its own broadcasting machinery, ~0.4 s of compile apiece.
    def _decay_init(self, g: WeightGrad):
        if g.decay is None:
            return For("j", f"range({g.cols})", [Line(f"{g.dW}[i, j] = {self.zero()}")])
        return For("j", f"range({g.cols})",
                   [Line(f"{g.dW}[i, j] = {self.lit(g.decay)} * {g.w}[i, j]")])

    def _add_decay(self, g: WeightGrad) -> list:
        """dW += decay * W after a BLAS product, when the loss has an L2 term."""
        if g.decay is None:
            return []
        return [For("i", f"range({g.inner})", [For("j", f"range({g.cols})", [
            Line(f"{g.dW}[i, j] += {self.lit(g.decay)} * {g.w}[i, j]")])])]

    def emit_weightgrad(self, g: WeightGrad) -> list:
        if g.blas:
            self.blas = True
            out = [Comment(g.comment), Line(f"_matmul({g.x}.T, {g.delta}, {g.dW})")]
            return out + self._add_decay(g) + self._bias_grad(g)
        return [Comment(g.comment),
                For("i", f"range({g.inner})", [self._decay_init(g)]),
                self._zero_vec(g.db, g.cols),
                For("n", "range(n_rows)", [
                    For("i", f"range({g.inner})", [
                        Line(f"{g.x}_ni = {g.x}[n, i]"),
                        For("j", f"range({g.cols})",
                            [Line(f"{g.dW}[i, j] += {g.x}_ni * {g.delta}[n, j]")])]),
                    For("j", f"range({g.cols})", [Line(f"{g.db}[j] += {g.delta}[n, j]")])])]

    def _zero_vec(self, buf: str, cols: int) -> For:
        return For("j", f"range({cols})", [Line(f"{buf}[j] = {self.zero()}")])

    def _bias_grad(self, g: WeightGrad) -> list:
        return [self._zero_vec(g.db, g.cols),
                For("n", "range(n_rows)", [
                    For("j", f"range({g.cols})", [Line(f"{g.db}[j] += {g.delta}[n, j]")])])]

    # -- optimizer update ------------------------------------------------------------------------
    def emit_update(self, u: Update) -> list:
        hoisted, body = self.block(u.assigns, u.reads, invariant=u.invariant)
        return [Comment(u.comment), *hoisted, For("i", "range(p.size)", body)]
