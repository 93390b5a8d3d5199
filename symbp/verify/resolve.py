"""Notation: what a claim's symbols mean in a spec's network.

Contract: :func:`classify` maps a :class:`~symbp.claims.SymbolRef` (``z_k^{(2)}``, ``\\hat{y}_k``,
``net_j``, ``A_{l-1}``, ``W^{(l+1)}``) to a :class:`Meaning`: a kind (``loss``, ``x``, ``y``,
``yhat``, ``z``, ``a``, ``W``, ``b``, ``delta``, ``N``, ``lr``, ``l2`` for the spec's weight
decay \\lambda) and a layer (a number, a layer
expression in ``l`` and ``L`` such as ``l+1``, or None when the claim writes none). Built-in
conventions cover J/L/E/C for the loss; \\hat{y}, y_pred, o, output for the prediction; z, Z, net
for pre-activations; a, A, h for activations (layer 0 is the input); t, target for targets.
A spec's ``[notation]`` table adds aliases: ``o = "yhat"``, ``s = "z"``, ``q3 = "a2"`` or a formula
(``delta_output = '\\frac{\\partial L}{\\partial \\hat{y}}'``). Unknown names raise
:class:`~symbp.verify.model.Unresolvable` with the reason, never a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..claims import SymbolRef
from ..errors import SpecError
from .model import Unresolvable

KINDS = ("loss", "x", "y", "yhat", "z", "a", "W", "b", "delta", "N", "lr", "l2", "loss_sum")

#: Built-in names (the base as the parser reports it) -> kind.
CONVENTIONS = {
    "L": "loss", "J": "loss", "E": "loss", "C": "loss", "ell": "loss", "Loss": "loss",
    "cost": "loss", "loss": "loss",
    "x": "x", "X": "x", "input": "x", "inputs": "x",
    "y": "y", "Y": "y", "t": "y", "target": "y", "targets": "y", "label": "y",
    "o": "yhat", "output": "yhat", "out": "yhat", "outputs": "yhat", "yhat": "yhat",
    "ypred": "yhat", "y_pred": "yhat", "pred": "yhat",
    "z": "z", "Z": "z", "net": "z",
    "a": "a", "A": "a", "h": "a", "H": "a",
    "W": "W", "w": "W", "theta": "W", "Theta": "W",
    "b": "b", "B": "b", "bias": "b",
    "delta": "delta", "dz": "delta", "dZ": "delta",
    "N": "N", "m": "N",
    "alpha": "lr", "eta": "lr", "lr": "lr",
    "lambda": "l2",
    "Lsum": "loss_sum",  # the loss summed over the samples (Ng's dZ, dA: see claims.parse)
}

_TENSOR = re.compile(r"^(z|a|W|b|delta)(\d+)$")
_LAYER = re.compile(r"^\s*(l|L|\d+)\s*(?:([+-])\s*(\d+))?\s*$")


@dataclass(frozen=True)
class Meaning:
    kind: str
    layer: object = None        # int, a layer expression string ('l', 'l+1', 'L'), or None
    formula: object = None      # a parsed alias formula (claims AST node) instead of a kind


def classify(ref: SymbolRef, aliases: dict | None = None) -> Meaning:
    """The meaning of a variable; raises Unresolvable when it has none."""
    aliases = aliases or {}
    keys = [ref.plain_name(), ref.base + ("hat" if ref.hat else ""), ref.base]
    if ref.layer is not None and not str(ref.layer).isdigit():
        keys.insert(0, f"{ref.base}_{ref.layer}")  # \delta_{out} is the alias delta_out
    for key in keys:
        if key in aliases:
            if key == keys[0] and ref.layer is not None and not str(ref.layer).isdigit():
                return _alias(aliases[key], type(ref)(ref.base, None, ref.indices, ref.hat,
                                                      ref.transpose, ref.prime))
            return _alias(aliases[key], ref)
    if ref.hat and ref.base in ("y", "Y"):
        return Meaning("yhat", _layer(ref.layer, ref))
    if ref.base == "output" or (ref.base in ("delta", "y") and ref.layer == "output"):
        return Meaning("delta" if ref.base == "delta" else "yhat", "L")
    kind = CONVENTIONS.get(ref.base)
    if kind is None:
        raise Unresolvable(f"the symbol {_show(ref)} has no meaning in this setting (not a "
                           "built-in name; declare it in the spec's [notation] table)")
    layer = _layer(ref.layer, ref)
    if kind == "a" and layer is not None and layer == 0:
        return Meaning("x")
    if kind == "yhat" and layer is not None and ref.base == "o":
        return Meaning("a", layer)  # o_l: the output of layer l
    return Meaning(kind, layer)


def _alias(value, ref: SymbolRef) -> Meaning:
    if isinstance(value, Meaning):
        return value
    m = _TENSOR.match(value)
    if m:
        return Meaning(m.group(1), int(m.group(2)))
    if value in KINDS:
        return Meaning(value, _layer(ref.layer, ref))
    if value in CONVENTIONS:
        return Meaning(CONVENTIONS[value], _layer(ref.layer, ref))
    from ..claims import parse_expression

    return Meaning("formula", None, parse_expression(value))


def _layer(layer, ref):
    if layer is None or isinstance(layer, int):
        return layer
    s = str(layer)
    if s.isdigit():
        return int(s)
    if _LAYER.match(s):
        return s.replace(" ", "")
    raise Unresolvable(f"the layer '{s}' of {_show(ref)} is not a layer number or an expression in "
                       "l and L")


def layer_value(layer, l: int | None, last: int) -> int | None:
    """Evaluate a layer expression for the general layer ``l`` and the last layer ``last``."""
    if layer is None or isinstance(layer, int):
        return layer
    m = _LAYER.match(str(layer))
    head = m.group(1)
    base = last if head == "L" else (l if head == "l" else int(head))
    if base is None:
        return None
    off = int(m.group(3) or 0) * (-1 if m.group(2) == "-" else 1)
    return base + off


def uses_general_layer(layer) -> bool:
    return isinstance(layer, str) and layer.startswith("l")


def _show(ref: SymbolRef) -> str:
    s = ref.base + ("hat" if ref.hat else "")
    if ref.layer is not None:
        s += f"^({ref.layer})"
    if ref.indices:
        s += "_" + ",".join(ref.indices)
    return s


def validate_notation(value, source: str) -> None:
    """SECTION_VALIDATORS["notation"]: a table of name -> kind, tensor or formula strings."""
    if not isinstance(value, dict):
        raise SpecError(source, "notation", "expected a table such as { o = \"yhat\", net = \"z\" }")
    refs = {}
    for key, v in value.items():
        if not _KEY.match(key):
            raise SpecError(source, f"notation.{key}", "an alias is a symbol name: letters, digits "
                            "and _, starting with a letter (at most 40 characters)")
        if not isinstance(v, str) or not v.strip():
            raise SpecError(source, f"notation.{key}", "expected a string: a kind (yhat, z, a, W, "
                            "b, y, x, loss, delta), a tensor (z2, a1, W3) or a formula")
        if len(v) > 2000:
            raise SpecError(source, f"notation.{key}", "the alias is longer than 2000 characters")
        if not (_TENSOR.match(v) or v in KINDS or v in CONVENTIONS):
            from ..claims import ClaimParseError, parse_expression

            try:
                tree = parse_expression(v)
            except ClaimParseError as exc:
                raise SpecError(source, f"notation.{key}", f"not a kind, tensor or formula: {exc}") from None
            refs[key] = _alias_refs(tree, value)
        m = _TENSOR.match(v)
        if m and int(m.group(2)) == 0 and m.group(1) != "a":
            raise SpecError(source, f"notation.{key}", f"{v}: layers are numbered from 1 "
                            "(a0 is the input)")
    for key in refs:  # formulas that refer to each other in a circle never resolve
        seen, stack = set(), list(refs[key])
        while stack:
            k = stack.pop()
            if k == key:
                raise SpecError(source, f"notation.{key}", "the alias refers to itself (through "
                                "the other aliases); it would never resolve")
            if k not in seen:
                seen.add(k)
                stack.extend(refs.get(k, ()))


_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,39}$")


def _alias_refs(tree, aliases: dict) -> set:
    """The alias names a parsed alias formula mentions."""
    from ..claims import ast as A

    out = set()
    for n in A.walk(tree):
        refs = [n.ref] if isinstance(n, A.Sym) else [n.wrt] if isinstance(n, A.Deriv) else []
        for r in refs:
            for k in (r.plain_name(), r.base + ("hat" if r.hat else ""), r.base):
                if k in aliases:
                    out.add(k)
    return out
