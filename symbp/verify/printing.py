"""Small formatting helpers of the verify reports (values, points, LaTeX of results)."""

from __future__ import annotations

import re

import sympy as sp

from .model import to_complex

_SUB = re.compile(r"^([A-Za-z]+?)(hat)?(\d*)_(.+)$")


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
    if c is None:
        return str(v)
    return f"{c.real:.6g}"


def fmt_point(point: dict) -> dict:
    return {_pretty_name(str(k)): fmt_value(v) for k, v in sorted(point.items(), key=lambda kv: str(kv[0]))}


def latex_of(e) -> str:
    if e is None:
        return ""
    names = {}
    for s in getattr(e, "free_symbols", ()):
        m = re.match(r"^([A-Za-z]+)(hat)?(\d*)(?:_(.+))?$", s.name)
        if not m:
            continue
        base, hat, layer, idx = m.groups()
        tex = {"delta": r"\delta", "alpha": r"\alpha", "eta": r"\eta", "sigma": r"\sigma"}.get(base, base)
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
