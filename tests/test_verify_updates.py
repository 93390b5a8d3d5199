"""Update rules: gradient-descent steps and optimizer-state (momentum) updates, including the
forms `symbp derive --optimizer momentum` prints."""

import pytest

from symbp.claims import parse_claim
from symbp.verify import verify_claim

NET = """
[model]
inputs = 3
layers = [ { units = 4, activation = "sigmoid" }, { units = 2, activation = "sigmoid" } ]
[loss]
kind = "mse"
scale = 0.5
reduction = "sum"
"""


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
