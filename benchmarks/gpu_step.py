"""Benchmark one MLP training step on a GPU: symbp's cuda target against PyTorch and JAX.

Usage::

    python benchmarks/gpu_step.py [--configs i,ii,iii,iv] [--dtype float64|float32|both]
                                  [--repeats N] [--block S] [--scaled] [--json PATH]

Contract:
  * The same configs, data, parameters, gradient checks and timing as ``train_step.py``
    (``harness.run_config``), all implementations in this one process (a GPU run is not slowed
    by another library's CPU thread pool the way the CPU rows are).
  * Rows: ``symbp cuda`` (a :class:`~symbp.runtime_cuda.DeviceSession` with the data already on
    the device: ``step`` launches the kernels of one step and reads the loss back, so it
    synchronises once per step) and ``symbp cuda [loop]`` (``train_epochs`` full batch, n
    steps per call); the peers ``torch cuda`` (eager; matmuls in true float32, PyTorch's
    default) and ``jax gpu`` (``jit`` and ``fori_loop``, float32 matmul precision set to
    "highest" so that both compute in float32, not TF32); and ``symbp cpu`` on the host for
    reference (not a peer). A missing GPU, PyTorch build or JAX backend makes its row say so.
  * Ratios are against the fastest peer of the same config and dtype.
  * ``--scaled`` shrinks every config to at most 16 units and 32 rows: a smoke run, for Numba's
    CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``), which runs each thread in Python.
  * Exit status 1 when a gradient check fails.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

if __package__ in (None, ""):          # run as a script: make `benchmarks` and `symbp` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from benchmarks import harness  # noqa: E402
from benchmarks.configs import CONFIGS, get_config  # noqa: E402
from benchmarks.peers import ImplUnavailable, JaxImpl, TorchImpl, _import_jax  # noqa: E402
from benchmarks.symbp_impls import SymbpImpl, spec_text  # noqa: E402


class SymbpCudaImpl:
    """symbp's cuda target: parameters and data resident on the device (a DeviceSession)."""

    def __init__(self, cfg, dtype) -> None:
        from symbp.runtime import compile_spec
        from symbp.runtime_cuda import CudaUnavailable

        try:
            self.model = compile_spec(spec_text(cfg), "cuda", np.dtype(dtype).name)
        except CudaUnavailable as exc:
            raise ImplUnavailable(str(exc)) from exc
        from numba import cuda

        self.cuda = cuda
        self.names = self.model.param_names
        self.loop_name = "symbp cuda [loop]"
        self.info = "DeviceSession.step, data on the device; [loop] = train_epochs, full batch"

    def loss_and_grad(self, params, X, Y):
        return self.model.loss_and_grad(params, X, Y)

    def prepare(self, params, X, Y):
        p = {k: np.ascontiguousarray(v, dtype=self.model.dtype) for k, v in params.items()}
        session = self.model.to_device(p)
        x, y = session._xy(X, Y, step=True)
        return session, self.cuda.to_device(x), self.cuda.to_device(y)

    def step(self, session, X, Y, lr):
        session.step(X, Y, lr=lr)
        return session

    def run_steps(self, session, X, Y, lr, n):
        r = session.train_epochs(X, Y, lr=lr, batch_size=X.shape[0], n_epochs=int(n))
        if r.nonfinite is not None:
            raise FloatingPointError(f"non-finite values: {r.nonfinite}")
        return session

    def sync(self, session) -> None:
        self.cuda.synchronize()

    def to_numpy(self, session):
        return {k: v.copy() for k, v in session.params.items()}


class TorchCudaImpl(TorchImpl):
    """PyTorch eager on the GPU (the CPU peer's step, tensors on ``cuda``)."""

    def __init__(self, cfg, dtype) -> None:
        super().__init__(cfg, dtype)
        if not self.torch.cuda.is_available():
            raise ImplUnavailable("no CUDA build of torch or no GPU")
        self.info = (f"torch {self.torch.__version__}, {self.torch.cuda.get_device_name()}, "
                     f"tf32 matmul {self.torch.backends.cuda.matmul.allow_tf32}")

    def prepare(self, params, X, Y):
        p, x, y = super().prepare(params, X, Y)
        return ({k: v.detach().cuda().requires_grad_(True) for k, v in p.items()},
                x.cuda(), y.cuda())

    def sync(self, params) -> None:
        self.torch.cuda.synchronize()

    def loss_and_grad(self, params, X, Y):
        tp, tX, tY = self.prepare(params, X, Y)
        loss = self._loss(tp, tX, tY)
        grads = self.torch.autograd.grad(loss, list(tp.values()))
        return float(loss.item()), {k: g.cpu().numpy().copy() for k, g in zip(tp, grads)}

    def to_numpy(self, params):
        return {k: v.detach().cpu().numpy().copy() for k, v in params.items()}


def jax_gpu(cfg, dtype):
    """JAX's peer on its GPU backend, float32 products in float32."""
    jax = _import_jax()
    if jax.default_backend() != "gpu":
        raise ImplUnavailable(f"jax has no GPU backend here ({jax.default_backend()})")
    jax.config.update("jax_default_matmul_precision", "highest")
    return JaxImpl(cfg, dtype)


def symbp_cpu_host(cfg, dtype):
    """symbp's cpu target on the GPU machine's own cores (a reference row, not a peer)."""
    impl = SymbpImpl(cfg, dtype, "cpu")
    impl.loop_name = "symbp cpu (host) [loop]"
    return impl


IMPLS = {
    "symbp cuda": (SymbpCudaImpl, False),
    "torch cuda": (TorchCudaImpl, True),
    "jax gpu": (jax_gpu, True),
    "symbp cpu (host)": (symbp_cpu_host, False),
}


def _scaled(cfg):
    return cfg.scaled(sizes=tuple(min(d, 16) for d in cfg.sizes), batch=min(cfg.batch, 32))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--dtype", default="both", choices=["float64", "float32", "both"])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--block", type=float, default=0.1, help="seconds per timed block")
    ap.add_argument("--impls", default=",".join(IMPLS), help="comma-separated row names")
    ap.add_argument("--scaled", action="store_true", help="tiny configs (simulator smoke run)")
    ap.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = ap.parse_args(argv)
    names = [n.strip() for n in args.impls.split(",") if n.strip()]
    unknown = sorted(set(names) - set(IMPLS))
    if unknown:
        ap.error(f"--impls: unknown {', '.join(unknown)} (choose from {', '.join(IMPLS)})")
    for name in names:
        factory, peer = IMPLS[name]
        harness.register_impl(name, factory, peer=peer, replace=True)
    dtypes = ["float64", "float32"] if args.dtype == "both" else [args.dtype]
    results = []
    for key in args.configs.split(","):
        cfg = get_config(key.strip())
        if args.scaled:
            cfg = _scaled(cfg)
        for dtype in dtypes:
            results += harness.run_config(cfg, dtype, repeats=args.repeats, block_s=args.block,
                                          names=names)
    print()
    print(harness.format_table(results))
    infos = sorted({f"{r.name}: {r.info}" for r in results if r.info and r.seconds is not None})
    if infos:
        print("\n" + "\n".join(infos))
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in results], indent=1))
    return 1 if any(r.status.startswith("FAILED") for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
