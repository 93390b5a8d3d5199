"""Peer implementations of one MLP training step: hand-written NumPy, PyTorch eager, JAX jit.

Contract (the "implementation protocol" the harness times; symbp's own entries follow it too,
see ``harness.register_impl``).  A factory ``factory(cfg, dtype)`` returns an object with:

  * ``loss_and_grad(params, X, Y) -> (loss: float, grads: dict[str, np.ndarray])``: NumPy in,
    NumPy out, grads keyed like ``params`` (``"W1", "b1", ...``).  Used for the equality check.
  * ``step(params, X, Y, lr) -> params``: one SGD step (forward, loss, backward, update) on
    *native* params as returned by ``prepare``; may update in place and return the same object.
  * optionally ``run_steps(params, X, Y, lr, n) -> params``: ``n`` steps in one call.
  * optionally ``prepare(params, X, Y) -> (params, X, Y)``: private native copies (tensors,
    device arrays); default a deep copy of the NumPy arrays.
  * optionally ``sync(params)``: block until queued work is done (JAX dispatches asynchronously).
  * optionally ``to_numpy(params) -> dict[str, np.ndarray]``.
  * optionally ``info``: a short string shown in the report (threads, version).

A factory raises :class:`ImplUnavailable` when it cannot run here (e.g. "torch not installed");
the harness reports that and goes on.  PyTorch and JAX are imported lazily, only inside their
factories, so this module (and the benchmark) works with NumPy alone.

All peers compute the same function (see ``configs`` for the conventions): hidden
``a_l = f(a_{l-1} @ W_l + b_l)``, a sigmoid + MSE or softmax + cross-entropy head, loss averaged
over the batch, SGD with learning rate ``lr``.
"""
from __future__ import annotations

import numpy as np

from .configs import Config, copy_params


class ImplUnavailable(RuntimeError):
    """An implementation cannot run on this machine (a missing package, say)."""


# ---------------------------------------------------------------------------------------------
# Hand-written NumPy, in the style of seed 000 (np.dot forward, deltas backward, in-place SGD)
# ---------------------------------------------------------------------------------------------

def _act(name: str, z: np.ndarray) -> np.ndarray:
    if name == "sigmoid":
        return 1 / (1 + np.exp(-z))          # a = 1 / (1 + e^{-z})
    if name == "tanh":
        return np.tanh(z)                    # a = tanh(z)
    if name == "relu":
        return np.maximum(z, 0)              # a = max(z, 0)
    raise ValueError(f"unknown activation {name!r}")


def _act_grad(name: str, a: np.ndarray) -> np.ndarray:
    """f'(z) written in terms of the output a = f(z)."""
    if name == "sigmoid":
        return a * (1 - a)                   # sigma' = a (1 - a)
    if name == "tanh":
        return 1 - a * a                     # tanh' = 1 - a^2
    if name == "relu":
        return (a > 0).astype(a.dtype)       # relu' = [z > 0]
    raise ValueError(f"unknown activation {name!r}")


def numpy_loss_and_grad(cfg: Config, params: dict, X: np.ndarray, Y: np.ndarray):
    """Loss and gradients of ``cfg``'s network, hand-written backward pass.

    Returns ``(J, grads)`` with ``J`` a Python float and ``grads`` a dict like ``params``.
    """
    n_layers = cfg.n_layers
    N = X.shape[0]
    # forward: z_l = a_{l-1} W_l + b_l,  a_l = f(z_l)
    acts = [X]
    a = X
    for layer in range(1, n_layers):
        z = np.dot(a, params[f"W{layer}"]) + params[f"b{layer}"]
        a = _act(cfg.activation, z)
        acts.append(a)
    zL = np.dot(a, params[f"W{n_layers}"]) + params[f"b{n_layers}"]
    # loss and output delta dJ/dz_L
    if cfg.loss == "mse":
        yhat = _act("sigmoid", zL)
        J = 0.5 * np.sum((Y - yhat) ** 2) / N             # J = 1/N sum 1/2 (y - yhat)^2
        delta = (yhat - Y) * (yhat * (1 - yhat)) / N      # delta_L = (yhat - y) sigma'(z_L) / N
    else:
        m = zL.max(axis=1, keepdims=True)
        e = np.exp(zL - m)
        s = e.sum(axis=1, keepdims=True)
        logp = zL - m - np.log(s)                         # log softmax, log-sum-exp form
        J = -np.sum(Y * logp) / N                         # J = -1/N sum y log yhat
        delta = (e / s - Y) / N                           # delta_L = (yhat - y) / N
    # backward: dW_l = a_{l-1}^T delta_l,  db_l = sum_n delta_l,
    #           delta_{l-1} = (delta_l W_l^T) * f'(z_{l-1})
    grads: dict[str, np.ndarray] = {}
    for layer in range(n_layers, 0, -1):
        grads[f"W{layer}"] = np.dot(acts[layer - 1].T, delta)
        grads[f"b{layer}"] = np.sum(delta, axis=0)
        if layer > 1:
            delta = np.dot(delta, params[f"W{layer}"].T) * _act_grad(cfg.activation,
                                                                     acts[layer - 1])
    return float(J), {k: grads[k] for k in cfg.param_names}


def numpy_step(cfg: Config, params: dict, X: np.ndarray, Y: np.ndarray, lr: float) -> dict:
    """One SGD step in place (``W -= lr * dW``, as seed 000 does); returns ``params``."""
    _, grads = numpy_loss_and_grad(cfg, params, X, Y)
    for name, g in grads.items():
        params[name] -= lr * g
    return params


def numpy_predict(cfg: Config, params: dict, X: np.ndarray) -> np.ndarray:
    """Output-layer pre-activations (logits) for ``X``; argmax gives the predicted class."""
    a = X
    for layer in range(1, cfg.n_layers):
        a = _act(cfg.activation, np.dot(a, params[f"W{layer}"]) + params[f"b{layer}"])
    return np.dot(a, params[f"W{cfg.n_layers}"]) + params[f"b{cfg.n_layers}"]


class NumpyImpl:
    """Hand-written NumPy peer (the reference for the gradient-equality check)."""

    def __init__(self, cfg: Config, dtype) -> None:
        self.cfg = cfg
        self.dtype = np.dtype(dtype)
        self.info = f"numpy {np.__version__}"

    def loss_and_grad(self, params, X, Y):
        return numpy_loss_and_grad(self.cfg, params, X, Y)

    def step(self, params, X, Y, lr):
        return numpy_step(self.cfg, params, X, Y, lr)


# ---------------------------------------------------------------------------------------------
# PyTorch eager (CPU), autograd + manual SGD
# ---------------------------------------------------------------------------------------------

def _import_torch():
    try:
        import torch
    except ImportError as exc:
        raise ImplUnavailable("torch not installed") from exc
    return torch


class TorchImpl:
    """PyTorch eager on CPU: ``torch.autograd.grad`` then ``p.sub_(lr * g)`` under no_grad.

    Uses PyTorch's default intra-op thread count (recorded in ``info``).
    """

    def __init__(self, cfg: Config, dtype) -> None:
        torch = _import_torch()
        self.torch = torch
        self.cfg = cfg
        self.tdtype = {np.dtype(np.float64): torch.float64,
                       np.dtype(np.float32): torch.float32}[np.dtype(dtype)]
        self.info = f"torch {torch.__version__}, {torch.get_num_threads()} threads"

    def _loss(self, params, X, Y):
        F = self.torch.nn.functional
        torch = self.torch
        cfg = self.cfg
        act = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu}[cfg.activation]
        a = X
        for layer in range(1, cfg.n_layers):
            a = act(torch.addmm(params[f"b{layer}"], a, params[f"W{layer}"]))
        zL = torch.addmm(params[f"b{cfg.n_layers}"], a, params[f"W{cfg.n_layers}"])
        if cfg.loss == "mse":
            yhat = torch.sigmoid(zL)
            return F.mse_loss(yhat, Y, reduction="sum") * (0.5 / X.shape[0])
        return F.cross_entropy(zL, Y)    # probability (one-hot) targets, mean over the batch

    def prepare(self, params, X, Y):
        torch = self.torch
        tp = {k: torch.tensor(v, dtype=self.tdtype).requires_grad_(True)
              for k, v in params.items()}
        return tp, torch.tensor(X, dtype=self.tdtype), torch.tensor(Y, dtype=self.tdtype)

    def step(self, params, X, Y, lr):
        loss = self._loss(params, X, Y)
        tensors = list(params.values())
        grads = self.torch.autograd.grad(loss, tensors)
        with self.torch.no_grad():
            for p, g in zip(tensors, grads):
                p.sub_(g, alpha=lr)
        return params

    def loss_and_grad(self, params, X, Y):
        tp, tX, tY = self.prepare(params, X, Y)
        loss = self._loss(tp, tX, tY)
        grads = self.torch.autograd.grad(loss, list(tp.values()))
        return float(loss.item()), {k: g.numpy().copy() for k, g in zip(tp, grads)}

    def to_numpy(self, params):
        return {k: v.detach().numpy().copy() for k, v in params.items()}


# ---------------------------------------------------------------------------------------------
# JAX: jit of the whole step, and the whole loop in lax.fori_loop
# ---------------------------------------------------------------------------------------------

def _import_jax():
    try:
        import jax
    except ImportError as exc:
        raise ImplUnavailable("jax not installed") from exc
    jax.config.update("jax_enable_x64", True)   # float64 runs need it; float32 stays float32
    return jax


class JaxImpl:
    """JAX on CPU: ``jax.jit`` of value_and_grad + SGD; ``run_steps`` is a jitted ``fori_loop``.

    The loss is carried out of every step (and through the loop), so XLA cannot drop it.
    """

    def __init__(self, cfg: Config, dtype) -> None:
        jax = _import_jax()
        import jax.numpy as jnp
        from jax import lax

        self.jax = jax
        self.cfg = cfg
        self.dtype = np.dtype(dtype)
        self.info = f"jax {jax.__version__}, {jax.default_backend()}"
        act = {"sigmoid": jax.nn.sigmoid, "tanh": jnp.tanh,
               "relu": lambda z: jnp.maximum(z, 0)}[cfg.activation]

        def loss(params, X, Y):
            a = X
            for layer in range(1, cfg.n_layers):
                a = act(a @ params[f"W{layer}"] + params[f"b{layer}"])
            zL = a @ params[f"W{cfg.n_layers}"] + params[f"b{cfg.n_layers}"]
            if cfg.loss == "mse":
                yhat = jax.nn.sigmoid(zL)
                return 0.5 * jnp.sum((Y - yhat) ** 2) / X.shape[0]
            return -jnp.sum(Y * jax.nn.log_softmax(zL, axis=1)) / X.shape[0]

        value_and_grad = jax.value_and_grad(loss)

        def step(params, X, Y, lr):
            J, g = value_and_grad(params, X, Y)
            return {k: params[k] - lr * g[k] for k in params}, J

        def loop(params, X, Y, lr, n):
            def body(_, carry):
                return step(carry[0], X, Y, lr)
            J0 = jnp.zeros((), dtype=X.dtype)
            return lax.fori_loop(0, n, body, (params, J0))

        self._value_and_grad = jax.jit(value_and_grad)
        self._step = jax.jit(step, static_argnums=3)
        self._loop = jax.jit(loop, static_argnums=(3, 4))

    def prepare(self, params, X, Y):
        jnp = self.jax.numpy
        return ({k: jnp.array(v, dtype=self.dtype) for k, v in params.items()},
                jnp.array(X, dtype=self.dtype), jnp.array(Y, dtype=self.dtype))

    def step(self, params, X, Y, lr):
        return self._step(params, X, Y, float(lr))[0]

    def run_steps(self, params, X, Y, lr, n):
        return self._loop(params, X, Y, float(lr), int(n))[0]

    def sync(self, params):
        self.jax.block_until_ready(params)

    def loss_and_grad(self, params, X, Y):
        jp, jX, jY = self.prepare(params, X, Y)
        J, g = self._value_and_grad(jp, jX, jY)
        return float(J), {k: np.asarray(v).copy() for k, v in g.items()}

    def to_numpy(self, params):
        return {k: np.asarray(v).copy() for k, v in params.items()}


# name -> factory(cfg, dtype); the harness registers these as the peers, in this order.
PEERS = {
    "numpy": NumpyImpl,
    "torch eager": TorchImpl,
    "jax jit": JaxImpl,
}

__all__ = ["ImplUnavailable", "NumpyImpl", "TorchImpl", "JaxImpl", "PEERS", "numpy_step",
           "numpy_loss_and_grad", "numpy_predict", "copy_params"]
