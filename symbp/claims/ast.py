"""The small AST that claims parse into, and the error type of the claims package.

Contract: every node is a frozen dataclass that holds only strings, ints, tuples and other nodes
(no SymPy objects, no callables), so a parsed claim can be inspected, compared, printed and
converted (:mod:`symbp.claims.convert`) without ever running user text. ``pos`` fields are
0-based character offsets into the claim text; they do not take part in equality.

Node kinds::

    Num(text)                      a number as written ("0.5", "2")
    Sym(ref)                       a variable, described by a SymbolRef
    Const(name)                    pi, e, infinity
    Neg(operand)                   unary minus
    BinOp(op, left, right)         op: add sub mul div matmul hadamard
    Pow(base, exp)
    Transpose(operand)             (expr)^T, expr.T
    Call(name, args, primes)       sigma(z), sigma'(z), tanh^2 is Pow(Call(tanh), 2)
    Deriv(of, wrt, style)          d(of)/d(wrt); of None means "the loss" (grad_W, nabla_W)
    Sum(body, index, lower, upper) index None: sum of all elements (plain ``sum(x)``)
    Matrix(rows)                   bmatrix / pmatrix
    Piecewise(pieces)              cases: ((value, condition or None), ...)
    Rel(op, left, right)           conditions inside cases: lt gt le ge ne
    Kronecker(first, second)       \\delta_{ij}: 1 where the two indices are equal, else 0
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Union

from ..errors import ExprError

Layer = Union[int, str, None]


class ClaimParseError(ExprError):
    """A claim (LaTeX or plain-text formula) could not be parsed or converted safely.

    Attributes:
        text: the claim as given (shortened in the message when long).
        position: 0-based character offset of the problem, or None.
        problem: what is wrong.
        expected: what the parser expected there (may be empty).
    """

    def __init__(self, text: str, position: int | None, problem: str, expected: str = ""):
        self.expected = expected
        full = f"{problem}; expected {expected}" if expected else problem
        super().__init__(text, position, full)


@dataclass(frozen=True)
class SymbolRef:
    """A variable as a formula names it.

    ``z_k^{(2)}`` is ``SymbolRef('z', layer=2, indices=('k',))``; ``\\hat{y}_k`` and ``yhat[k]``
    are ``SymbolRef('y', indices=('k',), hat=True)``; ``A_1^T`` has ``transpose=True``.
    """

    base: str
    layer: Layer = None
    indices: tuple[str, ...] = ()
    hat: bool = False
    transpose: bool = False
    prime: bool = False

    def plain_name(self) -> str:
        """A flat identifier for the symbol: ``z^{(2)}_k`` -> ``z2_k``, ``\\hat{y}`` -> ``yhat``."""
        name = self.base + ("hat" if self.hat else "")
        if self.layer is not None:
            name += str(self.layer).replace("+", "p").replace("-", "m")
        if self.indices:
            name += "_" + "".join(self.indices).replace("+", "p").replace("-", "m")
        if self.prime:
            name += "_prime"
        return name


@dataclass(frozen=True)
class DerivativeRef:
    """The structure of a derivative ``d numerator / d denominator``.

    ``numerator`` is None when the differentiated quantity is not a single variable (e.g.
    ``\\partial \\sigma(z)``) or is the implicit loss (``grad_W``); ``numerator_expr`` then
    holds the expression (or None for the implicit loss).
    """

    numerator: Optional[SymbolRef]
    denominator: SymbolRef
    numerator_expr: Optional["Node"] = field(default=None, compare=False)


@dataclass(frozen=True)
class Node:
    """Base class of AST nodes."""


@dataclass(frozen=True)
class Num(Node):
    text: str
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Sym(Node):
    ref: SymbolRef
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Const(Node):
    name: str  # 'pi', 'e', 'oo'
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Neg(Node):
    operand: Node
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class BinOp(Node):
    op: str  # add sub mul div matmul hadamard
    left: Node
    right: Node
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Pow(Node):
    base: Node
    exp: Node
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Transpose(Node):
    operand: Node
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Call(Node):
    name: str  # canonical lower-case name for known functions ('sigma', 'relu', 'tanh')
    args: tuple[Node, ...]
    primes: int = 0
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Deriv(Node):
    of: Optional[Node]
    wrt: SymbolRef
    style: str = "partial"  # partial, d, nabla, grad
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Sum(Node):
    body: Node
    index: Optional[str] = None
    lower: Optional[Node] = None
    upper: Optional[Node] = None
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Matrix(Node):
    rows: tuple[tuple[Node, ...], ...]
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Rel(Node):
    op: str  # lt gt le ge ne eq
    left: Node
    right: Node
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Piecewise(Node):
    pieces: tuple[tuple[Node, Optional[Node]], ...]
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Kronecker(Node):
    """The Kronecker delta ``\\delta_{ij}`` (a delta with two index letters and no layer); the
    fields are the index labels as written."""

    first: str
    second: str
    pos: int = field(default=0, compare=False)


def walk(node: Node | None):
    """Yield ``node`` and all nodes below it (iteratively: safe on deep trees)."""
    stack = [node]
    while stack:
        n = stack.pop()
        if n is None:
            continue
        yield n
        if isinstance(n, (Neg, Transpose)):
            stack.append(n.operand)
        elif isinstance(n, (BinOp, Rel)):
            stack.extend((n.left, n.right))
        elif isinstance(n, Pow):
            stack.extend((n.base, n.exp))
        elif isinstance(n, Call):
            stack.extend(n.args)
        elif isinstance(n, Deriv):
            stack.append(n.of)
        elif isinstance(n, Sum):
            stack.extend((n.body, n.lower, n.upper))
        elif isinstance(n, Matrix):
            for row in n.rows:
                stack.extend(row)
        elif isinstance(n, Piecewise):
            for value, cond in n.pieces:
                stack.extend((value, cond))


@dataclass(frozen=True)
class Claim:
    """A parsed formula: sides joined by relations (``a = b = c``, ``W := W - ...``).

    Attributes:
        text: the claim as given.
        sides: the expressions, at least two.
        relations: the relation between consecutive sides: 'eq', 'assign' (``:=``,
            ``\\leftarrow``), 'approx'.
        annotations: trailing ``\\text{...}`` remarks (e.g. ``(for ReLU)``).
    """

    text: str
    sides: tuple[Node, ...]
    relations: tuple[str, ...]
    annotations: tuple[str, ...] = ()

    @property
    def lhs(self) -> Node:
        return self.sides[0]

    @property
    def rhs(self) -> Node:
        return self.sides[1]

    @property
    def derivative(self) -> Optional[DerivativeRef]:
        """The DerivativeRef of the left-hand side when it is a derivative, else None."""
        lhs = self.lhs
        if not isinstance(lhs, Deriv):
            return None
        num = lhs.of.ref if isinstance(lhs.of, Sym) else None
        return DerivativeRef(num, lhs.wrt, lhs.of)

    @property
    def is_update(self) -> bool:
        """True for update rules: ``:=`` / ``\\leftarrow``, or ``w = w - alpha dJ/dw``."""
        if "assign" in self.relations:
            return True
        return (isinstance(self.lhs, Sym) and _mentions(self.rhs, self.lhs.ref)
                and any(isinstance(n, Deriv) for n in walk(self.rhs)))

    @property
    def update_target(self) -> Optional[SymbolRef]:
        """The updated variable of an update rule, else None."""
        return self.lhs.ref if self.is_update and isinstance(self.lhs, Sym) else None

    @property
    def is_derivative_claim(self) -> bool:
        """True when some side contains a derivative or a primed function/variable, or the
        left side is a backprop error term delta (a derivative by definition)."""
        if isinstance(self.lhs, Sym) and self.lhs.ref.base in ("delta", "dz", "dZ"):
            return True  # (dz2 = ...: the error term, as the runtime names it)
        for side in self.sides:
            for n in walk(side):
                if isinstance(n, Deriv) or (isinstance(n, Call) and n.primes):
                    return True
                if isinstance(n, Sym) and n.ref.prime:
                    return True
        return False


def _mentions(node: Node, ref: SymbolRef) -> bool:
    return any(isinstance(n, Sym) and n.ref == ref for n in walk(node))


@dataclass(frozen=True)
class Formula:
    """A formula found in a Markdown document (see :func:`symbp.claims.extract_formulas`).

    Attributes:
        line: 1-based line of the first character of the formula's content.
        text: the content between the delimiters, stripped.
        display: True for ``$$...$$`` and ``\\[...\\]``, False for ``$...$`` and ``\\(...\\)``.
    """

    line: int
    text: str
    display: bool
