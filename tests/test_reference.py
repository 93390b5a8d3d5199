"""Tests of the hand-written NumPy references in ``tests/reference.py``.

Contract checked here: every hand-written derivative (activations, losses, whole-network
backprop with both reductions and L2) agrees with central finite differences to a relative error
below 1e-6 in float64, for every activation x loss pair on small random networks (kinks of ReLU,
leaky ReLU, ELU and Huber kept away from the stencil); the stable forms stay finite at logits
+-1000; the seed references agree with the generic reference, with finite differences and, for
seed 002, with an independent scalar computation in the seed's own convention.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

try:
    from . import reference as ref
except ImportError:  # tests/ is not a package: pytest puts tests/ itself on sys.path
    import reference as ref

TOL = 1e-6
FD_EPS = 1e-3   # five-point stencil (order 4): error ~1e-12, see finite_difference_grad
FLOOR = 1e-6    # entries below this (times max(1, |L|), the scale of FD rounding) are compared
                # absolutely: |a - b| < TOL * FLOOR * max(1, |L|)
MARGIN = 0.02   # kinks (ReLU at 0, Huber at |r| = delta) are kept this far from the data

# (name, params) for every activation, with non-default parameters where they exist
ACTIVATION_CASES = [
    ("identity", {}),
    ("sigmoid", {}),
    ("tanh", {}),
    ("relu", {}),
    ("leaky_relu", {}),
    ("leaky_relu", {"slope": 0.2}),
    ("softplus", {}),
    ("elu", {}),
    ("elu", {"alpha": 0.5}),
    ("gelu", {}),
    ("silu", {}),
]
LOSS_CASES = [
    ("mse", {"scale": 0.5}),
    ("mse", {"scale": 1.0}),
    ("huber", {"delta": 0.3}),
    ("bce", {}),
    ("cross_entropy", {}),
    ("bce_logits", {}),
    ("softmax_cross_entropy", {}),
]


def _case_id(case):
    name, p = case
    return name + "".join(f"-{k}{v}" for k, v in p.items())


# ------------------------------------------------------------------------------------------
# Building small random problems
# ------------------------------------------------------------------------------------------


def _layer_acts(act, loss, depth):
    """Activations per layer: ``act`` everywhere the loss allows it (see module docstring)."""
    acts = [act] * depth
    if loss[0] in ("bce", "cross_entropy"):
        acts[-1] = ("sigmoid", {})   # outputs must be probabilities
    elif loss[0] in ("bce_logits", "softmax_cross_entropy"):
        acts[-1] = ("identity", {})  # fused losses read logits
    return acts


def _targets(loss, rng, n, d):
    if loss[0] == "softmax_cross_entropy":
        return np.eye(d)[rng.integers(d, size=n)]         # one-hot rows
    if loss[0] in ("bce", "cross_entropy", "bce_logits"):
        return rng.uniform(0.0, 1.0, size=(n, d))        # soft labels in [0, 1]
    return rng.standard_normal((n, d))


def _away_from_kinks(params, X, Y, acts, loss):
    fw = ref.forward(params, X, acts, loss)
    for l, (name, _) in enumerate(acts, start=1):
        if name in ref.KINKED_ACTIVATIONS and np.min(np.abs(fw[f"z{l}"])) < MARGIN:
            return False
    if loss[0] == "huber":
        r = np.abs(fw["yhat"] - Y)
        if np.min(np.abs(r - loss[1]["delta"])) < MARGIN:
            return False
    return True


def _problem(rng, sizes, n, act, loss):
    """A random problem whose data stay ``MARGIN`` away from every kink."""
    acts = _layer_acts(act, loss, len(sizes) - 1)
    for _ in range(500):
        X = rng.standard_normal((n, sizes[0]))
        Y = _targets(loss, rng, n, sizes[-1])
        params = ref.init_params(sizes, rng)
        if _away_from_kinks(params, X, Y, acts, loss):
            return params, X, Y, acts
    raise AssertionError(f"could not draw a kink-free problem for {sizes}, {act}, {loss}")


def _check_against_fd(params, X, Y, acts, loss, reduction, l2):
    L, grads, deltas = ref.loss_and_grad(params, X, Y, acts, loss, reduction, l2)

    def fun(p):
        return ref.loss_value(p, X, Y, acts, loss, reduction, l2)

    assert math.isclose(L, fun(params), rel_tol=1e-14, abs_tol=1e-300)
    fd = ref.finite_difference_grad(fun, params, eps=FD_EPS, order=4)
    err = ref.max_rel_error(fd, grads, floor=FLOOR * max(1.0, abs(L)))
    assert err < TOL, (err, acts, loss, reduction, l2)
    # deltas are dL/dz_l: the bias gradient is their column sum, and dW_L = a_{L-1}^T delta_L
    n_layers = len(acts)
    for l in range(1, n_layers + 1):
        assert deltas[f"delta{l}"].shape == (X.shape[0], params[f"b{l}"].shape[0])
        np.testing.assert_allclose(grads[f"b{l}"], deltas[f"delta{l}"].sum(axis=0), rtol=1e-14)
    return grads


# ------------------------------------------------------------------------------------------
# Activations and losses on their own
# ------------------------------------------------------------------------------------------


def _scalar_fd(f, x, eps=FD_EPS):
    return (8.0 * (f(x + eps) - f(x - eps)) - (f(x + 2 * eps) - f(x - 2 * eps))) / (12.0 * eps)


@pytest.mark.parametrize("case", ACTIVATION_CASES, ids=_case_id)
def test_activation_derivative_matches_fd(case):
    name, p = case
    f, fprime = ref.ACTIVATIONS_NP[name]
    x = np.linspace(-6.0, 6.0, 241) + 0.0123  # grid offset keeps 0 and kinks off the stencil
    x = x[np.abs(x) > MARGIN]
    fd = _scalar_fd(lambda t: f(t, **p), x)
    assert ref.max_rel_error(fd, fprime(x, **p), floor=FLOOR) < TOL


def test_activation_known_values():
    f = {k: v[0] for k, v in ref.ACTIVATIONS_NP.items()}
    d = {k: v[1] for k, v in ref.ACTIVATIONS_NP.items()}
    x = np.array([-2.0, 0.0, 1.5])
    np.testing.assert_allclose(f["sigmoid"](x), 1 / (1 + np.exp(-x)), rtol=1e-15)
    np.testing.assert_allclose(f["softplus"](x), np.log(1 + np.exp(x)), rtol=1e-15)
    np.testing.assert_allclose(f["silu"](x), x / (1 + np.exp(-x)), rtol=1e-15)
    np.testing.assert_allclose(f["elu"](x, alpha=2.0), [2 * (np.exp(-2.0) - 1), 0.0, 1.5],
                               rtol=1e-15)
    np.testing.assert_allclose(f["leaky_relu"](x), [-0.02, 0.0, 1.5], rtol=1e-15)
    gelu = 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))
    np.testing.assert_allclose(f["gelu"](x), gelu, rtol=1e-15)
    # kink conventions: relu'(0) = 0, leaky_relu'(0) = slope
    assert d["relu"](np.array(0.0)) == 0.0
    assert d["leaky_relu"](np.array(0.0), slope=0.3) == 0.3
    assert d["identity"](x).tolist() == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("case", LOSS_CASES, ids=_case_id)
def test_loss_gradient_matches_fd(case):
    name, p = case
    rng = np.random.default_rng(7)
    spec = ref.LOSSES_NP[name]
    n, d = 5, 3
    y = _targets(case, rng, n, d)
    if name in ("bce", "cross_entropy"):
        u = rng.uniform(0.05, 0.95, size=(n, d))
    else:
        u = rng.standard_normal((n, d)) * 2.0
    if name == "huber":  # keep |r| away from delta
        r = u - y
        u = np.where(np.abs(np.abs(r) - p["delta"]) < MARGIN, u + 4 * MARGIN, u)

    def total(v):
        return float(np.sum(spec.value(v, y, **p)))

    fd = np.zeros_like(u)
    for idx in np.ndindex(u.shape):
        def along(t, idx=idx):
            v = u.copy()
            v[idx] = t
            return total(v)
        fd[idx] = _scalar_fd(along, u[idx])
    assert ref.max_rel_error(fd, spec.grad(u, y, **p), floor=FLOOR) < TOL


# ------------------------------------------------------------------------------------------
# Whole networks
# ------------------------------------------------------------------------------------------

PAIRS = [(a, l) for a in ACTIVATION_CASES for l in LOSS_CASES]


@pytest.mark.parametrize("act,loss", PAIRS, ids=_case_id)
def test_backprop_matches_fd_every_pair(act, loss):
    """Depth 2 and 3, so that ``act`` appears as a hidden layer for every loss."""
    seed = ACTIVATION_CASES.index(act) * 100 + LOSS_CASES.index(loss)
    rng = np.random.default_rng(seed)
    for sizes, n, reduction, l2 in (([3, 4, 2], 5, "mean", 0.0), ([2, 3, 4, 3], 3, "sum", 0.1)):
        params, X, Y, acts = _problem(rng, sizes, n, act, loss)
        _check_against_fd(params, X, Y, acts, loss, reduction, l2)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(
    act_i=st.integers(0, len(ACTIVATION_CASES) - 1),
    loss_i=st.integers(0, len(LOSS_CASES) - 1),
    sizes=st.lists(st.integers(1, 5), min_size=2, max_size=4),
    n=st.integers(1, 6),
    reduction=st.sampled_from(["mean", "sum"]),
    l2=st.sampled_from([0.0, 0.05]),
    seed=st.integers(0, 2 ** 32 - 1),
)
def test_backprop_matches_fd_random_architectures(act_i, loss_i, sizes, n, reduction, l2, seed):
    """Depth 1-3, widths 1-5, N 1-6."""
    act, loss = ACTIVATION_CASES[act_i], LOSS_CASES[loss_i]
    params, X, Y, acts = _problem(np.random.default_rng(seed), sizes, n, act, loss)
    _check_against_fd(params, X, Y, acts, loss, reduction, l2)


def test_directional_fd_matches_gradient():
    rng = np.random.default_rng(3)
    act, loss = ("tanh", {}), ("softmax_cross_entropy", {})
    params, X, Y, acts = _problem(rng, [4, 5, 3], 6, act, loss)
    _, grads, _ = ref.loss_and_grad(params, X, Y, acts, loss)
    direction = {k: rng.standard_normal(v.shape) for k, v in params.items()}
    exact = sum(float(np.sum(grads[k] * direction[k])) for k in params)
    approx = ref.directional_fd(lambda p: ref.loss_value(p, X, Y, acts, loss), params,
                                direction, eps=1e-6)
    assert ref.max_rel_error(approx, exact) < TOL
    # and the second-order per-entry differences agree at the default step
    fd2 = ref.finite_difference_grad(lambda p: ref.loss_value(p, X, Y, acts, loss), params)
    assert ref.max_rel_error(fd2, grads, floor=1e-4) < TOL


def test_l2_and_reduction_scale_as_documented():
    rng = np.random.default_rng(11)
    act, loss = ("sigmoid", {}), ("mse", {"scale": 0.5})
    params, X, Y, acts = _problem(rng, [2, 3, 1], 4, act, loss)
    l_mean, g_mean, _ = ref.loss_and_grad(params, X, Y, acts, loss, "mean")
    l_sum, g_sum, _ = ref.loss_and_grad(params, X, Y, acts, loss, "sum")
    assert math.isclose(l_sum, 4 * l_mean, rel_tol=1e-14)
    assert ref.max_rel_error({k: 4 * v for k, v in g_mean.items()}, g_sum) < 1e-14
    l_l2, g_l2, _ = ref.loss_and_grad(params, X, Y, acts, loss, "mean", l2=0.3)
    penalty = 0.15 * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2))
    assert math.isclose(l_l2, l_mean + penalty, rel_tol=1e-14)
    np.testing.assert_allclose(g_l2["W1"], g_mean["W1"] + 0.3 * params["W1"], rtol=1e-14)
    np.testing.assert_array_equal(g_l2["b2"], g_mean["b2"])  # biases are not decayed


def test_forward_shapes_and_fused_loss_needs_identity_output():
    rng = np.random.default_rng(5)
    params = ref.init_params([3, 4, 2], rng)
    X = rng.standard_normal((6, 3))
    acts = [("tanh", {}), ("identity", {})]
    fw = ref.forward(params, X, acts, ("softmax_cross_entropy", {}))
    assert [fw[k].shape for k in ("z1", "a1", "z2", "a2", "yhat")] == [(6, 4)] * 2 + [(6, 2)] * 3
    np.testing.assert_allclose(fw["yhat"].sum(axis=1), 1.0, rtol=1e-15)
    with pytest.raises(ValueError, match="identity"):
        ref.forward(params, X, [("tanh", {}), ("sigmoid", {})], ("bce_logits", {}))
    with pytest.raises(ValueError, match="activations"):
        ref.forward(params, X, [("tanh", {})], ("mse", {}))


def test_max_rel_error_definition():
    assert ref.max_rel_error(np.array([1.0, 0.0]), np.array([1.1, 0.0])) == pytest.approx(1 / 11)
    assert ref.max_rel_error(0.0, 1e-30) == 1.0
    assert ref.max_rel_error(0.0, 1e-30, floor=1e-6) == pytest.approx(1e-24)
    assert ref.max_rel_error({"a": np.ones(2)}, {"a": np.ones(2)}) == 0.0
    assert ref.max_rel_error(np.array([np.inf]), np.array([np.inf])) == 0.0
    assert ref.max_rel_error(np.array([np.nan]), np.array([1.0])) == math.inf
    with pytest.raises(ValueError):
        ref.max_rel_error({"a": 1.0}, {"b": 1.0})


# ------------------------------------------------------------------------------------------
# Stable forms at extreme logits
# ------------------------------------------------------------------------------------------


def test_stable_forms_are_finite_at_extreme_logits():
    z = np.array([[-1000.0, 1000.0], [1000.0, -1000.0]])
    y = np.array([[1.0, 0.0], [1.0, 0.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        bce = ref.LOSSES_NP["bce_logits"]
        v, g = bce.value(z, y), bce.grad(z, y)
        # log(1 + e^z) - y z: exactly 1000 where the label disagrees, 0 where it agrees
        np.testing.assert_allclose(v, [[1000.0, 1000.0], [0.0, 0.0]], rtol=1e-15)
        np.testing.assert_allclose(g, [[-1.0, 1.0], [0.0, 0.0]], atol=1e-300)
        sce = ref.LOSSES_NP["softmax_cross_entropy"]
        v, g = sce.value(z, y), sce.grad(z, y)
        np.testing.assert_allclose(v, [2000.0, 0.0], rtol=1e-15, atol=1e-300)
        np.testing.assert_allclose(g, [[-1.0, 1.0], [0.0, 0.0]], atol=1e-300)
        for name, (f, fp) in ref.ACTIVATIONS_NP.items():
            assert np.all(np.isfinite(f(z))) and np.all(np.isfinite(fp(z))), name
        np.testing.assert_allclose(ref.ACTIVATIONS_NP["sigmoid"][0](z), np.where(z > 0, 1.0, 0.0),
                                   atol=1e-300)
        np.testing.assert_allclose(ref.ACTIVATIONS_NP["softplus"][0](z), np.where(z > 0, z, 0.0),
                                   atol=1e-300)
        gelu, gelu_p = ref.ACTIVATIONS_NP["gelu"]
        np.testing.assert_allclose(gelu(z), np.where(z > 0, z, 0.0), atol=1e-300)
        np.testing.assert_allclose(gelu_p(z), np.where(z > 0, 1.0, 0.0), atol=1e-300)
    # the whole network path: identity last layer with huge logits
    params = {"W1": np.array([[1000.0, -1000.0]]), "b1": np.zeros(2)}
    X, Y = np.array([[1.0], [-1.0]]), np.array([[0.0, 1.0], [1.0, 0.0]])
    for loss in (("bce_logits", {}), ("softmax_cross_entropy", {})):
        L, grads, _ = ref.loss_and_grad(params, X, Y, [("identity", {})], loss)
        assert math.isfinite(L) and L > 0
        assert all(np.all(np.isfinite(g)) for g in grads.values())


# ------------------------------------------------------------------------------------------
# Seed systems
# ------------------------------------------------------------------------------------------


def test_seed000_matches_generic_reference_and_fd():
    rng = np.random.default_rng(0)
    params = {"W1": rng.random((2, 5)), "b1": rng.random(5), "W2": rng.random((5, 1)),
              "b2": rng.random(1)}
    X, y = rng.random((100, 2)), rng.integers(0, 2, 100).astype(float)
    J, grads = ref.seed000_loss_and_grad(params, X, y)
    acts, loss = [("sigmoid", {})] * 2, ("mse", {"scale": 0.5})
    L, g, _ = ref.loss_and_grad(params, X, y.reshape(-1, 1), acts, loss, "mean")
    assert math.isclose(J, L, rel_tol=1e-13)
    assert ref.max_rel_error(grads, g) < 1e-12
    fd = ref.finite_difference_grad(lambda p: ref.seed000_loss_and_grad(p, X, y)[0], params,
                                    eps=FD_EPS, order=4)
    assert ref.max_rel_error(fd, grads, floor=FLOOR) < TOL


def test_seed001_matches_generic_reference_and_fd_inside_its_domain():
    rng = np.random.default_rng(1)
    X, Y = ref.SEED001_X, ref.SEED001_Y
    acts, loss = [("relu", {})] * 2, ("bce", {})
    for _ in range(2000):  # draw until every output lies in (MARGIN, 1 - MARGIN), kinks avoided
        params = {"W1": rng.standard_normal((2, 3)) * 0.3, "b1": rng.standard_normal(3) * 0.3,
                  "W2": rng.standard_normal((3, 1)) * 0.3, "b2": rng.uniform(0.2, 0.6, 1)}
        fw = ref.forward(params, X, acts, loss)
        if (np.all((fw["a2"] > MARGIN) & (fw["a2"] < 1 - MARGIN))
                and np.min(np.abs(fw["z1"])) > MARGIN and np.any(fw["z1"] > 0)):
            break
    else:
        raise AssertionError("no parameters with all ReLU outputs inside (0, 1)")
    L, grads = ref.seed001_loss_and_grad(params, X, Y)
    L2, g2, _ = ref.loss_and_grad(params, X, Y, acts, loss, "mean")
    assert math.isclose(L, L2, rel_tol=1e-13)
    assert ref.max_rel_error(grads, g2, floor=1e-300) < 1e-12
    fd = ref.finite_difference_grad(lambda p: ref.seed001_loss_and_grad(p, X, Y)[0], params,
                                    eps=FD_EPS, order=4)
    assert ref.max_rel_error(fd, grads, floor=FLOOR) < TOL


def test_seed001_relu_output_fed_to_log_is_ill_posed():
    params = {"W1": np.eye(2), "b1": np.zeros(2), "W2": np.array([[1.0], [-1.0]]),
              "b2": np.zeros(1)}
    X = np.array([[0.2, 0.5], [0.5, 0.2], [3.0, 0.0]])  # z2 = -0.3 (a2 = 0), 0.3, 3.0 (a2 > 1)
    Y = np.array([[1.0], [0.0], [1.0]])
    with pytest.raises(ValueError, match=r"samples \[0, 2\]"):
        ref.seed001_loss_and_grad(params, X, Y)
    L, grads = ref.seed001_loss_and_grad(params, X[:2], Y[:2], strict=False)
    assert L == math.inf  # y = 1 with a2 = 0: -log 0
    assert np.all(np.isnan(grads["b2"]))  # inf * 0 at the dead output: undefined
    L, _ = ref.seed001_loss_and_grad(params, X[1:], Y[1:], strict=False)
    assert math.isnan(L)  # a2 = 3 > 1: log(1 - 3)


def _seed002_scalar():
    """Independent scalar computation in the seed's convention: z_i = sum_j W[i][j] a_j + b_i."""
    Ws = [W.tolist() for W in ref.SEED002_W_SEED]
    bs = [b.tolist() for b in ref.SEED002_B]
    x, y = [1.0, 2.0], [3.0, 4.0]

    def sig(t):
        return 1.0 / (1.0 + math.exp(-t))

    a, zs, As = x, [], [x]
    for W, b in zip(Ws, bs):
        z = [sum(W[i][j] * a[j] for j in range(2)) + b[i] for i in range(2)]
        a = [sig(t) for t in z]
        zs.append(z)
        As.append(a)
    L = 0.5 * sum((a[i] - y[i]) ** 2 for i in range(2))
    delta = [(a[i] - y[i]) * a[i] * (1 - a[i]) for i in range(2)]
    out = {"L": L}
    for l in (3, 2, 1):
        W, a_prev = Ws[l - 1], As[l - 1]
        out[f"delta{l}"] = delta
        out[f"dW{l}_seed"] = [[delta[i] * a_prev[j] for j in range(2)] for i in range(2)]
        out[f"z{l}"] = zs[l - 1]
        delta = [sum(W[i][j] * delta[i] for i in range(2)) * a_prev[j] * (1 - a_prev[j])
                 for j in range(2)]
    out["yhat"] = As[3]
    return out


def test_seed002_expected_numbers():
    got = ref.seed002_worked_example()
    exp = ref.SEED002_EXPECTED
    assert set(exp) <= set(got)
    assert ref.max_rel_error({k: got[k] for k in exp}, exp) < 1e-13
    scalar = _seed002_scalar()
    assert math.isclose(scalar["L"], exp["L"], rel_tol=1e-13)
    for k in ("z1", "z2", "z3", "yhat", "delta1", "delta2", "delta3"):
        assert ref.max_rel_error(np.array(scalar[k]), exp[k][0]) < 1e-13, k
    for l in (1, 2, 3):
        # the seed's W rows are output units: dL/dW_seed = (dL/dW).T
        assert ref.max_rel_error(np.array(scalar[f"dW{l}_seed"]), exp[f"dW{l}"].T) < 1e-13
        np.testing.assert_allclose(exp[f"W{l}_new"],
                                   ref.SEED002_W_SEED[l - 1].T - 0.1 * exp[f"dW{l}"], rtol=1e-15)
    # a few of the documented values, to 10 significant digits
    assert f"{exp['L']:.10g}" == "6.823770188"
    assert [f"{v:.10g}" for v in exp["yhat"][0]] == ["0.9205160065", "0.9465942464"]
    assert [f"{v:.10g}" for v in exp["delta3"][0]] == ["-0.1521481254", "-0.1543605892"]
    # finite differences agree too
    params = ref.seed002_params()
    fd = ref.finite_difference_grad(
        lambda p: ref.loss_value(p, ref.SEED002_X, ref.SEED002_Y, ref.SEED002_ACTS,
                                 ref.SEED002_LOSS, ref.SEED002_REDUCTION), params,
        eps=FD_EPS, order=4)
    assert ref.max_rel_error(fd, {k: got[f"d{k}"] for k in params}, floor=FLOOR) < TOL


def test_seed002_printed_numbers_are_wrong():
    exp = ref.SEED002_EXPECTED
    assert not math.isclose(exp["L"], 2.485, rel_tol=1e-3)
    assert not np.allclose(exp["z1"], [[0.7, 1.3]])
    assert not np.allclose(exp["yhat"], [[0.9, 0.99]], rtol=1e-3)
    assert not np.allclose(exp["delta3"], [[-0.1, -0.01]], rtol=1e-3)


def test_seed003_gradient_numbers_and_training():
    W, b = np.array([[0.5]]), np.array([0.5])
    J, gW, gb = ref.seed003_loss_and_grad(W, b, ref.SEED003_X, ref.SEED003_Y.ravel())
    # yhat = [1, 1.5, 2, 2.5], r = yhat - y = [-1, -2.5, -4, -5.5]
    assert J == pytest.approx((1 + 6.25 + 16 + 30.25) / 8, rel=1e-15)
    assert gW.tolist() == [[-10.0]] and gb.tolist() == [-3.25]
    params = {"W1": W, "b1": b}
    L, g, _ = ref.loss_and_grad(params, ref.SEED003_X, ref.SEED003_Y, [("identity", {})],
                                ("mse", {"scale": 0.5}), "mean")
    assert L == pytest.approx(J, rel=1e-15)
    assert g["W1"].tolist() == gW.tolist() and g["b1"].tolist() == gb.tolist()
    W100, b100 = ref.seed003_train()
    J0 = J
    J100 = ref.seed003_loss_and_grad(W100, b100, ref.SEED003_X, ref.SEED003_Y)[0]
    assert J100 < 0.01 * J0
    assert abs(W100[0, 0] - 2.0) < 0.3  # heading to y = 2x
