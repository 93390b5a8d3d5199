"""Where a symbp training step spends its time: each matrix product alone against the whole step.

For a benchmark config (``configs.py``) and dtype, times the whole compiled step (one full-batch
epoch per step, ``train_epochs`` over many epochs in one call, BLAS threads as the runtime sets
them) and then each matrix product of that step alone, with the same shapes, layouts and BLAS
call (``np.dot`` into a preallocated output, in a compiled loop). The rest of the step (bias,
activations, softmax, loss, update, finiteness checks) is the whole step minus the products.
Layers too small for BLAS are loop nests fused with their epilogues (their shapes are compile-time
constants there): they are listed, not timed alone, and counted in the rest. The products are read from the lowered
program (:func:`symbp.codegen.lower.lower`), so the list always matches the generated kernels.

    python benchmarks/step_profile.py [--configs ii] [--dtype float32|float64|both]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):          # run as a script: make `benchmarks` and `symbp` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from numba import njit  # noqa: E402

from benchmarks.configs import get_config, init_params, make_data  # noqa: E402
from benchmarks.symbp_impls import spec_text  # noqa: E402


@njit(cache=True)
def _dot_nn(a, b, out, n):
    for _ in range(n):
        np.dot(a, b, out)


@njit(cache=True)
def _dot_nt(a, b, out, n):
    for _ in range(n):
        np.dot(a, b.T, out)


@njit(cache=True)
def _dot_tn(a, b, out, n):
    for _ in range(n):
        np.dot(a.T, b, out)


def _median_us(fn, args, seconds: float = 0.05, repeats: int = 7) -> float:
    fn(*args, 1)                                            # compile / warm
    n = 1
    while True:                                             # calls per timed block
        t = time.perf_counter()
        fn(*args, n)
        if time.perf_counter() - t > seconds / 4 or n > 1 << 20:
            break
        n *= 4
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn(*args, n)
        times.append((time.perf_counter() - t) / n * 1e6)
    return statistics.median(times)


def products(prog, rows: int) -> list[tuple[str, str, tuple, tuple, bool]]:
    """(label, kind, a shape, b shape, blas) for every matrix product of one step."""
    from symbp.codegen.lower import Gemm, WeightGrad

    out = []
    for node in [*prog.forward, *prog.backward]:
        if isinstance(node, Gemm) and node.transpose_w:      # delta @ W.T
            out.append((f"{node.out} = {node.a} @ {node.w}.T", "nt", (rows, node.inner),
                        (node.cols, node.inner), node.blas))
        elif isinstance(node, Gemm):                         # a @ W
            out.append((f"{node.out} = {node.a} @ {node.w}", "nn", (rows, node.inner),
                        (node.inner, node.cols), node.blas))
        elif isinstance(node, WeightGrad):                   # x.T @ delta
            out.append((f"{node.dW} = {node.x}.T @ {node.delta}", "tn", (rows, node.inner),
                        (rows, node.cols), node.blas))
    return out


def profile(key: str, dtype: str) -> None:
    from symbp.codegen.lower import lower
    from symbp.derive import derive
    from symbp.runtime import compile_spec
    from symbp.spec import load_spec

    cfg = get_config(key)
    dt = np.dtype(dtype)
    model = compile_spec(spec_text(cfg), "cpu", dtype)
    prog = lower(derive(load_spec(spec_text(cfg))))
    X, Y = make_data(cfg, dt)
    p = init_params(cfg, dt)
    rows = len(X)
    names = model.param_names
    losses = np.empty(1 << 21)
    ws = model.workspace(rows)
    mod = model.module

    def whole(n):  # one full batch: no shuffle (no order array)
        mod.train_epochs(*[p[k] for k in names], X, Y, dt.type(cfg.lr * 1e-3), 0, rows, int(n),
                         0, 0, losses, ws, mod._NO_ORDER, mod.UPDATE | mod.CHECK)

    rng = np.random.default_rng(0)
    with model.blas_threads(rows):
        step = _median_us(lambda n: whole(n), ())
        rows_out = []
        for label, kind, sa, sb, blas in products(prog, rows):
            if not blas:
                rows_out.append((label, kind.upper(), "loops", None, None))
                continue
            a = rng.standard_normal(sa).astype(dt)
            b = rng.standard_normal(sb).astype(dt)
            shape = {"nn": (sa[0], sb[1]), "nt": (sa[0], sb[0]), "tn": (sa[1], sb[1])}[kind]
            fn = {"nn": _dot_nn, "nt": _dot_nt, "tn": _dot_tn}[kind]
            us = _median_us(fn, (a, b, np.empty(shape, dt)))
            flops = 2 * shape[0] * shape[1] * (sa[1] if kind != "tn" else sa[0])
            rows_out.append((label, kind.upper(), "BLAS", us, flops / us / 1e3))
    total = sum(r[3] for r in rows_out if r[3] is not None)
    print(f"\nconfig {key} ({'-'.join(map(str, cfg.sizes))}, batch {rows}), {dtype}, cpu target")
    print(f"  {'product':34} {'form':4} {'how':5} {'us':>8} {'GFLOP/s':>8} {'of step':>8}")
    for label, kind, how, us, gf in rows_out:
        if us is None:
            print(f"  {label:34} {kind:4} {how:5} {'fused':>8}")
        else:
            print(f"  {label:34} {kind:4} {how:5} {us:8.1f} {gf:8.1f} {us / step:8.0%}")
    print(f"  {'BLAS products':34} {'':4} {'':5} {total:8.1f} {'':8} {total / step:8.0%}")
    print(f"  {'rest (loops, elementwise, update)':34} {'':4} {'':5} {step - total:8.1f} {'':8} "
          f"{(step - total) / step:8.0%}")
    print(f"  {'whole step (train_epochs)':34} {'':4} {'':5} {step:8.1f}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--configs", default="ii", help="comma-separated config keys (default ii)")
    ap.add_argument("--dtype", choices=("float64", "float32", "both"), default="both")
    args = ap.parse_args(argv)
    dtypes = ("float64", "float32") if args.dtype == "both" else (args.dtype,)
    for key in args.configs.split(","):
        for dtype in dtypes:
            profile(key, dtype)


if __name__ == "__main__":
    main()
