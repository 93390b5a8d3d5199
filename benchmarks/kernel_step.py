"""Microseconds per SGD step of symbp's compiled kernels against a hand-written NumPy step.

Configs: (i) 2-5-1 sigmoid MSE, N=100 (full batch); (ii) 64-128-10 sigmoid softmax-CE, batch
128; (iii) 64-256-256-10 tanh softmax-CE, batch 256; (iv) 784-1024-1024-10 ReLU softmax-CE,
batch 512. Columns: the generated ``step`` kernel called directly, ``CompiledModel.step``
(argument checks included), ``train_epochs`` per step (whole loop in one call, shuffling and
gathering included), and NumPy. Median of repeats; compile time excluded (warm-up call).

    python benchmarks/kernel_step.py [--configs i ii iii iv] [--target cpu] [--dtype float64]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from symbp.runtime import compile_spec

CONFIGS = {
    "i": ((2, 5, 1), "sigmoid", "mse", 100),
    "ii": ((64, 128, 10), "sigmoid", "softmax_cross_entropy", 128),
    "iii": ((64, 256, 256, 10), "tanh", "softmax_cross_entropy", 256),
    "iv": ((784, 1024, 1024, 10), "relu", "softmax_cross_entropy", 512),
}


def spec_text(key):
    sizes, act, loss, _ = CONFIGS[key]
    out = "sigmoid" if loss == "mse" else "identity"
    acts = [act] * (len(sizes) - 2) + [out]
    layers = ", ".join(f'{{ units = {u}, activation = "{a}" }}' for u, a in zip(sizes[1:], acts))
    return f'name = "bench_{key}"\n[model]\ninputs = {sizes[0]}\nlayers = [ {layers} ]\n' \
           f'[loss]\nkind = "{loss}"\n'


def numpy_step(params, X, Y, lr, act, loss, n_layers):
    """Hand-written forward, loss, backward and SGD update."""
    f = {"sigmoid": lambda z: 1 / (1 + np.exp(-z)), "tanh": np.tanh,
         "relu": lambda z: np.maximum(z, 0)}[act]
    df = {"sigmoid": lambda a: a * (1 - a), "tanh": lambda a: 1 - a * a,
          "relu": lambda a: (a > 0).astype(a.dtype)}[act]
    acts = [X]
    for l in range(1, n_layers + 1):
        z = acts[-1] @ params[f"W{l}"] + params[f"b{l}"]
        if l < n_layers:
            acts.append(f(z))
        elif loss == "mse":
            acts.append(1 / (1 + np.exp(-z)))
        else:
            e = np.exp(z - z.max(axis=1, keepdims=True))
            acts.append(e / e.sum(axis=1, keepdims=True))
    yhat, n = acts[-1], X.shape[0]
    if loss == "mse":
        L = 0.5 * np.sum((yhat - Y) ** 2) / n
        delta = (yhat - Y) * yhat * (1 - yhat) / n
    else:
        L = -np.sum(Y * np.log(yhat + 1e-300)) / n
        delta = (yhat - Y) / n
    for l in range(n_layers, 0, -1):
        dW, db = acts[l - 1].T @ delta, delta.sum(axis=0)
        if l > 1:
            delta = (delta @ params[f"W{l}"].T) * df(acts[l - 1])
        params[f"W{l}"] -= lr * dW
        params[f"b{l}"] -= lr * db
    return L


def timeit(fn, reps):
    fn()
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS))
    ap.add_argument("--target", default="cpu")
    ap.add_argument("--dtype", default="float64")
    args = ap.parse_args(argv)
    print(f"target {args.target}, dtype {args.dtype}; microseconds per step (median)")
    print(f"{'config':7} {'kernel step':>12} {'model.step':>11} {'train_epochs':>13} "
          f"{'NumPy':>10} {'NumPy/kernel':>13}")
    for key in args.configs:
        sizes, act, loss, batch = CONFIGS[key]
        m = compile_spec(spec_text(key), args.target, args.dtype)
        rng = np.random.default_rng(0)
        X = rng.standard_normal((batch, sizes[0])).astype(args.dtype)
        Y = (np.eye(sizes[-1])[rng.integers(0, sizes[-1], batch)] if loss != "mse"
             else rng.integers(0, 2, (batch, 1))).astype(args.dtype)
        p = m.init_params(0)
        names = m.param_names
        lr = np.dtype(args.dtype).type(0.01)
        big = sizes[1] >= 512
        reps = 5 if big else (200 if key != "i" else 2000)
        ws = m.workspace(batch)
        t_kernel = timeit(lambda: m._run("step", *[p[k] for k in names], X, Y, lr, ws, rows=batch), reps)
        t_model = timeit(lambda: m.step(p, X, Y, 0.01), reps)
        k_steps = 4 if big else 50
        Xe, Ye = np.tile(X, (k_steps, 1)), np.tile(Y, (k_steps, 1))
        t_train = timeit(lambda: m.train_epochs(p, None, Xe, Ye, 0.01, batch_size=batch,
                                                n_epochs=1), 3 if big else 20) / k_steps
        q = {k: v.copy() for k, v in p.items()}
        t_np = timeit(lambda: numpy_step(q, X, Y, 0.01, act, "mse" if loss == "mse" else "ce",
                                         len(sizes) - 1), reps)
        print(f"{key:7} {t_kernel * 1e6:12.1f} {t_model * 1e6:11.1f} {t_train * 1e6:13.1f} "
              f"{t_np * 1e6:10.1f} {t_np / t_kernel:13.2f}")


if __name__ == "__main__":
    main()
