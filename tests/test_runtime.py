"""Compiled kernels: gradients against finite differences, the hand-written references and the
equation interpreter; targets and dtypes against each other; steps, optimizers, whole-loop
training (resume, non-finite reports) and extreme logits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import symbp
from symbp.evaluate import gradients
from symbp.runtime import CompiledModel, RuntimeInputError, compile_derivation

try:
    from . import codegen_util as cu
except ImportError:
    import codegen_util as cu

ref = cu.ref
ROOT = Path(__file__).resolve().parents[1]
#: Compiled here (each costs seconds of Numba time); every spec runs as plain Python in
#: test_codegen.py.
COMPILED = ["seed000_sigmoid_mse", "digits_softmax", "seed001_relu_bce_logits",
            "deep_tanh_regression"]
_MODELS: dict = {}


def model(name: str, target: str = "cpu", dtype: str = "float64", optimizer=None):
    key = (name, target, dtype, optimizer)
    if key not in _MODELS:
        path = ROOT / "derivations" / f"{name}.toml"
        spec = symbp.load_spec(path if path.exists() else name)
        d = symbp.derive(spec, optimizer=optimizer)
        _MODELS[key] = (d, compile_derivation(d, target, dtype))
    return _MODELS[key]


def fd_grad(m: CompiledModel, p, X, Y, kinked: bool):
    """Central differences: the 5-point stencil (error ~1e-12) for smooth networks, the 2-point
    one with a small step where a kink (ReLU at 0) could fall inside the stencil."""
    if kinked:
        return ref.finite_difference_grad(lambda q: m.loss(q, X, Y), p, eps=1e-6)
    return ref.finite_difference_grad(lambda q: m.loss(q, X, Y), p, eps=1e-4, order=4)


@pytest.mark.parametrize("name", COMPILED)
def test_compiled_gradients_three_ways(name):
    d, m = model(name)
    X, Y = cu.data(d.spec, n=5)
    p = cu.params(d.spec)
    L, g = m.loss_and_grad(p, X, Y)
    L_ref, g_ref, _ = ref.loss_and_grad(p, X, Y, *cu.reference_args(d.spec))
    L_ev, g_ev = gradients(d, p, X, Y)
    assert abs(L - L_ref) <= 1e-12 * max(1, abs(L_ref)) and abs(L - L_ev) <= 1e-12 * max(1, abs(L))
    assert ref.max_rel_error(g, g_ref, floor=1e-12) < 1e-9
    assert ref.max_rel_error(g, g_ev, floor=1e-12) < 1e-9
    scale = max(float(np.max(np.abs(v))) for v in g.values())
    kinked = any(a in ref.KINKED_ACTIVATIONS for a, _ in cu.reference_args(d.spec)[0])
    if sum(v.size for v in p.values()) <= 500:
        fd = fd_grad(m, p, X, Y, kinked)
        assert ref.max_rel_error(g, fd, floor=(1e-3 if kinked else 1e-5) * scale) < 1e-6
    else:  # big nets: central differences along random directions
        rng = np.random.default_rng(0)
        for _ in range(3):
            v = {k: rng.standard_normal(a.shape) for k, a in p.items()}
            fd = ref.directional_fd(lambda q: m.loss(q, X, Y), p, v, eps=1e-5)
            exact = sum(float(np.sum(g[k] * v[k])) for k in p)
            assert abs(fd - exact) <= 1e-6 * max(abs(exact), 1e-3)
    assert set(g) == set(p) and all(g[k].shape == p[k].shape for k in p)


def test_forward_matches_reference():
    d, m = model("digits_softmax")
    X, _ = cu.data(d.spec, n=4)
    p = cu.params(d.spec)
    acts, loss, *_ = cu.reference_args(d.spec)
    np.testing.assert_allclose(m.forward(p, X), ref.forward(p, X, acts, loss)["yhat"], rtol=1e-12)


@pytest.mark.slow
def test_parallel_agrees_with_cpu():
    d, cpu = model("digits_softmax")
    _, par = model("digits_softmax", "parallel")
    X, Y = cu.data(d.spec, n=33)
    p = cu.params(d.spec)
    L1, g1 = cpu.loss_and_grad(p, X, Y)
    L2, g2 = par.loss_and_grad(p, X, Y)
    assert abs(L1 - L2) <= 1e-10 * abs(L1)
    assert ref.max_rel_error(g1, g2, floor=1e-12) < 1e-10
    q1, q2 = cpu.init_params(3), par.init_params(3)
    r1 = cpu.train_epochs(q1, None, X, Y, 0.01, batch_size=8, n_epochs=2, seed=1)
    r2 = par.train_epochs(q2, None, X, Y, 0.01, batch_size=8, n_epochs=2, seed=1)
    np.testing.assert_allclose(r1.losses, r2.losses, rtol=1e-10)
    assert ref.max_rel_error(q1, q2, floor=1e-12) < 1e-8


def test_float32_agrees_with_float64():
    d, m64 = model("seed000_sigmoid_mse")
    _, m32 = model("seed000_sigmoid_mse", dtype="float32")
    X, Y = cu.data(d.spec, n=16)
    p = cu.params(d.spec)
    L64, g64 = m64.loss_and_grad(p, X, Y)
    L32, g32 = m32.loss_and_grad(p, X, Y)
    assert all(v.dtype == np.float32 for v in g32.values())
    assert abs(L32 - L64) <= 1e-4 * abs(L64)
    scale = max(float(np.max(np.abs(v))) for v in g64.values())
    assert ref.max_rel_error(g32, g64, floor=1e-3 * scale) < 1e-4


def test_sgd_step_updates_in_place():
    d, m = model("seed000_sigmoid_mse")
    X, Y = cu.data(d.spec)
    p = m.init_params(0)
    before = {k: v.copy() for k, v in p.items()}
    L, g = m.loss_and_grad(p, X, Y)
    assert m.step(p, X, Y, 0.5) == pytest.approx(L, rel=1e-14)
    for k in p:
        np.testing.assert_allclose(p[k], before[k] - 0.5 * g[k], rtol=1e-14, atol=1e-16)


@pytest.mark.parametrize("target", ["cpu", "parallel"])
def test_one_compiled_entry_serves_loss_and_grad_step_and_train_epochs(target):
    """step and loss_and_grad run train_epochs on one full batch: after all three (shuffled
    minibatches too) Numba holds one compiled signature, and loss_and_grad's gradients are
    fresh arrays, not views the next call overwrites."""
    d, m = model("digits_softmax", target)
    X, Y = cu.data(d.spec, n=24)
    p = m.init_params(0)
    L, g = m.loss_and_grad(p, X, Y)
    first = {k: v.copy() for k, v in g.items()}
    m.step(p, X, Y, 0.01)
    m.train_epochs(p, None, X, Y, 0.01, batch_size=5, n_epochs=2, seed=1)
    m.train_epochs(p, None, X, Y, 0.01, batch_size=64, n_epochs=1)
    m.loss_and_grad(p, X[:7], Y[:7])
    assert not hasattr(m.module.step, "signatures")  # plain Python, no Numba dispatcher
    assert not hasattr(m.module.loss_and_grad, "signatures")
    assert len(m.module.train_epochs.signatures) == 1
    for k in g:
        np.testing.assert_array_equal(g[k], first[k])


def test_a_gradient_needs_rows_in_x_and_y():
    d, m = model("seed000_sigmoid_mse")
    X, Y = cu.data(d.spec, n=6)
    p = m.init_params(0)
    for call in (lambda x, y: m.loss_and_grad(p, x, y), lambda x, y: m.step(p, x, y, 0.1),
                 lambda x, y: m.train_epochs(p, None, x, y, 0.1)):
        with pytest.raises(RuntimeInputError, match="X has 0 rows and Y has 0"):
            call(X[:0], Y[:0])
        with pytest.raises(RuntimeInputError, match="X has 6 rows and Y has 5"):
            call(X, Y[:5])
    with pytest.raises(ValueError, match="x has no rows"):  # the generated module's own check
        m.module.loss_and_grad(*[p[k] for k in m.param_names], X[:0], Y[:0])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_softmax_cross_entropy_gradients_need_target_rows_that_sum_to_one(dtype):
    # the kernels compute (ŷ − y) per row, the gradient of −Σ y log ŷ only when Σ_k y = 1
    d, m = model("digits_softmax", dtype=dtype)
    X, Y = cu.data(d.spec, n=6)
    p = m.init_params(0)
    soft = np.full_like(Y, 1 / Y.shape[1])  # probabilities (label smoothing): allowed
    m.loss_and_grad(p, X, soft)
    bad = Y.copy()
    bad[4] *= 2  # row 4 sums to 2
    for call in (lambda y: m.loss_and_grad(p, X, y), lambda y: m.step(p, X, y, 0.1),
                 lambda y: m.train_epochs(p, None, X, y, 0.1)):
        with pytest.raises(RuntimeInputError, match="row 4 of Y sums to 2, not 1"):
            call(bad)
    assert np.isfinite(m.loss(p, X, bad))  # the loss itself holds for any targets


def test_adam_step_matches_numpy():
    d, m = model("digits_softmax")  # the spec trains with Adam
    assert m.optimizer == "adam"
    X, Y = cu.data(d.spec, n=8)
    p = m.init_params(0)
    q = {k: v.copy() for k, v in p.items()}
    state = m.init_state()
    mom = {k: np.zeros_like(v) for k, v in q.items()}
    sec = {k: np.zeros_like(v) for k, v in q.items()}
    acts, loss, red, l2 = cu.reference_args(d.spec)
    for t in (1, 2):
        m.step(p, X, Y, 0.01, state=state)
        _, g, _ = ref.loss_and_grad(q, X, Y, acts, loss, red, l2)
        for k in q:
            mom[k] = 0.9 * mom[k] + 0.1 * g[k]
            sec[k] = 0.999 * sec[k] + 0.001 * g[k] ** 2
            q[k] -= 0.01 * (mom[k] / (1 - 0.9**t)) / (np.sqrt(sec[k] / (1 - 0.999**t)) + 1e-8)
    assert state["t"] == 2
    assert ref.max_rel_error(p, q, floor=1e-12) < 1e-9


def test_train_epochs_resume_is_exact():
    d, m = model("digits_softmax")
    X, Y = cu.data(d.spec, n=50, seed=3)
    p1, p2 = m.init_params(7), m.init_params(7)
    s1, s2 = m.init_state(), m.init_state()
    full = m.train_epochs(p1, s1, X, Y, 0.01, batch_size=16, n_epochs=6, seed=5)
    a = m.train_epochs(p2, s2, X, Y, 0.01, batch_size=16, n_epochs=3, seed=5)
    b = m.train_epochs(p2, s2, X, Y, 0.01, batch_size=16, n_epochs=3, seed=5, start_epoch=3)
    assert full.nonfinite is None and full.t == 6 * 4 == s2["t"]
    np.testing.assert_array_equal(full.losses, np.concatenate([a.losses, b.losses]))
    for k in p1:
        np.testing.assert_array_equal(p1[k], p2[k])
    assert full.losses[-1] < full.losses[0]


def test_train_epochs_reports_first_nonfinite():
    d, m = model("seed000_sigmoid_mse")
    X, Y = cu.data(d.spec, n=20)
    X[13, 0] = np.nan
    p = m.init_params(0)
    before = {k: v.copy() for k, v in p.items()}
    r = m.train_epochs(p, None, X, Y, 0.1, batch_size=20, n_epochs=3, seed=0)
    assert r.nonfinite is not None
    assert (r.nonfinite.epoch, r.nonfinite.step) == (0, 0)
    assert r.nonfinite.quantity == "a1"  # z1 is not stored: a1 is where it first shows
    assert str(r.nonfinite) == "non-finite a1 at epoch 0 step 0"
    assert len(r.losses) == 0
    for k in p:  # stopped before the update
        np.testing.assert_array_equal(p[k], before[k])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_train_epochs_reports_first_nonfinite_in_a_shuffled_minibatch(seed):
    """Batches of 8 of 20 rows (the last one has 4): the report names the step whose batch
    holds the bad row, read back from the work array the kernel stopped with."""
    d, m = model("seed000_sigmoid_mse")
    X, Y = cu.data(d.spec, n=20)
    X[13, 1] = np.nan
    p = m.init_params(0)
    r = m.train_epochs(p, None, X, Y, 0.1, batch_size=8, n_epochs=2, seed=seed)
    order = np.empty(20, dtype=np.int64)
    m.module._order(seed, 0, order)
    where = int(np.nonzero(order == 13)[0][0])
    assert (r.nonfinite.epoch, r.nonfinite.step, r.nonfinite.quantity) == (0, where // 8, "a1")
    assert r.t == where // 8 and len(r.losses) == 0


@pytest.mark.parametrize("name", ["digits_softmax", "seed001_relu_bce_logits"])
def test_extreme_logits_are_finite_and_correct(name):
    d, m = model(name)
    L_ = len(d.spec.model.sizes) - 1
    X, Y = cu.data(d.spec, n=4)
    p = cu.params(d.spec)
    p[f"b{L_}"] = np.where(np.arange(p[f"b{L_}"].size) % 2 == 0, 1000.0, -1000.0)
    p[f"W{L_}"] = np.zeros_like(p[f"W{L_}"])
    L, g = m.loss_and_grad(p, X, Y)
    L_ref, g_ref, _ = ref.loss_and_grad(p, X, Y, *cu.reference_args(d.spec))
    assert np.isfinite(L) and all(np.all(np.isfinite(v)) for v in g.values())
    assert abs(L - L_ref) <= 1e-12 * abs(L_ref)
    assert abs(m.loss(p, X, Y) - L_ref) <= 1e-12 * abs(L_ref)  # the loss-only pass
    assert ref.max_rel_error(g, g_ref, floor=1e-12) < 1e-9


@pytest.mark.parametrize("dtype,big", [("float64", 750.0), ("float32", 60.0)])
def test_silu_gradient_is_finite_for_large_preactivations(dtype, big):
    # SymPy's own form of SiLU' is (z + e^z + 1) e^z / (e^z + 1)^2: inf/inf (NaN) from z = 355
    # in float64 and z = 44 in float32; the derivation writes it in the bounded sigmoid instead
    d = cu.derive_text(cu.spec_text((2, 3, 1), ("silu", "identity"), name="silu_big"))
    m = compile_derivation(d, "cpu", dtype)
    X, Y = cu.data(d.spec, n=3)
    p = cu.params(d.spec)
    p["W1"][:] = 0.0
    p["b1"][:] = [-big, big, 0.5]
    dt = np.dtype(dtype)
    L, g = m.loss_and_grad({k: v.astype(dt) for k, v in p.items()}, X.astype(dt), Y.astype(dt))
    L_ref, g_ref, _ = ref.loss_and_grad(p, X, Y, *cu.reference_args(d.spec))
    assert np.isfinite(L) and all(np.all(np.isfinite(v)) for v in g.values())
    tol = 1e-9 if dtype == "float64" else 1e-4
    assert ref.max_rel_error({k: v.astype(np.float64) for k, v in g.items()}, g_ref,
                             floor=1e-6) < tol


def test_step_hyper_parameters_defaults_overrides_and_errors():
    # the default learning rate, a learning rate given, another beta1: each is the Adam step
    # NumPy takes with those values; unknown names and incomplete states are errors
    d, m = model("digits_softmax")
    X, Y = cu.data(d.spec, n=8)
    acts, loss, red, l2 = cu.reference_args(d.spec)
    for lr, extra in ((None, {}), (0.003, {}), (None, {"beta1": 0.5})):
        h = {**m.hyper, **extra, **({} if lr is None else {"eta": lr})}
        p = m.init_params(1)
        q = {k: v.copy() for k, v in p.items()}
        m.step(p, X, Y, lr, state=m.init_state(), **extra)
        _, g, _ = ref.loss_and_grad(q, X, Y, acts, loss, red, l2)
        for k in q:
            mom, sec = (1 - h["beta1"]) * g[k], (1 - h["beta2"]) * g[k] ** 2
            want = q[k] - h["eta"] * (mom / (1 - h["beta1"])) / (
                np.sqrt(sec / (1 - h["beta2"])) + h["epsilon"])
            np.testing.assert_allclose(p[k], want, rtol=1e-10, atol=1e-14)
    p = m.init_params(1)
    with pytest.raises(RuntimeInputError, match="unknown hyper-parameters"):
        m.step(p, X, Y, 0.01, state=m.init_state(), momentum=0.9)
    with pytest.raises(RuntimeInputError, match="optimizer state lacks"):
        m.step(p, X, Y, 0.01, state={"t": 0})


def test_init_params_and_input_checks():
    d, m = model("seed000_sigmoid_mse")
    p = m.init_params(3)
    assert {k: v.shape for k, v in p.items()} == {"W1": (2, 5), "b1": (5,), "W2": (5, 1), "b2": (1,)}
    assert all(np.array_equal(p[k], m.init_params(3)[k]) for k in p)
    X, Y = cu.data(d.spec)
    with pytest.raises(RuntimeInputError, match="shape"):
        m.loss(p, X[:, :1], Y)
    with pytest.raises(RuntimeInputError, match="in place"):
        m.step({**p, "W1": p["W1"].astype(np.float32)}, X, Y, 0.1)
    with pytest.raises(RuntimeInputError, match="W2"):
        m.loss({"W1": p["W1"], "b1": p["b1"]}, X, Y)


# --- the parallel target's row blocks, step's work array, BLAS threads --------------------------

def _blocked_net(target):
    """300-230-3 (tanh, softmax CE, L2): BLAS for layer 1, loops for layer 2. W1's 69,000
    weights pass PAR_MIN_ELEMENTS, so with nb > 1 its reduction, L2 term and update run in
    blocks of BLOCK in prange (the last one short), with nb == 1 in one serial loop."""
    from symbp.codegen.parallel_module import BLOCK, PAR_MIN_ELEMENTS

    assert PAR_MIN_ELEMENTS <= 300 * 230 and 300 * 230 % BLOCK
    text = cu.spec_text((300, 230, 3), ("tanh", "identity"), "softmax_cross_entropy", l2=0.01,
                        name="blocked")
    d = cu.derive_text(text)
    return d, compile_derivation(d, target, "float64")


@pytest.mark.slow
@pytest.mark.parametrize("nb", [1, 2, 3, 7])
def test_parallel_row_blocks_agree_with_cpu_and_reference(nb, monkeypatch):
    """Any block count gives the cpu target's results to rounding: the L2 term once (not once
    a block), blocks of unequal size (150 / 7 rows), minibatches smaller than nb (the last
    of 150 rows in batches of 40 has 30), a work array reused and grown across calls."""
    d, cpu = _blocked_net("cpu")
    _, par = _blocked_net("parallel")
    monkeypatch.setattr(par, "blocks", lambda rows: nb)
    X, Y = cu.data(d.spec, n=150)
    p = cu.params(d.spec)
    L_ref, g_ref, _ = ref.loss_and_grad(p, X, Y, *cu.reference_args(d.spec))
    L, g = par.loss_and_grad(p, X, Y)
    assert abs(L - L_ref) <= 1e-12 * abs(L_ref)
    assert ref.max_rel_error(g, g_ref, floor=1e-12) < 1e-10
    assert par.loss(p, X, Y) == pytest.approx(L_ref, rel=1e-12)
    np.testing.assert_allclose(par.forward(p, X), cpu.forward(p, X), rtol=1e-12, atol=1e-15)
    q1, q2 = cpu.init_params(2), par.init_params(2)
    for rows in (150, 7, 150):
        assert cpu.step(q1, X[:rows], Y[:rows], 0.05) == pytest.approx(
            par.step(q2, X[:rows], Y[:rows], 0.05), rel=1e-12)
    assert ref.max_rel_error(q1, q2, floor=1e-12) < 1e-10
    r1 = cpu.train_epochs(q1, None, X, Y, 0.05, batch_size=40, n_epochs=2, seed=3)
    r2 = par.train_epochs(q2, None, X, Y, 0.05, batch_size=40, n_epochs=2, seed=3)
    np.testing.assert_allclose(r1.losses, r2.losses, rtol=1e-12)
    assert r1.t == r2.t == 3 + 2 * 4  # the three steps before, then 4 batches an epoch
    assert ref.max_rel_error(q1, q2, floor=1e-12) < 1e-10


@pytest.mark.slow
def test_parallel_train_epochs_stops_at_a_nonfinite_row_in_a_later_block(monkeypatch):
    """The bad row is in the second of two row blocks: the loss sum and the reduced gradients
    carry it, training stops before the update, and the diagnosis reads the block's rows."""
    d, m = model("seed000_sigmoid_mse", "parallel")
    monkeypatch.setattr(m, "blocks", lambda rows: 2)
    X, Y = cu.data(d.spec, n=20)
    X[17, 0] = np.nan
    p = m.init_params(0)
    before = {k: v.copy() for k, v in p.items()}
    r = m.train_epochs(p, None, X, Y, 0.1, batch_size=20, n_epochs=3, seed=0)
    assert (r.nonfinite.epoch, r.nonfinite.step, r.nonfinite.quantity) == (0, 0, "a1")
    for k in p:
        np.testing.assert_array_equal(p[k], before[k])


def test_parallel_block_count_follows_threads_work_and_memory(monkeypatch):
    """One block a thread, but none under PARALLEL_MIN_WORK multiply-adds, no more than rows,
    and within the gradient-copy budget; cpu kernels take no block count."""
    import symbp.runtime as rt

    d, m = model("digits_softmax", "parallel")
    _, cpu = model("digits_softmax")
    macs = m._macs
    assert macs == sum(a * b for a, b in zip(d.spec.model.sizes, d.spec.model.sizes[1:]))
    assert cpu.blocks(10_000) == 0
    monkeypatch.setattr(rt, "numba_threads", lambda: 8)
    rows_per_block = -(-rt.PARALLEL_MIN_WORK // macs)
    assert m.blocks(rows_per_block - 1) == 1           # too little work to split
    assert m.blocks(3 * rows_per_block) == 3           # one block per PARALLEL_MIN_WORK
    assert m.blocks(10**6) == 8                        # at most one a thread
    monkeypatch.setattr(rt, "PARALLEL_MAX_GRAD_BYTES", 2 * m._grad_bytes)
    assert m.blocks(10**6) == 3                        # block 0 + two gradient copies
    monkeypatch.setattr(rt, "numba_threads", lambda: 1)
    assert m.blocks(10**6) == 1
    assert m.module.workspace_size(64, True, 3) - m.module.workspace_size(64, True, 1) >= \
        2 * m._grad_bytes // m.dtype.itemsize
    with pytest.raises(ValueError, match="nb must be at least 1, got 0"):
        m.module.workspace_size(64, True, 0)


def test_numba_threads_reads_the_calling_threads_count():
    """The fast thread-count read follows numba.set_num_threads, as the public getter does."""
    import numba

    from symbp.runtime import numba_threads

    own = numba.get_num_threads()
    try:
        for n in (1, numba.config.NUMBA_NUM_THREADS):
            numba.set_num_threads(n)
            assert numba_threads() == numba.get_num_threads() == n
    finally:
        numba.set_num_threads(own)


def test_step_is_a_gradient_step_with_a_reused_work_array():
    d, m = model("digits_softmax", optimizer="sgd")
    X, Y = cu.data(d.spec, n=20)
    p = cu.params(d.spec)
    for rows in (20, 3, 20):
        L, g = m.loss_and_grad(p, X[:rows], Y[:rows])
        expected = {k: p[k] - 0.1 * g[k] for k in p}
        assert m.step(p, X[:rows], Y[:rows], lr=0.1) == pytest.approx(L, rel=1e-12)
        assert ref.max_rel_error(p, expected, floor=1e-12) < 1e-12
    assert m.workspace(20).size >= m.module.workspace_size(20) > m.module.workspace_size(3)


def test_blas_single_threaded_sets_one_thread_and_restores():
    from threadpoolctl import threadpool_info

    from symbp.runtime import blas_single_threaded

    import scipy.linalg.cython_blas  # noqa: F401 - the BLAS Numba calls

    def counts():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    before = counts()
    assert before
    with blas_single_threaded():
        assert counts() == [1] * len(before)
        with blas_single_threaded():  # nested (or another thread's) hold: still one thread
            assert counts() == [1] * len(before)
        assert counts() == [1] * len(before)
    assert counts() == before


@pytest.mark.slow
def test_parallel_kernels_can_be_cached(tmp_path, monkeypatch):
    """A parallel kernel that calls get_num_threads() (or holds another ctypes pointer) cannot
    be cached by Numba: every process would compile it again."""
    import warnings

    from numba.core.errors import NumbaWarning

    monkeypatch.setenv("SYMBP_CACHE_DIR", str(tmp_path))
    d, _ = model("digits_softmax")
    with warnings.catch_warnings():
        warnings.simplefilter("error", NumbaWarning)
        m = compile_derivation(d, "parallel", "float32")
        X, Y = cu.data(d.spec, n=70)
        m.step(m.init_params(0), X, Y, 0.01)
        m.train_epochs(m.init_params(0), None, X, Y, 0.01, batch_size=70, n_epochs=1)
    assert list(tmp_path.rglob("*.nbc"))


def test_epoch_order_is_a_seeded_permutation_the_same_compiled_and_in_python():
    d, m = model("seed000_sigmoid_mse")

    def order(fn, seed, epoch, n):
        out = np.full(n, -1, dtype=np.int64)  # every slot written
        fn(seed, epoch, out)
        return out

    compiled = m.module._order
    python = compiled.py_func
    for seed, epoch, n in [(0, 0, 1), (0, 0, 2), (7, 3, 100), (-5, 2, 33), (2**40, 9, 50)]:
        a = order(compiled, seed, epoch, n)
        assert np.array_equal(a, order(python, seed, epoch, n))
        assert np.array_equal(np.sort(a), np.arange(n))
    first = order(compiled, 0, 0, 100)
    assert not np.array_equal(first, order(compiled, 0, 1, 100))  # a new order per epoch
    assert not np.array_equal(first, order(compiled, 1, 0, 100))  # and per seed
    # every position is reachable: over many epochs each row visits the first slot
    firsts = {int(order(compiled, 3, e, 10)[0]) for e in range(300)}
    assert firsts == set(range(10))


def test_matmul_computes_what_np_dot_computes_for_every_layout():
    """The generated modules' _matmul, compiled (one BLAS gemm call, not np.dot), against
    float64 a @ b: each operand in C order, F order and as a transposed view, both dtypes,
    one-row, one-column and empty products (an empty sum writes zeros); shapes that do not
    match raise ValueError (no out-of-bounds read); other layouts fall back to np.dot."""
    from numba import njit

    matmul = model("digits_softmax")[1].module._matmul
    call = njit(lambda a, b, out: matmul(a, b, out))
    rng = np.random.default_rng(3)
    layouts = {"C": np.ascontiguousarray, "F": np.asfortranarray,
               "T": lambda a: np.ascontiguousarray(a.T).T}
    for dtype, tol in ((np.float64, 1e-13), (np.float32, 1e-5)):
        for m_, k, n in ((7, 5, 3), (1, 5, 3), (7, 5, 1), (7, 1, 3), (0, 5, 3), (7, 0, 3)):
            a0 = rng.standard_normal((m_, k)).astype(dtype)
            b0 = rng.standard_normal((k, n)).astype(dtype)
            want = a0.astype(np.float64) @ b0.astype(np.float64)
            for la, lb in (("C", "C"), ("F", "C"), ("C", "T"), ("T", "F")):
                out = np.full((m_, n), 7.0, dtype)
                call(layouts[la](a0), layouts[lb](b0), out)
                assert np.allclose(out, want, rtol=tol, atol=tol * k), (dtype, m_, k, n, la, lb)
    for a, b, out in ((np.ones((3, 4)), np.ones((5, 2)), np.ones((3, 2))),
                      (np.ones((3, 4)), np.ones((4, 2)), np.ones((3, 3)))):
        with pytest.raises(ValueError, match="shapes do not match"):
            call(a, b, out)
    big = rng.standard_normal((6, 10))
    out = np.empty((6, 3))
    from numba.core.errors import NumbaPerformanceWarning

    with pytest.warns(NumbaPerformanceWarning):  # a strided operand: np.dot's path (and warning)
        call(big[:, ::2], big[:5, :3].copy(), out)
    assert np.allclose(out, big[:, ::2] @ big[:5, :3], rtol=1e-13)


def test_view_is_the_same_view_compiled_and_in_python():
    """_view(a, o, shape): elements o.. of a C-contiguous array as an array of shape, sharing
    its memory (writes go through), compiled (the intrinsic) and in plain Python; anything but
    a C-contiguous array is refused with a message, not read as if it were one."""
    from numba import njit
    from numba.core.errors import TypingError

    module = model("digits_softmax")[1].module
    views = {"compiled": njit(lambda a, o, shape: module._view(a, o, shape)),
             "python": module._view_py}
    for kind, view in views.items():
        for dtype in (np.float64, np.float32):
            base = np.arange(40, dtype=dtype).reshape(5, 8)
            v = view(base, 3, (4, 2))
            assert v.shape == (4, 2) and v.flags.c_contiguous and v.dtype == dtype, kind
            assert np.array_equal(v, np.arange(3, 11, dtype=dtype).reshape(4, 2)), kind
            v[1, 1] = -1.0
            assert base[0, 6] == -1.0, kind  # the same memory
            flat = view(base, 0, base.size)
            assert flat.shape == (40,) and np.shares_memory(flat, base), kind
    frozen = np.arange(6.0)
    frozen.flags.writeable = False
    for kind, view in views.items():  # a view of a read-only array is read-only
        assert not view(frozen, 0, (2, 3)).flags.writeable, kind
    with pytest.raises(TypingError, match="takes a C-contiguous array"):
        views["compiled"](np.asfortranarray(np.ones((3, 2))), 0, 6)
    with pytest.raises(ValueError, match="not C-contiguous"):
        views["python"](np.ones((3, 4))[:, ::2], 0, 6)


def test_rows_is_a_row_slice_compiled_and_in_python():
    """_rows(a, lo, hi) is a[lo:hi], a view, for C, F and strided arrays and 1-d ones,
    compiled (the intrinsic) and in plain Python."""
    from numba import njit

    module = model("digits_softmax")[1].module
    rows = {"compiled": njit(lambda a, lo, hi: module._rows(a, lo, hi)),
            "python": module._rows_py}
    base = np.arange(60.0).reshape(6, 10)
    arrays = {"C": base.copy(), "F": np.asfortranarray(base), "strided": base.copy()[:, ::3],
              "1-d": np.arange(7.0)}
    for kind, f in rows.items():
        for name, a in arrays.items():
            for lo, hi in ((0, a.shape[0]), (1, 4), (2, 2)):
                got = f(a, lo, hi)
                assert got.shape == a[lo:hi].shape and np.array_equal(got, a[lo:hi]), (kind, name)
                assert got.flags.c_contiguous == a[lo:hi].flags.c_contiguous, (kind, name)
                if hi > lo:
                    got[0] = -1.0
                    assert np.all(a[lo] == -1.0), (kind, name)  # the same memory


def test_train_epochs_checks_its_work_arrays_sizes():
    """The compiled views check no bounds, so train_epochs checks ws and order once: a
    short one is a ValueError, never a read or write past its end."""
    d, m = model("seed000_sigmoid_mse")
    mod = m.module
    X, Y = cu.data(d.spec, n=10)
    p = [m.init_params(0)[k] for k in m.param_names]
    losses = np.empty(1)

    def run(ws, order, batch):
        return mod.train_epochs(*p, X, Y, 0.1, 0, batch, 1, 0, 0, losses, ws, order, mod.UPDATE)

    need = mod.workspace_size(4, True)
    run(np.empty(need), np.empty(10, np.int64), 4)  # exactly enough
    with pytest.raises(ValueError, match="ws is shorter than workspace_size"):
        run(np.empty(need - 1), np.empty(10, np.int64), 4)
    with pytest.raises(ValueError, match="order needs one element per row"):
        run(np.empty(need), np.empty(9, np.int64), 4)
    with pytest.raises(ValueError, match="ws is shorter than workspace_size"):
        run(np.empty(mod.workspace_size(10) - 1), mod._NO_ORDER, 10)  # one full batch
    with pytest.raises(ValueError, match="n_rows must be at least 0, got -1"):
        mod.workspace_size(-1)                           # not a size to allocate
    # plain Python: the view itself refuses to reach past the end
    with pytest.raises(ValueError, match="elements 8 to 18 of an array of 12"):
        mod._view_py(np.zeros(12), 8, (2, 5))


def test_kernels_refuse_arguments_their_loops_would_read_past():
    """Called directly (the runtime checks these before), the compiled kernels refuse
    parameters of other shapes, x and y of the wrong width, a y with other rows than x, counts
    below 1 and a short losses array with a ValueError; a read-only work array is refused at
    compile time and left as it was."""
    from numba.core.errors import TypingError

    d, m = model("seed000_sigmoid_mse")
    mod = m.module
    X, Y = cu.data(d.spec, n=10)
    p = [m.init_params(0)[k] for k in m.param_names]
    ws, order = np.zeros(mod.workspace_size(4, True)), np.empty(10, np.int64)

    def run(x=X, y=Y, batch=4, losses=None, work=ws):
        losses = np.empty(1) if losses is None else losses
        return mod.train_epochs(*p, x, y, 0.1, 0, batch, 1, 0, 0, losses, work, order,
                                mod.UPDATE)

    with pytest.raises(ValueError, match="the parameters need the shapes SIZES gives them"):
        mod.train_epochs(np.zeros((2, 4)), *p[1:], X, Y, 0.1, 0, 4, 1, 0, 0, np.empty(1), ws,
                         order, mod.UPDATE)
    with pytest.raises(ValueError, match="the parameters need the shapes"):
        mod.forward(*p[:3], np.zeros(2), X)  # b2 of 2 elements for 1 unit
    with pytest.raises(ValueError, match="y needs the rows of x"):
        run(y=Y[:9])
    with pytest.raises(ValueError, match="x needs 2 columns"):
        run(x=np.ascontiguousarray(X[:, :1]))
    with pytest.raises(ValueError, match="y needs the rows of x and 1 columns"):
        run(y=np.ones((10, 2)))
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        run(batch=0)
    with pytest.raises(ValueError, match="losses needs one element per epoch"):
        run(losses=np.empty(0))
    with pytest.raises(ValueError, match="x needs 2 columns"):
        mod.forward(*p, np.ones((3, 3)))
    with pytest.raises(ValueError, match="y needs the rows of x"):
        mod.loss(*p, X, Y[:3])
    frozen = np.zeros(ws.size)
    frozen.flags.writeable = False
    with pytest.raises(TypingError):
        run(work=frozen)
    assert not frozen.any()
    _, par = model("digits_softmax", "parallel")
    dp = par.module
    Xp, Yp = cu.data(model("digits_softmax")[0].spec, n=8)
    pp = [par.init_params(0)[k] for k in par.param_names]
    sp_ = [np.zeros_like(a) for _ in dp.STATE for a in pp]
    hyper = [np.float64(v) for _, v in dp.HYPER]
    with pytest.raises(ValueError, match="n_blocks must be at least 1"):
        dp.train_epochs(*pp, *sp_, Xp, Yp, *hyper, 0, 8, 1, 0, 0, np.empty(1),
                        np.zeros(dp.workspace_size(8, False, 1)), dp._NO_ORDER, dp.UPDATE, 0)
    with pytest.raises(ValueError, match="nb must be at least 1"):
        dp.forward(*pp, Xp, 0)


def test_blas_threads_policy_follows_the_size_of_the_products(monkeypatch):
    """cpu: one BLAS thread for small products (64x64 weights x 100 rows), the library's own
    count for big ones (x 4096 rows) and no BLAS handling without BLAS layers (2-5-1);
    parallel: one thread where the rows are split into blocks, otherwise the cpu rule (one
    block runs the cpu code), and never held without BLAS layers."""
    from threadpoolctl import threadpool_info

    import symbp.runtime as rt

    import scipy.linalg.cython_blas  # noqa: F401 - the BLAS Numba calls

    def counts():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    own = counts()
    _, digits = model("digits_softmax")
    _, tiny = model("seed000_sigmoid_mse")
    _, pdigits = model("digits_softmax", "parallel")
    _, ptiny = model("seed000_sigmoid_mse", "parallel")
    held = [(digits, 100), (pdigits, 100)]
    free = [(digits, 4096), (tiny, 100), (ptiny, 10**6)]
    monkeypatch.setattr(rt, "numba_threads", lambda: 2)
    assert pdigits.blocks(4096) == 2 and ptiny.blocks(10**6) == 2  # both split
    held.append((pdigits, 4096))
    for m, rows in held:
        with m.blas_threads(rows):
            assert counts() == [1] * len(own), (m, rows)
    for m, rows in free:
        with m.blas_threads(rows):
            assert counts() == own, (m, rows)
    monkeypatch.setattr(rt, "numba_threads", lambda: 1)
    with pdigits.blas_threads(4096):                     # one block: the cpu rule
        assert counts() == own
    assert counts() == own


BLAS_CHILD = r'''
import sys
import numba
import numpy as np
from symbp.runtime import load_numba_blas

load_numba_blas()
assert "scipy.linalg.cython_blas" in sys.modules and "scipy.linalg" not in sys.modules


@numba.njit
def product(a, b):
    return np.dot(a, b)


rng = np.random.default_rng(0)
a, b = rng.standard_normal((40, 30)), rng.standard_normal((30, 20))
assert np.allclose(product(a, b), a @ b)
assert np.allclose(product(a.astype(np.float32), b.astype(np.float32)), a @ b, atol=1e-4)
import scipy.linalg  # its own init, later, reuses the module Numba calls

assert scipy.linalg.blas.find_best_blas_type((a,))[0] == "d"
assert np.allclose(scipy.linalg.blas.dgemm(1.0, a, b), a @ b)
assert np.allclose(scipy.linalg.solve(a[:20, :20], b[:20]), np.linalg.solve(a[:20, :20], b[:20]))
print("ok")
'''


def test_numba_blas_loads_without_scipy_linalg_and_scipy_still_imports_after():
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-c", BLAS_CHILD], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]


def test_a_new_params_dict_never_inherits_the_kept_optimizer_state():
    # two identical runs with a params dict made inside a function: the second dict may get the
    # first one's id once that is freed, and must still start from a zero Adam state
    d, m = model("digits_softmax")  # Adam
    X, Y = cu.data(d.spec, n=6)

    def run():
        p = m.init_params(0)
        for _ in range(3):
            m.step(p, X, Y, lr=0.01)
        return {k: v.copy() for k, v in p.items()}

    first, second = run(), run()
    for k in first:
        np.testing.assert_array_equal(first[k], second[k])


def test_optimizer_state_arrays_are_checked_like_params():
    d, m = model("digits_softmax")  # Adam: m_*, s_* and t
    X, Y = cu.data(d.spec, n=6)
    p = m.init_params(0)
    cases = [({"m_W1": np.zeros(3)}, r"state\['m_W1'\] must be an array of shape \(64, 64\)"),
             ({"m_W1": np.zeros((64, 64))[:, :]}, None),  # a C-contiguous view
             ({"s_b2": np.zeros(10, dtype=np.float32)}, r"state\['s_b2'\] is updated in place"),
             ({"m_W2": np.asfortranarray(np.zeros((64, 10)))}, "not C-contiguous"),
             ({"t": "3"}, "step count 't'"), ({"t": -1}, "step count 't'")]
    for change, words in cases:
        state = {**m.init_state(), **change}
        if words is None:  # a C-contiguous float64 array of the right shape is fine
            m.step(p, X, Y, 0.01, state=state)
            continue
        for call in (lambda: m.step(p, X, Y, 0.01, state=state),
                     lambda: m.train_epochs(p, state, X, Y, 0.01)):
            with pytest.raises(RuntimeInputError, match=words):
                call()
    no_t = m.init_state()
    del no_t["t"]
    with pytest.raises(RuntimeInputError, match="step count 't'"):
        m.step(p, X, Y, 0.01, state=no_t)


def test_loss_checks_that_x_and_y_have_the_same_rows():
    d, m = model("seed000_sigmoid_mse")
    X, Y = cu.data(d.spec, n=6)
    with pytest.raises(RuntimeInputError, match="X has 6 rows and Y has 4"):
        m.loss(m.init_params(0), X, Y[:4])


def test_arrays_checked_once_are_rechecked_when_replaced():
    # a call with the arrays of the last call skips the checks; any other array is checked
    d, m = model("digits_softmax")
    X, Y = cu.data(d.spec, n=6)
    p, state = m.init_params(0), m.init_state()
    m.step(p, X, Y, 0.01, state=state)
    m.step(p, X, Y, 0.01, state=state)  # the fast path
    state["m_W1"] = np.zeros(3)
    with pytest.raises(RuntimeInputError, match=r"state\['m_W1'\] must be an array of shape"):
        m.step(p, X, Y, 0.01, state=state)
    state["m_W1"] = np.zeros((64, 64))
    m.step(p, X, Y, 0.01, state=state)
    p["W2"] = p["W2"].astype(np.float32)
    with pytest.raises(RuntimeInputError, match=r"params\['W2'\] is updated in place"):
        m.step(p, X, Y, 0.01, state=state)
    # a converted copy (forward of float32 params) is never remembered: the caller's writes show
    p32 = {k: v.astype(np.float32) for k, v in m.init_params(0).items()}
    before = m.forward(p32, X)
    p32["b2"][0] += 1  # (adding 1 to every logit would leave the softmax as it was)
    assert not np.allclose(m.forward(p32, X), before)


def test_load_module_never_takes_a_standard_module_name(tmp_path):
    import random
    import sys

    from symbp.codegen import generate_source
    from symbp.runtime import load_module

    d, m = model("seed000_sigmoid_mse")
    for name in ("random.py", "sub/random.py"):  # two files of one name in two folders
        path = tmp_path / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(generate_source(d, "cpu", "float64"), encoding="utf-8")
    a, b = load_module(tmp_path / "random.py"), load_module(tmp_path / "sub" / "random.py")
    assert sys.modules["random"] is random and a.module is not b.module
    X, Y = cu.data(d.spec, n=5)
    p = m.init_params(0)
    assert a.loss(p, X, Y) == b.loss(p, X, Y) == m.loss(p, X, Y)
    (tmp_path / "plain.py").write_text("x = 1\n")
    for bad in (tmp_path / "plain.py", tmp_path / "gone.py"):
        with pytest.raises(RuntimeInputError, match="symbp codegen"):
            load_module(bad)


def test_a_learning_rate_that_is_not_a_number_is_refused():
    d, m = model("seed000_sigmoid_mse")
    X, Y = cu.data(d.spec, n=4)
    p = m.init_params(0)
    with pytest.raises(RuntimeInputError, match=r"lr = '0.1': expected a number"):
        m.step(p, X, Y, lr="0.1")
    with pytest.raises(RuntimeInputError, match=r"mu = None: expected a number"):
        m.step(p, X, Y, lr=0.1, mu=None)
    for bad in (True, np.array(True), np.array("0.1")):
        with pytest.raises(RuntimeInputError, match=r"expected a number"):
            m.step(p, X, Y, lr=bad)
    # what float() reads as one real number is a learning rate, as before the check
    from decimal import Decimal
    from fractions import Fraction

    for lr in (np.array(0.1), Fraction(1, 10), Decimal("0.1"), np.float32(0.1), 1):
        assert np.isfinite(m.step(p, X, Y, lr=lr))
