"""``symbp demo``: derive, verify, compile and train a softmax MLP on scikit-learn's digits.

One command on a fresh install (``pip install "symbp[demo]"``): the bundled spec
``digits_softmax`` (64-64-10 tanh MLP, softmax cross-entropy, L2, Adam) is derived and its
backward pass printed, each delta and gradient is checked against the textbook matrix formula
(evaluated independently with NumPy at random points), the training step is compiled with
Numba, and the network is trained with a progress bar; the demo reports test accuracy and
steps per second. Exit code 1 if a textbook check fails or the test accuracy is below 0.96.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from ..errors import SymbpError
from ..printing.document import _lhs_matrix, summary
from ..spec import load_spec
from ..train import TrainConfig, Trainer, prepare
from .train import summary_text

SPEC = "digits_softmax"
MIN_ACCURACY = 0.96


def register(sub) -> None:
    p = sub.add_parser("demo", help="derive, verify, compile and train a digits classifier",
                       description="Derive a softmax cross-entropy MLP for scikit-learn's digits, "
                                   "print the derivation, check it against the textbook "
                                   "formulas, compile it and train it (about 20 s).")
    p.add_argument("--target", choices=("cpu", "parallel", "cuda"), default=None, help="compile target")
    p.add_argument("--epochs", type=int, default=None, help="epochs (default: the spec's, 30)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    try:
        import sklearn  # noqa: F401
    except ImportError:
        raise SymbpError("the demo trains on scikit-learn's digits: pip install \"symbp[demo]\" "
                         "(or pip install scikit-learn)") from None
    spec = load_spec(SPEC)
    config = TrainConfig.from_spec(spec, target=args.target, epochs=args.epochs)
    out = sys.stdout
    out.write(f"symbp demo: {spec.description}\n\n1. derive ({SPEC}, bundled)\n")
    t0 = time.perf_counter()
    d, data, model, _ = prepare(spec, config)
    derive_s = time.perf_counter() - t0
    out.write(f"   {summary(d)}\n")
    for eq in d.equations:
        if eq.stage in ("output_error", "backward", "gradient"):
            out.write(f"   {_lhs_matrix(eq, 'text')} {eq.matrix.text()}\n")
    out.write(f"   ({len(d.equations)} equations in all; `symbp derive {SPEC}` prints every one "
              f"with its justification)\n\n2. verify against the textbook formulas\n")
    ok = True
    for name, formula, err in textbook_check(d):
        good = err < 1e-10
        ok &= good
        out.write(f"   {'ok  ' if good else 'FAIL'} {name:<7} = {formula:<34} max |diff| "
                  f"{err:.1e}\n")
    out.write(f"\n3. compile: Python source generated in {derive_s:.1f} s, ")
    out.flush()
    t1 = time.perf_counter()
    warm_up(model, data, config)
    out.write(f"compiled by Numba ({config.target}, {config.dtype}) in "
              f"{time.perf_counter() - t1:.1f} s (cached for the next run)\n")
    out.write(f"\n4. train: {data.info().splitlines()[2].strip()}\n")
    out.flush()
    from ..progress import ProgressBar

    bar = ProgressBar(enabled=not args.quiet, label="   epoch")
    try:
        result = Trainer(d, model, data, config, progress=bar).run()
    finally:
        bar.close()
    out.write("   " + summary_text(spec.name, result).replace("\n", "\n   ") + "\n")
    acc = result.test_metric
    passed = ok and acc >= MIN_ACCURACY
    out.write(f"\ntest accuracy {acc:.4f} ({round(acc * len(data.X_test))}/{len(data.X_test)} "
              f"held-out digits), {result.steps_per_second:,.0f} steps/s, "
              f"{time.perf_counter() - t0:.1f} s in all"
              f"{'' if passed else ' -- BELOW EXPECTATIONS'}\n")
    return 0 if passed else 1


def warm_up(model, data, config) -> None:
    """Compile (or load from Numba's cache) the kernels training uses, without training."""
    from ..train import run_epochs

    params = model.init_params(0)
    X, Y = data.X_train[:2], data.Y_train[:2]
    run_epochs(model, params, model.init_state(params), X, Y, config, 2, 0, 0)
    model.forward(params, X)


def textbook_check(d, n: int = 7, seed: int = 0) -> list[tuple[str, str, float]]:
    """Each delta and gradient of a one-hidden-layer tanh/softmax derivation, evaluated from
    its derived index-form equations, against the textbook matrix formula in NumPy.

    Returns:
        ``[(quantity, textbook formula, max |derived - textbook|)]``.
    """
    from ..evaluate import evaluate

    rng = np.random.default_rng(seed)
    d0, d1, d2 = d.spec.model.sizes
    lam = float(d.spec.loss.l2)
    P = {"W1": rng.normal(0, 0.3, (d0, d1)), "b1": rng.normal(0, 0.1, d1),
         "W2": rng.normal(0, 0.3, (d1, d2)), "b2": rng.normal(0, 0.1, d2)}
    X = rng.normal(size=(n, d0))
    Y = np.eye(d2)[rng.integers(0, d2, n)]
    got = evaluate(d, P, X, Y)
    a1 = np.tanh(X @ P["W1"] + P["b1"])
    z2 = a1 @ P["W2"] + P["b2"]
    yhat = np.exp(z2 - z2.max(axis=1, keepdims=True))
    yhat /= yhat.sum(axis=1, keepdims=True)
    delta2 = (yhat - Y) / n
    delta1 = (delta2 @ P["W2"].T) * (1 - a1 ** 2)
    book = [("delta2", "(softmax(z2) - y) / N", delta2),
            ("dW2", "a1^T delta2 + lambda W2", a1.T @ delta2 + lam * P["W2"]),
            ("db2", "sum_n delta2", delta2.sum(axis=0)),
            ("delta1", "(delta2 W2^T) * (1 - a1^2)", delta1),
            ("dW1", "x^T delta1 + lambda W1", X.T @ delta1 + lam * P["W1"]),
            ("db1", "sum_n delta1", delta1.sum(axis=0))]
    return [(name, text, float(np.max(np.abs(np.asarray(got[name], dtype=float) - ref))))
            for name, text, ref in book]
