"""Benchmark one MLP training step (forward, loss, backward, SGD update): symbp against peers.

Usage::

    python benchmarks/train_step.py [--configs i,ii,iii,iv] [--dtype float64|float32|both]
                                    [--repeats N] [--rounds R] [--quick] [--target-accuracy 0.96]
                                    [--no-digits] [--no-startup] [--no-derive]
                                    [--impls NAME,...] [--threads N]
                                    [--no-isolate] [--json PATH]

Contract:
  * Prints the machine's GEMM throughput (``np.dot`` 2048x2048, float64 and float32), then one
    table: for each config (see ``configs.py``) and dtype, every registered implementation's
    median warm time per step in microseconds and its ratio to the fastest peer; then config
    (iv)'s achieved GFLOP/s as a fraction of GEMM; then seconds to a target test accuracy on
    scikit-learn's digits (config ii's network) for MLPClassifier and the implementations;
    then config ii's cold and warm start times (``compile_times.py``, fresh processes) and
    derivation time against depth and width (``derive_scaling.py``), unless ``--no-startup``
    / ``--no-derive``.
  * Peers: hand-written NumPy (always), PyTorch eager and JAX jit / fori_loop when installed
    (otherwise the row says "... not installed" and the run goes on).
  * symbp's implementations come in through :func:`load_symbp_impls` (see its docstring).
  * Each implementation runs in its own worker process (``--worker NAME``, results back as
    JSON), so one library's spinning thread pool cannot slow the next one down; implementations
    registered only from a calling script (not via the hook) need ``--no-isolate``/``main()``
    in that process.
  * Every implementation's loss, gradients and one update are checked equal to the NumPy
    float64 reference before it is timed; a failure is shown in the table and makes the script
    exit with status 1.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):          # run as a script: make `benchmarks` and `symbp` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from benchmarks import harness  # noqa: E402
from benchmarks.configs import CONFIGS, get_config  # noqa: E402
from benchmarks.peers import ImplUnavailable  # noqa: E402


def load_symbp_impls(verbose: bool = True) -> list[str]:
    """Register symbp's own implementations with the harness; return the names registered.

    The hook imports ``symbp.runtime``.  If that module does not exist yet, it prints a note
    and registers nothing.  If it exists and defines ``benchmark_factories()``, that function
    must return ``{name: factory}`` where ``factory(cfg, dtype)`` builds an object with
    ``loss_and_grad(params, X, Y)``, ``step(params, X, Y, lr)`` and optionally
    ``run_steps(params, X, Y, lr, n)`` (the protocol in ``benchmarks/peers.py``); e.g.
    ``{"symbp cpu": ..., "symbp parallel": ...}``.  Otherwise the factories of
    ``benchmarks/symbp_impls.py`` (``symbp cpu``, ``symbp parallel``) are registered.
    """
    try:
        import symbp.runtime as runtime  # noqa: F401
    except ModuleNotFoundError as exc:
        if verbose:
            if exc.name in ("symbp", "symbp.runtime"):
                print("note: symbp.runtime does not exist yet; symbp rows skipped (peers only)")
            else:
                print(f"warning: importing symbp.runtime failed ({exc}); symbp rows skipped")
        return []
    except Exception as exc:  # a broken symbp must not take the peer table down with it
        if verbose:
            print(f"warning: importing symbp.runtime failed ({type(exc).__name__}: {exc}); "
                  "symbp rows skipped")
        return []
    factories = getattr(runtime, "benchmark_factories", None)
    if factories is None:            # the adapter that lives with the benchmark
        from benchmarks import symbp_impls

        factories = symbp_impls.factories
    names = []
    for name, factory in factories().items():
        harness.register_impl(name, factory, replace=True)
        names.append(name)
    return names


def _parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--configs", default=",".join(CONFIGS),
                    help="comma-separated config keys (default: all: %(default)s)")
    ap.add_argument("--dtype", default="both", choices=["float64", "float32", "both"])
    ap.add_argument("--repeats", type=int, default=None,
                    help="timed blocks per implementation (default 7, --quick 3)")
    ap.add_argument("--block", type=float, default=None,
                    help="seconds per timed block (default 0.1, --quick 0.02)")
    ap.add_argument("--quick", action="store_true", help="fewer, shorter timing blocks")
    ap.add_argument("--rounds", type=int, default=1,
                    help="run every worker this many times, each round in a rotated order, and "
                         "report each row's median over the rounds with its range (default "
                         "%(default)s; a shared machine's speed drifts for minutes at a time, "
                         "and rounds keep a slow spell from landing on one implementation)")
    ap.add_argument("--impls", default=None, help="comma-separated implementation names")
    ap.add_argument("--target-accuracy", type=float, default=0.96,
                    help="digits test accuracy to reach (default %(default)s)")
    ap.add_argument("--no-digits", action="store_true", help="skip the digits fit")
    ap.add_argument("--no-startup", action="store_true",
                    help="skip the cold and warm start times (benchmarks/compile_times.py, "
                         "config ii, cpu target, each in a fresh process)")
    ap.add_argument("--no-derive", action="store_true",
                    help="skip derivation time against depth and width "
                         "(benchmarks/derive_scaling.py)")
    ap.add_argument("--no-isolate", action="store_true",
                    help="run all implementations in this process (default: one subprocess "
                         "each, so one library's idle worker threads cannot slow another's)")
    ap.add_argument("--threads", type=int, default=None,
                    help="cap BLAS / OpenMP / Numba threads in the worker processes "
                         "(sets OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, MKL_NUM_THREADS, "
                         "NUMBA_NUM_THREADS, and for 1 also XLA_FLAGS; default: the "
                         "libraries' own defaults)")
    ap.add_argument("--json", default=None, help="also write all results to this JSON file")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def _machine_line(threads) -> str:
    threads = threads or os.environ.get("OMP_NUM_THREADS", "default")
    return (f"machine: {platform.machine()}, {os.cpu_count()} cpus, "
            f"python {platform.python_version()}, numpy {np.__version__}, "
            f"threads {threads}, load average {os.getloadavg()[0]:.2f}")


THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def _worker_env(threads) -> dict:
    """Environment for worker processes, with thread caps when ``threads`` is set."""
    env = dict(os.environ)
    if threads:
        for var in THREAD_VARS:
            env[var] = str(threads)
        if threads == 1:   # XLA's CPU backend has no thread-count knob, only on/off
            flags = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
            env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " " + flags).strip()
    return env


def _gemm() -> dict:
    """``{dtype name: GFLOP/s}`` of np.dot 2048x2048, float64 and float32."""
    return {np.dtype(dt).name: harness.gemm_gflops(dt) for dt in (np.float64, np.float32)}


def _gemm_in_worker(threads) -> dict:
    """GEMM figures measured in a worker process under the same thread caps as the workers."""
    code = ("import json, sys; sys.path.insert(0, sys.argv[1]); "
            "from benchmarks.train_step import _gemm; print(json.dumps(_gemm()))")
    root = str(Path(__file__).resolve().parents[1])
    out = subprocess.run([sys.executable, "-c", code, root], env=_worker_env(threads),
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _run_impls(entries, cfgs, dtypes, repeats, block_s, digits_target) -> list:
    """Check and time ``entries`` in this process; digits fit if ``digits_target``."""
    results: list[harness.Result] = []
    names = [e.name for e in entries]
    for cfg in cfgs:
        for dt in dtypes:
            results += harness.run_config(cfg, dt, repeats=repeats, block_s=block_s, names=names)
    if digits_target is not None:
        results += _digits_rows(entries, digits_target, results)
    return results


def merge_rounds(rounds: list[list]) -> list:
    """One row per (config, dtype, implementation): the median time over the rounds, the
    rounds' times in ``extra["rounds"]``; a row that failed or was skipped in any round keeps
    that status (digits rows come from the first round only)."""
    if len(rounds) == 1:
        return rounds[0]
    merged: dict = {}
    for rows in rounds:
        for row in rows:
            key = (row.config, row.dtype, row.name, row.status == "digits")
            first = merged.setdefault(key, row)
            if row.status == "digits" or first is row:
                first.extra.setdefault("rounds", []).append(row.seconds)
                continue
            if row.status != "ok" and first.status == "ok":
                row.extra = first.extra
                merged[key] = first = row
            first.extra.setdefault("rounds", []).append(row.seconds)
    for row in merged.values():
        times = [t for t in row.extra.get("rounds", []) if t is not None]
        if row.status == "ok" and times:
            row.seconds = float(np.median(times))
    return list(merged.values())


def _run_worker(entry, args, repeats, block_s, digits: bool = True) -> list:
    """Run one implementation in a fresh interpreter; its results come back as JSON."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "results.json")
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", entry.name,
               "--configs", args.configs, "--dtype", args.dtype, "--repeats", str(repeats),
               "--block", str(block_s), "--target-accuracy", str(args.target_accuracy),
               "--json", out]
        if args.no_digits or not digits:
            cmd.append("--no-digits")
        proc = subprocess.run(cmd, env=_worker_env(args.threads))
        if proc.returncode not in (0, 1) or not os.path.exists(out):
            print(f"  {entry.name}: worker failed (exit status {proc.returncode})")
            return [harness.Result(config=k, dtype="-", name=entry.name, peer=entry.peer,
                                   status=f"worker failed ({proc.returncode})")
                    for k in args.configs.split(",")]
        with open(out) as fh:
            return [harness.Result(**row) for row in json.load(fh)["results"]]


def main(argv=None) -> int:
    args = _parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 7)
    block_s = args.block or (0.02 if args.quick else 0.1)
    cfgs = [get_config(k.strip()) for k in args.configs.split(",") if k.strip()]
    dtypes = [np.float64, np.float32] if args.dtype == "both" else [np.dtype(args.dtype).type]
    digits_target = None if args.no_digits else args.target_accuracy
    harness.register_peers()

    if args.worker:                      # child process: one implementation, results to JSON
        load_symbp_impls(verbose=False)
        entries = [e for e in harness.registered() if e.name == args.worker]
        results = _run_impls(entries, cfgs, dtypes, repeats, block_s, digits_target)
        with open(args.json, "w") as fh:
            json.dump({"results": [r.__dict__ for r in results]}, fh, default=str)
        return 0

    print(_machine_line(args.threads))
    if os.getloadavg()[0] > 0.5:
        print("warning: the machine is busy (load average > 0.5): timings will be noisy, and "
              "multi-threaded BLAS / OpenMP can slow down by 10-100x when a core is taken")
    load_symbp_impls()
    names = [n.strip() for n in args.impls.split(",")] if args.impls else None
    entries = [e for e in harness.registered() if names is None or e.name in names]

    gemm = _gemm() if args.no_isolate else _gemm_in_worker(args.threads)
    print("GEMM np.dot 2048x2048: " + ", ".join(f"{k} {v:.1f} GFLOP/s" for k, v in gemm.items()))
    rounds = "" if args.no_isolate or args.rounds <= 1 else f", {args.rounds} rounds"
    print(f"timing: median of {repeats} blocks of ~{block_s * 1e3:.0f} ms, warm; "
          f"{'all in this process' if args.no_isolate else 'one process per implementation'}"
          f"{rounds}")

    if args.threads and args.no_isolate:
        print("note: --threads applies to worker processes only; ignored with --no-isolate")
    if args.no_isolate:
        results = _run_impls(entries, cfgs, dtypes, repeats, block_s, digits_target)
    else:
        rounds = []
        for r in range(max(1, args.rounds)):
            k = r % len(entries) if entries else 0
            ordered = entries[k:] + entries[:k]
            rounds.append([row for entry in ordered
                           for row in _run_worker(entry, args, repeats, block_s,
                                                  digits=r == 0)])
        results = merge_rounds(rounds)
    order = {k: i for i, k in enumerate(c.key for c in cfgs)}
    dorder = {"float64": 0, "float32": 1}
    timed = sorted((r for r in results if r.status != "digits"),
                   key=lambda r: (order.get(r.config, 99), dorder.get(r.dtype, 9)))

    print()
    print(harness.format_table(timed))
    print()
    infos = {r.name.split(" [")[0]: r.info for r in timed if r.status == "ok" and r.info}
    for name, info in infos.items():
        print(f"  {name}: {info}")

    big = [r for r in timed if r.config == "iv" and r.seconds is not None]
    if big:
        flops = get_config("iv").flops_per_step()
        print()
        print(f"config iv: {flops / 1e9:.2f} GFLOP per step (matrix products only)")
        for r in big:
            gf = flops / r.seconds / 1e9
            print(f"  {r.dtype:<8} {r.name:<28} {gf:7.1f} GFLOP/s = "
                  f"{gf / gemm[r.dtype]:5.0%} of GEMM")

    if digits_target is not None:
        print()
        _print_digits(digits_target, [r for r in results if r.status == "digits"])

    if not args.no_startup:
        from benchmarks import compile_times

        print("\nstart-up, config ii (python benchmarks/compile_times.py --targets cpu "
              "--dtypes float64 float32):")
        compile_times.main(["--targets", "cpu", "--dtypes", "float64", "float32"])
    if not args.no_derive:
        from benchmarks import derive_scaling

        print("\nderivation (python -m benchmarks.derive_scaling --repeats 1):")
        derive_scaling.main(["--repeats", "1"])

    failed = [r for r in timed if r.status == "FAILED check"]
    for r in failed:
        print(f"FAILED: {r.config} {r.dtype} {r.name}: {r.info}")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"gemm_gflops": gemm, "results": [r.__dict__ for r in results]}, fh,
                      indent=1, default=str)
    return 1 if failed else 0


def _digits_rows(entries, target: float, timed) -> list:
    """Digits time-to-accuracy rows (float64, config ii's net) for ``entries``."""
    from benchmarks import digits

    failed = {r.name for r in timed if r.status == "FAILED check" and r.config == "ii"}
    rows = []
    for entry in entries:
        if entry.name in failed:
            continue
        try:
            impl = entry.factory(get_config("ii"), np.float64)
        except ImplUnavailable:
            continue
        r = digits.impl_time_to_accuracy(impl, np.float64, target)
        rows.append(harness.Result(config="digits", dtype="float64", name=entry.name,
                                   peer=entry.peer, status="digits", extra=r))
    return rows


def _print_digits(target: float, rows) -> None:
    """Print seconds of training to ``target`` test accuracy, MLPClassifier first."""
    try:
        from benchmarks import digits
        sk = digits.sklearn_time_to_accuracy(target)
    except ImportError as exc:
        print(f"digits: scikit-learn not available ({exc}); skipped")
        return
    print(f"digits (config ii net, float64, SGD lr 0.1, batch 128, no momentum): "
          f"training seconds to test accuracy >= {target}")
    for name, r in [("sklearn MLPClassifier", sk)] + [(row.name, row.extra) for row in rows]:
        status = "" if r["reached"] else "  (target NOT reached)"
        print(f"  {name:<28} {r['seconds']:8.3f} s  {r['epochs']:4d} epochs  "
              f"acc {r['accuracy']:.4f}{status}")


if __name__ == "__main__":
    sys.exit(main())
