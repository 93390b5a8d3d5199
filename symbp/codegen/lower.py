"""Lowering: Derivation -> a small kernel IR (buffers, contractions, fused elementwise loops).

Contract: :func:`lower` reads a :class:`~symbp.derive.Derivation` (its graph, equations, output
error, loss rule and optimizer) and returns a :class:`Program`: the buffers a training step
needs and, per pass, a list of nodes. Nodes carry *what* is computed, never *how it is looped*:

- :class:`Gemm`       ``out[n,j] = sum a[n,.] W[.,j]`` (or ``W[j,.]``), then a fused epilogue of
  scalar assignments per element (bias, activation, activation derivative);
- :class:`Softmax`    row-wise stable softmax of logits;
- :class:`Pointwise`  the output error and/or per-element loss, summed into the loss;
- :class:`SoftmaxLoss` fused softmax cross-entropy per row (log-sum-exp);
- :class:`WeightGrad` ``dW = x^T delta (+ lambda W)`` and ``db = sum_n delta``;
- :class:`Update`     the optimizer's per-element update of one flat parameter.

Scalar parts are SymPy expressions; element reads are :class:`Ref` objects the emitters map to
their own index variables (``row``: ``buf[n, j]``; ``vec``: ``buf[j]``; ``flat``: ``buf[i]``).
Each node keeps the equations it implements (``comment``), one line per derivation equation.
An op without a lowering raises :class:`~symbp.codegen.printer.CodegenError` naming it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from ..graph import Dense, Elementwise, Link, LossOp
from ..rules.activations import X
from ..rules.losses import YHAT, Y, Z
from ..printing.scalar import print_expr
from .printer import CodegenError

#: Layers with at least this many weights (d_in * d_out) use BLAS (one gemm call,
#: ``_matmul`` in the generated module); smaller ones loops.
BLAS_MIN_WEIGHTS = 1024

ACC = sp.Symbol("acc")        # the contraction value inside an epilogue
C = sp.Symbol("c")            # the reduction factor 1/N (absent for reduction "sum")


@dataclass(frozen=True)
class Ref:
    """An element of a buffer: ``row`` -> buf[n, j], ``vec`` -> buf[j], ``flat`` -> buf[i]."""

    buffer: str
    kind: str = "row"


@dataclass(frozen=True)
class Buffer:
    """A work array: (N, cols) when ``rows`` is None, (rows, cols) when fixed, (cols,) when
    ``vector``."""

    name: str
    cols: int
    rows: int | None = None
    vector: bool = False

    @property
    def batched(self) -> bool:
        return self.rows is None


@dataclass
class Gemm:
    out: str
    a: str
    w: str
    transpose_w: bool
    inner: int
    cols: int
    blas: bool
    epilogue: list            # [(Ref or local Symbol, expr)] in ACC, locals, Ref-symbols
    reads: dict               # Symbol -> Ref
    comment: tuple[str, ...]


@dataclass
class Softmax:
    z: str
    yhat: str
    cols: int
    comment: tuple[str, ...]


@dataclass
class Pointwise:
    cols: int
    assigns: list             # [(Ref, expr)]
    loss: sp.Expr | None      # per-element loss, summed
    reads: dict
    comment: tuple[str, ...]


@dataclass
class SoftmaxLoss:
    z: str
    y: str
    cols: int
    delta: tuple | None       # (Ref, expr in yhat-symbol, y-symbol and C) or None
    yhat: str
    reads: dict
    comment: tuple[str, ...]


@dataclass
class WeightGrad:
    dW: str
    db: str
    x: str
    delta: str
    w: str
    inner: int
    cols: int
    blas: bool
    decay: sp.Expr | None
    comment: tuple[str, ...]


@dataclass
class Update:
    assigns: list             # [(Ref or local Symbol, expr)]
    reads: dict
    state: tuple[str, ...]
    hyper: tuple[str, ...]
    uses_t: bool
    comment: tuple[str, ...]
    invariant: frozenset = frozenset()   # hyper-parameters and t: constant over the loop


@dataclass
class Program:
    """Everything an emitter needs; see the module docstring."""

    name: str
    digest: str
    sizes: tuple[int, ...]
    activations: tuple[str, ...]
    loss: str
    reduction: str
    params: tuple[str, ...]
    forward_buffers: list[Buffer] = field(default_factory=list)
    backward_buffers: list[Buffer] = field(default_factory=list)
    grads: list[Buffer] = field(default_factory=list)
    aliases: dict = field(default_factory=dict)          # name -> buffer it shares
    forward: list = field(default_factory=list)
    loss_only: list = field(default_factory=list)         # nodes of loss(): value only
    backward: list = field(default_factory=list)          # output error (with the loss) on
    penalty: tuple[sp.Expr, tuple[str, ...]] | None = None   # (lambda/2, weights)
    update: Update | None = None
    optimizer: str = "sgd"
    state: tuple[str, ...] = ()
    hyper: tuple[tuple[str, float], ...] = ()
    quantities: tuple[str, ...] = ()                      # names in computation order
    output: str = "yhat"

    @property
    def buffers(self) -> dict[str, Buffer]:
        return {b.name: b for b in self.forward_buffers + self.backward_buffers + self.grads}

    def resolve(self, name: str) -> str:
        return self.aliases.get(name, name)


def _comment(d, *targets) -> tuple[str, ...]:
    out = []
    for t in targets:
        eq = next(e for e in d.equations if e.target == t and e.stage != "update")
        out.append(f"{eq.target} = {eq.matrix.plain()}")
    return tuple(out)


def _sym(name: str) -> sp.Symbol:
    return sp.Symbol(name)


def lower(d) -> Program:
    """Lower a derivation to a :class:`Program` (see the module docstring)."""
    spec = d.spec
    ops = d.graph.ops
    loss_op: LossOp = ops[-1]
    rule = loss_op.rule
    sizes = tuple(spec.model.sizes)
    prog = Program(spec.name, spec.digest, sizes,
                   tuple(layer.activation.name for layer in spec.model.layers), rule.name,
                   loss_op.reduction, tuple(d.params))
    for op in ops:
        if not isinstance(op, (Dense, Elementwise, Link, LossOp)):
            raise CodegenError(f"no code lowering for the op {type(op).__name__}")
    dense = [op for op in ops if isinstance(op, Dense)]
    after = {op.z.name: nxt for op, nxt in zip(ops, ops[1:]) if isinstance(op, Dense)}
    last = dense[-1]
    out_z = last.z.name
    oe = d.output_error
    last_act = next((o.act for o in ops if isinstance(o, Elementwise) and o.layer == last.layer),
                    None)
    # log(yhat) and log(1 - yhat) of a sigmoid output are read from the logits (stable_opt)
    log_sigmoid = last_act is not None and last_act.name == "sigmoid" and rule.ell is not None \
        and rule.ell.has(sp.log(YHAT), sp.log(1 - YHAT))
    z_needed_last = rule.link is not None or (oe is not None and oe.has(Z)) or \
        (rule.ell is not None and rule.ell.has(Z)) or log_sigmoid

    # -- forward: one Gemm per layer with its bias and activation fused ------------------------
    quantities = []
    for op in dense:
        nxt = after[op.z.name]
        cols, inner = sizes[op.layer], sizes[op.layer - 1]
        z = sp.Symbol("z")
        epi = [(z, ACC + _sym(op.b.name))]
        reads = {_sym(op.b.name): Ref(op.b.name, "vec")}
        comment = _comment(d, op.z.name)
        act_out = None
        if isinstance(nxt, Elementwise):
            act = nxt.act
            store_z = act.df_out is None or (op is last and z_needed_last)
            if act.is_identity:  # only the last layer: yhat is z itself
                prog.aliases[nxt.a.name] = op.z.name
                store_z = True
            else:
                act_out = (nxt.a.name, act.f.subs(X, z))
            comment += _comment(d, nxt.a.name)
        elif isinstance(nxt, Link):
            store_z = True
            if nxt.kind == "sigmoid":
                act_out = (nxt.yhat.name, 1 / (1 + sp.exp(-z)))
                comment += _comment(d, nxt.yhat.name)
        else:  # a hidden identity layer: the next layer reads z
            store_z = True
        if store_z:
            epi.append((Ref(op.z.name), z))
            prog.forward_buffers.append(Buffer(op.z.name, cols))
            quantities.append(op.z.name)
        if act_out is not None:
            epi.append((Ref(act_out[0]), act_out[1]))
            prog.forward_buffers.append(Buffer(act_out[0], cols))
            quantities.append(act_out[0])
        out = op.z.name if store_z else act_out[0]
        reads[ACC] = Ref(out)
        prog.forward.append(Gemm(out, prog.resolve(op.x.name), op.W.name, False, inner, cols,
                                 inner * cols >= BLAS_MIN_WEIGHTS, epi, reads, comment))
        if isinstance(nxt, Link) and nxt.kind == "softmax":
            prog.forward_buffers.append(Buffer(nxt.yhat.name, cols))
            quantities.append(nxt.yhat.name)
            prog.forward.append(Softmax(op.z.name, nxt.yhat.name, cols,
                                        _comment(d, nxt.yhat.name)))
    if "yhat" in prog.aliases and "yhat" not in quantities:
        quantities.append("yhat")
    quantities.append("L")

    # -- loss and output error ------------------------------------------------------------------
    n_out = sizes[-1]
    yhat, ysym, zsym = _sym("yhat"), _sym("y"), _sym(out_z)
    reads = {yhat: Ref(prog.resolve("yhat")), ysym: Ref("y"), zsym: Ref(out_z)}
    scale = C if loss_op.reduction == "mean" else sp.Integer(1)
    delta_L = f"delta{last.layer}"
    loss_comment = _comment(d, "L")
    if rule.name == "softmax_cross_entropy":
        delta = (Ref(delta_L), scale * oe.subs({YHAT: yhat, Y: ysym}))
        prog.loss_only.append(SoftmaxLoss(out_z, "y", n_out, None, prog.resolve("yhat"), reads,
                                          loss_comment))
        prog.backward.append(SoftmaxLoss(out_z, "y", n_out, delta, prog.resolve("yhat"), reads,
                                         loss_comment + _comment(d, delta_L)))
    else:
        ell = rule.ell
        if log_sigmoid:  # log σ(z) = -log(1 + exp(-z)), log(1 - σ(z)) = -log(1 + exp(z))
            ell = ell.subs({sp.log(YHAT): -sp.log(1 + sp.exp(-Z)),
                            sp.log(1 - YHAT): -sp.log(1 + sp.exp(Z))})
        ell = ell.subs({YHAT: yhat, Y: ysym, Z: zsym}, simultaneous=True)
        prog.loss_only.append(Pointwise(n_out, [], ell, reads, loss_comment))
        err = scale * oe.subs({YHAT: yhat, Y: ysym, Z: zsym}, simultaneous=True)
        prog.backward.append(Pointwise(n_out, [(Ref(delta_L), err)], ell, reads,
                                       loss_comment + _comment(d, delta_L)))
    if loss_op.l2 != 0:
        prog.penalty = (loss_op.l2 / 2, tuple(w.name for w in loss_op.weights))

    # -- backward: output error, then per layer dW, db and the next delta ----------------------
    prog.backward_buffers.append(Buffer(delta_L, n_out))
    quantities.append(delta_L)
    for op in reversed(dense):
        l = op.layer
        cols, inner = sizes[l], sizes[l - 1]
        delta = f"delta{l}"
        decay = loss_op.l2 if loss_op.l2 != 0 else None
        prog.backward.append(WeightGrad("d" + op.W.name, "d" + op.b.name, prog.resolve(op.x.name),
                                        delta, op.W.name, inner, cols,
                                        inner * cols >= BLAS_MIN_WEIGHTS, decay,
                                        _comment(d, "d" + op.W.name, "d" + op.b.name)))
        prog.grads += [Buffer("d" + op.W.name, cols, inner), Buffer("d" + op.b.name, cols, 1, vector=True)]
        quantities += ["d" + op.W.name, "d" + op.b.name]
        if op.x.role == "input":
            continue
        prev = f"delta{l - 1}"
        prev_op = next((o for o in ops if isinstance(o, Elementwise) and o.layer == l - 1), None)
        reads = {ACC: Ref(prev)}
        rhs = ACC
        if prev_op is not None:
            a, zz = _sym(prev_op.a.name), _sym(prev_op.z.name)
            rhs = ACC * prev_op.act.derivative(a, zz)
            reads.update({a: Ref(prev_op.a.name), zz: Ref(prev_op.z.name)})
        prog.backward.append(Gemm(prev, delta, op.W.name, True, cols, inner,
                                  inner * cols >= BLAS_MIN_WEIGHTS, [(Ref(prev), rhs)], reads,
                                  _comment(d, prev)))
        prog.backward_buffers.append(Buffer(prev, inner))
        quantities.append(prev)
    prog.grads.sort(key=lambda b: prog.params.index(b.name[1:]))
    prog.quantities = tuple(quantities)

    # -- update: the optimizer's equations on one flat parameter --------------------------------
    opt = d.optimizer
    prog.optimizer, prog.state = opt.name, tuple(opt.state)
    prog.hyper = tuple((k, float(v)) for k, v in opt.hyper.items())
    prog.update = _lower_update(opt)
    return prog


def _lower_update(opt) -> Update:
    """Per-element ``target <- expr`` in order; later updates read the new values (as locals)."""
    reads = {opt.symbol("p"): Ref("p", "flat"), opt.symbol("g"): Ref("g", "flat")}
    for s in opt.state:
        reads[opt.symbol(s)] = Ref(s, "flat")
    assigns, new, comment = [], {}, []
    t_sym = opt.symbol("t")
    uses_t = False
    for target, expr in opt.updates:
        uses_t = uses_t or expr.has(t_sym)
        comment.append(f"{target} = {print_expr(expr, 'plain')}")
        value = expr.xreplace(new)
        if target == "p":
            assigns.append((Ref("p", "flat"), value))
        else:
            local = sp.Symbol(f"{target}_i")
            assigns.append((local, value))
            assigns.append((Ref(target, "flat"), local))
            new[opt.symbol(target)] = local
    hyper = tuple(opt.hyper)
    invariant = frozenset(opt.symbol(h) for h in hyper) | {t_sym}
    return Update(assigns, reads, tuple(opt.state), hyper, uses_t, tuple(comment), invariant)
