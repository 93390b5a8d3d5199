"""Code generation: the printer, the rewrites' accuracy, the generated source (readable, stable,
importable in a fresh interpreter) and its gradients run as plain Python."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import symbp
from symbp.codegen import CodegenError, generate_source
from symbp.codegen.printer import HELPERS, NumbaPrinter, print_assignments, rewrite

try:
    from . import codegen_util as cu
except ImportError:
    import codegen_util as cu

ref = cu.ref
ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted((ROOT / "derivations").glob("*.toml"))
x, a = sp.symbols("x a", real=True)

# --- the printer ---------------------------------------------------------------------------------

PRINT_CASES = [
    (sp.Heaviside(x, 0), "float64", "(1 if x > 0 else 0)"),
    (sp.Piecewise((1, a > 0), (sp.Rational(1, 100), True)), "float64", "(1 if a > 0 else 0.01)"),
    (a * (1 - a), "float64", "a*(1 - a)"),
    (1 - a**2, "float32", "f32(1) - a*a"),
    (sp.Max(0, x), "float64", "max(x, 0)"),
    (sp.sqrt(x), "float64", "math.sqrt(x)"),
    (x**-2, "float64", "1/(x*x)"),
    (sp.exp(-x) / 2, "float32", "f32(0.5)*math.exp(-x)"),
    (x / sp.cosh(x)**2, "float64", "x/(math.cosh(x)*math.cosh(x))"),  # a power stays one unit
]


@pytest.mark.parametrize("expr, dtype, expected", PRINT_CASES)
def test_printer_exact(expr, dtype, expected):
    assert NumbaPrinter({"dtype": dtype}).doprint(expr) == expected


def test_printer_rejects_unknown_function():
    with pytest.raises(CodegenError, match="besselj"):
        NumbaPrinter().doprint(sp.besselj(0, x))


def test_rewrites_are_named_and_applied():
    assert str(rewrite(1 / (1 + sp.exp(-x)))) == "sigmoid(x)"
    assert str(rewrite(sp.log(1 + sp.exp(x)))) == "softplus(x)"
    assert str(rewrite(sp.tanh(2 * x))) == "tanh_light(2*x)"
    assert str(rewrite(sp.tanh(x), ("stable",))) == "tanh(x)"


def test_cse_and_hoisting():
    eta, t, b1 = sp.symbols("eta t beta1")
    g = sp.Symbol("g")
    block = print_assignments([("p[i]", g * eta / (1 - b1**t))], "float64", {g: "g[i]"},
                              {eta, t, b1})
    assert block.hoisted == ("t0 = eta/(1 - beta1**t)",)
    assert block.body == ("p[i] = g[i]*t0",)


def _helper(name, dtype="float64"):
    h = HELPERS[name]
    pr = NumbaPrinter({"dtype": dtype})
    lines = [f"def {name}(x):"] + [f"    {s} = {pr.doprint(e)}" for s, e in h.locals]
    lines.append(f"    return {pr.doprint(h.result)}")
    env = {"math": math, "f32": np.float32}
    exec("\n".join(lines), env)
    return env[name]


GRID = np.concatenate([-np.logspace(-12, 3, 300), [0.0], np.logspace(-12, 3, 300)])


import mpmath as mp  # noqa: E402 (a SymPy dependency)
mp.mp.dps = 50


@pytest.mark.parametrize("name, exact", [  # exact: 50-digit mpmath
    ("sigmoid", lambda v: float(1 / (1 + mp.exp(-mp.mpf(v))))),
    ("softplus", lambda v: float(mp.log1p(mp.exp(mp.mpf(v))))),
    ("tanh_light", lambda v: float(mp.tanh(mp.mpf(v)))),
])
def test_stable_helpers_are_accurate(name, exact):
    f = _helper(name)
    for v in GRID:
        got, want = f(float(v)), exact(float(v))
        assert math.isfinite(got)
        assert abs(got - want) <= 4e-16 * abs(want) + 1e-300, (name, v, got, want)


def test_helpers_float32_stay_float32():
    f = _helper("tanh_light", "float32")
    out = f(np.float32(0.3))
    assert isinstance(out, np.float32) and abs(out - math.tanh(0.3)) < 1e-7


# --- the generated source ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def seed000():
    return symbp.derive(symbp.load_spec(cu.spec_text((2, 5, 1), ("sigmoid", "sigmoid"),
                                                     name="seed000")))


def test_source_is_stable_and_readable(seed000):
    src = generate_source(seed000, "cpu")
    assert src == generate_source(symbp.derive(symbp.load_spec(
        cu.spec_text((2, 5, 1), ("sigmoid", "sigmoid"), name="seed000"))), "cpu")
    header = src.split('"""')[1]
    assert "seed000" in header and seed000.spec.digest in header and symbp.__version__ in header
    assert "target: cpu, dtype: float64" in header
    for eq in seed000.equations:  # every non-update equation is a comment, one to one
        if eq.stage != "update":
            assert f"# {eq.target} = {eq.matrix.plain()}" in src
    for name in ("delta1", "delta2", "dW1", "db2", "a1"):
        assert name in src
    assert all(len(line) <= 100 for line in src.splitlines() if not line.lstrip().startswith("#"))
    assert "tanh_light" not in src  # unused helpers are not emitted


def test_parallel_source_runs_the_cpu_passes_on_row_blocks(seed000):
    par, cpu = generate_source(seed000, "parallel"), generate_source(seed000, "cpu")

    def fn(src, name):
        return src[src.index(f"def {name}("):].split("\n\n\n")[0]

    for name in ("_forward", "_backward", "_update"):  # the serial passes, unchanged
        assert fn(par, name) == fn(cpu, name)
    assert "prange" not in fn(par, "_backward")
    blocks = fn(par, "_run_blocks")
    assert "for b in prange(nb)" in blocks and "if nb == 1:" in blocks
    train = fn(par, "train_epochs")
    assert "prange" not in train and "_run_blocks(" in train and "_update_all(" in train
    # step and loss_and_grad: plain Python, train_epochs on one full batch (one compiled entry)
    for name, flags in (("step", "UPDATE, nb)"), ("loss_and_grad", "_NO_ORDER, 0, nb)")):
        assert "@njit" not in par.split(f"def {name}(")[0].rsplit("\n\n\n", 1)[-1]
        assert "train_epochs(" in fn(par, name) and flags in fn(par, name)
    assert "def step(W1, b1, W2, b2, x, y, eta, ws, nb):" in par
    assert "def workspace_size(n_rows, train=False, nb=1):" in par
    assert "parallel=True" in par and "from numba import config, njit, prange, types" in par


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_parallel_source_enters_no_parallel_region_on_one_block(optimizer):
    """Every prange of the parallel module (row blocks, and the blocked reduction, L2 term and
    update of a parameter of 76,800 weights) sits in the else of an ``if nb == 1``: one block
    runs serial code. Numba's OpenMP workers spinning after a region stalled a threaded BLAS
    call 15-fold."""
    import ast

    d = cu.derive_text(cu.spec_text((300, 256, 10), ("tanh", "identity"),
                                    "softmax_cross_entropy", l2=0.01), optimizer=optimizer)
    tree = ast.parse(generate_source(d, "parallel"))

    def pranges(nodes):
        return {id(n) for top in nodes for n in ast.walk(top) if isinstance(n, ast.For)
                and isinstance(n.iter, ast.Call) and getattr(n.iter.func, "id", "") == "prange"}

    guarded = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) == "nb == 1":
            assert not pranges(node.body)
            guarded |= pranges(node.orelse)
    every = pranges([tree])
    by_fn = {f.name: len(pranges([f])) for f in tree.body if isinstance(f, ast.FunctionDef)}
    assert by_fn["_run_blocks"] == by_fn["_run_forward"] == 1
    assert by_fn["_update_all"] == 1 and by_fn["_reduce"] == 1   # W1 only: 300 x 256
    assert every == guarded


def test_float32_source_casts_literals(seed000):
    src = generate_source(seed000, "cpu", "float32")
    assert "np.float32" in src and "f32(1)" in src
    assert "np.float64" not in src


def test_blas_for_big_layers_loops_for_tiny_ones(seed000):
    d = cu.derive_text(cu.spec_text((64, 128, 10), ("sigmoid", "identity"), "softmax_cross_entropy"))
    src = generate_source(d, "cpu")
    assert "_matmul(x, W1, a1)" in src and "_matmul(x.T, delta1, dW1)" in src
    assert "_matmul(delta2, W2.T, delta1)" in src
    tiny = generate_source(seed000, "cpu")  # 2-5-1: explicit loops, and no gemm helper
    assert "_matmul" not in tiny and "np.dot" not in tiny and "call_xxgemm" not in tiny


@pytest.mark.parametrize("act", ["sigmoid", "tanh", "relu", "leaky_relu", "softplus", "elu",
                                 "gelu", "silu"])
def test_narrow_layers_activate_in_one_flat_loop(act):
    # rows of 5 and 3 units do not vectorise: bias per row, activation over the flat buffer
    # (with the vector forms); the 16-unit layer keeps its activation in the row loop
    d = cu.derive_text(cu.spec_text((3, 5, 16, 3, 2), (act, act, act, "identity")))
    src = generate_source(d, "cpu")
    assert "a1_f = _view(a1, 0, a1.size)" in src and "a3_f = _view(a3, 0, a3.size)" in src
    assert "a2_f" not in src
    if act in ("sigmoid", "tanh"):
        assert "_light(" in src.split("a1_f = _view(a1, 0, a1.size)")[1].split("# z2 =")[0]
    module = cu.pure_python_module(d)
    X, Y = cu.data(d.spec, n=7)
    p = cu.params(d.spec)
    L, g = cu.call_loss_and_grad(module, d.params, p, X, Y)
    L_ref, g_ref, _ = ref.loss_and_grad(p, X, Y, *cu.reference_args(d.spec))
    assert abs(L - L_ref) <= 1e-12 * max(1.0, abs(L_ref))
    assert ref.max_rel_error(g, g_ref, floor=1e-12) < 1e-9


def test_unknown_target_and_dtype(seed000):
    with pytest.raises(CodegenError):
        generate_source(seed000, "tpu")
    with pytest.raises(CodegenError):
        generate_source(seed000, "cpu", "float16")


# --- the generated body, run as plain Python ---------------------------------------------------------

def _spec_ids():
    return [p.stem for p in SPECS]


@pytest.mark.parametrize("path", SPECS, ids=_spec_ids())
def test_derivations_pure_python_match_reference(path):
    spec = symbp.load_spec(path)
    d = symbp.derive(spec)
    module = cu.pure_python_module(d)
    X, Y = cu.data(spec)
    p = cu.params(spec)
    try:
        with np.errstate(all="ignore"):  # ill-posed specs divide by zero (checked below)
            L, g = cu.call_loss_and_grad(module, d.params, p, X, Y)
    except (ValueError, ZeroDivisionError):  # plain Python's math.log(0); Numba gives inf/NaN
        assert d.warnings, "only an ill-posed spec may leave the domain of its loss"
        L, g = float("nan"), None
    with np.errstate(all="ignore"):
        L_ref, g_ref, _ = ref.loss_and_grad(p, X, Y, *cu.reference_args(spec))
    if d.warnings:
        # ill-posed (seed 001's ReLU output into BCE's log): where the reference is undefined
        # (inf/NaN) the kernel must be too, never a silent finite number
        assert np.isfinite(L) == np.isfinite(L_ref)
    if np.isfinite(L_ref):
        assert abs(L - L_ref) <= 1e-12 * max(1.0, abs(L_ref))
        assert ref.max_rel_error(g, g_ref, floor=1e-12) < 1e-9


def test_module_imports_in_fresh_interpreter(tmp_path, seed000):
    path = tmp_path / "seed000_kernels.py"
    path.write_text(generate_source(seed000, "cpu"))
    X, Y = cu.data(seed000.spec)
    p = cu.params(seed000.spec)
    np.savez(tmp_path / "io.npz", X=X, Y=Y, **p)
    script = (
        "import importlib.util, sys, numpy as np\n"
        f"spec = importlib.util.spec_from_file_location('k', {str(path)!r})\n"
        "k = importlib.util.module_from_spec(spec); spec.loader.exec_module(k)\n"
        "assert 'symbp' not in sys.modules and 'sympy' not in sys.modules\n"
        f"io = np.load({str(tmp_path / 'io.npz')!r})\n"
        "L, *g = k.loss_and_grad(*[io[n] for n in k.PARAMS], io['X'], io['Y'])\n"
        "print(repr(float(L)))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stderr
    L_ref = ref.loss_and_grad(p, X, Y, *cu.reference_args(seed000.spec))[0]
    assert abs(float(out.stdout.strip()) - L_ref) < 1e-12


@pytest.mark.parametrize("z", [-40.0, -30.0])
def test_softplus_gradient_keeps_relative_accuracy_where_exp_is_near_one(z):
    # softplus' = 1 - exp(-a) with a = softplus(z) ~ e^z: 0 instead of ~4e-18 at z = -40, and
    # 3 digits at z = -30, before 1 - exp(u) was printed as -expm1(u)
    d = cu.derive_text(cu.spec_text((2, 3, 1), ("softplus", "identity")))
    module = cu.pure_python_module(d)
    X, Y = cu.data(d.spec, n=3)
    p = cu.params(d.spec)
    p["W1"][:] = 0.0
    p["b1"][:] = z
    L, g = cu.call_loss_and_grad(module, d.params, p, X, Y)
    L_ref, g_ref, _ = ref.loss_and_grad(p, X, Y, *cu.reference_args(d.spec))
    assert abs(L - L_ref) <= 1e-13 * abs(L_ref)
    for k in ("W1", "b1"):  # the tiny gradients themselves, to relative accuracy
        np.testing.assert_allclose(g[k], g_ref[k], rtol=1e-9, atol=0)
