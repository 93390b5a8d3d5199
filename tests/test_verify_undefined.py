"""A claim that is undefined, infinite or not real where the derivation is finite is wrong; a
comparison with too few points where both sides have a value is unverifiable, never "equal"."""

import pytest
import sympy as sp

from symbp.verify import verify_claim
from symbp.verify.model import compare, values_equal

S0 = "seed000_sigmoid_mse"
DJDZ = r"\frac{\partial J}{\partial z_k^{(2)}} = "


@pytest.mark.parametrize("rhs,claimed", [
    (r"\log(0)", "undefined"),
    (r"\sqrt{-1}", "not a real number"),
    (r"\frac{0}{0}", "undefined"),
    (r"\frac{y_k-\hat{y}_k}{0}", "undefined"),
    (r"\sqrt{\hat{y}_k - 1}", "not a real number"),     # yhat < 1: imaginary everywhere
    (r"(\hat{y}_k - y_k) \hat{y}_k (1 - \hat{y}_k) + \log(0)", "undefined"),
])
def test_undefined_or_complex_claim_is_wrong(rhs, claimed):
    v = verify_claim(DJDZ + rhs, S0)
    assert v.verdict == "wrong", v.reason
    assert "undefined" in v.diagnosis, v.diagnosis
    assert "undefined or not a real number" in v.reason
    assert claimed in v.counterexample["claimed"]
    float(v.counterexample["expected"])  # the derivation's value there is a finite number


def test_huge_factor_is_a_wrong_factor_not_an_undefined_value():
    # 10^400 overflows a float but is a number: the claim is 10^400 times (minus) the value
    v = verify_claim(DJDZ + r"1e400 (y_k-\hat{y}_k) \hat{y}_k (1 - \hat{y}_k)", S0)
    assert v.verdict == "wrong"
    assert "sign" in v.diagnosis and "factor" in v.diagnosis and "undefined" not in v.diagnosis
    claimed, expected = v.counterexample["claimed"], float(v.counterexample["expected"])
    assert claimed.startswith("-") and "e+39" in claimed  # shown, not "undefined"
    assert abs(sp.Float(claimed) / expected / sp.Float("-1e400") - 1) < 1e-4


@pytest.mark.parametrize("claim", [
    r"\frac{\partial \sigma(z)}{\partial z} = \log(0)",
    r"\frac{\partial \sigma(z)}{\partial z} = \sigma(z)(1 - \sigma(z)) + \sqrt{-1}",
])
def test_undefined_identity_is_wrong(claim):
    v = verify_claim(claim)
    assert v.verdict == "wrong" and v.diagnosis == ["undefined"]


def test_undefined_claim_in_a_given_setting_is_wrong():
    v = verify_claim(r"\frac{\partial L}{\partial \hat{y}} = \frac{0}{0}",
                     given=[r"L = \frac{1}{2}(y - \hat{y})^2"])
    assert v.verdict == "wrong" and v.diagnosis == ["undefined"]


def test_derivative_without_a_real_value_is_unverifiable_not_equal():
    # d sqrt(-1 - z^2)/dz is not real anywhere: nothing can be compared
    v = verify_claim(r"\frac{\partial \sqrt{-1 - z^2}}{\partial z} = 0")
    assert v.verdict == "unverifiable"
    assert "too few" in v.reason and "numerically equal" not in v.reason


def test_values_equal_treats_an_undefined_claim_as_different():
    assert values_equal(0.5, sp.zoo) is False
    assert values_equal(0.5, sp.nan) is False
    assert values_equal(0.5, sp.I) is False
    assert values_equal(sp.nan, 0.5) is None        # the reference undefined: no information
    assert values_equal(0.5, sp.Function("f")(sp.Float(0.3))) is None  # no value: no information
    assert values_equal(sp.Integer(10) ** 400, sp.Integer(10) ** 400 + 1) is True


def test_compare_with_no_valid_point_is_not_numerically_equal():
    z = sp.Symbol("z", real=True)
    c = compare(sp.sqrt(-1 - z ** 2), sp.sqrt(-1 - z ** 2) * 2)
    assert c.numeric is None and c.equal is None and c.valid == 0
