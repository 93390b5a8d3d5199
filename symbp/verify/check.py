"""Checking claims: parse, pick the kind of check, compare, explain.

Contract: :func:`verify_claim` never evaluates user text; it parses the claim with
:func:`symbp.claims.parse_claim` and decides:

- update rules (``w := w - \\alpha \\partial L/\\partial w``): the structure, and the arithmetic of any
  numeric sides;
- identities without a setting (``\\partial\\sigma(z)/\\partial z = \\sigma(z)(1-\\sigma(z))``,
  ``\\partial(x^T A x)/\\partial x = (A + A^T) x``): ``sympy.diff`` on explicit symbols/matrices;
- claims in a setting: a spec (:mod:`symbp.verify.spec_check`) or a list of ``given`` equations
  (a scalar model, every derivative by the chain rule through the definitions).

A claim is ``correct`` only when the symbolic and the numeric comparison agree; ``wrong`` always
carries a counterexample; a symbol without meaning gives ``unverifiable`` with the reason.
"""

from __future__ import annotations

import random
from dataclasses import replace

import sympy as sp

from ..claims import ClaimParseError, DefaultResolver, parse_claim, parse_expression, to_sympy
from ..claims import ast as A
from .diagnose import constant_ratio, diagnose_scalar, factor_labels
from .model import Comparison, ScalarModel, Unresolvable, compare
from .printing import activation_forms, fmt_point, fmt_value, in_activations, latex_named, latex_of
from .verdict import Verdict

MAX_CLAIM_CHARS = 20_000
LOSS_NAMES = ("L", "J", "E", "C", "ell", "Loss", "cost", "loss")
_ANNOTATION_FUNCS = {"relu": "relu", "tanh": "tanh", "sigmoid": "sigma", "softplus": "softplus"}


def verify_claim(text: str, spec=None, *, given=None, notation=None, functions=None,
                 seed: int = 0, line: int | None = None, layout: str | None = None) -> Verdict:
    """Check one claim.

    Args:
        text: the formula, LaTeX or plain text.
        spec: the setting: a :class:`~symbp.spec.Spec`, a spec path/name, or a
            :class:`~symbp.derive.Derivation` (None: only setting-free identities and update
            rules can be decided).
        given: instead of a spec, equations that define the setting (``["J = 1/2 (y - \\hat{y})^2",
            "\\hat{y} = \\sigma(z)"]``), as claims.
        notation: aliases, like a spec's ``[notation]`` table (merged over the spec's).
        functions: function renaming, e.g. ``{"sigma": "relu"}`` when a text writes sigma for ReLU.
        seed: seed of the random points and shapes.
        line: the document line, copied into the verdict.
        layout: ``"row"`` (z = a W + b, samples as rows: symbp's, CS231n's) or ``"column"``
            (z = W a + b, samples as columns: Nielsen's, Ng's): matrix formulas and two-index
            weights are checked in that layout only. None (the default) accepts a formula
            that holds in either, and the verdict says which.

    Returns:
        A :class:`Verdict`. Never raises for bad claim text (that is ``unverifiable``).
    """
    if layout not in (None, "row", "column"):
        raise ValueError(f"layout is 'row', 'column' or None, not {layout!r}")
    v = _verify(text, spec, given, notation, functions, seed, layout)
    v.line = line
    return v


def _verify(text, spec, given, notation, functions, seed, layout=None) -> Verdict:
    if not isinstance(text, str):
        return Verdict(str(text)[:80], "unverifiable", "a claim is a string")
    if len(text) > MAX_CLAIM_CHARS:
        return Verdict(text[:80] + "...", "unverifiable",
                       f"the formula has {len(text)} characters; at most {MAX_CLAIM_CHARS} are checked")
    try:
        claim = parse_claim(text)
    except ClaimParseError as exc:
        return Verdict(text, "unverifiable", f"cannot parse the formula: {exc.problem}")
    except RecursionError:
        return Verdict(text, "unverifiable", "cannot parse the formula: nested too deeply")
    functions = dict(functions or {})
    for note in claim.annotations:
        for word, name in _ANNOTATION_FUNCS.items():
            if word in note.lower():
                functions.setdefault("sigma", name)
    if not claim.is_derivative_claim:
        return Verdict(text, "skipped", "states no derivative")
    try:
        if claim.is_update:
            return check_update(claim)
        lhs = claim.lhs
        if isinstance(lhs, A.Deriv) and lhs.of is not None and not isinstance(lhs.of, A.Sym):
            return check_identity(claim, functions, seed)
        if isinstance(lhs, A.Deriv) and isinstance(lhs.of, A.Sym) and _is_identity_sym(lhs):
            return check_identity(claim, functions, seed)
        aliases = _aliases(spec, notation)
        if _is_definition(claim) and not _defined(claim.lhs, aliases, given):
            name = _sym_text(claim.lhs)
            return Verdict(text, "unverifiable", f"a definition (names {name}), nothing to check")
        if given:
            return check_given(claim, given, aliases, functions, seed)
        if spec is not None:
            from .spec_check import check_in_spec

            return check_in_spec(claim, spec, aliases, functions, seed, layout=layout)
        return Verdict(text, "unverifiable", "this formula needs a setting (the network and the "
                       "loss): give a spec (symbp verify SPEC or --spec SPEC)")
    except Unresolvable as exc:
        return Verdict(text, "unverifiable", str(exc))
    except ClaimParseError as exc:
        return Verdict(text, "unverifiable", f"cannot build the formula: {exc.problem}")
    except (RecursionError, MemoryError):
        return Verdict(text, "unverifiable", "the formula is too deeply nested or too large to check")
    except Exception as exc:  # noqa: BLE001 - a crash must never reach the user
        return Verdict(text, "unverifiable", f"symbp could not check this formula (internal error "
                       f"{type(exc).__name__}: {str(exc)[:200]}); please report it")


def _aliases(spec, notation) -> dict:
    out = {}
    raw = None
    if spec is not None and hasattr(spec, "section"):
        raw = spec.section("notation")
    elif spec is not None and hasattr(spec, "spec"):
        raw = spec.spec.section("notation")
    out.update(raw or {})
    out.update(notation or {})
    return out


def _is_identity_sym(lhs: A.Deriv) -> bool:
    return False


def _is_definition(claim: A.Claim) -> bool:
    return isinstance(claim.lhs, A.Sym) and all(isinstance(s, A.Deriv) for s in claim.sides[1:])


def _defined(node, aliases, given) -> bool:
    ref = node.ref
    if any(k in aliases for k in (ref.plain_name(), ref.base)):
        return True
    for eq in given or ():
        try:
            c = parse_claim(eq)
        except ClaimParseError:
            continue
        if isinstance(c.lhs, A.Sym) and c.lhs.ref == ref:
            return True
    return False


def _sym_text(node) -> str:
    ref = node.ref
    return ref.base + (f"_{','.join(ref.indices)}" if ref.indices else "") + (
        f"^({ref.layer})" if ref.layer is not None else "")


# --- update rules --------------------------------------------------------------------------------

def check_update(claim: A.Claim) -> Verdict:
    """``p := p - lr * dL/dp`` (any loss name, any learning-rate symbol or positive number)."""
    target = claim.update_target
    text = claim.text
    if target is None:
        return Verdict(text, "unverifiable", "the left side of the update is not a variable")
    grad = sp.Symbol("__grad__")
    others = {}  # gradients of the loss with respect to other variables: symbol -> their ref

    class R(DefaultResolver):
        def derivative(self, of, wrt, ref):
            same = replace(ref, transpose=False) == replace(target, transpose=False)
            loss = of == sp.Symbol("L", real=True) or (isinstance(of, sp.Symbol) and
                                                       of.name in LOSS_NAMES)
            if same and loss:
                return grad
            if loss:
                g = sp.Symbol(f"__grad_{ref.plain_name()}__")
                others[g] = ref
                return g
            return sp.Symbol("__other_derivative__")

    p = DefaultResolver().symbol(target)
    try:
        rule = to_sympy(claim.sides[1], R(), text=text)
    except ClaimParseError as exc:
        return _wrong(text, f"the update cannot be built: {exc.problem}", ["shape"])
    correct = latex_of(p) + r" - \alpha \frac{\partial L}{\partial " + latex_of(p) + "}"
    if (not isinstance(rule, sp.MatrixBase) and not rule.has(grad) and others
            and not rule.has(sp.Symbol("__other_derivative__")) and not _is_parameter(target)):
        return check_state_update(claim, p, rule, others)
    if isinstance(rule, sp.MatrixBase) or rule.has(sp.Symbol("__other_derivative__"), *others) or \
            not rule.has(grad):
        return _wrong(text, "the update does not use the gradient of the loss with respect to "
                      "the updated variable", ["other"], correct)
    step = sp.expand(rule - p)
    lr = -sp.diff(step, grad)
    rest = sp.expand(step + lr * grad)
    lr_sign = None if lr.has(grad, p) else _sign(lr)
    if rest != 0 or lr.has(grad, p) or (lr.is_number and not lr.is_positive) or (
            lr_sign is not None and lr_sign <= 0):
        labels = ["sign"] if sp.expand(rule - p - lr * grad) == 0 or lr_sign == -1 else ["other"]
        return _wrong(text, "a gradient-descent step is p - (learning rate) * dL/dp", labels, correct)
    # numeric sides (a worked example): they must agree with each other
    values = []
    for i, side in enumerate(claim.sides[2:], start=2):
        try:
            val = to_sympy(side, DefaultResolver(), text=text)
        except ClaimParseError as exc:
            return _wrong(text, f"side {i + 1} cannot be computed: {exc.problem}", ["shape"],
                          correct, side=i)
        if not getattr(val, "free_symbols", set()):
            values.append((i, val))
    for (i, a), (j, b) in zip(values, values[1:]):
        from .model import values_equal

        if values_equal(a, b, 1e-6) is False:
            v = _wrong(text, f"the numbers do not agree: side {i + 1} is {fmt_value(a)} but side "
                       f"{j + 1} is {fmt_value(b)}", ["other"], correct, side=j)
            v.counterexample = {"at": {}, "expected": fmt_value(a), "claimed": fmt_value(b), "side": j}
            return v
    return Verdict(text, "correct", f"gradient-descent step on {latex_of(p)} with learning rate "
                   f"{latex_of(lr)}", symbolic=True)


def _is_parameter(ref) -> bool:
    """Whether an updated variable is a parameter (W, w, b, theta): its update must use its own
    gradient. Other names (v, m, velocity, v_{W^{(1)}}) are optimizer states."""
    from .resolve import classify

    try:
        return classify(ref).kind in ("W", "b")
    except Unresolvable:
        return False


def check_state_update(claim: A.Claim, v: sp.Symbol, rule: sp.Basic, grads: dict) -> Verdict:
    """An optimizer state updated with a parameter's gradient: a momentum (velocity) update
    ``v <- mu v + c dL/dp`` is recognised (``c`` of either sign: heavy-ball momentum steps
    ``p <- p - eta v``, CS231n's ``v <- mu v - eta dL/dp`` steps ``p <- p + v``); any other
    state update (Adam's second moment) is unverifiable, with the reason."""
    from .printing import ref_latex

    text = claim.text
    name = ref_latex(claim.update_target)
    (g, ref), = grads.items() if len(grads) == 1 else ((None, None),)
    c_v = sp.expand(sp.diff(rule, v)) if g is not None else None
    c_g = sp.expand(sp.diff(rule, g)) if g is not None else None
    if g is None or c_v.has(v, g) or c_g.has(v, g) or c_v == 0 or c_g == 0 or \
            sp.expand(rule - c_v * v - c_g * g) != 0:
        return Verdict(text, "unverifiable", f"an update of the optimizer state {name} that "
                       "is not a momentum (velocity) update v \\leftarrow \\mu v + c "
                       "\\frac{\\partial L}{\\partial p}: symbp checks gradient-descent steps "
                       "and momentum updates, not other optimizer states")
    gname = "\\frac{\\partial L}{\\partial " + ref_latex(ref) + "}"
    if _out_of_unit_range(c_v):
        v_wrong = _wrong(text, f"a momentum update keeps a fraction of the velocity: its "
                         f"coefficient is between 0 and 1, here {latex_of(c_v)}",
                         ["sign"] if _sign(c_v) == -1 else ["other"],
                         f"\\mu {name} + {gname}")
        return v_wrong
    param = ref_latex(ref)
    descent = f"{param} \\leftarrow {param} - \\eta {name}"
    ascent = f"{param} \\leftarrow {param} + {name}"
    g_sign = _sign(c_g, momentum=c_v)
    if g_sign == 1:
        step = f"the matching parameter step is {descent}"
    elif g_sign == -1:
        step = f"the matching parameter step is {ascent}"
    else:
        step = (f"the sign of {latex_of(c_g)} is not known, so the matching parameter step is "
                f"{descent} if it is positive and {ascent} if it is negative")
    return Verdict(text, "correct", f"a momentum (velocity) update of {name}: coefficient "
                   f"{latex_of(c_v)}, gradient {gname} times {latex_of(c_g)}; {step} (the form "
                   "is checked; the coefficients are not compared with a spec's optimizer)",
                   symbolic=True)


def _known_sign(x) -> int | None:
    return 1 if x.is_positive else -1 if x.is_negative else 0 if x.is_zero else None


def _sign(e, momentum=None) -> int | None:
    """The sign of a coefficient of an update (1, -1, 0), None when it is not known. Its letters
    (learning rates, momentum and decay coefficients) are positive by convention; ``momentum``,
    the coefficient of the velocity in a momentum update, lies in (0, 1), which settles the sign
    of ``1 - \\mu`` when it has one letter (``\\mu``, ``1 - \\beta``)."""
    letters = set(e.free_symbols) | set(getattr(momentum, "free_symbols", set()))
    pos = {s: sp.Symbol(s.name, positive=True) for s in letters}
    x = e.xreplace(pos)
    known = _known_sign(x)
    if known is not None or momentum is None:
        return known
    m = momentum.xreplace(pos)
    if len(m.free_symbols) != 1:
        return None
    k = next(iter(m.free_symbols))
    slope, rest = sp.diff(m, k), sp.expand(m - sp.diff(m, k) * k)
    if not (slope.is_number and slope != 0 and rest.is_number):
        return None  # not linear in its letter
    t = sp.Dummy("t", positive=True)  # m = 1 / (1 + t) runs over (0, 1)
    return _known_sign(sp.factor(sp.together(x.xreplace({k: (1 / (1 + t) - rest) / slope}))))


def _out_of_unit_range(c) -> bool:
    """Whether a momentum coefficient is provably outside (0, 1): a number outside it, or an
    expression that is <= 0 or >= 1 for every positive value of its letters (``-\\mu``,
    ``1 + \\mu``); ``1 - \\beta`` may be in range and is not flagged."""
    if c.is_number:
        return not (c.is_real and 0 < c < 1)
    pos = c.xreplace({s: sp.Symbol(s.name, positive=True) for s in c.free_symbols})
    return bool(pos.is_nonpositive or (pos - 1).is_nonnegative)


def _wrong(text, reason, labels, correct=None, side=None) -> Verdict:
    return Verdict(text, "wrong", reason, {"at": {}, "expected": "", "claimed": "", "side": side},
                   correct, list(labels), [reason])


# --- identities without a setting ------------------------------------------------------------

class _MatrixResolver(DefaultResolver):
    """Upper-case letters are n x n matrices, lower-case single letters n-vectors, others scalars."""

    def __init__(self, n: int):
        self.n = n
        self.cache = {}

    def symbol(self, ref):
        name = replace(ref, transpose=False).plain_name()
        if name in self.cache:
            return self.cache[name]
        base = ref.base
        if len(base) == 1 and base.isupper():
            val = sp.Matrix(self.n, self.n, lambda i, j: sp.Symbol(f"{name}_{i}{j}", real=True))
        elif len(base) == 1 and base.islower() and not ref.indices:
            val = sp.Matrix(self.n, 1, lambda i, j: sp.Symbol(f"{name}_{i}", real=True))
        else:
            val = sp.Symbol(name, real=True)
        self.cache[name] = val
        return val

    def derivative(self, of, wrt, ref):
        if isinstance(of, sp.MatrixBase) and of.shape == (1, 1):
            of = of[0, 0]
        if isinstance(wrt, sp.MatrixBase):
            if isinstance(of, sp.MatrixBase):  # Jacobian, numerator layout
                flat = list(wrt)
                return sp.Matrix(len(of), len(flat), lambda i, j: sp.diff(list(of)[i], flat[j]))
            return wrt.applyfunc(lambda w: sp.diff(of, w))
        return sp.diff(of, wrt)


def check_identity(claim: A.Claim, functions=None, seed: int = 0) -> Verdict:
    """A derivative identity of explicit functions (scalar, vector or matrix)."""
    text = claim.text
    needs_matrix = any(isinstance(n, A.Sym) and (n.ref.transpose or (len(n.ref.base) == 1 and
                       n.ref.base.isupper())) or isinstance(n, (A.Transpose,)) or
                       (isinstance(n, A.BinOp) and n.op in ("matmul", "hadamard"))
                       for s in claim.sides for n in A.walk(s))
    layouts = []
    for n in ((3, 2) if needs_matrix else (None,)):
        resolver = _MatrixResolver(n) if n else DefaultResolver()
        if not n:
            resolver.derivative = lambda of, wrt, ref: sp.diff(of, wrt)
        sides = [to_sympy(s, resolver, text=text, functions=functions) for s in claim.sides]
        sides = [s[0, 0] if isinstance(s, sp.MatrixBase) and s.shape == (1, 1) else s for s in sides]
        ref_val = sides[0]
        for i, other in enumerate(sides[1:], start=1):
            c = compare(ref_val, other, seed=seed)
            if c.equal is not True and isinstance(ref_val, sp.MatrixBase) and \
                    isinstance(other, sp.MatrixBase) and ref_val.T.shape == other.shape:
                c2 = compare(ref_val.T, other, seed=seed)
                if c2.equal is True:
                    layouts.append("the other layout (transposed Jacobian)")
                    continue
            if c.equal is False or (c.equal is None and c.numeric is False):
                labels, words = diagnose_scalar(ref_val, other, c, of_expr=_of_value(claim, resolver, functions))
                v = Verdict(text, "wrong", "the two sides differ", None, latex_of(ref_val),
                            labels, words, symbolic=c.symbolic, numeric=c.numeric)
                v.counterexample = _cex(c, i)
                if isinstance(ref_val, sp.MatrixBase) and not isinstance(other, sp.MatrixBase) or (
                        isinstance(ref_val, sp.MatrixBase) and ref_val.shape != other.shape):
                    v.reason = "the sides have different shapes"
                    v.diagnosis = ["shape"]
                return v
            if c.equal is None:
                why = ("numerically equal at the random points but not proved symbolically"
                       if c.numeric else f"the two sides both have a real value at only "
                       f"{c.valid} of the random points, too few to compare them")
                return Verdict(text, "unverifiable", why, symbolic=c.symbolic, numeric=c.numeric)
    note = "; accepted in " + layouts[0] if layouts else ""
    return Verdict(text, "correct", "the derivative, by sympy.diff, equals the right-hand side "
                   "(symbolically and at random points)" + note, symbolic=True, numeric=True)


def _of_value(claim, resolver, functions):
    lhs = claim.lhs
    if isinstance(lhs, A.Deriv) and lhs.of is not None:
        try:
            return to_sympy(lhs.of, resolver, text=claim.text, functions=functions)
        except ClaimParseError:
            return None
    return None


def _cex(c: Comparison, side: int) -> dict:
    return {"at": fmt_point(c.point or {}), "expected": fmt_value(c.left),
            "claimed": fmt_value(c.right), "side": side}


# --- a setting given as equations ------------------------------------------------------------

class _ModelResolver(DefaultResolver):
    def __init__(self, model: ScalarModel, loss: sp.Symbol, aliases: dict, functions):
        self.model = model
        self.loss_sym = loss
        self.aliases = aliases
        self.functions = functions
        self.depth = 0

    def symbol(self, ref):
        for key in (ref.plain_name(), ref.base):
            if key in self.aliases:
                self.depth += 1
                if self.depth > 20:
                    raise Unresolvable("the notation aliases refer to each other in a circle")
                try:
                    return to_sympy(parse_expression(self.aliases[key]), self, functions=self.functions)
                finally:
                    self.depth -= 1
        return super().symbol(ref)

    def loss(self):
        return self.loss_sym

    def derivative(self, of, wrt, ref):
        m = self.model
        if not isinstance(wrt, sp.Symbol):
            raise Unresolvable("a derivative with respect to an expression")
        for s in getattr(of, "free_symbols", ()):
            if s != wrt and s not in m.defs and s.name in LOSS_NAMES:
                raise Unresolvable(f"the loss {s.name} is not defined in the setting")
        if isinstance(of, sp.Symbol) and of not in m.defs and of != wrt:
            raise Unresolvable(f"{of.name} is not defined in the setting, so d{of.name}/d{wrt.name} "
                               "is unknown")
        return m.derivative(of, wrt)


def build_model(given, aliases, functions) -> tuple[ScalarModel, sp.Symbol]:
    model = ScalarModel()
    loss = sp.Symbol("L", real=True)
    pending = []
    for eq in given:
        c = parse_claim(eq)
        if not isinstance(c.lhs, A.Sym):
            raise Unresolvable(f"the setting equation {eq!r} does not define a variable")
        sym = DefaultResolver().symbol(c.lhs.ref)
        if c.lhs.ref.base in LOSS_NAMES and loss not in model.defs:
            loss = sym
        pending.append((sym, c))
    resolver = _ModelResolver(model, loss, aliases, functions)
    for sym, c in pending:
        model.define(sym, to_sympy(c.sides[1], resolver, text=c.text, functions=functions))
    return model, loss


def check_given(claim: A.Claim, given, aliases, functions, seed) -> Verdict:
    model, loss = build_model(given, aliases, functions)
    resolver = _ModelResolver(model, loss, aliases, functions)
    values, problems = [], []
    for i, side in enumerate(claim.sides):
        try:
            val = to_sympy(side, resolver, text=claim.text, functions=functions)
            values.append((i, model.canonical(val)))
        except Unresolvable as exc:
            problems.append(f"side {i + 1}: {exc}")
    ref_i = next((i for i, s in enumerate(claim.sides) if isinstance(s, A.Deriv)), None)
    if isinstance(claim.lhs, A.Sym) and any(i == 0 for i, _ in values) and (
            DefaultResolver().symbol(claim.lhs.ref) in model.defs or claim.lhs.ref.base in aliases):
        ref_i = 0
    available = dict(values)
    if ref_i is None or ref_i not in available:
        return Verdict(claim.text, "unverifiable", "; ".join(problems) or
                       "no side of the formula is a derivative the setting defines")
    reference = available[ref_i]
    checked = 0
    for i, val in values:
        if i == ref_i:
            continue
        c = compare(reference, val, seed=seed)
        checked += 1
        if c.equal is False:
            labels, words = diagnose_scalar(reference, val, c, model=model)
            if labels == ["other"]:
                labels, words = _fused_cross_entropy(claim, ref_i, val, model, loss) or (labels, words)
            v = Verdict(claim.text, "wrong", f"side {i + 1} differs from the derivative",
                        _cex(c, i), latex_named(_textbook(reference, available, ref_i, claim, resolver), {}),
                        labels, words, symbolic=c.symbolic, numeric=c.numeric)
            return v
        if c.equal is None:
            return Verdict(claim.text, "unverifiable", f"side {i + 1}: numerically "
                           f"{'equal' if c.numeric else 'undecided'} but not proved symbolically",
                           symbolic=c.symbolic, numeric=c.numeric)
    if not checked:
        return Verdict(claim.text, "unverifiable", "; ".join(problems) or "nothing to compare")
    note = f" ({'; '.join(problems)} not checked)" if problems else ""
    return Verdict(claim.text, "correct", "equal symbolically and at random points" + note,
                   symbolic=True, numeric=True)


def _fused_cross_entropy(claim, ref_i, val, model, loss):
    """A claim related to yhat - y, the logit gradient of the full cross-entropy with a sigmoid
    or softmax output, when the setting's loss is (part of) a cross-entropy in that yhat.

    Seed 000 writes dJ/dz_k = y_k - yhat_k for J = -sum_k y_k log yhat_k: the textbook result it
    half-remembers is yhat_k - y_k, so the mistake is the sign (and the loss reading)."""
    side = claim.sides[ref_i]
    if not isinstance(side, A.Deriv) or loss not in model.defs:
        return None
    wrt = DefaultResolver().symbol(side.wrt)
    loss_def = model.defs[loss]
    for lg in loss_def.atoms(sp.log):
        yhat = lg.args[0]
        if not (isinstance(yhat, sp.Symbol) and yhat in model.defs and model.depends(yhat, wrt)):
            continue
        target = -sp.expand(loss_def).coeff(lg)
        if target == 0 or target.has(yhat) or model.depends(target, wrt):
            continue
        fused = model.canonical(yhat - target)
        r = constant_ratio([_ratio_at(fused, val, p) for p in _points(fused, val)])
        if r is None:
            continue
        labels, text = factor_labels(r)
        name = latex_of(yhat) + " - " + latex_of(target)
        words = [(text + ": " if text else "") + f"relative to {name}, the gradient with respect "
                 "to the logits of the full cross-entropy with a sigmoid or softmax output "
                 "(with this setting's loss the derivative is different, see correct)"]
        return (labels or ["other"]), words
    return None


def _points(a, b, count: int = 6):
    from .model import sample_points

    leaves = set(getattr(a, "free_symbols", set())) | set(getattr(b, "free_symbols", set()))
    return list(sample_points(leaves, random.Random(7), count))


def _ratio_at(a, b, point):
    from .model import fast_value

    x, y = fast_value(a, point), fast_value(b, point)
    if x is None or y is None or abs(x) < 1e-12:
        return float("nan")
    return y / x


def _textbook(reference, available, ref_i, claim, resolver):
    """The reference written with the setting's named quantities where that is shorter."""
    m = resolver.model
    acts = activation_forms(m)
    rewritten = in_activations(reference, acts)
    if rewritten is not None:
        return rewritten
    out = reference
    for sym, expr in m.defs.items():
        ce = m.canonical(sym)
        if ce != sym and not ce.is_Symbol and out.has(ce):
            out = out.xreplace({ce: sym})
    out = sp.factor(out) if sp.count_ops(sp.factor(out)) <= sp.count_ops(out) else out
    return out
