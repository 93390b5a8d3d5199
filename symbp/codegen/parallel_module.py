"""The ``parallel`` target's module: the cpu passes on blocks of batch rows, one block a thread.

Contract: the module of :mod:`symbp.codegen.module` (same metadata, helpers, internal passes
and plain-Python ``first_nonfinite``), except that

- the internal passes ``_forward``, ``_loss`` and ``_backward`` are the cpu target's serial
  loops on the rows they are given, without the L2 term;
- every public kernel takes a last argument ``nb``, the number of row blocks (the runtime
  passes its thread count, fewer for small work: ``CompiledModel.blocks``), and runs those
  passes on ``nb`` blocks of rows in one ``prange``. Every op of a symbp network acts on each
  row alone (dense layers, elementwise activations, row-wise softmax, per-row losses), so a
  block's forward pass and output errors need nothing from the other blocks;
- only the sums over rows are shared: block 0 writes its part of the loss and of the gradients
  (``dW = x_b^T delta_b``, ``db``) where the cpu target writes the whole, blocks 1..nb-1 into
  their rows of ``gall`` (nb - 1, GS); ``_reduce`` adds those in block order, then the L2 term
  once;
- ``workspace_size(n_rows, train, nb)``: the cpu layout with ``gall`` between the step's
  buffers and the gathered minibatch rows.

With ``nb == 1`` no parallel region is entered (one costs ~2 us; every ``prange`` sits in the
``else`` of an ``if nb == 1``, the update's and the L2 term's included: Numba's OpenMP workers
spinning after a region stall a threaded BLAS call 15-fold). Results are deterministic
for a given ``nb``; against the cpu target they differ in the rounding of the sums over rows.

Why blocks of rows and not each product split over threads (the first version of this target):
one parallel region per step instead of one per product and loop, and each thread runs BLAS on
its own rows with one BLAS thread (``symbp.runtime.blas_single_threaded``): two thread pools
spinning on the same cores (Numba's and OpenBLAS's) made a step 50-130 times slower.
"""

from __future__ import annotations

from dataclasses import replace

from .code import Comment, For, FunctionDef, If, Line
from .lower import WeightGrad
from .module import _ModuleBuilder, _pad8, row_slice
from .numba_cpu import flat

#: Gradients and parameters of at least this many elements are reduced and updated in blocks of
#: BLOCK elements inside ``prange``; smaller ones in one serial loop.
PAR_MIN_ELEMENTS = 1 << 16
BLOCK = 1 << 14


class ParallelBuilder(_ModuleBuilder):
    """See the module docstring."""

    _extra_args = ("nb",)

    def __init__(self, prog, em, dtype, version):
        super().__init__(prog, em, dtype, version)
        self.full = prog  # with the L2 term, added once after the sum over blocks
        back = [replace(n, decay=None) if isinstance(n, WeightGrad) else n for n in prog.backward]
        self.p = replace(prog, penalty=None, backward=back)
        self.decay = {n.dW: (n.decay, n.w) for n in prog.backward
                      if isinstance(n, WeightGrad) and n.decay is not None}
        self.layout, self.gsize = [], 0  # (grad buffer, offset, size) in a row of gall
        for b in self.p.grads:
            n = b.cols if b.vector else b.rows * b.cols
            self.layout.append((b, self.gsize, n))
            self.gsize += _pad8(n)

    # -- pieces ------------------------------------------------------------------------------------
    def _penalty(self) -> list:
        if self.full.penalty is None:
            return []
        coef, weights = self.full.penalty
        terms = " + ".join(f"np.dot({flat(w)}, {flat(w)})" for w in weights)
        return [Line(f"L += {self.em.lit(coef)} * ({terms})")]

    def _block_args(self, fn: FunctionDef, rows: str, x: str, y: str, grads: dict) -> str:
        batched = {b.name for b in self.p.forward_buffers + self.p.backward_buffers}
        out = []
        for a in fn.args:
            if a in ("x", "y"):
                out.append(row_slice(x if a == "x" else y, rows))
            elif a in batched:
                out.append(row_slice(a, rows))
            else:
                out.append(grads.get(a, a))
        return ", ".join(out)

    def _blocked(self, calls, rows: str, gather=None, x: str = "x", y: str = "y") -> list:
        """``calls`` ([(fn, assign)], the last one returning the loss) on all ``rows`` when
        ``nb == 1``, else on ``nb`` blocks of rows in a ``prange``; ``L`` is the loss sum
        after either. Gradients go to block 0's buffers or to ``gall``; ``gather`` (statements
        (lo, hi) -> statements) fills rows lo:hi first."""
        grads = {b.name for b in self.p.grads}
        whole = gather("0", rows) if gather else []
        block = [Line(f"lo = b * {rows} // nb"), Line(f"hi = (b + 1) * {rows} // nb"),
                 *(gather("lo", "hi") if gather else [])]
        views = {}
        if any(g in fn.args for fn, _ in calls for g in grads):
            for b, off, n in self.layout:
                shape = f"({b.cols},)" if b.vector else f"({b.rows}, {b.cols})"
                block.append(Line(f"{b.name}_b = {b.name} if b == 0 else "
                                  f"_view(gall[b - 1], {off}, {shape})"))
                views[b.name] = f"{b.name}_b"
        sl = f"[:{rows}]" if rows != "n_rows" else ""
        for fn, assign in calls:
            whole.append(Line(f"{assign}{fn.name}({self._block_args(fn, sl, x, y, {})})"))
            target = "Ls[b] = " if assign else ""
            block.append(Line(f"{target}{fn.name}({self._block_args(fn, '[lo:hi]', x, y, views)})"))
        if calls[-1][1]:
            par = [For("b", "prange(nb)", block), Line("L = Ls[0]"),
                   For("k", "range(1, nb)", [Line("L += Ls[k]")])]
        else:
            par = [For("b", "prange(nb)", block)]
        return [If("nb == 1", whole, par)]

    def _reduce_call(self) -> list:
        grads = [b.name for b in self.p.grads]
        call = Line(f"_reduce(gall, nb, {', '.join(grads + self._decay_weights())})")
        return [call] if self.decay else [If("nb > 1", [call])]

    def _decay_weights(self) -> list[str]:
        return [w for _, w in self.decay.values()]

    def _reduce_fn(self) -> FunctionDef:
        body = []
        for b, off, n in self.layout:
            fv = f"{b.name}_f"
            add = [For("k", "range(nb - 1)", [For("i", "range(lo, hi)", [
                Line(f"{fv}[i] += gall[k, {off} + i]")])])]
            if b.name in self.decay:
                coef, w = self.decay[b.name]
                add.append(For("i", "range(lo, hi)", [
                    Line(f"{fv}[i] += {self.em.lit(coef)} * {w}_f[i]")]))
            views = [Line(f"{fv} = {flat(b.name)}")]
            if b.name in self.decay:
                w = self.decay[b.name][1]
                views.append(Line(f"{w}_f = {flat(w)}"))
            whole = [Line("lo = 0"), Line(f"hi = {n}"), *add]
            if n >= PAR_MIN_ELEMENTS:
                loop = [If("nb == 1", whole, [For("blk", f"prange({-(-n // BLOCK)})", [
                    Line(f"lo = blk * {BLOCK}"), Line(f"hi = lo + {BLOCK} if lo + {BLOCK} < {n} else {n}"), *add])])]
            else:
                loop = whole
            body += views + loop
        args = ("gall", "nb", *(b.name for b in self.p.grads), *self._decay_weights())
        return FunctionDef("_reduce", args, body, self.dec,
                           "The gradients: block 0's (in place) plus the other blocks' rows of\n"
                           "gall, added in block order, plus the L2 term.")

    def _updates(self, hyper_call: str) -> list:
        """The optimizer update per parameter; with ``nb > 1``, big ones in blocks inside
        ``prange``."""
        out = []
        sizes = {b.name[1:]: n for b, _, n in self.layout}
        for name in self.p.params:
            n = sizes[name]
            state = "".join(f", {flat(f'{s}_{name}')}" for s in self.p.update.state)
            whole = Line(f"_update({flat(name)}, {flat('d' + name)}{state}{hyper_call})")
            if n < PAR_MIN_ELEMENTS:
                out.append(whole)
                continue
            state = "".join(f", _view({s}_{name}, lo, hi - lo)" for s in self.p.update.state)
            out.append(If("nb == 1", [whole], [For("blk", f"prange({-(-n // BLOCK)})", [
                Line(f"lo = blk * {BLOCK}"), Line(f"hi = lo + {BLOCK} if lo + {BLOCK} < {n} else {n}"),
                Line(f"_update(_view({name}, lo, hi - lo), _view(d{name}, lo, hi - lo){state}"
                     f"{hyper_call})")])]))
        return out

    def _ws_size(self, names) -> FunctionDef:
        f = super()._ws_size(names)
        body = list(f.body)
        last = body[-1].text
        body[-1] = Line(f"{last} + (nb - 1) * {self.gsize}")
        body.insert(1, If("nb < 1", [Line("raise ValueError(f'nb must be at least 1, "
                                          "got {nb}')")]))
        return replace(f, args=(*f.args, "nb=1"), body=body,
                       doc=f.doc + "\n``nb`` row blocks: the other blocks' gradients follow.")

    # -- the two parallel functions, and the public kernels (serial) that call them -------------
    def _gather(self, lo: str, hi: str) -> list:
        """Rows lo:hi of the minibatch, copied from x and y in the epoch's order (element loops:
        a slice assignment costs ~2 s of Numba compile)."""
        p = self.p
        rows = f"range({lo}, {hi})" if lo != "0" else f"range({hi})"
        return [If("shuffle", [For("r", rows, [
            Line("src = order[r]"),
            For("k", f"range({p.sizes[0]})", [Line("xb[r, k] = x[src, k]")]),
            For("k", f"range({p.sizes[-1]})", [Line("yb[r, k] = y[src, k]")])])])]

    def _run_forward(self) -> FunctionDef:
        fbufs = self._buffer_names()[0]
        return FunctionDef("_run_forward", (*self.p.params, "x", *fbufs, "nb"),
                           [Line("n_rows = x.shape[0]"),
                            *self._blocked([(self.fwd, "")], "n_rows")],
                           self.dec, "_forward on nb blocks of the rows of x, in parallel.")

    def _run_blocks(self, back: FunctionDef) -> FunctionDef:
        p = self.p
        bufs = [b.name for b in p.forward_buffers + p.backward_buffers + p.grads]
        c = ["c"] if self._scale() else []
        body = [Line("shuffle = order.size > 0"),
                Line("xb = xs if shuffle else x"), Line("yb = ys if shuffle else y"),
                *self._blocked([(self.fwd, ""), (back, "L = ")], "m", self._gather, "xb", "yb"),
                Line("return L")]
        return FunctionDef(
            "_run_blocks", (*p.params, "x", "y", "xs", "ys", "order", "m",
                            *bufs, "gall", "Ls", *c, "nb"), body, self.dec,
            "Forward and backward passes on rows 0:m of x, y (or, when order is not empty, on\n"
            "rows order[:m] gathered into xs, ys) in nb blocks, in parallel; returns the loss.\n"
            "Block 0's gradients go to dW..., the other blocks' to their rows of gall.")

    def _blocks_call(self, x: str, y: str, xs: str, ys: str, order: str, m: str) -> Line:
        p = self.p
        bufs = [b.name for b in p.forward_buffers + p.backward_buffers + p.grads]
        c = ["c"] if self._scale() else []
        args = [*p.params, x, y, xs, ys, order, m, *bufs, "gall", "Ls", *c, "nb"]
        return Line(f"L = _run_blocks({', '.join(args)})")

    def _update_all(self, state, hyper, t_arg, hyper_call) -> FunctionDef:
        p = self.p
        grads = [b.name for b in p.grads]
        return FunctionDef("_update_all", (*p.params, *grads, *state, *hyper, *t_arg, "nb"),
                           self._updates(hyper_call), self.dec,
                           "The optimizer update of every parameter; with nb > 1, big ones in "
                           "blocks, in parallel.")

    def _kernels(self, loss_fn: FunctionDef, back: FunctionDef) -> list[FunctionDef]:
        p = self.p
        fbufs, bbufs, grads = self._buffer_names()
        params, state, hyper, t_arg, hyper_call = self._signature()
        scale = self._scale()
        c_line = [Line(f"c = {scale}")] if scale else []
        out_name = p.resolve(p.output)
        nb_doc = "\n\nnb: the number of row blocks, run in parallel (1: serial)."
        run_fw = Line(f"_run_forward({', '.join([*params, 'x', *fbufs, 'nb'])})")
        update_args = [*params, *grads, *state, *hyper, *t_arg, "nb"]
        update_call = Line(f"_update_all({', '.join(update_args)})")

        forward = FunctionDef("forward", (*params, "x", "nb"), [
            *self._input_checks(y=False, counts=("nb",)), Line("n_rows = x.shape[0]"),
            *self._alloc(fbufs), run_fw,
            Line(f"return {out_name}")], self.dec,
            "The network's prediction yhat for inputs x (n_rows, d0)." + nb_doc)
        loss = FunctionDef("loss", (*params, "x", "y", "nb"), [
            *self._input_checks(counts=("nb",)), Line("n_rows = x.shape[0]"),
            *self._alloc(fbufs), *c_line, run_fw,
            self._call(loss_fn, assign="L = "), *self._penalty(), Line("return L")], self.dec,
            "The loss L on (x, y); the forward pass in nb row blocks." + nb_doc)
        train = self._train_blocks(params, state, hyper, t_arg, fbufs, bbufs, grads, update_call)
        return [self._reduce_fn(), self._run_forward(), self._run_blocks(back),
                self._update_all(state, hyper, t_arg, hyper_call), forward, loss, train]

    def _train_blocks(self, params, state, hyper, t_arg, fbufs, bbufs, grads, update_call):
        scale = self._scale("m")
        core = [Line("nb = n_blocks if n_blocks < m else m"),
                *([Line(f"c = {scale}")] if scale else []),
                Line("rows = order[start:start + m] if shuffle else order[:0]"),
                self._blocks_call("x", "y", "xs", "ys", "rows", "m"),
                *self._reduce_call(), *self._penalty()]
        g = self.gsize
        head = [*self._views(fbufs + bbufs + grads, "batch", end=True),
                Line(f"gall = _view(ws, o, (n_blocks - 1, {g}))"),
                Line(f"o += (n_blocks - 1) * {g}"),
                *self._gather_views(),
                Line("Ls = np.empty(n_blocks, dtype=np.float64)")]
        return self._train_fn(params, state, hyper, t_arg, grads, head, core, [update_call],
                              ("n_blocks",),
                              "ws: a flat work array of workspace_size(min(batch_size, n), "
                              "batch_size < n,\nn_blocks) elements; each step runs on "
                              "min(n_blocks, its rows) row blocks in parallel.")
