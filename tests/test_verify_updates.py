"""Update rules: gradient-descent steps and optimizer-state (momentum) updates, including the
forms `symbp derive --optimizer momentum` prints."""

import pytest

from symbp.claims import parse_claim
from symbp.verify import verify_claim

try:
    from .verify_specs import NET
except ImportError:
    from verify_specs import NET


@pytest.mark.parametrize("claim,step", [
    (r"v \leftarrow \frac{\partial L}{\partial W} + \mu v", r"W \leftarrow W - \eta v"),  # symbp
    (r"v \leftarrow \mu v - \eta \frac{\partial L}{\partial W}", r"W \leftarrow W + v"),  # CS231n
    (r"{v_{W^{(1)}}} \leftarrow \frac{\partial L}{\partial W^{(1)}} + \mu {v_{W^{(1)}}}", None),
    (r"{v_{W^{(1)}}}_{ij} \leftarrow \frac{\partial L}{\partial W^{(1)}_{ij}} + {v_{W^{(1)}}}_{ij} \mu",
     None),
    (r"m \leftarrow \beta_1 m + (1 - \beta_1) \frac{\partial L}{\partial W}", None),
])
def test_momentum_update_is_recognised(claim, step):
    for spec in (None, NET):
        v = verify_claim(claim, spec)
        assert v.verdict == "correct", v.reason
        assert "momentum" in v.reason and "not compared with a spec's optimizer" in v.reason
        if step:
            assert step in v.reason


@pytest.mark.parametrize("claim", [
    r"v \leftarrow (1 - \beta) v + \beta \frac{\partial L}{\partial W}",
    r"v \leftarrow \mu v + (1-\mu) \frac{\partial L}{\partial W}",
    r"m \leftarrow \beta_1 m + (1 - \beta_1) \frac{\partial L}{\partial W}",
])
def test_momentum_coefficient_one_minus_beta_is_not_negative(claim):
    # 1 - beta is in (0, 1) for beta in (0, 1): not a sign error; and a positive gradient
    # coefficient (beta, or 1 - mu with mu in (0, 1)) is matched by the descent step
    v = verify_claim(claim)
    assert v.verdict == "correct", v.reason
    assert r"W \leftarrow W - \eta" in v.reason and r"W \leftarrow W + " not in v.reason


def test_momentum_with_a_gradient_coefficient_of_unknown_sign_says_so():
    v = verify_claim(r"v \leftarrow \mu v + (\beta - \mu) \frac{\partial L}{\partial W}")
    assert v.verdict == "correct", v.reason
    assert "is not known" in v.reason
    assert r"W \leftarrow W - \eta v if it is positive" in v.reason
    assert r"W \leftarrow W + v if it is negative" in v.reason


@pytest.mark.parametrize("claim,label", [
    (r"v \leftarrow (1 + \mu) v + \frac{\partial L}{\partial W}", "other"),  # >= 1
    (r"v \leftarrow 1.5 v + \frac{\partial L}{\partial W}", "other"),
])
def test_momentum_coefficient_provably_out_of_range_is_wrong(claim, label):
    v = verify_claim(claim)
    assert v.verdict == "wrong" and v.diagnosis == [label], (v.verdict, v.diagnosis)


def test_learning_rate_one_minus_beta_is_not_a_sign_error():
    v = verify_claim(r"W \leftarrow W - (1 - \beta) \frac{\partial L}{\partial W}")
    assert v.verdict == "correct", v.reason
    v = verify_claim(r"W \leftarrow W + \alpha \frac{\partial L}{\partial W}")
    assert v.verdict == "wrong" and v.diagnosis == ["sign"]


def test_momentum_with_a_negative_coefficient_is_wrong_with_a_meaningful_correction():
    v = verify_claim(r"v \leftarrow -\mu v + \frac{\partial L}{\partial W}")
    assert v.verdict == "wrong" and v.diagnosis == ["sign"]
    assert v.correct == r"\mu v + \frac{\partial L}{\partial W}"
    assert r"\frac{\partial L}{\partial v}" not in v.correct


@pytest.mark.parametrize("claim", [
    r"{s_{W^{(1)}}} \leftarrow \beta_2 {s_{W^{(1)}}} + \left(1 - \beta_2\right) \left(\frac{\partial L}{\partial W^{(1)}}\right)^{2}",
    r"v \leftarrow - \eta \frac{\partial L}{\partial W}",
])
def test_other_optimizer_states_are_unverifiable_with_the_reason(claim):
    v = verify_claim(claim, NET)
    assert v.verdict == "unverifiable" and "optimizer state" in v.reason
    assert v.correct is None


def test_a_parameter_updated_with_another_gradient_is_still_wrong():
    v = verify_claim(r"w \leftarrow w - \alpha \frac{\partial L}{\partial b}")
    assert v.verdict == "wrong" and v.correct == r"w - \alpha \frac{\partial L}{\partial w}"


def test_symbps_state_names_parse():
    c = parse_claim(r"{v_{W^{(1)}}} \leftarrow \frac{\partial L}{\partial W^{(1)}} + \mu {v_{W^{(1)}}}")
    assert c.update_target == c.sides[1].right.right.ref
    assert parse_claim(r"v_{W_1} = 1").lhs.ref == c.lhs.ref  # v_{W_1} is the same state
