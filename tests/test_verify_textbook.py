"""A table of textbook claims (true ones and corrupted variants) with the expected verdicts."""


import pytest

from symbp.verify import verify_claim
from symbp.verify.spec_check import derivation_of

S0 = "seed000_sigmoid_mse"
S2 = "seed002_worked_example"
RELU = "seed001_relu_bce_logits"
TANH = """
[model]
inputs = 2
layers = [ { units = 3, activation = "tanh" }, { units = 2, activation = "identity" } ]
[loss]
kind = "mse"
scale = 0.5
reduction = "sum"
"""
LOGREG = """
[model]
inputs = 3
layers = [ { units = 1, activation = "sigmoid" } ]
[loss]
kind = "bce"
reduction = "sum"
"""
LINREG = """
[model]
inputs = 1
layers = [ { units = 1, activation = "identity" } ]
[loss]
kind = "mse"
scale = 0.5
reduction = "sum"
"""

# (claim, setting, expected verdict, expected diagnosis label or None)
TABLE = [
    # activation derivatives (no setting needed)
    (r"\frac{\partial \sigma(z)}{\partial z} = \sigma(z)(1 - \sigma(z))", None, "correct", None),
    (r"\frac{\partial \sigma(z)}{\partial z} = -\sigma(z)(1 - \sigma(z))", None, "wrong", "sign"),
    (r"\frac{\partial \sigma(z)}{\partial z} = 2\sigma(z)(1 - \sigma(z))", None, "wrong", "factor_2"),
    (r"\frac{\partial \sigma(z)}{\partial z} = \sigma(z)", None, "wrong", "function_instead_of_derivative"),
    (r"\frac{\partial \tanh(z)}{\partial z} = 1 - \tanh^2(z)", None, "correct", None),
    (r"\frac{\partial \tanh(z)}{\partial z} = 1 + \tanh^2(z)", None, "wrong", None),
    (r"\frac{\partial \tanh(z)}{\partial z} = \frac{1}{2}(1 - \tanh^2(z))", None, "wrong", "factor_half"),
    (r"\frac{\partial \log(1 + e^{z})}{\partial z} = \sigma(z)", None, "correct", None),
    (r"\frac{\partial \log(1 + e^{z})}{\partial z} = \sigma(-z)", None, "wrong", None),
    (r"\frac{\partial e^{z}}{\partial z} = e^{z}", None, "correct", None),
    (r"\frac{\partial \log(z)}{\partial z} = \frac{1}{z}", None, "correct", None),
    (r"\frac{\partial \log(z)}{\partial z} = -\frac{1}{z}", None, "wrong", "sign"),
    (r"\frac{\partial z^2}{\partial z} = 2 z", None, "correct", None),
    (r"\frac{\partial z^2}{\partial z} = z", None, "wrong", "factor_half"),
    # matrix calculus
    (r"\frac{\partial (x^T A x)}{\partial x} = (A + A^T) x", None, "correct", None),
    (r"\frac{\partial (x^T A x)}{\partial x} = 2 A x", None, "wrong", None),
    (r"\frac{\partial (a^T x)}{\partial x} = a", None, "correct", None),
    (r"\frac{\partial (a^T x)}{\partial x} = -a", None, "wrong", None),
    (r"\frac{\partial (x^T x)}{\partial x} = 2 x", None, "correct", None),
    (r"\frac{\partial (x^T x)}{\partial x} = x", None, "wrong", None),
    # losses (given equations)
    (r"\frac{\partial L}{\partial \hat{y}} = \hat{y} - y", [r"L = \frac{1}{2}(y - \hat{y})^2"], "correct", None),
    (r"\frac{\partial L}{\partial \hat{y}} = y - \hat{y}", [r"L = \frac{1}{2}(y - \hat{y})^2"], "wrong", "sign"),
    (r"\frac{\partial L}{\partial \hat{y}} = -\frac{y}{\hat{y}} + \frac{1 - y}{1 - \hat{y}}",
     [r"L = -y \log(\hat{y}) - (1 - y)\log(1 - \hat{y})"], "correct", None),
    (r"\frac{\partial L}{\partial z} = \hat{y} - y",
     [r"L = -y \log(\hat{y}) - (1 - y)\log(1 - \hat{y})", r"\hat{y} = \sigma(z)"], "correct", None),
    (r"\frac{\partial L}{\partial z} = y - \hat{y}",
     [r"L = -y \log(\hat{y}) - (1 - y)\log(1 - \hat{y})", r"\hat{y} = \sigma(z)"], "wrong", "sign"),
    (r"\frac{\partial L}{\partial w} = \lambda w", [r"L = \frac{\lambda}{2} w^2"], "correct", None),
    (r"\frac{\partial L}{\partial w} = 2 \lambda w", [r"L = \frac{\lambda}{2} w^2"], "wrong", "factor_2"),
    # Nielsen BP1-BP4 and friends, in a spec
    (r"\frac{\partial J}{\partial z_k^{(2)}} = (\hat{y}_k - y_k) \hat{y}_k (1 - \hat{y}_k)", S0, "correct", None),
    (r"\frac{\partial J}{\partial z_k^{(2)}} = (\hat{y}_k - y_k)", S0, "wrong", "missing_activation_derivative"),
    (r"\frac{\partial J}{\partial z_k^{(2)}} = (y_k - \hat{y}_k) \hat{y}_k (1 - \hat{y}_k)", S0, "wrong", "sign"),
    (r"\frac{\partial J}{\partial w^{(2)}_{kj}} = (\hat{y}_k - y_k)\hat{y}_k(1-\hat{y}_k) a^{(1)}_j", S0, "correct", None),
    (r"\frac{\partial J}{\partial w^{(2)}_{kj}} = (\hat{y}_k - y_k) a^{(1)}_j", S0, "wrong",
     "missing_activation_derivative"),
    (r"\delta^{(1)}_j = \sum_k W^{(2)}_{kj} \delta^{(2)}_k \sigma'(z^{(1)}_j)", S0, "correct", None),
    (r"\delta^{(1)}_j = \sum_k W^{(2)}_{kj} \delta^{(2)}_k", S0, "wrong", "missing_activation_derivative"),
    (r"\delta^{(1)}_j = \sum_k W^{(2)}_{kj} \delta^{(2)}_k \sigma'(z^{(1)}_j)", S2, "correct", None),
    (r"\delta_{l} = (W_{l+1}^T \delta_{l+1}) \odot \sigma'(Z_l)", S2, "correct", None),
    (r"\delta^{(l)} = ((W^{(l+1)})^T \delta^{(l+1)}) \odot \sigma'(z^{(l)})", S2, "correct", None),
    (r"\delta^{(l)} = (W^{(l+1)} \delta^{(l+1)}) \odot \sigma'(z^{(l)})", S2, "wrong", "transposed"),
    (r"\frac{\partial L}{\partial b^{(l)}} = \delta^{(l)}", S2, "correct", None),
    (r"\frac{\partial L}{\partial b^{(l)}} = \delta^{(l+1)}", S2, "wrong", "wrong_layer"),
    (r"\frac{\partial L}{\partial W^{(l)}} = \delta^{(l)} (a^{(l-1)})^T", S2, "correct", None),
    (r"\frac{\partial L}{\partial W^{(l)}} = a^{(l-1)} (\delta^{(l)})^T", S2, "wrong", "transposed"),
    (r"\frac{\partial L}{\partial W_l} = A_{l-1} \cdot \delta_{l+1}", S2, "wrong", "wrong_layer"),
    (r"\frac{\partial L}{\partial W^{(2)}} = (a^{(1)})^T \delta^{(2)}", S2, "correct", None),
    (r"\frac{\partial L}{\partial z^{(2)}_k} = \hat{y}_k - y_k", TANH, "correct", None),
    (r"\frac{\partial L}{\partial z^{(2)}_k} = (\hat{y}_k - y_k)(1 - \hat{y}_k^2)", TANH, "wrong", None),
    # ReLU hidden and output units (Max in the instance), one output unit used as a scalar
    (r"\frac{\partial L}{\partial \hat{y}} = \frac{\hat{y} - y}{\hat{y}(1-\hat{y})}", "seed001_relu_bce", "correct", None),
    (r"\frac{\partial L}{\partial \hat{y}} = \frac{y - \hat{y}}{\hat{y}(1-\hat{y})}", "seed001_relu_bce", "wrong", "sign"),
    (r"\delta^{(2)} = ((W^{(3)})^T \delta^{(3)}) \odot a^{(2)} \odot (1 - a^{(2)})", S2, "correct", None),
    # logistic and linear regression
    (r"\frac{\partial L}{\partial z} = \hat{y} - y", LOGREG, "correct", None),
    (r"\frac{\partial L}{\partial z} = 2(\hat{y} - y)", LOGREG, "wrong", "factor_2"),
    (r"\frac{\partial L}{\partial w_j} = (\hat{y} - y) x_j", LOGREG, "correct", None),
    (r"\frac{\partial L}{\partial w_j} = (y - \hat{y}) x_j", LOGREG, "wrong", "sign"),
    (r"\frac{\partial L}{\partial w} = (\hat{y} - y) x", LINREG, "correct", None),
    (r"\frac{\partial L}{\partial b} = \hat{y} - y", LINREG, "correct", None),
    (r"\frac{\partial L}{\partial b} = y - \hat{y}", LINREG, "wrong", "sign"),
    # Nielsen's four equations of backpropagation, in his notation (layers as superscripts)
    (r"\delta^L = (a^L - y) \odot \sigma'(z^L)", S0, "correct", None),
    (r"\delta^l = ((w^{l+1})^T \delta^{l+1}) \odot \sigma'(z^l)", S0, "correct", None),
    (r"\delta^l = ((w^{l+1})^T \delta^{l+1}) \odot a^l", S0, "wrong", None),
    (r"\frac{\partial C}{\partial b^l_j} = \delta^l_j", S0, "correct", None),
    (r"\frac{\partial C}{\partial w^l_{jk}} = a^{l-1}_k \delta^l_j", S0, "correct", None),
    (r"\frac{\partial C}{\partial w^l_{jk}} = a^l_k \delta^l_j", S0, "wrong", None),
    # ReLU's derivative as the unit step or an indicator
    (r"\delta_1 = (\delta_2 W_2^T) \odot \mathbb{1}[z_1 > 0]", RELU, "correct", None),
    (r"\delta_1 = (\delta_2 W_2^T) \odot H(z_1)", RELU, "correct", None),
    (r"\delta_1 = (\delta_2 W_2^T) \odot \mathbb{1}_{z_1 < 0}", RELU, "wrong", None),
    (r"\frac{\partial L}{\partial z_1[j]} = \frac{\partial L}{\partial a_1[j]} \mathbb{1}[z_1[j] > 0]",
     RELU, "correct", None),
    # the activation where its derivative belongs, found by repairing the formula
    (r"\delta_1 = (\delta_2 W_2^T) \odot a_1", S0, "wrong", "function_instead_of_derivative"),
    (r"\delta_1 = (\delta_2 W_2^T) \odot \sigma(z_1)", S0, "wrong",
     "function_instead_of_derivative"),
    (r"\delta_1 = (\delta_2 W_2^T) \odot a_1", RELU, "wrong", "function_instead_of_derivative"),
    # a one-output network summed over its samples: y_n, \hat{y}_n index the samples
    (r"\frac{\partial J}{\partial b_2} = \frac{1}{N} \sum_n (\hat{y}_n - y_n) \hat{y}_n (1 - \hat{y}_n)",
     S0, "correct", None),
    (r"\frac{\partial J}{\partial b_2} = \sum_n (\hat{y}_n - y_n) \hat{y}_n (1 - \hat{y}_n)",
     S0, "wrong", "factor_N"),
    (r"\frac{\partial J}{\partial b_2} = \frac{1}{N} \sum_{n} (\hat{y}_{n1} - y_{n1}) \hat{y}_{n1} (1 - \hat{y}_{n1})",
     S0, "correct", None),
    (r"\frac{\partial L}{\partial w_j} = \sum_n x_{nj} (\sigma(z_n) - y_n)", LOGREG, "correct", None),
    (r"\frac{\partial L}{\partial w_j} = \sum_n x_{nj} (y_n - \sigma(z_n))", LOGREG, "wrong", "sign"),
    # Wikipedia's w_{j\ell}: two indices
    (r"\delta^{(1)}_j = \left(\sum_\ell w^{(2)}_{j\ell} \delta^{(2)}_\ell\right) o^{(1)}_j (1 - o^{(1)}_j)",
     S0, "correct", None),
    (r"\delta^{(1)}_j = \sum_\ell w^{(2)}_{j\ell} \delta^{(2)}_\ell",
     S0, "wrong", "missing_activation_derivative"),
    # the gradient with a general layer (Goodfellow's notation, with l)
    (r"\nabla_{W^{(l)}} J = \delta^{(l)} (a^{(l-1)})^T", S0, "correct", None),
    (r"\nabla_{W^{(l)}} J = \delta^{(l+1)} (a^{(l-1)})^T", S0, "wrong", "wrong_layer"),
    # matrix error terms without the activation derivative
    (r"\delta^{(1)} = (W^{(2)})^T \delta^{(2)}", S0, "wrong", "missing_activation_derivative"),
    (r"\delta_1 = \delta_2 W_2^T", S0, "wrong", "missing_activation_derivative"),
    (r"\delta^l = (w^{l+1})^T\delta^{l+1}", S0, "wrong", "missing_activation_derivative"),
    (r"\delta_1 = \delta_2 W_2^T", RELU, "wrong", "missing_activation_derivative"),
    # a gradient written as a derivative on the right-hand side does not stop the diagnosis
    (r"\frac{\partial L}{\partial z_1} = \left(\frac{\partial L}{\partial z_2} W_2^T\right) \odot a_1", S0,
     "wrong", "function_instead_of_derivative"),
    # update rules
    (r"\theta := \theta - \eta \nabla_\theta J", None, "correct", None),
    (r"w := w + \alpha \frac{\partial L}{\partial w}", None, "wrong", "sign"),
]


@pytest.mark.parametrize("claim,setting,expected,label", TABLE, ids=[str(i) for i in range(len(TABLE))])
def test_textbook_claim(claim, setting, expected, label):
    kw = {"given": setting} if isinstance(setting, list) else {"spec": setting}
    v = verify_claim(claim, **kw)
    assert v.verdict == expected, (v.reason, v.diagnosis)
    if expected == "wrong":
        assert v.counterexample is not None
        if label:
            assert label in v.diagnosis, v.diagnosis


def test_table_is_large_enough():
    assert sum(1 for row in TABLE if row[2] == "correct") >= 20
    assert len(TABLE) >= 40


#: Claims that once took 8-18 s (the search for wrong_layer/transposed repairs re-diagnosed every
#: candidate, rebuilt the instance and its points each time) or crashed.
SLOW_OR_CRASHING = [
    (r"\frac{\partial L}{\partial W_l} = A_{l-1} \cdot \delta_{l+1}", S2),
    (r"\frac{\partial L}{\partial W^{(l)}} = a^{(l-1)} (\delta^{(l)})^T", S2),
    (r"\delta^{(l)} = (W^{(l+1)} \delta^{(l+1)}) \odot \sigma'(z^{(l)})", S2),
    (r"\frac{\partial L}{\partial z^{(2)}_k} = (\hat{y}_k - y_k)(1 - \hat{y}_k^2)", TANH),
    (r"\frac{\partial J}{\partial w^{(2)}_{kj}} = (\hat{y}_k - y_k)\hat{y}_k(1-\hat{y}_k) a^{(1)}_j", S0),
    (r"\delta^{(1)}_j = \sum_k W^{(2)}_{kj} \delta^{(2)}_m \sigma'(z^{(1)}_j)", S0),
]


@pytest.mark.parametrize("claim,setting", SLOW_OR_CRASHING, ids=[str(i) for i in range(len(SLOW_OR_CRASHING))])
def test_each_claim_builds_its_work_once(claim, setting, monkeypatch):
    """The work a claim costs, counted (not timed: CI's time is not ours to bound): each instance
    and each set of points is built once, the repairs are checked numerically only (no repairs of
    repairs), and their number stays within MAX_REPAIRS."""
    from symbp.verify import diagnose_spec, spec_check

    derivation_of(setting)
    spec_check._INSTANCES.clear()
    built, points, full, calls = [], [], [], []
    inst_cls, consistent, check = spec_check.Instance, spec_check._consistent_points, spec_check.check_in_spec

    def instance(d, sizes, n):
        built.append((tuple(sizes), n))
        return inst_cls(d, sizes, n)

    def consistent_points(inst, rng, count):
        points.append((id(inst), rng.random(), count))  # the seed's first draw names the seed
        return consistent(inst, rng, count)

    def check_in_spec(*a, numeric_only=False, quick=False, **k):
        calls.append(1)
        if not (numeric_only or quick):
            full.append(a[0].text)
        return check(*a, numeric_only=numeric_only, quick=quick, **k)

    monkeypatch.setattr(spec_check, "Instance", instance)
    monkeypatch.setattr(spec_check, "_consistent_points", consistent_points)
    monkeypatch.setattr(spec_check, "check_in_spec", check_in_spec)
    v = verify_claim(claim, setting)
    assert v.verdict in ("correct", "wrong", "unverifiable")
    assert len(built) == len(set(built)), built
    assert len(points) == len(set(points)), points
    assert len(full) <= 1, full
    assert len(calls) <= 1 + 2 * diagnose_spec.MAX_REPAIRS


def test_stray_index_is_unverifiable_with_a_reason():
    v = verify_claim(r"\delta^{(1)}_j = \sum_k W^{(2)}_{kj} \delta^{(2)}_m \sigma'(z^{(1)}_j)", S0)
    assert v.verdict == "unverifiable" and "index m" in v.reason


def test_internal_error_is_unverifiable_not_a_crash(monkeypatch):
    import symbp.verify.spec_check as sc

    def boom(*args, **kwargs):
        raise TypeError("Cannot convert symbols to int")

    monkeypatch.setattr(sc, "_compare_sides", boom)
    v = verify_claim(r"\frac{\partial J}{\partial z_k^{(2)}} = \hat{y}_k - y_k", S0)
    assert v.verdict == "unverifiable"
    assert "TypeError" in v.reason


def test_correct_formula_of_an_element_claim_is_in_the_claims_notation():
    v = verify_claim(r"\frac{\partial J}{\partial z_k^{(2)}} = \hat{y}_k - y_k", S0)
    assert v.verdict == "wrong"
    assert v.correct.startswith(r"\left(\hat{y}_{k} - y_{k}\right) \hat{y}_{k} \left(1 - \hat{y}_{k}\right)"), v.correct
    assert "index form" not in v.correct and "N" in v.correct  # the batch mean's 1/N is noted
    # the missing factor in its textbook form, not 1/(1 + exp(-z))
    assert any(r"\hat{y}_{k} \left(1 - \hat{y}_{k}\right) is missing" in w for w in v.explanation), v.explanation
    assert not any("exp" in w for w in v.explanation)


def test_correct_weight_gradient_in_the_claims_notation():
    v = verify_claim(r"\frac{\partial J}{\partial w^{(2)}_{kj}} = (\hat{y}_k - y_k) a^{(1)}_j", S0)
    assert v.correct.startswith(r"a^{(1)}_{j} \left(\hat{y}_{k} - y_{k}\right) \hat{y}_{k}"), v.correct


def test_missing_hidden_derivative_named_by_the_claims_index():
    v = verify_claim(r"\delta^{(1)}_j = \sum_k W^{(2)}_{kj} \delta^{(2)}_k", S0)
    assert "missing_activation_derivative" in v.diagnosis
    assert any(r"a^{(1)}_{j} \left(1 - a^{(1)}_{j}\right)" in w for w in v.explanation), v.explanation


def test_given_setting_correct_is_in_textbook_form():
    v = verify_claim(r"\frac{\partial L}{\partial z} = \hat{y} - y",
                     given=[r"L = \frac{1}{2}(y - \hat{y})^2", r"\hat{y} = \tanh(z)"])
    assert v.correct == r"\left(\hat{y} - y\right) \left(1 - \hat{y}^{2}\right)", v.correct
    assert v.explanation == [r"the activation derivative 1 - \hat{y}^{2} is missing"]


@pytest.mark.parametrize("claim,lhs", [
    (r"\delta_1 = (\delta_2 W_2^T) \odot a_1", r"\delta_1"),
    (r"\delta^l = ((w^{l+1})^T \delta^{l+1}) \odot a^l", r"\delta^l"),
    (r"\delta_2 = \hat{y} + y", r"\delta_2"),
])
def test_wrong_delta_claim_is_shown_a_formula_that_verifies(claim, lhs):
    # an error-term left side (not a derivative) gets the right formula too, and that formula,
    # fed back to the verifier, is correct
    v = verify_claim(claim, spec=S0)
    assert v.verdict == "wrong" and v.correct
    assert verify_claim(f"{lhs} = {v.correct}", spec=S0).verdict == "correct", v.correct
