"""Assembling a generated module: Program + emitter -> Python source.

Contract: :func:`generate_source` returns the text of one self-contained module (it imports only
``math``, ``numpy``, ``numba`` and ``llvmlite``) with

- a header docstring (spec name, digest, symbp version, target, dtype) and metadata constants
  (``SIZES``, ``PARAMS``, ``QUANTITIES``, ...) that let the runtime use a cached module without
  SymPy;
- the stable scalar helpers the bodies call (only those); ``_view`` (a view of part of an array:
  the work-array buffers, flat views), ``_rows`` (rows ``lo:hi`` of an array), ``_matmul`` (one
  BLAS gemm call) where a layer is big enough for BLAS and ``_pow2`` (for the light helpers):
  each an intrinsic in compiled code, a plain-Python function where the module runs with
  Numba's JIT disabled (``_bind``);
- internal passes ``_forward``, ``_loss``, ``_backward``, ``_update``, ``_all_finite``
  (compiled without CPython wrappers: only compiled code calls them) and ``_order``; plain
  Python ``workspace_size``, ``_grads`` and ``first_nonfinite``;
- the public kernels (documented in ``docs/runtime.md``): compiled ``forward``, ``loss`` and
  ``train_epochs``, which works in a flat array ``ws`` the caller keeps (``workspace_size``);
  plain Python ``step`` and ``loss_and_grad``, which call ``train_epochs`` on one full batch
  (flags ``UPDATE``, ``CHECK``). A Numba entry point re-optimises and re-emits every function
  it calls, so one entry for the three training kernels cuts a cold start by a second.

The same derivation, target and dtype always give the same bytes.
"""

from __future__ import annotations

import re
from dataclasses import replace

import sympy as sp

from . import DTYPES  # defined in the package, which imports no SymPy
from .code import Blank, Comment, For, FunctionDef, If, Line, Module, With, render
from .lower import BLAS_MIN_WEIGHTS, Buffer, Program, Ref, lower
from .numba_cpu import CpuEmitter, flat
from .numba_cuda import CudaEmitter
from .numba_parallel import ParallelEmitter
from .printer import HELPERS, LIGHT_HELPERS, NumbaPrinter, helpers_used, light_helper

EMITTERS = {"cpu": CpuEmitter, "parallel": ParallelEmitter, "cuda": CudaEmitter}

#: the compiled functions of a cpu or parallel module that Python calls; the others (passes,
#: helpers) only compiled code calls, and they get the emitter's ``internal`` decorator
PUBLIC = frozenset({"forward", "loss", "train_epochs", "_order"})
#: functions inlined into their one compiled caller (Numba's ``inline='always'``: no function of
#: their own to type, lower and link; Python can still call them). ``_order``: -0.07 s of a
#: cold start (``benchmarks/ab_compile.py``, 6 paired rounds, config ii). ``_update``: a fresh
#: process compiled it as a function of its own and ran that one, while a process loading
#: ``train_epochs`` from the cache ran the copy linked into it, and the two gave Adam's second
#: moment different last bits: a cached run and a compiling run trained apart
#: (tests/test_cache.py). Inlined, there is one copy; +0.14 s of a cold start (ab_compile.py,
#: 5 paired rounds, config ii), the kernels as fast (ab_kernels.py: 1.001).
INLINE = frozenset({"_order", "_update"})
#: inlined too where their body is serial (a prange loop must stay in a parallel function):
#: the parallel target's ``_update_all``, the one caller of ``_update``, for the same reason
INLINE_SERIAL = frozenset({"_update_all"})


def generate_source(d, target: str = "cpu", dtype: str = "float64") -> str:
    """Python source of the compiled kernels of derivation ``d`` (see the module docstring)."""
    from .. import __version__
    from .printer import CodegenError

    if target not in EMITTERS:
        raise CodegenError(f"unknown target {target!r}; expected one of {', '.join(EMITTERS)}")
    if dtype not in DTYPES:
        raise CodegenError(f"unknown dtype {dtype!r}; expected float64 or float32")
    prog = lower(d)
    if target == "cuda":  # kernels plus a host wrapper class: see cuda_module
        from .cuda_module import build

        return render(build(prog, dtype, __version__))
    em = EMITTERS[target](dtype, tuple(h for h, _ in prog.hyper))
    if target == "parallel":  # the cpu passes on blocks of rows: see parallel_module
        from .parallel_module import ParallelBuilder

        return render(ParallelBuilder(prog, em, dtype, __version__).build())
    return render(_ModuleBuilder(prog, em, dtype, __version__).build())


def elementwise_source(functions: dict, dtype: str = "float64") -> str:
    """Source of a module with one compiled elementwise loop ``name(x, out)`` per entry of
    ``functions`` (name -> SymPy expression in the symbol ``x``), printed exactly as the cpu
    target prints an activation (rewrite sets, vector forms, helpers): for accuracy tests and
    for looking at what a formula becomes."""
    from .printer import CodegenError

    if dtype not in DTYPES:
        raise CodegenError(f"unknown dtype {dtype!r}; expected float64 or float32")
    em = CpuEmitter(dtype)
    b = _ModuleBuilder.__new__(_ModuleBuilder)
    b.p, b.em, b.dtype = None, em, dtype
    x = sp.Symbol("x")
    defs = []
    for name, expr in functions.items():
        hoisted, body = em.block([(Ref("out", "flat"), expr)], {x: Ref("x", "flat")})
        defs.append(FunctionDef(name, ("x", "out"), hoisted + [For("i", "range(x.size)", body)],
                                CpuEmitter.decorator, f"out[i] = {expr} for every i."))
    names = b._helper_closure(em.helpers)
    helpers = [b._helper(n) for n in (*HELPERS, *LIGHT_HELPERS) if n in names]
    light = bool(names & set(LIGHT_HELPERS))
    imports, jit_defs = jit_helpers(b, list(em.imports), {"_pow2": light})
    helpers[:0] = jit_defs
    if dtype == "float32":
        imports += ["", "f32 = np.float32"]
    return render(Module("Elementwise kernels generated by symbp.", imports, [], helpers + defs))


def order_fn(decorator: str) -> FunctionDef:
    """``_order(seed, epoch, order)``: the row order of one epoch, written into ``order``;
    shared by the cpu, parallel and cuda targets (and so by their results)."""
    mask = (1 << 48) - 1
    return FunctionDef("_order", ("seed", "epoch", "order"), [
        Line("n_total = order.size"),
        For("i", "range(n_total)", [Line("order[i] = i")]),
        Line(f"state = ((seed * 1000003 + epoch) ^ 25214903917) & {mask}"),
        For("i", "range(n_total - 1, 0, -1)", [
            Line(f"state = (state * 25214903917 + 11) & {mask}"),
            Line("j = (state >> 17) % (i + 1)"),
            Line("k = order[i]"), Line("order[i] = order[j]"), Line("order[j] = k")])],
        decorator,
        "Writes into order (an int64 array of n_total elements) the row order of one epoch:\n"
        "a Fisher-Yates shuffle driven by the 48-bit linear congruential generator of\n"
        "java.util.Random, seeded from (seed, epoch). The same compiled or as plain Python (the\n"
        "low 48 bits survive int64 wrap-around); about two seconds cheaper to compile than\n"
        "np.random.seed + np.random.permutation. The caller allocates order: np.arange would be\n"
        "one more function to compile (~0.15 s).")


def jit_helpers(builder, imports: list[str], wanted: dict) -> tuple[list[str], list]:
    """(imports, definitions) of the intrinsic-backed names ``wanted`` (name -> needed) that
    compiled code calls (``_matmul``, ``_pow2``, ``_view``, ``_rows``): each a plain-Python
    form, an intrinsic and, last, the binding of the names (see ``_ModuleBuilder._bind``)."""
    names = [n for n, need in wanted.items() if need]
    if not names:
        return imports, []
    defs = [d for n in names for d in getattr(builder, n)()]
    head = "from numba import "
    at = next(i for i, line in enumerate(imports) if line.startswith(head))
    numba_names = {*imports[at][len(head):].split(", "), "config", "types"}
    views = {"_view", "_rows"} & set(names)
    cgutils = "_matmul" in names or bool(views)  # _pow2 builds its bits with llvmlite alone
    imports[at:at + 1] = [
        "from llvmlite import ir", head + ", ".join(sorted(numba_names)),
        *(["from numba.core import cgutils"] if cgutils else []),
        *(["from numba.core.errors import TypingError",
            "from numba.core.imputils import impl_ret_borrowed"] if views else []),
        "from numba.extending import intrinsic",
        *(["from numba.np.arrayobj import populate_array"] if views else []),
        *(["from numba.np.linalg import call_xxgemm, ensure_blas"] if "_matmul" in names else [])]
    return imports, [*defs, builder._bind(names)]


def row_slice(name: str, rows: str) -> str:
    """Source text, in compiled code, of rows ``rows`` (``"[lo:hi]"``, ``"[:m]"``, or ``""``:
    all) of the batched array ``name``: a ``_rows`` view."""
    if not rows:
        return name
    lo, hi = rows[1:-1].split(":")
    return f"_rows({name}, {lo or 0}, {hi})"


def _pad8(n: int) -> int:
    """``n`` rounded up to a multiple of 8 (64 bytes of float64)."""
    return (n + 7) // 8 * 8


class _ModuleBuilder:
    #: the arguments every public kernel takes last (the parallel target's block count)
    _extra_args: tuple[str, ...] = ()

    def __init__(self, prog: Program, em: CpuEmitter, dtype: str, version: str):
        self.p, self.em, self.dtype, self.version = prog, em, dtype, version
        self.np_dtype = "np.float32" if dtype == "float32" else "np.float64"
        self.dec = em.decorator

    # -- argument lists ------------------------------------------------------------------------
    def _candidates(self) -> list[str]:
        p = self.p
        return [*p.params, "x", "y", *(b.name for b in p.forward_buffers),
                *(b.name for b in p.backward_buffers), *(b.name for b in p.grads), "c"]

    def _args_used(self, body) -> tuple[str, ...]:
        text = "\n".join(line for line in render(body).splitlines()
                         if not line.lstrip().startswith("#"))  # comments are not uses
        return tuple(n for n in self._candidates() if re.search(rf"\b{n}\b", text))

    @staticmethod
    def _shape(b: Buffer, rows: str) -> str:
        """The array shape of buffer ``b`` as source text (``rows`` rows when batched)."""
        if b.batched:
            return f"({rows}, {b.cols})"
        return f"({b.cols},)" if b.vector else f"({b.rows}, {b.cols})"

    def _alloc(self, names, rows: str = "n_rows") -> list:
        return [Line(f"{name} = np.empty({self._shape(self.p.buffers[name], rows)}, "
                     f"dtype={self.np_dtype})") for name in names]

    def _views(self, names, rows: str = "n_rows", end: bool = False, start: bool = True,
               compiled: bool = True) -> list:
        """The buffers ``names`` (or ``Buffer`` objects) as views into the flat workspace
        ``ws`` (see ``_ws_size``), each starting on a 64-byte boundary (a multiple of 8
        elements), from ``o = 0`` (with ``start``) or the current ``o``; with ``end``, ``o`` is
        left past the last one. ``compiled``: through ``_view``, else NumPy slices (plain
        Python functions)."""
        out = [Line("o = 0")] if start else []
        entries = [name if isinstance(name, Buffer) else self.p.buffers[name] for name in names]
        for b in entries:
            n = b.cols if b.vector else (b.rows or 0) * b.cols
            size = f"{rows} * {b.cols}" if b.batched else str(n)
            shape = self._shape(b, rows)
            out.append(Line(f"{b.name} = _view(ws, o, {shape})" if compiled else
                            f"{b.name} = ws[o:o + {size}].reshape({shape})"))
            out.append(Line(f"o += ({size} + 7) // 8 * 8" if b.batched else f"o += {_pad8(n)}"))
        return out if end else out[:-1]

    def _ws_size(self, names) -> FunctionDef:
        """Plain Python: the workspace length ``step`` (or ``train_epochs``, whose gathered
        minibatch rows follow the buffers) needs for ``n_rows`` rows."""
        bufs = [self.p.buffers[name] for name in names]
        per_row = tuple(b.cols for b in bufs if b.batched)
        fixed = sum(_pad8(b.cols if b.vector else b.rows * b.cols) for b in bufs if not b.batched)
        io = (self.p.sizes[0], self.p.sizes[-1])
        body = [If("n_rows < 0", [Line("raise ValueError(f'n_rows must be at least 0, "
                                       "got {n_rows}')")]),
                Line(f"cols = {per_row} + ({io} if train else ())"),
                Line(f"return sum((n_rows * c + 7) // 8 * 8 for c in cols) + {fixed}")]
        return FunctionDef("workspace_size", ("n_rows", "train=False"), body, None,
                           "Length of the flat work array ``ws`` that ``step`` (``train=False``)\n"
                           "or ``train_epochs`` (``train=True``, n_rows = the batch size) takes.")

    def _diagnose(self, names) -> FunctionDef:
        """Plain Python: which quantity of the step train_epochs stopped at is non-finite, read
        from its work array (kept out of the compiled code: only a failure needs it)."""
        batched = {b.name for b in self.p.forward_buffers + self.p.backward_buffers}
        checks = []
        for code, q in enumerate(self.p.quantities):
            buf = self.p.resolve(q)
            test = "not math.isfinite(L)" if q == "L" else \
                f"not np.isfinite({buf}{'[:m]' if buf in batched else ''}).all()"
            checks.append(If(test, [Line(f"return {code}")]))
        return FunctionDef("first_nonfinite", ("ws", "batch", "m", "L"),
                           [*self._views(names, "batch", compiled=False), *checks,
                            Line("return -1")], None,
                           "Index in QUANTITIES of the first non-finite quantity of the step that\n"
                           "train_epochs stopped at (its work array ws for batch rows, m of them\n"
                           "used; L its loss), or -1.")

    def _input_checks(self, y: bool = True, counts=(), state: bool = False) -> list:
        """The argument checks of a public kernel, for what its loops would otherwise read past
        (compiled code checks no bounds): the shapes of the parameters (and, with ``state``,
        of the optimizer state), the columns of ``x`` and ``y``, the rows of ``y``, and
        ``counts`` (names of int arguments) at least 1."""
        d0, dl = self.p.sizes[0], self.p.sizes[-1]
        shapes = []
        for g in self.p.grads:  # a gradient has its parameter's shape
            names = [g.name[1:]] + ([f"{s}_{g.name[1:]}" for s in self.p.update.state]
                                    if state else [])
            for a in names:
                test = f"{a}.shape[0] == {g.cols}" if g.vector else \
                    f"{a}.shape[0] == {g.rows} and {a}.shape[1] == {g.cols}"
                shapes.append(Line(f"ok = {test}" if not shapes else f"ok = ok and {test}"))
        what = "parameters and optimizer state" if state and self.p.update.state else "parameters"
        out = [*shapes, If("not ok", [Line(f"raise ValueError('the {what} need the shapes "
                                           "SIZES gives them')")]),
               If(f"x.shape[1] != {d0}", [Line(f"raise ValueError('x needs {d0} columns')")])]
        if y:
            out.append(If(f"y.shape[0] != x.shape[0] or y.shape[1] != {dl}", [
                Line(f"raise ValueError('y needs the rows of x and {dl} columns')")]))
        return out + [If(f"{a} < 1", [Line(f"raise ValueError('{a} must be at least 1')")])
                      for a in counts]

    def _scale(self, rows: str = "n_rows") -> str:
        if self.p.reduction != "mean":
            return ""
        return f"f32(1.0 / {rows})" if self.dtype == "float32" else f"1.0 / {rows}"

    # -- internal passes -------------------------------------------------------------------------
    def _pass(self, name: str, nodes, doc: str, returns_loss: bool, first: str) -> FunctionDef:
        body = []
        for node in nodes:
            body += self.em.emit(node)
        if returns_loss:
            body += self._finish_loss()
        args = self._args_used(body)
        head = [Line(f"n_rows = {first}.shape[0]")] if re.search(r"\bn_rows\b", render(body)) else []
        return FunctionDef(name, args, head + body, self._decorator(body, name), doc)

    def _decorator(self, body, name: str) -> str:
        """The target's decorator where the body has a prange loop, else the serial one; the
        internal form for functions only compiled code calls (see ``PUBLIC``)."""
        serial = "prange(" not in render(body)
        em = CpuEmitter if serial else self.em
        decorator = em.decorator if name in PUBLIC else em.internal
        inline = name in INLINE or (serial and name in INLINE_SERIAL)
        return decorator[:-1] + ",\n      inline='always')" if inline else decorator

    def _finish_loss(self) -> list:
        out = []
        if self.p.reduction == "mean":
            out.append(Line("L = c * L"))
        if self.p.penalty is not None:
            coef, weights = self.p.penalty
            terms = " + ".join(f"np.dot({flat(w)}, {flat(w)})" for w in weights)
            out.append(Line(f"L += {self.em.lit(coef)} * ({terms})"))
        return out + [Line("return L")]

    def _update_fn(self) -> FunctionDef:
        u = self.p.update
        body = self.em.emit(u)
        args = ("p", "g", *u.state, *u.hyper, *(("t",) if u.uses_t else ()))
        return FunctionDef("_update", args, body, self._decorator(body, "_update"),
                           f"{self.p.optimizer} on one flat parameter p with gradient g, in place.")

    def _finite_fns(self) -> list[FunctionDef]:
        inf = "f32(math.inf)" if self.dtype == "float32" else "math.inf"
        all_finite = FunctionDef("_all_finite", ("a",), [
            Line("ok = True"),
            For("i", "range(a.size)", [Line(f"ok &= abs(a[i]) < {inf}")]),
            Line("return ok")], CpuEmitter.internal,
            "True when every element of the flat array a is finite (nan compares false);\n"
            "an and-reduction, so the loop vectorises (one pass at memory speed).")
        return [all_finite]

    # -- public kernels ---------------------------------------------------------------------------
    def _fw_call(self, x: str = "x", rows: str = "") -> Line:
        args = [a if a in self.p.params else row_slice(x if a == "x" else a, rows)
                for a in self.fwd.args]
        return Line(f"_forward({', '.join(args)})")

    def _call(self, fn: FunctionDef, rows: str = "", x: str = "x", y: str = "y", c: str = "c",
              assign: str = "L = ") -> Line:
        batched = {b.name for b in self.p.forward_buffers + self.p.backward_buffers}
        args = []
        for a in fn.args:
            if a == "x":
                args.append(row_slice(x, rows))
            elif a == "y":
                args.append(row_slice(y, rows))
            elif a == "c":
                args.append(c)
            elif a in batched:
                args.append(row_slice(a, rows))
            else:
                args.append(a)
        return Line(f"{assign}{fn.name}({', '.join(args)})")

    def _updates(self, hyper_args: str) -> list:
        out = []
        for name in self.p.params:
            state = "".join(f", {flat(f'{s}_{name}')}" for s in self.p.update.state)
            out.append(Line(f"_update({flat(name)}, {flat('d' + name)}{state}{hyper_args})"))
        return out

    def build(self) -> Module:
        p, em = self.p, self.em
        self.fwd = self._pass("_forward", p.forward, "Forward pass: fills the layer buffers.",
                              False, "x")
        loss_fn = self._pass("_loss", p.loss_only, "The loss L from the forward buffers.", True, "y")
        back = self._pass("_backward", p.backward,
                          "Output error, backward pass and gradients; returns the loss L.", True, "y")
        update = self._update_fn()
        finite = self._finite_fns()
        kernels = self._kernels(loss_fn, back)
        names = self._helper_closure(em.helpers)
        helpers = [self._helper(name) for name in (*HELPERS, *LIGHT_HELPERS) if name in names]
        jit = {"_matmul": em.blas, "_pow2": bool(names & set(LIGHT_HELPERS)), "_view": True,
               "_rows": True}
        imports, jit_defs = jit_helpers(self, list(em.imports), jit)
        helpers[:0] = jit_defs
        defs = [self.fwd, loss_fn, back, update, *finite, order_fn(CpuEmitter.decorator),
                *kernels]
        ws_names = [b.name for b in p.forward_buffers + p.backward_buffers + p.grads]
        defs = [replace(f, decorator=self._decorator(f.body, f.name)) for f in defs] + \
            [*self._wrappers(self._extra_args), self._ws_size(ws_names),
             self._grads_fn(), self._diagnose(ws_names)]
        mod = Module(self._doc(), imports, self._constants(), helpers + defs)
        if self.dtype == "float32":
            mod.imports.append("")
            mod.imports.append("f32 = np.float32")
        return mod

    def _signature(self):
        """(params, state, hyper, t_arg, hyper_call): the argument names the kernels share."""
        p = self.p
        params = list(p.params)
        state = [f"{s}_{name}" for s in p.update.state for name in params]
        hyper = [h for h, _ in p.hyper]
        t_arg = ["t"] if p.update.uses_t else []
        hyper_call = "".join(f", {h}" for h in hyper) + (", t" if t_arg else "")
        return params, state, hyper, t_arg, hyper_call

    def _buffer_names(self) -> tuple[list[str], list[str], list[str]]:
        """(forward buffers, backward buffers, gradients): the work array's layout, in order."""
        p = self.p
        return ([b.name for b in p.forward_buffers], [b.name for b in p.backward_buffers],
                [b.name for b in p.grads])

    def _kernels(self, loss_fn: FunctionDef, back: FunctionDef) -> list[FunctionDef]:
        """The compiled public kernels: forward, loss, train_epochs."""
        p = self.p
        fbufs, bbufs, grads = self._buffer_names()
        params, state, hyper, t_arg, hyper_call = self._signature()
        scale = self._scale()
        c_line = [Line(f"c = {scale}")] if scale else []
        out_name = p.resolve(p.output)

        forward = FunctionDef("forward", (*params, "x"), [
            *self._input_checks(y=False), Line("n_rows = x.shape[0]"), *self._alloc(fbufs),
            self._fw_call(),
            Line(f"return {out_name}")], self.dec,
            "The network's prediction yhat for inputs x (n_rows, d0).")
        loss = FunctionDef("loss", (*params, "x", "y"), [
            *self._input_checks(), Line("n_rows = x.shape[0]"), *self._alloc(fbufs), *c_line,
            self._fw_call(),
            self._call(loss_fn, assign="return ")], self.dec, "The loss L on (x, y).")
        train = self._train(params, state, hyper, t_arg, fbufs, bbufs, grads, back, hyper_call)
        return [forward, loss, train]

    def _gather_views(self) -> list:
        """After the step's buffers: ``xs``, ``ys``, the minibatch rows gathered in the epoch's
        order (none for one full batch, read in place: ``gb`` rows)."""
        return [Line("gb = batch if shuffle else 0"),
                *self._views([Buffer("xs", self.p.sizes[0]), Buffer("ys", self.p.sizes[-1])],
                             "gb", start=False, end=True),
                Line("xb = xs if shuffle else x"), Line("yb = ys if shuffle else y")]

    def _train(self, params, state, hyper, t_arg, fbufs, bbufs, grads, back, hyper_call):
        p = self.p
        rows = "[:m]"
        # element loops: a slice assignment (xb[r, :] = x[src, :]) costs ~2 s of Numba compile
        gather = [If("shuffle", [
            For("r", "range(m)", [Line("src = order[start + r]"),
                                  For("k", f"range({p.sizes[0]})", [Line("xb[r, k] = x[src, k]")]),
                                  For("k", f"range({p.sizes[-1]})", [Line("yb[r, k] = y[src, k]")])])])]
        scale = self._scale("m")
        core = [*gather, *([Line(f"c = {scale}")] if scale else []),
                self._call_rows("_forward", self.fwd.args, rows),
                self._call(back, rows, x="xb", y="yb")]
        head = [*self._views(fbufs + bbufs + grads, "batch", end=True), *self._gather_views()]
        return self._train_fn(params, state, hyper, t_arg, grads, head, core,
                              self._updates(hyper_call), (),
                              "ws: a flat work array of workspace_size(min(batch_size, n), "
                              "train=batch_size < n) elements.")

    def _train_fn(self, params, state, hyper, t_arg, grads, head, core, updates, extra_args,
                  ws_doc) -> FunctionDef:
        """``train_epochs``: the epoch and minibatch loops around a target's step ``core``
        (which leaves the loss in ``L`` and the gradients in their buffers); ``head`` sets up
        the work-array views. Conditional expressions, not ``min``: each builtin overload
        used is one more function for Numba to compile."""
        finite = [Line("finite = math.isfinite(L)")] + \
            [Line(f"finite = finite and _all_finite({flat(g)})") for g in grads]
        step_body = [
            Line("start = s * batch"),
            Line("m = batch if batch < n_total - start else n_total - start"), *core,
            If("flags & CHECK", [*finite, If("not finite", [Line("return t, epoch, s, float(L)")])]),
            Line("t += 1"), If("flags & UPDATE", updates), Line("total += L")]
        epoch_body = [
            Line("epoch = start_epoch + e"),
            If("shuffle", [Line("_order(seed, epoch, order)")]),
            Line("total = 0.0"),
            For("s", "range(steps)", step_body),
            Line("losses[e] = total / steps")]
        body = [
            *self._input_checks(counts=("batch_size", *extra_args), state=True),
            If("losses.size < n_epochs",
               [Line("raise ValueError('losses needs one element per epoch')")]),
            Line("n_total = x.shape[0]"),
            Line("batch = batch_size if batch_size < n_total else n_total"),
            Line("steps = (n_total + batch - 1) // batch"),
            Comment(("one full batch: the mean gradient does not depend on the row order, "
                     "so the rows are", "read in place (no shuffle, no copy)")),
            Line("shuffle = batch < n_total"),
            *head,
            Comment(("_view checks no bounds: the sizes of the work arrays are checked here",)),
            If("ws.size < o", [Line("raise ValueError('ws is shorter than workspace_size(...)')")]),
            If("shuffle and order.size < n_total",
               [Line("raise ValueError('order needs one element per row of x')")]),
            For("e", "range(n_epochs)", epoch_body, comment="epochs: shuffle with a seed derived "
                "from (seed, epoch), so resuming at any epoch is exact"),
            Line("return t, -1, -1, 0.0")]
        return FunctionDef(
            "train_epochs", (*params, *state, "x", "y", *hyper, "t", "batch_size", "n_epochs",
                             "seed", "start_epoch", "losses", "ws", "order", "flags",
                             *extra_args), body, self.dec,
            "Minibatch training, in place, for n_epochs epochs from start_epoch; also the one\n"
            "compiled entry of step and loss_and_grad (one epoch of one full batch), so that a\n"
            "model compiles its passes once, not once per entry point.\n\n"
            "Writes each epoch's mean minibatch loss to losses[e]. t counts optimizer steps;\n"
            f"{ws_doc}\n"
            "order: an int64 work array of n elements when batch_size < n (the epoch's row\n"
            "order), else unused; a shorter ws or order is a ValueError. flags: UPDATE applies\n"
            "the optimizer's update after each step (without it the gradients of the last step\n"
            "stay in ws); CHECK stops before the first update whose loss or gradients are not\n"
            "finite and returns (t, epoch, step, loss), the step's buffers left in ws for\n"
            "first_nonfinite.\n"
            "Returns (t, -1, -1, 0.0) when no step stopped it.")

    def _wrappers(self, extra: tuple[str, ...] = ()) -> list[FunctionDef]:
        """Plain Python ``step`` and ``loss_and_grad``: ``train_epochs`` on one full batch, so
        that a cold start compiles one entry point (each compiled entry point re-optimises
        and re-emits every pass it calls: ~0.5 s apiece for a small network)."""
        p = self.p
        params, state, hyper, t_arg, _ = self._signature()
        _, _, grads = self._buffer_names()
        ex = [*extra]
        f32 = self.dtype == "float32"
        defaults = [f"f32({float(v)!r})" if f32 else repr(float(v)) for _, v in p.hyper]
        stand_in = [name for _ in p.update.state for name in params]
        empty = If("n_rows == 0", [Line("raise ValueError('x has no rows')")])
        ws_args = "n_rows" + "".join(f", False, {a}" for a in extra)
        call = "train_epochs({})".format
        lag = FunctionDef("loss_and_grad", (*params, "x", "y", *extra), [
            Line("n_rows = x.shape[0]"), empty,
            Line(f"ws = np.empty(workspace_size({ws_args}), dtype={self.np_dtype})"),
            Line("losses = np.empty(1)"),
            Comment(("no update: the parameters stand in for the optimizer state and the",
                     "defaults for the hyper-parameters (neither is read)",)),
            Line(call(", ".join([*params, *stand_in, "x", "y", *defaults, "0", "n_rows", "1",
                                 "0", "0", "losses", "ws", "_NO_ORDER", "0", *ex]))),
            Line(f"return (float(losses[0]), *_grads(ws, n_rows))")], None,
            "The loss and its gradient with respect to every parameter, at (x, y): returns\n"
            f"(L, {', '.join(grads)}), the gradients views into a fresh work array.")
        t_val = "t - 1" if t_arg else "0"
        ws_need = "workspace_size(n_rows" + "".join(f", nb={a}" for a in extra) + ")"
        step = FunctionDef("step", (*params, *state, "x", "y", *hyper, *t_arg, "ws", *extra), [
            Line("n_rows = x.shape[0]"), empty, Line("losses = np.empty(1)"),
            Line(call(", ".join([*params, *state, "x", "y", *hyper, t_val, "n_rows", "1", "0",
                                 "0", "losses", "ws", "_NO_ORDER", "UPDATE", *ex]))),
            Line("return float(losses[0])")], None,
            "One optimizer step on (x, y), in place; returns the loss before the step.\n\n"
            f"ws: a flat work array of at least {ws_need} elements of the\n"
            "dtype, kept by the caller, so that a step allocates nothing (fresh buffers of a\n"
            "few MB per call cost page faults as malloc returns them to the system)."
            + ("\nt: the step's number (1 for the first)." if t_arg else ""))
        return [step, lag]

    def _grads_fn(self) -> FunctionDef:
        """Plain Python: the gradient views of a work array (``loss_and_grad``)."""
        grads = [b.name for b in self.p.grads]
        bufs = self.p.forward_buffers + self.p.backward_buffers
        cols = tuple(b.cols for b in bufs if b.batched)
        fixed = sum(_pad8(b.cols if b.vector else b.rows * b.cols) for b in bufs if not b.batched)
        return FunctionDef("_grads", ("ws", "n_rows"), [
            Line(f"o = sum((n_rows * c + 7) // 8 * 8 for c in {cols})"
                 + (f" + {fixed}" if fixed else "")),
            *self._views(grads, "n_rows", start=False, compiled=False),
            Line(f"return {', '.join(grads)}")],
            None, "The gradients in the work array ws of a step on n_rows rows.")

    def _call_rows(self, name, args, rows) -> Line:
        batched = {b.name for b in self.p.forward_buffers + self.p.backward_buffers}
        out = [(row_slice("xb", rows) if a == "x" else row_slice("yb", rows) if a == "y" else
                row_slice(a, rows) if a in batched else a) for a in args]
        return Line(f"{name}({', '.join(out)})")

    def _helper_def(self, name: str):
        """A helper's (locals, result): libm forms (the vector set inlines its own)."""
        h = light_helper(name, self.dtype) if name in LIGHT_HELPERS else HELPERS[name]
        return h, list(h.locals), h.result

    def _helper_closure(self, used) -> set:
        """The helpers ``used`` and those they call (sigmoid calls exp_light, ...)."""
        names, todo = set(), list(used)
        while todo:
            name = todo.pop()
            if name not in names:
                names.add(name)
                _, locs, result = self._helper_def(name)
                todo += helpers_used([e for _, e in locs] + [result])
        return names

    def _helper(self, name: str) -> FunctionDef:
        h, locs, result = self._helper_def(name)
        pr = NumbaPrinter({"dtype": self.dtype})
        body = [Line(f"{s} = {pr.doprint(e)}") for s, e in locs]
        body.append(Line(f"return {pr.doprint(result)}"))
        return FunctionDef(name, ("x",), body, CpuEmitter.internal, h.doc)

    def _pow2(self) -> list[FunctionDef]:
        """``_pow2(k)``: 2**k for the light helpers. Plain Python: ldexp; compiled: an intrinsic
        that builds the exponent bits (vectorises)."""
        f32 = self.dtype == "float32"
        fty, ity = ("ir.FloatType()", "ir.IntType(32)") if f32 else \
            ("ir.DoubleType()", "ir.IntType(64)")
        magic, bias, shift = ("12582912.0", 127, 23) if f32 else ("6755399441055744.0", 1023, 52)
        nb = "types.float32" if f32 else "types.float64"
        value = "f32(math.ldexp(1.0, int(k)))" if f32 else "math.ldexp(1.0, int(k))"
        codegen = FunctionDef("codegen", ("context", "builder", "sig", "args"), [
            Comment(("k + 1.5 * 2**mantissa_bits holds the integer k in its low bits",)),
            Line(f"t = builder.fadd(args[0], ir.Constant({fty}, {magic}))"),
            Line(f"bits = builder.add(builder.bitcast(t, {ity}), ir.Constant({ity}, {bias}))"),
            Line(f"return builder.bitcast(builder.shl(bits, ir.Constant({ity}, {shift})), {fty})")])
        return [
            FunctionDef("_pow2_py", ("k",), [Line(f"return {value}")], None,
                        f"2.0**k for a float k holding an integer in [{1 - bias}, {bias}]."),
            FunctionDef("_pow2_jit", ("typingctx", "k"), [
                codegen, Line(f"return {nb}({nb}), codegen")], "@intrinsic",
                "_pow2 compiled: the exponent bits, from integer operations that vectorise.")]

    def _matmul(self) -> list[FunctionDef]:
        """``_matmul(a, b, out)``: ``out = a @ b`` for the BLAS-sized layers. Plain Python (and
        compiled, for operands that are neither C nor F order): ``np.dot``. Compiled, for C or F
        order operands of one float dtype: an intrinsic making the one ``gemm`` call that
        ``np.dot`` makes for matrices (the same ``call_xxgemm``, after the same shape checks),
        without the helper functions ``np.dot`` compiles for each operand layout: ~0.45 s less
        compile time per module; a call is as fast (three products: 0.59 against 0.67 us)."""
        msg = "'_matmul: the operand shapes do not match, or a dimension passes 2**31 - 1'"
        codegen = FunctionDef("codegen", ("context", "builder", "sig", "args"), [
            If("not blas",
               [Line("return context.compile_internal(builder, _matmul_py, sig, args)")]),
            Line("ensure_blas()"),
            Line("x, y, o = [context.make_array(t)(context, builder, v) "
                 "for t, v in zip(sig.args, args)]"),
            Line("m, k = cgutils.unpack_tuple(builder, x.shape, 2)"),
            Line("k2, n = cgutils.unpack_tuple(builder, y.shape, 2)"),
            Line("om, on = cgutils.unpack_tuple(builder, o.shape, 2)"),
            Line("zero, top = ir.Constant(k.type, 0), ir.Constant(k.type, 2**31 - 1)"),
            Line("bad = builder.or_(builder.icmp_signed('!=', k, k2), builder.or_("
                 "builder.icmp_signed('!=', om, m), builder.icmp_signed('!=', on, n)))"),
            For("d", "(m, n, k)", [Line("bad = builder.or_(bad, builder.icmp_signed('>', d, top))")]),
            With("builder.if_then(bad, likely=False)", [
                Line(f"context.call_conv.return_user_exc(builder, ValueError, ({msg},))")]),
            Comment(("an empty sum: out = 0 (BLAS would not touch it)",)),
            With("builder.if_then(builder.icmp_signed('==', k, zero), likely=False)", [
                Line("cgutils.memset(builder, o.data, builder.mul(o.itemsize, o.nitems), 0)")]),
            Line("full = builder.and_(builder.icmp_signed('!=', k, zero), builder.and_("
                 "builder.icmp_signed('!=', m, zero), builder.icmp_signed('!=', n, zero)))"),
            With("builder.if_then(full, likely=True)", [
                Line("call_xxgemm(context, builder, sig.args[0], (m, k), x.data, sig.args[1], "
                     "(k2, n), y.data, sig.args[2], (om, on), o.data)")]),
            Line("return context.get_dummy_value()")])
        return [
            FunctionDef("_matmul_py", ("a", "b", "out"), [Line("np.dot(a, b, out)")], None,
                        "out = a @ b for 2-d arrays (in place)."),
            FunctionDef("_matmul_jit", ("typingctx", "a", "b", "out"), [
                Line("same = a.dtype == b.dtype == out.dtype in (types.float32, types.float64)"),
                Line("blas = same and a.layout in 'CF' and b.layout in 'CF' and out.layout == 'C'"),
                codegen, Line("return types.none(a, b, out), codegen")], "@intrinsic",
                "_matmul compiled: for C or F order operands of one float dtype, one BLAS gemm\n"
                "call, as np.dot makes it for matrices; for any other, np.dot (its checks and\n"
                "copies), compiled only then.")]

    @staticmethod
    def _view() -> list[FunctionDef]:
        """``_view(a, o, shape)``: elements ``o, o + 1, ...`` of a C-contiguous array as a
        C-contiguous array of ``shape`` (an int or a tuple of ints) sharing its memory: the
        work-array buffers and the flat views of parameters and gradients. Plain Python: a
        reshape of a slice. Compiled: an intrinsic that fills in the array struct (data
        pointer, shape, C strides). A Numba ``reshape`` costs ~0.03 s of compile time per call
        site, and ``train_epochs`` had ~30: the intrinsic took ~0.45 s off a cold start. It
        checks no bounds: ``train_epochs`` checks the size of ``ws`` once."""
        codegen = FunctionDef("codegen", ("context", "builder", "sig", "args"), [
            Line("src = context.make_array(a)(context, builder, args[0])"),
            If("isinstance(shape, types.Integer)",
               [Line("dims = [context.cast(builder, args[2], shape, types.intp)]")],
               [Line("values = cgutils.unpack_tuple(builder, args[2], len(shape))"),
                Line("dims = [context.cast(builder, v, t, types.intp) "
                     "for v, t in zip(values, shape)]")]),
            Line("itemsize = context.get_abi_sizeof(context.get_data_type(a.dtype))"),
            Line("strides = [context.get_constant(types.intp, itemsize)]"),
            For("d", "reversed(dims[1:])", [Line("strides.insert(0, builder.mul(strides[0], d))")]),
            Line("start = builder.gep(src.data, [context.cast(builder, args[1], o, types.intp)])"),
            Line("view = context.make_array(ret)(context, builder)"),
            Line("populate_array(view, data=start, shape=dims, strides=strides, "
                 "itemsize=src.itemsize, meminfo=src.meminfo, parent=src.parent)"),
            Line("return impl_ret_borrowed(context, builder, ret, view._getvalue())")])
        return [
            FunctionDef("_view_py", ("a", "o", "shape"), [
                If("not a.flags.c_contiguous",
                   [Line("raise ValueError('_view: the array is not C-contiguous')")]),
                Line("n = math.prod(shape) if isinstance(shape, tuple) else shape"),
                If("o + n > a.size", [
                    Line("raise ValueError(f'_view: elements {o} to {o + n} of an array of "
                         "{a.size}')")]),
                Line("return a.reshape(-1)[o:o + n].reshape(shape)")],
                None, "Elements o, o + 1, ... of the C-contiguous array a, as an array of shape\n"
                "shape (an int or a tuple of ints) sharing its memory."),
            FunctionDef("_view_jit", ("typingctx", "a", "o", "shape"), [
                Line("dims = shape if isinstance(shape, types.BaseTuple) else (shape,)"),
                Line("ok = isinstance(a, types.Array) and a.layout == 'C' and "
                     "isinstance(o, types.Integer)"),
                If("not (ok and all(isinstance(t, types.Integer) for t in dims))", [
                    Line("got = f'{a}; {o}; {shape}'"),
                    Line("raise TypingError('_view(a, o, shape) takes a C-contiguous array and "
                         "ints: got ' + got)")]),
                Comment(("a view of a read-only array is read-only",)),
                Line("ret = types.Array(a.dtype, len(dims), 'C', readonly=not a.mutable)"),
                codegen, Line("return ret(a, o, shape), codegen")], "@intrinsic",
                "_view compiled: the array struct filled in (no reshape to compile; no bounds\n"
                "check: the caller checks them once).")]

    @staticmethod
    def _rows() -> list[FunctionDef]:
        """``_rows(a, lo, hi)``: rows ``lo:hi`` of an array, a view (``a[lo:hi]``), for the
        batched buffers and inputs the passes get. Plain Python: the slice. Compiled: an
        intrinsic that moves the data pointer and sets the row count, where a Numba slice
        compiles its bounds handling at each of ~15 call sites (0.1-0.2 s of a cold start).
        It checks no bounds: its callers pass rows that exist (``train_epochs`` checks that
        ``y`` has the rows of ``x``)."""
        codegen = FunctionDef("codegen", ("context", "builder", "sig", "args"), [
            Line("src = context.make_array(a)(context, builder, args[0])"),
            Line("start, stop = [context.cast(builder, v, t, types.intp) "
                 "for v, t in zip(args[1:], (lo, hi))]"),
            Line("dims = cgutils.unpack_tuple(builder, src.shape, a.ndim)"),
            Line("strides = cgutils.unpack_tuple(builder, src.strides, a.ndim)"),
            Line("data = cgutils.pointer_add(builder, src.data, builder.mul(start, strides[0]))"),
            Line("view = context.make_array(ret)(context, builder)"),
            Line("populate_array(view, data=data, shape=[builder.sub(stop, start), *dims[1:]], "
                 "strides=strides, itemsize=src.itemsize, meminfo=src.meminfo, "
                 "parent=src.parent)"),
            Line("return impl_ret_borrowed(context, builder, ret, view._getvalue())")])
        return [
            FunctionDef("_rows_py", ("a", "lo", "hi"), [Line("return a[lo:hi]")], None,
                        "Rows lo:hi of the array a (a view)."),
            FunctionDef("_rows_jit", ("typingctx", "a", "lo", "hi"), [
                Line("ints = isinstance(lo, types.Integer) and isinstance(hi, types.Integer)"),
                If("not (isinstance(a, types.Array) and ints)", [
                    Line("got = f'{a}; {lo}; {hi}'"),
                    Line("raise TypingError('_rows(a, lo, hi) takes an array and two ints: got ' "
                         "+ got)")]),
                Comment(("rows of a C-contiguous array are C-contiguous; of any other, not",)),
                Line("ret = a if a.layout == 'C' else a.copy(layout='A')"),
                codegen, Line("return ret(a, lo, hi), codegen")], "@intrinsic",
                "_rows compiled: the data pointer moved lo rows on, hi - lo rows (no bounds\n"
                "check: the callers pass rows that exist).")]

    @staticmethod
    def _bind(names) -> If:
        """The names compiled code calls (``_view``, ...) bound to the intrinsics, or to the
        plain-Python forms where the module runs with Numba's JIT disabled. Not ``@overload``:
        an overload compiles a wrapper per argument types (~0.03 s each)."""
        names = list(names)
        lhs = ", ".join(names)
        return If("config.DISABLE_JIT", [Line(f"{lhs} = {', '.join(n + '_py' for n in names)}")],
                  [Line(f"{lhs} = {', '.join(n + '_jit' for n in names)}")])

    def _doc(self) -> str:
        p = self.p
        return (f"Kernels generated by symbp {self.version} from the spec {p.name!r}.\n\n"
                f"spec digest: {p.digest}\n"
                f"target: {self.em.target}, dtype: {self.dtype}\n"
                f"network: {'-'.join(map(str, p.sizes))} ({', '.join(p.activations)}), "
                f"loss {p.loss} ({p.reduction}), optimizer {p.optimizer}\n\n"
                "Generated code: do not edit; regenerate with `symbp codegen`.")

    def _constants(self) -> list[tuple[str, str]]:
        p = self.p
        return [("SPEC_NAME", repr(p.name)), ("SPEC_DIGEST", repr(p.digest)),
                ("SYMBP_VERSION", repr(self.version)), ("TARGET", repr(self.em.target)),
                ("DTYPE", repr(self.dtype)), ("SIZES", repr(p.sizes)),
                ("ACTIVATIONS", repr(p.activations)), ("LOSS", repr(p.loss)),
                ("REDUCTION", repr(p.reduction)), ("PARAMS", repr(p.params)),
                ("OPTIMIZER", repr(p.optimizer)), ("STATE", repr(p.update.state)),
                ("HYPER", repr(p.hyper)), ("USES_T", repr(p.update.uses_t)),
                ("BLAS_MIN_WEIGHTS", repr(BLAS_MIN_WEIGHTS)),
                ("QUANTITIES", repr(p.quantities)),
                ("UPDATE", "1  # train_epochs flags"), ("CHECK", "2"),
                ("_NO_ORDER", "np.empty(0, dtype=np.int64)  # train_epochs on one full batch")]
