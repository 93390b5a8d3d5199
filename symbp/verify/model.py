"""Scalar models and the comparison of two expressions (symbolic and numeric).

Contract: a :class:`ScalarModel` is a set of scalar definitions ``symbol := expression`` over
leaf symbols. ``canonical(e)`` substitutes the definitions until only leaves remain (symbols in
``cut`` are kept: pre-activations stay leaves, as textbooks treat them); ``derivative(e, v)`` is
the total derivative of ``e`` with respect to ``v`` through every definition, including the cut
ones (the chain rule). :func:`compare` decides whether two expressions are equal: numerically at
random points (a point where they differ is a counterexample) and symbolically
(``expand``/``cancel`` first, ``simplify`` under a time budget). Nothing here reads user text.
"""

from __future__ import annotations

import math
import random
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import sympy as sp

from ..expr import as_sympy

SIMPLIFY_SECONDS = 1.0


class Unresolvable(Exception):
    """A symbol or derivative of a claim has no meaning in the setting (verdict unverifiable)."""


@dataclass
class ScalarModel:
    """Definitions ``symbol -> expression``; ``cut`` symbols are not substituted by canonical()."""

    defs: dict = field(default_factory=dict)
    cut: set = field(default_factory=set)
    _dmemo: dict = field(default_factory=dict, repr=False)
    _cmemo: dict = field(default_factory=dict, repr=False)

    def define(self, sym: sp.Symbol, expr: sp.Expr, cut: bool = False) -> None:
        self.defs[sym] = expr
        if cut:
            self.cut.add(sym)

    def canonical(self, e):
        """Substitute definitions (not the cut ones) until only leaves remain."""
        if isinstance(e, sp.MatrixBase):
            return e.applyfunc(self.canonical)
        e = as_sympy(e)
        # one pass: each substituted form is itself canonical (memoised), so nothing is left to
        # substitute afterwards; a second free_symbols walk of the result would only confirm it
        subs = {s: self._canon_sym(s) for s in e.free_symbols
                if s in self.defs and s not in self.cut}
        return e.xreplace(subs) if subs else e

    def _canon_sym(self, s):
        hit = self._cmemo.get(s)
        if hit is None:
            if s in self._cmemo:  # None marks a definition being expanded: it refers to itself
                raise Unresolvable(f"the definitions are circular (through {s})")
            self._cmemo[s] = None
            try:
                hit = self._cmemo[s] = self.canonical(self.defs[s])
            except BaseException:
                self._cmemo.pop(s, None)
                raise
        return hit

    def expand_all(self, e):
        """Substitute every definition, the cut ones included (fully consistent form)."""
        if isinstance(e, sp.MatrixBase):
            return e.applyfunc(self.expand_all)
        for _ in range(64):
            subs = {s: self.defs[s] for s in e.free_symbols if s in self.defs}
            if not subs:
                return e
            e = e.xreplace(subs)
        raise Unresolvable("the definitions are circular")

    def derivative(self, e, v: sp.Symbol):
        """Total derivative de/dv through the definitions (chain rule)."""
        if isinstance(e, sp.MatrixBase):
            return e.applyfunc(lambda x: self.derivative(x, v))
        out = sp.diff(e, v)
        for u in e.free_symbols:
            if u == v or u not in self.defs:
                continue
            du = self._dsym(u, v)
            if du != 0:
                out += sp.diff(e, u) * du
        return out

    def _dsym(self, u, v):
        key = (u, v)
        if key not in self._dmemo:
            self._dmemo[key] = None  # cycle guard
            self._dmemo[key] = self.derivative(self.defs[u], v)
        if self._dmemo[key] is None:
            raise Unresolvable("the definitions are circular")
        return self._dmemo[key]

    def depends(self, e, v) -> bool:
        """Whether ``e`` depends on ``v`` through the definitions."""
        seen, stack = set(), list(getattr(e, "free_symbols", ()))
        while stack:
            s = stack.pop()
            if s == v:
                return True
            if s in seen:
                continue
            seen.add(s)
            if s in self.defs:
                stack.extend(self.defs[s].free_symbols)
        return False


# --- comparison --------------------------------------------------------------------------------

@dataclass
class Comparison:
    equal: bool | None          # True, False, or None (undecided)
    symbolic: bool | None       # difference simplified to zero (None: not decided)
    numeric: bool | None        # equal at every valid random point (None: no valid point)
    point: dict | None = None   # counterexample: leaf -> value
    left: object = None         # value of the reference at the point
    right: object = None        # value of the claim at the point
    ratio: list = field(default_factory=list)   # claim/reference at the valid points
    undefined: bool = False     # the counterexample: the claim is undefined or not real there
    valid: int = 0              # points where both sides had a numeric value
    assumed: bool = False       # the symbolic comparison needed the assumption (``assume``)


@contextmanager
def time_limit(seconds: float):
    """Raise TimeoutError after ``seconds`` (main thread only; elsewhere no limit)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def handler(signum, frame):
        raise TimeoutError

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def is_zero(e, seconds: float = SIMPLIFY_SECONDS) -> bool | None:
    """True if ``e`` simplifies to zero, False if it is a nonzero number, None if undecided.

    Undecided covers the time budget (TimeoutError), expressions too deep to walk
    (RecursionError) and what SymPy raises for expressions it has no algorithm for
    (NotImplementedError, PolynomialError); any other exception is a bug and propagates."""
    if isinstance(e, sp.MatrixBase):  # one budget for the whole matrix
        deadline = time.monotonic() + seconds
        for x in e:
            left = deadline - time.monotonic()
            r = is_zero(x, left) if left > 0.01 else None
            if r is not True:
                return r
        return True
    try:
        with time_limit(seconds):
            if e == 0:
                return True
            e1 = _exp_as_symbols(e)
            c = sp.cancel(sp.together(e1))
            if c == 0:
                return True
            if c.is_Number:
                return False
            e2 = e1
            if e.has(sp.tanh, sp.sinh, sp.cosh):  # in exponentials, then rational (U_z)
                e2 = _exp_as_symbols(e.rewrite(sp.exp))
                if sp.cancel(sp.together(e2)) == 0:
                    return True
            if sp.simplify(e2) == 0:
                return True
    except (TimeoutError, RecursionError, NotImplementedError, sp.PolynomialError):
        return None
    return None


def _exp_as_symbols(e):
    """exp(z) -> U_z, exp(-z) -> 1/U_z and, for integer c_k, exp(c_1 z_1 + c_2 z_2 + ...) ->
    U_1^c_1 U_2^c_2 ... for symbols z, so that sigmoid and softmax algebra is rational
    (softmax's derivative has exp(2 z))."""
    subs = {}
    for atom in e.atoms(sp.exp):
        u = _exp_monomial(atom.args[0])
        if u is not None:
            subs[atom] = u
    return e.xreplace(subs) if subs else e


def _exp_monomial(arg):
    """exp(arg) as a product of powers of U_z, or None when ``arg`` is not an integer
    combination of symbols."""
    out = sp.Integer(1)
    for term in sp.Add.make_args(arg):
        coeff, rest = term.as_coeff_Mul()
        if not (rest.is_Symbol and coeff.is_Integer):
            return None
        out *= sp.Symbol(f"_U_{rest.name}", positive=True) ** coeff
    return out


def to_complex(v) -> complex | None:
    try:
        c = complex(sp.N(v, 15)) if isinstance(v, sp.Basic) else complex(v)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    if not (math.isfinite(c.real) and math.isfinite(c.imag)) or abs(c.imag) > 1e-9 * (1 + abs(c.real)):
        return None
    return c


def real_value(v):
    """``v`` as a finite real number: a float, or a SymPy Float past the float range
    (``10^{400}``); None when ``v`` is undefined (``0/0``, ``log(0)``), infinite or not real
    (``\\sqrt{-1}``), or not a number at all (see :func:`is_unknown`)."""
    c = to_complex(v)
    if c is not None:
        return c.real
    if not isinstance(v, sp.Basic) or is_unknown(v):
        return None
    try:
        n = sp.N(v, 15)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    return n if n.is_Float and n.is_finite else None


def is_unknown(v) -> bool:
    """``v`` still has symbols or functions without a value (``f(0.3)`` for a generic f):
    it has no numeric value, which is not the same as being undefined."""
    return isinstance(v, sp.Basic) and bool(v.free_symbols or v.has(sp.core.function.AppliedUndef))


def values_equal(a, b, rtol: float = 1e-7) -> bool | None:
    """Numeric equality of a reference value ``a`` and a claimed value ``b`` (numbers or
    matrices). None when the comparison says nothing: the reference is undefined there, or a
    value is not a number (:func:`is_unknown`). False when the reference is a finite real number
    and the claim is undefined, infinite or not real there: a formula is wrong where it fails to
    give the finite value it states."""
    if isinstance(a, sp.MatrixBase) or isinstance(b, sp.MatrixBase):
        if not (isinstance(a, sp.MatrixBase) and isinstance(b, sp.MatrixBase)):
            a = a if isinstance(a, sp.MatrixBase) else sp.Matrix([[a]])
            b = b if isinstance(b, sp.MatrixBase) else sp.Matrix([[b]])
        if a.shape != b.shape:
            return False
        res = [values_equal(x, y, rtol) for x, y in zip(a, b)]
        return False if any(r is False for r in res) else (None if any(r is None for r in res) else True)
    if is_unknown(a) or is_unknown(b):
        return None
    ra = real_value(a)
    if ra is None:
        return None
    rb = real_value(b)
    if rb is None:
        return False
    return bool(abs(ra - rb) <= rtol * (1 + max(abs(ra), abs(rb))))


def undefined_at(a, b) -> bool:
    """Whether the claimed value ``b`` is undefined, infinite or not real where the reference
    ``a`` is a finite real number (element by element for matrices)."""
    if isinstance(a, sp.MatrixBase) and isinstance(b, sp.MatrixBase) and a.shape == b.shape:
        return any(undefined_at(x, y) for x, y in zip(a, b))
    if isinstance(a, sp.MatrixBase) or isinstance(b, sp.MatrixBase):
        return False
    return (not is_unknown(b) and real_value(a) is not None and real_value(b) is None)


def sample_points(leaves, rng: random.Random, count: int, positive: bool = False):
    """Random points: half in (0.05, 0.95) (valid for logs and probabilities), half in (-2, 2)."""
    leaves = sorted(leaves, key=lambda s: s.name)
    for t in range(count):
        point = {}
        for s in leaves:
            if t % 2 == 0 or positive:
                v = rng.uniform(0.05, 0.95)
            else:
                v = rng.uniform(-2, 2)
            point[s] = sp.Float(round(v, 4), 15)
        yield point


def compare(reference, claim, leaves=None, *, seed: int = 0, points: int = 16,
            full=None, positive: bool = False, point_list=None,
            symbolic: bool = True, assume: dict | None = None) -> Comparison:
    """Compare ``claim`` with ``reference`` (SymPy expressions or matrices in the same leaves).

    ``full`` optionally maps both to a fully consistent form before the numeric check (a callable).
    ``assume``: a substitution ``leaf -> expression`` that states an assumption of the setting
    (the fused softmax cross-entropy's rows of y that sum to 1: the last y of a row is 1 minus
    the others); the symbolic comparison applies it to both sides, and ``assumed`` says whether
    the difference needed it to vanish. The random points must satisfy it already.
    """
    if isinstance(reference, sp.MatrixBase) != isinstance(claim, sp.MatrixBase) or (
            isinstance(reference, sp.MatrixBase) and reference.shape != claim.shape):
        return Comparison(False, None, False)
    diff = claim - reference
    if leaves is None:
        leaves = set(getattr(reference, "free_symbols", set())) | set(
            getattr(claim, "free_symbols", set()))
    rng = random.Random(seed)
    valid, ratios = 0, []
    for point in (point_list if point_list is not None else
                  sample_points(leaves, rng, points, positive)):
        a = _at(reference, point)
        b = _at(claim, point)
        eq = values_equal(a, b)
        if eq is None:
            continue
        valid += 1
        ratios.append(_ratio(b, a))
        if eq is False:
            return Comparison(False, None, False, point, a, b, ratios, undefined_at(a, b), valid)
    need = 3 if point_list is None else max(1, min(3, len(point_list)))
    numeric = True if valid >= need else None
    if not symbolic:
        return Comparison(numeric, None, numeric, ratio=ratios, valid=valid)
    assumed = False
    if assume and numeric:
        given = diff.xreplace(assume)
        sym = is_zero(given)
        if sym is True and given != diff:
            assumed = not _cancels(diff)
    else:
        sym = is_zero(diff)
    equal = True if (numeric and sym) else None
    if numeric and sym is None and diff.has(sp.Max, sp.Min, sp.Heaviside, sp.Piecewise, sp.Abs):
        equal = True  # piecewise: decided branch by branch at the sampled points
    return Comparison(equal, sym, numeric, ratio=ratios, valid=valid, assumed=assumed)


def _cancels(e, seconds: float = SIMPLIFY_SECONDS) -> bool:
    """Whether ``e`` is zero by rational algebra alone (the cheap first step of
    :func:`is_zero`, no ``simplify``): used to tell whether an assumption was needed."""
    items = list(e) if isinstance(e, sp.MatrixBase) else [e]
    try:
        with time_limit(seconds):
            return all(x == 0 or sp.cancel(sp.together(_exp_as_symbols(x))) == 0 for x in items)
    except (TimeoutError, RecursionError, NotImplementedError, sp.PolynomialError):
        return False


def _at(e, point):
    """The value of ``e`` at ``point``: a float where float arithmetic gives one, else SymPy's
    own value (a Float past the float range, ``nan``, ``zoo``, a complex number, or an
    expression in symbols without a value); a matrix of those for a matrix."""
    if isinstance(e, sp.MatrixBase):
        memo = {}
        return sp.Matrix(e.rows, e.cols, [_value_at(x, point, memo) for x in e])
    if not isinstance(e, sp.Basic):
        return e
    return _value_at(e, point, {})


def _value_at(x, point, memo):
    v = fast_value(x, point, memo)
    if v is not None:
        return v
    try:  # undefined in float arithmetic: SymPy says what it is (and shows it in a report)
        return x.xreplace(point).evalf(15)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError, RecursionError):
        return sp.nan


class _Undefined(Exception):
    pass


def _heaviside(x, h0=0.5):
    return 1.0 if x > 0 else 0.0 if x < 0 else h0


_UNARY = {sp.exp: math.exp, sp.log: math.log, sp.tanh: math.tanh, sp.sinh: math.sinh,
          sp.cosh: math.cosh, sp.sin: math.sin, sp.cos: math.cos, sp.erf: math.erf,
          sp.Abs: abs, sp.sign: lambda x: float((x > 0) - (x < 0))}
_RELATIONS = {sp.StrictGreaterThan: lambda a, b: a > b, sp.GreaterThan: lambda a, b: a >= b,
              sp.StrictLessThan: lambda a, b: a < b, sp.LessThan: lambda a, b: a <= b,
              sp.Equality: lambda a, b: a == b, sp.Unequality: lambda a, b: a != b}


def fast_value(e, point, memo=None):
    """``e`` at ``point`` in float arithmetic, sharing work between repeated subexpressions.

    Returns a float, or None where ``e`` is undefined or not real there (a log of a negative
    number, a division by zero, an overflow). Much faster than ``xreplace`` + ``evalf`` on the
    large canonical forms of an instance; exotic nodes fall back to SymPy.
    """
    if memo is None:
        memo = {}
    fpoint = memo.get("__point__")
    if fpoint is None:
        fpoint = memo["__point__"] = {k: float(v) for k, v in point.items()}
    try:
        v = _fv(e, fpoint, point, memo)
    except (_Undefined, ValueError, ZeroDivisionError, OverflowError, TypeError):
        return None
    if isinstance(v, bool) or v is None or not math.isfinite(v):
        return None
    return v


def _fv(e, fp, point, memo):
    if e.is_Symbol:
        v = fp.get(e)
        if v is None:
            raise _Undefined
        return v
    if e.is_Number:
        if e.is_finite is False or e is sp.nan:
            raise _Undefined
        return float(e)
    hit = memo.get(e)
    if hit is not None:
        return hit
    f = e.func
    if f is sp.Add:
        v = math.fsum(_fv(a, fp, point, memo) for a in e.args)
    elif f is sp.Mul:
        v = 1.0
        for a in e.args:
            v *= _fv(a, fp, point, memo)
    elif f is sp.Pow:
        b = _fv(e.args[0], fp, point, memo)
        x = _fv(e.args[1], fp, point, memo)
        if b < 0 and x != int(x):
            raise _Undefined
        v = b ** x
        if isinstance(v, complex):
            raise _Undefined
    elif f in _UNARY:
        x = _fv(e.args[0], fp, point, memo)
        v = _UNARY[f](x)
    elif f is sp.Heaviside:
        x = _fv(e.args[0], fp, point, memo)
        v = _heaviside(x, _fv(e.args[1], fp, point, memo) if len(e.args) > 1 else 0.5)
    elif f is sp.Max:
        v = max(_fv(a, fp, point, memo) for a in e.args)
    elif f is sp.Min:
        v = min(_fv(a, fp, point, memo) for a in e.args)
    elif f in _RELATIONS:
        v = _RELATIONS[f](_fv(e.args[0], fp, point, memo), _fv(e.args[1], fp, point, memo))
    elif e is sp.true or e is sp.false:
        v = e is sp.true
    elif f is sp.Piecewise:
        for expr, cond in e.args:
            if cond is sp.true or _fv(cond, fp, point, memo):
                v = _fv(expr, fp, point, memo)
                break
        else:
            raise _Undefined
    elif e is sp.pi or e is sp.E:
        v = float(e)
    else:  # anything else: SymPy's own evaluation
        c = to_complex(e.xreplace(point).evalf(15))
        if c is None:
            raise _Undefined
        v = c.real
    memo[e] = v
    return v


def _ratio(b, a):
    if isinstance(a, sp.MatrixBase):
        out = []
        for x, y in zip(b, a):
            cx, cy = to_complex(x), to_complex(y)
            if cx is not None and cy is not None and abs(cy) > 1e-12:
                out.append((cx / cy).real)
        return out
    cx, cy = to_complex(b), to_complex(a)
    if cx is None or cy is None or abs(cy) < 1e-12:
        return []
    return [(cx / cy).real]
