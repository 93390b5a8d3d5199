"""The benchmark's hand-written NumPy peer is right: its gradients equal central differences.

Covers configs (i) (seed 000's sigmoid + MSE net) and (ii) (sigmoid + softmax CE) at tiny sizes,
plus (iii)/(iv)'s tanh / ReLU hidden layers, the in-place SGD step, and the harness's own
equality check.  NumPy only (PyTorch and JAX are optional peers and are not tested here), so it
runs everywhere in well under a second.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import harness  # noqa: E402
from benchmarks.configs import CONFIGS, copy_params, init_params, make_data  # noqa: E402
from benchmarks.peers import NumpyImpl, numpy_loss_and_grad, numpy_step  # noqa: E402

# config key -> tiny sizes and batch with the same activation, head and loss
TINY = {
    "i": ((2, 5, 1), 7),
    "ii": ((4, 6, 3), 5),
    "iii": ((3, 4, 4, 3), 5),
    "iv": ((5, 6, 4, 3), 6),
}


def _central_differences(cfg, params, X, Y, eps=1e-6):
    fd = {}
    for name, p in params.items():
        g = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            old = p[idx]
            p[idx] = old + eps
            plus = numpy_loss_and_grad(cfg, params, X, Y)[0]
            p[idx] = old - eps
            minus = numpy_loss_and_grad(cfg, params, X, Y)[0]
            p[idx] = old
            g[idx] = (plus - minus) / (2 * eps)
        fd[name] = g
    return fd


@pytest.mark.parametrize("key", ["i", "ii", "iii", "iv"])
def test_numpy_peer_gradients_match_finite_differences(key):
    sizes, batch = TINY[key]
    cfg = CONFIGS[key].scaled(sizes=sizes, batch=batch)
    X, Y = make_data(cfg, np.float64, seed=3)
    params = init_params(cfg, np.float64, seed=4)
    if cfg.activation == "relu":   # keep pre-activations away from the kink at 0
        X = X + np.sign(X) * 0.5
    _, grads = numpy_loss_and_grad(cfg, params, X, Y)
    fd = _central_differences(cfg, copy_params(params), X, Y)
    assert set(grads) == set(cfg.param_names)
    for name in cfg.param_names:
        assert grads[name].shape == params[name].shape
        np.testing.assert_allclose(grads[name], fd[name], rtol=1e-6, atol=1e-8, err_msg=name)


def test_seed000_loss_is_half_mean_squared_error():
    cfg = CONFIGS["i"].scaled(batch=9)
    X, Y = make_data(cfg, np.float64)
    params = init_params(cfg, np.float64)
    a1 = 1 / (1 + np.exp(-(X @ params["W1"] + params["b1"])))
    a2 = 1 / (1 + np.exp(-(a1 @ params["W2"] + params["b2"])))
    J, _ = numpy_loss_and_grad(cfg, params, X, Y)
    assert J == pytest.approx(0.5 * np.mean((Y - a2) ** 2), rel=1e-12)


def test_softmax_ce_loss_value():
    cfg = CONFIGS["ii"].scaled(sizes=(4, 6, 3), batch=5)
    X, Y = make_data(cfg, np.float64)
    params = init_params(cfg, np.float64)
    a1 = 1 / (1 + np.exp(-(X @ params["W1"] + params["b1"])))
    z2 = a1 @ params["W2"] + params["b2"]
    p = np.exp(z2) / np.exp(z2).sum(axis=1, keepdims=True)
    J, _ = numpy_loss_and_grad(cfg, params, X, Y)
    assert J == pytest.approx(-np.mean(np.sum(Y * np.log(p), axis=1)), rel=1e-12)


def test_numpy_step_is_in_place_sgd():
    cfg = CONFIGS["ii"].scaled(sizes=(4, 6, 3), batch=5)
    X, Y = make_data(cfg, np.float64)
    params = init_params(cfg, np.float64)
    before = copy_params(params)
    _, grads = numpy_loss_and_grad(cfg, before, X, Y)
    ids = {k: id(v) for k, v in params.items()}
    out = numpy_step(cfg, params, X, Y, 0.1)
    assert out is params and {k: id(v) for k, v in params.items()} == ids
    for k in cfg.param_names:
        np.testing.assert_allclose(params[k], before[k] - 0.1 * grads[k], rtol=1e-14, atol=0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_numpy_peer_keeps_dtype(dtype):
    cfg = CONFIGS["iii"].scaled(sizes=(3, 4, 4, 3), batch=5)
    X, Y = make_data(cfg, dtype)
    params = init_params(cfg, dtype)
    _, grads = numpy_loss_and_grad(cfg, params, X, Y)
    assert all(g.dtype == dtype for g in grads.values())
    numpy_step(cfg, params, X, Y, 0.1)
    assert all(p.dtype == dtype for p in params.values())


def test_harness_check_accepts_numpy_and_rejects_a_wrong_gradient():
    cfg = CONFIGS["ii"].scaled(sizes=(4, 6, 3), batch=5)
    X, Y = make_data(cfg, np.float64)
    params = init_params(cfg, np.float64)
    assert harness.check_reference_fd(cfg, params, X, Y) < 1e-5
    assert harness.check_impl(cfg, np.float64, NumpyImpl(cfg, np.float64), params, X, Y) < 1e-12

    class Wrong(NumpyImpl):      # the classic bug: softmax-CE delta without the 1/N
        def loss_and_grad(self, params, X, Y):
            J, g = super().loss_and_grad(params, X, Y)
            return J, {k: v * X.shape[0] for k, v in g.items()}

    with pytest.raises(harness.GradientMismatch):
        harness.check_impl(cfg, np.float64, Wrong(cfg, np.float64), params, X, Y)


def test_registry_runs_a_registered_impl():
    cfg = CONFIGS["i"].scaled(batch=8)
    name = "test numpy copy"
    harness.register_impl(name, NumpyImpl, replace=True)
    try:
        results = harness.run_config(cfg, np.float64, repeats=1, block_s=0.001, names=[name],
                                     log=lambda *a: None)
    finally:
        harness.unregister_impl(name)
    assert [r.name for r in results] == [name]
    assert results[0].status == "ok" and results[0].seconds > 0


def test_step_profile_lists_every_product_of_the_step():
    # the profile reads the products from the lowered program: config ii's five, with the
    # operands' stored shapes (W2 is (128, 10), used as W2.T), and BLAS only where the layer is big enough
    import symbp
    from benchmarks.step_profile import products
    from benchmarks.symbp_impls import spec_text
    from symbp.codegen.lower import lower

    prog = lower(symbp.derive(symbp.load_spec(spec_text(CONFIGS["ii"]))))
    got = {label: (kind, a, b, blas) for label, kind, a, b, blas in products(prog, 128)}
    assert got == {"a1 = x @ W1": ("nn", (128, 64), (64, 128), True),
                   "z2 = a1 @ W2": ("nn", (128, 128), (128, 10), True),
                   "dW2 = a1.T @ delta2": ("tn", (128, 128), (128, 10), True),
                   "delta1 = delta2 @ W2.T": ("nt", (128, 10), (128, 10), True),
                   "dW1 = x.T @ delta1": ("tn", (128, 64), (128, 128), True)}
    prog_i = lower(symbp.derive(symbp.load_spec(spec_text(CONFIGS["i"]))))
    assert not any(blas for *_, blas in products(prog_i, 100))


def test_ab_kernels_names_a_missing_or_wrong_module(tmp_path):
    from benchmarks import ab_kernels

    with pytest.raises(SystemExit, match="no such file"):
        ab_kernels.main([str(tmp_path / "old.py"), str(tmp_path / "new.py")])
    (tmp_path / "cuda.py").write_text("TARGET = 'cuda'\n")
    with pytest.raises(SystemExit, match="not a cpu or parallel module"):
        ab_kernels.load(str(tmp_path / "cuda.py"))


def test_ab_kernels_names_a_module_by_its_file_not_its_side(tmp_path):
    """Numba's cache next to a module file imports the module by the name it was compiled
    under, so the same file gets the same name on either side, and two files of one stem in
    different folders get different names."""
    from benchmarks import ab_kernels

    paths = [tmp_path / side / "kernels.py" for side in ("old", "new")]
    for p in paths:
        p.parent.mkdir()
        p.write_text("workspace_size = None\n")
    first, again, other = (ab_kernels.load(str(p)) for p in (paths[0], paths[0], paths[1]))
    assert first.__name__ == again.__name__ != other.__name__


def test_ab_compile_names_a_missing_or_wrong_module(tmp_path):
    from benchmarks import ab_compile

    with pytest.raises(SystemExit, match="no such file"):
        ab_compile.main([str(tmp_path / "old.py"), str(tmp_path / "new.py")])
    (tmp_path / "cuda.py").write_text("TARGET = 'cuda'\n")
    with pytest.raises(SystemExit, match="not a cpu or parallel module"):
        ab_compile.main([str(tmp_path / "cuda.py"), str(tmp_path / "cuda.py")])


def test_start_up_scripts_share_one_workload_and_their_children_parse():
    """compile_times.py and compile_profile.py time the same work (one WORKLOAD), and the child
    programs assembled around it are valid Python that reads the names the work sets."""
    import ast

    from benchmarks import compile_profile, compile_times

    for child in (compile_times.CHILD, compile_profile.CHILD):
        assert compile_times.WORKLOAD in child
        tree = ast.parse(child)
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        assert {"t_load", "t_first", "compile_spec"} <= names


def test_gpu_step_rows_say_why_they_cannot_run_and_reject_unknown_names(capsys):
    """benchmarks/gpu_step.py on any machine: each GPU peer either passes the gradient check and
    is timed, or its row names what is missing (no GPU, no CUDA build, not installed)."""
    from benchmarks import gpu_step

    with pytest.raises(SystemExit):
        gpu_step.main(["--impls", "torch cuda,tpu"])
    assert "unknown tpu" in capsys.readouterr().err
    try:
        rc = gpu_step.main(["--impls", "torch cuda,jax gpu", "--configs", "i", "--dtype",
                            "float32", "--scaled", "--repeats", "1", "--block", "0.001"])
    finally:
        for name in gpu_step.IMPLS:
            harness.unregister_impl(name)
    table = capsys.readouterr().out
    assert rc == 0
    rows = [line for line in table.splitlines() if line.startswith("i ")]
    names = {"torch cuda", "jax gpu"}
    assert {n for n in names if any(n in r for r in rows)} == names
    for r in rows:
        timed = r.split()[-1].replace(".", "", 1).isdigit()
        assert timed or any(w in r for w in ("GPU", "CUDA", "not installed")), r


def test_rounds_merge_to_each_rows_median_and_keep_a_failure():
    from benchmarks.train_step import merge_rounds

    def row(name, seconds, status="ok", config="i"):
        return harness.Result(config=config, dtype="float64", name=name, peer=False,
                              seconds=seconds, status=status)

    rounds = [[row("a", 3.0), row("b", 1.0), row("d", 0.5, "digits", "digits")],
              [row("b", 9.0), row("a", 1.0)],
              [row("a", 2.0), row("b", None, "FAILED check")]]
    merged = {r.name: r for r in merge_rounds(rounds)}
    assert merged["a"].seconds == 2.0 and merged["a"].extra["rounds"] == [3.0, 1.0, 2.0]
    assert merged["b"].status == "FAILED check"          # one failed round fails the row
    assert merged["d"].status == "digits" and merged["d"].seconds == 0.5
    table = harness.format_table([merged["a"]])
    assert "1000000.0-3000000.0" in table and "2000000.0" in table
