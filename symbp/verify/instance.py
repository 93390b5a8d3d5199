"""A concrete small instance of a spec's network, every element a SymPy symbol.

Contract: :class:`Instance` takes a :class:`~symbp.derive.Derivation` and concrete sizes (random
widths, usually N = 1 sample) and builds a :class:`~symbp.verify.model.ScalarModel` whose
definitions are the derivation's own equations evaluated element by element by the evaluator
(:mod:`symbp.evaluate`) over arrays of symbols: ``a1_0_2 := sigmoid(z1_0_2)``,
``delta1_0_1 := ...``, ``dW2_1_0 := ...``. Pre-activations are leaves (their affine definitions
are kept for derivatives only), so derived and claimed forms are compared in the quantities a
textbook writes (activations, pre-activations, targets, weights).
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from ..derive import LAMBDA, Derivation
from ..evaluate import Evaluator, _Val, _vec
from ..graph import N as NSYM
from .model import ScalarModel


class _SymEvaluator(Evaluator):
    """The evaluator over symbols: step functions and conditions stay symbolic."""

    def ev(self, e):
        if isinstance(e, sp.Heaviside):
            x = self.ev(e.args[0])
            return _Val(_vec(lambda v: sp.Heaviside(v, 0))(x.arr), x.axes)
        if isinstance(e, (sp.StrictGreaterThan, sp.GreaterThan, sp.StrictLessThan, sp.LessThan)):
            return self._nary([self.ev(e.lhs), self.ev(e.rhs)], _vec(lambda a, b, t=type(e): t(a, b)))
        if isinstance(e, (sp.Max, sp.Min)):  # NumPy's maximum would compare symbols
            f = sp.Max if isinstance(e, sp.Max) else sp.Min
            return self._nary([self.ev(a) for a in e.args], _vec(lambda a, b: f(a, b)))
        if isinstance(e, sp.Piecewise):
            vals, conds = [], []
            for expr, cond in e.args:
                vals.append(self.ev(expr))
                conds.append(self.ev(cond) if cond is not sp.true else _Val(sp.true, ()))
            arrs, axes = self._broadcast(vals + conds)
            k = len(vals)
            build = np.vectorize(lambda *xs: sp.Piecewise(*zip(xs[:k], xs[k:])), otypes=[object])
            return _Val(build(*arrs), axes)
        return super().ev(e)


class Instance:
    """The network of ``d`` at widths ``sizes`` (input first) with ``n`` samples."""

    def __init__(self, d: Derivation, sizes: tuple[int, ...], n: int = 1):
        self.d = d
        self.sizes = tuple(sizes)
        self.n = n
        self.depth = len(sizes) - 1
        self.model = ScalarModel()
        self.arrays: dict[str, np.ndarray] = {}
        self.out_name = "yhat"
        g = d.graph
        acts = {layer.activation.name: layer.activation for layer in d.spec.model.layers}
        for name, t in g.tensors.items():
            if name == "L" or not t.dims:
                continue
            self.arrays[name] = self._symbols(name, self._shape(t.dims))
        for eq in d.equations:
            if eq.stage == "update" or eq.target in self.arrays or eq.target == "L":
                continue
            shape = self._shape_of(eq)
            self.arrays[eq.target] = self._symbols(eq.target, shape)
        self.loss = sp.Symbol("L", real=True)
        env = dict(self.arrays)
        scalars = {NSYM: sp.Integer(n), LAMBDA: d.spec.loss.l2}
        ev = _SymEvaluator(env, scalars, True, acts)
        for eq in d.equations:
            if eq.stage == "update":
                continue
            value = ev.value(eq.rhs, eq.indices)
            if eq.target == "L":
                self.model.define(self.loss, value.item() if isinstance(value, np.ndarray) else value)
                continue
            cut = eq.stage == "forward" and eq.target.startswith("z")
            for idx, sym in np.ndenumerate(self.arrays[eq.target]):
                self.model.define(sym, value[idx], cut=cut)
        self.leaves = {s for name, arr in self.arrays.items() for s in arr.flat
                       if s not in self.model.defs or s in self.model.cut}

    def _shape(self, dims):
        out = []
        for dsym in dims:
            if dsym == NSYM:
                out.append(self.n)
            else:
                out.append(self.sizes[int(str(dsym)[1:])])
        return tuple(out)

    def _shape_of(self, eq):
        t = eq.target
        if t.startswith("dW"):
            l = int(t[2:])
            return (self.sizes[l - 1], self.sizes[l])
        if t.startswith("db"):
            return (self.sizes[int(t[2:])],)
        if t.startswith("delta"):
            return (self.n, self.sizes[int(t[5:])])
        raise KeyError(t)

    @staticmethod
    def _symbols(name: str, shape) -> np.ndarray:
        arr = np.empty(shape, dtype=object)
        for idx in np.ndindex(*shape):
            arr[idx] = sp.Symbol(name + "_" + "_".join(str(i) for i in idx), real=True)
        return arr

    # -- names ---------------------------------------------------------------------------------
    def tensor(self, kind: str, layer: int | None) -> str:
        """The derivation's tensor name for a kind and layer (row layout, symbp's names)."""
        L = self.depth
        if kind == "x" or (kind == "a" and layer == 0):
            return "x"
        if kind == "y":
            return "y"
        if kind == "yhat" or (kind == "a" and layer == L):
            return "yhat" if "yhat" in self.arrays else f"a{L}"
        if kind in ("z", "a", "W", "b", "delta"):
            if layer is None or not 1 <= layer <= L:
                raise KeyError(kind)
            return f"{kind}{layer}"
        raise KeyError(kind)

    def gradient_name(self, name: str) -> str | None:
        """The tensor holding dL/d(name) when the derivation names it (``delta2`` for ``z2``,
        ``dW2`` for ``W2``, ``db2`` for ``b2``), else None."""
        kind = name.rstrip("0123456789")
        layer = name[len(kind):]
        grad = {"z": f"delta{layer}", "W": f"dW{layer}", "b": f"db{layer}"}.get(kind)
        return grad if layer and grad in self.arrays else None

    def grad_of_loss(self, name: str) -> np.ndarray:
        """dL/d(tensor) element by element, in instance symbols (canonical form)."""
        arr = self.arrays[name]
        m = self.model
        grad = self.gradient_name(name)
        if grad is not None:
            return np.vectorize(m.canonical, otypes=[object])(self.arrays[grad])
        out = np.empty(arr.shape, dtype=object)
        for idx, s in np.ndenumerate(arr):
            out[idx] = m.canonical(m.derivative(m.defs[self.loss], s))
        return out
