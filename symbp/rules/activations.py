"""Elementwise activation rules.

Contract: each activation is a SymPy expression ``f`` in the scalar symbol :data:`X`. Its
derivative ``df`` always comes from ``sympy.diff(f, X)``; where a textbook writes the derivative
in terms of the activation's output ``a = f(x)`` (``sigma' = a(1 - a)``, ``tanh' = 1 - a^2``),
the rule also carries that form as ``df_out`` in the symbol :data:`A`. The tests check
``df_out.subs(A, f) == df`` symbolically for every rule, so a rewritten form is never trusted
without proof.

Register a new activation with :func:`register_activation` (see ``symbp/extend.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

import sympy as sp

from ..expr import as_sympy

X = sp.Symbol("x", real=True)
A = sp.Symbol("a", real=True)


@dataclass(frozen=True)
class Activation:
    """An elementwise activation ``a = f(x)`` and its derivative.

    Attributes:
        name: registry name (``"sigmoid"``) or ``"custom"``.
        f: the function, a SymPy expression in :data:`X`.
        df: ``sympy.diff(f, X)``, simplified.
        df_out: the derivative written in the output :data:`A`, or None when no such form exists.
        text: short name for printing (``"σ"``, ``"ReLU"``).
        latex: LaTeX name for printing (``"\\sigma"``).
        params: the parameters the activation was built with (``{"slope": 1/100}``).
        source: the expression text for a custom activation, else ``""``.
    """

    name: str
    f: sp.Expr
    df: sp.Expr
    df_out: sp.Expr | None
    text: str
    latex: str
    params: tuple[tuple[str, sp.Expr], ...] = ()
    source: str = ""

    def derivative(self, a: sp.Expr, z: sp.Expr) -> sp.Expr:
        """f'(z), written in the output ``a`` when a textbook form exists, else in ``z``."""
        if self.df_out is not None:
            return self.df_out.subs(A, a)
        return self.df.subs(X, z)

    def apply(self, z: sp.Expr) -> sp.Expr:
        """f(z) as an explicit SymPy expression."""
        return self.f.subs(X, z)

    @property
    def is_identity(self) -> bool:
        return self.name == "identity"


@dataclass(frozen=True)
class _Entry:
    build: Callable[..., tuple[sp.Expr, sp.Expr | None]]
    text: str
    latex: str
    params: dict[str, float] = field(default_factory=dict)
    doc: str = ""


ACTIVATIONS: dict[str, _Entry] = {}


def register_activation(name: str, text: str, latex: str, params: dict[str, float] | None = None,
                        doc: str = ""):
    """Decorator: register ``build(**params) -> (f, df_out or None)`` under ``name``."""

    def deco(build):
        ACTIVATIONS[name] = _Entry(build, text, latex, dict(params or {}), doc)
        return build

    return deco


def make_activation(name: str, **params: sp.Expr) -> Activation:
    """Build a registered activation with the given parameters (defaults fill the rest)."""
    entry = ACTIVATIONS[name]
    values = {k: sp.Rational(str(v)) if isinstance(v, float) else as_sympy(v)
              for k, v in {**entry.params, **params}.items()}
    f, df_out = entry.build(**values)
    return Activation(name, f, _diff(f), df_out, entry.text, entry.latex,
                      tuple(sorted(values.items())))


def custom_activation(f: sp.Expr, source: str) -> Activation:
    """An activation from a user expression in ``x`` (already parsed safely into SymPy)."""
    f = f.subs(sp.Symbol("x"), X)
    return Activation("custom", f, _diff(f), None, "f", "f", (), source)


@lru_cache(maxsize=256)
def _diff(f: sp.Expr) -> sp.Expr:
    """sympy.diff(f, x), in its shortest form among a few cheap rewrites.

    ``sympy.simplify`` is not used: it took seconds on GELU's derivative and rewrote SiLU's in
    cosh, which overflows where the exp form does not.
    """
    d = sp.diff(f, X)
    d = d.replace(sp.Heaviside, lambda *args: sp.Heaviside(args[0], 0))
    if d.has(sp.Piecewise, sp.Heaviside, sp.Max, sp.Min):
        return d
    bounded = _in_sigmoid(d)
    if bounded is not None:
        return bounded
    return min((d, sp.factor(d), sp.cancel(d)), key=sp.count_ops)


def _in_sigmoid(d: sp.Expr) -> sp.Expr | None:
    """``d`` as a polynomial in ``s = 1/(1 + exp(-x))`` when that exists, else None.

    Holds when every exponential is ``exp(k x)`` with an integer k and, with
    ``exp(x) = s/(1 - s)``, no ``s`` is left in a denominator. Then every term is bounded
    (``0 <= s <= 1``) and the printer computes ``s`` as the stable sigmoid, where SymPy's own
    form can overflow: SiLU's ``(x + exp(x) + 1) exp(x)/(exp(x) + 1)**2`` is inf/inf (NaN)
    from x = 355 in float64 and x = 44 in float32; here it is ``s (1 + x (1 - s))``.
    """
    exps = d.atoms(sp.exp)
    if not exps or not all((e.args[0] / X).is_integer for e in exps):
        return None
    s = sp.Dummy("s")
    r = sp.factor(sp.cancel(d.xreplace({e: (s / (1 - s)) ** (e.args[0] / X) for e in exps})))
    if sp.fraction(r)[1].has(s):
        return None
    q = sp.cancel(r / s)
    if not sp.fraction(q)[1].has(s):  # the textbook shape: s (1 + x (1 - s)), s (1 - s)
        r = s * sp.collect(sp.expand(q), X)
    return r.xreplace({s: 1 / (1 + sp.exp(-X))})


# --- the built-in activations: f(x) and, where one exists, f'(x) written in a = f(x) ------------

@register_activation("identity", "id", r"\mathrm{id}", doc="f(x) = x")
def identity():
    return X, sp.Integer(1)                                     # f' = 1


@register_activation("sigmoid", "σ", r"\sigma", doc="f(x) = 1 / (1 + exp(-x))")
def sigmoid():
    return 1 / (1 + sp.exp(-X)), A * (1 - A)                    # σ' = σ(1 - σ)


@register_activation("tanh", "tanh", r"\tanh", doc="f(x) = tanh(x)")
def tanh():
    return sp.tanh(X), 1 - A**2                                 # tanh' = 1 - tanh²


@register_activation("relu", "ReLU", r"\operatorname{ReLU}", doc="f(x) = max(0, x)")
def relu():
    return sp.Max(0, X), sp.Heaviside(A, 0)                     # ReLU' = 1[a > 0]


@register_activation("leaky_relu", "LeakyReLU", r"\operatorname{LeakyReLU}", {"slope": 0.01},
                     doc="f(x) = x if x > 0 else slope * x (slope > 0)")
def leaky_relu(slope):
    f = sp.Piecewise((X, X > 0), (slope * X, True))
    return f, sp.Piecewise((1, A > 0), (slope, True))          # f' = 1 if a > 0 else slope


@register_activation("softplus", "softplus", r"\operatorname{softplus}",
                     doc="f(x) = log(1 + exp(x))")
def softplus():
    return sp.log(1 + sp.exp(X)), 1 - sp.exp(-A)                # softplus' = σ(x) = 1 - e^{-a}


@register_activation("elu", "ELU", r"\operatorname{ELU}", {"alpha": 1.0},
                     doc="f(x) = x if x > 0 else alpha * (exp(x) - 1) (alpha > 0)")
def elu(alpha):
    f = sp.Piecewise((X, X > 0), (alpha * (sp.exp(X) - 1), True))
    return f, sp.Piecewise((1, A > 0), (A + alpha, True))      # ELU' = 1 if a > 0 else a + alpha


@register_activation("gelu", "GELU", r"\operatorname{GELU}",
                     doc="tanh approximation: x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))")
def gelu():
    c = sp.sqrt(2 / sp.pi)
    return X / 2 * (1 + sp.tanh(c * (X + sp.Rational(44715, 10**6) * X**3))), None


@register_activation("silu", "SiLU", r"\operatorname{SiLU}", doc="f(x) = x sigma(x) (also 'swish')")
def silu():
    return X / (1 + sp.exp(-X)), None


ACTIVATION_ALIASES = {"swish": "silu", "linear": "identity", "logistic": "sigmoid", "none": "identity"}
