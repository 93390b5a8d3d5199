"""The vector rewrite set: exp, expm1, sigmoid and tanh in plain arithmetic (compiled, vectorised
loops), against 50-digit mpmath, over the whole float range, float64 and float32."""

import importlib.util
import itertools
import math

import mpmath as mp
import numpy as np
import pytest
import sympy as sp

from symbp.codegen.module import elementwise_source
from symbp.codegen.printer import VECTOR_MIN_TRIPS, rewrite

mp.mp.dps = 50
x = sp.Symbol("x")
FUNCTIONS = {"exp_vec": sp.exp(x), "expm1_vec": sp.Function("expm1")(x),
             "sigmoid_vec": 1 / (1 + sp.exp(-x)), "tanh_vec": sp.tanh(x)}
EXACT = {"exp_vec": mp.exp, "expm1_vec": mp.expm1, "sigmoid_vec": lambda v: 1 / (1 + mp.exp(-v)),
         "tanh_vec": mp.tanh}
_count = itertools.count()


def _module(tmp_path, dtype):
    src = elementwise_source(FUNCTIONS, dtype)
    name = f"light_{dtype}_{next(_count)}"
    path = tmp_path / f"{name}.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, src


def _grid(dtype):
    rng = np.random.default_rng(0)
    big = 1000.0
    pos = np.concatenate([np.logspace(-30, 3, 2000), rng.uniform(0, 5, 2000),
                          rng.uniform(0, big, 2000), [0.5 * math.log(2), math.log(2), 1.0, 20.0]])
    if dtype == "float64":
        pos = np.concatenate([pos, [708.39, 709.78, 709.79, 744.4, 745.13, 745.2, 746.0]])
    else:
        pos = np.concatenate([pos, [87.3, 88.7, 88.8, 103.0, 103.9, 104.5]])
    return np.concatenate([-pos[::-1], [0.0], pos]).astype(dtype)


def _exact(name, v, dtype):
    with mp.workdps(50):
        r = EXACT[name](mp.mpf(float(v)))
    f = float(r)  # beyond the float64 range: +-inf
    if dtype == "float32":
        with np.errstate(over="ignore"):
            return float(np.float32(f))
    return f


@pytest.fixture(scope="module", params=["float64", "float32"])
def light(request, tmp_path_factory):
    return request.param, *_module(tmp_path_factory.mktemp("light"), request.param)


def test_vector_forms_are_printed(light):
    dtype, _, src = light
    assert "exp_light(" in src and "expm1_light(" in src and "math.exp(" not in src
    assert "@intrinsic" in src and "def _pow2_jit(" in src


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_vector_forms_are_accurate(light, name):
    dtype, module, _ = light
    xs = _grid(dtype)
    out = np.empty_like(xs)
    getattr(module, name)(xs, out)
    assert out.dtype == np.dtype(dtype)
    # float64: 1e-15 relative (about 4.5 ulp); float32: 4 ulp of float32
    rtol = 1e-15 if dtype == "float64" else 4 * 2.0 ** -24
    tiny = np.finfo(dtype).tiny
    for v, got in zip(xs, out):
        want = _exact(name, v, dtype)
        if math.isinf(want):
            assert got == want, (name, v, got)
            continue
        err = abs(float(got) - want)
        # subnormal results: absolute, one unit of the subnormal grid
        assert err <= rtol * abs(want) or err <= tiny * np.finfo(dtype).eps, (name, v, got, want)


def test_vector_forms_handle_inf_and_nan(light):
    dtype, module, _ = light
    xs = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0], dtype=dtype)
    out = np.empty_like(xs)
    module.exp_vec(xs, out)
    assert out[0] == np.inf and out[1] == 0.0 and np.isnan(out[2]) and out[3] == out[4] == 1.0
    module.expm1_vec(xs, out)
    assert out[0] == np.inf and out[1] == -1.0 and np.isnan(out[2]) and out[3] == 0.0
    module.tanh_vec(xs, out)
    assert out[0] == 1.0 and out[1] == -1.0 and np.isnan(out[2]) and out[3] == 0.0
    module.sigmoid_vec(xs, out)
    assert out[0] == 1.0 and out[1] == 0.0 and np.isnan(out[2]) and out[3] == 0.5


def test_vector_forms_run_as_plain_python(tmp_path):
    import numba

    old = numba.config.DISABLE_JIT
    numba.config.DISABLE_JIT = True
    try:
        module, _ = _module(tmp_path, "float64")
    finally:
        numba.config.DISABLE_JIT = old
    xs = np.array([-800.0, -3.0, -1e-9, 0.0, 0.7, 40.0])
    out = np.empty_like(xs)
    module.tanh_vec(xs, out)
    np.testing.assert_allclose(out, np.tanh(xs), rtol=1e-15, atol=0)
    module.exp_vec(xs, out)
    np.testing.assert_allclose(out, np.exp(xs), rtol=1e-15, atol=0)


def test_vector_set_is_named_and_short_loops_keep_libm():
    assert str(rewrite(sp.exp(x), ("vector",))) == "exp_light(x)"
    assert "expm1_neg_light" in str(rewrite(sp.tanh(x), ("stable", "light", "vector")))
    from symbp.codegen.numba_cpu import CpuEmitter

    em = CpuEmitter("float64")
    assert "vector" in em.sets_for(VECTOR_MIN_TRIPS)
    assert "vector" not in em.sets_for(VECTOR_MIN_TRIPS - 1)
