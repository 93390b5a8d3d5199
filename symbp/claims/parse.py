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
               a superscript on a layer letter is its layer when it is (l), l, l+1, L, ...
               (z^{(2)}, \\delta^l, w^{l+1}); a number stays an exponent (a^2)
    primary := NUMBER | symbol | call | '(' expr ')' | '{' expr '}' | '[' expr ']'
             | \\frac{..}{..} | \\sqrt[..]{..} | \\hat{..} | \\sum_..^.. term | derivative
             | \\begin{bmatrix}..\\end{bmatrix} | \\begin{cases}..\\end{cases}
             | \\mathbb{1}[cond] | \\mathbb{1}_{cond}      (an indicator: 1 where cond holds)
    derivative := \\frac{\\partial of}{\\partial x} | \\frac{d of}{d x} | \\partial of / \\partial x
                | dL/dx (plain) | \\nabla_x of | grad_x
"""

from __future__ import annotations

import re
from typing import Optional

from . import ast as A
from .ast import ClaimParseError, SymbolRef
from .lexer import MAX_DEPTH, Token, tokenize
from .names import (FUNCTION_COMMANDS, GREEK, CONSTANT_COMMANDS, HAT_SUBSCRIPTS, INDEX_LETTERS,
                    LAYER_LABEL, LAYER_LETTERS, LAYER_WORDS, MULOPS, RELATIONS, TRANSPOSE_MARKS,
                    layer_value, replace_ref as _replace)
from .primaries import PrimaryMixin

#: A symbolic layer label: l, L, l+1, l-1, ... (numbers stay exponents in a superscript).
_SYMBOLIC_LAYER = re.compile(r"[lL](?:[+-]\d+)?\Z")


class _Parser(PrimaryMixin):
    def __init__(self, text: str):
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0
        self.in_d_operand = False
        # NumPy notation (`@` for the matrix product, `.T`): there `*` is elementwise
        self.numpy_style = any(t.kind == "op" and t.text in ("@", ".T") for t in self.tokens)

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
                                    "partial", "sum", "nabla", "mathbb"))
        return False

    def term(self) -> A.Node:
        left = self.unary()
        while True:
            tok = self.peek()
            if (tok.kind == "op" and tok.text in ("*", "/", "@")) or (
                    tok.kind == "cmd" and tok.text in MULOPS):
                self.take()
                right = self.unary()
                op = "hadamard" if tok.text == "*" and self.numpy_style else MULOPS[tok.text]
                left = A.BinOp(op, left, right, tok.pos)
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
            elif (isinstance(node, A.Num) and node.text == "1" and t.kind == "op"
                  and (t.text == "_" or t.text == "[" and not t.space_before)):
                node = self.indicator_condition(node)  # 1[z > 0], \\mathbf{1}_{z > 0}
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
        if isinstance(node, A.Sym) and node.ref.base in D_OF_COST:
            node = _d_notation(node)  # dW2, dW_2, db2: gradients (runtime's names)
        return _kronecker(node)

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
        if tok.kind == "op" and tok.text in ("(", "[") and isinstance(node, A.Sym) and braced:
            # a layer: z^{(2)}, Ng's W^{[2]}; then a transpose or a prime may follow inside the
            # braces, as Ng and Goodfellow write them (A^{[1]T}, h^{(l-1)\top}, a^{(2)\prime})
            closer = ")" if tok.text == "(" else "]"
            self.take()
            self.take()
            label = self.raw_until(closer)
            self.expect_op(closer)
            ref = _replace(node.ref, layer=layer_value(label))
            while not self.is_op("}"):
                t = self.peek()
                if t.kind in ("name", "cmd") and t.text in TRANSPOSE_MARKS and not ref.transpose:
                    ref = _replace(ref, transpose=True)
                elif (t.kind == "cmd" and t.text == "prime") or (t.kind == "op" and t.text == "'"):
                    ref = _replace(ref, prime=True)
                else:
                    raise self.error(t, f"unexpected {self.found(t)} after the layer "
                                     f"{tok.text}{label}{closer}",
                                     "'}', a transpose mark (T, \\top) or a prime")
                self.take()
            self.expect_op("}")
            if closer == "]":  # Ng's dW^{[2]}, dZ^{[2]}: gradients (see D_OF_COST)
                return _d_notation(A.Sym(ref, node.pos))
            return A.Sym(ref, node.pos)
        label = self.layer_superscript(node, k)
        if label is not None:  # Nielsen's notation: delta^l, w^{l+1}, a^{l-1}, z^L
            return A.Sym(_replace(node.ref, layer=label), node.pos)
        inner = k
        while braced and self.is_op("{", inner):  # ^{\\mathsf{T}}: the lexer leaves ^{{T}}
            inner += 1
        mark, nested = self.peek(inner), inner - k
        if (mark.kind in ("name", "cmd") and mark.text in TRANSPOSE_MARKS
                and all(self.is_op("}", inner + 1 + d) for d in range(nested))
                and closes(inner + 1 + nested)):
            for _ in range(inner + 1 + nested + (1 if braced else 0)):
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

    def layer_superscript(self, node: A.Node, k: int) -> Optional[str]:
        """A symbolic layer written as a superscript (``\\delta^l``, ``w^{l+1}``, ``z^L``):
        consumed and returned when ``node`` is a layer letter without a layer yet, else None
        (nothing consumed). Numbers stay exponents: ``a^2`` is a square (layer 2 is ``a^{(2)}``
        or ``a_2``). ``k`` is 1 after a '{', 0 for a bare one-token superscript."""
        if not (isinstance(node, A.Sym) and node.ref.layer is None
                and node.ref.base in LAYER_LETTERS):
            return None
        j, text = k, ""
        while k and not self.is_op("}", j):
            t = self.peek(j)
            if t.kind == "end" or j > k + 2:
                return None
            text += t.text
            j += 1
        if not k:
            text, j = self.peek().text if self.peek().kind == "name" else "", 1
        if not _SYMBOLIC_LAYER.match(text):
            return None
        for _ in range(j + k):  # the label, and '{' '}' when braced
            self.take()
        return text

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
            labels, current, last = [], "", ""
            while not self.is_op("}"):
                if current == "":
                    last = ""
                t = self.take()
                if t.kind == "end":
                    raise self.error(t, "unfinished subscript", "'}'")
                if t.kind == "op" and t.text == ",":
                    labels.append(current)
                    current = ""
                elif current and current[-1] not in "+-" and t.kind in ("name", "cmd") and (
                        t.text in INDEX_COMMANDS or last in INDEX_COMMANDS):
                    labels.append(current)  # _{j\ell}: two indices, j and ell
                    current = t.text
                elif t.kind in ("name", "num", "cmd") or (
                        t.kind == "op" and t.text in ("+", "-")):
                    current += t.text
                elif t.kind == "op" and t.text in ("^", "_") and current:
                    current += self.nested_layer(t)
                else:
                    raise self.error(t, f"unexpected {self.found(t)} in a subscript",
                                     "index names or numbers")
                last = t.text if t.kind == "cmd" else ""
            self.take()
            labels.append(current)
            if any(not lab for lab in labels):
                raise self.error(tok, "empty subscript", "an index")
            return labels
        if tok.kind in ("name", "num", "cmd"):
            self.take()
            return [tok.text]
        raise self.error(tok, f"found {self.found(tok)} after '_'", "a subscript")

    def nested_layer(self, script: Token) -> str:
        """The layer of a name inside a subscript, after its '^' or '_': ``v_{W^{(1)}}`` (as
        symbp prints an optimizer state) and ``v_{W_1}`` are the state of W1; the label gets
        the layer appended (``W1``)."""
        if self.is_op("{"):
            self.take()
            parenthesised = self.is_op("(")
            if parenthesised:
                self.take()
            label = self.raw_until(")" if parenthesised else "}")
            if parenthesised:
                self.expect_op(")")
            self.expect_op("}")
        elif self.peek().kind in ("name", "num"):
            label = self.take().text
        else:
            raise self.error(self.peek(), f"found {self.found(self.peek())} after "
                             f"'{script.text}' in a subscript", "a layer such as {(1)}")
        if not LAYER_LABEL.match(label):
            raise self.error(script, f"{label!r} is not a layer in a subscript",
                             "a layer number or l, l+1, L")
        return label

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
                and (LAYER_LABEL.match(labels[0]) or labels[0] in LAYER_WORDS)
                and not (ref.base in ("w", "b", "z", "a") and len(labels[0]) > 1
                         and labels[0].isdigit())):
            return _replace(ref, layer=layer_value(labels[0]))
        indices: list[str] = []
        for lab in labels:
            if len(labels) == 1 and 2 <= len(lab) <= 3 and all(
                    c in INDEX_LETTERS or c.isdigit() for c in lab):
                indices.extend(lab)  # _{ji} -> (j, i); _{41} -> (4, 1); _{n1} -> (n, 1)
            else:
                indices.append(lab)
        return _replace(ref, indices=ref.indices + tuple(indices))

#: Commands that name an index in a subscript, so ``_{j\\ell}`` is two indices (Wikipedia's
#: ``w_{j\\ell}``), not one called ``jell``.
INDEX_COMMANDS = frozenset({"ell", "alpha", "beta", "gamma", "kappa", "mu", "nu", "tau"})

#: The sample index of a batch (``x_{ni}``, ``\\sum_n``): never an index of a Kronecker delta.
SAMPLE_INDEX = "n"


#: Ng's notation (deeplearning.ai). ``dW``, ``db`` (any layer form: ``dW2``, ``dW^{[2]}``) are
#: the cost's gradients; ``dZ``, ``dA`` are Ng's only with the layer in brackets (``dz2``,
#: ``dZ_2`` keep their meaning, the error term): ``dW^{[l]}``, ``db^{[l]}`` are the cost's
#: gradients
#: (``\\partial J / \\partial W^{[l]}``, the 1/m included); ``dZ^{[l]}``, ``dA^{[l]}`` are one
#: sample's, stacked (``dZ^{[2]} = A^{[2]} - Y``, no 1/m): derivatives of the loss summed over
#: the samples, named ``Lsum``.
D_OF_COST = frozenset({"dW", "dw", "db"})
D_OF_SAMPLES = frozenset({"dZ", "dz", "dA", "da"})
SUMMED_LOSS = "Lsum"


def _d_notation(node: A.Node) -> A.Node:
    """``dW^{[2]}`` -> the derivative of the loss with respect to ``W^{[2]}``; ``dZ^{[2]}`` ->
    that of the summed loss (see :data:`D_OF_SAMPLES`); a transposed one transposed."""
    if not (isinstance(node, A.Sym) and node.ref.base in D_OF_COST | D_OF_SAMPLES
            and not node.ref.hat and not node.ref.prime):
        return node
    ref = node.ref
    if ref.layer is None and len(ref.indices) == 1 and LAYER_LABEL.match(ref.indices[0]):
        ref = _replace(ref, layer=layer_value(ref.indices[0]), indices=())  # dW_2: layer 2
    wrt = _replace(ref, base=ref.base[1:], transpose=False)
    of = A.Sym(SymbolRef(SUMMED_LOSS), node.pos) if ref.base in D_OF_SAMPLES else None
    out = A.Deriv(of, wrt, "d", node.pos)
    return A.Transpose(out, node.pos) if ref.transpose else out


def _kronecker(node: A.Node) -> A.Node:
    """``\\delta_{ij}`` (two index letters, no layer, nothing else) is the Kronecker delta; a
    delta with a layer or one index is an error term (``\\delta^{(2)}_{nj}``, ``\\delta_j``), and
    so is one indexed by the sample index n (``\\delta_{nj}``, ``delta[n, j]``: the error term
    of sample n; a Kronecker delta relates two units, never a sample)."""
    if not isinstance(node, A.Sym):
        return node
    ref = node.ref
    if (ref.base == "delta" and ref.layer is None and len(ref.indices) == 2
            and all(i.isalpha() and len(i) == 1 for i in ref.indices)
            and SAMPLE_INDEX not in ref.indices
            and not (ref.hat or ref.transpose or ref.prime)):
        return A.Kronecker(ref.indices[0], ref.indices[1], node.pos)
    return node


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
