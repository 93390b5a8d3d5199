"""Cold and warm start times of symbp's compiled kernels (config ii: 64-128-10, sigmoid,
softmax cross-entropy).

Cold: an empty cache (SYMBP_CACHE_DIR in a new temporary folder): derive with SymPy, generate
the module, Numba compiles on the first calls. Warm: a new process on the same cache: the
module is imported from the cache and Numba loads its machine code (no derivation, no
compilation). Each row is measured in a fresh interpreter.

    python benchmarks/compile_times.py [--targets cpu parallel] [--dtypes float64] [--warm-runs 3]

Columns: import (numpy and symbp.runtime), load (compile_spec: the cache lookup or derive and
generate; the module import), 1st calls (loss_and_grad, step, train_epochs: Numba compiles or
loads them), total (load + 1st calls, the figure of issue 6's targets), +import (what a script
waits for), sympy (whether SymPy was imported: a warm start never needs it).

The warm start is run --warm-runs times (each a new process) and the median total printed, since
a single sub-second process start on a shared machine varies by +-20%.

Baseline, in the same run: the seeds' NumPy training step for config ii written as one plain
``@njit`` function (no cache), whose first call is what a hand-written Numba kernel costs to
start; ``ratio`` is each row's total against that first call.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

SPEC = '''
name = "config_ii"
[model]
inputs = 64
layers = [ { units = 128, activation = "sigmoid" }, { units = 10, activation = "identity" } ]
[loss]
kind = "softmax_cross_entropy"
'''

#: What a start does (in the child, after ``spec``, ``target`` and ``dtype`` are read):
#: compile_spec, then the first calls of the three training kernels on config ii's data.
#: Also the work ``compile_profile.py`` profiles.
WORKLOAD = r'''
t1 = time.perf_counter()
m = compile_spec(spec, target, dtype)
t_load = time.perf_counter() - t1
p = m.init_params(0)
rng = np.random.default_rng(0)
X = rng.standard_normal((128, 64)); Y = np.eye(10)[rng.integers(0, 10, 128)]
t2 = time.perf_counter()
m.loss_and_grad(p, X, Y)
m.step(p, X, Y, 0.1)
m.train_epochs(p, None, X, Y, 0.1, batch_size=32, n_epochs=1)
t_first = time.perf_counter() - t2
'''

CHILD = r'''
import json, sys, time
t0 = time.perf_counter()
import numpy as np
import symbp
from symbp.runtime import compile_spec
t_import = time.perf_counter() - t0
target, dtype, spec = sys.argv[1], sys.argv[2], sys.argv[3]
''' + WORKLOAD + r'''kernels = [getattr(m.module, k) for k in ("loss_and_grad", "step", "train_epochs")]
misses = sum(f.stats.cache_misses.get(s, 0) for f in kernels if hasattr(f, "stats")
             for s in f.signatures)  # (step and loss_and_grad call train_epochs)
derive_mod = sys.modules.get("symbp.derive")  # a warm start never imports it (nor SymPy)
print(json.dumps({"import": t_import, "load": t_load, "first_calls": t_first,
                  "derive_calls": derive_mod.DERIVE_CALLS[0] if derive_mod else 0,
                  "numba_misses": misses, "sympy": "sympy" in sys.modules}))
'''


#: The baseline: the step of the seeds' NumPy code (forward, softmax cross-entropy, backward,
#: SGD) for config ii, as one plain ``@njit`` function; its first call compiles it.
BASELINE = r'''
import json, time
t0 = time.perf_counter()
import numpy as np
from numba import njit
t_import = time.perf_counter() - t0


@njit
def step(W1, b1, W2, b2, X, Y, lr):
    n = X.shape[0]
    a1 = 1.0 / (1.0 + np.exp(-(X @ W1 + b1)))
    z2 = a1 @ W2 + b2
    e = np.exp(z2 - z2.max())
    yhat = e / e.sum(axis=1).reshape(-1, 1)
    L = -(Y * np.log(yhat)).sum() / n
    d2 = (yhat - Y) / n
    d1 = (d2 @ W2.T) * a1 * (1.0 - a1)
    W2 -= lr * (a1.T @ d2)
    b2 -= lr * d2.sum(axis=0)
    W1 -= lr * (X.T @ d1)
    b1 -= lr * d1.sum(axis=0)
    return L


rng = np.random.default_rng(0)
X = rng.standard_normal((128, 64)); Y = np.eye(10)[rng.integers(0, 10, 128)]
W1, b1 = 0.1 * rng.standard_normal((64, 128)), np.zeros(128)
W2, b2 = 0.1 * rng.standard_normal((128, 10)), np.zeros(10)
t1 = time.perf_counter()
step(W1, b1, W2, b2, X, Y, 0.1)
print(json.dumps({"import": t_import, "first_call": time.perf_counter() - t1}))
'''


def baseline() -> dict:
    out = subprocess.run([sys.executable, "-c", BASELINE], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(target: str, dtype: str, cache: str) -> dict:
    env = dict(os.environ, SYMBP_CACHE_DIR=cache)
    out = subprocess.run([sys.executable, "-c", CHILD, target, dtype, SPEC], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--targets", nargs="+", default=["cpu", "parallel"])
    ap.add_argument("--dtypes", nargs="+", default=["float64"])
    ap.add_argument("--warm-runs", type=int, default=3)
    args = ap.parse_args(argv)
    base = baseline()
    ref = base["first_call"]
    print(f"baseline: one plain @njit step function for config ii (float64), first call "
          f"{ref:.2f} s (import numpy and numba {base['import']:.2f} s)\n")
    print(f"{'target':9} {'dtype':8} {'run':5} {'import s':>9} {'load s':>8} {'1st calls s':>12} "
          f"{'total s':>8} {'ratio':>6} {'+import s':>10} {'derive':>7} {'numba misses':>13} "
          f"{'sympy':>6}")
    for target in args.targets:
        for dtype in args.dtypes:
            with tempfile.TemporaryDirectory() as cache:
                warm = []
                for kind in ("cold",) + ("warm",) * args.warm_runs:
                    r = run(target, dtype, cache)
                    total = r["load"] + r["first_calls"]
                    if kind == "warm":
                        warm.append(total)
                    print(f"{target:9} {dtype:8} {kind:5} {r['import']:9.2f} {r['load']:8.2f} "
                          f"{r['first_calls']:12.2f} {total:8.2f} {total / ref:6.2f} "
                          f"{total + r['import']:10.2f} "
                          f"{r['derive_calls']:7d} {r['numba_misses']:13d} "
                          f"{'yes' if r['sympy'] else 'no':>6}")
                if warm:
                    median = statistics.median(warm)
                    print(f"{target:9} {dtype:8} warm median of {len(warm)}: {median:.2f} s "
                          f"({median / ref:.2f} x the baseline's first call)")


if __name__ == "__main__":
    main()
