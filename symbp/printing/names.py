"""How tensor and symbol names print: ``delta2`` -> ``δ2`` (text), ``\\delta^{(2)}`` (LaTeX).

Contract: one table for all printers, so index form, matrix form and generated-code comments
name things the same way. Names follow the derivation: ``x``, ``y``, ``yhat``, ``L``, ``eta``,
and ``<base><layer>`` for ``z``, ``a``, ``W``, ``b``, ``delta``, ``dW``, ``db``.
"""

from __future__ import annotations

import re

_GREEK_TEXT = {"delta": "δ", "eta": "η", "lambda": "λ", "sigma": "σ", "beta": "β", "mu": "μ",
               "epsilon": "ε", "alpha": "α", "gamma": "γ"}
_LAYERED = re.compile(r"^(delta|dW|db|z|a|W|b|v|m|s)(\d+)(_[a-z]+)?$")

_STATE = re.compile(r"^(v|m|s)_(W|b)(\d+)$")

_FIXED_TEXT = {"yhat": "ŷ", "eta": "η", "lambda": "λ", "N": "N", "L": "L", "x": "x", "y": "y",
               "beta1": "β₁", "beta2": "β₂", "epsilon": "ε", "mu": "μ"}
_FIXED_LATEX = {"yhat": r"\hat{y}", "eta": r"\eta", "lambda": r"\lambda", "N": "N", "L": "L",
                "x": "x", "y": "y", "beta1": r"\beta_1", "beta2": r"\beta_2",
                "epsilon": r"\epsilon", "mu": r"\mu"}


def name_text(name: str) -> str:
    """Unicode name for terminal output."""
    if _STATE.match(name):
        return name
    if name in _FIXED_TEXT:
        return _FIXED_TEXT[name]
    m = _LAYERED.match(name)
    if m:
        base, layer, suffix = m.group(1), m.group(2), m.group(3) or ""
        if base in ("dW", "db"):
            return f"∂L/∂{base[1]}{layer}{suffix}"
        return f"{_GREEK_TEXT.get(base, base)}{layer}{suffix}"
    return _GREEK_TEXT.get(name, name)


def name_latex(name: str) -> str:
    """LaTeX name for documents."""
    m = _STATE.match(name)
    if m:
        return f"{{{m.group(1)}_{{{m.group(2)}^{{({m.group(3)})}}}}}}"
    if name in _FIXED_LATEX:
        return _FIXED_LATEX[name]
    m = _LAYERED.match(name)
    if m:
        base, layer, suffix = m.group(1), m.group(2), m.group(3) or ""
        sub = f"_{{\\mathrm{{{suffix[1:]}}}}}" if suffix else ""
        if base in ("dW", "db"):
            return rf"\frac{{\partial L}}{{\partial {base[1]}^{{({layer})}}}}"
        head = "\\delta" if base == "delta" else base
        return f"{head}^{{({layer})}}{sub}"
    if name in _GREEK_TEXT:
        return "\\" + name
    return name
