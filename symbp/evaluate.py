"""A plain evaluator of derivations: index-form equations -> NumPy arrays (or exact numbers).

Contract: :func:`evaluate` walks a :class:`~symbp.derive.Derivation`'s equations in order and
computes every tensor they define from the parameters, inputs and targets, by interpreting the
SymPy index expressions directly (``Indexed`` -> array axes, ``Sum`` -> a sum over an axis,
elementwise functions -> ufuncs). It shares no code with the code generator, so it is an
independent check of the generated kernels, and with ``exact=True`` it computes in SymPy numbers
(rationals stay rational) for worked examples.

It materialises the product inside each sum, so it is meant for small sizes (tests, examples).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp
from sympy.core.function import AppliedUndef

from .derive import ETA, LAMBDA, Derivation, Equation
from .graph import N


@dataclass
class _Val:
    arr: object           # ndarray (float or object) or scalar
    axes: tuple           # index symbols, one per array axis


def _vec(fn):
    return np.vectorize(fn, otypes=[object])


_NUMPY_FUNCS = {
    sp.exp: np.exp, sp.log: np.log, sp.tanh: np.tanh, sp.sinh: np.sinh, sp.cosh: np.cosh,
    sp.sin: np.sin, sp.cos: np.cos, sp.atan: np.arctan, sp.Abs: np.abs, sp.sign: np.sign,
}


def _erf_np(x):
    from math import erf

    return np.vectorize(erf, otypes=[float])(x)


class Evaluator:
    """Evaluates index-form SymPy expressions over named arrays."""

    def __init__(self, env: dict, scalars: dict, exact: bool, activations: dict):
        self.env = env              # tensor name -> ndarray
        self.scalars = scalars      # Symbol -> number (N, eta, lambda)
        self.exact = exact
        self.activations = activations  # undefined function name -> Activation

    def value(self, expr: sp.Expr, axes: tuple) -> np.ndarray:
        v = self.ev(expr)
        return self._align(v, axes)

    def _align(self, v: _Val, axes: tuple):
        arr = v.arr if isinstance(v.arr, np.ndarray) else np.asarray(v.arr, dtype=object if self.exact else float)
        for ax in axes:
            if ax not in v.axes:
                raise ValueError(f"index {ax} missing on the right-hand side")
        perm = [v.axes.index(ax) for ax in axes]
        return np.transpose(arr, perm) if arr.ndim else arr

    # -- recursion ---------------------------------------------------------------------------
    def ev(self, e: sp.Expr) -> _Val:
        if isinstance(e, sp.Indexed):
            return _Val(self.env[e.base.name], tuple(e.indices))
        if isinstance(e, sp.Symbol):
            if e in self.scalars:
                return _Val(self.scalars[e], ())
            if e.name in self.env:
                return _Val(self.env[e.name], ())
            raise KeyError(f"no value for symbol {e}")
        if e.is_Number or isinstance(e, sp.NumberSymbol):
            return _Val(e if self.exact else float(e), ())
        if isinstance(e, sp.Add):
            return self._nary([self.ev(a) for a in e.args], lambda x, y: x + y)
        if isinstance(e, sp.Mul):
            return self._nary([self.ev(a) for a in e.args], lambda x, y: x * y)
        if isinstance(e, sp.Pow):
            return self._nary([self.ev(e.base), self.ev(e.exp)], self._pow)
        if isinstance(e, sp.Sum):
            return self._sum(e)
        if isinstance(e, sp.Piecewise):
            return self._piecewise(e)
        if isinstance(e, (sp.StrictGreaterThan, sp.GreaterThan, sp.StrictLessThan, sp.LessThan)):
            ops = {sp.StrictGreaterThan: np.greater, sp.GreaterThan: np.greater_equal,
                   sp.StrictLessThan: np.less, sp.LessThan: np.less_equal}
            return self._nary([self.ev(e.lhs), self.ev(e.rhs)], ops[type(e)])
        if isinstance(e, sp.Heaviside):
            x = self.ev(e.args[0])
            return _Val(self._num(np.greater(x.arr, 0)), x.axes)
        if isinstance(e, (sp.Max, sp.Min)):
            f = np.maximum if isinstance(e, sp.Max) else np.minimum
            return self._nary([self.ev(a) for a in e.args], f)
        if isinstance(e, AppliedUndef) and type(e).__name__ in self.activations:
            act = self.activations[type(e).__name__]
            return self.ev(act.apply(e.args[0]))
        if isinstance(e, sp.Function) and len(e.args) == 1:
            x = self.ev(e.args[0])
            return _Val(self._func(type(e))(x.arr), x.axes)
        raise NotImplementedError(f"the evaluator cannot handle {type(e).__name__}: {e}")

    def _num(self, boolean):
        if self.exact:
            return np.vectorize(lambda b: sp.Integer(1) if b else sp.Integer(0), otypes=[object])(boolean)
        return np.asarray(boolean, dtype=float)

    def _func(self, cls):
        if self.exact:
            return _vec(cls)
        if cls is sp.erf:
            return _erf_np
        if cls not in _NUMPY_FUNCS:
            raise NotImplementedError(f"the evaluator has no NumPy function for {cls}")
        return _NUMPY_FUNCS[cls]

    def _pow(self, x, y):
        if self.exact:
            return x ** y
        return np.power(np.asarray(x, dtype=float), y)

    def _broadcast(self, vals: list[_Val]):
        axes: list = []
        for v in vals:
            axes += [a for a in v.axes if a not in axes]
        arrs = []
        for v in vals:
            arr = v.arr
            if not v.axes:
                arrs.append(arr)
                continue
            arr = np.transpose(arr, [v.axes.index(a) for a in axes if a in v.axes])
            shape = [arr.shape[[a for a in axes if a in v.axes].index(a)] if a in v.axes else 1
                     for a in axes]
            arrs.append(arr.reshape(shape))
        return arrs, tuple(axes)

    def _nary(self, vals: list[_Val], op) -> _Val:
        arrs, axes = self._broadcast(vals)
        out = arrs[0]
        for a in arrs[1:]:
            out = op(out, a)
        return _Val(out, axes)

    def _sum(self, e: sp.Sum) -> _Val:
        body = self.ev(e.function)
        arr, axes = body.arr, list(body.axes)
        for lim in e.limits:
            idx = lim[0]
            if idx in axes:
                pos = axes.index(idx)
                arr = np.sum(arr, axis=pos)
                axes.pop(pos)
            else:  # the body does not depend on the index: multiply by the axis length
                raise ValueError(f"sum over {idx} whose body does not use it")
        return _Val(arr, tuple(axes))

    def _piecewise(self, e: sp.Piecewise) -> _Val:
        vals, conds = [], []
        for expr, cond in e.args:
            vals.append(self.ev(expr))
            conds.append(self.ev(cond) if cond is not sp.true else _Val(True, ()))
        arrs, axes = self._broadcast(vals + conds)
        k = len(vals)
        out = arrs[k - 1]
        for v, c in zip(reversed(arrs[: k - 1]), reversed(arrs[k:2 * k - 1])):
            out = np.where(c, v, out)
        return _Val(out, axes)


def evaluate(d: Derivation, params: dict, X, Y, *, eta=None, exact: bool = False,
             digits: int = 30) -> dict:
    """Compute every tensor of the derivation.

    Args:
        d: the derivation.
        params: ``{"W1": (d0, d1) array, "b1": (d1,) array, ...}``.
        X: inputs, shape (N, d0).  Y: targets, shape (N, dL).
        eta: learning rate for the update equations (skipped when None).
        exact: compute with SymPy numbers (inputs converted with ``sympy.nsimplify`` of their
            decimal text, so 0.1 is 1/10) instead of float64. Rational results stay exact;
            irrational ones (after an exp or log) are rounded to ``digits`` significant digits
            so that deep nets do not build exponentially large expressions.

    Returns:
        ``{name: value}`` for every tensor defined: ``z1``, ``a1``, ..., ``yhat``, ``L`` (a scalar),
        ``delta1``, ..., ``dW1``, ``db1``, ..., and for updates ``W1_new``, ``b1_new``, ...
    """
    conv = _exact_array if exact else (lambda a: np.asarray(a, dtype=float))
    env = {name: conv(v) for name, v in params.items()}
    env["x"], env["y"] = conv(X), conv(Y)
    nrows = env["x"].shape[0]
    scalars = {N: sp.Integer(nrows) if exact else float(nrows),
               LAMBDA: d.spec.loss.l2 if exact else float(d.spec.loss.l2)}
    if eta is not None:
        scalars[ETA] = sp.nsimplify(str(eta)) if exact else float(eta)
    acts = {layer.activation.name: layer.activation for layer in d.spec.model.layers}
    ev = Evaluator(env, scalars, exact, acts)
    settle = _settler(digits) if exact else (lambda v: v)
    out = {}
    for eq in d.equations:
        if eq.stage == "update":
            if eta is None or d.optimizer.name != "sgd":
                continue
            out[eq.target + "_new"] = settle(ev.value(eq.rhs, eq.indices))
            continue
        val = settle(ev.value(eq.rhs, eq.indices))
        out[eq.target] = val
        env[eq.target] = val
    return out


def _settler(digits: int):
    def settle_one(v):
        return v if isinstance(v, sp.Rational) else sp.Float(sp.N(v, digits), digits)

    vec = np.vectorize(settle_one, otypes=[object])
    return lambda arr: vec(arr) if isinstance(arr, np.ndarray) and arr.ndim else settle_one(
        arr.item() if isinstance(arr, np.ndarray) else arr)


def _exact_array(a) -> np.ndarray:
    arr = np.asarray(a, dtype=object)
    return np.vectorize(lambda v: sp.nsimplify(str(v)) if not isinstance(v, sp.Basic) else v,
                        otypes=[object])(arr)


def gradients(d: Derivation, params: dict, X, Y) -> tuple[float, dict]:
    """``(L, {param: gradient})`` in float64 from the derived equations."""
    out = evaluate(d, params, X, Y)
    return float(out["L"]), {p: out["d" + p] for p in d.params}
