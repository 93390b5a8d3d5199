"""Derived equations, evaluated numerically, against finite differences and hand-written NumPy.

Contract checked here: for hypothesis-drawn architectures (depth 1-4, widths 1-6, batch 1-5),
every activation (built-in, with parameters, and a custom expression), every loss, both
reductions and L2 on or off, :func:`symbp.evaluate.gradients` of the derivation gives

* the same loss and gradients as ``tests/reference.py``'s hand-written backprop (rel. error
  < 1e-10), and
* the gradients of central finite differences of the hand-written loss (five-point stencil,
  float64, rel. error < 1e-6),

with the data kept away from the kinks of ReLU / leaky ReLU / ELU / Huber (as in
``test_reference.py``). A custom loss is checked against finite differences of a loss written here
by hand.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symbp
from symbp.evaluate import evaluate, gradients

try:
    from . import reference as ref
except ImportError:  # tests/ is not a package
    import reference as ref

FD_TOL = 1e-6
REF_TOL = 1e-10
FD_EPS = 1e-3   # five-point stencil: truncation error ~eps^4
FLOOR = 1e-6    # entries this small (times max(1, |L|)) are compared absolutely
MARGIN = 0.02   # kinks kept this far from every pre-activation / Huber residual

# (spec activation fields, reference (name, params))
ACTIVATIONS = [
    ('activation = "identity"', ("identity", {})),
    ('activation = "sigmoid"', ("sigmoid", {})),
    ('activation = "tanh"', ("tanh", {})),
    ('activation = "relu"', ("relu", {})),
    ('activation = "leaky_relu", slope = 0.2', ("leaky_relu", {"slope": 0.2})),
    ('activation = "softplus"', ("softplus", {})),
    ('activation = "elu", alpha = 0.5', ("elu", {"alpha": 0.5})),
    ('activation = "gelu"', ("gelu", {})),
    ('activation = "silu"', ("silu", {})),
    ('activation = "x/(1+exp(-x))"', ("silu", {})),   # custom, parsed; the reference is SiLU
]
# (spec loss fields, reference (name, params))
LOSSES = [
    ('kind = "mse"', ("mse", {"scale": 0.5})),
    ('kind = "mse"\nscale = 1', ("mse", {"scale": 1.0})),
    ('kind = "huber"\ndelta = 0.3', ("huber", {"delta": 0.3})),
    ('kind = "bce"', ("bce", {})),
    ('kind = "cross_entropy"', ("cross_entropy", {})),
    ('kind = "bce_logits"', ("bce_logits", {})),
    ('kind = "softmax_cross_entropy"', ("softmax_cross_entropy", {})),
]
SIGMOID = ACTIVATIONS[1]
IDENTITY = ACTIVATIONS[0]


def _acts_for(hidden, last, loss_name):
    """Per-layer activations: the loss decides the output layer where it must."""
    if loss_name in ("bce", "cross_entropy"):
        last = SIGMOID
    elif loss_name in ("bce_logits", "softmax_cross_entropy"):
        last = IDENTITY
    return hidden + [last]


def _spec_text(sizes, acts, loss_fields, reduction, l2):
    layers = ", ".join(f"{{ units = {u}, {a[0]} }}" for u, a in zip(sizes[1:], acts))
    return (f"[model]\ninputs = {sizes[0]}\nlayers = [ {layers} ]\n"
            f'[loss]\n{loss_fields}\nreduction = "{reduction}"\nl2 = {l2}\n')


def _targets(loss_name, rng, n, d):
    if loss_name == "softmax_cross_entropy":
        return np.eye(d)[rng.integers(d, size=n)]
    if loss_name in ("bce", "cross_entropy", "bce_logits"):
        return rng.uniform(0.0, 1.0, size=(n, d))
    return rng.standard_normal((n, d))


def _kink_free(params, X, Y, acts, loss):
    fw = ref.forward(params, X, acts, loss)
    for l, (name, _) in enumerate(acts, start=1):
        if name in ref.KINKED_ACTIVATIONS and np.min(np.abs(fw[f"z{l}"])) < MARGIN:
            return False
    if loss[0] == "huber":
        r = np.abs(fw["yhat"] - Y)
        if np.min(np.abs(r - loss[1]["delta"])) < MARGIN:
            return False
    return True


def _draw_problem(seed, sizes, n, acts, loss):
    rng = np.random.default_rng(seed)
    for _ in range(500):
        X = rng.standard_normal((n, sizes[0]))
        Y = _targets(loss[0], rng, n, sizes[-1])
        params = ref.init_params(sizes, rng)
        if _kink_free(params, X, Y, acts, loss):
            return params, X, Y
    raise AssertionError(f"no kink-free problem for {sizes}, {acts}, {loss}")


@st.composite
def problems(draw):
    depth = draw(st.integers(1, 4))
    loss = draw(st.sampled_from(LOSSES))
    widths = [draw(st.integers(1, 6)) for _ in range(depth + 1)]
    if loss[1][0] == "softmax_cross_entropy":
        widths[-1] = max(widths[-1], 2)
    hidden = [draw(st.sampled_from(ACTIVATIONS)) for _ in range(depth - 1)]
    last = draw(st.sampled_from(ACTIVATIONS))
    acts = _acts_for(hidden, last, loss[1][0])
    return dict(sizes=widths, acts=acts, loss=loss, n=draw(st.integers(1, 5)),
                reduction=draw(st.sampled_from(["mean", "sum"])),
                l2=draw(st.sampled_from([0.0, 0.1])), seed=draw(st.integers(0, 2**32 - 1)))


def _derive(sizes, acts, loss_fields, reduction, l2):
    return symbp.derive(symbp.load_spec(_spec_text(sizes, acts, loss_fields, reduction, l2)))


def _check(p):
    sizes, acts, (loss_fields, loss), n = p["sizes"], p["acts"], p["loss"], p["n"]
    reduction, l2 = p["reduction"], p["l2"]
    ref_acts = [a[1] for a in acts]
    params, X, Y = _draw_problem(p["seed"], sizes, n, ref_acts, loss)
    d = _derive(sizes, acts, loss_fields, reduction, l2)

    L, grads = gradients(d, params, X, Y)
    L_ref, grads_ref, _ = ref.loss_and_grad(params, X, Y, ref_acts, loss, reduction, l2)
    assert ref.max_rel_error(L, L_ref) < REF_TOL
    assert ref.max_rel_error(grads, grads_ref, floor=1e-12) < REF_TOL, p

    def fun(q):
        return ref.loss_value(q, X, Y, ref_acts, loss, reduction, l2)

    fd = ref.finite_difference_grad(fun, params, eps=FD_EPS, order=4)
    assert ref.max_rel_error(fd, grads, floor=FLOOR * max(1.0, abs(L))) < FD_TOL, p


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_derived_gradients_match_reference_and_finite_differences(p):
    _check(p)


# Hypothesis favours small examples; these make sure every activation sits in a hidden and an
# output layer of a 4-layer net, and every loss ends one, whatever it draws.
@pytest.mark.parametrize("idx", range(len(ACTIVATIONS)), ids=lambda i: ACTIVATIONS[i][1][0] + str(i))
def test_every_activation_deep(idx):
    act = ACTIVATIONS[idx]
    _check(dict(sizes=[3, 4, 3, 5, 2], acts=[act, ACTIVATIONS[2], act, act], loss=LOSSES[idx % 3],
                n=4, reduction=("mean", "sum")[idx % 2], l2=(0.0, 0.1)[idx // 2 % 2], seed=idx))


@pytest.mark.parametrize("idx", range(len(LOSSES)), ids=lambda i: LOSSES[i][1][0] + str(i))
def test_every_loss_deep(idx):
    loss = LOSSES[idx]
    acts = _acts_for([ACTIVATIONS[2], ACTIVATIONS[3], ACTIVATIONS[7]], ACTIVATIONS[2], loss[1][0])
    _check(dict(sizes=[2, 5, 4, 3, 3], acts=acts, loss=loss, n=5,
                reduction=("mean", "sum")[idx % 2], l2=(0.0, 0.1)[idx // 2 % 2], seed=100 + idx))


def test_deltas_match_reference():
    """The named intermediates, not only the gradients: delta_l = dL/dz_l."""
    acts = [ACTIVATIONS[2], ACTIVATIONS[4], ACTIVATIONS[0]]
    loss_fields, loss = LOSSES[6]
    sizes, n = [3, 4, 5, 3], 4
    params, X, Y = _draw_problem(5, sizes, n, [a[1] for a in acts], loss)
    d = _derive(sizes, acts, loss_fields, "mean", 0.0)
    out = evaluate(d, params, X, Y, eta=0.1)
    _, grads_ref, deltas_ref = ref.loss_and_grad(params, X, Y, [a[1] for a in acts], loss)
    for key, want in deltas_ref.items():
        assert ref.max_rel_error(out[key], want, floor=1e-12) < REF_TOL, key
    for key in params:  # the SGD update equations: p - eta dp
        np.testing.assert_allclose(out[key + "_new"], params[key] - 0.1 * grads_ref[key],
                                   rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_custom_loss_matches_finite_differences(reduction):
    """A custom loss (yhat - y)^4 / 4 + a custom activation, against a loss written here."""
    acts = [ACTIVATIONS[9], ACTIVATIONS[2]]
    sizes, n = [2, 3, 2], 3
    ref_acts = [a[1] for a in acts]
    params, X, Y = _draw_problem(11, sizes, n, ref_acts, ("mse", {}))
    d = _derive(sizes, acts, 'kind = "custom"\nexpr = "(yhat - y)^4 / 4"', reduction, 0.1)
    c = 1.0 / n if reduction == "mean" else 1.0

    def fun(q):
        yhat = ref.forward(q, X, ref_acts, ("mse", {}))["yhat"]
        decay = sum(np.sum(q[f"W{l}"] ** 2) for l in (1, 2))
        return c * np.sum((yhat - Y) ** 4) / 4 + 0.05 * decay

    L, grads = gradients(d, params, X, Y)
    assert abs(L - fun(params)) < 1e-12 * max(1.0, abs(L))
    fd = ref.finite_difference_grad(fun, params, eps=FD_EPS, order=4)
    assert ref.max_rel_error(fd, grads, floor=FLOOR * max(1.0, abs(L))) < FD_TOL
