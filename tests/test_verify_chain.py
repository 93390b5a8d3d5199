"""The chain rule written as a sum of derivatives, and the fused softmax cross-entropy's
assumption (each row of y sums to 1) in the symbolic comparison."""

import pytest
import sympy as sp

from symbp.claims import Resolver, parse_claim, to_sympy
from symbp.verify import verify_claim
from symbp.verify import model

try:
    from .verify_specs import SM
except ImportError:
    from verify_specs import SM

S0 = "seed000_sigmoid_mse"
DZ2 = r"\frac{\partial L}{\partial z_j^{(2)}} = "
ROWS = "each row of y sums to 1"


# --- a derivative inside a sum is the derivative at each value of the summation index ----------

@pytest.mark.parametrize("rhs", [
    r"\sum_i \frac{\partial L}{\partial \hat{y}_i}\frac{\partial \hat{y}_i}{\partial z_j^{(2)}}",
    r"\sum_i \frac{\partial L}{\partial \hat{y}_i}\hat{y}_i(\delta_{ij}-\hat{y}_j)",
    r"\sum_{i=1}^{3} \frac{\partial L}{\partial \hat{y}_i}\frac{\partial \hat{y}_i}{\partial z_j^{(2)}}",
])
def test_softmax_chain_rule_as_a_sum_of_derivatives_is_correct(rhs):
    v = verify_claim(DZ2 + rhs, SM)
    assert v.verdict == "correct", (v.verdict, v.reason, v.counterexample)
    assert v.symbolic is True
    assert ROWS in v.reason  # the general form needs the assumption of the fused loss


@pytest.mark.parametrize("rhs", [
    # the softmax Jacobian with a wrong sign inside
    r"\sum_i \frac{\partial L}{\partial \hat{y}_i}\hat{y}_i(\delta_{ij}+\hat{y}_j)",
    r"2 \sum_i \frac{\partial L}{\partial \hat{y}_i}\frac{\partial \hat{y}_i}{\partial z_j^{(2)}}",
    # the derivative of the loss w.r.t. the summed output, not its value
    r"\sum_i \hat{y}_i \frac{\partial \hat{y}_i}{\partial z_j^{(2)}}",
])
def test_wrong_chain_rule_sums_stay_wrong(rhs):
    assert verify_claim(DZ2 + rhs, SM).verdict == "wrong"


def test_hidden_layer_chain_rule_sum_in_a_sigmoid_network():
    ok = verify_claim(r"\frac{\partial J}{\partial a_j^{(1)}} = \sum_k \frac{\partial J}{\partial "
                      r"z_k^{(2)}} W^{(2)}_{kj}", S0)
    assert ok.verdict == "correct", (ok.reason, ok.counterexample)
    assert ROWS not in ok.reason  # not a softmax loss: no assumption
    both = verify_claim(r"\frac{\partial J}{\partial z_j^{(1)}} = \sum_k \frac{\partial J}{\partial "
                        r"z_k^{(2)}} \frac{\partial z_k^{(2)}}{\partial z_j^{(1)}}", S0)
    assert both.verdict == "correct", (both.reason, both.counterexample)
    bad = verify_claim(r"\frac{\partial J}{\partial a_j^{(1)}} = 2 \sum_k \frac{\partial J}{\partial "
                       r"z_k^{(2)}} W^{(2)}_{kj}", S0)
    assert bad.verdict == "wrong"


def test_hidden_layer_of_the_softmax_network_through_two_sums():
    v = verify_claim(r"\frac{\partial L}{\partial z_j^{(1)}} = \sum_k \sum_i \frac{\partial L}{\partial "
                     r"\hat{y}_i} \frac{\partial \hat{y}_i}{\partial z_k^{(2)}} W^{(2)}_{kj} "
                     r"(1 - (a^{(1)}_j)^2)", SM)
    assert v.verdict == "correct", (v.reason, v.counterexample)
    v = verify_claim(r"\frac{\partial L}{\partial z_j^{(1)}} = (1 - (a^{(1)}_j)^2) \sum_k "
                     r"\frac{\partial L}{\partial z_k^{(2)}} W^{(2)}_{kj}", SM)
    assert v.verdict == "correct", (v.reason, v.counterexample)


class _Terms(Resolver):
    """Element symbols x_i; d/dx_i of a function f becomes the symbol df_i; sums over i in 1..3
    are expanded term by term."""

    def __init__(self):
        self.values = {}

    def symbol(self, ref):
        idx = "".join(str(self.values.get(x, x)) for x in ref.indices)
        return sp.Symbol(f"{ref.base}_{idx}" if idx else ref.base)

    def derivative(self, of, wrt, ref):
        return sp.Symbol(f"d{of}/d{wrt}")

    def sum_bounds(self, index):
        return sp.Integer(1), sp.Integer(3)

    def sum_terms(self, index, lower, upper):
        return list(range(int(lower), int(upper) + 1))

    def bind_index(self, index, value):
        before = self.values.get(index)
        if value is None:
            self.values.pop(index, None)
        else:
            self.values[index] = value
        return before


def test_converter_expands_a_sum_with_the_index_bound_in_each_term():
    claim = parse_claim(r"g = \sum_i (\frac{\partial f}{\partial x_i} x_i \delta_{ij} + i)")
    value = to_sympy(claim.sides[1], _Terms())
    x = [sp.Symbol(f"x_{k}") for k in (1, 2, 3)]
    d = [sp.Symbol(f"df/dx_{k}") for k in (1, 2, 3)]
    j = sp.Symbol("j", integer=True)
    expected = sum(dk * xk * sp.KroneckerDelta(k, j) + k for k, dk, xk in zip((1, 2, 3), d, x))
    assert sp.expand(value - expected) == 0


# --- the fused softmax cross-entropy: rows of y sum to 1 ---------------------------------------

@pytest.mark.parametrize("rhs", [
    r"\hat{y}_j \sum_i y_i - y_j",
    r"-\sum_i \frac{y_i}{\hat{y}_i}\hat{y}_i(\delta_{ij}-\hat{y}_j)",
])
def test_general_form_is_correct_under_the_row_sum_assumption(rhs):
    v = verify_claim(DZ2 + rhs, SM)
    assert v.verdict == "correct", (v.verdict, v.reason)
    assert v.symbolic is True and ROWS in v.reason


def test_row_sum_assumption_is_named_only_when_needed_and_keeps_wrong_claims_wrong():
    v = verify_claim(DZ2 + r"\hat{y}_j - y_j", SM)
    assert v.verdict == "correct" and ROWS not in v.reason
    assert verify_claim(DZ2 + r"\hat{y}_j - 2 y_j", SM).verdict == "wrong"
    assert verify_claim(DZ2 + r"\hat{y}_j \sum_i y_i + y_j", SM).verdict == "wrong"


def test_compare_applies_an_assumption_symbolically():
    y1, y2, a = sp.symbols("y1 y2 a", real=True)
    points = [{y1: sp.Float(t / 10), y2: sp.Float(1 - t / 10), a: sp.Float(t / 7)} for t in range(1, 6)]
    ref, claim = a - y1, a * (y1 + y2) - y1
    plain = model.compare(ref, claim, point_list=points)
    assert plain.numeric is True and plain.symbolic is not True
    given = model.compare(ref, claim, point_list=points, assume={y2: 1 - y1})
    assert given.equal is True and given.symbolic is True and given.assumed is True
    same = model.compare(ref, ref + 0, point_list=points, assume={y2: 1 - y1})
    assert same.equal is True and same.assumed is False


def test_is_zero_decides_softmax_algebra_with_exp_of_multiples():
    z0, z1 = sp.symbols("z0 z1", real=True)
    s = sp.exp(z0) / (sp.exp(z0) + sp.exp(z1))
    e = sp.exp(z0) / (sp.exp(z0) + sp.exp(z1)) - sp.exp(2 * z0) / (sp.exp(z0) + sp.exp(z1)) ** 2
    assert model.is_zero(e - s * (1 - s)) is True
    assert model.is_zero(sp.exp(z0 - 2 * z1) * sp.exp(2 * z1) - sp.exp(z0)) is True
