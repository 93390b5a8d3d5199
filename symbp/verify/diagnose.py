"""Recognisers for wrong claims: what kind of mistake is it?

Contract: each recogniser looks at the reference (the right value) and the claim, both SymPy
expressions in the same symbols, plus the ratios claim/reference measured at the random points,
and returns labels with a sentence. Labels: ``sign`` (the negative), ``factor_2``, ``factor_half``,
``factor_N``, ``factor_inv_N``, ``factor`` (another constant), ``missing_activation_derivative``
(the claim equals the reference divided by f'(z)), ``function_instead_of_derivative`` (the claim
is the function itself), ``undefined`` (the claim has no real value where the reference has
one: ``\\log(0)``, ``\\sqrt{-1}``, a division by zero), ``transposed``, ``wrong_layer``, ``shape``,
``other``.
"""

from __future__ import annotations

import sympy as sp

from . import model as _model
from .model import compare, real_value

#: The diagnosis of a claim that is undefined where the derived value is finite.
UNDEFINED = (["undefined"], ["the formula is undefined, infinite or not a real number where the "
                             "derived value is a finite real number"])


def constant_ratio(ratios: list) -> float | None:
    """The common value of the ratios, when they are all the same (a constant factor)."""
    flat = [r for r in ratios if r == r]
    flat = [x for r in flat for x in (r if isinstance(r, list) else [r])]
    if len(flat) < 2:
        return None
    r0 = flat[0]
    if all(abs(r - r0) <= 1e-6 * (1 + abs(r0)) for r in flat):
        return r0
    return None


def numeric_ratio(reference, claim, points) -> tuple[bool, float | None]:
    """claim/reference measured at every point (element by element for matrices):
    ``(decided, c)``. ``decided`` is False when fewer than two ratios could be measured (then
    nothing is known); else ``c`` is the constant ratio, or None when there is none: the ratios
    differ, or the claim is nonzero where the reference vanishes. Cheap (float arithmetic), so
    a constant factor of a large batch formula is found without symbolic algebra."""
    if isinstance(reference, sp.MatrixBase) != isinstance(claim, sp.MatrixBase) or (
            isinstance(reference, sp.MatrixBase) and reference.shape != claim.shape):
        return False, None
    values = []
    for point in points or ():
        a, b = _model._at(reference, point), _model._at(claim, point)
        pairs = zip(a, b) if isinstance(a, sp.MatrixBase) else ((a, b),)
        for x, y in pairs:
            x, y = real_value(x), real_value(y)
            if x is None or y is None:
                continue
            if abs(x) < 1e-12:
                if abs(y) > 1e-9:
                    return True, None  # nonzero where the reference is zero: no constant factor
                continue
            values.append(y / x)  # a float, or a SymPy Float past the float range
    if len(values) < 2:
        return False, None
    c = constant_ratio(values)
    return True, (None if c == 0 else c)


def factor_labels(c: float, n: int | None = None) -> tuple[list, str]:
    """Labels for a constant ratio claim/reference = c."""
    labels = []
    if c < 0:
        labels.append("sign")
    a = abs(c)
    words = []
    named = {2.0: ("factor_2", "twice the right value"), 0.5: ("factor_half", "half the right value")}
    if n and n > 2:
        named[float(n)] = ("factor_N", f"N = {n} times the right value: the 1/N of the mean is missing")
        named[1.0 / n] = ("factor_inv_N", f"1/N times the right value: an extra 1/N (N = {n})")
    for value, (label, text) in named.items():
        if abs(a - value) <= 1e-6 * value:
            labels.append(label)
            words.append(text)
            break
    else:
        if abs(a - 1) > 1e-6:
            labels.append("factor")
            words.append(f"{_number(a)} times the right value")
    if c < 0:
        words.insert(0, "the sign is flipped")
    return labels, "; ".join(words)


def _number(a) -> str:
    """A ratio as text: 6 significant digits, also past the float range (a SymPy Float)."""
    return f"{a:.6g}" if isinstance(a, float) else sp.sstr(sp.Float(a, 6))


def diagnose_scalar(reference, claim, comp, model=None, of_expr=None, activation_derivs=(),
                    acts=None, names=None, n=None, points=None):
    """Labels and sentences for a wrong scalar (or matrix) claim.

    ``acts`` (activation values, :func:`~symbp.verify.printing.activation_forms`) and ``names``
    (symbol -> LaTeX in the claim's notation) let a missing activation derivative be written in
    its textbook form, e.g. ``\\hat{y}_k(1 - \\hat{y}_k)``. ``n``: the batch size of the
    setting, so that a factor N or 1/N is named as the batch mean's (:func:`factor_labels`).
    ``points``: the sample points of the comparison (all of them: the comparison stops at the
    first point where the claim fails); a constant ratio is measured there first, and only
    when they decide nothing is it sought symbolically, within the time limit."""
    if acts is None and model is not None:
        from .printing import activation_forms

        acts = activation_forms(model)
    if comp.undefined:
        return list(UNDEFINED[0]), list(UNDEFINED[1])
    labels, words = [], []
    c = _constant_factor(reference, claim, points, comp.ratio)
    if c is not None:
        lab, text = factor_labels(c, n)
        return lab or ["other"], [text] if text else []
    if of_expr is not None and not isinstance(of_expr, sp.MatrixBase):
        if compare(of_expr, claim).equal:
            return ["function_instead_of_derivative"], ["the right-hand side is the function itself, "
                                                        "not its derivative"]
    # missing activation derivative: claim * f'(z) is a constant multiple of the reference
    for fp in list(activation_derivs) + _activation_derivatives(reference):
        r = _constant_factor(reference, claim * fp, points)
        if r is not None:
            lab, text = factor_labels(r)
            return lab + ["missing_activation_derivative"], [
                (text + "; " if text else "") + f"the activation derivative {_fp_text(fp, acts, names)} "
                "is missing"]
    if not isinstance(reference, sp.MatrixBase) and not isinstance(claim, sp.MatrixBase):
        if _constant_factor(-reference, claim, points) is not None:
            return ["sign"], ["the sign is flipped"]
    return ["other"], ["no simple relation to the right value was found"]


def _constant_factor(reference, claim, points, ratios=None):
    """The constant claim/reference: measured at ``points`` when they decide it
    (:func:`numeric_ratio`), else from ``ratios`` already measured, else symbolically
    (:func:`_symbolic_ratio`, within the time limit); None when there is none."""
    decided, c = numeric_ratio(reference, claim, points) if points else (False, None)
    if decided:
        return c
    c = constant_ratio(ratios) if ratios else None
    return c if c is not None else _symbolic_ratio(reference, claim)


def _cancel_ratio(reference, claim):
    return sp.cancel(sp.together(claim / reference))


def _symbolic_ratio(reference, claim, seconds: float | None = None):
    """claim/reference when it cancels to a nonzero number, else None; within ``seconds``
    (default :data:`~symbp.verify.model.SIMPLIFY_SECONDS`, as :func:`~symbp.verify.model.is_zero`):
    a large batch formula can take SymPy minutes to cancel, and then the answer is None."""
    if isinstance(reference, sp.MatrixBase) or isinstance(claim, sp.MatrixBase):
        return None
    try:
        with _model.time_limit(_model.SIMPLIFY_SECONDS if seconds is None else seconds):
            r = _cancel_ratio(reference, claim)
    except (TimeoutError, RecursionError, NotImplementedError, ZeroDivisionError, TypeError,
            ValueError, sp.PolynomialError):
        return None
    if r.is_number:
        c = real_value(r)  # a float, or a SymPy Float past the float range
        return None if c is None or c == 0 else c
    return None


def _activation_derivatives(reference) -> list:
    """Candidate f'(z) factors found in the reference: sigma'(z) for each exp(-z) it contains."""
    if isinstance(reference, sp.MatrixBase):
        return []
    out = []
    for e in reference.atoms(sp.exp):
        arg = -e.args[0]
        if arg.is_Symbol:
            s = 1 / (1 + sp.exp(-arg))
            out.append(s * (1 - s))
    for t in reference.atoms(sp.tanh):
        out.append(1 - t ** 2)
    for h in reference.atoms(sp.Heaviside):
        out.append(h)
    return out


def _fp_text(fp, acts, names) -> str:
    """f'(z) in its textbook form (yhat(1 - yhat), 1 - a^2) when the activation is named."""
    from .printing import in_activations, latex_named

    if acts:
        form = in_activations(fp, acts)
        if form is not None:
            return latex_named(form, names or {})
    for e in getattr(fp, "atoms", lambda *a: ())(sp.exp):
        z = -e.args[0]
        if z.is_Symbol:
            return f"sigma'({z}) = sigma({z})(1 - sigma({z}))"
    return sp.sstr(fp)
