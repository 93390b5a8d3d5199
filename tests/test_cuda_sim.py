"""The cuda target: generated source (cheap, in this process) and the kernels under Numba's CUDA
simulator (tests/cuda_sim_cases.py in a child pytest process).

CI has no GPU, so the kernels are checked against the cpu target in the simulator
(``NUMBA_ENABLE_CUDASIM=1``; ``.ci/gpu-check`` runs the same cases on a real device). The variable is read when Numba is imported, and
setting it here would turn every later CUDA use of this process into a simulated one, so the
simulator runs in its own process; the main ``python -m pytest`` run always starts it.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from symbp.cli import main
from symbp.codegen import generate_source
from symbp.runtime import compile_derivation
from symbp.runtime_cuda import CudaUnavailable

try:
    from . import codegen_util as cu
except ImportError:
    import codegen_util as cu

HERE = Path(__file__).resolve().parent
CASES = HERE / "cuda_sim_cases.py"


@pytest.mark.cudasim
def test_simulator_cases_pass():
    """Every case of cuda_sim_cases.py passes under the simulator; none is skipped."""
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1", PYTHONHASHSEED="0")
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "-rs", str(CASES)], capture_output=True, text=True, env=env,
                         cwd=HERE.parent, timeout=600)
    tail = out.stdout[-6000:] + out.stderr[-2000:]
    assert out.returncode == 0, tail
    summary = out.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "skipped" not in summary and "failed" not in summary, tail
    assert int(summary.split(" passed")[0].split()[-1]) >= 24, summary


def _derivation(opt="adam", acts=("sigmoid", "sigmoid"), loss="mse", l2=0.0):
    return cu.derive_text(cu.spec_text([2, 3, 2], list(acts), loss, l2=l2), optimizer=opt)


def test_cuda_source_is_deterministic_and_has_kernels():
    d = _derivation(l2=0.01)
    src = generate_source(d, "cuda", "float64")
    assert src == generate_source(_derivation(l2=0.01), "cuda", "float64")
    tree = ast.parse(src)
    kernels = {f.name for f in tree.body if isinstance(f, ast.FunctionDef)
               and any(ast.unparse(dec) == "cuda.jit(cache=True)" for dec in f.decorator_list)}
    assert kernels == {"_k_a1", "_k_yhat", "_k_loss_rows", "_k_delta2", "_k_dW2", "_k_delta1",
                       "_k_dW1", "_k_loss_total", "_k_update", "_k_nonfinite", "_k_gather"}
    assert "@cuda.jit(device=True, cache=True)\ndef sigmoid(x):" in src
    classes = [c for c in tree.body if isinstance(c, ast.ClassDef)]
    assert [c.name for c in classes] == ["DeviceModel"]
    methods = {f.name for f in classes[0].body if isinstance(f, ast.FunctionDef)}
    assert {"forward", "loss", "loss_and_grad", "step", "train_epochs", "pull"} <= methods
    imports = {ast.unparse(n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))}
    assert imports == {"import math", "import numpy as np", "from numba import cuda, njit"}
    # the equations above each kernel, the penalty and the cpu target's shuffle
    assert "# delta1 = (delta2 @ W2.T) * a1 * (1 - a1)" in src
    assert "pen += W1[i, j] * W1[i, j]" in src
    assert "_order(seed, epoch, order_h)" in src and "def _order(seed, epoch, order):" in src
    code = [line for line in src.splitlines() if not line.lstrip().startswith("#")]
    assert "TARGET = 'cuda'" in src and max(len(line) for line in code) <= 100  # wrapped


def test_cuda_source_float32_never_widens():
    src = generate_source(_derivation("sgd", ("tanh", "identity"), "softmax_cross_entropy"),
                          "cuda", "float32")
    assert "f32 = np.float32" in src and "dtype=np.float64" not in src
    assert "c = f32(1.0 / n_rows)" in src and "acc = f32(0)" in src


def test_cuda_source_differs_from_cpu_only_in_loops():
    """The scalar bodies come from the shared printer: the cpu epilogue line appears verbatim."""
    d = _derivation("sgd", ("tanh", "sigmoid"), "bce")
    cpu, gpu = generate_source(d, "cpu"), generate_source(d, "cuda")
    line = next(s.strip() for s in gpu.splitlines() if s.strip().startswith("delta1[n, j] ="))
    assert line in {s.strip() for s in cpu.splitlines()}
    assert "def tanh_light(x):" in gpu and "@njit" in gpu.split("def _order")[0].splitlines()[-1]


def test_codegen_cli_cuda(capsys):
    assert main(["codegen", "seed000_sigmoid_mse", "--target", "cuda"]) == 0
    out = capsys.readouterr().out
    assert "class DeviceModel:" in out and "target: cuda, dtype: float64" in out


def test_missing_numba_cuda_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "numba.cuda", None)  # import numba.cuda raises
    with pytest.raises(CudaUnavailable, match=r'pip install "symbp\[cuda\]"'):
        compile_derivation(_derivation(), "cuda")


def test_numba_cuda_that_cannot_load_under_this_numpy_is_a_clear_error(monkeypatch):
    """numba-cuda 0.30 under NumPy 2.5 (no np.row_stack) fails when it first compiles: symbp
    says so before any kernel, with what to install."""
    import importlib

    real = importlib.import_module

    def fake(name, *a, **k):
        if name == "numba.cuda.np.arrayobj":
            raise AttributeError("module 'numpy' has no attribute 'row_stack'")
        return real(name, *a, **k)

    monkeypatch.delattr(np, "row_stack", raising=False)
    monkeypatch.setattr(importlib, "import_module", fake)
    with pytest.raises(CudaUnavailable, match=r'row_stack.*pip install "numpy<2\.5"'):
        compile_derivation(_derivation(), "cuda")


def test_quiet_launches_turns_off_only_low_occupancy_warnings_and_restores_them():
    """Small kernels (the one-thread loss total) would warn on every new grid size; numba-cuda
    reads CUDA_LOW_OCCUPANCY_WARNINGS at each launch. The setting comes back, also after an
    error, and the warnings filters are left alone."""
    import warnings

    from numba.cuda import config

    from symbp.runtime_cuda import quiet_launches

    filters = list(warnings.filters)
    before = config.CUDA_LOW_OCCUPANCY_WARNINGS
    assert before  # numba-cuda's default: on
    with quiet_launches():
        assert config.CUDA_LOW_OCCUPANCY_WARNINGS == 0
        assert not config.DISABLE_PERFORMANCE_WARNINGS  # other performance warnings stay on
    assert config.CUDA_LOW_OCCUPANCY_WARNINGS == before
    with pytest.raises(KeyError), quiet_launches():
        raise KeyError
    assert config.CUDA_LOW_OCCUPANCY_WARNINGS == before and warnings.filters == filters


def test_cuda_without_gpu_names_the_simulator():
    """No GPU here and no simulator in this process: compiling for cuda says what to do."""
    from numba import config, cuda

    d = _derivation("sgd")
    if cuda.is_available() or config.ENABLE_CUDASIM:
        assert compile_derivation(d, "cuda").target == "cuda"
    else:
        with pytest.raises(CudaUnavailable, match="NUMBA_ENABLE_CUDASIM=1"):
            compile_derivation(d, "cuda")


def test_tiled_launch_grids_fit_cuda_limits(tmp_path):
    """The generated host helper: row tiles on the grid's x (up to 2**31 - 1 blocks; y stops at
    65535), at least one block each way (a zero-row call launches guarded threads, not an
    invalid grid)."""
    import importlib.util

    path = tmp_path / "tiles_mod.py"
    path.write_text(generate_source(_derivation(), "cuda", "float64"))
    spec = importlib.util.spec_from_file_location("tiles_mod", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # imports numba.cuda only; nothing is compiled
    assert mod.TILE == 16 and mod.TILE_PAD == 17
    assert mod._tiles(2_000_000, 10) == ((125_000, 1), (16, 16))
    assert mod._tiles(0, 3) == ((1, 1), (16, 16))
    assert mod._tiles(33, 17) == ((3, 2), (16, 16))


def test_a_device_object_that_refuses_its_interface_is_a_clear_error():
    """A PyTorch tensor that requires grad raises from __cuda_array_interface__: symbp sees a
    device object and says what to pass instead, not the other library's traceback."""
    from symbp.runtime import RuntimeInputError
    from symbp.runtime_cuda import device_data, on_device

    class Tensor:
        @property
        def __cuda_array_interface__(self):
            raise RuntimeError("Can't get __cuda_array_interface__ on Variable that requires grad")

    assert on_device(Tensor()) and not on_device(np.zeros(3)) and not on_device([1.0])
    with pytest.raises(RuntimeInputError, match=r"X is a Tensor on the device .*tensor\.detach"):
        device_data(None, Tensor(), 0, "X")
