"""Assembling the generated module of the ``cuda`` target: kernels + a host wrapper class.

Contract: :func:`build` returns the code AST of one self-contained module (``math``, ``numpy``,
``numba`` and ``numba-cuda``) with the header and metadata constants of the cpu module
(:class:`~symbp.codegen.module._ModuleBuilder`), and

- the stable scalar helpers as ``@cuda.jit(device=True)`` functions, and the kernels of
  :class:`~symbp.codegen.numba_cuda.CudaEmitter` (``_k_z1``, ``_k_delta2``, ``_k_dW1``, ...);
- ``_order``: the cpu target's shuffle of an epoch (the same ``@njit`` function, the same
  generator seeded from ``(seed, epoch)``), so both targets visit the same minibatches;
- ``DeviceModel``: parameters and optimizer state copied to the device once, work buffers
  allocated once per batch size, ``forward``, ``loss``, ``loss_and_grad`` (gradients copied back
  only when asked), ``step``, ``train_epochs`` (the whole data set copied once; the host launches
  the kernels of each minibatch) and ``pull`` (copy back into host arrays, in place);
- ``forward``, ``loss``, ``loss_and_grad``, ``step`` and ``train_epochs`` with the signatures of
  the cpu module's kernels (host arrays in, host arrays updated in place), so
  :class:`~symbp.runtime.CompiledModel` drives either module the same way.

The same derivation and dtype always give the same bytes.
"""

from __future__ import annotations

from .code import ClassDef, Comment, For, FunctionDef, If, Line, Module
from .lower import Program
from .module import _ModuleBuilder, order_fn
from .numba_cuda import TILE, CudaEmitter, Kernel
from .printer import HELPERS, NumbaPrinter

BLOCK_1D = 128    # threads per block of 1-D launches (rows, flat parameters)
BLOCK_2D = 16     # threads per block side of 2-D launches ((row, unit), (input, unit))


class CudaModuleBuilder(_ModuleBuilder):
    """See the module docstring."""

    def __init__(self, prog: Program, em: CudaEmitter, dtype: str, version: str):
        super().__init__(prog, em, dtype, version)
        p = prog
        em.candidates = ("x", "y", *p.params, *(b.name for b in p.forward_buffers),
                         *(b.name for b in p.backward_buffers), *(b.name for b in p.grads),
                         "lrow", "status", "c", "n_rows")
        self.mean = p.reduction == "mean"
        self.c_arg = ("c",) if self.mean else ()
        self.hyper = tuple(h for h, _ in p.hyper)
        self.t_arg = ("t",) if p.update.uses_t else ()
        self.state = [f"{s}_{name}" for s in p.update.state for name in p.params]
        self.shapes = {}
        for l in range(1, len(p.sizes)):
            self.shapes[f"W{l}"] = (p.sizes[l - 1], p.sizes[l])
            self.shapes[f"b{l}"] = (p.sizes[l],)

    def _size(self, name: str) -> int:
        shape = self.shapes[name]
        return shape[0] * (shape[1] if len(shape) > 1 else 1)

    # -- launches ----------------------------------------------------------------------------------
    def _host(self, name: str) -> str:
        local = {"x", "y", "c", "n_rows", "t", "order", "start", "m", *self.hyper}
        return name if name in local else f"self.{name}"

    def _launch(self, k: Kernel, args=None, size: int | None = None) -> Line:
        if k.grid == ("1",):
            conf = "1, 1"
        elif k.grid == ("size",):
            conf = f"_grid1({size})"
        elif len(k.grid) == 1:
            conf = f"_grid1({k.grid[0]})"
        elif k.tiled:
            conf = f"_tiles({k.grid[0]}, {k.grid[1]})"
        else:
            conf = f"_grid2({k.grid[0]}, {k.grid[1]})"
        args = args if args is not None else [self._host(a) for a in k.args]
        return Line(f"{k.name}[{conf}]({', '.join(args)})")

    def _pipeline(self, kernels: list[Kernel], nodes) -> list:
        out = []
        for k, node in zip(kernels, nodes):
            out += [Comment(node.comment), self._launch(k)]
        return out

    # -- the module --------------------------------------------------------------------------------
    def build(self) -> Module:
        p, em = self.p, self.em
        fwd = [em.emit(n) for n in p.forward]
        loss_only = [em.emit(n) for n in p.loss_only]
        back = [em.emit(n) for n in p.backward]
        total = em.loss_total(self.mean, p.penalty, self.shapes)
        update_one = em.emit(p.update)
        updates = em.update_all(p.update, [(name, self._size(name)) for name in p.params])
        grads = [(f"{g.name}_flat", self._size(g.name[1:])) for g in p.grads]
        nonfinite = em.nonfinite(grads)
        gather = em.gather(p.sizes[0], p.sizes[-1])
        kernels = [*fwd, *loss_only, *back, total, *updates, nonfinite, gather]
        helpers = [self._helper(name) for name in HELPERS if name in em.helpers]
        defs = [*helpers, update_one, *(k.fn for k in kernels), self._order_fn(),
                *self._host_helpers(),
                self._device_model(fwd, loss_only, back, total, updates, nonfinite, gather),
                *self._functions()]
        consts = self._constants() + [("BLOCK_1D", str(BLOCK_1D)), ("BLOCK_2D", str(BLOCK_2D)),
                                      ("TILE", str(TILE)), ("TILE_PAD", str(TILE + 1))]
        mod = Module(self._doc(), list(em.imports), consts, defs)
        if self.dtype == "float32":
            mod.imports += ["", "f32 = np.float32"]
        return mod

    def _helper(self, name: str) -> FunctionDef:
        h = HELPERS[name]
        pr = NumbaPrinter({"dtype": self.dtype})
        body = [Line(f"{s} = {pr.doprint(e)}") for s, e in h.locals]
        body.append(Line(f"return {pr.doprint(h.result)}"))
        return FunctionDef(name, ("x",), body, self.em.device_decorator, h.doc)

    def _order_fn(self) -> FunctionDef:
        return order_fn("@njit(cache=True)")

    def _host_helpers(self) -> list[FunctionDef]:
        return [
            FunctionDef("_grid1", ("size",), [
                Line("threads = max(1, min(BLOCK_1D, size))"),
                Line("return max(1, (size + threads - 1) // threads), threads")],
                doc="(blocks, threads) of a 1-D launch over size elements."),
            FunctionDef("_grid2", ("rows", "cols"), [
                Line("tx = max(1, min(BLOCK_2D, rows))"),
                Line("ty = max(1, min(BLOCK_2D, cols))"),
                Line("return (max(1, (rows + tx - 1) // tx), (cols + ty - 1) // ty), (tx, ty)")],
                doc="(blocks, threads) of a 2-D launch over a rows x cols grid."),
            FunctionDef("_tiles", ("rows", "cols"), [
                Line("blocks = (max(1, (rows + TILE - 1) // TILE), max(1, (cols + TILE - 1) // TILE))"),
                Line("return blocks, (TILE, TILE)")],
                doc="(blocks, threads) of a tiled kernel over a rows x cols output: TILE x TILE\n"
                    "threads, x along the columns; the grid's x counts row tiles (its y is\n"
                    "capped at 65535 blocks)."),
            FunctionDef("_finite", ("a",), [
                Line("return bool(np.isfinite(a.copy_to_host()).all())")],
                doc="True when every element of the device array a is finite.")]

    def _scale(self, rows: str = "n_rows") -> str:
        """The mean's 1/rows; nan over zero rows (the cpu target's 0 * inf), not a host
        ZeroDivisionError."""
        scale = super()._scale(rows)
        if not scale:
            return ""
        nan = "f32(math.nan)" if self.dtype == "float32" else "math.nan"
        return f"{scale} if {rows} else {nan}"

    def _scale_line(self, rows: str) -> list:
        scale = self._scale(rows)
        return [Line(f"c = {scale}")] if scale else []

    # -- DeviceModel -------------------------------------------------------------------------------
    def _device_model(self, fwd, loss_only, back, total, updates, nonfinite, gather) -> ClassDef:
        p = self.p
        params, np_dt = list(p.params), self.np_dtype
        bufs = p.forward_buffers + p.backward_buffers
        init = [Line(f"({', '.join('self.' + n for n in params)}) = "
                     "[cuda.to_device(a) for a in params]")]
        for g in p.grads:
            init.append(Line(f"self.{g.name} = cuda.device_array({self.shapes[g.name[1:]]}, "
                             f"dtype={np_dt})"))
        for name in params:
            init.append(Line(f"self.{name}_flat = self.{name}.reshape({self._size(name)})"))
            init.append(Line(f"self.d{name}_flat = self.d{name}.reshape({self._size(name)})"))
        if self.state:
            up = [Line(f"({', '.join('self.' + s for s in self.state)}) = "
                       "[cuda.to_device(a) for a in state]")]
            up += [Line(f"self.{s}_flat = self.{s}.reshape({self._size(s.split('_', 1)[1])})")
                   for s in self.state]
            init.append(If("len(state)", up))
        init += [Line("self.status = cuda.to_device(np.zeros(2))"),
                 Line("self.host_status = np.zeros(2)"), Line("self.rows = 0")]
        alloc = [Line("rows = max(rows, 1)"), If("rows <= self.rows", [Line("return")]),
                 Line("self.rows = rows")]
        for b in bufs:
            alloc.append(Line(f"self.{b.name} = cuda.device_array((rows, {b.cols}), dtype={np_dt})"))
        alloc.append(Line(f"self.lrow = cuda.device_array(rows, dtype={np_dt})"))

        local = {*self.hyper, *self.t_arg}
        upd = [self._launch(k, [a if a in local else f"self.{a}" for a in k.args]) for k in updates]
        check = [self._launch(nonfinite, [f"self.{a}" for a in nonfinite.args])]
        status = [Line("self.status.copy_to_host(self.host_status)"),
                  Line("return float(self.host_status[0]), self.host_status[1] == 0.0")]
        out_name = p.resolve(p.output)
        check_x, check_y = self._shape_checks()
        data = [check_x, check_y, Line("n_rows = x.shape[0]"), *self._scale_line("n_rows"),
                Line("self._allocate(n_rows)"), Line("x = cuda.to_device(x)")]
        data_x = [check_x, Line("n_rows = x.shape[0]"), *data[-2:]]
        cy = ("y", "n_rows", *self.c_arg)
        methods = [
            FunctionDef("__init__", ("self", "params", "state=()"), init),
            FunctionDef("_allocate", ("self", "rows"), alloc,
                        doc="Work buffers for batches of up to rows rows, kept between calls."),
            FunctionDef("_forward", ("self", "x", "n_rows"), self._pipeline(fwd, p.forward),
                        doc="Forward pass on the first n_rows rows of the device array x."),
            FunctionDef("_loss", ("self", *cy), [
                *self._pipeline(loss_only, p.loss_only), self._launch(total)],
                doc="The loss into status[0] (after _forward)."),
            FunctionDef("_backward", ("self", "x", *cy), [
                *self._pipeline(back, p.backward), self._launch(total)],
                doc="Output error, backward pass and gradients; the loss into status[0]."),
            FunctionDef("_check", ("self",), check,
                        doc="status[1] = 1 when a gradient has a non-finite element."),
            FunctionDef("_update", ("self", *self.hyper, *self.t_arg), [Comment(p.update.comment),
                                                                         *upd],
                        doc=f"{p.optimizer} on every parameter, in place."),
            FunctionDef("_status", ("self",), status,
                        doc="(loss, True when no gradient element was flagged non-finite)."),
            FunctionDef("pull", ("self", "params", "state=()"), [
                Line(f"device = {_tuple('self.' + n for n in params)}"),
                For("a, host", "zip(device, params)", [Line("a.copy_to_host(host)")]),
                *([Line(f"device = {_tuple('self.' + s for s in self.state)}"),
                   For("a, host", "zip(device, state)", [Line("a.copy_to_host(host)")])]
                  if self.state else [])],
                doc="Copy the parameters (and the optimizer state) into host arrays, in place."),
            FunctionDef("forward", ("self", "x"), [
                *data_x, Line("self._forward(x, n_rows)"),
                Line(f"return self.{out_name}[:n_rows].copy_to_host()")],
                doc="The prediction yhat for host inputs x (n_rows, d0)."),
            FunctionDef("loss", ("self", "x", "y"), [
                *data, Line("self._forward(x, n_rows)"),
                Line(f"self._loss(cuda.to_device(y), n_rows{', c' if self.mean else ''})"),
                Line("return self._status()[0]")], doc="The loss L on host arrays (x, y)."),
            FunctionDef("loss_and_grad", ("self", "x", "y", "grads=True"), [
                *data, Line("self._forward(x, n_rows)"),
                Line(f"self._backward(x, cuda.to_device(y), n_rows{', c' if self.mean else ''})"),
                Line("L = self._status()[0]"),
                If("not grads", [Line("return L, None")]),
                Line(f"device = {_tuple('self.' + g.name for g in p.grads)}"),
                Line("return L, [g.copy_to_host() for g in device]")],
                doc="(L, gradients as host arrays in PARAMS order), or (L, None): the gradients\n"
                    "stay on the device unless grads."),
            FunctionDef("step", ("self", "x", "y", *self.hyper, *self.t_arg), [
                *data, Line("self._forward(x, n_rows)"),
                Line(f"self._backward(x, cuda.to_device(y), n_rows{', c' if self.mean else ''})"),
                Line(f"self._update({', '.join((*self.hyper, *self.t_arg))})"),
                Line("return self._status()[0]")],
                doc="One optimizer step on host arrays (x, y); returns the loss before it."),
            self._train_method(gather),
            self._first_nonfinite()]
        return ClassDef("DeviceModel", methods,
                        "Parameters, optimizer state and work buffers resident on the device.\n\n"
                        "params: host arrays in PARAMS order; state: host arrays of the optimizer "
                        "state\n(" + ", ".join(self.state[:3] + (["..."] if len(self.state) > 3
                                                                else [])) +
                        ") or () when no step is taken. The device copies\nchange only through "
                        "step and train_epochs; pull() copies them back.")

    def _shape_checks(self) -> tuple[If, If]:
        """ValueError unless x is (rows, d0) and y (the same rows, dL): the kernels index
        without bounds checks, so the host checks first (as the cpu module's kernels do)."""
        d0, dL = self.p.sizes[0], self.p.sizes[-1]
        return (If(f"x.ndim != 2 or x.shape[1] != {d0}", [
                    Line(f'raise ValueError("x needs 2 dimensions and {d0} columns")')]),
                If(f"y.ndim != 2 or y.shape[0] != x.shape[0] or y.shape[1] != {dL}", [
                    Line(f'raise ValueError("y needs the rows of x and {dL} columns")')]))

    def _train_method(self, gather: Kernel) -> FunctionDef:
        p = self.p
        c = ", c" if self.mean else ""
        step = [
            Line("start = s * batch"), Line("m = min(batch, n_total - start)"),
            If("shuffle", [self._launch(gather, ["x", "y", "order", "start", "m", "self.xb",
                                                 "self.yb"])]),
            *self._scale_line("m"),
            Line("self._forward(self.xb, m)"), Line(f"self._backward(self.xb, self.yb, m{c})"),
            Line("self._check()"), Line("L, finite = self._status()"),
            If("not (finite and math.isfinite(L))", [
                Line("return t, epoch, s, self._first_nonfinite(m, L)")]),
            Line("t += 1"), Line(f"self._update({', '.join((*self.hyper, *self.t_arg))})"),
            Line("total += L")]
        epoch = [Line("epoch = start_epoch + e"),
                 If("shuffle", [Line("_order(seed, epoch, order_h)"),
                                Line("order = cuda.to_device(order_h)")]),
                 Line("total = 0.0"), For("s", "range(steps)", step),
                 Line("losses[e] = total / steps")]
        body = [*self._shape_checks(),
                # the cpu module's argument checks, before anything runs on the device
                If("x.shape[0] == 0", [Line('raise ValueError("x has no rows")')]),
                If("batch_size < 1", [Line('raise ValueError("batch_size must be at least 1")')]),
                If("len(losses) < n_epochs", [
                    Line('raise ValueError("losses needs one element per epoch")')]),
                Line("n_total = x.shape[0]"), Line("batch = min(batch_size, n_total)"),
                Line("steps = (n_total + batch - 1) // batch"),
                Line("x = cuda.to_device(x)"), Line("y = cuda.to_device(y)"),
                Line("self._allocate(batch)"),
                Comment(("one full batch is read in place, unshuffled, as on the cpu target",)),
                Line("shuffle = batch < n_total"),
                Line("order = None"), Line("order_h = np.empty(n_total, dtype=np.int64)"),
                Line("self.xb, self.yb = x, y"),
                If("shuffle", [
                    Line(f"self.xb = cuda.device_array((batch, {p.sizes[0]}), "
                         f"dtype={self.np_dtype})"),
                    Line(f"self.yb = cuda.device_array((batch, {p.sizes[-1]}), "
                         f"dtype={self.np_dtype})")]),
                For("e", "range(n_epochs)", epoch, comment="epochs: the cpu target's shuffle, "
                    "so both targets visit the same minibatches"),
                Line("return t, -1, -1, -1")]
        return FunctionDef(
            "train_epochs", ("self", "x", "y", *self.hyper, "t", "batch_size", "n_epochs", "seed",
                             "start_epoch", "losses"), body,
            doc="Minibatch training of the device copies (see the cpu module's train_epochs):\n"
                "losses[e] gets epoch e's mean minibatch loss; returns (t, -1, -1, -1), or\n"
                "(t, epoch, step, index in QUANTITIES) at the first non-finite loss or gradient,\n"
                "before its update.")

    def _first_nonfinite(self) -> FunctionDef:
        p = self.p
        batched = {b.name for b in p.forward_buffers + p.backward_buffers}
        checks = []
        for code, q in enumerate(p.quantities):
            name = p.resolve(q)
            test = "not math.isfinite(L)" if q == "L" else \
                f"not _finite(self.{name}{'[:m]' if name in batched else ''})"
            checks.append(If(test, [Line(f"return {code}")]))
        return FunctionDef("_first_nonfinite", ("self", "m", "L"), checks + [Line("return -1")],
                           doc="Index in QUANTITIES of the first non-finite quantity, or -1.")

    # -- the cpu module's entry points ---------------------------------------------------------------
    def _functions(self) -> list[FunctionDef]:
        p = self.p
        params = list(p.params)
        plist, slist = _tuple(params), _tuple(self.state)
        hyper = (*self.hyper, *self.t_arg)
        train_args = (*self.hyper, "t", "batch_size", "n_epochs", "seed", "start_epoch", "losses")
        return [
            FunctionDef("forward", (*params, "x"), [
                Line(f"return DeviceModel({plist}).forward(x)")],
                doc="The network's prediction yhat for inputs x (n_rows, d0)."),
            FunctionDef("loss", (*params, "x", "y"), [
                Line(f"return DeviceModel({plist}).loss(x, y)")], doc="The loss L on (x, y)."),
            FunctionDef("loss_and_grad", (*params, "x", "y"), [
                Line(f"L, grads = DeviceModel({plist}).loss_and_grad(x, y)"),
                Line("return (L, *grads)")],
                doc="The loss and its gradient with respect to every parameter, at (x, y)."),
            FunctionDef("step", (*params, *self.state, "x", "y", *hyper), [
                Line(f"dev = DeviceModel({plist}, {slist})"),
                Line(f"L = dev.step(x, y, {', '.join(hyper)})"),
                Line(f"dev.pull({plist}, {slist})"), Line("return L")],
                doc="One optimizer step on (x, y), in place; returns the loss before the step."),
            FunctionDef("train_epochs", (*params, *self.state, "x", "y", *train_args), [
                Line(f"dev = DeviceModel({plist}, {slist})"),
                Line(f"out = dev.train_epochs(x, y, {', '.join(train_args)})"),
                Line(f"dev.pull({plist}, {slist})"), Line("return out")],
                doc="Minibatch training, in place (see DeviceModel.train_epochs): parameters\n"
                    "and state are copied to the device once and back once.")]


def _tuple(names) -> str:
    """Source of a tuple of names: ``(a, b)``, ``(a,)``, ``()``."""
    names = list(names)
    return f"({names[0]},)" if len(names) == 1 else f"({', '.join(names)})"


def build(prog: Program, dtype: str, version: str) -> Module:
    """The code AST of the cuda module of ``prog`` (see the module docstring)."""
    return CudaModuleBuilder(prog, CudaEmitter(dtype, tuple(h for h, _ in prog.hyper)), dtype,
                             version).build()
