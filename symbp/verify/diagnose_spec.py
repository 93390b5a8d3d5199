"""Diagnoses of wrong claims in a spec's setting, and the correct formula to show.

Contract: :func:`diagnose_spec` combines the value-level recognisers of
:mod:`symbp.verify.diagnose` (constant factor, sign, missing activation derivative) with repairs
of the formula itself: it puts an activation's derivative where the activation stands
(``function_instead_of_derivative``), shifts the layer of one symbol (``wrong_layer``) and
transposes a factor or the whole right-hand side (``transposed``), and re-checks each repaired
formula; a repair that makes the claim correct names the mistake. :func:`correct_formula`
writes the right-hand side the derivation gives, in the claim's layout, in LaTeX.
"""

from __future__ import annotations

import dataclasses

import sympy as sp

from ..claims import ast as A
from ..claims.names import GENERIC_FUNCTIONS
from ..claims.parse import SUMMED_LOSS
from .diagnose import UNDEFINED, constant_ratio, diagnose_scalar, factor_labels, numeric_ratio
from .check import LOSS_NAMES
from .model import SIMPLIFY_SECONDS, Unresolvable, time_limit
from .resolve import classify, layer_value

MAX_REPAIRS = 80  # a count, not a time budget: the same claim gets the same diagnosis on any machine


def diagnose_spec(claim, d, layout, res, aliases, functions, layers, pinned=None):
    labels, words = [], []
    if res["status"] == "wrong":
        comp = res["comp"]
        if comp.undefined:
            return list(UNDEFINED[0]), list(UNDEFINED[1])
        # the ratio at every sample point (the comparison stopped at the first that failed)
        decided, c = numeric_ratio(res["reference"], res["claim"], res.get("points"))
        if not decided:
            c = constant_ratio(comp.ratio)
        if c is not None:
            labels, text = factor_labels(c, res["inst"].n)
            words.append(text)
        elif not isinstance(res["reference"], sp.MatrixBase):
            from .printing import activation_forms
            from .spec_check import claim_names

            lab, w = diagnose_scalar(res["reference"], res["claim"], comp,
                                     acts=activation_forms(res["inst"].model),
                                     names=claim_names(claim, res, aliases, functions, _den(claim, aliases)),
                                     n=res["inst"].n, points=res.get("points"))
            if lab != ["other"]:
                labels, words = lab, w
        if labels:
            return labels, words
    rep = _repairs(claim, aliases, functions, d, pinned)
    if rep:
        return rep
    if res["status"] == "shape":
        return ["shape"], [res["message"]]
    return ["other"], ["no simple relation to the derived value was found"]


def _map(node, fn):
    new = fn(node)
    if new is not None:
        return new
    if not isinstance(node, A.Node):
        return node
    changes = {}
    for f in dataclasses.fields(node):
        v = getattr(node, f.name)
        if isinstance(v, A.Node):
            changes[f.name] = _map(v, fn)
        elif isinstance(v, tuple) and v and any(isinstance(x, (A.Node, tuple)) for x in v):
            changes[f.name] = tuple(
                _map(x, fn) if isinstance(x, A.Node) else
                tuple(_map(y, fn) if isinstance(y, A.Node) else y for y in x) if isinstance(x, tuple)
                else x for x in v)
    return dataclasses.replace(node, **changes) if changes else node


def _shift(layer, delta):
    if isinstance(layer, int):
        return layer + delta
    s = str(layer)
    base = s[0]
    off = int(s[1:] or 0) if len(s) > 1 else 0
    off += delta
    return base + (f"+{off}" if off > 0 else f"{off}" if off < 0 else "")


def _layer_edits(side):
    syms = [n for n in A.walk(side) if isinstance(n, A.Sym) and n.ref.layer is not None
            and not (isinstance(n.ref.layer, str) and not n.ref.layer[0] in "lL")]
    edits = []
    for target in {id(s): s for s in syms}.values():
        for delta in (-1, 1):
            new_ref = dataclasses.replace(target.ref, layer=_shift(target.ref.layer, delta))
            edits.append((f"{_name(target.ref)} should be {_name(new_ref)}",
                          lambda n, t=target, r=new_ref: A.Sym(r, n.pos) if n is t else None))
    return edits


def _transpose_edits(side):
    edits = [("the right-hand side is transposed", None)]
    for n in A.walk(side):
        if isinstance(n, A.BinOp) and n.op in ("mul", "matmul"):
            L, R, op, pos = n.left, n.right, n.op, n.pos
            for words, new in (
                    ("the first factor should be transposed", A.BinOp(op, A.Transpose(L), R, pos)),
                    ("the second factor should be transposed", A.BinOp(op, L, A.Transpose(R), pos)),
                    ("the factors are in the wrong order", A.BinOp(op, R, L, pos)),
                    ("the factors are in the wrong order and the first one should be transposed",
                     A.BinOp(op, R, A.Transpose(L), pos)),
                    ("the factors are in the wrong order and the second one should be transposed",
                     A.BinOp(op, A.Transpose(R), L, pos)),
                    ("the factors are in the wrong order or transposed",
                     A.BinOp(op, A.Transpose(R), A.Transpose(L), pos))):
                edits.append((words, lambda m, t=n, s=new: s if m is t else None))
    return edits


#: Activations whose derivative a claim can write as a call (``\\sigma'(z)``, ``\\tanh'(z)``).
_CLAIM_FUNCTION = {"sigmoid": "sigma", "tanh": "tanh", "relu": "relu", "softplus": "softplus"}
_SHOWN = {"sigma": r"\sigma", "tanh": r"\tanh", "relu": r"\mathrm{ReLU}",
          "softplus": r"\mathrm{softplus}"}


def _derivative_edits(side, d):
    """The activation where its derivative belongs: ``\\sigma(z_1)`` -> ``\\sigma'(z_1)`` and
    ``a_1`` -> ``f'(z_1)`` (f the layer's activation)."""
    acts = [layer.activation.name for layer in d.spec.model.layers]
    edits = []
    for n in {id(n): n for n in A.walk(side)}.values():
        if isinstance(n, A.Call) and n.primes == 0 and len(n.args) == 1 and (
                n.name in _CLAIM_FUNCTION.values() or n.name.partition("[")[0] in GENERIC_FUNCTIONS):
            shown = _SHOWN.get(n.name, n.name)
            edits.append((f"{shown}(...) should be its derivative {shown}'(...)",
                          lambda m, t=n: dataclasses.replace(t, primes=1) if m is t else None))
        elif isinstance(n, A.Sym) and n.ref.base in ("a", "h") and not n.ref.transpose:
            lv = n.ref.layer
            names = {acts[lv - 1]} if isinstance(lv, int) and 0 < lv <= len(acts) else \
                set(acts[:-1]) if isinstance(lv, str) and lv[:1] == "l" else set()
            if len(names) != 1 or next(iter(names)) not in _CLAIM_FUNCTION:
                continue
            fn = _CLAIM_FUNCTION[names.pop()]
            z = A.Sym(dataclasses.replace(n.ref, base="z"), n.pos)
            edits.append((f"{_name(n.ref)} (the activation) should be its derivative "
                          f"{_SHOWN[fn]}'({_name(z.ref)})",
                          lambda m, t=n, c=A.Call(fn, (z,), 1, n.pos): c if m is t else None))
    return edits


def _apply(side, edit):
    if edit is None:
        return A.Transpose(side)
    return _map(side, edit)


def _repairs(claim, aliases, functions, d, layout=None):
    """Edits of the right-hand side that make the claim correct: (labels, words) or None.

    Every candidate is first compared at one random point of one instance (cheap, numeric); only
    the candidates that pass are checked at all points, sizes, layers and index values.
    """
    from .spec_check import check_in_spec

    side = claim.sides[-1]
    if any(isinstance(n, A.Matrix) or isinstance(n, A.Deriv) and not _gradient_of_loss(n)
           for n in A.walk(side)):
        return None
    base = (claim.lhs,)
    layer_edits = _layer_edits(side)
    # element formulas (z_k, w_{kj}) have no matrix products to transpose
    elements = any(isinstance(n, A.Sym) and n.ref.indices for s in claim.sides for n in A.walk(s))
    trans_edits = [] if elements else _transpose_edits(side)
    plans = _decay_plans(claim, side, aliases, d) + \
            ([] if elements else _activation_plans(claim, side, aliases, d)) + \
            [([de], ["function_instead_of_derivative"]) for de in _derivative_edits(side, d)] + \
            [([le], ["wrong_layer"]) for le in layer_edits] + \
            [([te], ["transposed"]) for te in trans_edits] + \
            [([le, te], ["wrong_layer", "transposed"]) for le in layer_edits for te in trans_edits]
    for plan, labels in plans[:MAX_REPAIRS]:
        new = side
        for _, edit in reversed(plan):  # structure first: layer edits find their symbol by identity
            new = _apply(new, edit)
        mutated = A.Claim(claim.text, base + (new,), ("eq",))
        try:
            if check_in_spec(mutated, d, aliases, functions, 1, quick=True,
                             layout=layout).verdict != "correct":
                continue
            v = check_in_spec(mutated, d, aliases, functions, 1, numeric_only=True, layout=layout)
        except Exception:  # a repair that cannot be checked is simply not the answer
            continue
        if v.verdict == "correct":
            return labels, [w for w, _ in plan]
    return None


def _decay_plans(claim, side, aliases, d):
    """With L2 weight decay (``[loss] l2``), dL/dW = (the data term) + lambda W: the repairs
    that add a missing decay term, or turn one of the wrong sign."""
    l2 = d.spec.loss.l2
    den = _den(claim, aliases)
    if not l2 or den is None or den.kind != "W":
        return []
    deriv = next(s for s in claim.sides if isinstance(s, A.Deriv))
    w = A.Sym(dataclasses.replace(deriv.wrt, transpose=False), side.pos)
    ref = deriv.wrt
    shown = (rf"\lambda {ref.base}" + (f"^{{({ref.layer})}}" if ref.layer is not None else "")
             + (f"_{{{''.join(map(str, ref.indices))}}}" if ref.indices else ""))
    plans = []
    for k, label, words in (
            (1, "missing_weight_decay", f"the L2 term {shown} (λ = {float(l2):g}) is missing"),
            (2, "weight_decay_sign", f"the L2 term {shown} has the wrong sign")):
        term = A.BinOp("mul", A.Num(repr(float(k * l2)), side.pos), w, side.pos)
        new = A.BinOp("add", side, term, side.pos)
        plans.append(([(words, lambda m, s=new: s if m is side else None)], [label]))
    return plans


def _gradient_of_loss(node) -> bool:
    """A gradient of the loss (``\\frac{\\partial J}{\\partial z^{(1)}}``, ``\\nabla_{a^{(1)}} J``,
    Ng's ``dZ^{[2]}``): it resolves to a tensor of the derivation, as cheap to repair around as
    a variable."""
    return node.of is None or isinstance(node.of, A.Sym) and not node.of.ref.indices and (
        node.of.ref.base == SUMMED_LOSS or node.of.ref.base in LOSS_NAMES)


def _activation_plans(claim, side, aliases, d):
    """A matrix error term without its activation derivative: the side times f'(z) of the
    claim's layer (``\\delta^{(1)} = (W^{(2)})^T \\delta^{(2)}`` lacks ``\\odot \\sigma'(z^{(1)})``)."""
    from .spec_check import _delta_lhs

    meaning = _den(claim, aliases) or _delta_lhs(claim, aliases)
    if meaning is None or meaning.kind not in ("z", "delta") or meaning.layer is None:
        return []
    depth = len(d.spec.model.layers)
    lv = meaning.layer
    if isinstance(lv, int):
        if not 1 <= lv <= depth:
            return []
        names = {d.spec.model.layers[lv - 1].activation.name}
    else:  # a general layer l: its activation when every hidden layer has the same one
        names = {layer.activation.name for layer in d.spec.model.layers[:-1]}
    if len(names) != 1 or next(iter(names)) not in _CLAIM_FUNCTION:
        return []
    fn = _CLAIM_FUNCTION[names.pop()]
    z = A.Sym(A.SymbolRef("z", layer=lv), side.pos)
    new = A.BinOp("hadamard", side, A.Call(fn, (z,), 1, side.pos), side.pos)
    shown = rf"{_SHOWN[fn]}'(z^{{({lv})}})"
    return [([(f"the activation derivative {shown} is missing",
               lambda m, s=new: s if m is side else None)], ["missing_activation_derivative"])]


def _name(ref):
    s = ref.base + ("hat" if ref.hat else "")
    return s + (f"_{{{ref.layer}}}" if ref.layer is not None else "")


def correct_formula(d, claim, den, layout, res, aliases) -> str:
    """The right-hand side the derivation gives, in the claim's layout (LaTeX)."""
    from ..printing.scalar import print_expr

    if den is None:
        return ""
    if not _of_loss(claim, aliases):  # dyhat_i/dz_j: only the derived value itself is known
        return _own_notation(d, claim, den, res, aliases)
    depth = len(d.spec.model.sizes) - 1
    general = isinstance(den.layer, str) and den.layer.startswith("l")
    lv = layer_value(den.layer, res.get("l"), depth)
    if lv is None:
        lv = depth
    ltxt = str(den.layer) if general else str(lv)
    prev = f"{ltxt}-1" if general else str(lv - 1)
    nxt = f"{ltxt}+1" if general else str(lv + 1)
    element = any(r for r in _refs_indices(claim))
    target = {"z": f"delta{lv}", "delta": f"delta{lv}", "W": f"dW{lv}", "b": f"db{lv}"}.get(den.kind)
    if element and target:
        own = _own_notation(d, claim, den, res, aliases)
        if own:
            return own
        try:
            return print_expr(d.equation(target).rhs, "latex") + r" \quad\text{(symbp's index form)}"
        except KeyError:
            return ""
    a_prev = "x" if (not general and lv - 1 == 0) else f"a^{{({prev})}}"
    a_prev_t = "x^T" if a_prev == "x" else f"({a_prev})^T"
    if den.kind == "W":
        # L2 weight decay: L = mean loss + lambda/2 sum ||W||^2 adds lambda W to every dL/dW
        l2 = d.spec.loss.l2
        decay = rf" + \lambda W^{{({ltxt})}} \quad (\lambda = {float(l2):g})" if l2 else ""
        return (rf"\delta^{{({ltxt})}} {a_prev_t}" if layout == "column"
                else rf"{a_prev_t} \delta^{{({ltxt})}}") + decay
    if den.kind == "b":
        return rf"\delta^{{({ltxt})}}" + (r" \text{ (summed over the samples)}" if res.get("inst") and res["inst"].n > 1 else "")
    if den.kind in ("z", "delta"):
        act = d.spec.model.layers[min(lv, depth) - 1].activation
        fp = rf"{act.latex}'(z^{{({ltxt})}})" if not act.is_identity else "1"
        if lv < depth or general:
            return (rf"\left((W^{{({nxt})}})^T \delta^{{({nxt})}}\right) \odot {fp}" if layout == "column"
                    else rf"\left(\delta^{{({nxt})}} (W^{{({nxt})}})^T\right) \odot {fp}")
        try:
            return d.equation(f"delta{depth}").matrix.latex()
        except KeyError:
            return ""
    return ""


def _of_loss(claim, aliases) -> bool:
    """Whether the claim's derivative (if it states one) is one of the loss: the formulas
    :func:`correct_formula` writes are gradients of the loss (deltas, dL/dW, dL/db)."""
    deriv = next((s for s in claim.sides if isinstance(s, A.Deriv)), None)
    if deriv is None or deriv.of is None:
        return True
    try:
        return isinstance(deriv.of, A.Sym) and classify(deriv.of.ref, aliases).kind == "loss"
    except Unresolvable:  # a numerator without a meaning is not the loss
        return False


def _refs_indices(claim):
    for side in claim.sides:
        for n in A.walk(side):
            if isinstance(n, A.Sym) and n.ref.indices:
                yield n.ref
            if isinstance(n, A.Deriv) and n.wrt.indices:
                yield n.wrt


def _den(claim, aliases):
    deriv = next((s for s in claim.sides if isinstance(s, A.Deriv)), None)
    try:
        return classify(deriv.wrt, aliases) if deriv is not None else None
    except Exception:
        return None


def _own_notation(d, claim, den, res, aliases) -> str:
    """The derived value at the failing element, in the claim's own symbols (textbook form), or
    "" when it uses a quantity the claim does not name."""
    from .printing import activation_forms, in_activations, latex_named, tidy
    from .spec_check import claim_names

    ref, inst = res.get("reference"), res.get("inst")
    if ref is None or inst is None or isinstance(ref, sp.MatrixBase):
        return ""
    try:
        names = claim_names(claim, res, aliases, None, den)
        acts = activation_forms(inst.model)
        # factoring a batch sum can take minutes (78 s for a deep net's dW): a suggestion is
        # worth the symbolic check's budget, no more
        with time_limit(SIMPLIFY_SECONDS):
            form = in_activations(ref, acts)
            if form is None:
                form = tidy(sp.factor(ref), acts)
        if not form.free_symbols or not form.free_symbols <= set(names):
            return ""
        out = latex_named(form, names)
    except Exception:  # printing must never break a report
        return ""
    if d.spec.loss.reduction == "mean" and inst.n == 1:
        out += r" \quad\text{(one sample; the loss is a mean over the batch, so each sample's term is divided by } N\text{)}"
    return out
