"""Hand-written NumPy references for MLP losses and gradients (test oracle, not symbp code).

Written by hand from textbook formulas, never generated from symbp, so that compiled kernels can
be compared with an independent implementation. Everything is float64 and batch-major.

Contract (the conventions every symbp test shares):

* ``X`` has shape ``(N, d0)``; targets ``Y`` have shape ``(N, d_L)``.
* Layer ``l = 1..L``: ``W_l`` shape ``(d_{l-1}, d_l)``, ``b_l`` shape ``(d_l,)``,
  ``z_l = a_{l-1} @ W_l + b_l``, ``a_l = f_l(z_l)``, ``a_0 = X``.
* ``params`` is a dict ``{"W1": ..., "b1": ..., "W2": ...}``; gradient dicts use the same keys.
* ``acts`` is a list of ``(name, params_dict)``, one per layer; ``loss`` is ``(name, params_dict)``.
* Loss ``L = c * sum_n sum_k ell(yhat[n, k], Y[n, k]) + (l2 / 2) * sum_l sum(W_l ** 2)``
  (biases are not decayed), ``c = 1/N`` for ``reduction="mean"``, ``1`` for ``"sum"``.
* Fused losses read logits: ``bce_logits`` (``yhat = sigmoid(z_L)``) and
  ``softmax_cross_entropy`` (``yhat = softmax(z_L)`` row-wise) require an ``identity`` last layer.
* ``deltas["delta<l>"] = dL/dz_l`` (``c`` included).

Numerical helpers: :func:`finite_difference_grad` (central differences over every entry),
:func:`directional_fd` and :func:`max_rel_error`.

The seed systems (``tests/data/seeds``) have their own hand-written, corrected references at the
end of this module: ``seed000_*``, ``seed001_*``, ``seed002_*`` (the numeric worked example, with
the correct numbers in :data:`SEED002_EXPECTED`) and ``seed003_*``.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import numpy as np

TINY = np.finfo(np.float64).tiny

# ---------------------------------------------------------------------------------------------
# Activations: name -> (f(x, **params), fprime(x, **params))
# ---------------------------------------------------------------------------------------------


def _sigmoid(x):
    # sigma(x) = 1 / (1 + e^-x), evaluated through e^-|x| so it never overflows
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _sigmoid_prime(x):
    # sigma'(x) = sigma(x) (1 - sigma(x))
    s = _sigmoid(x)
    return s * (1.0 - s)


def _identity(x):
    return np.asarray(x, dtype=np.float64).copy()


def _identity_prime(x):
    return np.ones_like(np.asarray(x, dtype=np.float64))


def _tanh(x):
    return np.tanh(np.asarray(x, dtype=np.float64))


def _tanh_prime(x):
    # tanh'(x) = 1 - tanh(x)^2
    t = np.tanh(np.asarray(x, dtype=np.float64))
    return 1.0 - t * t


def _relu(x):
    # relu(x) = max(0, x)
    x = np.asarray(x, dtype=np.float64)
    return np.where(x > 0, x, 0.0)


def _relu_prime(x):
    # relu'(x) = 1 if x > 0 else 0 (0 at the kink x = 0)
    x = np.asarray(x, dtype=np.float64)
    return np.where(x > 0, 1.0, 0.0)


def _leaky_relu(x, slope=0.01):
    # x if x > 0 else slope * x
    x = np.asarray(x, dtype=np.float64)
    return np.where(x > 0, x, slope * x)


def _leaky_relu_prime(x, slope=0.01):
    # 1 if x > 0 else slope (slope at the kink x = 0, like relu's 0)
    x = np.asarray(x, dtype=np.float64)
    return np.where(x > 0, 1.0, slope)


def _softplus(x):
    # softplus(x) = log(1 + e^x) = max(x, 0) + log1p(e^-|x|)
    x = np.asarray(x, dtype=np.float64)
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


def _softplus_prime(x):
    # softplus'(x) = sigma(x)
    return _sigmoid(x)


def _elu(x, alpha=1.0):
    # x if x > 0 else alpha (e^x - 1)
    x = np.asarray(x, dtype=np.float64)
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))


def _elu_prime(x, alpha=1.0):
    # 1 if x > 0 else alpha e^x
    x = np.asarray(x, dtype=np.float64)
    return np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0.0)))


_GELU_K = math.sqrt(2.0 / math.pi)
_GELU_C = 0.044715


def _gelu(x):
    # gelu(x) = 0.5 x (1 + tanh(k (x + 0.044715 x^3))), k = sqrt(2/pi)   (tanh approximation)
    x = np.asarray(x, dtype=np.float64)
    return 0.5 * x * (1.0 + np.tanh(_GELU_K * (x + _GELU_C * x ** 3)))


def _gelu_prime(x):
    # gelu'(x) = 0.5 (1 + t) + 0.5 x (1 - t^2) k (1 + 3 * 0.044715 x^2), t = tanh(k (x + c x^3))
    x = np.asarray(x, dtype=np.float64)
    t = np.tanh(_GELU_K * (x + _GELU_C * x ** 3))
    return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * _GELU_K * (1.0 + 3.0 * _GELU_C * x * x)


def _silu(x):
    # silu(x) = x sigma(x)
    x = np.asarray(x, dtype=np.float64)
    return x * _sigmoid(x)


def _silu_prime(x):
    # silu'(x) = sigma(x) (1 + x (1 - sigma(x)))
    x = np.asarray(x, dtype=np.float64)
    s = _sigmoid(x)
    return s * (1.0 + x * (1.0 - s))


#: name -> (f(x, **params), fprime(x, **params)); ``custom`` is deliberately absent.
ACTIVATIONS_NP: dict[str, tuple[Callable, Callable]] = {
    "identity": (_identity, _identity_prime),
    "sigmoid": (_sigmoid, _sigmoid_prime),
    "tanh": (_tanh, _tanh_prime),
    "relu": (_relu, _relu_prime),
    "leaky_relu": (_leaky_relu, _leaky_relu_prime),
    "softplus": (_softplus, _softplus_prime),
    "elu": (_elu, _elu_prime),
    "gelu": (_gelu, _gelu_prime),
    "silu": (_silu, _silu_prime),
}

#: Activations whose derivative jumps somewhere (finite differences must avoid those points).
#: ``elu`` is C^1 only for ``alpha == 1``; it is listed so callers stay away from 0 anyway.
KINKED_ACTIVATIONS = frozenset({"relu", "leaky_relu", "elu"})

# ---------------------------------------------------------------------------------------------
# Losses: name -> LossNP(value, grad, link)
# ---------------------------------------------------------------------------------------------


class LossNP(NamedTuple):
    """A hand-written loss.

    ``value(u, y, **params)`` returns the per-element losses ``ell`` (shape ``(N, d)``; for
    ``softmax_cross_entropy`` the per-row losses, shape ``(N,)``); the total is ``c * sum``.
    ``grad(u, y, **params)`` returns ``d(sum ell)/du`` elementwise, shape ``(N, d)`` (no ``c``).
    ``u`` is ``yhat`` when ``link is None``, otherwise the logits ``z_L`` and ``link`` names the
    map ``z_L -> yhat`` (``"sigmoid"`` or ``"softmax"``).
    """

    value: Callable
    grad: Callable
    link: str | None


def _mse(yhat, y, scale=0.5):
    # ell = scale (yhat - y)^2
    return scale * (yhat - y) ** 2


def _mse_grad(yhat, y, scale=0.5):
    # d ell / d yhat = 2 scale (yhat - y)
    return 2.0 * scale * (yhat - y)


def _bce(yhat, y):
    # ell = -(y log yhat + (1 - y) log(1 - yhat)); yhat must lie in (0, 1)
    return -(y * np.log(yhat) + (1.0 - y) * np.log(1.0 - yhat))


def _bce_grad(yhat, y):
    # d ell / d yhat = -y / yhat + (1 - y) / (1 - yhat) = (yhat - y) / (yhat (1 - yhat))
    return -y / yhat + (1.0 - y) / (1.0 - yhat)


def _cross_entropy(yhat, y):
    # ell = -y log yhat, per element, yhat a probability
    return -y * np.log(yhat)


def _cross_entropy_grad(yhat, y):
    # d ell / d yhat = -y / yhat
    return -y / yhat


def _huber(yhat, y, delta=1.0):
    # r = yhat - y; ell = r^2 / 2 if |r| <= delta else delta (|r| - delta / 2)
    r = yhat - y
    return np.where(np.abs(r) <= delta, 0.5 * r * r, delta * (np.abs(r) - 0.5 * delta))


def _huber_grad(yhat, y, delta=1.0):
    # d ell / d yhat = r if |r| <= delta else delta sign(r)
    r = yhat - y
    return np.where(np.abs(r) <= delta, r, delta * np.sign(r))


def _bce_logits(z, y):
    # ell = log(1 + e^z) - y z = max(z, 0) - y z + log1p(e^-|z|)   (stable for any z)
    return np.maximum(z, 0.0) - y * z + np.log1p(np.exp(-np.abs(z)))


def _bce_logits_grad(z, y):
    # d ell / d z = sigma(z) - y
    return _sigmoid(z) - y


def _log_softmax(z):
    # log softmax(z)_k = z_k - logsumexp(z), with the row max subtracted first
    m = np.max(z, axis=-1, keepdims=True)
    return z - (m + np.log(np.sum(np.exp(z - m), axis=-1, keepdims=True)))


def _softmax(z):
    m = np.max(z, axis=-1, keepdims=True)
    e = np.exp(z - m)
    return e / np.sum(e, axis=-1, keepdims=True)


def _softmax_ce(z, y):
    # L_n = -sum_k y_k log softmax(z)_k   (per row)
    return -np.sum(y * _log_softmax(z), axis=-1)


def _softmax_ce_grad(z, y):
    # d L_n / d z_k = softmax(z)_k - y_k, exact when each row of y sums to 1 (one-hot rows);
    # in general it is softmax(z)_k * sum_j y_j - y_k.
    return _softmax(z) - y


LOSSES_NP: dict[str, LossNP] = {
    "mse": LossNP(_mse, _mse_grad, None),
    "bce": LossNP(_bce, _bce_grad, None),
    "cross_entropy": LossNP(_cross_entropy, _cross_entropy_grad, None),
    "huber": LossNP(_huber, _huber_grad, None),
    "bce_logits": LossNP(_bce_logits, _bce_logits_grad, "sigmoid"),
    "softmax_cross_entropy": LossNP(_softmax_ce, _softmax_ce_grad, "softmax"),
}

# ---------------------------------------------------------------------------------------------
# Whole network
# ---------------------------------------------------------------------------------------------


def _n_layers(params):
    n = 0
    while f"W{n + 1}" in params:
        n += 1
    if n == 0:
        raise ValueError("params has no 'W1'")
    return n


def _check(params, acts, loss):
    n = _n_layers(params)
    if len(acts) != n:
        raise ValueError(f"{n} layers in params but {len(acts)} activations")
    if LOSSES_NP[loss[0]].link is not None and acts[-1][0] != "identity":
        raise ValueError(f"loss {loss[0]!r} reads logits: the last layer must be 'identity', "
                         f"not {acts[-1][0]!r}")
    return n


def _scale(reduction, n_samples):
    if reduction == "mean":
        return 1.0 / n_samples
    if reduction == "sum":
        return 1.0
    raise ValueError(f"reduction must be 'mean' or 'sum', not {reduction!r}")


def forward(params, X, acts, loss):
    """Forward pass.

    Args:
        params: ``{"W1", "b1", ...}``.
        X: inputs, shape ``(N, d0)``.
        acts: ``[(name, params_dict), ...]``, one per layer.
        loss: ``(name, params_dict)``; only its link matters here.

    Returns:
        dict with ``"a0"`` (= X), ``"z1", "a1", ..., "zL", "aL"`` and ``"yhat"`` (= ``aL``, or the
        sigmoid / softmax of ``zL`` for the fused losses).

    Raises:
        ValueError: layer count and ``acts`` disagree, or a fused loss without an identity
        last layer.
    """
    n = _check(params, acts, loss)
    out = {"a0": np.asarray(X, dtype=np.float64)}
    a = out["a0"]
    for l in range(1, n + 1):
        name, p = acts[l - 1]
        z = a @ params[f"W{l}"] + params[f"b{l}"]
        a = ACTIVATIONS_NP[name][0](z, **p)
        out[f"z{l}"], out[f"a{l}"] = z, a
    link = LOSSES_NP[loss[0]].link
    if link is None:
        out["yhat"] = a
    elif link == "sigmoid":
        out["yhat"] = _sigmoid(a)
    else:
        out["yhat"] = _softmax(a)
    return out


def loss_value(params, X, Y, acts, loss, reduction="mean", l2=0.0):
    """The scalar loss ``c * sum ell + (l2/2) sum_l ||W_l||^2`` (see the module docstring)."""
    fw = forward(params, X, acts, loss)
    n = _n_layers(params)
    lname, lp = loss
    u = fw[f"a{n}"]  # yhat, or the logits for fused losses (identity last layer)
    value = _scale(reduction, fw["a0"].shape[0]) * np.sum(LOSSES_NP[lname].value(u, Y, **lp))
    value += 0.5 * l2 * sum(np.sum(params[f"W{l}"] ** 2) for l in range(1, n + 1))
    return float(value)


def loss_and_grad(params, X, Y, acts, loss, reduction="mean", l2=0.0):
    """Loss, gradients and deltas by hand-written backpropagation.

    ``delta_L = c * dell/du ⊙ f_L'(z_L)`` (``u = a_L``; for the fused losses ``u = z_L`` and
    ``f_L`` is the identity), ``delta_l = (delta_{l+1} @ W_{l+1}^T) ⊙ f_l'(z_l)``,
    ``dL/dW_l = a_{l-1}^T @ delta_l + l2 W_l``, ``dL/db_l = sum_n delta_l[n, :]``.

    Returns:
        ``(L, grads, deltas)``: the float loss, ``{"W1": ..., "b1": ...}`` and
        ``{"delta1": dL/dz1, ...}``.
    """
    fw = forward(params, X, acts, loss)
    n = _n_layers(params)
    lname, lp = loss
    c = _scale(reduction, fw["a0"].shape[0])
    Y = np.asarray(Y, dtype=np.float64)
    u = fw[f"a{n}"]
    value = c * np.sum(LOSSES_NP[lname].value(u, Y, **lp))
    value += 0.5 * l2 * sum(np.sum(params[f"W{l}"] ** 2) for l in range(1, n + 1))

    grads, deltas = {}, {}
    upstream = c * LOSSES_NP[lname].grad(u, Y, **lp)  # dL/da_L
    for l in range(n, 0, -1):
        name, p = acts[l - 1]
        delta = upstream * ACTIVATIONS_NP[name][1](fw[f"z{l}"], **p)  # dL/dz_l
        deltas[f"delta{l}"] = delta
        grads[f"W{l}"] = fw[f"a{l - 1}"].T @ delta + l2 * params[f"W{l}"]
        grads[f"b{l}"] = delta.sum(axis=0)
        upstream = delta @ params[f"W{l}"].T  # dL/da_{l-1}
    return float(value), grads, deltas


def init_params(sizes, rng, scale=1.0):
    """Random params for layer widths ``sizes = [d0, d1, ..., dL]``.

    ``W_l ~ scale * N(0, 1) / sqrt(d_{l-1})`` and ``b_l ~ scale * N(0, 0.5^2)``, float64.
    ``rng`` is a ``numpy.random.Generator``.
    """
    params = {}
    for l in range(1, len(sizes)):
        din, dout = sizes[l - 1], sizes[l]
        params[f"W{l}"] = scale * rng.standard_normal((din, dout)) / math.sqrt(din)
        params[f"b{l}"] = 0.5 * scale * rng.standard_normal(dout)
    return params


# ---------------------------------------------------------------------------------------------
# Finite differences and error measure
# ---------------------------------------------------------------------------------------------


def _copy_params(params):
    return {k: np.array(v, dtype=np.float64) for k, v in params.items()}


def finite_difference_grad(fun, params, eps=1e-6, order=2):
    """Central differences for every entry of every parameter.

    ``order=2``: ``(f(p + eps e_i) - f(p - eps e_i)) / (2 eps)`` (error ~ eps^2 f^(3) / 6 plus
    rounding ~ 1e-16 |f| / eps). ``order=4``: the five-point stencil
    ``(-f(p + 2 eps e_i) + 8 f(p + eps e_i) - 8 f(p - eps e_i) + f(p - 2 eps e_i)) / (12 eps)``
    (error ~ eps^4), which tolerates a larger step (1e-3) and so gives ~1e-12 accuracy; its
    stencil reaches 2 eps, so keep kinks (ReLU at 0) at least that far away.

    Args:
        fun: ``fun(params) -> float``.
        params: dict of arrays (copied to float64; the caller's arrays are not touched).
        eps: step.
        order: 2 or 4.

    Returns:
        dict with the same keys and shapes. Cost: ``order`` calls of ``fun`` per entry.

    Raises:
        ValueError: ``order`` not 2 or 4.
    """
    if order not in (2, 4):
        raise ValueError(f"order must be 2 or 4, not {order!r}")
    steps = (1, -1) if order == 2 else (1, -1, 2, -2)
    p = _copy_params(params)
    out = {}
    for key, arr in p.items():
        g = np.zeros_like(arr)
        flat, gflat = arr.reshape(-1), g.reshape(-1)  # views into p[key] and g
        for i in range(flat.size):
            orig = flat[i]
            f = {}
            for k in steps:
                flat[i] = orig + k * eps
                f[k] = fun(p)
            flat[i] = orig
            if order == 2:
                gflat[i] = (f[1] - f[-1]) / (2.0 * eps)
            else:
                gflat[i] = (8.0 * (f[1] - f[-1]) - (f[2] - f[-2])) / (12.0 * eps)
        out[key] = g
    return out


def directional_fd(fun, params, direction, eps=1e-6):
    """Central difference along ``direction``: ``(f(p + eps d) - f(p - eps d)) / (2 eps)``.

    Approximates ``sum_k <grad_k, direction_k>``; ``direction`` is a dict with the keys of
    ``params`` (missing keys mean zero).
    """
    p = _copy_params(params)
    plus = {k: v + eps * direction[k] if k in direction else v for k, v in p.items()}
    minus = {k: v - eps * direction[k] if k in direction else v for k, v in p.items()}
    return (fun(plus) - fun(minus)) / (2.0 * eps)


def max_rel_error(a, b, floor=TINY):
    """Largest elementwise relative error between ``a`` and ``b``.

    ``max over entries of |a - b| / max(|a|, |b|, floor)``. ``a`` and ``b`` are arrays, scalars
    or dicts of arrays with the same keys (then the max runs over all keys). The error is 0 where
    both entries are exactly 0 (or equal), 1 (or more) where one entry is 0 and the other is
    not, and symmetric in ``a`` and ``b``. Non-finite entries count as equal only where both
    sides hold the same value (``inf`` and ``inf``, or NaN and NaN); any other non-finite entry
    makes the result ``inf``, so ``max_rel_error(...) < tol`` fails. ``floor`` (default: the
    smallest normal float) turns the error into an absolute one for entries below it; pass e.g.
    ``1e-8 * scale`` when entries that should be zero are only zero up to rounding.

    Raises:
        ValueError: dict keys or shapes differ.
    """
    if isinstance(a, dict) or isinstance(b, dict):
        if set(a) != set(b):
            raise ValueError(f"keys differ: {sorted(a)} vs {sorted(b)}")
        return max((max_rel_error(a[k], b[k], floor) for k in a), default=0.0)
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    if a.size == 0:
        return 0.0
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        same = (a == b) | (np.isnan(a) & np.isnan(b))
        if not np.all(same):
            return math.inf
        a, b = np.where(np.isfinite(a), a, 0.0), np.where(np.isfinite(b), b, 0.0)
    denom = np.maximum(np.maximum(np.abs(a), np.abs(b)), floor)
    return float(np.max(np.abs(a - b) / denom))


# ---------------------------------------------------------------------------------------------
# Seed systems: corrected hand-written references
# ---------------------------------------------------------------------------------------------


def seed000_loss_and_grad(params, X, y):
    """Seed 000: 2-5-1 MLP, sigmoid hidden, sigmoid output, ``J = 1/2 mean((y - a2)^2)``.

    Corrected version of the seed's NumPy code. Two bugs in the seed are fixed here:

    * the seed's ``y`` has shape ``(N,)`` while ``a2`` has shape ``(N, 1)``, so ``y - a2``
      broadcasts to ``(N, N)``; here ``y`` is reshaped to ``(N, 1)``;
    * the seed's ``dZ2 = (a2 - y) * a2 * (1 - a2)`` lacks the ``1/N`` of the mean, so its
      gradients are ``N`` times the gradient of its ``J`` (they are the gradient of
      ``1/2 sum``). Here ``dZ2 = (a2 - y) a2 (1 - a2) / N``.

    Args:
        params: ``{"W1" (2, 5), "b1" (5,), "W2" (5, 1), "b2" (1,)}`` (any widths work).
        X: ``(N, 2)``; y: ``(N,)`` or ``(N, 1)``.

    Returns:
        ``(J, grads)``.
    """
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    y = np.asarray(y, dtype=np.float64).reshape(-1, 1)
    n = X.shape[0]
    z1 = X @ W1 + b1
    a1 = 1.0 / (1.0 + np.exp(-z1))
    z2 = a1 @ W2 + b2
    a2 = 1.0 / (1.0 + np.exp(-z2))
    J = 0.5 * np.mean((y - a2) ** 2)
    dZ2 = (a2 - y) * a2 * (1.0 - a2) / n          # dJ/dz2
    dZ1 = (dZ2 @ W2.T) * a1 * (1.0 - a1)          # dJ/dz1
    grads = {"W1": X.T @ dZ1, "b1": dZ1.sum(axis=0), "W2": a1.T @ dZ2, "b2": dZ2.sum(axis=0)}
    return float(J), grads


#: Seed 001's data set (4 samples, 2 features, 0/1 labels).
SEED001_X = np.array([[1.0, 2.0], [2.0, 3.0], [3.0, 4.0], [4.0, 5.0]])
SEED001_Y = np.array([[0.0], [0.0], [1.0], [1.0]])


def seed001_loss_and_grad(params, X, Y, strict=True):
    """Seed 001: 2-h-1 MLP, ReLU hidden, ReLU output, BCE averaged over the N samples.

    ``L = -(1/N) sum_n [y log a2 + (1 - y) log(1 - a2)]``, ``a2 = relu(z2)``.
    ``dL/da2 = (1/N) (a2 - y) / (a2 (1 - a2))``, ``delta2 = dL/da2 ⊙ [z2 > 0]``,
    ``delta1 = (delta2 @ W2^T) ⊙ [z1 > 0]``.

    Ill-posed combination: BCE needs ``0 < a2 < 1``, but a ReLU output is 0 for every ``z2 <= 0``
    (``log 0 = -inf``: the loss is ``+inf`` for ``y = 1``, and ``0 * log 0`` is NaN in IEEE
    arithmetic for ``y = 0``) and exceeds 1 for ``z2 > 1`` (log of a negative number: NaN).
    Where ``a2 = 0`` the gradient is ``inf * 0``, undefined. With ``strict=True`` (default) such
    inputs raise ``ValueError``; with ``strict=False`` the IEEE results (inf / NaN) are returned
    without warnings, so compiled kernels can be compared value for value.

    The seed's code differs from this in four ways, all wrong: its loss divides by
    ``m = targets.shape[1]`` (= 1, the output width, so it is a sum, not a mean); its
    ``dz2 = a2 - targets`` is the sigmoid-output shortcut, not the ReLU-output gradient; it sums
    biases over ``axis=1`` (over units instead of samples) with ``keepdims``; it scales by
    ``1/inputs.shape[1]`` (the number of features, 2) instead of ``1/N``.

    Returns:
        ``(L, grads)``.

    Raises:
        ValueError: ``strict`` and some output outside the open interval (0, 1).
    """
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    Y = np.asarray(Y, dtype=np.float64)
    n = X.shape[0]
    z1 = X @ W1 + b1
    a1 = np.maximum(z1, 0.0)
    z2 = a1 @ W2 + b2
    a2 = np.maximum(z2, 0.0)
    bad = ~((a2 > 0.0) & (a2 < 1.0))
    if strict and np.any(bad):
        rows = sorted(set(np.nonzero(bad)[0].tolist()))
        raise ValueError(f"ReLU output outside (0, 1) for samples {rows}: BCE is undefined "
                         f"there (log of 0 or of a negative number)")
    with np.errstate(all="ignore"):
        L = -np.sum(Y * np.log(a2) + (1.0 - Y) * np.log(1.0 - a2)) / n
        dA2 = (a2 - Y) / (a2 * (1.0 - a2)) / n
        dZ2 = dA2 * (z2 > 0.0)
        dZ1 = (dZ2 @ W2.T) * (z1 > 0.0)
        grads = {"W1": X.T @ dZ1, "b1": dZ1.sum(axis=0), "W2": a1.T @ dZ2,
                 "b2": dZ2.sum(axis=0)}
    return float(L), grads


# Seed 002 worked example: the seed writes z = W a + b with W's rows = output units, so
# W_seed = W.T in our convention. Given values (seed convention):
SEED002_W_SEED = (np.array([[0.1, 0.2], [0.3, 0.4]]),
                  np.array([[0.5, 0.6], [0.7, 0.8]]),
                  np.array([[0.9, 1.0], [1.1, 1.2]]))
SEED002_B = (np.array([0.1, 0.2]), np.array([0.5, 0.6]), np.array([0.9, 1.0]))
SEED002_X = np.array([[1.0, 2.0]])
SEED002_Y = np.array([[3.0, 4.0]])
SEED002_ACTS = [("sigmoid", {})] * 3
SEED002_LOSS = ("mse", {"scale": 0.5})
SEED002_REDUCTION = "sum"
SEED002_LR = 0.1


def seed002_params():
    """The worked example's parameters in our convention (``W_l = W_seed_l.T``)."""
    params = {}
    for l, (W, b) in enumerate(zip(SEED002_W_SEED, SEED002_B), start=1):
        params[f"W{l}"] = W.T.copy()
        params[f"b{l}"] = b.copy()
    return params


#: Correct values of the seed-002 worked example (computed with this module, checked in
#: ``test_reference.py`` against an independent scalar computation in the seed's convention and
#: against finite differences). Vectors are flat; matrix entries are listed in *our* layout
#: ``[[W[0,0], W[0,1]], [W[1,0], W[1,1]]]`` with ``W = W_seed.T`` (so ``W_seed[i, j] = W[j, i]``).
#:
#: Network 2-2-2-2, sigmoid on all three layers, ``L = 1/2 sum (yhat - y)^2``, x = [1, 2],
#: y = [3, 4], lr 0.1. To 10 significant digits:
#:
#: ====== ============================================================
#: z1     [0.6, 1.3]
#: a1     [0.6456563062, 0.7858349830]
#: z2     [1.294329143, 1.680627401]
#: a2     [0.7848790401, 0.8429875914]
#: z3     [2.449378728, 2.874952054]
#: yhat   [0.9205160065, 0.9465942464]
#: L      6.823770188
#: dL/dyhat [-2.079483994, -3.053405754]
#: delta3 [-0.1521481254, -0.1543605892]
#: delta2 [-0.05178949282, -0.04465556238]
#: delta1 [-0.01307585213, -0.01124201852]
#: dW3    [[-0.1194178746, -0.1211543911], [-0.1282589817, -0.1301240613]]
#: db3    = delta3
#: dW2    [[-0.03343821264, -0.02883214546], [-0.04069799521, -0.03509190310]]
#: db2    = delta2
#: dW1    [[-0.01307585213, -0.01124201852], [-0.02615170427, -0.02248403704]]
#: db1    = delta1
#: W3'    [[0.9119417875, 1.112115439], [1.012825898, 1.213012406]]
#: b3'    [0.9152148125, 1.015436059]
#: W2'    [[0.5033438213, 0.7028832145], [0.6040697995, 0.8035091903]]
#: b2'    [0.5051789493, 0.6044655562]
#: W1'    [[0.1013075852, 0.3011242019], [0.2026151704, 0.4022484037]]
#: b1'    [0.1013075852, 0.2011242019]
#: ====== ============================================================
#:
#: Where the seed's printed numbers are wrong (seed lines 165-215):
#:
#: * ``Z1 = sigma(W1 A0 + b1) = [0.7, 1.3]``: the pre-activation is [0.6, 1.3]
#:   (0.1*1 + 0.2*2 + 0.1 = 0.6) and the sigmoid is never applied (a1 = [0.6457, 0.7858]).
#:   The same "sigma(...) = pre-activation" slip recurs in every layer, and yhat = sigma(Z3)
#:   then applies the output sigmoid a second time.
#: * ``Z2 = [1.0, 1.8]`` and ``Z3 = [2.7, 4.4]`` match neither the correct values nor the seed's
#:   own inputs ([0.7, 1.3] gives [1.63, 2.13]).
#: * ``yhat = [0.9, 0.99]``: correct [0.9205160065, 0.9465942464] (and sigma(2.7), sigma(4.4) are
#:   0.937, 0.988, not 0.9, 0.99).
#: * ``L = 2.485``: correct 6.823770188 (the seed's own yhat gives 6.735, not 2.485).
#: * ``delta_output = dL/dyhat = [-0.1, -0.01]``: dL/dyhat = yhat - y = [-2.079, -3.053]
#:   (the seed's numbers are yhat - 1); it then uses this as the output delta, omitting
#:   sigma'(z3): delta3 = [-0.1521481254, -0.1543605892].
#: * ``delta2``/``delta1`` multiply by sigma' of the wrong layer (sigma'(Z3) for delta2) written as
#:   an invented 2x2 matrix, and W is not transposed: correct delta2 = (W3_seed^T delta3) *
#:   sigma'(z2) = [-0.05178949282, -0.04465556238] (seed [-0.036, -0.014]); delta1 =
#:   [-0.01307585213, -0.01124201852] (seed [-0.012, -0.004]).
#: * The weight gradients are outer products (2x2), ``dL/dW_seed = delta a_prev^T``; the seed
#:   prints 2-vectors (elementwise products) and uses dL/dyhat instead of delta3 for W3, b3.
#: * The update arithmetic is wrong even for the seed's own gradients: 0.9 - 0.1*(-0.1) is
#:   printed as 1.0 (it is 0.91) and 0.5 - 0.1*(-0.036) as 0.536 (it is 0.5036): every increment
#:   is 10x too large. The updates also broadcast a gradient vector into a weight matrix, and
#:   W1' is printed as a 4-vector.
SEED002_EXPECTED = {
    "z1": np.array([[0.59999999999999998, 1.3]]),
    "a1": np.array([[0.6456563062257954, 0.78583498304255861]]),
    "z2": np.array([[1.2943291429384329, 1.6806274007921038]]),
    "a2": np.array([[0.78487904013121168, 0.84298759144837476]]),
    "z3": np.array([[2.4493787275664651, 2.8749520538823825]]),
    "yhat": np.array([[0.92051600649206544, 0.94659424640422718]]),
    "L": 6.823770187673738,
    "delta3": np.array([[-0.1521481253508927, -0.15436058922357956]]),
    "delta2": np.array([[-0.051789492822486759, -0.044655562375093556]]),
    "delta1": np.array([[-0.013075852133619534, -0.011242018519367182]]),
    # gradients and updated parameters in OUR layout (W = W_seed.T)
    "dW3": np.array([[-0.11941787458317193, -0.12115439110389138],
                     [-0.12825898173293446, -0.13012406132413729]]),
    "db3": np.array([-0.1521481253508927, -0.15436058922357956]),
    "dW2": np.array([[-0.033438212637074145, -0.028832145455538513],
                     [-0.040697995213941594, -0.035091903101787565]]),
    "db2": np.array([-0.051789492822486759, -0.044655562375093556]),
    "dW1": np.array([[-0.013075852133619534, -0.011242018519367182],
                     [-0.026151704267239069, -0.022484037038734365]]),
    "db1": np.array([-0.013075852133619534, -0.011242018519367182]),
    "W3_new": np.array([[0.91194178745831722, 1.1121154391103891],
                        [1.0128258981732934, 1.2130124061324137]]),
    "b3_new": np.array([0.91521481253508929, 1.0154360589223579]),
    "W2_new": np.array([[0.50334382126370747, 0.7028832145455538],
                        [0.60406979952139417, 0.80350919031017876]]),
    "b2_new": np.array([0.50517894928224871, 0.6044655562375093]),
    "W1_new": np.array([[0.10130758521336196, 0.30112420185193672],
                        [0.20261517042672392, 0.40224840370387344]]),
    "b1_new": np.array([0.10130758521336196, 0.20112420185193672]),
}


def seed002_worked_example():
    """Recompute the seed-002 worked example with :func:`loss_and_grad`.

    Returns:
        dict with the keys of :data:`SEED002_EXPECTED` (our layout), plus ``"dL_dyhat"``.
    """
    params = seed002_params()
    fw = forward(params, SEED002_X, SEED002_ACTS, SEED002_LOSS)
    L, grads, deltas = loss_and_grad(params, SEED002_X, SEED002_Y, SEED002_ACTS, SEED002_LOSS,
                                     reduction=SEED002_REDUCTION)
    out = {k: fw[k] for k in ("z1", "a1", "z2", "a2", "z3", "yhat")}
    out["L"] = L
    out["dL_dyhat"] = fw["yhat"] - SEED002_Y
    out.update(deltas)
    for key, g in grads.items():
        out[f"d{key}"] = g
        out[f"{key}_new"] = params[key] - SEED002_LR * g
    return out


#: Seed 003's data: x = [1, 2, 3, 4], y = 2x, start W = 0.5, b = 0.5, lr 0.01, 100 epochs.
SEED003_X = np.array([[1.0], [2.0], [3.0], [4.0]])
SEED003_Y = np.array([[2.0], [4.0], [6.0], [8.0]])


def seed003_loss_and_grad(W, b, X, y):
    """Seed 003: linear regression ``yhat = X W + b`` with ``J = 1/(2N) sum (yhat - y)^2``.

    ``grad_W = (1/N) X^T (yhat - y)``, ``grad_b = (1/N) sum (yhat - y)``: the seed's gradient
    formulas, which are the gradient of the *half* mean squared error. The seed's ``mse`` is
    ``mean((y - yhat)^2)`` without the 1/2, whose gradient is twice as large; the two only agree
    as a pair when the loss carries the 1/2 (as here; symbp's ``mse`` with ``scale = 0.5`` and
    ``reduction = "mean"``). The seed's ``y_train`` has shape ``(4,)`` against ``y_pred``
    ``(4, 1)``, which broadcasts ``y_pred - y`` to ``(4, 4)``; here ``y`` is reshaped to
    ``(N, 1)``.

    Returns:
        ``(J, grad_W (d, 1), grad_b (1,))``.
    """
    y = np.asarray(y, dtype=np.float64).reshape(-1, 1)
    n = X.shape[0]
    r = X @ W + b - y
    J = 0.5 * np.mean(r ** 2)
    return float(J), X.T @ r / n, r.sum(axis=0) / n


def seed003_train(epochs=100, lr=0.01):
    """Run seed 003's gradient descent (correctly shaped) and return ``(W (1, 1), b (1,))``."""
    W, b = np.array([[0.5]]), np.array([0.5])
    for _ in range(epochs):
        _, gW, gb = seed003_loss_and_grad(W, b, SEED003_X, SEED003_Y)
        W, b = W - lr * gW, b - lr * gb
    return W, b
