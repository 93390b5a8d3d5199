"""Where a cold start's compile time goes: each compiled function's own share, split into
Numba's typing, lowering, LLVM and the rest of its pipeline.

Config ii (the network of ``compile_times.py``) in a fresh interpreter with an empty cache:
``compile_spec`` (derive, generate, import), then the first calls of ``loss_and_grad``, ``step``
and ``train_epochs``, timed through Numba's event API (``numba.core.event``: ``numba:compile``
per dispatcher, ``numba:run_pass`` per compiler pass, ``numba:llvm_lock`` for LLVM). Times are
exclusive: a function's typing does not include the callees it compiles meanwhile, and its
lowering does not include LLVM, which has a column of its own. An entry point's LLVM time is
the optimisation and code emission of its whole module, every callee linked in.

    python benchmarks/compile_profile.py [--target cpu] [--dtype float64]

Columns (seconds): total (exclusive), typing (``nopython_type_inference``), lowering
(``native_lowering`` less LLVM), LLVM, other (bytecode analysis, SSA, rewrites, ...).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compile_times import SPEC, WORKLOAD  # noqa: E402

CHILD = r'''
import json, sys, time
from collections import defaultdict
t0 = time.perf_counter()
import numpy as np
from numba.core import event
from symbp.runtime import compile_spec

target, dtype, spec = sys.argv[1], sys.argv[2], sys.argv[3]
stack = []  # [kind, label, start, time of nested frames]
table = defaultdict(lambda: defaultdict(float))  # function -> column -> seconds


def owner():
    return next((f[1] for f in reversed(stack) if f[0] == "compile"), "(outside)")


class Timer(event.Listener):
    def __init__(self, kind):
        self.kind = kind

    def on_start(self, ev):
        if self.kind == "compile":
            d = ev.data["dispatcher"]
            label = getattr(d, "py_func", d).__name__
        elif self.kind == "pass":
            label = ev.data["name"].split(" [")[0]  # "name [qualname]"
        else:
            label = "llvm"
        stack.append([self.kind, label, time.perf_counter(), 0.0])

    def on_end(self, ev):
        kind, label, start, nested = stack.pop()
        dt = time.perf_counter() - start
        if stack:
            stack[-1][3] += dt
        own = dt - nested
        column = {"compile": "other", "llvm": "LLVM"}.get(kind)
        if kind == "pass":
            column = {"nopython_type_inference": "typing",
                      "native_lowering": "lowering"}.get(label, "other")
        fn = label if kind == "compile" else owner()
        table[fn][column] += own


for kind, name in (("compile", "numba:compile"), ("pass", "numba:run_pass"),
                   ("llvm", "numba:llvm_lock")):
    event.register(name, Timer(kind))
t_import = time.perf_counter() - t0
''' + WORKLOAD + r'''print(json.dumps({"import": t_import, "load": t_load, "first_calls": t_first,
                  "table": {k: dict(v) for k, v in table.items()}}))
'''

COLUMNS = ("typing", "lowering", "LLVM", "other")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", choices=("cpu", "parallel"), default="cpu")
    ap.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, SYMBP_CACHE_DIR=cache)
        out = subprocess.run([sys.executable, "-c", CHILD, args.target, args.dtype, SPEC],
                             env=env, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"the profiled child process failed:\n{out.stderr}")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"config ii, {args.target}, {args.dtype}, cold (empty cache): import "
          f"{r['import']:.2f} s, compile_spec {r['load']:.2f} s, first calls "
          f"{r['first_calls']:.2f} s")
    rows = sorted(r["table"].items(), key=lambda kv: -sum(kv[1].values()))
    print(f"{'function':<16}{'total':>8}" + "".join(f"{c:>10}" for c in COLUMNS))
    sums = dict.fromkeys(COLUMNS, 0.0)
    for name, cols in rows:
        total = sum(cols.values())
        if total < 0.005:
            continue
        print(f"{name:<16}{total:>8.3f}" + "".join(f"{cols.get(c, 0.0):>10.3f}" for c in COLUMNS))
        for c in COLUMNS:
            sums[c] += cols.get(c, 0.0)
    print(f"{'all':<16}{sum(sums.values()):>8.3f}" + "".join(f"{sums[c]:>10.3f}" for c in COLUMNS))


if __name__ == "__main__":
    main()
