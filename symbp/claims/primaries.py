"""Primary expressions of the claim grammar: names, calls, derivatives, LaTeX commands, sums,
matrices and cases (a mixin of :class:`symbp.claims.parse._Parser`).

Contract: the same as :mod:`symbp.claims.parse` (no user text is executed; every problem is a
``ClaimParseError`` with position and expectation). Split out to keep files small.
"""

from __future__ import annotations

from typing import Optional

from . import ast as A
from .ast import SymbolRef
from .lexer import Token
from .names import (CONSTANT_COMMANDS, COMPARISONS, FUNCTION_COMMANDS, FUNCTIONS,
                    GENERIC_FUNCTIONS, GREEK, INDICATOR_LETTERS, nabla_ref,
                    replace_ref as _replace, symbol_ref as _symbol_ref)


class PrimaryMixin:
    """Grammar rules below ``postfix``; relies on the helpers of ``_Parser``."""

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

    def _layered_function_script(self):
        """After a function name, ``^{[1]}``, ``^{[l]\\prime}``, ``^{(l)'}`` or ``^{(2)}``: (the
        token index after it, its number of primes, the label, whether in brackets), or None
        when that is not what follows."""
        bracket = self.is_op("[", 2)
        closer = "]" if bracket else ")"
        k, label = 3, ""
        while not self.is_op(closer, k):
            t = self.peek(k)
            if t.kind not in ("name", "num") and not (t.kind == "op" and t.text in "+-"):
                return None
            label += t.text
            k += 1
        k, primes = k + 1, 0
        while self.is_cmd("prime", k=k) or self.is_op("'", k):
            k, primes = k + 1, primes + 1
        if not self.is_op("}", k) or not self.is_op("(", k + 1) or not label:
            return None
        return self.i + k + 1, primes, label, bracket

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
        primes, power, layer = 0, None, None
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
            elif (layer is None and self.is_op("^") and self.is_op("{", 1)
                  and (self.is_op("[", 2) or self.is_op("(", 2))
                  and (name in GENERIC_FUNCTIONS or name in FUNCTIONS)):
                found = self._layered_function_script()
                if found is None:
                    break
                self.i, more, label, bracket = found
                if bracket or more or not label.isdigit():
                    # a layer: Ng's g^{[1]\prime}, f^{(l)\prime}; only a generic letter's
                    # activation depends on it (sigma^{[1]} is sigma)
                    primes += more
                    if name in GENERIC_FUNCTIONS:
                        layer = label
                else:
                    primes += int(label)  # f^{(2)}(z): the second derivative, f''(z)
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
        if layer is not None:
            canonical = f"{name}[{layer}]"  # the activation of that layer (the verifier's reading)
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
            return A.Deriv(of, nabla_ref(labels[0]), "nabla", tok.pos)
        if name == "sum":
            self.take()
            return self.sum_rest(tok)
        if name in CONSTANT_COMMANDS:
            self.take()
            return A.Const(CONSTANT_COMMANDS[name], tok.pos)
        if name == "mathbb":
            return self.indicator()
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

    def indicator(self) -> A.Node:
        """``\\mathbb{1}[cond]``, ``\\mathbb{1}(cond)``, ``\\mathbb{1}_{cond}`` (or ``\\mathbb{I}``):
        1 where the comparison holds, else 0."""
        tok = self.take()
        self.expect_op("{")
        letter = self.take()
        if letter.text not in INDICATOR_LETTERS:
            raise self.error(letter, f"\\mathbb{{{letter.text}}} is not supported",
                             "the indicator \\mathbb{1}[condition]")
        self.expect_op("}")
        if not (self.is_op("[") or self.is_op("(") or self.is_op("_")):
            raise self.error(self.peek(), "an indicator needs its condition",
                             "\\mathbb{1}[z > 0] or \\mathbb{1}_{z > 0}")
        return self.indicator_condition(A.Num("1", tok.pos))

    def indicator_condition(self, one: A.Node) -> A.Node:
        """After an indicator's 1: ``[cond]``, ``(cond)`` or ``_{cond}`` -> 1 where cond holds."""
        opener = self.take()
        closer = {"[": "]", "(": ")"}.get(opener.text)
        if closer is None:  # '_'
            self.expect_op("{")
            closer = "}"
        cond = self.condition()
        if cond is None:
            raise self.error(self.peek(), "an indicator needs a comparison", "z > 0")
        self.expect_op(closer)
        return A.Piecewise(((one, cond), (A.Num("0", one.pos), None)), one.pos)

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
        """After ``\\sum`` / ``sum``: optional ``_{i=1}`` (or ``_{n,k}``: one sum per index)
        and ``^{n}``, then the summand term."""
        index, lower, upper, outer = None, None, None, []
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
                while braced and self.is_op(","):  # \\sum_{n,k}: over n, then over k
                    self.take()
                    outer.append(index)
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
        if outer and (lower is not None or upper is not None):
            raise self.error(tok, "bounds on a sum over several indices",
                             "\\sum_{n,k} without bounds, or one \\sum per index")
        self.enter(tok)
        body = self.term()
        self.leave()
        node = A.Sum(body, index, lower, upper, tok.pos)
        for name in reversed(outer):
            node = A.Sum(node, name, None, None, tok.pos)
        return node

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
