"""Loss rules.

Contract: a loss is a per-element expression ``ell`` in the symbols :data:`YHAT` (the network's
prediction) and :data:`Y` (the target), summed over outputs and over the batch and scaled by
``1/N`` (reduction ``mean``) or 1 (``sum``). Its derivative with respect to the prediction always
comes from ``sympy.diff``.

Two losses are *fused* with the output link, as textbooks do, because the fused form is both
simpler and numerically stable:

- ``bce_logits``: ``ell(z, y) = log(1 + e^z) - y z`` on the logits ``z``; ``yhat = sigma(z)`` and
  ``d ell / dz = sigma(z) - y``.
- ``softmax_cross_entropy``: ``L_n = -sum_k y_k log softmax(z)_k``; ``yhat = softmax(z)`` and
  ``dL_n / dz_k = yhat_k - y_k``, which assumes every target row sums to one (one-hot).

The tests check each fused form against the unfused chain rule symbolically.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import sympy as sp

from ..expr import as_sympy

YHAT = sp.Symbol("yhat", real=True)
Y = sp.Symbol("y", real=True)
Z = sp.Symbol("z", real=True)


@dataclass(frozen=True)
class Loss:
    """A loss rule.

    Attributes:
        name: registry name.
        ell: per-element loss in :data:`YHAT` and :data:`Y`; for ``bce_logits`` in :data:`Z`
            and :data:`Y`; None for ``softmax_cross_entropy`` (a row-wise loss).
        dell: ``d ell / d yhat`` (or ``d ell / d z`` on logits), from ``sympy.diff``.
        link: ``None`` (the loss reads the last layer's activation), ``"sigmoid"`` or
            ``"softmax"`` (the loss reads logits and applies the link itself).
        text, latex: how the loss is named in printouts.
        assumption: the assumption a fused form rests on, printed with the derivation.
        params: parameters the loss was built with.
        source: expression text of a custom loss.
    """

    name: str
    ell: sp.Expr | None
    dell: sp.Expr | None
    link: str | None
    text: str
    latex: str
    assumption: str = ""
    params: tuple[tuple[str, sp.Expr], ...] = ()
    source: str = ""


@dataclass(frozen=True)
class _Entry:
    build: Callable[..., Loss]
    params: dict[str, float]
    doc: str


LOSSES: dict[str, _Entry] = {}


def register_loss(name: str, params: dict[str, float] | None = None, doc: str = ""):
    """Decorator: register ``build(**params) -> Loss`` under ``name``."""

    def deco(build):
        LOSSES[name] = _Entry(build, dict(params or {}), doc)
        return build

    return deco


def make_loss(name: str, **params) -> Loss:
    """Build a registered loss with the given parameters (defaults fill the rest)."""
    entry = LOSSES[name]
    values = {k: sp.Rational(str(v)) if isinstance(v, float) else as_sympy(v)
              for k, v in {**entry.params, **params}.items()}
    return entry.build(**values)


def _elementwise(name, ell, text, latex, params=(), source="", assumption="") -> Loss:
    return Loss(name, ell, sp.diff(ell, YHAT), None, text, latex, assumption, tuple(params), source)


def custom_loss(ell: sp.Expr, source: str) -> Loss:
    """A per-element loss from a user expression in ``yhat`` and ``y`` (parsed safely)."""
    ell = ell.subs({sp.Symbol("yhat"): YHAT, sp.Symbol("y"): Y})
    return _elementwise("custom", ell, "ℓ", r"\ell", source=source)


# --- the built-in losses: ell(yhat, y) --------------------------------------------------------

@register_loss("mse", {"scale": 0.5}, doc="scale * (yhat - y)^2; scale 1/2 (textbook) or 1")
def mse(scale):
    return _elementwise("mse", scale * (YHAT - Y) ** 2, "MSE", r"\mathrm{MSE}", [("scale", scale)])


@register_loss("bce", doc="-(y log yhat + (1 - y) log(1 - yhat)), yhat a probability")
def bce():
    ell = -(Y * sp.log(YHAT) + (1 - Y) * sp.log(1 - YHAT))
    return _elementwise("bce", ell, "BCE", r"\mathrm{BCE}",
                        assumption="predictions lie in (0, 1): the output activation must map there")


@register_loss("cross_entropy", doc="-y log yhat per output (with a softmax output: fused softmax CE)")
def cross_entropy():
    return _elementwise("cross_entropy", -Y * sp.log(YHAT), "CE", r"\mathrm{CE}",
                        assumption="predictions lie in (0, 1]")


@register_loss("huber", {"delta": 1.0}, doc="r^2/2 if |r| <= delta else delta (|r| - delta/2), r = yhat - y")
def huber(delta):
    r = YHAT - Y
    ell = sp.Piecewise((r**2 / 2, sp.Abs(r) <= delta), (delta * (sp.Abs(r) - delta / 2), True))
    return _elementwise("huber", ell, "Huber", r"\mathrm{Huber}", [("delta", delta)])


@register_loss("bce_logits", doc="sigmoid + BCE fused on the logits z: log(1 + e^z) - y z")
def bce_logits():
    ell = sp.log(1 + sp.exp(Z)) - Y * Z                        # = BCE(sigma(z), y)
    return Loss("bce_logits", ell, sp.diff(ell, Z), "sigmoid", "BCE∘σ",
                r"\mathrm{BCE}\circ\sigma",
                assumption="the last layer is linear (logits z); yhat = σ(z) is applied inside the loss")


@register_loss("softmax_cross_entropy", doc="softmax + cross-entropy fused on the logits, one-hot targets")
def softmax_cross_entropy():
    return Loss("softmax_cross_entropy", None, None, "softmax", "CE∘softmax",
                r"\mathrm{CE}\circ\operatorname{softmax}",
                assumption="targets are one-hot (each row of y sums to 1); the last layer is linear "
                           "(logits z) and yhat = softmax(z) is applied inside the loss")


LOSS_ALIASES = {"mean_squared_error": "mse", "binary_cross_entropy": "bce",
                "softmax_ce": "softmax_cross_entropy", "bce_with_logits": "bce_logits"}
