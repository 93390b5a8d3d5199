"""Paired A/B timing of two generated kernel modules on one benchmark config.

For judging a code-generator change on a noisy machine: write the module before and after
(``symbp codegen SPEC -o old.py`` on each commit), then

    python benchmarks/ab_kernels.py old.py new.py [--config ii] [--dtype float32]
                                    [--rounds 30] [--blas-threads 1] [--blocks N]

Both modules are loaded in this process and timed in alternating blocks (``train_epochs``, full
batch, many epochs per call), so drift of the machine hits both alike. The table gives each
module's median and best time per step and the median of the paired ratios (new block / the old
block right before it), which is the figure to quote. The modules must be of the same spec
(their ``SIZES`` are checked) and a cpu or parallel target; a parallel module runs on
``--blocks`` row blocks (default: Numba's thread count), so cpu against parallel is a valid pair.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):          # run as a script: make `benchmarks` and `symbp` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from benchmarks.configs import get_config, init_params, make_data  # noqa: E402


def load(path: str):
    """Import a generated module file under a name that is the same for the same file in every
    run, whichever side it is on: Numba's cache is kept next to the file and its entries
    import the module by that name."""
    p = Path(path)
    if not p.is_file():
        raise SystemExit(f"{path}: no such file; expected a module from `symbp codegen`")
    digest = hashlib.sha1(str(p.resolve()).encode()).hexdigest()[:10]
    name = f"symbp_ab_{''.join(c if c.isalnum() else '_' for c in p.stem)}_{digest}"
    spec = importlib.util.spec_from_file_location(name, p)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    if not hasattr(module, "workspace_size"):
        raise SystemExit(f"{path}: not a cpu or parallel module (no workspace_size)")
    return module


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--config", default="ii")
    ap.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    ap.add_argument("--rounds", type=int, default=30, help="timed blocks per module")
    ap.add_argument("--steps", type=int, default=0, help="steps per block (default: ~50 ms)")
    ap.add_argument("--blas-threads", type=int, default=1,
                    help="BLAS threads during the timing (default 1, as the runtime's hold)")
    ap.add_argument("--blocks", type=int, default=0,
                    help="row blocks of a parallel module (default: Numba's thread count)")
    args = ap.parse_args(argv)

    import scipy.linalg.cython_blas  # noqa: F401 - the BLAS Numba calls, before limiting it
    from threadpoolctl import threadpool_limits

    cfg, dt = get_config(args.config), np.dtype(args.dtype)
    mods = [load(args.old), load(args.new)]
    if tuple(mods[0].SIZES) != tuple(mods[1].SIZES) or tuple(mods[0].SIZES) != cfg.sizes:
        raise SystemExit(f"the modules' sizes {mods[0].SIZES} / {mods[1].SIZES} are not config "
                         f"{args.config}'s {cfg.sizes}")
    X, Y = make_data(cfg, dt)
    params = init_params(cfg, dt)
    rows = len(X)
    if args.blocks <= 0:
        import numba

        args.blocks = numba.get_num_threads()
    extra = [(args.blocks,) if m.TARGET == "parallel" else () for m in mods]
    work = [np.empty(m.workspace_size(rows, True, *e), dt) for m, e in zip(mods, extra)]

    def run(i: int, n: int) -> None:
        m = mods[i]
        state = [np.zeros_like(params[p]) for _ in m.STATE for p in m.PARAMS]
        hyper = [dt.type(v if k != "eta" else cfg.lr * 1e-3) for k, v in m.HYPER]
        # (modules since the single compiled entry take an order array and flags)
        tail = (m._NO_ORDER, m.UPDATE | m.CHECK) if hasattr(m, "UPDATE") else ()
        out = m.train_epochs(*[params[p] for p in m.PARAMS], *state, X, Y, *hyper, 0, rows, n, 0,
                             0, np.empty(n), work[i], *tail, *extra[i])
        if out[1] >= 0:
            raise SystemExit(f"module {i}: non-finite values at step {out[2]}")

    with threadpool_limits(args.blas_threads, user_api="blas"):
        for i in (0, 1):
            run(i, 2)                                  # compile or load, warm
        n = args.steps
        if n <= 0:
            t = time.perf_counter()
            run(0, 10)
            n = max(10, int(0.05 / max((time.perf_counter() - t) / 10, 1e-9)))
        times = [[], []]
        for _ in range(args.rounds):
            for i in (0, 1):
                t = time.perf_counter()
                run(i, n)
                times[i].append((time.perf_counter() - t) / n * 1e6)
    ratios = [b / a for a, b in zip(*times)]
    print(f"config {args.config} {'-'.join(map(str, cfg.sizes))}, {args.dtype}, {n} steps per "
          f"block, {args.rounds} rounds, BLAS threads {args.blas_threads}")
    for label, path, ts in (("old", args.old, times[0]), ("new", args.new, times[1])):
        print(f"  {label}  {path:40} median {statistics.median(ts):10.2f} us  "
              f"best {min(ts):10.2f} us")
    print(f"  new / old, median of paired blocks: {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
