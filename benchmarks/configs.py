"""The benchmark's network configurations, as data, plus seeded data and parameters for them.

Contract:
  * ``CONFIGS`` maps a short key ("i" .. "iv") to a frozen :class:`Config`.  A config names the
    layer sizes ``(d0, d1, ..., dL)``, the hidden activation, the output head (``"sigmoid"`` or
    ``"softmax"``), the loss (``"mse"`` or ``"softmax_ce"``) and the batch size.  Every
    implementation in the benchmark (NumPy, PyTorch, JAX, symbp) trains exactly this network.
  * Conventions shared by all implementations:
      - ``X`` has shape ``(N, d0)``; ``Y`` has shape ``(N, dL)`` (one-hot for softmax CE, 0/1
        labels for the seed's MSE net);
      - ``W_l`` has shape ``(d_{l-1}, d_l)``, ``b_l`` shape ``(d_l,)``;
        ``z_l = a_{l-1} @ W_l + b_l``;
      - parameters live in a dict with keys ``"W1", "b1", "W2", "b2", ...``;
      - ``mse``:        ``J = 1/N sum_n 1/2 sum_k (y_nk - yhat_nk)^2``  (for ``dL == 1`` this is
        seed 000's ``J = 0.5 * np.mean((y - a2) ** 2)``);
      - ``softmax_ce``: ``J = -1/N sum_n sum_k y_nk log softmax(z_L)_nk``;
      - plain SGD, ``p <- p - lr * dJ/dp`` with ``lr = 0.1``.
  * :func:`make_data` and :func:`init_params` are deterministic in ``(config, dtype, seed)``.
  * :meth:`Config.scaled` shrinks a config (for fast tests) without changing its kind.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

ACTIVATIONS = ("sigmoid", "tanh", "relu")
HEADS = ("sigmoid", "softmax")
LOSSES = ("mse", "softmax_ce")


@dataclass(frozen=True)
class Config:
    """One benchmarked network: sizes, activations, loss, batch.

    Attributes:
        key: short name used on the command line ("i", "ii", ...).
        title: one-line human description.
        sizes: layer widths ``(d0, d1, ..., dL)``.
        activation: hidden-layer activation, one of ``ACTIVATIONS``.
        head: output nonlinearity, ``"sigmoid"`` (with ``mse``) or ``"softmax"`` (with
            ``softmax_ce``).
        loss: ``"mse"`` or ``"softmax_ce"``.
        batch: samples per step (full batch for the seed's net).
        lr: SGD learning rate.
        init: ``"uniform01"`` (seed 000's ``np.random.rand``) or ``"glorot"``.
    """

    key: str
    title: str
    sizes: tuple[int, ...]
    activation: str
    head: str
    loss: str
    batch: int
    lr: float = 0.1
    init: str = "glorot"

    def __post_init__(self) -> None:
        if len(self.sizes) < 2:
            raise ValueError(f"config {self.key}: need at least input and output sizes")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"config {self.key}: unknown activation {self.activation!r}")
        if (self.head, self.loss) not in (("sigmoid", "mse"), ("softmax", "softmax_ce")):
            raise ValueError(f"config {self.key}: unsupported head/loss {self.head}/{self.loss}")

    @property
    def n_layers(self) -> int:
        """Number of affine layers L."""
        return len(self.sizes) - 1

    @property
    def param_names(self) -> tuple[str, ...]:
        """``("W1", "b1", ..., "WL", "bL")``."""
        names: list[str] = []
        for layer in range(1, self.n_layers + 1):
            names += [f"W{layer}", f"b{layer}"]
        return tuple(names)

    @property
    def n_params(self) -> int:
        """Total number of scalar parameters."""
        return sum(a * b + b for a, b in zip(self.sizes[:-1], self.sizes[1:]))

    def flops_per_step(self, batch: int | None = None) -> int:
        """Matrix-product FLOPs of one training step (elementwise work not counted).

        Forward ``2 N d_in d_out`` per layer, backward ``2 N d_in d_out`` for each ``dW`` and
        again for each propagated ``delta`` (none for the input layer).
        """
        n = self.batch if batch is None else batch
        pairs = list(zip(self.sizes[:-1], self.sizes[1:]))
        fwd = sum(2 * n * a * b for a, b in pairs)
        dw = fwd
        dx = sum(2 * n * a * b for a, b in pairs[1:])
        return fwd + dw + dx

    def scaled(self, sizes: tuple[int, ...] | None = None, batch: int | None = None) -> "Config":
        """A copy with other sizes and/or batch (same activation, head, loss), for tests."""
        return replace(
            self,
            sizes=tuple(self.sizes if sizes is None else sizes),
            batch=self.batch if batch is None else batch,
        )


CONFIGS: dict[str, Config] = {
    "i": Config(
        key="i",
        title="seed 000: 2-5-1 sigmoid, MSE, 100 samples full batch",
        sizes=(2, 5, 1),
        activation="sigmoid",
        head="sigmoid",
        loss="mse",
        batch=100,
        init="uniform01",
    ),
    "ii": Config(
        key="ii",
        title="64-128-10 sigmoid, softmax CE, batch 128",
        sizes=(64, 128, 10),
        activation="sigmoid",
        head="softmax",
        loss="softmax_ce",
        batch=128,
    ),
    "iii": Config(
        key="iii",
        title="64-256-256-10 tanh, softmax CE, batch 256",
        sizes=(64, 256, 256, 10),
        activation="tanh",
        head="softmax",
        loss="softmax_ce",
        batch=256,
    ),
    "iv": Config(
        key="iv",
        title="784-1024-1024-10 ReLU, softmax CE, batch 512",
        sizes=(784, 1024, 1024, 10),
        activation="relu",
        head="softmax",
        loss="softmax_ce",
        batch=512,
    ),
}


def get_config(key: str) -> Config:
    """Look up a config by key; raises ``KeyError`` naming the known keys."""
    try:
        return CONFIGS[key]
    except KeyError:
        raise KeyError(f"unknown config {key!r}; known: {', '.join(CONFIGS)}") from None


def make_data(cfg: Config, dtype=np.float64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Seeded random data for one batch: ``X (N, d0)``, ``Y (N, dL)``, C-contiguous, ``dtype``.

    Seed 000's net gets its own data recipe (``rand`` inputs, 0/1 labels); softmax configs get
    standard-normal inputs and one-hot labels of uniformly random classes.
    """
    rng = np.random.default_rng(seed)
    n, d0, dl = cfg.batch, cfg.sizes[0], cfg.sizes[-1]
    if cfg.loss == "mse":
        X = rng.random((n, d0))
        Y = rng.integers(0, 2, size=(n, dl)).astype(np.float64)
    else:
        X = rng.standard_normal((n, d0))
        Y = np.zeros((n, dl))
        Y[np.arange(n), rng.integers(0, dl, size=n)] = 1.0
    return np.ascontiguousarray(X, dtype=dtype), np.ascontiguousarray(Y, dtype=dtype)


def init_params(cfg: Config, dtype=np.float64, seed: int = 1) -> dict[str, np.ndarray]:
    """Seeded initial parameters ``{"W1", "b1", ...}`` in ``dtype``.

    ``uniform01`` follows seed 000 (``np.random.rand`` for weights and biases); ``glorot`` draws
    ``W ~ U(-s, s)``, ``s = sqrt(6 / (d_in + d_out))`` and small nonzero biases (so that bias
    gradients are exercised by the equality checks).
    """
    rng = np.random.default_rng(seed)
    params: dict[str, np.ndarray] = {}
    for layer, (a, b) in enumerate(zip(cfg.sizes[:-1], cfg.sizes[1:]), start=1):
        if cfg.init == "uniform01":
            W = rng.random((a, b))
            bias = rng.random(b)
        else:
            s = np.sqrt(6.0 / (a + b))
            W = rng.uniform(-s, s, size=(a, b))
            bias = 0.01 * rng.standard_normal(b)
        params[f"W{layer}"] = np.ascontiguousarray(W, dtype=dtype)
        params[f"b{layer}"] = np.ascontiguousarray(bias, dtype=dtype)
    return params


def copy_params(params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Deep copy of a NumPy parameter dict (C-contiguous arrays)."""
    return {k: np.array(v, copy=True, order="C") for k, v in params.items()}
