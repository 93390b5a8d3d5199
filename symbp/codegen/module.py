"""Assembling a generated module: Program + emitter -> Python source.

Contract: :func:`generate_source` returns the text of one self-contained module (it imports only
``math``, ``numpy`` and ``numba``) with

- a header docstring (spec name, digest, symbp version, target, dtype) and metadata constants
  (``SIZES``, ``PARAMS``, ``QUANTITIES``, ...) that let the runtime use a cached module without
  SymPy;
- the stable scalar helpers the bodies call (only those);
- internal passes ``_forward``, ``_loss``, ``_backward``, ``_update``, ``_all_finite``,
  ``_first_nonfinite``;
- the public kernels ``forward``, ``loss``, ``loss_and_grad``, ``step`` and ``train_epochs``
  (documented in ``docs/runtime.md``), which allocate their buffers once per call.

The same derivation, target and dtype always give the same bytes.
"""

from __future__ import annotations

import re
from dataclasses import replace

import sympy as sp

from .code import Blank, Comment, For, FunctionDef, If, Line, Module, render
from .lower import Program, lower
from .numba_cpu import CpuEmitter
from .numba_cuda import CudaEmitter
from .numba_parallel import ParallelEmitter
from .printer import HELPERS, NumbaPrinter

EMITTERS = {"cpu": CpuEmitter, "parallel": ParallelEmitter, "cuda": CudaEmitter}
DTYPES = ("float64", "float32")


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
    return render(_ModuleBuilder(prog, em, dtype, __version__).build())


class _ModuleBuilder:
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

    def _alloc(self, names, rows: str = "n_rows") -> list:
        out = []
        for name in names:
            b = self.p.buffers[name]
            shape = f"({rows}, {b.cols})" if b.batched else \
                (f"({b.cols},)" if b.vector else f"({b.rows}, {b.cols})")
            out.append(Line(f"{name} = np.empty({shape}, dtype={self.np_dtype})"))
        return out

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
        return FunctionDef(name, args, head + body, self._decorator(body), doc)

    def _decorator(self, body) -> str:
        """The target's decorator where the body has a prange loop, else the serial one."""
        return self.dec if "prange(" in render(body) else CpuEmitter.decorator

    def _finish_loss(self) -> list:
        out = []
        if self.p.reduction == "mean":
            out.append(Line("L = c * L"))
        if self.p.penalty is not None:
            coef, weights = self.p.penalty
            terms = " + ".join(f"np.dot({w}.reshape(-1), {w}.reshape(-1))" for w in weights)
            out.append(Line(f"L += {self.em.lit(coef)} * ({terms})"))
        return out + [Line("return L")]

    def _update_fn(self) -> FunctionDef:
        u = self.p.update
        body = self.em.emit(u)
        args = ("p", "g", *u.state, *u.hyper, *(("t",) if u.uses_t else ()))
        return FunctionDef("_update", args, body, self._decorator(body),
                           f"{self.p.optimizer} on one flat parameter p with gradient g, in place.")

    def _finite_fns(self) -> list[FunctionDef]:
        inf = "f32(math.inf)" if self.dtype == "float32" else "math.inf"
        all_finite = FunctionDef("_all_finite", ("a",), [
            Line("ok = True"),
            For("i", "range(a.size)", [Line(f"ok &= abs(a[i]) < {inf}")]),
            Line("return ok")], CpuEmitter.decorator,
            "True when every element of the flat array a is finite (nan compares false);\n"
            "an and-reduction, so the loop vectorises (one pass at memory speed).")
        checks = []
        for code, q in enumerate(self.p.quantities):
            test = "not math.isfinite(L)" if q == "L" else \
                f"not _all_finite({self.p.resolve(q)}.reshape(-1))"
            checks.append(If(test, [Line(f"return {code}")]))
        args = tuple(self.p.resolve(q) if q != "L" else "L" for q in self.p.quantities)
        args = tuple(dict.fromkeys(args))
        first = FunctionDef("_first_nonfinite", args, checks + [Line("return -1")], CpuEmitter.decorator,
                            "Index in QUANTITIES of the first non-finite quantity, or -1.")
        return [all_finite, first]

    # -- public kernels ---------------------------------------------------------------------------
    def _fw_call(self, x: str = "x", rows: str = "") -> Line:
        args = [a + rows if a not in self.p.params and a != "x" else (x + rows if a == "x" else a)
                for a in self.fwd.args]
        return Line(f"_forward({', '.join(args)})")

    def _call(self, fn: FunctionDef, rows: str = "", x: str = "x", y: str = "y", c: str = "c",
              assign: str = "L = ") -> Line:
        batched = {b.name for b in self.p.forward_buffers + self.p.backward_buffers}
        args = []
        for a in fn.args:
            if a == "x":
                args.append(x + rows)
            elif a == "y":
                args.append(y + rows)
            elif a == "c":
                args.append(c)
            elif a in batched:
                args.append(a + rows)
            else:
                args.append(a)
        return Line(f"{assign}{fn.name}({', '.join(args)})")

    def _updates(self, hyper_args: str) -> list:
        out = []
        for name in self.p.params:
            state = "".join(f", {s}_{name}.reshape(-1)" for s in self.p.update.state)
            out.append(Line(f"_update({name}.reshape(-1), d{name}.reshape(-1){state}{hyper_args})"))
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
        fbufs = [b.name for b in p.forward_buffers]
        bbufs = [b.name for b in p.backward_buffers]
        grads = [b.name for b in p.grads]
        params = list(p.params)
        state = [f"{s}_{name}" for s in p.update.state for name in params]
        hyper = [h for h, _ in p.hyper]
        t_arg = ["t"] if p.update.uses_t else []
        hyper_call = "".join(f", {h}" for h in hyper) + (", t" if t_arg else "")
        scale = self._scale()
        c_line = [Line(f"c = {scale}")] if scale else []
        out_name = p.resolve(p.output)

        forward = FunctionDef("forward", (*params, "x"), [
            Line("n_rows = x.shape[0]"), *self._alloc(fbufs), self._fw_call(),
            Line(f"return {out_name}")], self.dec,
            "The network's prediction yhat for inputs x (n_rows, d0).")
        loss = FunctionDef("loss", (*params, "x", "y"), [
            Line("n_rows = x.shape[0]"), *self._alloc(fbufs), *c_line, self._fw_call(),
            self._call(loss_fn, assign="return ")], self.dec, "The loss L on (x, y).")
        lag = FunctionDef("loss_and_grad", (*params, "x", "y"), [
            Line("n_rows = x.shape[0]"), *self._alloc(fbufs + bbufs + grads), *c_line,
            self._fw_call(), self._call(back), Line(f"return L, {', '.join(grads)}")], self.dec,
            "The loss and its gradient with respect to every parameter, at (x, y).")
        step = FunctionDef("step", (*params, *state, "x", "y", *hyper, *t_arg), [
            Line("n_rows = x.shape[0]"), *self._alloc(fbufs + bbufs + grads), *c_line,
            self._fw_call(), self._call(back), *self._updates(hyper_call), Line("return L")],
            self.dec, "One optimizer step on (x, y), in place; returns the loss before the step.")
        train = self._train(params, state, hyper, t_arg, fbufs, bbufs, grads, back, hyper_call)
        helpers = [self._helper(name) for name in HELPERS if name in em.helpers]
        defs = [self.fwd, loss_fn, back, update, *finite, forward, loss, lag, step, train]
        defs = [replace(f, decorator=self._decorator(f.body)) for f in defs]
        mod = Module(self._doc(), list(em.imports), self._constants(), helpers + defs)
        if self.dtype == "float32":
            mod.imports.append("")
            mod.imports.append("f32 = np.float32")
        return mod

    def _train(self, params, state, hyper, t_arg, fbufs, bbufs, grads, back, hyper_call):
        p = self.p
        rows = "[:m]"
        gather = [If("shuffle", [
            For("r", "range(m)", [Line("src = order[start + r]"),
                                  Line("xb[r, :] = x[src, :]"), Line("yb[r, :] = y[src, :]")])])]
        scale = self._scale("m")
        check_args = ", ".join((p.resolve(q) + (rows if p.resolve(q) in fbufs + bbufs else ""))
                               if q != "L" else "L" for q in dict.fromkeys(
                                   p.resolve(q) if q != "L" else "L" for q in p.quantities))
        finite = [Line("finite = math.isfinite(L)")] + \
            [Line(f"finite = finite and _all_finite({g}.reshape(-1))") for g in grads]
        step_body = [
            Line("start = s * batch"), Line("m = min(batch, n_total - start)"), *gather,
            *([Line(f"c = {scale}")] if scale else []),
            self._call_rows("_forward", self.fwd.args, rows),
            self._call(back, rows, x="xb", y="yb"),
            *finite,
            If("not finite", [
                Line(f"return t, epoch, s, _first_nonfinite({check_args})")]),
            Line("t += 1"), *self._updates(hyper_call), Line("total += L")]
        epoch_body = [
            Line("epoch = start_epoch + e"),
            If("shuffle", [
                Line("np.random.seed((seed * 1000003 + epoch) % 4294967296)"),
                Line("order = np.random.permutation(n_total)")]),
            Line("total = 0.0"),
            For("s", "range(steps)", step_body),
            Line("losses[e] = total / steps")]
        body = [
            Line("n_total = x.shape[0]"), Line("batch = min(batch_size, n_total)"),
            Line("steps = (n_total + batch - 1) // batch"),
            Comment(("one full batch: the mean gradient does not depend on the row order, "
                     "so the rows are", "read in place (no shuffle, no copy)")),
            Line("shuffle = batch < n_total"),
            Line("order = np.arange(n_total)"),
            Line(f"xb = np.empty((batch, {p.sizes[0]}), dtype={self.np_dtype}) if shuffle else x"),
            Line(f"yb = np.empty((batch, {p.sizes[-1]}), dtype={self.np_dtype}) if shuffle else y"),
            *self._alloc(fbufs + bbufs + grads, "batch"),
            For("e", "range(n_epochs)", epoch_body, comment="epochs: shuffle with a seed derived "
                "from (seed, epoch), so resuming at any epoch is exact"),
            Line("return t, -1, -1, -1")]
        return FunctionDef(
            "train_epochs", (*params, *state, "x", "y", *hyper, "t", "batch_size", "n_epochs",
                             "seed", "start_epoch", "losses"), body, self.dec,
            "Minibatch training, in place, for n_epochs epochs from start_epoch.\n\n"
            "Writes each epoch's mean minibatch loss to losses[e]. t counts optimizer steps.\n"
            "Stops before the first update whose loss or gradients are not finite and\n"
            "returns (t, epoch, step, index in QUANTITIES of the first non-finite\n"
            "quantity); returns (t, -1, -1, -1) when every step was finite.")

    def _call_rows(self, name, args, rows) -> Line:
        batched = {b.name for b in self.p.forward_buffers + self.p.backward_buffers}
        out = [("xb" + rows if a == "x" else "yb" + rows if a == "y" else
                a + rows if a in batched else a) for a in args]
        return Line(f"{name}({', '.join(out)})")

    def _helper(self, name: str) -> FunctionDef:
        h = HELPERS[name]
        pr = NumbaPrinter({"dtype": self.dtype})
        body = [Line(f"{s} = {pr.doprint(e)}") for s, e in h.locals]
        body.append(Line(f"return {pr.doprint(h.result)}"))
        return FunctionDef(name, ("x",), body, CpuEmitter.decorator, h.doc)

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
                ("QUANTITIES", repr(p.quantities))]
