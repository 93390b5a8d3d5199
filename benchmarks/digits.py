"""Time to a target test accuracy on scikit-learn's digits, for config (ii)'s network.

Contract:
  * Data: ``sklearn.datasets.load_digits`` (ships with scikit-learn, no download), pixels scaled
    to [0, 1], a stratified 75/25 train/test split with ``random_state=0``.
  * Network: config (ii), 64-128-10, sigmoid hidden, softmax cross-entropy, minibatch 128,
    plain SGD with lr 0.1, no momentum, no weight decay.
  * :func:`sklearn_time_to_accuracy` trains ``MLPClassifier`` with those settings, one
    ``partial_fit`` epoch at a time; :func:`impl_time_to_accuracy` trains any harness
    implementation with its ``step`` on shuffled minibatches of exactly ``batch`` rows (the last
    partial batch of an epoch is dropped; the shuffle changes each epoch).
  * Both return seconds of training only (test-set evaluation after each epoch is not counted),
    the epochs used, the accuracy reached, and whether the target was reached within
    ``max_epochs``.
"""
from __future__ import annotations

import contextlib

import time

import numpy as np

from .configs import CONFIGS, init_params
from .peers import numpy_predict


def load_split(dtype=np.float64, seed: int = 0):
    """``(X_train, y_train, X_test, y_test)``; X scaled to [0, 1] in ``dtype``, y int labels."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    X = (data.data / 16.0).astype(dtype)
    Xtr, Xte, ytr, yte = train_test_split(X, data.target, test_size=0.25, random_state=seed,
                                          stratify=data.target)
    return (np.ascontiguousarray(Xtr), ytr.astype(np.int64), np.ascontiguousarray(Xte),
            yte.astype(np.int64))


def sklearn_time_to_accuracy(target: float = 0.96, max_epochs: int = 500, seed: int = 0) -> dict:
    """Train sklearn's MLPClassifier (config ii settings) until test accuracy >= ``target``."""
    import warnings

    from sklearn.neural_network import MLPClassifier

    Xtr, ytr, Xte, yte = load_split(np.float64, seed)
    cfg = CONFIGS["ii"]
    clf = MLPClassifier(hidden_layer_sizes=cfg.sizes[1:-1], activation="logistic",
                        solver="sgd", learning_rate="constant", learning_rate_init=cfg.lr,
                        momentum=0.0, nesterovs_momentum=False, alpha=0.0,
                        batch_size=cfg.batch, shuffle=True, random_state=seed)
    classes = np.arange(10)
    spent, acc = 0.0, 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for epoch in range(1, max_epochs + 1):
            t0 = time.perf_counter()
            clf.partial_fit(Xtr, ytr, classes=classes)
            spent += time.perf_counter() - t0
            acc = float(np.mean(clf.predict(Xte) == yte))
            if acc >= target:
                return dict(seconds=spent, epochs=epoch, accuracy=acc, reached=True)
    return dict(seconds=spent, epochs=max_epochs, accuracy=acc, reached=False)


def impl_time_to_accuracy(impl, dtype=np.float64, target: float = 0.96, max_epochs: int = 500,
                          seed: int = 0) -> dict:
    """Train a harness implementation (built for config ii) until test accuracy >= ``target``.

    Accuracy is computed with the NumPy forward pass on ``impl``'s parameters (``to_numpy``).
    """
    cfg = CONFIGS["ii"]
    Xtr, ytr, Xte, yte = load_split(dtype, seed)
    Ytr = np.zeros((len(ytr), 10), dtype=dtype)
    Ytr[np.arange(len(ytr)), ytr] = 1
    rng = np.random.default_rng(seed)
    xb0, yb0 = np.ascontiguousarray(Xtr[: cfg.batch]), np.ascontiguousarray(Ytr[: cfg.batch])
    warm = init_params(cfg, dtype, seed=seed + 1)
    params = init_params(cfg, dtype, seed=seed + 1)
    if hasattr(impl, "prepare"):
        params, _, _ = impl.prepare(params, xb0, yb0)
        warm, xb0, yb0 = impl.prepare(warm, xb0, yb0)
    warm = impl.step(warm, xb0, yb0, cfg.lr)      # compile / warm up outside the timing
    if hasattr(impl, "sync"):
        impl.sync(warm)
    n_batches = len(ytr) // cfg.batch
    # an implementation's recommended setting for the whole fit (symbp parallel: BLAS held to
    # one thread, or NumPy's BLAS workers spin after each evaluation and share its cores)
    with getattr(impl, "fit_context", contextlib.nullcontext)():
        return _fit(impl, cfg, Xtr, Ytr, ytr, Xte, yte, rng, params, n_batches, target,
                    max_epochs)


def _fit(impl, cfg, Xtr, Ytr, ytr, Xte, yte, rng, params, n_batches, target, max_epochs):
    to_numpy = getattr(impl, "to_numpy", lambda p: p)
    spent, acc = 0.0, 0.0
    for epoch in range(1, max_epochs + 1):
        order = rng.permutation(len(ytr))
        batches = []
        for b in range(n_batches):   # gather (and convert) outside the timed region
            idx = order[b * cfg.batch:(b + 1) * cfg.batch]
            xb, yb = np.ascontiguousarray(Xtr[idx]), np.ascontiguousarray(Ytr[idx])
            if hasattr(impl, "prepare"):
                _, xb, yb = impl.prepare({}, xb, yb)
            batches.append((xb, yb))
        t0 = time.perf_counter()
        for xb, yb in batches:
            params = impl.step(params, xb, yb, cfg.lr)
        if hasattr(impl, "sync"):
            impl.sync(params)
        spent += time.perf_counter() - t0
        acc = float(np.mean(np.argmax(numpy_predict(cfg, to_numpy(params), Xte), axis=1) == yte))
        if acc >= target:
            return dict(seconds=spent, epochs=epoch, accuracy=acc, reached=True)
    return dict(seconds=spent, epochs=max_epochs, accuracy=acc, reached=False)
