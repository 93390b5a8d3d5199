"""Randomly drawn architectures (depth 1-4, widths 1-12, every built-in activation and loss):
generated kernels against the hand-written references and central finite differences, run as
plain Python (many examples, no compile time) and compiled (a few, slow)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symbp.runtime import compile_derivation

try:
    from . import codegen_util as cu
except ImportError:
    import codegen_util as cu

ref = cu.ref
ACTS = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "softplus", "elu", "gelu", "silu"]
LOSSES = ["mse", "huber", "bce", "cross_entropy", "bce_logits", "softmax_cross_entropy"]


@st.composite
def architectures(draw):
    depth = draw(st.integers(1, 4))
    sizes = tuple(draw(st.integers(1, 12)) for _ in range(depth + 1))
    loss = draw(st.sampled_from(LOSSES))
    acts = [draw(st.sampled_from(ACTS)) for _ in range(depth)]
    if loss in ("bce_logits", "softmax_cross_entropy"):
        acts[-1] = "identity"           # fused losses read logits
    elif loss in ("bce", "cross_entropy"):
        acts[-1] = "sigmoid"            # predictions in (0, 1)
    reduction = draw(st.sampled_from(["mean", "sum"]))
    l2 = draw(st.sampled_from([0.0, 0.01]))
    return cu.spec_text(sizes, acts, loss, reduction, l2, name="random")


def _check(L, g, p, X, Y, spec, loss_fn):
    L_ref, g_ref, _ = ref.loss_and_grad(p, X, Y, *cu.reference_args(spec))
    # the reference takes log(1 - yhat) of a saturated sigmoid (cancellation); the kernels read
    # log(1 - sigmoid(z)) = -softplus(z) from the logits, which is exact
    tol = 1e-6 if spec.loss.rule.name in ("bce", "cross_entropy") else 1e-10
    assert abs(L - L_ref) <= tol * max(1.0, abs(L_ref))
    assert ref.max_rel_error(g, g_ref, floor=1e-12) < 1e-8
    scale = max(max(float(np.max(np.abs(v))) for v in g.values()), 1e-8)
    kinked = any(a in ref.KINKED_ACTIVATIONS for a, _ in cu.reference_args(spec)[0])
    # 5-point stencil (truncation ~eps^4); a smaller step where a kink (ReLU at 0) could fall
    # inside the stencil
    fd = ref.finite_difference_grad(loss_fn, p, eps=1e-5 if kinked else 1e-4, order=4)
    assert ref.max_rel_error(g, fd, floor=1e-3 * scale) < 1e-6


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(text=architectures(), seed=st.integers(0, 10_000))
def test_random_architectures_pure_python(text, seed):
    d = cu.derive_text(text)
    module = cu.pure_python_module(d)
    X, Y = cu.data(d.spec, n=4, seed=seed)
    p = cu.params(d.spec, seed=seed)
    L, g = cu.call_loss_and_grad(module, d.params, p, X, Y)
    _check(L, g, p, X, Y, d.spec,
           lambda q: float(module.loss(*[q[k] for k in d.params], X, Y)))


@pytest.mark.slow
@settings(max_examples=3, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(text=architectures(), seed=st.integers(0, 10_000))
def test_random_architectures_compiled(text, seed):
    d = cu.derive_text(text)
    m = compile_derivation(d, "cpu")
    X, Y = cu.data(d.spec, n=4, seed=seed)
    p = cu.params(d.spec, seed=seed)
    L, g = m.loss_and_grad(p, X, Y)
    _check(L, g, p, X, Y, d.spec, lambda q: m.loss(q, X, Y))
