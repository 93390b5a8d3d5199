"""Safe parsing of plain-text math into SymPy expressions.

Contract: :func:`parse_math` turns a string such as ``"x / (1 + exp(-x))"`` into a SymPy
expression WITHOUT executing any Python. It never calls ``eval``, ``exec``, ``sympify`` or
``parse_expr``: a hand-written tokenizer and precedence-climbing parser build SymPy objects from
an explicit whitelist of variables and functions. Anything else (attribute access, strings,
brackets, keywords, unknown names) is an :class:`~symbp.errors.ExprError` naming the position.

Grammar (usual precedence, ``^`` and ``**`` right-associative and binding tighter than unary minus)::

    expr   := term (('+' | '-') term)*
    term   := unary (('*' | '/') unary | implicit-factor)*
    unary  := ('-' | '+') unary | power
    power  := atom (('^' | '**') unary)?
    atom   := NUMBER | NAME | NAME '(' expr (',' expr)* ')' | '(' expr ')'

Implicit multiplication (``2x``, ``a(1 - a)``, ``(a)(b)``) is accepted because textbooks write it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Mapping

import sympy as sp

from .errors import ExprError

MAX_LENGTH = 4000
MAX_DEPTH = 60
#: the largest |exponent| of a power with a numeric exponent: SymPy computes a power of two
#: numbers exactly, and an unbounded one (``9^9^9``) would never finish
MAX_EXPONENT = 100

# sigma(x) is kept as an explicit formula so that every derivative comes from sympy.diff.
def _sigmoid(x):
    return 1 / (1 + sp.exp(-x))


def _softplus(x):
    return sp.log(1 + sp.exp(x))


def _relu(x):
    return sp.Max(0, x)


#: Functions a user expression may call: name -> (arity, builder).
FUNCTIONS: dict[str, tuple[int, Callable]] = {
    "exp": (1, sp.exp),
    "log": (1, sp.log),
    "ln": (1, sp.log),
    "sqrt": (1, sp.sqrt),
    "tanh": (1, sp.tanh),
    "sinh": (1, sp.sinh),
    "cosh": (1, sp.cosh),
    "sin": (1, sp.sin),
    "cos": (1, sp.cos),
    "atan": (1, sp.atan),
    "arctan": (1, sp.atan),
    "abs": (1, sp.Abs),
    "erf": (1, sp.erf),
    "sigmoid": (1, _sigmoid),
    "sigma": (1, _sigmoid),
    "softplus": (1, _softplus),
    "relu": (1, _relu),
    "max": (2, sp.Max),
    "min": (2, sp.Min),
}

CONSTANTS: dict[str, sp.Expr] = {"pi": sp.pi, "e": sp.E}


def power_error(base: sp.Basic, exponent: sp.Basic) -> str:
    """Why ``base^exponent`` is refused before SymPy evaluates it, or ``""``: a numeric exponent
    beyond :data:`MAX_EXPONENT`, or a power of two numbers too large to compute exactly."""
    if not getattr(exponent, "is_Number", False):  # a symbol, or a matrix
        return ""
    if abs(exponent) > MAX_EXPONENT:
        return f"the exponent {exponent} is too large (at most {MAX_EXPONENT} in absolute value)"
    if getattr(base, "is_Number", False) and abs(base) > 10 ** 6 and abs(exponent) > 4:
        return f"the power {base}^{exponent} is too large to compute"
    return ""


_TOKEN = re.compile(
    r"\s*(?:"
    r"(?P<num>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z_0-9]*)"
    r"|(?P<op>\*\*|[-+*/^(),])"
    r")"
)


@dataclass(frozen=True)
class Token:
    kind: str  # 'num', 'name', 'op', 'end'
    text: str
    pos: int


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens; any character outside the grammar is an error."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            start = pos + (len(text[pos:]) - len(text[pos:].lstrip()))
            raise ExprError(text, start, f"unexpected character {text[start]!r}; expected a number, "
                            "a name, an operator (+ - * / ^ **) or a parenthesis")
        kind = m.lastgroup or "op"
        start = m.start(kind)
        tokens.append(Token(kind, m.group(kind), start))
        pos = m.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


class _Parser:
    def __init__(self, text: str, variables: Mapping[str, sp.Expr], what: str):
        self.text = text
        self.variables = variables
        self.what = what
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0

    # -- helpers -------------------------------------------------------------------------------
    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def expect(self, op: str) -> None:
        tok = self.take()
        if tok.text != op:
            found = "the end" if tok.kind == "end" else repr(tok.text)
            raise ExprError(self.text, tok.pos, f"expected {op!r} but found {found}")

    def enter(self, pos: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExprError(self.text, pos, f"nested more than {MAX_DEPTH} levels deep")

    # -- grammar -------------------------------------------------------------------------------
    def parse(self) -> sp.Expr:
        expr = self.expr()
        tok = self.peek()
        if tok.kind != "end":
            raise ExprError(self.text, tok.pos, f"unexpected {tok.text!r} after a complete expression")
        return expr

    def expr(self) -> sp.Expr:
        self.enter(self.peek().pos)
        left = self.term()
        while self.peek().text in ("+", "-"):
            op = self.take().text
            right = self.term()
            left = left + right if op == "+" else left - right
        self.depth -= 1
        return left

    def _starts_atom(self, tok: Token) -> bool:
        return tok.kind in ("num", "name") or tok.text == "("

    def term(self) -> sp.Expr:
        left = self.unary()
        while True:
            tok = self.peek()
            if tok.text in ("*", "/"):
                self.take()
                right = self.unary()
                left = left * right if tok.text == "*" else left / right
            elif self._starts_atom(tok):  # implicit multiplication: 2x, a(1 - a)
                left = left * self.power()
            else:
                return left

    def unary(self) -> sp.Expr:
        tok = self.peek()
        if tok.text in ("-", "+"):
            self.take()
            self.enter(tok.pos)
            operand = self.unary()
            self.depth -= 1
            return -operand if tok.text == "-" else operand
        return self.power()

    def power(self) -> sp.Expr:
        base = self.atom()
        if self.peek().text in ("^", "**"):
            tok = self.take()
            self.enter(tok.pos)
            exponent = self.unary()
            self.depth -= 1
            why = power_error(base, exponent)
            if why:
                raise ExprError(self.text, tok.pos, why)
            return sp.Pow(base, exponent)
        return base

    def atom(self) -> sp.Expr:
        tok = self.take()
        if tok.kind == "num":
            mantissa, _, exponent = tok.text.lower().partition("e")
            if exponent and abs(int(exponent)) > 308 or len(mantissa) > 40:
                raise ExprError(self.text, tok.pos, f"number {tok.text!r} is outside the float64 range "
                                "or has more than 40 digits")
            return sp.Rational(tok.text)
        if tok.text == "(":
            inner = self.expr()
            self.expect(")")
            return inner
        if tok.kind == "name":
            return self.name(tok)
        found = "the end of the expression" if tok.kind == "end" else repr(tok.text)
        raise ExprError(self.text, tok.pos, f"expected a number, a name or '(' but found {found}")

    def name(self, tok: Token) -> sp.Expr:
        name = tok.text
        if self.peek().text == "(" and name in FUNCTIONS:
            arity, builder = FUNCTIONS[name]
            self.take()
            args = [self.expr()]
            while self.peek().text == ",":
                self.take()
                args.append(self.expr())
            self.expect(")")
            if len(args) != arity:
                raise ExprError(self.text, tok.pos,
                                f"{name}() takes {arity} argument{'s' if arity > 1 else ''}, got {len(args)}")
            return builder(*args)
        if name in self.variables:
            return self.variables[name]
        if name in CONSTANTS:
            return CONSTANTS[name]
        if name in FUNCTIONS:
            raise ExprError(self.text, tok.pos, f"function {name} must be called with parentheses")
        allowed = ", ".join(sorted(self.variables)) or "none"
        raise ExprError(
            self.text, tok.pos,
            f"unknown name {name!r}; {self.what} may use the variables {allowed}, the constants "
            f"pi and e, and the functions {', '.join(sorted(FUNCTIONS))}",
        )


def as_sympy(value) -> sp.Basic:
    """A SymPy object from a number or an existing SymPy object, without ``sympify``.

    Only ``int``, ``float``, ``fractions.Fraction``, NumPy scalars and SymPy objects are accepted;
    anything else (a string especially) is a ``TypeError``, so text can never reach a parser here.
    """
    from fractions import Fraction

    import numpy as np

    if isinstance(value, sp.Basic):
        return value
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"expected a number, got {value!r}")
    if isinstance(value, (int, np.integer)):
        return sp.Integer(int(value))
    if isinstance(value, Fraction):
        return sp.Rational(value.numerator, value.denominator)
    if isinstance(value, (float, np.floating)):
        return sp.Float(float(value))
    raise TypeError(f"expected a number or a SymPy object, got {type(value).__name__}")


def parse_math(text: str, variables: Mapping[str, sp.Expr], what: str = "the expression") -> sp.Expr:
    """Parse plain math ``text`` into a SymPy expression, safely.

    Args:
        text: the expression, e.g. ``"x / (1 + exp(-x))"``.
        variables: the names the expression may use, mapped to the SymPy objects they stand for.
        what: how to call the expression in error messages (e.g. ``"a custom activation"``).

    Returns:
        The SymPy expression.

    Raises:
        ExprError: on any character, name or construct outside the grammar, on text longer than
            ``MAX_LENGTH`` characters or nested deeper than ``MAX_DEPTH``.
    """
    if not isinstance(text, str):
        raise ExprError(str(text), None, f"{what} must be a string")
    if len(text) > MAX_LENGTH:
        raise ExprError(text, None, f"longer than {MAX_LENGTH} characters")
    if not text.strip():
        raise ExprError(text, 0, f"{what} is empty")
    return _Parser(text, variables, what).parse()
