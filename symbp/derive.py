"""The symbolic reverse sweep: Graph -> Derivation.

Contract: :func:`derive` walks the graph's ops in reverse and applies one vector-Jacobian rule per
op kind (:data:`VJP_RULES`). Adjoints travel as *pending* expressions (a function of the index
symbols plus the matching matrix form) and are materialised as named deltas ``delta_l = dL/dz_l``
where the textbook names them. Scalar parts (activation and loss derivatives) come from
``sympy.diff`` inside the rules; the contraction rule is the einsum transpose rule. Work per layer
is constant: the sweep never creates one symbol per weight, so derivation time is linear in
depth and independent of widths.

Each :class:`Equation` carries the index form (a SymPy expression in ``Indexed`` objects and
``Sum``), the matrix form (:mod:`symbp.matrix`) and its chain-rule justification.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import sympy as sp

from .graph import N, Dense, Elementwise, Graph, Link, LossOp, Tensor, build_graph
from .matrix import Apply, Elem, IndexForm, M, MatMul, MNode, SumRows, T
from .rules.activations import A, X
from .rules.losses import YHAT, Y, Z
from .rules.optimizers import ETA, Optimizer, make_optimizer

n, i, j, k = sp.symbols("n i j k", integer=True)
LAMBDA = sp.Symbol("lambda", nonnegative=True)

#: Stages of a derivation, in print order.
STAGES = ("forward", "loss", "output_error", "backward", "gradient", "update")


@dataclass(frozen=True)
class Equation:
    """One line of the derivation: ``target[indices] = rhs``.

    Attributes:
        stage: one of :data:`STAGES`.
        target: name of the tensor defined (``z1``, ``delta2``, ``dW1``, ``W1`` for updates).
        indices: index symbols of the left-hand side (empty for the scalar loss).
        rhs: index form, a SymPy expression in ``Indexed`` tensors and ``Sum``.
        matrix: the same equation in matrix form.
        why: the chain-rule justification, in words.
        layer: the layer the equation belongs to, if any.
    """

    stage: str
    target: str
    indices: tuple[sp.Symbol, ...]
    rhs: sp.Expr
    matrix: MNode
    why: str
    layer: int | None = None

    @property
    def lhs(self) -> sp.Expr:
        if not self.indices:
            return sp.Symbol(self.target)
        return sp.IndexedBase(self.target)[self.indices]


@dataclass
class Adjoint:
    """A pending adjoint ``dL/dt``: index form as a function of the indices, and matrix form."""

    index: Callable[..., sp.Expr]
    matrix: MNode
    why: str
    origin: str = "backward"  # "output_error" when seeded by the loss
    fused: bool = False


@dataclass
class Derivation:
    """The full derivation of a spec: forward pass, loss, backward pass, gradients, update.

    Attributes:
        spec: the :class:`~symbp.spec.Spec` derived.
        graph: its :class:`~symbp.graph.Graph`.
        equations: ordered equations (see :data:`STAGES`).
        assumptions: assumptions the printed forms rest on (one-hot targets, ...).
        warnings: ill-posed combinations found (a ReLU output fed to a log, ...).
        output_error: dL/dz_L per element without the reduction factor, a SymPy expression in
            the scalar symbols ``yhat``, ``y`` and ``z`` (``yhat - y`` for fused losses).
    """

    spec: object
    graph: Graph
    equations: list[Equation] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    output_error: sp.Expr | None = None
    optimizer: Optimizer = field(default_factory=lambda: make_optimizer("sgd"))

    # -- queries -----------------------------------------------------------------------------
    def stage(self, name: str) -> list[Equation]:
        """The equations of one stage, in order."""
        return [e for e in self.equations if e.stage == name]

    def equation(self, target: str, stage: str | None = None) -> Equation:
        """The equation defining ``target`` (in ``stage`` if given)."""
        for e in self.equations:
            if e.target == target and (stage is None or e.stage == stage):
                return e
        raise KeyError(target)

    @property
    def params(self) -> list[str]:
        return [t.name for t in self.graph.params]

    @property
    def loss_scale(self) -> sp.Expr:
        return self.loss_op.scale

    @property
    def loss_op(self) -> LossOp:
        return self.graph.ops[-1]

    # -- printing (see symbp.printing.document) ----------------------------------------------
    def to_text(self, form: str = "both", width: int = 80) -> str:
        from .printing.document import render_text

        return render_text(self, form=form, width=width)

    def to_latex(self, form: str = "both", standalone: bool = False) -> str:
        from .printing.document import render_latex

        return render_latex(self, form=form, standalone=standalone)

    def to_markdown(self, form: str = "both") -> str:
        from .printing.document import render_markdown

        return render_markdown(self, form=form)

    def to_json(self) -> str:
        from .printing.document import render_json

        return render_json(self)

    def to_mermaid(self) -> str:
        from .printing.mermaid import render_mermaid

        return render_mermaid(self)

    def compile(self, target: str = "cpu", dtype: str = "float64"):
        """Compile the derivation with Numba (see :func:`symbp.runtime.compile_derivation`)."""
        from .runtime import compile_derivation

        return compile_derivation(self, target=target, dtype=dtype)

    def _repr_latex_(self) -> str:
        from .printing.document import render_latex_body

        return render_latex_body(self, form="matrix", display="$$")

    def __str__(self) -> str:
        return self.to_text()


# --- the sweep --------------------------------------------------------------------------------

def derive(spec, optimizer: str | None = None) -> Derivation:
    """Derive every gradient of ``spec`` symbolically.

    Args:
        spec: a :class:`~symbp.spec.Spec` (see :func:`symbp.load_spec`).
        optimizer: ``sgd``, ``momentum`` or ``adam`` for the update equations; default: the
            spec's ``[train] optimizer``, else ``sgd``.

    Returns:
        The :class:`Derivation`.
    """
    DERIVE_CALLS[0] += 1
    g = build_graph(spec)
    if optimizer is None:
        optimizer = (spec.section("train") or {}).get("optimizer", "sgd")
    d = Derivation(spec, g, optimizer=make_optimizer(optimizer))
    for op in g.ops:
        d.equations.extend(FORWARD_RULES[type(op)](op, d))
    pending: dict[str, Adjoint] = {}
    for op in reversed(g.ops):
        d.equations.extend(VJP_RULES[type(op)](op, pending, d))
    for p in g.params:
        d.equations.extend(_update_equations(d.optimizer, p))
    d.warnings.extend(_ill_posed(spec))
    return d


#: How many times :func:`derive` ran in this process (the cache tests assert a warm start is 0).
DERIVE_CALLS = [0]


def _update_equations(opt: Optimizer, p: Tensor) -> list[Equation]:
    """The optimizer's per-element updates for parameter ``p``, in index and matrix form."""
    idx = (i, j) if len(p.dims) == 2 else (j,)
    names = {"p": p.name, "g": "d" + p.name, **{st: f"{st}_{p.name}" for st in opt.state}}
    index_subs = {opt.symbol(k): sp.IndexedBase(v)[idx] for k, v in names.items()}
    matrix_subs = {opt.symbol(k): sp.Symbol(v) for k, v in names.items()}
    eqs = []
    for target, expr in opt.updates:
        with sp.evaluate(False):
            rhs = expr.xreplace(index_subs)
            mat = expr.xreplace(matrix_subs)
        why = f"{opt.text}: " + ("step against the gradient" if target == "p" else
                                 f"update the {target} state")
        eqs.append(Equation("update", names[target], idx, rhs, Elem(mat), why, p.layer))
    return eqs


# forward rules -----------------------------------------------------------------------------

def _forward_dense(op: Dense, d: Derivation) -> list[Equation]:
    # z[n,j] = sum_i x[n,i] W[i,j] + b[j]
    rhs = _add(sp.Sum(_mul(op.x[n, i], op.W[i, j]), (i, 1, op.W.dims[0])), op.b[j])
    mat = Elem(sp.Symbol("_xW") + sp.Symbol(op.b.name), ((sp.Symbol("_xW"), MatMul(M(op.x.name), M(op.W.name))),))
    return [Equation("forward", op.z.name, (n, j), rhs, mat,
                     f"layer {op.layer}: affine map of the previous activations", op.layer)]


def _forward_elementwise(op: Elementwise, d: Derivation) -> list[Equation]:
    # a[n,j] = f(z[n,j])
    rhs = op.act.apply(op.z[n, j]) if op.act.name == "custom" or op.act.is_identity \
        else sp.Function(op.act.name)(op.z[n, j])
    mat = M(op.z.name) if op.act.is_identity else Apply(op.act.text, M(op.z.name), op.act.latex,
                                                                    _ascii_name(op.act))
    why = f"activation of layer {op.layer}"
    definition = _plain(op.act.f)
    if op.act.name != "custom" and not op.act.is_identity and definition != f"{op.act.text}(x)":
        why += f": {op.act.text}(x) = {definition}"  # not "tanh(x) = tanh(x)"
    return [Equation("forward", op.a.name, (n, j), rhs, mat, why, op.layer)]


def _forward_link(op: Link, d: Derivation) -> list[Equation]:
    if op.kind == "sigmoid":
        rhs = 1 / (1 + sp.exp(-op.z[n, k]))
        mat = Apply("σ", M(op.z.name), r"\sigma", "sigmoid")
        why = "prediction of the fused loss: logistic sigmoid of the logits"
    else:
        rhs = sp.exp(op.z[n, k]) / sp.Sum(sp.exp(op.z[n, j]), (j, 1, op.z.dims[1]))
        mat = Apply("softmax", M(op.z.name), r"\operatorname{softmax}")
        why = "prediction of the fused loss: softmax of the logits, row by row"
    return [Equation("forward", op.yhat.name, (n, k), rhs, mat, why, op.z.layer)]


def _forward_loss(op: LossOp, d: Derivation) -> list[Equation]:
    rule = op.rule
    if rule.name == "softmax_cross_entropy":
        ell = -op.y[n, k] * sp.log(op.pred[n, k])
    elif rule.link == "sigmoid":  # bce_logits reads the logits z_L
        ell = rule.ell.subs({Z: sp.IndexedBase(f"z{op.pred.layer}")[n, k], Y: op.y[n, k]})
    else:
        ell = rule.ell.subs({YHAT: op.pred[n, k], Y: op.y[n, k]})
    rhs = _mul(op.scale, sp.Sum(ell, (n, 1, N), (k, 1, op.y.dims[1])))
    why = f"{rule.text} loss, " + ("mean over the batch (1/N)" if op.reduction == "mean" else
                                   "summed over the batch")
    if op.l2 != 0:
        reg = sum((sp.Sum(w[i, j] ** 2, (i, 1, w.dims[0]), (j, 1, w.dims[1])) for w in op.weights),
                  sp.Integer(0))
        rhs = _add(rhs, _mul(LAMBDA / 2, reg))
        why += f", plus L2 weight decay λ/2 Σ‖W‖² with λ = {op.l2}"
    return [Equation("loss", "L", (), rhs, IndexForm(rhs), why)]  # reads the same in both forms


# vector-Jacobian rules ----------------------------------------------------------------------

def _vjp_loss(op: LossOp, pending: dict[str, Adjoint], d: Derivation) -> list[Equation]:
    c = op.scale
    rule = op.rule
    if rule.link is not None:
        # fused: dL/dz_L = c (yhat - y); proven equal to the unfused chain rule in the tests
        d.output_error = YHAT - Y
        if rule.assumption:
            d.assumptions.append(rule.assumption)
        pending[op.pred.name] = Adjoint(
            lambda nn, kk: _mul(c, _add(op.pred[nn, kk], -op.y[nn, kk])),
            Elem(_mul(c, _add(sp.Symbol(op.pred.name), -sp.Symbol(op.y.name)))),
            f"fused {rule.text}: ∂L/∂z = {'' if c == 1 else '(1/N)'}(ŷ − y)"
            + (" (uses Σ_k y[n,k] = 1)" if rule.link == "softmax" else ""),
            origin="output_error", fused=True)
    else:
        if rule.assumption:
            d.assumptions.append(rule.assumption)
        dell = rule.dell
        pending[op.pred.name] = Adjoint(
            lambda nn, kk: c * dell.subs({YHAT: op.pred[nn, kk], Y: op.y[nn, kk]}, simultaneous=True),
            Elem(c * dell.subs({YHAT: sp.Symbol(op.pred.name), Y: sp.Symbol(op.y.name)})),
            f"∂ℓ/∂ŷ = {_plain(dell)} (by sympy.diff of ℓ = {_plain(rule.ell)})",
            origin="output_error")
    if op.l2 != 0:
        for w in op.weights:
            pending[w.name] = Adjoint(lambda a_, b_, w=w: LAMBDA * w[a_, b_],
                                      Elem(LAMBDA * sp.Symbol(w.name)), "L2 term: ∂(λ/2‖W‖²)/∂W = λW")
    return []


def _vjp_link(op: Link, pending: dict[str, Adjoint], d: Derivation) -> list[Equation]:
    pending[op.z.name] = pending.pop(op.yhat.name)  # the fused loss seeded dL/dz directly
    return []


def _vjp_elementwise(op: Elementwise, pending: dict[str, Adjoint], d: Derivation) -> list[Equation]:
    # dL/dz[n,j] = dL/da[n,j] * f'(z[n,j]), f' written in a = f(z) where a textbook form exists
    adj = pending.pop(op.a.name)
    act = op.act
    fprime = act.derivative(sp.Symbol(op.a.name), sp.Symbol(op.z.name))
    why = f"{adj.why}; {act.text}'" + (f" = {_plain(act.df_out)} in terms of a"
                                       if act.df_out is not None else f"(x) = {_plain(act.df)}")
    if adj.origin == "output_error" and d.output_error is None:
        # output error: simplify the scalar product dl/dyhat * f'(z) once, as a textbook would
        p, zz = sp.Symbol(op.a.name), sp.Symbol(op.z.name)
        scalar = _simplest(d.loss_op.rule.dell.subs({YHAT: p, Y: sp.Symbol("y")}), fprime)
        d.output_error = scalar.subs({p: YHAT, sp.Symbol("y"): Y, zz: Z}, simultaneous=True)
        c = d.loss_scale
        pending[op.z.name] = Adjoint(
            lambda nn, kk: _mul(c, _at(scalar, op, nn, kk)), Elem(_mul(c, scalar)), why,
            origin="output_error")
        return []
    ph = sp.Symbol("_adj")
    pending[op.z.name] = Adjoint(
        lambda nn, jj: _mul(adj.index(nn, jj), _at(fprime, op, nn, jj)),
        Elem(_mul(ph, fprime), ((ph, adj.matrix),)), why, origin=adj.origin)
    return []


def _vjp_dense(op: Dense, pending: dict[str, Adjoint], d: Derivation) -> list[Equation]:
    l = op.layer
    delta = Tensor(f"delta{l}", op.z.dims, "adjoint", l)
    adj = pending.pop(op.z.name)
    stage = adj.origin
    eqs = [Equation(stage, delta.name, (n, j), adj.index(n, j), adj.matrix,
                    f"δ{l} = ∂L/∂z{l}: " + adj.why, l)]
    # dL/dW[i,j] = sum_n x[n,i] delta[n,j]   (+ decay term)
    rhs = sp.Sum(_mul(op.x[n, i], delta[n, j]), (n, 1, N))
    mat: MNode = MatMul(T(M(op.x.name)), M(delta.name))
    why = f"∂z{l}[n,j]/∂W{l}[i,j] = {op.x.name}[n,i]: contract δ{l} with the layer input over the batch"
    decay = pending.pop(op.W.name, None)
    if decay is not None:
        rhs = _add(rhs, decay.index(i, j))
        ph = sp.Symbol("_g")
        mat = Elem(_add(ph, _mul(LAMBDA, sp.Symbol(op.W.name))), ((ph, mat),))
        why += "; plus " + decay.why
    eqs.append(Equation("gradient", "d" + op.W.name, (i, j), rhs, mat, why, l))
    eqs.append(Equation("gradient", "d" + op.b.name, (j,), sp.Sum(delta[n, j], (n, 1, N)),
                        SumRows(M(delta.name)), f"∂z{l}[n,j]/∂b{l}[j] = 1: sum δ{l} over the batch", l))
    if op.x.role != "input":
        # dL/dx[n,i] = sum_j delta[n,j] W[i,j]: the transpose rule of the contraction
        pending[op.x.name] = Adjoint(
            lambda nn, ii, delta=delta, W=op.W: sp.Sum(_mul(delta[nn, k], W[ii, k]),
                                                       (k, 1, op.W.dims[1])),
            MatMul(M(delta.name), T(M(op.W.name))),
            f"back through layer {l}: ∂z{l}[n,k]/∂{op.x.name}[n,j] = W{l}[j,k], so "
            f"∂L/∂{op.x.name} = δ{l} W{l}ᵀ")
    return eqs


FORWARD_RULES = {Dense: _forward_dense, Elementwise: _forward_elementwise, Link: _forward_link,
                 LossOp: _forward_loss}
VJP_RULES = {Dense: _vjp_dense, Elementwise: _vjp_elementwise, Link: _vjp_link, LossOp: _vjp_loss}


# helpers ------------------------------------------------------------------------------------

def _at(scalar: sp.Expr, op: Elementwise, nn, jj) -> sp.Expr:
    """Substitute the whole-matrix symbols a, z, y of ``scalar`` by their elements [nn, jj]."""
    subs = {sp.Symbol(op.a.name): op.a[nn, jj], sp.Symbol(op.z.name): op.z[nn, jj],
            sp.Symbol("y"): sp.IndexedBase("y")[nn, jj]}
    with sp.evaluate(False):  # keep the textbook order of the factors
        return scalar.xreplace(subs)


def _add(*terms) -> sp.Expr:
    """A sum that keeps the textbook order of its terms (printing only; values are unchanged)."""
    terms = [t for t in terms if t != 0]
    return terms[0] if len(terms) == 1 else sp.Add(*terms, evaluate=False)


def _mul(*factors) -> sp.Expr:
    """A product that keeps the textbook order of its factors; drops factors equal to 1."""
    if any(f == 0 for f in factors):
        return sp.Integer(0)
    factors = [f for f in factors if f != 1]
    if not factors:
        return sp.Integer(1)
    return factors[0] if len(factors) == 1 else sp.Mul(*factors, evaluate=False)


def _simplest(dl: sp.Expr, fprime: sp.Expr) -> sp.Expr:
    """dl * f', kept as the product unless cancelling shortens it (BCE's 1/(a(1-a)) against
    sigma' = a(1-a) gives a - y, as textbooks write it)."""
    product = _mul(dl, fprime)
    if product.has(sp.Piecewise, sp.Heaviside):
        return product
    cancelled = sp.factor(sp.cancel(dl * fprime))
    return cancelled if sp.count_ops(cancelled) < sp.count_ops(dl * fprime) else product


def _ascii_name(act) -> str:
    """The activation's name in plain ASCII printouts (``sigmoid`` for ``σ``; ``f`` if custom)."""
    return act.text if act.name == "custom" else act.name


def _plain(e: sp.Expr) -> str:
    from .printing.scalar import print_expr

    return print_expr(e.subs({X: sp.Symbol("x"), A: sp.Symbol("a")}), "text")


def _ill_posed(spec) -> list[str]:
    """Warnings for combinations that are mathematically ill-posed."""
    out = []
    last = spec.model.layers[-1].activation
    rule = spec.loss.rule
    # logs of ŷ that are not positive for every real ŷ and y: log(ŷ), log(1 − ŷ), but not
    # log(cosh(ŷ − y)) or log(1 + exp(ŷ))
    risky = [] if rule.ell is None or rule.link is not None else sorted(
        (a for a in rule.ell.atoms(sp.log) if a.args[0].has(YHAT) and not a.args[0].is_positive),
        key=sp.default_sort_key)
    if risky and last.name in ("relu", "leaky_relu", "identity", "elu", "softplus", "gelu", "silu",
                               "tanh", "custom"):
        from .printing.scalar import print_expr

        logs = " and ".join(print_expr(a) for a in risky)
        out.append(f"the output activation {last.name} can produce values outside (0, 1), but the "
                   f"loss {rule.name} takes {logs}: the loss and its gradient are undefined "
                   f"(inf/NaN) there; use a sigmoid output or the fused loss bce_logits / "
                   f"softmax_cross_entropy")
    return out
