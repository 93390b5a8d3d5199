"""Small formatting helpers of the verify reports (values, points, LaTeX of results)."""

from __future__ import annotations

import re

import sympy as sp
from sympy.printing.latex import LatexPrinter

from ..expr import as_sympy
from .model import is_unknown, real_value, to_complex

def _pretty_name(name: str) -> str:
    """Instance symbols ``z2_0_1`` -> ``z2[0,1]``; claim symbols as they are."""
    m = re.match(r"^([A-Za-z]+\d*)_(\d+(?:_\d+)*)$", name)
    if m:
        return f"{m.group(1)}[{m.group(2).replace('_', ',')}]"
    return name


def fmt_value(v) -> str:
    if v is None:
        return ""
    if isinstance(v, sp.MatrixBase):
        rows = [", ".join(fmt_value(x) for x in v.row(i)) for i in range(v.rows)]
        return "[" + "; ".join(rows) + "]"
    c = to_complex(v)
    if c is not None:
        return f"{c.real:.6g}"
    if not isinstance(v, sp.Basic) or is_unknown(v):
        return str(v)
    big = real_value(v)
    if big is not None:  # past the float range
        return sp.sstr(sp.Float(big, 6))
    try:
        z = sp.N(v, 6)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return "undefined"
    if z.is_finite and z.is_number and not z.is_extended_real:
        re, im = (float(t) for t in z.as_real_imag())
        return f"{re:.6g}{im:+.6g}i (not a real number)"
    return "undefined"


def fmt_point(point: dict) -> dict:
    return {_pretty_name(str(k)): fmt_value(v) for k, v in sorted(point.items(), key=lambda kv: str(kv[0]))}


def latex_of(e) -> str:
    if e is None:
        return ""
    names = {}
    for s in getattr(e, "free_symbols", ()):
        m = re.match(r"^([A-Za-z]+?)(hat)?(\d*)(?:_(.+))?$", s.name)
        if not m:
            continue
        base, hat, layer, idx = m.groups()
        tex = "\\" + base if base in _GREEK else base
        if hat:
            tex = r"\hat{" + tex + "}"
        if layer:
            tex += "^{(" + layer + ")}"
        if idx:
            tex = "{" + tex + "}_{" + idx.replace("_", ",") + "}"
        names[s] = tex
    try:
        return sp.latex(e, symbol_names=names)
    except Exception:  # printing must never break a report
        return str(e)


# --- textbook forms ------------------------------------------------------------------------------

_GREEK = {"alpha", "beta", "gamma", "delta", "epsilon", "eta", "theta", "lambda", "mu", "sigma",
          "tau", "phi", "psi", "omega", "xi", "rho", "nu", "kappa", "zeta", "chi", "pi"}


def ref_latex(ref) -> str:
    """LaTeX of a claim's variable: ``\\hat{y}_{k}``, ``a^{(1)}_{j}``, ``W^{(2)}_{kj}``."""
    base = ("\\" + ref.base) if ref.base in _GREEK else ref.base
    if ref.hat:
        base = r"\hat{" + base + "}"
    if ref.layer is not None:
        base += "^{(" + str(ref.layer) + ")}"
    if ref.indices:
        base += "_{" + "".join(ref.indices) + "}"
    return base


def activation_forms(model) -> list:
    """(S, kind, z) for the model's activation values: S := sigmoid(z) or tanh(z), z a symbol."""
    out = []
    for s, c in model.defs.items():
        if isinstance(c, sp.tanh) and c.args[0].is_Symbol:
            out.append((s, "tanh", c.args[0]))
            continue
        if isinstance(c, sp.Pow) and c.exp == -1 and len(c.free_symbols) == 1:
            z = next(iter(c.free_symbols))
            if c == 1 / (1 + sp.exp(-z)):
                out.append((s, "sigmoid", z))
    return out


def in_activations(expr, acts):
    """``expr`` rewritten in the activation values: exp(-z) -> (1 - S)/S for S = sigmoid(z),
    tanh(z) -> S; returned factored, or None when the rewrite leaves exponentials behind."""
    subs = {}
    for S, kind, z in acts:
        if kind == "sigmoid":
            subs[sp.exp(-z)] = (1 - S) / S
            subs[sp.exp(z)] = S / (1 - S)
        elif kind == "tanh":
            subs[sp.tanh(z)] = S
    if not subs:
        return None
    try:
        e = sp.cancel(as_sympy(expr).xreplace(subs))
        if e.has(sp.exp, sp.tanh):
            return None
        for S, kind, z in acts:  # X * f'(z) when the activation derivative is a factor
            fp = S * (1 - S) if kind == "sigmoid" else 1 - S ** 2
            q = sp.cancel(e / fp)
            if q != 0 and not sp.denom(q).has(S):
                fp_form = (sp.Mul(S, sp.Add(1, -S, evaluate=False), evaluate=False)
                           if kind == "sigmoid" else sp.Add(1, -S ** 2, evaluate=False))
                qf = tidy(sp.factor(q), acts)
                if qf == 1:
                    return fp_form
                if isinstance(qf, sp.Mul) and qf.args and qf.args[0] == -1:
                    return sp.Mul(-1, *qf.args[1:], fp_form, evaluate=False)
                return sp.Mul(qf, fp_form, evaluate=False)
        return tidy(sp.factor(e), acts)
    except (sp.PolynomialError, TypeError, ValueError):
        return None


def tidy(e, acts=()):
    """A printing form: (S - 1) factors become -(1 - S) and (1 - S^2) stays as written."""
    names = {a[0] for a in acts}
    if not isinstance(e, sp.Mul):
        return _tidy_add(e, names)[0]
    sign, args = 1, []
    for a in e.args:
        if a.is_Number and a < 0:
            sign = -sign
            a = -a
            if a == 1:
                continue
        new, flip = _tidy_add(a, names)
        sign *= -1 if flip else 1
        args.append(new)
    if sign < 0:  # flip a difference (y - yhat -> yhat - y) rather than print a leading minus
        for i, a in enumerate(args):
            if isinstance(a, sp.Add) and len(a.args) == 2 and not any(
                    sp.expand(a - (1 - S)) == 0 or sp.expand(a - (1 - S ** 2)) == 0 for S in names):
                args[i] = sp.Add(*[-t for t in a.args], evaluate=False)
                sign = 1
                break
    if sign < 0:
        if any(a == -1 for a in args):
            args = [a for a in args if a != -1]
        else:
            args.insert(0, sp.Integer(-1))
    return sp.Mul(*args, evaluate=False)


def _tidy_add(a, names):
    if isinstance(a, sp.Add) and len(a.args) == 2:
        for S in names:
            if sp.expand(a - (S - 1)) == 0:
                return sp.Add(sp.Integer(1), -S, evaluate=False), True
            if sp.expand(a - (S ** 2 - 1)) == 0:
                return sp.Add(sp.Integer(1), -S ** 2, evaluate=False), True
    return a, False


class _Printer(LatexPrinter):
    """Sums with their positive terms first (\\hat{y}_k - y_k, not - y_k + \\hat{y}_k)."""

    def _as_ordered_terms(self, expr, order=None):
        terms = list(expr.args) if isinstance(expr, sp.Add) else super()._as_ordered_terms(expr, order)
        pos = [t for t in terms if not t.could_extract_minus_sign()]
        neg = [t for t in terms if t.could_extract_minus_sign()]
        pos.sort(key=lambda t: (not t.is_Number, sp.default_sort_key(t)))
        return pos + neg


def latex_named(e, names: dict) -> str:
    """LaTeX of ``e`` with symbols printed as ``names`` says (others by :func:`latex_of`)."""
    if e is None:
        return ""
    try:
        base = {}
        for s in getattr(e, "free_symbols", ()):
            base[s] = names.get(s) or latex_of(s)
        return _Printer({"symbol_names": base, "order": "none"}).doprint(e)
    except Exception:  # printing must never break a report
        return latex_of(e)
