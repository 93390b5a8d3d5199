"""Where splitting a step into row blocks pays: the parallel target on 1 block against 2 or more.

The parallel target runs each call on ``nb`` blocks of rows, one a thread, and the runtime picks
``nb`` (``CompiledModel.blocks``): Numba's thread count, but no more blocks than have
``symbp.runtime.PARALLEL_MIN_WORK`` multiply-adds each. This script measures the figure behind
that threshold: for tanh networks d-d-10 (softmax cross-entropy) and batch sizes from 16 to 256,
the time per step of ``train_epochs`` (full batch, many steps per call) on 1 block and on each
block count up to the thread count, in alternating timed blocks in one process (BLAS held on
one thread, as the runtime holds it where it splits the rows), each after ``SETTLE`` s idle
(without it, the threads of one block's pool still spinning slowed the next block's by up to
1.5x, and the comparison followed the order of the blocks).

    python benchmarks/parallel_blocks.py [--widths 8,16,32,64] [--batches 16,64,256]
                                         [--dtype float64] [--rounds 15]

Columns: work = batch x weights (multiply-adds of the forward pass), us/step on 1 block, then on
nb blocks and its ratio to 1 block (below 1: the split pays), then 1 block with BLAS on its own
thread count (the cpu target's way to use the cores: its ratio below the nb-block one means BLAS
threads the products better than the row split), and the block count the runtime would choose.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):          # run as a script: make `symbp` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402


#: seconds of idle before each timed block: longer than OpenBLAS's and OpenMP's spin-waits
SETTLE = 0.3


def spec(width: int) -> str:
    return (f'name = "blocks_{width}"\n[model]\ninputs = {width}\nlayers = [ {{ units = {width}, '
            'activation = "tanh" }, { units = 10, activation = "identity" } ]\n'
            '[loss]\nkind = "softmax_cross_entropy"\n')


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--widths", default="8,16,32,64,128")
    ap.add_argument("--batches", default="16,32,64,128,256")
    ap.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    ap.add_argument("--rounds", type=int, default=15, help="timed blocks per block count")
    args = ap.parse_args(argv)

    import numba

    from symbp.runtime import blas_single_threaded, compile_spec

    threads = numba.get_num_threads()
    dt = np.dtype(args.dtype)
    rng = np.random.default_rng(0)
    print(f"{args.dtype}, {threads} threads; us per step, median of {args.rounds} paired blocks")
    print(f"{'net':>12} {'batch':>6} {'work':>9} {'1 block':>9}" +
          "".join(f" {f'{nb} blocks':>9} {'ratio':>6}" for nb in range(2, threads + 1)) +
          f" {'1+BLAS':>9} {'ratio':>6}  runtime's nb")
    for width in map(int, args.widths.split(",")):
        m = compile_spec(spec(width), "parallel", args.dtype)
        mod = m.module
        for batch in map(int, args.batches.split(",")):
            X = rng.standard_normal((batch, width)).astype(dt)
            Y = np.eye(10, dtype=dt)[rng.integers(0, 10, batch)]
            p = m.init_params(0)
            args_p = [p[k] for k in m.param_names]
            counts = range(1, threads + 1)
            ws = {nb: np.empty(mod.workspace_size(batch, True, nb), dt) for nb in counts}

            def run(nb: int, n: int, settle: float = 0.0) -> float:
                time.sleep(settle)
                t = time.perf_counter()
                mod.train_epochs(*args_p, X, Y, dt.type(0.0), 0, batch, n, 0, 0, np.empty(n),
                                 ws[nb], mod._NO_ORDER, mod.UPDATE | mod.CHECK, nb)
                return (time.perf_counter() - t) / n * 1e6

            with blas_single_threaded():
                for nb in counts:
                    run(nb, 2)
                n = max(10, int(0.02 / max(run(1, 20) * 1e-6, 1e-9)))
            times = {nb: [] for nb in (*counts, "blas")}
            # each timed block starts after SETTLE s idle: a thread pool still spinning from the
            # block before (OpenBLAS's after a threaded product, Numba's after a parallel
            # region) would take a core from this one
            for _ in range(args.rounds):
                with blas_single_threaded():
                    for nb in counts:
                        times[nb].append(run(nb, n, SETTLE))
                times["blas"].append(run(1, n, SETTLE))  # 1 block, BLAS on its own threads
            base = statistics.median(times[1])
            row = f"{f'{width}-{width}-10':>12} {batch:>6} {batch * m._macs:>9} {base:>9.1f}"
            for nb in (*counts[1:], "blas"):
                ratio = statistics.median(b / a for a, b in zip(times[1], times[nb]))
                row += f" {statistics.median(times[nb]):>9.1f} {ratio:>6.2f}"
            print(row + f"  {m.blocks(batch):>5}")


if __name__ == "__main__":
    main()
