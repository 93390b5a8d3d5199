"""Conversion of parsed claims to SymPy, and exact checks of scalar derivative identities.

Contract: :func:`to_sympy` builds SymPy objects from an AST (:mod:`symbp.claims.ast`) through a
whitelist of functions and a :class:`Resolver` that decides what each variable is (a scalar
``Symbol``, an ``Indexed`` element, a ``MatrixSymbol`` or an explicit ``Matrix``). No user text
is evaluated: names only ever select entries of fixed tables or become ``Symbol`` names.
Numeric blow-ups (``10^{10^{10}}``) and shape errors are a ``ClaimParseError`` naming the
position. :func:`check_scalar_identity` decides claims such as
``\\frac{\\partial \\sigma(z)}{\\partial z} = \\sigma(z)(1-\\sigma(z))`` with ``sympy.diff``.
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Callable, Mapping, Optional

import sympy as sp

from . import ast as A
from ..expr import MAX_EXPONENT, power_error
from .ast import ClaimParseError, SymbolRef

MAX_DIGITS = 40


def _sigmoid(x):
    return 1 / (1 + sp.exp(-x))


#: Canonical function name -> (arity, builder). sigma is explicit, so diff does the calculus.
FUNCTIONS: dict[str, tuple[int, Callable]] = {
    "sigma": (1, _sigmoid),
    "tanh": (1, sp.tanh),
    "relu": (1, lambda x: sp.Max(0, x)),
    "softplus": (1, lambda x: sp.log(1 + sp.exp(x))),
    "exp": (1, sp.exp),
    "log": (1, sp.log),
    "ln": (1, sp.log),
    "sqrt": (1, sp.sqrt),
    "abs": (1, sp.Abs),
    "sinh": (1, sp.sinh),
    "cosh": (1, sp.cosh),
    "sin": (1, sp.sin),
    "cos": (1, sp.cos),
    "erf": (1, sp.erf),
    "heaviside": (1, lambda x: sp.Heaviside(x, 0)),  # H(0) = 0, as ReLU'(0) in symbp
    "max": (2, sp.Max),
    "min": (2, sp.Min),
}
CONSTANTS = {"pi": sp.pi, "e": sp.E, "oo": sp.oo}
_RELS = {"lt": sp.Lt, "gt": sp.Gt, "le": sp.Le, "ge": sp.Ge, "ne": sp.Ne, "eq": sp.Eq}


class Resolver:
    """Interface: what the variables of a claim stand for.

    The verify engine subclasses this to map ``SymbolRef`` s onto its derivation's objects;
    :class:`DefaultResolver` makes plain symbols for scalar identities.
    """

    def symbol(self, ref: SymbolRef) -> sp.Basic:
        """The SymPy object for a variable (``ref.transpose`` is applied by the converter)."""
        raise NotImplementedError

    def index(self, name: str) -> sp.Symbol:
        """The SymPy symbol of a summation index."""
        return sp.Symbol(name, integer=True)

    def sum_bounds(self, index: str) -> tuple[sp.Basic, sp.Basic]:
        """Bounds of ``\\sum_i`` written without them."""
        return sp.Integer(1), sp.Symbol("n_" + index, integer=True, positive=True)

    def sum_all(self, body: sp.Basic) -> sp.Basic:
        """Plain ``sum(x)``: the sum of all elements of ``x``."""
        if isinstance(body, sp.MatrixBase):
            return sum(body, sp.Integer(0))
        if isinstance(body, sp.MatrixExpr):
            return sp.Function("sum_all")(body)
        return body  # a scalar is the sum of its only element

    def loss(self) -> sp.Basic:
        """The differentiated quantity of ``grad_W`` / ``\\nabla_W`` (no numerator written)."""
        return sp.Symbol("L", real=True)

    def derivative(self, of: sp.Basic, wrt: sp.Basic, ref: SymbolRef) -> sp.Basic:
        """The derivative of ``of`` with respect to ``wrt``; unevaluated by default."""
        return sp.Derivative(of, wrt, evaluate=False)

    def function(self, name: str, args: list, primes: int) -> Optional[sp.Basic]:
        """Hook for functions outside the built-in table; None means "not mine"."""
        return None

    def sum_over(self, index: str, body: sp.Basic, bounds=None) -> Optional[sp.Basic]:
        """Hook: ``\\sum_{index}`` of a matrix that does not use the index (``\\sum_n \\delta``,
        ``\\sum_{i=1}^{m} dZ``: a matrix of samples summed over them); ``bounds`` are the
        written ``(lower, upper)``, else None. None means "not supported"."""
        return None

    def index_value(self, name: str) -> sp.Basic:
        """The value of a free index letter where a formula uses the index itself (the
        Kronecker delta ``\\delta_{ij}``): its symbol unless the resolver fixes the index."""
        return self.index(name)

    def sum_terms(self, index: str, lower: sp.Basic, upper: sp.Basic) -> Optional[list]:
        """Hook: the values of a summation index over which ``\\sum_{index}`` is expanded term
        by term, each term converted with the index fixed to its value (:meth:`bind_index`), so
        that everything in the summand, derivatives included, is taken at that value. None (the
        default) keeps a symbolic ``Sum`` over the index symbol."""
        return None

    def bind_index(self, index: str, value: Optional[int]) -> Optional[int]:
        """Fix a summation index to ``value`` (None: release it) while a term of an expanded sum
        is converted; returns the value it had before (None when it had none). Only called for
        a resolver whose :meth:`sum_terms` returned values."""
        raise NotImplementedError


class DefaultResolver(Resolver):
    """Every variable is a real scalar ``Symbol``: ``z^{(2)}_k`` -> ``Symbol('z2_k')``."""

    def symbol(self, ref: SymbolRef) -> sp.Basic:
        return sp.Symbol(ref.plain_name(), real=True)


class IndexedResolver(DefaultResolver):
    """Variables with indices become ``Indexed`` elements (``w_{ji}`` -> ``w[j, i]``), so
    that sums over an index act on the summand."""

    def symbol(self, ref: SymbolRef) -> sp.Basic:
        if not ref.indices:
            return super().symbol(ref)
        base = sp.IndexedBase(replace(ref, indices=()).plain_name(), real=True)
        idx = [sp.Integer(i) if i.isdigit() else self.index(i) for i in ref.indices]
        return base[tuple(idx)]


class _Converter:
    def __init__(self, text: str, resolver: Resolver, functions: Mapping[str, str]):
        self.text = text
        self.resolver = resolver
        self.functions = functions
        self.bound: list[str] = []  # summation indices in scope
        self.fixed: dict[str, int] = {}  # indices of expanded sums -> the value of this term

    def fail(self, node: A.Node, problem: str, expected: str = "") -> ClaimParseError:
        return ClaimParseError(self.text, getattr(node, "pos", None), problem, expected)

    def conv(self, node: A.Node) -> sp.Basic:
        method = getattr(self, "_" + type(node).__name__.lower())
        try:
            return method(node)
        except ClaimParseError:
            raise
        except (TypeError, ValueError, AttributeError, sp.ShapeError) as exc:
            raise self.fail(node, f"cannot build this expression in SymPy ({exc})") from None

    def _num(self, node: A.Num) -> sp.Basic:
        if len(node.text) > MAX_DIGITS:
            raise self.fail(node, f"number {node.text!r} has more than {MAX_DIGITS} characters")
        return sp.Rational(node.text)

    def _sym(self, node: A.Sym) -> sp.Basic:
        ref = node.ref
        if ref == SymbolRef(ref.base) and ref.base in self.fixed:
            return sp.Integer(self.fixed[ref.base])
        if ref == SymbolRef(ref.base) and ref.base in self.bound:
            return self.resolver.index(ref.base)
        if ref.base in CONSTANTS and ref == SymbolRef(ref.base):
            return CONSTANTS[ref.base]
        value = self.resolver.symbol(replace(ref, transpose=False))
        return _transpose(value) if ref.transpose else value

    def _const(self, node: A.Const) -> sp.Basic:
        return CONSTANTS[node.name]

    def _neg(self, node: A.Neg) -> sp.Basic:
        return -self.conv(node.operand)

    def _binop(self, node: A.BinOp) -> sp.Basic:
        if node.op in ("add", "sub", "mul"):
            return self._chain(node)
        left, right = self.conv(node.left), self.conv(node.right)
        if node.op == "div":
            if isinstance(right, sp.MatrixBase) and right.shape == (1, 1):
                right = right[0, 0]
            if _is_matrix(right):
                raise self.fail(node, "division by a matrix", "a scalar denominator")
            return left / right
        if node.op == "matmul":
            return left * right
        if node.op == "hadamard":
            if isinstance(left, sp.MatrixBase) and isinstance(right, sp.MatrixBase):
                return left.multiply_elementwise(right)
            if _is_matrix(left) and _is_matrix(right):
                return sp.hadamard_product(left, right)
            return left * right
        raise self.fail(node, f"unknown operator {node.op!r}")

    def _chain(self, node: A.BinOp) -> sp.Basic:
        """Left-nested + - * chains iteratively (long sums do not recurse deeply)."""
        family = ("add", "sub") if node.op in ("add", "sub") else ("mul",)
        operands: list[tuple[str, A.Node]] = []
        cur: A.Node = node
        while isinstance(cur, A.BinOp) and cur.op in family:
            operands.append((cur.op, cur.right))
            cur = cur.left
        result = self.conv(cur)
        for op, right in reversed(operands):
            value = self.conv(right)
            if op in ("add", "sub"):  # 1 - yhat with a 1x1 yhat (one output unit): a scalar
                result, value = _scalar_if_mixed(result, value)
                result = result + value if op == "add" else result - value
            else:
                result = _product(result, value)
        return result

    def _pow(self, node: A.Pow) -> sp.Basic:
        base, exp = self.conv(node.base), self.conv(node.exp)
        if not _is_matrix(base):
            return self._scalar_pow(node, base, exp)
        if _is_matrix(exp):
            raise self.fail(node, "a matrix exponent", "a scalar exponent")
        if isinstance(base, sp.MatrixBase) and base.rows != base.cols:
            # a power of a vector or of a non-square matrix has no matrix meaning: it is taken
            # element by element, as texts mean it ((a^{(1)})^2 in 1 - a^2, (y - \hat{y})^2)
            return base.applyfunc(lambda v: self._scalar_pow(node, v, exp))
        if exp.is_Number and abs(exp) > MAX_EXPONENT:
            raise self.fail(node, f"the exponent {exp} is too large (at most {MAX_EXPONENT} in "
                            "absolute value)")
        if exp == -1:
            return base.inv() if isinstance(base, sp.MatrixBase) else base.I
        return base ** exp

    def _scalar_pow(self, node: A.Pow, base: sp.Basic, exp: sp.Basic) -> sp.Basic:
        why = power_error(base, exp)
        if why:
            raise self.fail(node, why)
        return base ** exp

    def _transpose(self, node: A.Transpose) -> sp.Basic:
        return _transpose(self.conv(node.operand))

    def _call(self, node: A.Call) -> sp.Basic:
        name = self.functions.get(node.name, node.name)
        args = [self.conv(a) for a in node.args]
        custom = self.resolver.function(name, args, node.primes)
        if custom is not None:
            return custom
        if name in FUNCTIONS:
            arity, build = FUNCTIONS[name]
            if len(args) != arity:
                raise self.fail(node, f"{name} takes {arity} argument(s), got {len(args)}")
            if any(_is_matrix(a) for a in args):
                if arity != 1 or node.primes:
                    raise self.fail(node, f"{name} of a matrix is not supported here")
                return args[0].applyfunc(build) if isinstance(args[0], sp.MatrixBase) else (
                    sp.Function(name)(args[0]))
            if node.primes == 0:
                return build(*args)
            if arity != 1:
                raise self.fail(node, f"a derivative of {name} needs one argument")
            t = sp.Dummy("t", real=True)
            return sp.diff(build(t), t, node.primes).subs(t, args[0])
        name = name.partition("[")[0]  # g[1]: Ng's layer-1 g; without a setting just g
        if not name.isalpha():
            raise self.fail(node, f"unknown function {name!r}")
        f = sp.Function(name)
        if node.primes == 0:
            return f(*args)
        if len(args) != 1:
            raise self.fail(node, f"a derivative of {name} needs one argument")
        t = sp.Dummy("t", real=True)
        return sp.diff(f(t), t, node.primes).subs(t, args[0])

    def _deriv(self, node: A.Deriv) -> sp.Basic:
        of = self.resolver.loss() if node.of is None else self.conv(node.of)
        wrt = self.resolver.symbol(node.wrt)
        return self.resolver.derivative(of, wrt, node.wrt)

    def _sum(self, node: A.Sum) -> sp.Basic:
        if node.index is None:
            return self.resolver.sum_all(self.conv(node.body))
        if _mentions(node.body, node.index):
            total = self._expanded_sum(node)
            if total is not None:
                return total
        self.bound.append(node.index)
        try:
            body = self.conv(node.body)
        finally:
            self.bound.pop()
        idx = self.resolver.index(node.index)
        written = None
        if node.lower is not None and node.upper is not None:
            written = (self.conv(node.lower), self.conv(node.upper))
        if _is_matrix(body) and not body.has(idx) and (
                written is not None or (node.lower is None and node.upper is None)):
            total = self.resolver.sum_over(node.index, body, written)
            if total is None:
                raise self.fail(node, f"a sum over {node.index} of a matrix that does not use "
                                f"{node.index}", "a summand with the index")
            return total
        if written is not None:  # \sum_{i=1}^{m}: the range as written
            return sp.Sum(body, (idx, *written))
        lo, hi = self.resolver.sum_bounds(node.index)
        if node.lower is not None:
            lo = self.conv(node.lower)
        if node.upper is not None:
            hi = self.conv(node.upper)
        return sp.Sum(body, (idx, lo, hi))

    def _expanded_sum(self, node: A.Sum) -> Optional[sp.Basic]:
        """The sum term by term, when the resolver gives the values of its index
        (:meth:`Resolver.sum_terms`): each term is the body converted with the index fixed, so a
        derivative in the summand (``\\frac{\\partial L}{\\partial \\hat{y}_i}``) is the
        derivative at that value of the index. None: the resolver keeps symbolic sums."""
        lo = self.conv(node.lower) if node.lower is not None else None
        hi = self.conv(node.upper) if node.upper is not None else None
        if lo is None or hi is None:
            default_lo, default_hi = self.resolver.sum_bounds(node.index)
            lo = default_lo if lo is None else lo
            hi = default_hi if hi is None else hi
        values = self.resolver.sum_terms(node.index, lo, hi)
        if values is None:
            return None
        index = node.index
        had = index in self.fixed
        before = self.fixed.get(index)
        total: sp.Basic = sp.Integer(0)
        try:
            for value in values:
                self.fixed[index] = value
                previous = self.resolver.bind_index(index, value)
                try:
                    term = self.conv(node.body)
                finally:
                    self.resolver.bind_index(index, previous)
                total, term = _scalar_if_mixed(total, term)
                total = total + term
        finally:
            if had:
                self.fixed[index] = before
            else:
                self.fixed.pop(index, None)
        return total

    def _matrix(self, node: A.Matrix) -> sp.Basic:
        return sp.Matrix([[self.conv(v) for v in row] for row in node.rows])

    def _kronecker(self, node: A.Kronecker) -> sp.Basic:
        return sp.KroneckerDelta(*(sp.Integer(i) if i.isdigit() else sp.Integer(self.fixed[i])
                                   if i in self.fixed else self.resolver.index(i)
                                   if i in self.bound else self.resolver.index_value(i)
                                   for i in (node.first, node.second)))

    def _rel(self, node: A.Rel) -> sp.Basic:
        return _RELS[node.op](self.conv(node.left), self.conv(node.right))

    def _piecewise(self, node: A.Piecewise) -> sp.Basic:
        """Cases, or an indicator; over matrices (``\\mathbb{1}[z_1 > 0]`` with a matrix z_1)
        one Piecewise per element, scalars broadcast."""
        parts = [(self.conv(v), None if c is None else
                  (c.op, self.conv(c.left), self.conv(c.right)) if isinstance(c, A.Rel) else
                  self.conv(c)) for v, c in node.pieces]
        leaves = [x for v, c in parts for x in (v, *(c[1:] if isinstance(c, tuple) else (c,)))]
        shapes = {x.shape for x in leaves if _is_matrix(x)}
        if len(shapes) > 1:
            raise self.fail(node, f"the cases mix matrices of shapes {sorted(shapes)}")

        def at(x, i, j):
            return x[i, j] if _is_matrix(x) else x

        def build(i, j):
            return sp.Piecewise(*[
                (at(v, i, j), sp.true if c is None else
                 _RELS[c[0]](at(c[1], i, j), at(c[2], i, j)) if isinstance(c, tuple) else c)
                for v, c in parts])
        if not shapes:
            return build(0, 0)
        rows, cols = shapes.pop()
        return sp.Matrix(rows, cols, lambda i, j: build(i, j))


def _scalar_if_mixed(a, b):
    """A 1x1 matrix next to a scalar in a sum is that scalar; a scalar next to a larger explicit
    matrix is added to every element (``1 - a`` in ``a \\odot (1 - a)``)."""
    if isinstance(a, sp.MatrixBase) and a.shape == (1, 1) and not _is_matrix(b):
        a = a[0, 0]
    if isinstance(b, sp.MatrixBase) and b.shape == (1, 1) and not _is_matrix(a):
        b = b[0, 0]
    if isinstance(a, sp.MatrixBase) and not _is_matrix(b):
        b = sp.Matrix(a.rows, a.cols, [b] * len(a))
    elif isinstance(b, sp.MatrixBase) and not _is_matrix(a):
        a = sp.Matrix(b.rows, b.cols, [a] * len(b))
    return a, b


def _product(a, b):
    """A product written without an operator (or with ``*``, ``\\cdot``): the matrix product,
    except for two vectors or non-square matrices of the same shape, which have none: their
    product is element by element, as texts mean it (``\\sigma(z)(1 - \\sigma(z))`` on a layer)."""
    if (isinstance(a, sp.MatrixBase) and isinstance(b, sp.MatrixBase) and a.shape == b.shape
            and a.rows != a.cols):
        return a.multiply_elementwise(b)
    return a * b


def _mentions(node: A.Node, index: str) -> bool:
    """Whether the index letter ``index`` occurs in ``node``: as an index of a variable (of a
    derivative's variable too), as a variable itself, or in a Kronecker delta."""
    for n in A.walk(node):
        refs = [n.ref] if isinstance(n, A.Sym) else [n.wrt] if isinstance(n, A.Deriv) else []
        for ref in refs:
            if index in ref.indices or ref == SymbolRef(index):
                return True
        if isinstance(n, A.Kronecker) and index in (n.first, n.second):
            return True
    return False


def _is_matrix(x) -> bool:
    return isinstance(x, (sp.MatrixBase, sp.MatrixExpr))


def _transpose(x):
    return x.T if _is_matrix(x) else x


def to_sympy(node: A.Node, resolver: Optional[Resolver] = None, *, text: str = "",
             functions: Optional[Mapping[str, str]] = None) -> sp.Basic:
    """Convert an AST node (a side of a Claim) to a SymPy object.

    Args:
        node: the node, e.g. ``claim.rhs``.
        resolver: maps variables to SymPy objects; :class:`DefaultResolver` when None.
        text: the claim text, for error messages.
        functions: renames functions before lookup, e.g. ``{"sigma": "relu"}`` when a text
            writes sigma for a ReLU.

    Returns:
        The SymPy expression (derivatives stay unevaluated ``Derivative`` objects unless the
        resolver evaluates them).

    Raises:
        ClaimParseError: unknown function, wrong arity, too-large power, shape mismatch.
    """
    return _Converter(text, resolver or DefaultResolver(), functions or {}).conv(node)


def claim_sides_sympy(claim: A.Claim, resolver: Optional[Resolver] = None,
                      functions: Optional[Mapping[str, str]] = None) -> list[sp.Basic]:
    """Convert every side of ``claim`` (see :func:`to_sympy`)."""
    return [to_sympy(s, resolver, text=claim.text, functions=functions) for s in claim.sides]


def check_scalar_identity(claim: A.Claim, functions: Optional[Mapping[str, str]] = None,
                          seed: int = 0) -> Optional[bool]:
    """Decide a claim whose left side is d f(x)/dx of an explicit function of x.

    Every side is converted with :class:`DefaultResolver`, derivatives are evaluated with
    ``sympy.diff`` and each side is compared with the first: symbolically
    (``simplify(a - b) == 0``) and at random points (which also settles piecewise forms such
    as ReLU's derivative away from the kink).

    Args:
        claim: a parsed claim, e.g. of ``\\frac{\\partial \\tanh(z)}{\\partial z} = 1 - \\tanh^2(z)``.
        functions: function renaming passed to :func:`to_sympy` (``{"sigma": "relu"}``).
        seed: seed of the random test points.

    Returns:
        True or False; None when the claim is not of that kind (the numerator is an abstract
        symbol such as J, or a side cannot be evaluated).

    Raises:
        ClaimParseError: when a side cannot be converted.
    """
    lhs = claim.lhs
    if not isinstance(lhs, A.Deriv) or lhs.of is None:
        return None
    sides = claim_sides_sympy(claim, DefaultResolver(), functions)
    wrt = DefaultResolver().symbol(lhs.wrt)
    if wrt not in sides[0].atoms(sp.Symbol) and wrt not in getattr(
            sides[0], "free_symbols", set()):
        return None
    of = to_sympy(lhs.of, DefaultResolver(), text=claim.text, functions=functions)
    if wrt not in of.free_symbols:
        return None
    values = [s.doit() if isinstance(s, sp.Basic) else s for s in sides]
    if any(_is_matrix(v) or v.has(sp.Derivative, sp.Subs, sp.core.function.AppliedUndef)
           for v in values):
        return None
    verdict: Optional[bool] = True
    for other in values[1:]:
        result = _equal(values[0], other, seed)
        if result is False:
            return False
        if result is None:
            verdict = None
    return verdict


def _equal(a: sp.Expr, b: sp.Expr, seed: int) -> Optional[bool]:
    diff = a - b
    symbols = sorted(diff.free_symbols, key=lambda s: s.name)
    rng = random.Random(seed)
    valid = 0
    for _ in range(12):
        subs = {}
        for s in symbols:
            v = rng.uniform(0.2, 2.5) * rng.choice((-1, 1))
            subs[s] = sp.Float(v)
        try:
            value = complex(diff.xreplace(subs).evalf())
            scale = abs(complex(a.xreplace(subs).evalf())) + 1.0
        except (TypeError, ValueError, ZeroDivisionError):
            continue
        if value != value or abs(value.imag) > 1e-12 or abs(value) == float("inf"):
            continue
        valid += 1
        if abs(value) > 1e-9 * scale:
            return False
    if not diff.has(sp.Piecewise, sp.Heaviside, sp.Max, sp.Min) and sp.simplify(diff) == 0:
        return True
    return True if valid >= 4 else None
