"""Safe parser for derivative claims written in LaTeX or plain text.

Contract: :func:`parse_claim` turns a formula as people write it, e.g.
``\\frac{\\partial J}{\\partial z_k^{(2)}} = 2(y_k - \\hat{y}_k)`` or
``dL/dz2[k] = 2*(y[k] - yhat[k])``, into a :class:`~symbp.claims.ast.Claim` of AST nodes. It
never runs user text: no ``eval``, ``exec``, ``sympify``, ``parse_expr`` or ``sympy.parsing``;
a tokenizer (:mod:`symbp.claims.lexer`) and this recursive-descent parser build dataclasses
from an explicit grammar. Input over the size limits, unbalanced braces, unknown commands,
Python syntax and anything outside the grammar raise ``ClaimParseError`` with the position
and what was expected. Conversion to SymPy is separate (:mod:`symbp.claims.convert`).

Grammar (``^``/``_``/``'``/``.T`` bind tightest, then unary minus, then products)::

    claim   := side (REL side)+          REL: = := <- \\leftarrow \\gets \\approx
    side    := expr TEXT*                trailing \\text{...} remarks become annotations
    expr    := term (('+' | '-') term)*
    term    := unary ((MULOP unary) | implicit-factor)*
               MULOP: * / @ \\cdot \\times \\odot \\circ \\ast
    unary   := ('-' | '+') unary | postfix
    postfix := primary ('^' script | '_' script | "'" | '.T' | '[' indices ']')*
    primary := NUMBER | symbol | call | '(' expr ')' | '{' expr '}' | '[' expr ']'
             | \\frac{..}{..} | \\sqrt[..]{..} | \\hat{..} | \\sum_..^.. term | derivative
             | \\begin{bmatrix}..\\end{bmatrix} | \\begin{cases}..\\end{cases}
    derivative := \\frac{\\partial of}{\\partial x} | \\frac{d of}{d x} | \\partial of / \\partial x
                | dL/dx (plain) | \\nabla_x of | grad_x
"""

from __future__ import annotations

import re
from typing import Optional

from . import ast as A
from .ast import ClaimParseError, SymbolRef
from .lexer import MAX_DEPTH, Token, tokenize

#: Known functions: spelling -> canonical name (the converter's table uses canonical names).
FUNCTIONS = {
    "sigma": "sigma", "sigmoid": "sigma", "tanh": "tanh", "relu": "relu", "ReLU": "relu",
    "Relu": "relu", "RELU": "relu", "exp": "exp", "log": "log", "ln": "ln", "sqrt": "sqrt",
    "max": "max", "min": "min", "softplus": "softplus", "abs": "abs", "sinh": "sinh",
    "cosh": "cosh", "sin": "sin", "cos": "cos", "softmax": "softmax", "erf": "erf",
}
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
TRANSPOSE_MARKS = frozenset({"T", "top", "intercal", "mathsf"})
_LAYER_LABEL = re.compile(r"(?:\d+|[lL](?:[+-]\d+)?)\Z")
_TRAILING_DIGITS = re.compile(r"([A-Za-z]+?)(\d+)\Z")
_INDEX_LETTERS = frozenset("ijklmnpqrst")


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0
        self.in_d_operand = False

    # -- helpers ---------------------------------------------------------------------------------
    def peek(self, k: int = 0) -> Token:
        return self.tokens[min(self.i + k, len(self.tokens) - 1)]

    def take(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind != "end":
            self.i += 1
        return tok

    def error(self, tok: Token, problem: str, expected: str = "") -> ClaimParseError:
        return ClaimParseError(self.text, tok.pos, problem, expected)

    def found(self, tok: Token) -> str:
        if tok.kind == "end":
            return "the end of the formula"
        return f"'\\{tok.text}'" if tok.kind == "cmd" else repr(tok.text)

    def is_op(self, text: str, k: int = 0) -> bool:
        tok = self.peek(k)
        return tok.kind == "op" and tok.text == text

    def is_cmd(self, *names: str, k: int = 0) -> bool:
        tok = self.peek(k)
        return tok.kind == "cmd" and tok.text in names

    def expect_op(self, text: str) -> Token:
        tok = self.take()
        if tok.kind != "op" or tok.text != text:
            raise self.error(tok, f"found {self.found(tok)}", repr(text))
        return tok

    def enter(self, tok: Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(tok, f"the formula is nested more than {MAX_DEPTH} levels deep",
                             "a less deeply nested formula")

    def leave(self) -> None:
        self.depth -= 1

    # -- claim -----------------------------------------------------------------------------------
    def claim(self) -> A.Claim:
        sides, rels, notes = [self.side()], [], []
        while True:
            notes.extend(self.annotations())
            rel = self.relation()
            if rel is None:
                break
            rels.append(rel)
            sides.append(self.side())
        notes.extend(self.annotations())
        tok = self.peek()
        if tok.kind != "end":
            raise self.error(tok, f"unexpected {self.found(tok)} after a complete expression",
                             "an operator, '=' or the end of the formula")
        if not rels:
            raise self.error(tok, "a claim needs a relation between two sides", "'=' or ':='")
        return A.Claim(self.text, tuple(sides), tuple(rels), tuple(notes))

    def annotations(self) -> list[str]:
        notes = []
        while self.peek().kind == "text":
            notes.append(self.take().text)
        return notes

    def relation(self) -> Optional[str]:
        tok = self.peek()
        if tok.kind in ("op", "cmd") and tok.text in RELATIONS:
            self.take()
            return RELATIONS[tok.text]
        return None

    def side(self) -> A.Node:
        return self.expr()

    # -- expressions -----------------------------------------------------------------------------
    def expr(self) -> A.Node:
        start = self.peek()
        self.enter(start)
        left = self.term()
        while self.is_op("+") or self.is_op("-"):
            tok = self.take()
            right = self.term()
            left = A.BinOp("add" if tok.text == "+" else "sub", left, right, tok.pos)
        self.leave()
        return left

    def starts_factor(self, tok: Token) -> bool:
        if tok.kind in ("num", "name", "begin"):
            return True
        if tok.kind == "op":
            return tok.text in ("(", "{") or (tok.text == "[" and tok.space_before)
        if tok.kind == "cmd":
            return (tok.text in GREEK or tok.text in FUNCTION_COMMANDS
                    or tok.text in CONSTANT_COMMANDS
                    or tok.text in ("frac", "dfrac", "tfrac", "sqrt", "hat", "widehat",
                                    "partial", "sum", "nabla"))
        return False

    def term(self) -> A.Node:
        left = self.unary()
        while True:
            tok = self.peek()
            if (tok.kind == "op" and tok.text in ("*", "/", "@")) or (
                    tok.kind == "cmd" and tok.text in MULOPS):
                self.take()
                right = self.unary()
                left = A.BinOp(MULOPS[tok.text], left, right, tok.pos)
            elif self.starts_factor(tok):
                right = self.unary_no_sign()
                left = A.BinOp("mul", left, right, tok.pos)
            else:
                return left

    def unary(self) -> A.Node:
        tok = self.peek()
        if self.is_op("-") or self.is_op("+"):
            self.take()
            self.enter(tok)
            operand = self.unary()
            self.leave()
            return A.Neg(operand, tok.pos) if tok.text == "-" else operand
        return self.postfix()

    def unary_no_sign(self) -> A.Node:
        return self.postfix()

    def postfix(self) -> A.Node:
        tok = self.peek()
        self.enter(tok)
        node = self.primary()
        while True:
            t = self.peek()
            if t.kind == "op" and t.text in ("^", "**"):
                self.take()
                node = self.superscript(node, t)
            elif t.kind == "op" and t.text == ".T":
                self.take()
                node = self.transpose(node, t)
            elif t.kind == "op" and t.text == "_" and isinstance(node, A.Sym):
                self.take()
                node = A.Sym(self.with_subscript(node.ref, self.script_labels(t)), node.pos)
            elif t.kind == "op" and t.text == "'" and isinstance(node, A.Sym):
                self.take()
                node = A.Sym(_replace(node.ref, prime=True), node.pos)
            elif (t.kind == "op" and t.text == "[" and not t.space_before
                  and isinstance(node, A.Sym)):
                self.take()
                node = A.Sym(self.with_subscript(node.ref, self.bracket_labels()), node.pos)
            else:
                break
        self.leave()
        return node

    def transpose(self, node: A.Node, tok: Token) -> A.Node:
        if isinstance(node, A.Sym) and not node.ref.transpose:
            return A.Sym(_replace(node.ref, transpose=True), node.pos)
        return A.Transpose(node, tok.pos)

    def superscript(self, node: A.Node, caret: Token) -> A.Node:
        """After '^': a layer ``(2)``, a transpose ``T``, a prime, or an exponent."""
        braced = self.is_op("{")
        k = 1 if braced else 0
        tok = self.peek(k)
        closes = (lambda j: self.is_op("}", j)) if braced else (lambda j: True)
        if tok.kind == "op" and tok.text == "(" and isinstance(node, A.Sym) and braced:
            if braced:
                self.take()
            self.take()
            label = self.raw_until(")")
            self.expect_op(")")
            self.expect_op("}")
            return A.Sym(_replace(node.ref, layer=_layer_value(label)), node.pos)
        is_t = (tok.kind == "name" and tok.text == "T") or (
            tok.kind == "cmd" and tok.text in ("top", "intercal"))
        if is_t and closes(k + 1):
            for _ in range(k + 1 + (1 if braced else 0)):
                self.take()
            return self.transpose(node, caret)
        if tok.kind == "cmd" and tok.text == "prime" and closes(k + 1):
            for _ in range(k + 1 + (1 if braced else 0)):
                self.take()
            if isinstance(node, A.Sym):
                return A.Sym(_replace(node.ref, prime=True), node.pos)
            raise self.error(tok, "a prime must follow a variable or a function name")
        if braced:
            self.take()
            self.enter(caret)
            exponent = self.expr()
            self.leave()
            self.expect_op("}")
        else:
            self.enter(caret)
            exponent = self.unary()
            self.leave()
        return A.Pow(node, exponent, caret.pos)

    def raw_until(self, closer: str) -> str:
        """Concatenate token texts up to (not including) the op ``closer`` at this level."""
        parts, depth = [], 0
        while True:
            tok = self.peek()
            if tok.kind == "end":
                raise self.error(tok, "unfinished script", repr(closer))
            if tok.kind == "op" and tok.text in ("(", "[", "{"):
                depth += 1
            if tok.kind == "op" and tok.text in (")", "]", "}"):
                if depth == 0 and tok.text == closer:
                    return "".join(parts)
                depth -= 1
            parts.append(tok.text)
            self.take()

    def script_labels(self, underscore: Token) -> list[str]:
        """Read a subscript after '_' as index labels: ``_k``, ``_{ji}``, ``_{l+1}``, ``_{i,j}``."""
        tok = self.peek()
        if tok.kind == "op" and tok.text == "{":
            self.take()
            labels, current = [], ""
            while not self.is_op("}"):
                t = self.take()
                if t.kind == "end":
                    raise self.error(t, "unfinished subscript", "'}'")
                if t.kind == "op" and t.text == ",":
                    labels.append(current)
                    current = ""
                elif t.kind in ("name", "num", "cmd") or (
                        t.kind == "op" and t.text in ("+", "-")):
                    current += t.text
                else:
                    raise self.error(t, f"unexpected {self.found(t)} in a subscript",
                                     "index names or numbers")
            self.take()
            labels.append(current)
            if any(not lab for lab in labels):
                raise self.error(tok, "empty subscript", "an index")
            return labels
        if tok.kind in ("name", "num", "cmd"):
            self.take()
            return [tok.text]
        raise self.error(tok, f"found {self.found(tok)} after '_'", "a subscript")

    def bracket_labels(self) -> list[str]:
        labels, current = [], ""
        while not self.is_op("]"):
            t = self.take()
            if t.kind == "op" and t.text == ",":
                labels.append(current)
                current = ""
            elif t.kind in ("name", "num") or (t.kind == "op" and t.text in ("+", "-")):
                current += t.text
            else:
                raise self.error(t, f"unexpected {self.found(t)} in an index", "index names")
        self.take()
        labels.append(current)
        if any(not lab for lab in labels):
            raise self.error(self.peek(), "empty index", "an index name")
        return labels

    def with_subscript(self, ref: SymbolRef, labels: list[str]) -> SymbolRef:
        if len(labels) == 1 and labels[0] in HAT_SUBSCRIPTS and ref.base == "y":
            return _replace(ref, hat=True)
        if (len(labels) == 1 and ref.layer is None and ref.base in LAYER_LETTERS
                and (_LAYER_LABEL.match(labels[0]) or labels[0] in LAYER_WORDS)
                and not (ref.base in ("w", "b", "z", "a") and len(labels[0]) > 1
                         and labels[0].isdigit())):
            return _replace(ref, layer=_layer_value(labels[0]))
        indices: list[str] = []
        for lab in labels:
            if len(labels) == 1 and 2 <= len(lab) <= 3 and (
                    set(lab) <= _INDEX_LETTERS or lab.isdigit()):
                indices.extend(lab)  # _{ji} -> (j, i); _{41} -> (4, 1)
            else:
                indices.append(lab)
        return _replace(ref, indices=ref.indices + tuple(indices))

    # -- primaries -------------------------------------------------------------------------------
    def primary(self) -> A.Node:
        tok = self.peek()
        if tok.kind == "num":
            self.take()
            return A.Num(tok.text, tok.pos)
        if tok.kind == "name":
            return self.name_primary()
        if tok.kind == "op" and tok.text in ("(", "[", "{"):
            self.take()
            inner = self.expr()
            self.expect_op({"(": ")", "[": "]", "{": "}"}[tok.text])
            return inner
        if tok.kind == "begin":
            return self.environment()
        if tok.kind == "cmd":
            return self.command_primary()
        if tok.kind == "text":
            raise self.error(tok, f"unexpected text {tok.text!r}", "an expression")
        raise self.error(tok, f"found {self.found(tok)}",
                         "a number, a variable, a function or '('")

    def name_primary(self) -> A.Node:
        tok = self.peek()
        name = tok.text
        if name[0] == "d" and not self.in_d_operand and self.plain_derivative_ahead():
            return self.plain_derivative()
        applied = name in FUNCTIONS or name in GENERIC_FUNCTIONS or self.call_ahead()
        self.take()
        if name == "sum" and (self.is_op("_") or self.is_op("(")):
            return self.sum_rest(tok)
        if name == "grad" and self.is_op("_"):
            self.take()
            labels = self.script_labels(tok)
            return A.Deriv(None, _symbol_ref(labels[0]), "grad", tok.pos)
        if applied:
            call = self.try_call(tok, name)
            if call is not None:
                return call
        return A.Sym(_symbol_ref(name), tok.pos)

    def call_ahead(self) -> bool:
        """A non-function name applied to a parenthesised list with a comma: L(y, \\hat{y})."""
        if not self.is_op("(", 1):
            return False
        depth = 0
        for k in range(1, 200):
            t = self.peek(k)
            if t.kind == "end":
                return False
            if t.kind == "op" and t.text in ("(", "[", "{"):
                depth += 1
            elif t.kind == "op" and t.text in (")", "]", "}"):
                depth -= 1
                if depth == 0:
                    return False
            elif t.kind == "op" and t.text == "," and depth == 1:
                return True
        return False

    def try_call(self, tok: Token, name: str) -> Optional[A.Node]:
        """After a function name: ``'``s, ``^2``, then ``(args)``; None (nothing consumed) if
        no argument list follows, so the name is a variable (``y'``, ``\\sigma``)."""
        start = self.i
        primes, power = 0, None
        while True:
            if self.is_op("'"):
                self.take()
                primes += 1
            elif self.is_op("^") and self.is_cmd("prime", k=1):
                self.i += 2
                primes += 1
            elif self.is_op("^") and self.is_op("{", 1) and self.is_cmd("prime", k=2) and (
                    self.is_op("}", 3)):
                self.i += 4
                primes += 1
            elif power is None and self.is_op("^") and self.peek(1).kind == "num":
                power = A.Num(self.peek(1).text, self.peek(1).pos)
                self.i += 2
            elif (power is None and self.is_op("^") and self.is_op("{", 1)
                  and self.peek(2).kind == "num" and self.is_op("}", 3)):
                power = A.Num(self.peek(2).text, self.peek(2).pos)
                self.i += 4
            else:
                break
        canonical = FUNCTIONS.get(name, name)
        if self.is_op("("):
            self.take()
            args = [self.expr()]
            while self.is_op(","):
                self.take()
                args.append(self.expr())
            self.expect_op(")")
            node: A.Node = A.Call(canonical, tuple(args), primes, tok.pos)
        elif (tok.kind == "cmd" and name in FUNCTION_COMMANDS and name != "sigma"
              and self.starts_factor(self.peek())):
            node = A.Call(canonical, (self.postfix(),), primes, tok.pos)  # \log x
        else:
            self.i = start
            return None
        return A.Pow(node, power, tok.pos) if power is not None else node

    def plain_derivative_ahead(self) -> bool:
        """``dL/dz2[k]``, ``d J / d w_kj``: a d-name (or d + name), scripts, '/', a d-name.

        Looks at a bounded number of tokens, so it costs O(1) per name."""
        k = 1
        if self.peek().text == "d":
            if self.peek(1).kind not in ("name", "cmd"):
                return False
            k = 2
        for _ in range(8):
            t = self.peek(k)
            if t.kind == "op" and t.text in ("_", "^"):
                k = self._skip_item(k + 1)
            elif t.kind == "op" and t.text in ("[", "(") and not t.space_before:
                k = self._skip_item(k)
            else:
                break
            if k < 0:
                return False
        if not self.is_op("/", k):
            return False
        nxt = self.peek(k + 1)
        if nxt.kind != "name" or nxt.text[0] != "d":
            return False
        return nxt.text != "d" or self.peek(k + 2).kind in ("name", "cmd")

    def _skip_item(self, k: int) -> int:
        """Index after the single token or bracketed group at ``k`` (-1 if too long)."""
        t = self.peek(k)
        if t.kind in ("name", "num", "cmd"):
            return k + 1
        if not (t.kind == "op" and t.text in ("{", "[", "(")):
            return -1
        depth = 0
        for j in range(k, k + 32):
            u = self.peek(j)
            if u.kind == "end":
                return -1
            if u.kind == "op" and u.text in ("{", "[", "("):
                depth += 1
            elif u.kind == "op" and u.text in ("}", "]", ")"):
                depth -= 1
                if depth == 0:
                    return j + 1
        return -1

    def plain_derivative(self) -> A.Node:
        tok = self.peek()
        of = self.d_operand(tok)
        self.expect_op("/")
        dtok = self.peek()
        wrt = self.d_operand(dtok)
        if not isinstance(wrt, A.Sym):
            raise self.error(dtok, "the denominator of a derivative must be a variable",
                             "d<variable>")
        return A.Deriv(of, wrt.ref, "d", tok.pos)

    def d_operand(self, tok: Token) -> A.Node:
        """Parse what follows a ``d`` in ``dL`` / ``d J`` / ``dz2[k]``."""
        if tok.text == "d":
            self.take()
        else:
            self.tokens[self.i] = Token("name", tok.text[1:], tok.pos + 1, False)
        self.in_d_operand = True
        try:
            return self.postfix()
        finally:
            self.in_d_operand = False

    def command_primary(self) -> A.Node:
        tok = self.peek()
        name = tok.text
        if name in ("frac", "dfrac", "tfrac"):
            return self.frac()
        if name == "sqrt":
            self.take()
            index = None
            if self.is_op("["):
                self.take()
                index = self.expr()
                self.expect_op("]")
            self.expect_op("{")
            radicand = self.expr()
            self.expect_op("}")
            if index is None:
                return A.Call("sqrt", (radicand,), 0, tok.pos)
            return A.Pow(radicand, A.BinOp("div", A.Num("1"), index, tok.pos), tok.pos)
        if name in ("hat", "widehat"):
            self.take()
            self.expect_op("{")
            inner = self.postfix()
            self.expect_op("}")
            if not isinstance(inner, A.Sym):
                raise self.error(tok, "\\hat must decorate a variable", "\\hat{y}")
            return A.Sym(_replace(inner.ref, hat=True), tok.pos)
        if name == "partial":
            self.take()
            of = self.postfix()
            self.expect_op("/")
            if not self.is_cmd("partial"):
                raise self.error(self.peek(), "incomplete derivative", "'\\partial'")
            self.take()
            return A.Deriv(of, self.wrt_symbol(), "partial", tok.pos)
        if name == "nabla":
            self.take()
            self.expect_op("_")
            labels = self.script_labels(tok)
            of = self.postfix() if self.starts_factor(self.peek()) else None
            return A.Deriv(of, _symbol_ref(labels[0]), "nabla", tok.pos)
        if name == "sum":
            self.take()
            return self.sum_rest(tok)
        if name in CONSTANT_COMMANDS:
            self.take()
            return A.Const(CONSTANT_COMMANDS[name], tok.pos)
        if name in FUNCTIONS or name in FUNCTION_COMMANDS or name in GENERIC_FUNCTIONS:
            self.take()
            call = self.try_call(tok, name)
            if call is not None:
                return call
            if name not in GREEK:
                raise self.error(self.peek(), f"function \\{name} needs an argument", "'('")
            return A.Sym(_symbol_ref(name), tok.pos)
        if name in GREEK:
            self.take()
            return A.Sym(_symbol_ref(name), tok.pos)
        raise self.error(tok, f"unknown command '\\{name}'",
                         "a supported LaTeX command (\\frac, \\partial, \\sum, \\hat, \\sigma, "
                         "\\tanh, \\log, \\exp, \\sqrt, \\cdot, \\odot, greek letters, ...)")

    def wrt_symbol(self) -> SymbolRef:
        tok = self.peek()
        node = self.postfix()
        if not isinstance(node, A.Sym):
            raise self.error(tok, "the denominator of a derivative must be a variable",
                             "\\partial x")
        return node.ref

    def frac(self) -> A.Node:
        tok = self.take()
        if not self.is_op("{"):
            raise self.error(self.peek(), "\\frac needs braced arguments", "'{'")
        if self.is_d(self.peek(1)):
            close = self.matching_brace(self.i)
            if self.is_d(self.peek(close - self.i + 2)):
                return self.derivative_frac(tok)
        self.expect_op("{")
        num = self.expr()
        self.expect_op("}")
        self.expect_op("{")
        den = self.expr()
        self.expect_op("}")
        return A.BinOp("div", num, den, tok.pos)

    def is_d(self, t: Token) -> bool:
        return (t.kind == "cmd" and t.text == "partial") or (t.kind == "name" and t.text[0] == "d")

    def matching_brace(self, at: int) -> int:
        depth = 0
        for j in range(at, len(self.tokens)):
            t = self.tokens[j]
            if t.kind == "op" and t.text == "{":
                depth += 1
            elif t.kind == "op" and t.text == "}":
                depth -= 1
                if depth == 0:
                    return j
        return len(self.tokens) - 1

    def derivative_frac(self, tok: Token) -> A.Node:
        style = "partial" if self.is_cmd("partial", k=1) else "d"
        self.expect_op("{")
        d = self.peek()
        of: Optional[A.Node]
        if d.kind == "cmd" or d.text == "d":
            self.take()
        else:
            self.tokens[self.i] = Token("name", d.text[1:], d.pos + 1, False)
        if self.is_op("^"):
            raise self.error(self.peek(), "higher-order derivatives are not supported",
                             "a first derivative")
        of = None if self.is_op("}") else self.expr()
        self.expect_op("}")
        self.expect_op("{")
        d = self.peek()
        if d.kind == "cmd" or d.text == "d":
            self.take()
        else:
            self.tokens[self.i] = Token("name", d.text[1:], d.pos + 1, False)
        wrt = self.wrt_symbol()
        self.expect_op("}")
        if of is None:  # operator form: \frac{\partial}{\partial z} f(z): the following product
            self.enter(tok)
            of = self.term()
            self.leave()
        return A.Deriv(of, wrt, style, tok.pos)

    def sum_rest(self, tok: Token) -> A.Node:
        """After ``\\sum`` / ``sum``: optional ``_{i=1}`` and ``^{n}``, then the summand term."""
        index, lower, upper = None, None, None
        if not self.is_op("_") and self.is_op("(") and tok.kind == "name":
            self.take()
            body = self.expr()
            self.expect_op(")")
            return A.Sum(body, None, None, None, tok.pos)
        for _ in range(2):
            if self.is_op("_"):
                self.take()
                braced = self.is_op("{")
                if braced:
                    self.take()
                t = self.take()
                if t.kind not in ("name", "cmd"):
                    raise self.error(t, f"found {self.found(t)}", "a summation index")
                index = t.text
                if braced and self.is_op("="):
                    self.take()
                    lower = self.expr()
                if braced:
                    self.expect_op("}")
            elif self.is_op("^"):
                self.take()
                if self.is_op("{"):
                    self.take()
                    upper = self.expr()
                    self.expect_op("}")
                else:
                    t = self.take()
                    if t.kind not in ("name", "num"):
                        raise self.error(t, f"found {self.found(t)}", "an upper bound")
                    upper = A.Num(t.text, t.pos) if t.kind == "num" else A.Sym(
                        _symbol_ref(t.text), t.pos)
        self.enter(tok)
        body = self.term()
        self.leave()
        return A.Sum(body, index, lower, upper, tok.pos)

    def environment(self) -> A.Node:
        begin = self.take()
        env = begin.text
        rows: list[list] = [[]]
        while True:
            tok = self.peek()
            if tok.kind == "endenv":
                self.take()
                break
            if tok.kind == "rowsep":
                self.take()
                rows.append([])
                continue
            if env == "cases":
                value, cond = self.expr(), None
                if self.is_op("&"):
                    self.take()
                    cond = self.condition()
                rows[-1].append((value, cond))
            else:
                rows[-1].append(self.expr())
                if self.is_op("&"):
                    self.take()
                    continue
            t = self.peek()
            if t.kind not in ("rowsep", "endenv"):
                raise self.error(t, f"found {self.found(t)} in a {env}",
                                 "'&', '\\\\' or \\end{" + env + "}")
        rows = [r for r in rows if r]
        if env == "cases":
            if any(len(r) != 1 for r in rows) or not rows:
                raise self.error(begin, "malformed cases", "value & condition \\\\ ...")
            return A.Piecewise(tuple(r[0] for r in rows), begin.pos)
        if not rows or len({len(r) for r in rows}) != 1:
            raise self.error(begin, "matrix rows have different lengths", "a rectangular matrix")
        return A.Matrix(tuple(tuple(r) for r in rows), begin.pos)

    def condition(self) -> Optional[A.Node]:
        prose = []
        while self.peek().kind == "text":
            prose.append(self.take().text)
        if any("otherwise" in p or "else" in p for p in prose) or (
                self.peek().kind in ("rowsep", "endenv")):
            return None
        left = self.expr()
        tok = self.peek()
        if tok.kind in ("op", "cmd") and tok.text in COMPARISONS:
            self.take()
            right = self.expr()
            return A.Rel(COMPARISONS[tok.text], left, right, tok.pos)
        raise self.error(tok, f"found {self.found(tok)} in a condition", "a comparison (<, \\leq)")


def _replace(ref: SymbolRef, **changes) -> SymbolRef:
    fields = dict(base=ref.base, layer=ref.layer, indices=ref.indices, hat=ref.hat,
                  transpose=ref.transpose, prime=ref.prime)
    fields.update(changes)
    return SymbolRef(**fields)


def _layer_value(label: str) -> A.Layer:
    return int(label) if label.isdigit() else label


def _symbol_ref(name: str) -> SymbolRef:
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


def parse_claim(text: str) -> A.Claim:
    """Parse a claim (LaTeX subset or plain text) into a :class:`~symbp.claims.ast.Claim`.

    Args:
        text: e.g. ``\\frac{\\partial J}{\\partial z_k^{(2)}} = 2(y_k - \\hat{y}_k)`` or
            ``dL/dz2[k] = 2*(y[k] - yhat[k])``; chains ``a = b = c`` and update rules
            ``W := W - \\alpha \\frac{\\partial J}{\\partial W}`` are accepted.

    Returns:
        The Claim (sides, relations, annotations, derivative description).

    Raises:
        ClaimParseError: on anything outside the grammar, with position and expectation.
    """
    return _Parser(text).claim()


def parse_expression(text: str) -> A.Node:
    """Parse a single expression (no relation) into an AST node.

    Args:
        text: e.g. ``\\sigma(z)(1-\\sigma(z))``.

    Returns:
        The AST node.

    Raises:
        ClaimParseError: on anything outside the grammar, or trailing input.
    """
    parser = _Parser(text)
    node = parser.expr()
    tok = parser.peek()
    if tok.kind != "end":
        raise parser.error(tok, f"unexpected {parser.found(tok)} after a complete expression",
                           "the end of the expression")
    return node
