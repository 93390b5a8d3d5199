"""Benchmark harness: implementation registry, gradient-equality check, timing, GEMM, table.

Contract:
  * ``register_impl(name, factory)`` adds an implementation.  ``factory(cfg, dtype)`` gets a
    :class:`configs.Config` and a NumPy dtype (``np.float64`` or ``np.float32``) and returns an
    object following the protocol in ``peers`` (``loss_and_grad(params, X, Y)``,
    ``step(params, X, Y, lr)``, optional ``run_steps(params, X, Y, lr, n)``, ``prepare``,
    ``sync``, ``to_numpy``, ``info``, ``loop_name``), or raises ``peers.ImplUnavailable``.
    The peers (NumPy, PyTorch, JAX) are registered with ``peer=True``; everything else (symbp's
    targets) is compared against the fastest peer.
  * Before any timing, every implementation's loss and gradients are checked against the NumPy
    float64 reference (whose code is itself checked against a central finite difference in a
    random direction, on a shrunken copy of the config), and one ``step`` is checked against
    ``p - lr * grad``.  Tolerances: ``rtol = 1e-6`` (float64, elementwise, with
    ``atol = rtol * max|reference|``) and ``1e-3`` (float32, normwise per parameter: see
    ``_compare``).  An implementation that fails is reported, not timed.
  * Timing: warm-up calls first (compilation excluded), then ``repeats`` timed blocks, each of
    ``inner`` steps on fresh copies of the same initial parameters; a block lasts about
    ``block_s`` seconds.  The figure is the median over blocks of block time / ``inner``.
    ``run_steps`` is timed the same way with one call per block (shown as ``<name> [loop]``).
"""
from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .configs import Config, copy_params, init_params, make_data
from .peers import PEERS, ImplUnavailable, NumpyImpl

RTOL = {np.dtype(np.float64): 1e-6, np.dtype(np.float32): 1e-3}


# ---------------------------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------------------------

@dataclass
class Entry:
    """A registered implementation."""

    name: str
    factory: Callable
    peer: bool


_REGISTRY: dict[str, Entry] = {}


def register_impl(name: str, factory: Callable, *, peer: bool = False,
                  replace: bool = False) -> None:
    """Register ``factory(cfg, dtype) -> impl`` under ``name`` (shown in the table).

    Args:
        name: row label, e.g. ``"symbp cpu"``; its ``run_steps`` row is ``"<name> [loop]"``
            unless the impl sets ``loop_name``.
        factory: called once per (config, dtype); may raise ``ImplUnavailable``.
        peer: True for the reference peers (they define "fastest peer").
        replace: allow re-registering an existing name.

    Raises:
        ValueError: ``name`` already registered and ``replace`` is false.
    """
    if name in _REGISTRY and not replace:
        raise ValueError(f"implementation {name!r} already registered")
    _REGISTRY[name] = Entry(name, factory, peer)


def unregister_impl(name: str) -> None:
    """Remove a registered implementation (no error if absent)."""
    _REGISTRY.pop(name, None)


def registered() -> list[Entry]:
    """Registered implementations, in registration order."""
    return list(_REGISTRY.values())


def register_peers() -> None:
    """Register the NumPy / PyTorch / JAX peers (idempotent)."""
    for name, factory in PEERS.items():
        if name not in _REGISTRY:
            register_impl(name, factory, peer=True)


# ---------------------------------------------------------------------------------------------
# Gradient equality
# ---------------------------------------------------------------------------------------------

class GradientMismatch(AssertionError):
    """An implementation's loss, gradients or update differ from the reference."""


def _compare(what: str, got: np.ndarray, ref: np.ndarray, rtol: float,
             normwise: bool = False) -> float:
    """Relative error of ``got`` against ``ref``; raises GradientMismatch beyond ``rtol``.

    Elementwise (default): ``|got - ref| <= rtol * (|ref| + max|ref|)`` everywhere; the error
    returned is ``max|got - ref| / max|ref|``.  ``normwise``: ``||got - ref|| / ||ref|| <= rtol``
    (Frobenius), used for float32, where rounding can flip a ReLU unit sitting at ``z ~ 0`` and
    change a few gradient entries completely while every real bug (a factor, a sign, a
    transpose, a missing term) still moves the norm.
    """
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if got.shape != ref.shape:
        raise GradientMismatch(f"{what}: shape {got.shape} != reference {ref.shape}")
    if not np.all(np.isfinite(got)):
        raise GradientMismatch(f"{what}: non-finite values")
    if ref.size == 0:
        return 0.0
    diff = np.abs(got - ref)
    if normwise:
        err = float(np.linalg.norm(diff) / max(float(np.linalg.norm(ref)), 1e-300))
        if err > rtol:
            raise GradientMismatch(f"{what}: normwise rel err {err:.2e} > {rtol:g}")
        return err
    scale = max(float(np.max(np.abs(ref))), 1e-300)
    err = float(np.max(diff)) / scale
    bad = ~(diff <= rtol * scale + rtol * np.abs(ref))
    if bad.any():
        idx = np.unravel_index(int(np.argmax(bad)), bad.shape) if bad.ndim else ()
        raise GradientMismatch(f"{what}: max rel err {err:.2e} > {rtol:g}, first bad at "
                               f"{tuple(int(i) for i in idx)}: {float(got[idx])!r} vs "
                               f"reference {float(ref[idx])!r}")
    return err


def reference_loss_and_grad(cfg: Config, params, X, Y):
    """NumPy float64 loss and gradients at (float64 copies of) the given point."""
    p64 = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    return NumpyImpl(cfg, np.float64).loss_and_grad(p64, np.asarray(X, np.float64),
                                                    np.asarray(Y, np.float64))


def check_reference_fd(cfg: Config, params, X, Y, eps: float = 1e-6, seed: int = 0) -> float:
    """Check the NumPy reference against a central difference in one random direction.

    Returns the relative error of the directional derivative; raises GradientMismatch if it
    exceeds 1e-5.
    """
    rng = np.random.default_rng(seed)
    p64 = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    X64, Y64 = np.asarray(X, np.float64), np.asarray(Y, np.float64)
    ref = NumpyImpl(cfg, np.float64)
    _, grads = ref.loss_and_grad(p64, X64, Y64)
    direction = {k: rng.standard_normal(v.shape) for k, v in p64.items()}
    analytic = sum(float(np.sum(grads[k] * direction[k])) for k in p64)
    plus = {k: p64[k] + eps * direction[k] for k in p64}
    minus = {k: p64[k] - eps * direction[k] for k in p64}
    numeric = (ref.loss_and_grad(plus, X64, Y64)[0]
               - ref.loss_and_grad(minus, X64, Y64)[0]) / (2 * eps)
    err = abs(analytic - numeric) / max(abs(analytic), abs(numeric), 1e-12)
    if err > 1e-5:
        raise GradientMismatch(f"config {cfg.key}: NumPy reference vs finite difference: "
                               f"{analytic!r} vs {numeric!r} (rel err {err:.2e})")
    return err


def check_impl(cfg: Config, dtype, impl, params, X, Y, ref=None) -> float:
    """Assert ``impl``'s loss, gradients and one SGD step equal the float64 NumPy reference.

    Returns the largest relative error seen; raises GradientMismatch otherwise.
    """
    rtol = RTOL[np.dtype(dtype)]
    normwise = np.dtype(dtype) != np.float64
    ref_loss, ref_grads = ref if ref is not None else reference_loss_and_grad(cfg, params, X, Y)
    loss, grads = impl.loss_and_grad(copy_params(params), X.copy(), Y.copy())
    errs = [_compare("loss", np.asarray(loss), np.asarray(ref_loss), rtol)]
    missing = set(ref_grads) - set(grads)
    if missing:
        raise GradientMismatch(f"gradients missing for {sorted(missing)}")
    for k in cfg.param_names:
        errs.append(_compare(f"d{k}", grads[k], ref_grads[k], rtol, normwise))
    # one step must be p - lr * grad: compare the update itself, so the tolerance scales with
    # lr * grad, not with p
    p, x, y = _prepare(impl, params, X, Y)
    p = impl.step(p, x, y, cfg.lr)
    _sync(impl, p)
    after = _to_numpy(impl, p)
    for k in cfg.param_names:
        p0 = np.asarray(params[k], np.float64)
        errs.append(_compare(f"step {k}", np.asarray(after[k], np.float64) - p0,
                             -cfg.lr * ref_grads[k], _step_tol(dtype), normwise))
    return max(errs)


def _step_tol(dtype) -> float:
    # p_new - p loses digits to cancellation when |lr * g| << |p| (float32: eps * |p| / |lr g|);
    # the update check is a sanity check that the step is SGD with the right sign and lr.
    return 1e-6 if np.dtype(dtype) == np.float64 else 2e-2


# ---------------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------------

def _prepare(impl, params, X, Y):
    if hasattr(impl, "prepare"):
        return impl.prepare(copy_params(params), X.copy(), Y.copy())
    return copy_params(params), X.copy(), Y.copy()


def _sync(impl, p) -> None:
    if hasattr(impl, "sync"):
        impl.sync(p)


def _to_numpy(impl, p):
    if hasattr(impl, "to_numpy"):
        return impl.to_numpy(p)
    return {k: np.asarray(v) for k, v in p.items()}


def time_steps(impl, params, X, Y, lr: float, *, loop: bool = False, repeats: int = 5,
               block_s: float = 0.1, warmup: int = 2) -> float:
    """Median seconds per training step of ``impl.step`` (or ``impl.run_steps`` if ``loop``)."""
    p, x, y = _prepare(impl, params, X, Y)
    if loop:
        p = impl.run_steps(p, x, y, lr, 1)           # compile / first call
        _sync(impl, p)
        t0 = time.perf_counter()
        p = impl.run_steps(p, x, y, lr, 1)
        _sync(impl, p)
        one = time.perf_counter() - t0
    else:
        for _ in range(warmup):
            p = impl.step(p, x, y, lr)
        _sync(impl, p)
        t0 = time.perf_counter()
        p = impl.step(p, x, y, lr)
        _sync(impl, p)
        one = time.perf_counter() - t0
    inner = max(1, min(100_000, int(math.ceil(block_s / max(one, 1e-7)))))
    if loop:   # recalibrate with a real loop (per-call overhead dominates n = 1), then warm up
        p = impl.run_steps(p, x, y, lr, inner)
        _sync(impl, p)
        t0 = time.perf_counter()
        p = impl.run_steps(p, x, y, lr, inner)
        _sync(impl, p)
        per = (time.perf_counter() - t0) / inner
        inner = max(1, min(1_000_000, int(math.ceil(block_s / max(per, 1e-8)))))
        p = impl.run_steps(p, x, y, lr, inner)        # warm (JAX compiles per n)
        _sync(impl, p)
    times = []
    for _ in range(repeats):
        p, x, y = _prepare(impl, params, X, Y)
        _sync(impl, p)
        t0 = time.perf_counter()
        if loop:
            p = impl.run_steps(p, x, y, lr, inner)
        else:
            for _ in range(inner):
                p = impl.step(p, x, y, lr)
        _sync(impl, p)
        times.append((time.perf_counter() - t0) / inner)
    return statistics.median(times)


def gemm_gflops(dtype, n: int = 2048, repeats: int = 5) -> float:
    """Median GFLOP/s of ``np.dot`` on two ``n x n`` matrices of ``dtype`` (2 n^3 FLOPs)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    out = np.empty((n, n), dtype=dtype)
    np.dot(a, b, out=out)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.dot(a, b, out=out)
        times.append(time.perf_counter() - t0)
    return 2.0 * n ** 3 / statistics.median(times) / 1e9


# ---------------------------------------------------------------------------------------------
# Running and reporting
# ---------------------------------------------------------------------------------------------

@dataclass
class Result:
    """One table row."""

    config: str
    dtype: str
    name: str
    peer: bool
    seconds: float | None = None          # per step; None if not timed
    status: str = "ok"                    # "ok", "not installed", "FAILED check: ...", ...
    info: str = ""
    max_err: float | None = None
    extra: dict = field(default_factory=dict)


def run_config(cfg: Config, dtype, *, repeats: int = 5, block_s: float = 0.1,
               names: list[str] | None = None, log=print) -> list[Result]:
    """Check and time every registered implementation on one config and dtype."""
    dtype = np.dtype(dtype)
    X, Y = make_data(cfg, dtype)
    params = init_params(cfg, dtype)
    # the reference's code path, checked on a shrunken copy of the config: at full size a random
    # direction crosses many ReLU kinks and the central difference itself is wrong
    small = cfg.scaled(sizes=tuple(min(d, 12) for d in cfg.sizes), batch=min(cfg.batch, 8))
    sX, sY = make_data(small, np.float64)
    check_reference_fd(small, init_params(small, np.float64), sX, sY)
    ref = reference_loss_and_grad(cfg, params, X, Y)
    results: list[Result] = []
    for entry in registered():
        if names is not None and entry.name not in names:
            continue
        row = dict(config=cfg.key, dtype=dtype.name, peer=entry.peer)
        try:
            impl = entry.factory(cfg, dtype)
        except ImplUnavailable as exc:
            results.append(Result(name=entry.name, status=str(exc), **row))
            continue
        info = getattr(impl, "info", "")
        try:
            err = check_impl(cfg, dtype, impl, params, X, Y, ref=ref)
        except GradientMismatch as exc:
            log(f"  [{cfg.key} {dtype.name}] {entry.name}: gradient check FAILED: {exc}")
            results.append(Result(name=entry.name, status="FAILED check", info=str(exc), **row))
            continue
        modes = [(entry.name, False)]
        if hasattr(impl, "run_steps"):
            modes.append((getattr(impl, "loop_name", f"{entry.name} [loop]"), True))
        for label, loop in modes:
            t = time_steps(impl, params, X, Y, cfg.lr, loop=loop, repeats=repeats,
                           block_s=block_s)
            log(f"  [{cfg.key} {dtype.name}] {label:<24} {t * 1e6:12.1f} us/step  "
                f"(grad err {err:.1e})")
            results.append(Result(name=label, seconds=t, info=info, max_err=err, **row))
    return results


def fastest_peer(results: list[Result], config: str, dtype: str) -> float | None:
    """Fastest timed peer (any mode) for one config and dtype."""
    times = [r.seconds for r in results
             if r.peer and r.seconds is not None and r.config == config and r.dtype == dtype]
    return min(times) if times else None


def format_table(results: list[Result]) -> str:
    """The table: config, dtype, implementation, us/step, ratio to the fastest peer; with
    several rounds (``extra["rounds"]``, train_step.py ``--rounds``) us/step is their median
    and a last column gives their range."""
    spread = any(len(r.extra.get("rounds", ())) > 1 for r in results)
    head = f"{'config':<7}{'dtype':<9}{'implementation':<28}{'us/step':>13}{'ratio':>9}"
    if spread:
        head += f"{'rounds: min-max us':>24}"
    lines = [head, "-" * len(head)]
    prev = None
    for r in results:
        key = (r.config, r.dtype)
        if prev is not None and key != prev:
            lines.append("")
        prev = key
        if r.seconds is None:
            lines.append(f"{r.config:<7}{r.dtype:<9}{r.name:<28}{r.status:>22}")
            continue
        best = fastest_peer(results, r.config, r.dtype)
        ratio = f"{r.seconds / best:9.2f}" if best else f"{'-':>9}"
        line = f"{r.config:<7}{r.dtype:<9}{r.name:<28}{r.seconds * 1e6:13.1f}{ratio}"
        times = [t for t in r.extra.get("rounds", ()) if t is not None]
        if spread and len(times) > 1:
            line += f"{f'{min(times) * 1e6:.1f}-{max(times) * 1e6:.1f}':>24}"
        lines.append(line)
    return "\n".join(lines)
