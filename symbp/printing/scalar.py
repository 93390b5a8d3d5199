"""SymPy printers for index-form and elementwise expressions.

Contract: three styles share one naming table (:mod:`symbp.printing.names`):

- :class:`TextPrinter`  Unicode for terminals: ``δ1[n,j] = (Σ_k δ2[n,k]·W2[j,k])·a1[n,j]·(1 − a1[n,j])``
- :class:`LatexPrinter` LaTeX: ``\\delta^{(1)}_{nj} = \\sum_{k} ...``
- :class:`PlainPrinter` ASCII, used in generated-code comments.

All three print sums as ``Σ_k`` without bounds (indices run over the whole axis, as in texts),
put positive terms first (``ŷ − y`` rather than ``−y + ŷ``), and print ``Heaviside(x, 0)`` as
the indicator ``1[x > 0]``. In *matrix* mode (:func:`matrix_elementwise`) symbols stand for whole
matrices and products print as Hadamard products.
"""

from __future__ import annotations

import sympy as sp
from sympy.printing.latex import LatexPrinter as _SympyLatex
from sympy.core.function import AppliedUndef
from sympy.printing.str import StrPrinter

from .names import name_latex, name_text

_SUPERSCRIPTS = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def _ordered_terms(expr: sp.Add) -> list[sp.Expr]:
    """Terms of a sum, positive ones first, each group in the order the sum was built."""
    terms = list(expr.args)
    return [t for t in terms if not t.could_extract_minus_sign()] + \
           [t for t in terms if t.could_extract_minus_sign()]


#: Symbols that stand for scalars in matrix mode (printed as coefficients, not Hadamard factors).
SCALAR_NAMES = {"eta", "lambda", "N", "beta1", "beta2", "epsilon", "mu", "t"}


class _Common:
    """Behaviour shared by the three styles (mixed into SymPy printer subclasses)."""

    printmethod = "_symbp_print"  # bypass SymPy objects' own _sympystr/_latex hooks
    minus = " - "
    hadamard = None  # set in matrix mode: the Hadamard operator string
    parts: dict = {}

    def _join_add(self, expr) -> str:
        out = ""
        for idx, term in enumerate(_ordered_terms(expr)):
            if term.could_extract_minus_sign():
                body = self._print(-term)
                if isinstance(-term, sp.Add):
                    body = self._paren(body)
                out += (self.minus if idx else self.minus.strip()) + body
            else:
                body = self._print(term)
                out += (" + " if idx else "") + body
        return out

    def _paren(self, s: str) -> str:
        return f"({s})"

    def _negative_factors(self, expr) -> tuple[str, sp.Expr] | None:
        """An unevaluated product with negative factors, ``(1/N)·(−s/c)``, as a sign and the
        product of their negations: printed ``−(1/N)·s/c``, never ``(1/N)−s/c``."""
        if not any(isinstance(f, sp.Mul) and f.could_extract_minus_sign() for f in expr.args):
            return None
        flips, factors = 0, []
        for f in expr.args:
            if isinstance(f, sp.Mul) and f.could_extract_minus_sign():
                flips, f = flips + 1, -f
            factors.append(f)
        return ("-" if flips % 2 else ""), sp.Mul(*factors, evaluate=False)


class TextPrinter(_Common, StrPrinter):
    """Unicode terminal style."""

    style = "text"
    minus = " − "
    mul = "·"

    def _print_Symbol(self, expr):
        if expr in self.parts:
            return self.parts[expr].render(self.style)
        return name_text(expr.name)

    def _print_Indexed(self, expr):
        idx = ",".join(self._print(i) for i in expr.indices)
        return f"{name_text(expr.base.name)}[{idx}]"

    def _print_Sum(self, expr):
        idx = ",".join(self._print(lim[0]) for lim in expr.limits)
        body = self._print(expr.function)
        if isinstance(expr.function, sp.Add):
            body = f"({body})"
        return f"Σ_{idx} {body}"

    def _print_Add(self, expr, order=None):
        return self._join_add(expr)

    def _print_Mul(self, expr):
        signed = self._negative_factors(expr)
        if signed is not None:
            sign, rest = signed
            return ("−" if sign else "") + self._factor(rest)
        c, factors = expr.as_coeff_mul()
        if c < 0:
            return "−" + self._factor(-expr)
        num, den = [], []
        for f in factors:
            if f.is_Pow and f.exp.is_negative:
                den.append(f.base ** -f.exp)
            else:
                num.append(f)
        if c != 1:
            p, q = sp.fraction(c)
            if p != 1:
                num.insert(0, p)
            if q != 1:
                den.insert(0, q)
        scal = [f for f in num if _is_scalar(f)]
        num = [f for f in num if not any(f is s_ for s_ in scal)]
        sep = self.hadamard or self.mul
        # between a scalar coefficient and a matrix: a space (η ∂L/∂W1), or " * " in plain ASCII
        gap = (" * " if self.style == "plain" else " ") if self.hadamard else self.mul
        head = "".join(self._factor(f) + gap for f in scal)
        # a sum followed by other factors is bracketed: (Σ_k δ2[n,k]·W2[j,k])·a1[n,j], so the
        # reader does not take the later factors for part of the summand
        num_s = sep.join(f"({self._print(f)})" if isinstance(f, sp.Sum) and len(num) > 1
                         else self._factor(f) for f in num) if num else "1"
        if not den:
            return head + num_s
        den_s = self.mul.join(self._factor(f) for f in den)
        if len(den) > 1:
            den_s = f"({den_s})"
        scalar_den = all(_is_scalar(f) for f in den)
        if scalar_den and (self.hadamard or len(num) == 1 and (num[0].is_Add or isinstance(num[0], sp.Sum))):
            if num_s == "1":
                return f"{head}1/{den_s}"
            gap = (" * " if self.style == "plain" else "") if self.hadamard else self.mul
            return f"{head}(1/{den_s}){gap}{num_s}"
        if len(num) > 1 and self.hadamard:
            num_s = f"({num_s})"
        return f"{head}{num_s}/{den_s}"

    def _factor(self, f) -> str:
        s = self._print(f)
        if f in self.parts and not self.parts[f].atomic:
            return f"({s})"
        return f"({s})" if isinstance(f, sp.Add) else s  # a Piecewise brings its own

    def _print_Pow(self, expr, rational=False):
        base, exp = expr.args
        if exp == sp.Rational(1, 2):
            inner = self._print(base)
            return f"√{inner}" if base.is_Atom else f"√({inner})"
        if exp.is_negative:
            return f"1/{self._factor(base ** -exp)}"
        b = self._print(base)
        if not (base.is_Symbol or base.is_Indexed or base.is_Function) or base in self.parts \
                or "/" in b:  # (∂L/∂W1)², not ∂L/∂W1²
            b = f"({b})"
        if exp.is_Integer:
            return b + str(exp).translate(_SUPERSCRIPTS)
        return f"{b}^({self._print(exp)})"

    def _print_Heaviside(self, expr):
        return f"1[{self._print(expr.args[0])} > 0]"

    def _print_Function(self, expr):
        name = _activation_name(expr, "text")
        if name is None:
            return super()._print_Function(expr)
        return f"{name}({', '.join(self._print(a) for a in expr.args)})"

    def _print_Piecewise(self, expr):
        pieces = [f"{self._print(e)} if {self._print(c)}" for e, c in expr.args[:-1]]
        return "(" + " else ".join(pieces + [self._print(expr.args[-1][0])]) + ")"

    def _print_Rational(self, expr):
        return f"{expr.p}/{expr.q}"

    def _print_Exp1(self, expr):
        return "e"

    def _print_Pi(self, expr):
        return "π"

    def _print_Relational(self, expr):
        op = {"<=": "≤", ">=": "≥", "!=": "≠"}.get(expr.rel_op, expr.rel_op)
        return f"{self._print(expr.lhs)} {op} {self._print(expr.rhs)}"

    def _print_Abs(self, expr):
        return f"|{self._print(expr.args[0])}|"


class PlainPrinter(TextPrinter):
    """ASCII style for code comments: ``*`` products, ``^`` powers, ``-`` minus."""

    style = "plain"
    minus = " - "
    mul = "*"

    def _print_Symbol(self, expr):
        if expr in self.parts:
            return self.parts[expr].render("plain")
        return expr.name

    def _print_Indexed(self, expr):
        idx = ",".join(self._print(i) for i in expr.indices)
        return f"{expr.base.name}[{idx}]"

    def _print_Sum(self, expr):
        idx = ",".join(self._print(lim[0]) for lim in expr.limits)
        return f"sum_{idx}({self._print(expr.function)})"

    def _print_Mul(self, expr):
        return super()._print_Mul(expr).replace("−", "-")

    def _print_Function(self, expr):
        # ASCII: an activation prints under its registry name (sigmoid, not σ)
        if _activation_name(expr, "text") is not None:
            return f"{type(expr).__name__}({', '.join(self._print(a) for a in expr.args)})"
        return super()._print_Function(expr)

    def _print_Pi(self, expr):
        return "pi"

    def _print_Relational(self, expr):
        return f"{self._print(expr.lhs)} {expr.rel_op} {self._print(expr.rhs)}"

    def _print_Abs(self, expr):
        return f"abs({self._print(expr.args[0])})"

    def _print_Pow(self, expr, rational=False):
        base, exp = expr.args
        if exp == sp.Rational(1, 2):
            return f"sqrt({self._print(base)})"
        if exp.is_negative:
            return f"1/{self._factor(base ** -exp)}"
        b = self._print(base)
        if not (base.is_Symbol or base.is_Indexed or base.is_Function):
            b = f"({b})"
        return f"{b}^{self._print(exp)}" if exp.is_Atom else f"{b}^({self._print(exp)})"


class LatexPrinter(_Common, _SympyLatex):
    """LaTeX style."""

    _default_settings = dict(_SympyLatex._default_settings, order="none")

    def __init__(self, settings=None):
        super().__init__(settings)
        self.parts = {}

    def _print_Symbol(self, expr, style="plain"):
        if expr in self.parts:
            return self.parts[expr].render("latex")
        return name_latex(expr.name)

    def _print_Indexed(self, expr):
        name = expr.base.name
        idx = "".join(self._print(i) for i in expr.indices)
        if name.startswith(("dW", "db")):
            return rf"\frac{{\partial L}}{{\partial {name[1]}^{{({name[2:]})}}_{{{idx}}}}}"
        return f"{name_latex(name)}_{{{idx}}}"

    def _print_Sum(self, expr):
        idx = ",".join(self._print(lim[0]) for lim in expr.limits)
        body = self._print(expr.function)
        if isinstance(expr.function, sp.Add):
            body = rf"\left({body}\right)"
        return rf"\sum_{{{idx}}} {body}"

    def _print_Add(self, expr, order=None):
        return self._join_add(expr)

    def _paren(self, s: str) -> str:
        return rf"\left({s}\right)"

    def _print_Mul(self, expr):
        signed = self._negative_factors(expr) if isinstance(expr, sp.Mul) else None
        if signed is not None:
            sign, rest = signed
            body = self._print(rest)
            return f"{sign}{body}" if isinstance(rest, sp.Mul) else f"{sign}\\left({body}\\right)"
        if self.hadamard is None or not isinstance(expr, sp.Mul):
            return super()._print_Mul(expr)
        scalars = [f for f in expr.args if _is_scalar(f)]
        mats = [f for f in expr.args if not _is_scalar(f)]
        if not mats:
            return super()._print_Mul(expr)
        coeff = sp.Mul(*scalars)
        head = ""
        if coeff == -1:
            head = "-"
        elif coeff != 1:
            saved, self.hadamard = self.hadamard, None
            try:
                head = self._print(coeff)
                if isinstance(coeff, sp.Add):  # (1 - beta1) dW, not 1 - beta1 dW
                    head = rf"\left({head}\right)"
                head += " "
            finally:
                self.hadamard = saved
        parts = []
        for f in mats:
            s = self._print(f)
            wrap = isinstance(f, sp.Add) or (f in self.parts and not self.parts[f].atomic)
            parts.append(rf"\left({s}\right)" if wrap else s)
        return head + r" \odot ".join(parts)

    def _print_Heaviside(self, expr, exp=None):
        return rf"\mathbb{{1}}\left[{self._print(expr.args[0])} > 0\right]"

    def _print_Function(self, expr, exp=None):
        name = _activation_name(expr, "latex")
        if name is None:
            return super()._print_Function(expr, exp)
        args = ", ".join(self._print(a) for a in expr.args)
        return rf"{name}\left({args}\right)" + (f"^{{{exp}}}" if exp else "")

    def _print_Pow(self, expr):
        if expr.base.is_Indexed and expr.exp.is_Integer and expr.exp > 0:
            return f"{{{self._print(expr.base)}}}^{{{self._print(expr.exp)}}}"
        return super()._print_Pow(expr)


def _activation_name(expr, style: str) -> str | None:
    """Printed name of an undefined function standing for a registered activation."""
    from ..rules.activations import ACTIVATIONS

    entry = ACTIVATIONS.get(type(expr).__name__)
    if entry is None or not isinstance(expr, AppliedUndef):
        return None
    return entry.latex if style == "latex" else entry.text


def _is_scalar(f) -> bool:
    return f.is_Number or all(s.name in SCALAR_NAMES for s in f.free_symbols)


def _printer(style: str, matrix: bool = False, parts=None):
    cls = {"text": TextPrinter, "plain": PlainPrinter, "latex": LatexPrinter}[style]
    p = cls()
    p.parts = dict(parts or {})
    if matrix:
        p.hadamard = {"text": " ⊙ ", "plain": " * ", "latex": r" \odot "}[style]
    return p


def print_expr(expr: sp.Expr, style: str = "text") -> str:
    """Print an index-form or scalar expression in ``style`` (text, latex or plain)."""
    return _printer(style).doprint(expr)


def matrix_elementwise(expr: sp.Expr, parts: dict, style: str) -> str:
    """Print an elementwise matrix expression; products print as Hadamard products."""
    return _printer(style, matrix=True, parts=parts).doprint(expr)
