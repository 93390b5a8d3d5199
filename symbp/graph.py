"""Graph IR: tensors with index signatures and the ops between them.

Contract: :func:`build_graph` turns a :class:`~symbp.spec.Spec` into a :class:`Graph` whose ops,
in forward order, are

- :class:`Dense`        ``z[n,j] = sum_i x[n,i] W[i,j] + b[j]``      (a contraction plus a bias)
- :class:`Elementwise`  ``a[n,j] = f(z[n,j])``                        (an activation rule)
- :class:`Link`         ``yhat = sigmoid(z)`` or ``softmax(z)``       (inside a fused loss)
- :class:`LossOp`       ``L = c sum_n sum_k ell(yhat[n,k], y[n,k]) + l2/2 sum ||W||^2``

Tensors are named like the textbook: ``x``, ``z1``, ``a1``, ..., ``yhat``, ``y``, ``W1``, ``b1``;
dimension symbols are ``N`` (batch) and ``d0 .. dL`` (widths). The graph never holds one symbol
per weight: a tensor is one :class:`sympy.IndexedBase`, whatever its size.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from .rules.activations import Activation
from .rules.losses import Loss

N = sp.Symbol("N", integer=True, positive=True)


@dataclass(frozen=True)
class Tensor:
    """A named tensor: ``role`` is input, target, param, hidden, output or loss."""

    name: str
    dims: tuple[sp.Symbol, ...]
    role: str
    layer: int | None = None

    @property
    def base(self) -> sp.IndexedBase:
        return sp.IndexedBase(self.name, shape=self.dims or None)

    def __getitem__(self, idx) -> sp.Expr:
        if not self.dims:
            return sp.Symbol(self.name)
        idx = idx if isinstance(idx, tuple) else (idx,)
        return sp.IndexedBase(self.name)[idx]


@dataclass(frozen=True)
class Dense:
    """``z[n,j] = sum_i x[n,i] W[i,j] + b[j]``."""

    layer: int
    x: Tensor
    W: Tensor
    b: Tensor
    z: Tensor


@dataclass(frozen=True)
class Elementwise:
    """``a[n,j] = f(z[n,j])``."""

    layer: int
    z: Tensor
    a: Tensor
    act: Activation


@dataclass(frozen=True)
class Link:
    """The prediction of a fused loss: ``yhat = sigmoid(z)`` or ``softmax(z)`` (row-wise)."""

    kind: str
    z: Tensor
    yhat: Tensor


@dataclass(frozen=True)
class LossOp:
    """``L = c sum_n sum_k ell(pred[n,k], y[n,k]) + l2/2 sum_l ||W_l||^2``."""

    pred: Tensor
    y: Tensor
    loss: Tensor
    rule: Loss
    reduction: str
    l2: sp.Expr
    weights: tuple[Tensor, ...]

    @property
    def scale(self) -> sp.Expr:
        return 1 / N if self.reduction == "mean" else sp.Integer(1)


@dataclass
class Graph:
    """Tensors by name and ops in forward order."""

    tensors: dict[str, Tensor] = field(default_factory=dict)
    ops: list = field(default_factory=list)

    def add(self, t: Tensor) -> Tensor:
        self.tensors[t.name] = t
        return t

    @property
    def params(self) -> list[Tensor]:
        return [t for t in self.tensors.values() if t.role == "param"]

    @property
    def depth(self) -> int:
        return sum(isinstance(op, Dense) for op in self.ops)


def width(l: int) -> sp.Symbol:
    """Dimension symbol of layer ``l``'s width (``d0`` is the input width)."""
    return sp.Symbol(f"d{l}", integer=True, positive=True)


def build_graph(spec) -> Graph:
    """The graph of an MLP spec (see the module docstring)."""
    g = Graph()
    L = len(spec.model.layers)
    prev = g.add(Tensor("x", (N, width(0)), "input", 0))
    weights = []
    for l, layer in enumerate(spec.model.layers, start=1):
        W = g.add(Tensor(f"W{l}", (width(l - 1), width(l)), "param", l))
        b = g.add(Tensor(f"b{l}", (width(l),), "param", l))
        z = g.add(Tensor(f"z{l}", (N, width(l)), "hidden", l))
        g.ops.append(Dense(l, prev, W, b, z))
        weights.append(W)
        last = l == L
        if last and spec.loss.rule.link is not None:
            yhat = g.add(Tensor("yhat", (N, width(l)), "output", l))
            g.ops.append(Link(spec.loss.rule.link, z, yhat))
            prev = yhat
        elif layer.activation.is_identity and not last:
            prev = z  # a = z: no equation, the next layer reads z directly
        else:
            a = g.add(Tensor("yhat" if last else f"a{l}", (N, width(l)), "output" if last else "hidden", l))
            g.ops.append(Elementwise(l, z, a, layer.activation))
            prev = a
    y = g.add(Tensor("y", (N, width(L)), "target", L))
    loss = g.add(Tensor("L", (), "loss"))
    g.ops.append(LossOp(prev, y, loss, spec.loss.rule, spec.loss.reduction, spec.loss.l2,
                        tuple(weights)))
    return g
