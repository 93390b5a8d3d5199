"""Name tables of the claim grammar and the rules that turn a written name into a SymbolRef.

Contract: pure data and pure functions (``z2`` -> z at layer 2, ``yhat`` -> hat y); no
evaluation of user text.
"""

from __future__ import annotations

import re

from . import ast as A
from .ast import SymbolRef

#: Known functions: spelling -> canonical name (the converter's table uses canonical names).
FUNCTIONS = {
    "sigma": "sigma", "sigmoid": "sigma", "tanh": "tanh", "relu": "relu", "ReLU": "relu",
    "Relu": "relu", "RELU": "relu", "exp": "exp", "log": "log", "ln": "ln", "sqrt": "sqrt",
    "max": "max", "min": "min", "softplus": "softplus", "abs": "abs", "sinh": "sinh",
    "cosh": "cosh", "sin": "sin", "cos": "cos", "softmax": "softmax", "erf": "erf",
    # the unit step (ReLU's derivative): H(z), \\text{step}(z); a bare H stays a variable
    "H": "heaviside", "heaviside": "heaviside", "Heaviside": "heaviside", "step": "heaviside",
}
#: Letters that name the indicator function after \\mathbb: \\mathbb{1}[z > 0], \\mathbb{I}(z > 0).
INDICATOR_LETTERS = frozenset({"1", "I"})
#: LaTeX commands that are functions (``\\tanh x`` may omit the parentheses).
FUNCTION_COMMANDS = frozenset({"tanh", "exp", "log", "ln", "max", "min", "sinh", "cosh", "sin",
                               "cos", "sigma"})
#: Single letters that are generic functions when applied: f(z), f'(z), g(x).
GENERIC_FUNCTIONS = frozenset({"f", "g", "h", "phi", "varphi", "psi"})
GREEK = frozenset({
    "alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta", "iota",
    "kappa", "lambda", "mu", "nu", "xi", "rho", "sigma", "tau", "phi", "varphi", "chi", "psi",
    "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi", "Sigma", "Phi", "Psi", "Omega",
})
CONSTANT_COMMANDS = {"pi": "pi", "infty": "oo"}
#: Letters whose numeric or l-based subscript names a layer (W_2, b_l, \\delta_{l+1}, A_{l-1}).
LAYER_LETTERS = frozenset({"W", "w", "A", "Z", "H", "B", "b", "z", "a", "h", "delta", "Delta"})
LAYER_WORDS = frozenset({"output", "out", "hidden", "input", "in", "L"})
HAT_ALIASES = {"yhat": "y", "ypred": "y"}
HAT_SUBSCRIPTS = frozenset({"hat", "pred"})
MULOPS = {"*": "mul", "/": "div", "@": "matmul", "cdot": "mul", "times": "mul", "ast": "mul",
          "odot": "hadamard", "circ": "hadamard", "div": "div"}
RELATIONS = {"=": "eq", ":=": "assign", "<-": "assign", "leftarrow": "assign", "gets": "assign",
             "approx": "approx", "coloneqq": "assign"}
COMPARISONS = {"<": "lt", ">": "gt", "<=": "le", ">=": "ge", "leq": "le", "le": "le",
               "geq": "ge", "ge": "ge", "neq": "ne", "ne": "ne", "lt": "lt", "gt": "gt"}
#: A superscript that transposes: the name T or the commands \\top, \\intercal (\\mathsf{T} and
#: \\mathrm{T} reach the parser as T: the lexer drops \\mathsf and reads \\mathrm{T} as a name).
TRANSPOSE_MARKS = frozenset({"T", "top", "intercal"})
LAYER_LABEL = re.compile(r"(?:\d+|[lL](?:[+-]\d+)?)\Z")
_TRAILING_DIGITS = re.compile(r"([A-Za-z]+?)(\d+)\Z")
INDEX_LETTERS = frozenset("ijklmnpqrst")

def replace_ref(ref: SymbolRef, **changes) -> SymbolRef:
    fields = dict(base=ref.base, layer=ref.layer, indices=ref.indices, hat=ref.hat,
                  transpose=ref.transpose, prime=ref.prime)
    fields.update(changes)
    return SymbolRef(**fields)


def layer_value(label: str) -> A.Layer:
    return int(label) if label.isdigit() else label


_GENERAL_LAYERED = re.compile(r"^([A-Za-z]+?)([lL](?:[+-]\d+)?)$")


def nabla_ref(label: str) -> SymbolRef:
    """The variable of ``\\nabla_{...}``: as :func:`symbol_ref`, and a layer letter with a
    general layer (``W^{(l)}`` reaches here as ``Wl``, ``W^{(l+1)}`` as ``Wl+1``)."""
    m = _GENERAL_LAYERED.match(label)
    if m and m.group(1) in LAYER_LETTERS:
        return SymbolRef(m.group(1), layer=m.group(2))
    return symbol_ref(label)


def symbol_ref(name: str) -> SymbolRef:
    """A bare identifier: ``yhat`` -> hat y; ``z2`` -> z layer 2; ``y1`` -> y index 1."""
    if name in HAT_ALIASES:
        return SymbolRef(HAT_ALIASES[name], hat=True)
    m = _TRAILING_DIGITS.match(name)
    if m:
        base, digits = m.groups()
        if base in HAT_ALIASES:
            return SymbolRef(HAT_ALIASES[base], indices=(digits,), hat=True)
        if base in LAYER_LETTERS or base.startswith("d") and base[1:] in LAYER_LETTERS:
            return SymbolRef(base, layer=int(digits))
        return SymbolRef(base, indices=(digits,))
    return SymbolRef(name)
