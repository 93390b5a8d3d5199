"""The scalar printer of the code generator, and the named rewrite sets applied before printing.

Contract: every scalar expression that reaches generated source (activations and their
derivatives, output errors, per-element losses, optimizer updates, the stable helpers
themselves) is printed by :class:`NumbaPrinter`, a subclass of SymPy's Python code printer. It
prints ``math.*`` calls (scalar, Numba-friendly), integer powers as products, ``Piecewise`` and
``Heaviside`` as conditional expressions, and in ``float32`` mode wraps every numeric literal in
``f32(...)`` so that single-precision code never widens to float64.

Before printing, :func:`rewrite` applies named rule sets in the style of
:mod:`sympy.codegen.rewriting`:

- :data:`stable_opt`: ``1/(1 + exp(-u))`` -> ``sigmoid(u)`` and ``log(1 + exp(u))`` ->
  ``softplus(u)``, both evaluated through ``exp(-|u|)`` so they never overflow; ``exp(u) - 1``
  and ``1 - exp(u)`` -> ``±expm1(u)``, exact for small ``u``;
- :data:`light_opt`: ``tanh(u)`` -> ``tanh_light(u) = -expm1(-2|u|) / (2 + expm1(-2|u|))`` with
  the sign of ``u`` (Numba has no vectorised tanh here: this form is about twice as fast);
- :data:`vector_opt` (cpu targets, loops of at least :data:`VECTOR_MIN_TRIPS` iterations):
  ``sigmoid`` and ``tanh_light`` inline (tanh's ``expm1(-2|u|)`` through ``expm1_neg_light``,
  which knows its argument is <= 0 and clamps it where tanh saturates: one ``2**k``, no
  overflow branch, -4 to -5% of config iii's step), then ``exp(u)`` -> ``exp_light(u)`` and
  ``expm1(u)`` -> ``expm1_light(u)``: Cody-Waite reduction ``u = k ln2 + r``, a degree-13
  (float32: 7) Taylor polynomial in ``r`` and ``2**k`` built from exponent bits (``_pow2``),
  all plain arithmetic, so LLVM vectorises the loops that call them (Numba has no SVML here:
  ``math.exp`` is a scalar libm call). Accurate to ~1 ulp (float64) over the whole range, overflow, underflow to
  subnormals, inf and nan included; see :func:`light_helper`. Scalar, their long Horner chain
  is slower than libm's table-driven ``exp``: short loops (config (i)'s 5 units) keep libm.

Each rewritten function is emitted once per module as a small helper (:data:`HELPERS`), itself
a SymPy expression printed by the same printer; helpers that are not used are not emitted.

:func:`print_assignments` runs ``sympy.cse`` over a block and splits the temporaries into
loop-invariant ones (hoisted above the loop) and per-element ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import sympy as sp
from sympy.codegen.rewriting import ReplaceOptim, optimize
from sympy.printing.pycode import PythonCodePrinter

from ..errors import SymbpError
from ..expr import as_sympy


class CodegenError(SymbpError):
    """An expression or op has no lowering to generated code."""


# --- functions introduced by the rewrites -----------------------------------------------------

class sigmoid(sp.Function):  # noqa: N801 - printed name
    """σ(u) = 1 / (1 + exp(-u)), printed as a call of the stable helper."""

    nargs = 1


class softplus(sp.Function):  # noqa: N801
    """log(1 + exp(u)), printed as a call of the stable helper."""

    nargs = 1


class tanh_light(sp.Function):  # noqa: N801
    """tanh(u) through one expm1, printed as a call of the helper."""

    nargs = 1


class exp_light(sp.Function):  # noqa: N801
    """exp(u) in plain arithmetic (vectorisable), printed as a call of the helper."""

    nargs = 1


class expm1_light(sp.Function):  # noqa: N801
    """exp(u) - 1 in plain arithmetic, without cancellation near 0."""

    nargs = 1


class expm1_neg_light(sp.Function):  # noqa: N801
    """exp(u) - 1 for u <= 0 only, clamped where tanh saturates (inside the inline tanh)."""

    nargs = 1


class pow2(sp.Function):  # noqa: N801
    """2**k for a float k holding a small integer: printed as the ``_pow2`` intrinsic."""

    nargs = 1


class ffloor(sp.Function):  # noqa: N801
    """floor that stays a float of the same dtype (``np.floor``; ``math.floor`` returns int)."""

    nargs = 1


def _is_one_plus_exp(e: sp.Expr) -> bool:
    return e.is_Add and len(e.args) == 2 and sp.S.One in e.args and \
        any(isinstance(a, sp.exp) for a in e.args)


def _exp_arg(add: sp.Expr) -> sp.Expr:
    return next(a for a in add.args if isinstance(a, sp.exp)).args[0]


# 1/(1 + exp(-u)) = sigmoid(u)
_sigmoid_opt = ReplaceOptim(
    lambda e: e.is_Pow and e.exp == -1 and _is_one_plus_exp(e.base),
    lambda e: sigmoid(-_exp_arg(e.base)))
# log(1 + exp(u)) = softplus(u)
_softplus_opt = ReplaceOptim(
    lambda e: isinstance(e, sp.log) and _is_one_plus_exp(e.args[0]),
    lambda e: softplus(_exp_arg(e.args[0])))
# tanh(u) = sign(u) (1 - e) / (1 + e), e = exp(-2|u|), written with expm1 for small |u|
_tanh_opt = ReplaceOptim(lambda e: isinstance(e, sp.tanh), lambda e: tanh_light(e.args[0]))

# exp(u) = 2**k exp(r), u = k ln2 + r: plain arithmetic that vectorises
_exp_opt = ReplaceOptim(lambda e: isinstance(e, sp.exp), lambda e: exp_light(e.args[0]))
_expm1_opt = ReplaceOptim(lambda e: isinstance(e, sp.Function) and type(e).__name__ == "expm1",
                          lambda e: expm1_light(e.args[0]))


def _inline_sigmoid(e):
    # sigmoid(u) = 1/(1 + t) for u >= 0, t/(1 + t) otherwise, t = exp(-|u|): the helper inline
    u = e.args[0]
    t = exp_light(-sp.Abs(u))
    return sp.Piecewise((1 / (1 + t), u >= 0), (t / (1 + t), True))


def _inline_tanh(e):
    # tanh(u) = -sign(u) t/(2 + t), t = expm1(-2|u|): an argument <= 0, so the helper for it
    u = e.args[0]
    t = expm1_neg_light(-2 * sp.Abs(u))
    return sp.Piecewise((-t / (2 + t), u >= 0), (t / (2 + t), True))


_sigmoid_inline_opt = ReplaceOptim(lambda e: isinstance(e, sigmoid), _inline_sigmoid)
_tanh_inline_opt = ReplaceOptim(lambda e: isinstance(e, tanh_light), _inline_tanh)

#: Named rewrite sets, applied in this order by :func:`rewrite`.
def _scaled_exp(e: sp.Expr):
    """(k, exp(u)) when ``e`` is ``k * exp(u)`` with a number k, else None."""
    if isinstance(e, sp.exp):
        return sp.S.One, e
    if e.is_Mul and len(e.args) == 2:
        k, f = e.args if e.args[0].is_Number else e.args[::-1]
        if k.is_Number and isinstance(f, sp.exp):
            return k, f
    return None


def _exp_minus_one(e: sp.Expr):
    """(k, u) when ``e`` is ``k exp(u) - k`` (``exp(u) - 1``, ``1 - exp(u)``,
    ``alpha exp(u) - alpha``), else None."""
    if not (e.is_Add and len(e.args) == 2):
        return None
    c, rest = e.args if e.args[0].is_Number else e.args[::-1]
    ke = _scaled_exp(rest) if c.is_Number else None
    if ke is None or ke[0] != -c:
        return None
    return ke[0], ke[1].args[0]


# k exp(u) - k = k expm1(u): no cancellation for small u (softplus' is 1 - exp(-a), which was 0
# instead of ~a for a < 1e-16, i.e. z < -37; ELU's alpha (exp(x) - 1) near 0)
def _as_expm1(e: sp.Expr) -> sp.Expr:
    k, u = _exp_minus_one(e)
    return k * sp.Function("expm1")(u)


_expm1_sub_opt = ReplaceOptim(lambda e: _exp_minus_one(e) is not None, _as_expm1)

stable_opt = (_sigmoid_opt, _softplus_opt, _expm1_sub_opt)
light_opt = (_tanh_opt,)
vector_opt = (_sigmoid_inline_opt, _tanh_inline_opt, _exp_opt, _expm1_opt)
REWRITE_SETS = {"stable": stable_opt, "light": light_opt, "vector": vector_opt}


def rewrite(expr: sp.Expr, sets: tuple[str, ...] = ("stable", "light")) -> sp.Expr:
    """Apply the named rewrite sets to ``expr`` (see the module docstring)."""
    for name in sets:
        expr = optimize(expr, REWRITE_SETS[name])
    return expr


# --- the stable helpers, as SymPy expressions -------------------------------------------------

_u = sp.Symbol("x", real=True)
_e = sp.Symbol("e", real=True)


@dataclass(frozen=True)
class Helper:
    """A scalar helper function: ``def name(x): <locals>; return <result>``."""

    name: str
    doc: str
    locals: tuple[tuple[sp.Symbol, sp.Expr], ...]
    result: sp.Expr


HELPERS = {
    "sigmoid": Helper("sigmoid", "σ(x) = 1 / (1 + exp(-x)), through exp(-|x|): never overflows.",
                      ((_e, sp.exp(-sp.Abs(_u))),),
                      sp.Piecewise((1 / (1 + _e), _u >= 0), (_e / (1 + _e), True))),
    "softplus": Helper("softplus", "log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)): never overflows.",
                       (), sp.Max(_u, 0) + sp.Function("log1p")(sp.exp(-sp.Abs(_u)))),
    "tanh_light": Helper("tanh_light", "tanh(x) = -expm1(-2|x|) / (2 + expm1(-2|x|)), sign of x; "
                         "one expm1, exact to a few ulp.",
                         ((_e, sp.Function("expm1")(-2 * sp.Abs(_u))),),
                         sp.Piecewise((-_e / (2 + _e), _u >= 0), (_e / (2 + _e), True))),
}
HELPER_CLASSES = {"sigmoid": sigmoid, "softplus": softplus, "tanh_light": tanh_light,
                  "exp_light": exp_light, "expm1_light": expm1_light,
                  "expm1_neg_light": expm1_neg_light}

# exp_light / expm1_light, per dtype: (clamp low, clamp high, ln2 high part, ln2 low part, degree)
# ln2 = LN2_HI + LN2_LO with LN2_HI's low mantissa bits zero, so k * LN2_HI is exact (Cody-Waite).
_LIGHT_CONSTANTS = {
    "float64": (-745.2, 709.8, 0.6931471803691238, 1.9082149292705877e-10, 13),
    "float32": (-104.0, 88.8, 0.693145751953125, 1.428606765330187e-06, 7),
}
#: expm1_neg_light's clamp, per dtype: below it tanh(u) = -t / (2 + t) rounds to exactly 1 (it
#: does from t = -38.2 in float64, 2**-55 = exp(t); from t = -18.1 in float32).
_TANH_CLAMP = {"float64": -40.0, "float32": -20.0}
_k, _r, _p, _s, _k1 = sp.symbols("k r p s k1", real=True)


def light_helper(name: str, dtype: str) -> Helper:
    """The ``exp_light``, ``expm1_light`` or ``expm1_neg_light`` helper for ``dtype`` (see the
    module docstring).

    ``x`` is clamped (``exp`` overflows above the high and is 0 below the low bound; nan passes
    through the comparisons), ``k = floor(x/ln2 + 1/2)``, ``r = x - k ln2`` in two parts, the
    Taylor polynomial of ``exp(r) - 1`` (``|r| <= ln2/2``) by Horner, and ``2**k`` as
    ``2**k1 * 2**(k - k1)`` so that results down to the subnormals are exact products.
    """
    lo, hi, ln2_hi, ln2_lo, degree = _LIGHT_CONSTANTS[dtype]
    xc = sp.Symbol("xc", real=True)
    clamp = sp.Piecewise((sp.Float(hi), _u > hi), (sp.Float(lo), _u < lo), (_u, True))
    if name == "expm1_neg_light":  # x <= 0 and saturated below the clamp: one bound, k >= -58
        clamp = sp.Piecewise((sp.Float(_TANH_CLAMP[dtype]), _u < _TANH_CLAMP[dtype]), (_u, True))
    steps = [(xc, clamp),
             (_k, ffloor(xc * sp.Float(1 / math.log(2), 17) + sp.S.Half)),
             (_r, xc - _k * sp.Float(ln2_hi, 17)),     # exact: k * LN2_HI has spare bits
             (_r, _r - _k * sp.Float(ln2_lo, 17))]
    # q(r) = exp(r) - 1 = r (1 + r (1/2 + r (1/6 + ...))), Horner from the highest term
    steps.append((_p, sp.Rational(1, math.factorial(degree))))
    for n in range(degree - 1, 0, -1):
        steps.append((_p, sp.Add(sp.Mul(_p, _r, evaluate=False), sp.Rational(1, math.factorial(n)),
                                 evaluate=False)))
    steps.append((_p, sp.Mul(_p, _r, evaluate=False)))
    if name == "expm1_neg_light":
        # 2**k is a normal number (k in [-58, 0]): one _pow2, no split, no overflow branch
        sm1 = sp.Symbol("sm1", real=True)  # its own local: s*p + (s - 1), exact for k = 0
        return Helper(name, "exp(x) - 1 for x <= 0 (tanh's argument), clamped where tanh "
                            "saturates; plain arithmetic, ~2 ulp.",
                      tuple(steps) + ((_s, pow2(_k)), (sm1, _s - 1)), _s * _p + sm1)
    s1, s2, y = sp.symbols("s1 s2 y", real=True)
    steps += [(_k1, ffloor(_k * sp.S.Half)), (s1, pow2(_k1)), (s2, pow2(_k - _k1)),
              (y, (_p + 1) * s1)]                # exp(x) = ((1 + q) 2**k1) 2**(k - k1)
    if name == "exp_light":
        return Helper(name, "exp(x) in plain arithmetic (vectorises; no libm call), ~1 ulp.",
                      tuple(steps), y * s2)
    if name == "expm1_light":
        # 2**k q + (2**k - 1): exact for k = 0; exp(x) - 1 where 2**k would overflow
        big = 1022 if dtype == "float64" else 126
        sm1 = sp.Symbol("sm1", real=True)
        steps += [(_s, s1 * s2), (sm1, _s - 1)]
        return Helper(name, "exp(x) - 1 in plain arithmetic, no cancellation near 0, ~2 ulp.",
                      tuple(steps), sp.Piecewise((y * s2 - 1, _k > big), (_s * _p + sm1, True)))
    raise KeyError(name)


LIGHT_HELPERS = ("exp_light", "expm1_light", "expm1_neg_light")
#: Inner loops shorter than this keep libm's exp (measured: 2-5-1 forward 5.9 us with libm,
#: 10.8 us with exp_light; 64-128-10 forward 163 -> 154 us with exp_light).
VECTOR_MIN_TRIPS = 16


def helpers_used(exprs) -> list[str]:
    """Names of the helpers the expressions call, in :data:`HELPERS` order."""
    found = set()
    for e in exprs:
        for name, cls in HELPER_CLASSES.items():
            if e.has(cls):
                found.add(name)
    return [name for name in (*HELPERS, *LIGHT_HELPERS) if name in found]


# --- the printer ------------------------------------------------------------------------------

_MATH = {"exp": "math.exp", "log": "math.log", "log1p": "math.log1p", "expm1": "math.expm1",
         "tanh": "math.tanh", "sinh": "math.sinh", "cosh": "math.cosh", "sin": "math.sin",
         "cos": "math.cos", "tan": "math.tan", "atan": "math.atan", "asinh": "math.asinh",
         "erf": "math.erf", "erfc": "math.erfc", "sqrt": "math.sqrt"}


class NumbaPrinter(PythonCodePrinter):
    """Prints scalar SymPy expressions as Numba-compilable Python.

    Settings (besides PythonCodePrinter's): ``dtype`` (``"float64"`` or ``"float32"``: in
    float32 mode numeric literals print as ``f32(...)``) and ``names`` (a dict Symbol -> source
    text, e.g. ``yhat -> "yhat[n, k]"``, for element reads).
    """

    printmethod = "_numbacode"
    _default_settings = dict(PythonCodePrinter._default_settings, dtype="float64", names=None)

    def __init__(self, settings=None):
        super().__init__(settings)
        if self._settings["dtype"] not in ("float64", "float32"):
            raise ValueError(f"unknown dtype {self._settings['dtype']!r}")
        self._names = self._settings["names"] or {}

    # numbers: float32 code must never see a float64 literal
    def _lit(self, text: str) -> str:
        return f"f32({text})" if self._settings["dtype"] == "float32" else text

    def _print_Integer(self, expr):
        return self._lit(str(expr.p))

    def _print_Rational(self, expr):
        return self._lit(repr(float(expr)))

    def _print_Float(self, expr):
        return self._lit(repr(float(expr)))

    def _print_NumberSymbol(self, expr):
        return self._lit(repr(float(expr)))

    _print_Pi = _print_NumberSymbol
    _print_Exp1 = _print_NumberSymbol

    def _print_Half(self, expr):
        return self._lit("0.5")

    def _print_One(self, expr):
        return self._lit("1")

    def _print_NegativeOne(self, expr):
        return self._lit("-1")

    def _print_Zero(self, expr):
        return self._lit("0")

    def _print_BooleanTrue(self, expr):
        return "True"

    def _print_Symbol(self, expr):
        return self._names.get(expr, expr.name)

    def parenthesize(self, item, level, strict=False):
        if isinstance(item, sp.Basic) and item.is_Number and item >= 0:
            return self._print(item)  # literals print as atoms (0.5, f32(0.5))
        if isinstance(item, sp.Pow) and item.exp.is_Integer and 2 <= item.exp <= 4 and \
                level >= sp.printing.precedence.PRECEDENCE["Mul"]:
            return f"({self._print(item)})"  # x**2 prints as x*x: a unit inside a product
        return super().parenthesize(item, level, strict)

    def _print_Add(self, expr, order=None):
        # positive terms first, as a person writes it: yhat - y, p - eta*g
        terms = self._as_ordered_terms(expr, order=None)
        terms = [t for t in terms if not t.could_extract_minus_sign()] + \
                [t for t in terms if t.could_extract_minus_sign()]
        prec = sp.printing.precedence.precedence(expr)
        out = ""
        for t in terms:
            if t.could_extract_minus_sign():
                out += (" - " if out else "-") + self.parenthesize(-t, prec)
            else:
                out += (" + " if out else "") + self.parenthesize(t, prec)
        return out

    # powers: small integer powers are products; x**(1/2) is sqrt
    def _print_Pow(self, expr, rational=False):
        base, ex = expr.base, expr.exp
        prec = sp.printing.precedence.precedence(expr)
        b = self.parenthesize(base, prec)
        if ex.is_Integer and 1 <= ex <= 4:
            return "*".join([b] * int(ex))
        if ex.is_Integer and -4 <= ex <= -1:
            body = "*".join([b] * int(-ex))
            return f"{self._lit('1')}/{body}" if -ex == 1 else f"{self._lit('1')}/({body})"
        if ex == sp.S.Half:
            return f"math.sqrt({self._print(base)})"
        if ex == -sp.S.Half:
            return f"{self._lit('1')}/math.sqrt({self._print(base)})"
        return f"{b}**{self.parenthesize(ex, prec)}"

    # functions
    def _print_Function(self, expr):
        name = type(expr).__name__
        if name in HELPERS or name in LIGHT_HELPERS:
            return f"{name}({self._print(expr.args[0])})"
        if name in _MATH:
            return f"{_MATH[name]}({', '.join(self._print(a) for a in expr.args)})"
        raise CodegenError(f"no code lowering for the function {name!r} in {expr}; use exp, log, "
                           f"tanh, sqrt, erf and the like, or a built-in activation")

    _print_exp = _print_Function
    _print_log = _print_Function
    _print_tanh = _print_Function
    _print_sinh = _print_Function
    _print_cosh = _print_Function
    _print_sin = _print_Function
    _print_cos = _print_Function
    _print_tan = _print_Function
    _print_atan = _print_Function
    _print_asinh = _print_Function
    _print_erf = _print_Function
    _print_erfc = _print_Function

    def _print_pow2(self, expr):
        return f"_pow2({self._print(expr.args[0])})"

    def _print_ffloor(self, expr):
        return f"np.floor({self._print(expr.args[0])})"

    def _print_Abs(self, expr):
        return f"abs({self._print(expr.args[0])})"

    def _print_sign(self, expr):
        x = self._print(expr.args[0])
        return f"({self._lit('1')} if {x} > 0 else ({self._lit('-1')} if {x} < 0 else {self._lit('0')}))"

    def _print_Heaviside(self, expr):
        # Heaviside(x, 0): the indicator 1[x > 0]
        if len(expr.args) == 2 and expr.args[1] != 0:
            raise CodegenError(f"Heaviside with value {expr.args[1]} at 0 is not supported")
        x = self._print(expr.args[0])
        return f"({self._lit('1')} if {x} > 0 else {self._lit('0')})"

    def _print_Max(self, expr):
        return self._minmax("max", expr)

    def _print_Min(self, expr):
        return self._minmax("min", expr)

    def _minmax(self, fn, expr):
        args = sorted(expr.args, key=lambda a: a.is_Number)  # the variable first: max(x, 0)
        out = self._print(args[0])
        for a in args[1:]:
            out = f"{fn}({out}, {self._print(a)})"
        return out

    def _print_Piecewise(self, expr):
        if expr.args[-1].cond is not sp.true:
            raise CodegenError(f"Piecewise without a default branch: {expr}")
        out = self._print(expr.args[-1].expr)
        for e, c in reversed(expr.args[:-1]):
            out = f"({self._print(e)} if {self._print(c)} else {out})"
        return out

    def _print_Relational(self, expr):
        op = {"==": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}[expr.rel_op]
        return f"{self._print(expr.lhs)} {op} {self._print(expr.rhs)}"

    def _print_And(self, expr):
        return " and ".join(f"({self._print(a)})" for a in expr.args)

    def _print_Or(self, expr):
        return " or ".join(f"({self._print(a)})" for a in expr.args)


def _lift_invariant(e: sp.Expr, inv: set, temps, lifted: list) -> sp.Expr:
    """Replace the loop-invariant parts of ``e`` (``1 - beta1**t``, ``eta*c``) by temporaries
    computed once above the loop; ``lifted`` collects ``(temp, expr)`` pairs."""
    if e.is_Atom or not e.free_symbols:
        return e
    if e.free_symbols <= inv:
        for sym, old in lifted:
            if old == e:
                return sym
        sym = next(temps)
        lifted.append((sym, e))
        return sym
    if isinstance(e, (sp.Add, sp.Mul)):
        fixed = [a for a in e.args if a.free_symbols and a.free_symbols <= inv]
        if len(fixed) >= 2 or (len(fixed) == 1 and not fixed[0].is_Atom):
            rest = [_lift_invariant(a, inv, temps, lifted) for a in e.args if a not in fixed]
            group = _lift_invariant(e.func(*fixed), inv, temps, lifted)
            return e.func(group, *rest)
    return e.func(*[_lift_invariant(a, inv, temps, lifted) for a in e.args])


def print_expr(expr: sp.Expr, dtype: str = "float64", names: dict | None = None) -> str:
    """Print one scalar expression (no rewrites, no CSE)."""
    return NumbaPrinter({"dtype": dtype, "names": names}).doprint(expr)


@dataclass(frozen=True)
class PrintedBlock:
    """A printed block: ``hoisted`` lines go before the loop, ``body`` lines inside it;
    ``helpers`` names the stable helpers the block calls."""

    hoisted: tuple[str, ...]
    body: tuple[str, ...]
    helpers: tuple[str, ...] = ()


def print_assignments(assigns, dtype: str, names: dict, invariant: set,
                      temp_prefix: str = "t", sets=("stable", "light")) -> PrintedBlock:
    """Print ``[(target text, expr), ...]`` after rewrites and ``sympy.cse``.

    Args:
        assigns: ordered pairs; a target is source text (``"a1[n, j]"`` or a local ``"z"``).
        dtype: ``float64`` or ``float32``.
        names: Symbol -> source text for element reads (see :class:`NumbaPrinter`).
        invariant: symbols constant over the loop; temporaries built from these only are
            hoisted above the loop.
        temp_prefix: prefix of the CSE temporaries (``t0``, ``t1``, ...).
        sets: rewrite sets (see :func:`rewrite`).
    """
    exprs = [rewrite(as_sympy(e), sets) for _, e in assigns]
    temps = sp.numbered_symbols(temp_prefix)
    replacements, reduced = sp.cse(exprs, symbols=temps)
    printer = NumbaPrinter({"dtype": dtype, "names": names})
    hoisted = []
    inv = set(invariant)
    lifted: list = []
    # a temporary that reads a local assigned in the block (z = acc + b; a = f(z)) is printed
    # right after that assignment, not before it: after[i] holds those of assignment i
    local_at = {sp.Symbol(t): i for i, (t, _) in enumerate(assigns) if t.isidentifier()}
    level: dict = {}
    after: dict = {-1: []}
    for sym, e in replacements:
        if e.free_symbols <= inv:
            inv.add(sym)
            hoisted.append(f"{sym} = {printer.doprint(e)}")
        else:
            lvl = max([local_at.get(f, -1) for f in e.free_symbols] +
                      [level.get(f, -1) for f in e.free_symbols])
            level[sym] = lvl
            e = _lift_invariant(e, inv, temps, lifted)
            after.setdefault(lvl, []).append(f"{sym} = {printer.doprint(e)}")
    reduced = [_lift_invariant(e, inv, temps, lifted) for e in reduced]
    hoisted += [f"{sym} = {printer.doprint(e)}" for sym, e in lifted]
    body = list(after[-1])
    for i, ((target, _), e) in enumerate(zip(assigns, reduced)):
        acc = sp.Symbol(target)
        if e.is_Add and acc in e.args:  # row = row + ell  ->  row += ell
            body.append(f"{target} += {printer.doprint(e - acc)}")
        else:
            body.append(f"{target} = {printer.doprint(e)}")
        body += after.get(i, [])
    return PrintedBlock(tuple(hoisted), tuple(body), tuple(helpers_used(exprs)))
