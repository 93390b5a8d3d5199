"""Tests of the symbolic rules in ``symbp/rules`` (activations and losses).

Contract checked here: for every registered activation (with default and non-default
parameters) the derivative ``df`` that symbp takes with ``sympy.diff`` equals a textbook
derivative written out by hand below, and the output form ``df_out`` (``a(1 - a)``,
``1 - a^2``, ...) equals ``df`` once ``a = f(x)`` is substituted: symbolically for smooth
activations, branch by branch for piecewise ones (plus sample points on both sides of 0).
For every loss, ``dell`` equals the hand-written derivative; the fused ``bce_logits`` equals
BCE of a sigmoid and differentiates to ``sigmoid(z) - y``; fused softmax cross-entropy
differentiates to ``softmax_j - y_j`` exactly when the targets sum to 1, and not otherwise.
"""

from __future__ import annotations

import pytest
import sympy as sp

from symbp.rules.activations import A, ACTIVATIONS, X, make_activation
from symbp.rules.losses import LOSSES, YHAT, Y, Z, custom_loss, make_loss

R = sp.Rational
# A positive symbol: x = P is the right branch of a piecewise rule, x = -P the left one.
P = sp.Symbol("p", positive=True)
# Sample points on both sides of 0 (kinks excluded), exact rationals.
SAMPLES = [R(-5, 2), R(-1), R(-3, 10), R(-1, 50), R(1, 50), R(2, 5), R(1), R(7, 3)]


def sig(x):
    """The logistic sigmoid, written out."""
    return 1 / (1 + sp.exp(-x))


# --- the textbook table, by hand: name -> (f(x, **params), f'(x, **params)) ------------------
GELU_K = sp.sqrt(2 / sp.pi)
GELU_C = R(44715, 10**6)


def _gelu_prime(x):
    # d/dx [x/2 (1 + tanh(u))], u = k (x + c x^3):  (1 + tanh u)/2 + x/2 (1 - tanh^2 u) k (1 + 3 c x^2)
    u = GELU_K * (x + GELU_C * x**3)
    return (1 + sp.tanh(u)) / 2 + x / 2 * (1 - sp.tanh(u) ** 2) * GELU_K * (1 + 3 * GELU_C * x**2)


TEXTBOOK = {
    "identity": (lambda x: x, lambda x: sp.Integer(1)),
    "sigmoid": (sig, lambda x: sig(x) * (1 - sig(x))),
    "tanh": (sp.tanh, lambda x: 1 - sp.tanh(x) ** 2),
    "relu": (lambda x: sp.Max(0, x), lambda x: sp.Heaviside(x, 0)),
    "leaky_relu": (lambda x, slope: sp.Piecewise((x, x > 0), (slope * x, True)),
                   lambda x, slope: sp.Piecewise((1, x > 0), (slope, True))),
    "softplus": (lambda x: sp.log(1 + sp.exp(x)), sig),
    "elu": (lambda x, alpha: sp.Piecewise((x, x > 0), (alpha * (sp.exp(x) - 1), True)),
            lambda x, alpha: sp.Piecewise((1, x > 0), (alpha * sp.exp(x), True))),
    "gelu": (lambda x: x / 2 * (1 + sp.tanh(GELU_K * (x + GELU_C * x**3))), _gelu_prime),
    "silu": (lambda x: x * sig(x), lambda x: sig(x) + x * sig(x) * (1 - sig(x))),
}

#: The output forms textbooks print, by hand (None: no such form).
TEXTBOOK_OUT = {
    "identity": sp.Integer(1),
    "sigmoid": A * (1 - A),
    "tanh": 1 - A**2,
    "softplus": 1 - sp.exp(-A),
}

PIECEWISE = {"relu", "leaky_relu", "elu"}

ACTIVATION_CASES = [
    ("identity", {}), ("sigmoid", {}), ("tanh", {}), ("relu", {}),
    ("leaky_relu", {}), ("leaky_relu", {"slope": R(1, 5)}),
    ("softplus", {}), ("elu", {}), ("elu", {"alpha": R(1, 2)}), ("gelu", {}), ("silu", {}),
]


def _case_id(case):
    name, p = case
    return name + "".join(f"-{k}{v}" for k, v in p.items())


def _params(name, given):
    """The parameters the hand-written table needs, with the documented defaults."""
    defaults = {"leaky_relu": {"slope": R(1, 100)}, "elu": {"alpha": 1}}
    return {**defaults.get(name, {}), **given}


def _zero(expr) -> bool:
    """expr == 0 symbolically (hyperbolic functions rewritten in exp first, so that
    sigma' = 1/(4 cosh^2(x/2)) and sigma (1 - sigma) meet)."""
    return (sp.expand(expr) == 0 or sp.simplify(expr) == 0
            or sp.simplify(sp.expand(expr.rewrite(sp.exp))) == 0)


def _equal_everywhere(lhs, rhs, name):
    """lhs == rhs as functions of X: symbolically, or branch by branch for piecewise rules."""
    if name in PIECEWISE:
        for branch in (P, -P):  # x > 0 and x < 0
            assert _zero(lhs.subs(X, branch) - rhs.subs(X, branch)), (name, branch, lhs, rhs)
        for x0 in SAMPLES:
            assert sp.simplify(lhs.subs(X, x0) - rhs.subs(X, x0)) == 0, (name, x0)
    else:
        assert _zero(lhs - rhs), (name, lhs, rhs)


def test_every_registered_activation_is_covered():
    assert {name for name, _ in ACTIVATION_CASES} == set(ACTIVATIONS)
    assert set(TEXTBOOK) == set(ACTIVATIONS)


@pytest.mark.parametrize("case", ACTIVATION_CASES, ids=_case_id)
def test_activation_function_matches_textbook(case):
    name, given = case
    act = make_activation(name, **given)
    f_hand = TEXTBOOK[name][0](X, **_params(name, given))
    _equal_everywhere(act.f, f_hand, name)


@pytest.mark.parametrize("case", ACTIVATION_CASES, ids=_case_id)
def test_activation_derivative_matches_textbook(case):
    name, given = case
    act = make_activation(name, **given)
    df_hand = TEXTBOOK[name][1](X, **_params(name, given))
    _equal_everywhere(act.df, df_hand, name)


@pytest.mark.parametrize("case", ACTIVATION_CASES, ids=_case_id)
def test_derivative_is_sympys(case):
    # df may be rewritten (in the bounded sigmoid for SiLU), never changed
    name, given = case
    act = make_activation(name, **given)
    _equal_everywhere(act.df, sp.diff(act.f, X), name)


def test_silu_derivative_is_bounded():
    # in the sigmoid s = 1/(1 + exp(-x)) only: no exp(+x) left to overflow at large x
    df = make_activation("silu").df
    assert all(e.args[0] == -X for e in df.atoms(sp.exp)), df
    assert df.subs(X, 800).evalf() == pytest.approx(1.0) and abs(df.subs(X, -800).evalf()) < 1e-300


@pytest.mark.parametrize("case", ACTIVATION_CASES, ids=_case_id)
def test_output_form_equals_derivative(case):
    """df_out(a = f(x)) == f'(x): a rewritten form is never trusted without proof."""
    name, given = case
    act = make_activation(name, **given)
    if act.df_out is None:
        assert name in ("gelu", "silu")  # no closed form in the output alone
        return
    assert act.df_out.free_symbols <= {A}, "the output form must use only a = f(x)"
    _equal_everywhere(act.df_out.subs(A, act.f), act.df, name)
    # and, independently, against the hand-written derivative
    df_hand = TEXTBOOK[name][1](X, **_params(name, given))
    _equal_everywhere(act.df_out.subs(A, act.f), df_hand, name)


@pytest.mark.parametrize("name", sorted(TEXTBOOK_OUT))
def test_output_form_is_the_textbook_one(name):
    assert sp.expand(make_activation(name).df_out - TEXTBOOK_OUT[name]) == 0


def test_piecewise_output_forms_by_branch():
    # ReLU' = 1[a > 0]; LeakyReLU' = 1 if a > 0 else slope; ELU' = 1 if a > 0 else a + alpha
    relu = make_activation("relu")
    assert relu.df_out.subs(A, 2) == 1 and relu.df_out.subs(A, 0) == 0
    leaky = make_activation("leaky_relu", slope=R(1, 5))
    assert leaky.df_out.subs(A, R(1, 3)) == 1 and leaky.df_out.subs(A, R(-1, 3)) == R(1, 5)
    elu = make_activation("elu", alpha=R(1, 2))
    a_neg = elu.f.subs(X, -P)  # a = alpha (e^-p - 1) < 0
    assert sp.simplify(elu.df_out.subs(A, a_neg) - R(1, 2) * sp.exp(-P)) == 0


def test_custom_activation_derivative():
    from symbp.expr import parse_math
    from symbp.rules.activations import custom_activation

    x = sp.Symbol("x")
    act = custom_activation(parse_math("x / (1 + exp(-x))", {"x": x}), "x / (1 + exp(-x))")
    assert act.df_out is None
    assert _zero(act.df - TEXTBOOK["silu"][1](X))


# --- losses ----------------------------------------------------------------------------------

def _bce(yhat, y):
    return -(y * sp.log(yhat) + (1 - y) * sp.log(1 - yhat))


LOSS_DERIVATIVES = {  # d ell / d yhat, by hand
    ("mse", R(1, 2)): YHAT - Y,
    ("mse", 1): 2 * (YHAT - Y),
    ("bce", None): (YHAT - Y) / (YHAT * (1 - YHAT)),
    ("cross_entropy", None): -Y / YHAT,
}


@pytest.mark.parametrize("key", list(LOSS_DERIVATIVES), ids=lambda k: f"{k[0]}-{k[1]}")
def test_smooth_loss_derivative(key):
    name, scale = key
    rule = make_loss(name, scale=scale) if scale is not None else make_loss(name)
    assert rule.link is None
    assert _zero(rule.dell - LOSS_DERIVATIVES[key])
    assert _zero(rule.dell - sp.diff(rule.ell, YHAT))


@pytest.mark.parametrize("delta", [R(1), R(3, 10)])
def test_huber_derivative_on_both_branches(delta):
    # d/dyhat: r if |r| <= delta else delta sign(r), r = yhat - y
    rule = make_loss("huber", delta=delta)
    for y0 in (R(0), R(1, 2), R(-2)):
        for r in (R(-3), -delta - R(1, 10), -delta / 2, R(1, 7), delta / 2, delta + R(1, 10), R(5)):
            want = r if abs(r) <= delta else delta * sp.sign(r)
            got = rule.dell.subs({YHAT: y0 + r, Y: y0})
            assert sp.simplify(got - want) == 0, (delta, y0, r, got)
            value = rule.ell.subs({YHAT: y0 + r, Y: y0})
            want_value = r**2 / 2 if abs(r) <= delta else delta * (abs(r) - delta / 2)
            assert sp.simplify(value - want_value) == 0


def test_custom_loss_derivative():
    rule = custom_loss((sp.Symbol("yhat") - sp.Symbol("y")) ** 4 / 4, "(yhat - y)^4/4")
    assert _zero(rule.dell - (YHAT - Y) ** 3)


def test_bce_logits_is_bce_of_sigmoid():
    rule = make_loss("bce_logits")
    assert rule.link == "sigmoid"
    # ell(z, y) = BCE(sigma(z), y): check symbolically, with the logs expanded
    diff = sp.expand_log(rule.ell - _bce(sig(Z), Y), force=True)
    assert sp.simplify(diff) == 0
    # and at exact sample points
    for z0 in SAMPLES:
        for y0 in (R(0), R(1, 3), R(1)):
            assert abs(sp.N((rule.ell - _bce(sig(Z), Y)).subs({Z: z0, Y: y0}), 40)) < 1e-35


def test_bce_logits_fused_derivative():
    rule = make_loss("bce_logits")
    assert _zero(sp.diff(rule.ell, Z) - (sig(Z) - Y))
    assert _zero(rule.dell - (sig(Z) - Y))
    # the unfused chain rule: dBCE/dyhat at yhat = sigma(z), times sigma'(z) = sigma (1 - sigma)
    unfused = LOSS_DERIVATIVES[("bce", None)].subs(YHAT, sig(Z)) * sig(Z) * (1 - sig(Z))
    assert _zero(unfused - (sig(Z) - Y))
    assert "linear" in rule.assumption


K = 3
ZS = sp.symbols("z1:4", real=True)
YS = sp.symbols("y1:4", real=True)


def _softmax(j):
    return sp.exp(ZS[j]) / sum(sp.exp(z) for z in ZS)


def _softmax_ce():
    # L = -sum_k y_k log softmax_k, written out with K = 3 explicit symbols
    return -sum(YS[k] * sp.log(_softmax(k)) for k in range(K))


@pytest.mark.parametrize("j", range(K))
def test_softmax_cross_entropy_fused_under_one_hot(j):
    grad = sp.diff(_softmax_ce(), ZS[j])
    fused = _softmax(j) - YS[j]
    one_hot = {YS[2]: 1 - YS[0] - YS[1]}  # the stated assumption: sum_k y_k = 1
    assert _zero((grad - fused).subs(one_hot))
    # without the assumption the fused form is wrong: the true derivative is
    # softmax_j * sum_k y_k - y_j
    assert not _zero(grad - fused)
    assert _zero(grad - (_softmax(j) * sum(YS) - YS[j]))
    # a concrete counterexample: y = (1, 1, 0), z = 0
    at = {**{z: 0 for z in ZS}, YS[0]: 1, YS[1]: 1, YS[2]: 0}
    assert sp.simplify((grad - fused).subs(at)) != 0


def test_softmax_cross_entropy_rule_states_assumption():
    rule = make_loss("softmax_cross_entropy")
    assert rule.link == "softmax"
    assert "one-hot" in rule.assumption and "sums to 1" in rule.assumption


def test_every_registered_loss_is_covered():
    covered = {k[0] for k in LOSS_DERIVATIVES} | {"huber", "bce_logits", "softmax_cross_entropy"}
    assert covered == set(LOSSES)
