"""Matrix (vector-matrix) form of the equations: a tiny expression tree for printing.

Contract: the reverse sweep builds, next to each index-form equation, the same equation in the
notation of matrix-calculus texts: ``delta1 = (delta2 W2^T) ⊙ a1 ⊙ (1 - a1)``,
``dL/dW2 = a1^T delta2``. Nodes are immutable; each prints itself in three styles:

- ``text``:  Unicode for terminals (``δ1 = (δ2 W2ᵀ) ⊙ a1 ⊙ (1 − a1)``),
- ``latex``: for documents,
- ``plain``: ASCII NumPy-like, used in generated code comments (``(delta2 @ W2.T) * a1 * (1 - a1)``).

Elementwise parts are SymPy scalar expressions whose symbols stand for whole matrices
(:class:`Elem`); products inside them print as Hadamard products.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from .printing.names import name_latex, name_text


class MNode:
    """Base class of matrix-form nodes."""

    def text(self) -> str:
        return self.render("text")

    def latex(self) -> str:
        return self.render("latex")

    def plain(self) -> str:
        return self.render("plain")

    def render(self, style: str) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def atomic(self) -> bool:
        return False


@dataclass(frozen=True)
class M(MNode):
    """A named matrix, vector or scalar (``W2``, ``delta1``, ``eta``)."""

    name: str

    def render(self, style: str) -> str:
        if style == "latex":
            return name_latex(self.name)
        if style == "text":
            return name_text(self.name)
        return self.name

    @property
    def atomic(self) -> bool:
        return True


@dataclass(frozen=True)
class T(MNode):
    """Transpose."""

    arg: MNode

    def render(self, style: str) -> str:
        inner = _wrap(self.arg, style)
        if style == "latex" and "^" in inner and not inner.startswith(r"\left("):
            inner = "{" + inner + "}"
        return {"latex": inner + r"^{\top}", "text": inner + "ᵀ", "plain": inner + ".T"}[style]

    @property
    def atomic(self) -> bool:
        return True


@dataclass(frozen=True)
class MatMul(MNode):
    """Matrix product ``a b``."""

    a: MNode
    b: MNode

    def render(self, style: str) -> str:
        sep = {"latex": " ", "text": " ", "plain": " @ "}[style]
        return _wrap(self.a, style) + sep + _wrap(self.b, style)


@dataclass(frozen=True)
class SumRows(MNode):
    """Sum over the batch (rows): ``sum_n X[n, :]``."""

    arg: MNode

    def render(self, style: str) -> str:
        inner = _wrap(self.arg, style)
        return {"latex": r"\sum_{n} " + inner, "text": "Σₙ " + inner,
                "plain": inner + ".sum(axis=0)"}[style]


@dataclass(frozen=True)
class Apply(MNode):
    """A named function applied elementwise or row-wise: ``σ(z1)``, ``softmax(z2)``."""

    fname: str
    arg: MNode
    latex_name: str = ""
    plain_name: str = ""  # ASCII name for the plain style (``sigmoid`` for ``σ``)

    def render(self, style: str) -> str:
        inner = self.arg.render(style)
        if style == "latex":
            return f"{self.latex_name or self.fname}\\left({inner}\\right)"
        if style == "plain":
            return f"{self.plain_name or self.fname}({inner})"
        return f"{self.fname}({inner})"

    @property
    def atomic(self) -> bool:
        return True


@dataclass(frozen=True)
class Elem(MNode):
    """An elementwise expression: SymPy scalar ``expr`` whose symbols stand for matrices.

    ``parts`` maps placeholder symbols in ``expr`` to sub-nodes (e.g. a matrix product);
    any other symbol prints as the tensor of that name.
    """

    expr: sp.Expr
    parts: tuple[tuple[sp.Symbol, MNode], ...] = ()

    def render(self, style: str) -> str:
        from .printing.scalar import matrix_elementwise

        return matrix_elementwise(self.expr, dict(self.parts), style)

    @property
    def atomic(self) -> bool:
        return isinstance(self.expr, (sp.Symbol, sp.Number))


@dataclass(frozen=True)
class IndexForm(MNode):
    """An equation that reads the same in both forms (the scalar loss): printed in index form."""

    expr: sp.Expr

    def render(self, style: str) -> str:
        from .printing.scalar import print_expr

        return print_expr(self.expr, style)


def column_layout(node: MNode) -> MNode:
    """The same equation in the column layout of texts that write ``z = W a + b``.

    symbp's row layout keeps samples in rows (``z = a W + b``); a text with column vectors
    holds the transpose of each of its matrices. The column form is the transpose of the row
    form: ``(a W)ᵀ = Wᵀ aᵀ``, each name now standing for the text's (transposed) matrix, so
    ``z1 = x W1 + b1`` reads ``z1 = W1 x + b1`` and ``∂L/∂W2 = a1ᵀ δ2`` reads ``δ2 a1ᵀ``.
    Elementwise parts, activations and sums over the batch keep their form.
    """
    if isinstance(node, MatMul):
        return MatMul(column_layout(node.b), column_layout(node.a))
    if isinstance(node, T):
        return T(column_layout(node.arg))
    if isinstance(node, SumRows):
        return SumRows(column_layout(node.arg))
    if isinstance(node, Apply):
        return Apply(node.fname, column_layout(node.arg), node.latex_name, node.plain_name)
    if isinstance(node, Elem):
        return Elem(node.expr, tuple((k, column_layout(v)) for k, v in node.parts))
    return node  # a name (M), the scalar loss (IndexForm)


def _wrap(node: MNode, style: str) -> str:
    s = node.render(style)
    if node.atomic:
        return s
    return rf"\left({s}\right)" if style == "latex" else f"({s})"
