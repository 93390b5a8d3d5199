"""Paired A/B of the cold compile time of two generated kernel modules.

For judging a code-generator change by its compile time on a noisy machine: write the module
before and after (``symbp codegen SPEC -o old.py`` on each commit), then

    python benchmarks/ab_compile.py old.py new.py [--rounds 6]

Each round imports each module in a fresh interpreter with an empty Numba cache and times its
first ``train_epochs`` call (shuffled minibatches, the finiteness check and the update: the
one compiled entry behind ``step`` and ``loss_and_grad``, so all of the training code),
old and new alternately, so drift of the machine hits both alike. Prints each module's median
and best, and the median of the paired differences (new - old), the figure to quote, in
wall and in CPU seconds (the process's own time, which another process on the machine
disturbs less than the wall clock). The
modules must be cpu or parallel targets (a parallel one runs on two row blocks).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r'''
import importlib.util, json, sys, time
import numpy as np

spec = importlib.util.spec_from_file_location("ab_compile_kernels", sys.argv[1])
mod = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = mod
spec.loader.exec_module(mod)
dt = np.dtype(mod.DTYPE)
rng = np.random.default_rng(0)
sizes = mod.SIZES


def shape(name):
    layer = int(name[1:])
    return (sizes[layer - 1], sizes[layer]) if name[0] == "W" else (sizes[layer],)


params = [(0.1 * rng.standard_normal(shape(p))).astype(dt) for p in mod.PARAMS]
state = [np.zeros_like(p) for _ in mod.STATE for p in params]
hyper = [dt.type(v) for _, v in mod.HYPER]
n, batch = 96, 32
X = rng.standard_normal((n, sizes[0])).astype(dt)
Y = np.eye(sizes[-1], dtype=dt)[rng.integers(0, sizes[-1], n)]
nb = (2,) if mod.TARGET == "parallel" else ()
ws = np.empty(mod.workspace_size(batch, True, *nb), dtype=dt)
t0, c0 = time.perf_counter(), time.process_time()
out = mod.train_epochs(*params, *state, X, Y, *hyper, 0, batch, 1, 0, 0, np.empty(1), ws,
                       np.empty(n, dtype=np.int64), mod.UPDATE | mod.CHECK, *nb)
print(json.dumps({"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0,
                  "stopped": int(out[1])}))
'''


def first_call(path: Path) -> dict:
    """{"wall", "cpu"}: seconds of the first ``train_epochs`` call of ``path``, imported from a
    fresh copy (its own folder: an empty Numba cache) in a new interpreter."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "kernels.py"
        shutil.copyfile(path, copy)
        env = dict(os.environ, NUMBA_CACHE_DIR=str(Path(tmp) / "numba"))
        out = subprocess.run([sys.executable, "-c", CHILD, str(copy)], env=env,
                             capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{path}: the first call failed:\n{out.stderr.strip()}")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    if r["stopped"] >= 0:
        raise SystemExit(f"{path}: train_epochs met a non-finite value on random data")
    return r


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--rounds", type=int, default=6, help="fresh processes per module")
    args = ap.parse_args(argv)
    paths = [Path(args.old), Path(args.new)]
    for p in paths:
        if not p.is_file():
            raise SystemExit(f"{p}: no such file; expected a module from `symbp codegen`")
        text = p.read_text()
        if "def workspace_size(" not in text:
            raise SystemExit(f"{p}: not a cpu or parallel module (no workspace_size)")
    runs: list[list[dict]] = [[], []]
    for _ in range(args.rounds):
        for side, p in enumerate(paths):
            runs[side].append(first_call(p))
    print(f"cold first call of train_epochs, {args.rounds} fresh processes each, alternating "
          "(wall seconds; CPU seconds of the process, which a busy machine disturbs less)")
    for label, p, r in zip(("old", "new"), paths, runs):
        wall, cpu = [x["wall"] for x in r], [x["cpu"] for x in r]
        print(f"  {label}  {str(p):<36} wall median {statistics.median(wall):5.2f} best "
              f"{min(wall):5.2f}   cpu median {statistics.median(cpu):5.2f} best {min(cpu):5.2f}")
    for key in ("wall", "cpu"):
        diff = statistics.median(b[key] - a[key] for a, b in zip(*runs))
        print(f"  new - old, median of paired rounds ({key}): {diff:+.2f} s")


if __name__ == "__main__":
    main()
