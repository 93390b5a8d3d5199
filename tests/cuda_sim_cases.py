"""The cuda target against the cpu target, run by tests/test_cuda_sim.py in a child pytest process.

CI has no GPU: the child sets ``NUMBA_ENABLE_CUDASIM=1`` so Numba's CUDA simulator runs the
generated kernels on the CPU (the variable must be set before Numba is imported, hence the
separate process: it would turn every cuda kernel of the main test run into simulated ones). On a
machine with a GPU the same file runs the kernels on the device (``bash .ci/gpu-check``, or
``python -m pytest tests/cuda_sim_cases.py``; all pass on an H200). Sizes are tiny (2-3-2 nets,
10 rows): the simulator runs each thread as a Python thread.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from numba import config, cuda

from symbp.runtime import compile_derivation
from symbp.runtime_cuda import require_cuda

try:
    from . import codegen_util as cu
except ImportError:
    import codegen_util as cu

require_cuda()  # fails loudly (not a skip) when neither a GPU nor the simulator is there

if config.ENABLE_CUDASIM:
    # The simulator's block manager polls its threads for syncthreads() in a loop that holds the
    # GIL; with the default 5 ms switch interval each barrier of the tiled kernels costs
    # milliseconds. A short interval lets the threads reach it (and makes races show: see
    # test_simulator_shared_arrays_are_shared_by_the_block).
    sys.setswitchinterval(1e-5)

#: (activations, loss, optimizer, l2): one combination per activation/loss family
CASES = [(("sigmoid", "sigmoid"), "mse", "adam", 0.0),
         (("tanh", "identity"), "softmax_cross_entropy", "sgd", 0.0),
         (("relu", "identity"), "bce_logits", "adam", 0.01)]
IDS = ["sigmoid-mse-adam", "tanh-softmaxce-sgd", "relu-bcelogits-adam-l2"]
_MODELS: dict = {}


def models(case, dtype="float64", cpu=True):
    """(derivation, cuda model, cpu model or None) of a case; compiled once per process."""
    key = (case, dtype)
    if key not in _MODELS:
        acts, loss, opt, l2 = case
        d = cu.derive_text(cu.spec_text([2, 3, 2], list(acts), loss, l2=l2,
                                        name=f"sim_{'_'.join(acts)}_{loss}"), optimizer=opt)
        gpu = compile_derivation(d, "cuda", dtype)
        if config.ENABLE_CUDASIM:
            # 4 x 4 tiles: several tiles per product even on these nets, and 16 threads a block
            # (the simulator runs a Python thread per CUDA thread). On a GPU, where Numba caches
            # kernels with the constants frozen in, the module keeps its own.
            gpu.module.TILE, gpu.module.TILE_PAD = 4, 5
        _MODELS[key] = [d, gpu, None]
    if cpu and _MODELS[key][2] is None:
        _MODELS[key][2] = compile_derivation(_MODELS[key][0], "cpu", dtype)
    return _MODELS[key]


def close(a, b, tol):
    """Every array of dict a equals b's to tol relative to the largest magnitude."""
    assert set(a) == set(b)
    for k in a:
        scale = max(1.0, float(np.max(np.abs(b[k]))))
        err = float(np.max(np.abs(np.asarray(a[k], np.float64) - np.asarray(b[k], np.float64))))
        assert err <= tol * scale, f"{k}: {err} > {tol} * {scale}"


def copy(d):
    return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in d.items()}


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_forward_loss_and_grad_match_cpu(case):
    d, gpu, cpu = models(case)
    assert gpu.target == "cuda" and "@cuda.jit" in gpu.source
    X, Y = cu.data(d.spec, n=10)
    p = gpu.init_params(seed=1)
    L, g = gpu.loss_and_grad(p, X, Y)
    L_cpu, g_cpu = cpu.loss_and_grad(p, X, Y)
    assert abs(L - L_cpu) <= 1e-10 * max(1.0, abs(L_cpu))
    close(g, g_cpu, 1e-10)
    assert abs(gpu.loss(p, X, Y) - L_cpu) <= 1e-10 * max(1.0, abs(L_cpu))
    np.testing.assert_allclose(gpu.forward(p, X), cpu.forward(p, X), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_steps_match_cpu(case):
    d, gpu, cpu = models(case)
    X, Y = cu.data(d.spec, n=10, seed=2)
    p_gpu, p_cpu = gpu.init_params(seed=3), cpu.init_params(seed=3)
    s_gpu, s_cpu = gpu.init_state(), cpu.init_state()
    for _ in range(2):
        L_gpu = gpu.step(p_gpu, X, Y, lr=0.05, state=s_gpu)
        L_cpu = cpu.step(p_cpu, X, Y, lr=0.05, state=s_cpu)
        assert abs(L_gpu - L_cpu) <= 1e-10 * max(1.0, abs(L_cpu))
    close(p_gpu, p_cpu, 1e-10)
    close(s_gpu, s_cpu, 1e-10)
    assert s_gpu["t"] == s_cpu["t"] == 2
    assert any(np.any(p_gpu[k] != gpu.init_params(seed=3)[k]) for k in p_gpu)  # it moved


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_train_epochs_match_cpu(case):
    """Two epochs of minibatches (4 + 4 + 2 rows): the same shuffles, losses and parameters."""
    d, gpu, cpu = models(case)
    X, Y = cu.data(d.spec, n=10, seed=4)
    p_gpu, p_cpu = gpu.init_params(seed=5), cpu.init_params(seed=5)
    s_gpu, s_cpu = gpu.init_state(), cpu.init_state()
    r_gpu = gpu.train_epochs(p_gpu, s_gpu, X, Y, lr=0.05, batch_size=4, n_epochs=2, seed=7)
    r_cpu = cpu.train_epochs(p_cpu, s_cpu, X, Y, lr=0.05, batch_size=4, n_epochs=2, seed=7)
    assert r_gpu.nonfinite is None and r_cpu.nonfinite is None
    assert r_gpu.t == r_cpu.t == 6 and r_gpu.epochs == [0, 1]
    np.testing.assert_allclose(r_gpu.losses, r_cpu.losses, rtol=1e-10)
    close(p_gpu, p_cpu, 1e-10)
    close(s_gpu, s_cpu, 1e-10)


def test_full_batch_training_matches_cpu():
    """batch_size >= rows: one unshuffled full batch per epoch on both targets."""
    d, gpu, cpu = models(CASES[1])
    X, Y = cu.data(d.spec, n=10, seed=14)
    p_gpu, p_cpu = gpu.init_params(seed=5), cpu.init_params(seed=5)
    r_gpu = gpu.train_epochs(p_gpu, None, X, Y, lr=0.5, batch_size=64, n_epochs=3, seed=7)
    r_cpu = cpu.train_epochs(p_cpu, None, X, Y, lr=0.5, batch_size=64, n_epochs=3, seed=7)
    assert r_gpu.t == r_cpu.t == 3 and r_gpu.losses[2] < r_gpu.losses[0]
    np.testing.assert_allclose(r_gpu.losses, r_cpu.losses, rtol=1e-12)
    close(p_gpu, p_cpu, 1e-12)


def test_train_resume_is_exact():
    """Epochs 0..1 in one call equal epoch 0 then epoch 1 (start_epoch=1)."""
    d, gpu, _ = models(CASES[0], cpu=False)
    X, Y = cu.data(d.spec, n=10, seed=4)
    p1, p2 = gpu.init_params(seed=5), gpu.init_params(seed=5)
    s1, s2 = gpu.init_state(), gpu.init_state()
    r = gpu.train_epochs(p1, s1, X, Y, lr=0.05, batch_size=3, n_epochs=2, seed=11)
    a = gpu.train_epochs(p2, s2, X, Y, lr=0.05, batch_size=3, n_epochs=1, seed=11)
    b = gpu.train_epochs(p2, s2, X, Y, lr=0.05, batch_size=3, n_epochs=1, seed=11, start_epoch=1)
    assert np.array_equal(r.losses, np.concatenate([a.losses, b.losses]))
    close(p1, p2, 0.0)
    assert s1["t"] == s2["t"] == 8


def test_nonfinite_report_matches_cpu():
    """A NaN input row stops both targets at the same epoch, step and quantity, before the
    update: the shuffle is the cpu target's."""
    case = CASES[2]
    d, gpu, cpu = models(case)
    X, Y = cu.data(d.spec, n=10, seed=6)
    X[7, 1] = np.nan
    p_gpu, p_cpu = gpu.init_params(seed=2), cpu.init_params(seed=2)
    s_gpu, s_cpu = gpu.init_state(), cpu.init_state()
    r_gpu = gpu.train_epochs(p_gpu, s_gpu, X, Y, lr=0.05, batch_size=3, n_epochs=2, seed=1)
    r_cpu = cpu.train_epochs(p_cpu, s_cpu, X, Y, lr=0.05, batch_size=3, n_epochs=2, seed=1)
    assert r_cpu.nonfinite is not None and r_gpu.nonfinite is not None
    assert (r_gpu.nonfinite.epoch, r_gpu.nonfinite.step, r_gpu.nonfinite.quantity) == \
        (r_cpu.nonfinite.epoch, r_cpu.nonfinite.step, r_cpu.nonfinite.quantity)
    # relu's derivative reads a1, so z1 is not stored: a1 is the first quantity
    assert r_gpu.nonfinite.quantity == gpu.quantities[0] == "a1" and r_gpu.t == r_cpu.t
    close(p_gpu, p_cpu, 1e-10)
    assert all(np.all(np.isfinite(v)) for v in p_gpu.values())


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_float32_agrees_with_float64(case):
    d, g64, _ = models(case, cpu=False)
    _, g32, _ = models(case, "float32", cpu=False)
    assert g32.dtype == np.float32 and "f32 = np.float32" in g32.source
    X, Y = cu.data(d.spec, n=10, seed=8)
    p64 = g64.init_params(seed=9)
    p32 = {k: v.astype(np.float32) for k, v in p64.items()}
    L64, grad64 = g64.loss_and_grad(p64, X, Y)
    L32, grad32 = g32.loss_and_grad(p32, X, Y)
    assert abs(L32 - L64) <= 1e-4 * abs(L64)
    assert all(grad32[k].dtype == np.float32 for k in grad32)
    close(grad32, grad64, 1e-4)
    s64, s32 = g64.init_state(), g32.init_state()
    g64.train_epochs(p64, s64, X, Y, lr=0.05, batch_size=4, n_epochs=2, seed=3)
    g32.train_epochs(p32, s32, X, Y, lr=0.05, batch_size=4, n_epochs=2, seed=3)
    close(p32, p64, 1e-4)


def test_device_session_keeps_parameters_on_the_device():
    """to_device: steps change the device copies only; reading .params copies them back."""
    d, gpu, cpu = models(CASES[0])
    X, Y = cu.data(d.spec, n=10, seed=12)
    p_gpu, p_cpu = gpu.init_params(seed=4), cpu.init_params(seed=4)
    start = copy(p_gpu)
    s_cpu = cpu.init_state()
    session = gpu.to_device(p_gpu)
    for _ in range(3):
        L = session.step(X, Y, lr=0.1)
        assert abs(L - cpu.step(p_cpu, X, Y, lr=0.1, state=s_cpu)) <= 1e-10
    close(p_gpu, start, 0.0)  # host arrays untouched until read
    L, none = session.loss_and_grad(X, Y, grads=False)
    assert none is None and abs(L - cpu.loss(p_cpu, X, Y)) <= 1e-10
    assert session.params is p_gpu
    close(p_gpu, p_cpu, 1e-10)
    close(session.state, s_cpu, 1e-10)
    assert session.state["t"] == 3
    with pytest.raises(Exception, match="cuda model"):
        cpu.to_device(p_cpu)


class Foreign:
    """An array of another library on the GPU (CuPy, PyTorch): only the interface."""

    def __init__(self, device_array):
        self.__cuda_array_interface__ = device_array.__cuda_array_interface__
        self._keep = device_array


def test_device_session_uses_device_data_in_place():
    """X and Y already on the device: the same losses, gradients and parameters as host data,
    through every session method; a foreign array (``__cuda_array_interface__``) too, on a GPU
    (the simulator's arrays have no such interface)."""
    from numba import config, cuda

    d, gpu, _ = models(CASES[1], cpu=False)
    X, Y = cu.data(d.spec, n=10, seed=15)
    dX, dY = cuda.to_device(X), cuda.to_device(Y)
    sources = [(dX, dY)]
    if not config.ENABLE_CUDASIM:
        sources.append((Foreign(dX), Foreign(dY)))
    for x, y in sources:
        p_host, p_dev = gpu.init_params(seed=3), gpu.init_params(seed=3)
        host, dev = gpu.to_device(p_host), gpu.to_device(p_dev)
        assert dev.step(x, y, lr=0.1) == host.step(X, Y, lr=0.1)
        L_dev, g_dev = dev.loss_and_grad(x, y)
        L_host, g_host = host.loss_and_grad(X, Y)
        assert L_dev == L_host and dev.loss(x, y) == host.loss(X, Y)
        close(g_dev, g_host, 0.0)
        assert np.array_equal(dev.forward(x), host.forward(X))
        got = dev._xy(x, y)
        if isinstance(x, Foreign):  # a Numba view of the other library's memory, not a copy
            for view, given in zip(got, (x, y)):
                assert view.__cuda_array_interface__["data"][0] == \
                    given.__cuda_array_interface__["data"][0]
        else:  # symbp hands Numba's own device arrays over as they are
            assert got[0] is x and got[1] is y
        r_dev = dev.train_epochs(x, y, lr=0.1, batch_size=4, n_epochs=2, seed=5)
        r_host = host.train_epochs(X, Y, lr=0.1, batch_size=4, n_epochs=2, seed=5)
        assert np.array_equal(r_dev.losses, r_host.losses) and r_dev.t == r_host.t == 7
        close(dev.params, host.params, 0.0)
    np.testing.assert_array_equal(dX.copy_to_host(), X)  # the caller's data is not written


def test_device_session_refuses_device_data_it_would_have_to_convert():
    from numba import cuda

    from symbp.runtime import RuntimeInputError

    d, gpu, _ = models(CASES[1], cpu=False)
    X, Y = cu.data(d.spec, n=10, seed=15)
    s = gpu.to_device(gpu.init_params(seed=3))
    with pytest.raises(RuntimeInputError, match=r"X is a device array .* float32.*float64"):
        s.step(cuda.to_device(X.astype(np.float32)), Y, lr=0.1)
    with pytest.raises(RuntimeInputError, match=r"Y is a device array of shape \(10, 3\).*"
                                                r"expected shape \(N, 2\)"):
        s.loss(X, cuda.to_device(np.zeros((10, 3))))
    with pytest.raises(RuntimeInputError, match="not C-contiguous"):
        s.forward(cuda.to_device(np.asfortranarray(X)))
    with pytest.raises(RuntimeInputError, match="X has 10 rows and Y has 9"):
        s.step(cuda.to_device(X), cuda.to_device(Y[:9]), lr=0.1)
    with pytest.raises(RuntimeInputError, match="X has 10 rows and Y has 9"):
        s.loss(X, Y[:9])  # a loss too: its kernels would read past Y
    # the generated module checks on its own (CompiledModel and standalone use)
    with pytest.raises(ValueError, match="y needs the rows of x and 2 columns"):
        s.device.loss(X, Y[:9])
    with pytest.raises(ValueError, match="x needs 2 dimensions and 2 columns"):
        s.device.forward(X[:, :1])
    hyper = [0.1] * len(gpu.hyper)
    for args, words in (((X[:0], Y[:0], *hyper, 0, 4, 1, 0, 0, np.zeros(1)), "x has no rows"),
                        ((X, Y, *hyper, 0, 0, 1, 0, 0, np.zeros(1)), "batch_size must be at least 1"),
                        ((X, Y, *hyper, 0, 4, 3, 0, 0, np.zeros(1)), "one element per epoch")):
        before = s.params["W1"].copy()
        with pytest.raises(ValueError, match=words):
            s.device.train_epochs(*args)
        assert np.array_equal(s.params["W1"], before)  # refused before anything trained


def test_generated_module_runs_on_its_own(tmp_path):
    """The generated module imports only numpy, numba and numba-cuda (symbp is not imported)."""
    from symbp.codegen import generate_source

    d, gpu, _ = models(CASES[1], cpu=False)
    path = tmp_path / "standalone_cuda.py"
    path.write_text(generate_source(d, "cuda", "float64"))
    X, Y = cu.data(d.spec, n=5, seed=13)
    p = gpu.init_params(seed=6)
    np.savez(tmp_path / "data.npz", X=X, Y=Y, **p)
    script = (
        "import importlib.util, json, sys, numpy as np\n"
        f"spec = importlib.util.spec_from_file_location('standalone_cuda', {str(path)!r})\n"
        "mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)\n"
        # one-thread blocks in the simulator: no shared array for its racy allocation to split
        "from numba import config\n"
        "if config.ENABLE_CUDASIM: mod.TILE, mod.TILE_PAD = 1, 2\n"
        f"z = np.load({str(tmp_path / 'data.npz')!r})\n"
        "L, *grads = mod.loss_and_grad(*[z[k] for k in mod.PARAMS], z['X'], z['Y'])\n"
        "print(json.dumps({'L': L, 'symbp': any(m.startswith('symbp') for m in sys.modules),\n"
        "                  'dW1': grads[0].tolist()}))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout.strip().splitlines()[-1])
    L, g = gpu.loss_and_grad(p, X, Y)
    assert res["symbp"] is False
    assert abs(res["L"] - L) <= 1e-12 and np.allclose(res["dW1"], g["W1"], rtol=0, atol=1e-12)


def test_gpu_benchmark_row_passes_the_benchmark_gradient_check():
    """benchmarks/gpu_step.py's symbp cuda row: its loss, gradients and one step (device-
    resident session and data) equal the NumPy float64 reference of train_step.py."""
    from benchmarks import harness
    from benchmarks.configs import get_config, init_params, make_data
    from benchmarks.gpu_step import SymbpCudaImpl, _scaled

    cfg = _scaled(get_config("iii"))
    assert cfg.sizes == (16, 16, 16, 10) and cfg.batch == 32
    X, Y = make_data(cfg, np.float64)
    params = init_params(cfg, np.float64)
    impl = SymbpCudaImpl(cfg, np.float64)
    if config.ENABLE_CUDASIM:  # 2 x 2 and 4 x 2 tiles of 4 (see models())
        impl.model.module.TILE, impl.model.module.TILE_PAD = 4, 5
    err = harness.check_impl(cfg, np.float64, impl, params, X, Y)
    assert err <= 1e-10


def test_zero_rows_match_cpu():
    """forward on no rows is an empty prediction and the mean loss over none is nan, as on the
    cpu target, also as a model's first call (no buffers yet)."""
    d, gpu, cpu = models(CASES[0])
    p = gpu.init_params(seed=1)
    X, Y = np.zeros((0, 2)), np.zeros((0, 2))
    assert gpu.forward(p, X).shape == cpu.forward(p, X).shape == (0, 2)
    assert np.isnan(gpu.loss(p, X, Y)) and np.isnan(cpu.loss(p, X, Y))
    s = gpu.to_device(p)
    assert s.forward(X).shape == (0, 2) and np.isnan(s.loss(X, Y))


def test_deep_wide_net_spans_tiles_and_update_launches():
    """Widths above the tile (several k tiles, row tiles, partial tiles) and 5 layers of Adam
    (10 parameters, 40 arrays: two update launches) against the cpu target."""
    spec = cu.spec_text([6, 9, 5, 7, 5, 3], ["tanh", "relu", "sigmoid", "tanh", "identity"],
                        "softmax_cross_entropy", l2=0.01, name="sim_deep")
    d = cu.derive_text(spec, optimizer="adam")
    gpu, cpu = compile_derivation(d, "cuda"), compile_derivation(d, "cpu")
    if config.ENABLE_CUDASIM:
        gpu.module.TILE, gpu.module.TILE_PAD = 4, 5
    assert "def _k_update_2(" in gpu.source and "def _k_update_3(" not in gpu.source
    X, Y = cu.data(d.spec, n=11, seed=21)
    p_gpu, p_cpu = gpu.init_params(seed=2), cpu.init_params(seed=2)
    L, g = gpu.loss_and_grad(p_gpu, X, Y)
    L_cpu, g_cpu = cpu.loss_and_grad(p_cpu, X, Y)
    assert abs(L - L_cpu) <= 1e-12 * abs(L_cpu)
    close(g, g_cpu, 1e-12)
    s_gpu, s_cpu = gpu.init_state(), cpu.init_state()
    r_gpu = gpu.train_epochs(p_gpu, s_gpu, X, Y, lr=0.01, batch_size=5, n_epochs=2, seed=3)
    r_cpu = cpu.train_epochs(p_cpu, s_cpu, X, Y, lr=0.01, batch_size=5, n_epochs=2, seed=3)
    assert r_gpu.t == r_cpu.t == 6
    np.testing.assert_allclose(r_gpu.losses, r_cpu.losses, rtol=1e-12)
    close(p_gpu, p_cpu, 1e-12)
    close(s_gpu, s_cpu, 1e-12)


@cuda.jit  # at module level: the simulator swaps in its fake ``cuda`` through the globals
def _rotate(src, out):
    tile = cuda.shared.array(16, np.float64)
    i = cuda.threadIdx.x
    tile[i] = src[i]
    cuda.syncthreads()
    out[i] = tile[(i + 1) % 16]


def test_load_module_of_a_cuda_file_sets_the_target_up(tmp_path, monkeypatch):
    """A cuda module loaded from a file gets what compile_* gives it: here, in the simulator,
    the locked shared arrays (without them the tiled products can silently go wrong)."""
    from numba.cuda.simulator.kernelapi import FakeCUDAShared

    from symbp.codegen import generate_source
    from symbp.runtime import load_module

    d, gpu, cpu = models(CASES[0])
    path = tmp_path / "model_cuda.py"
    path.write_text(generate_source(d, "cuda", "float64"), encoding="utf-8")
    # the simulator as it is before symbp set it up (compiling the other models did)
    monkeypatch.setattr(FakeCUDAShared, "array", FakeCUDAShared.array.__wrapped__)
    assert not getattr(FakeCUDAShared.array, "symbp_locked", False)
    loaded = load_module(path)
    assert getattr(FakeCUDAShared.array, "symbp_locked", False)
    X, Y = cu.data(d.spec, n=6, seed=2)
    p = cpu.init_params(seed=1)
    close(loaded.loss_and_grad(p, X, Y)[1], cpu.loss_and_grad(p, X, Y)[1], 1e-12)


def test_simulator_shared_arrays_are_shared_by_the_block(monkeypatch):
    """Each thread stages one element of a shared tile and reads its neighbour's, so every
    thread must get the block's one array. The simulator creates it on a thread's first miss;
    a slow allocation keeps that window open, so unlocked every thread would make its own (the
    race symbp's lock closes, which at full speed showed in about 1 call in 20)."""
    import time

    src = np.arange(16.0)
    out = np.zeros(16)
    if config.ENABLE_CUDASIM:
        empty = np.empty

        def slow_empty(*args, **kwargs):
            time.sleep(0.002)
            return empty(*args, **kwargs)

        monkeypatch.setattr(np, "empty", slow_empty)
    for _ in range(3):
        out[:] = 0.0
        _rotate[1, 16](src, out)
        np.testing.assert_array_equal(out, np.roll(src, -1))
