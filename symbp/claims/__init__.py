"""Claims: formulas as people write them (LaTeX or plain text), parsed safely.

Public API (re-exported here)::

    parse_claim(text) -> Claim                 sides, relations, .derivative, .is_derivative_claim
    parse_expression(text) -> Node
    to_sympy(node, resolver=None, *, text="", functions=None) -> sympy object
    Resolver, DefaultResolver, IndexedResolver  what the variables stand for
    check_scalar_identity(claim, functions=None) -> bool | None
    extract_formulas(markdown_text) -> list[Formula]
    extract_spec_markers(markdown_text) -> list[(line, spec)]   <!-- symbp: spec = NAME -->
    Claim, SymbolRef, DerivativeRef, Formula, ClaimParseError

No function here evaluates user text (no eval/exec/sympify/parse_expr/sympy.parsing).
"""

from .ast import Claim, ClaimParseError, DerivativeRef, Formula, SymbolRef
from .convert import (DefaultResolver, IndexedResolver, Resolver, check_scalar_identity,
                      claim_sides_sympy, to_sympy)
from .extract import extract_formulas, extract_spec_markers
from .lexer import MAX_DEPTH, MAX_LENGTH, MAX_TOKENS, tokenize
from .parse import parse_claim, parse_expression

__all__ = [
    "Claim", "ClaimParseError", "DerivativeRef", "Formula", "SymbolRef", "DefaultResolver",
    "IndexedResolver", "Resolver", "check_scalar_identity", "claim_sides_sympy", "to_sympy",
    "extract_formulas", "extract_spec_markers", "parse_claim", "parse_expression", "tokenize", "MAX_DEPTH",
    "MAX_LENGTH", "MAX_TOKENS",
]
