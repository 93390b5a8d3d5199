"""Reading conventions of claims in a spec's setting: the batch (N) a claim is checked for,
element-by-element powers and products of vectors, the Kronecker delta, layers a claim does
not write, and the weight-index convention."""

import pytest

from symbp.verify import verify_claim

try:
    from .verify_specs import DECAY, NET, NG_NET, ONE_LAYER, SM
except ImportError:
    from verify_specs import DECAY, NET, NG_NET, ONE_LAYER, SM

S0 = "seed000_sigmoid_mse"      # loss: mean over the batch
S3 = "seed003_linear_regression"  # loss: mean((y - yhat)^2)


# --- the batch --------------------------------------------------------------------------------

@pytest.mark.parametrize("claim,spec,verdict", [
    # the loss is a mean: the batch gradient has the 1/N (2/N for mean((y - yhat)^2))
    (r"\frac{\partial J}{\partial W} = 2 X^T (\hat{y} - y)", S3, "wrong"),
    (r"\frac{\partial J}{\partial W} = \frac{2}{N} X^T (\hat{y} - y)", S3, "correct"),
    (r"\frac{\partial J}{\partial W_2} = A_1^T ((\hat{Y} - Y) \odot \hat{Y} \odot (1-\hat{Y}))", S0,
     "wrong"),
    (r"\frac{\partial J}{\partial W_2} = \frac{1}{N} A_1^T ((\hat{Y} - Y) \odot \hat{Y} \odot (1-\hat{Y}))",
     S0, "correct"),
])
def test_batch_form_claims_are_checked_over_a_batch(claim, spec, verdict):
    v = verify_claim(claim, spec)
    assert v.verdict == verdict, v.reason
    if verdict == "wrong":
        assert "factor_N" in v.diagnosis, v.diagnosis
        assert "a batch of N = " in v.reason
    else:
        assert "checked over a batch of N = " in v.reason


def test_per_sample_claims_say_what_they_were_checked_for():
    v = verify_claim(r"\frac{\partial J}{\partial z_k^{(2)}} = (\hat{y}_k - y_k) \hat{y}_k (1 - \hat{y}_k)", S0)
    assert v.verdict == "correct" and "one sample (N = 1)" in v.reason
    # a per-sample vector formula (Nielsen's BP1) is right for one sample, and the verdict says
    # that over a batch (the loss is a mean) it is not the gradient
    v = verify_claim(r"\delta^L = (a^L - y) \odot \sigma'(z^L)", S0)
    assert v.verdict == "correct"
    assert "one sample (N = 1), as a per-sample formula" in v.reason and "1/N" in v.reason
    # a formula in the deltas holds for any batch
    v = verify_claim(r"\delta^l = ((w^{l+1})^T \delta^{l+1}) \odot \sigma'(z^l)", S0)
    assert v.verdict == "correct" and "and over a batch of N = " in v.reason


# --- powers and products of vectors ----------------------------------------------------------

@pytest.mark.parametrize("claim", [
    # verbatim what `symbp derive` prints for this spec (row layout)
    r"\delta^{(1)} = \left(\delta^{(2)} {W^{(2)}}^{\top}\right) \odot \left(1 - \left(a^{(1)}\right)^{2}\right)",
    r"\delta^{(1)} = (W_2^T \delta^{(2)}) \odot (1 - (a^{(1)})^2)",    # column layout
    r"\delta^{(1)} = (W_2^T \delta^{(2)}) \odot (1 - a_1^2)",
])
def test_square_of_a_vector_is_elementwise(claim):
    v = verify_claim(claim, SM)
    assert v.verdict == "correct", v.reason


def test_wrong_elementwise_square_is_still_wrong():
    v = verify_claim(r"\delta^{(1)} = (W_2^T \delta^{(2)}) \odot (1 + (a^{(1)})^2)", SM)
    assert v.verdict == "wrong" and "shape" not in v.diagnosis


@pytest.mark.parametrize("spec", [S0, NET])
def test_elementwise_identity_holds_whatever_the_widths(spec):
    assert verify_claim(r"\sigma'(z) = \sigma(z)(1-\sigma(z))", spec).verdict == "correct"
    v = verify_claim(r"\sigma'(z) = \sigma(z)(1+\sigma(z))", spec)
    assert v.verdict == "wrong" and "shape" not in v.diagnosis


# --- the Kronecker delta ----------------------------------------------------------------------

def test_softmax_jacobian_with_the_kronecker_delta():
    v = verify_claim(r"\frac{\partial \hat{y}_i}{\partial z_j} = \hat{y}_i(\delta_{ij} - \hat{y}_j)", SM)
    assert v.verdict == "correct", v.reason


@pytest.mark.parametrize("claim,spec", [
    # \delta_{nj}, \delta_{nk}: the error term of sample n, never a Kronecker delta
    (r"\frac{\partial L}{\partial w_{ij}} = \sum_n x_{ni} \delta_{nj}", ONE_LAYER),
    (r"\frac{\partial L}{\partial b_{j}} = \sum_n \delta_{nj}", ONE_LAYER),
    (r"dL/dw[i, j] = sum_n x[n, i] delta[n, j]", ONE_LAYER),
    (r"\frac{\partial L}{\partial w^{(2)}_{jk}} = \sum_n a^{(1)}_{nj} \delta_{nk}", NET),
    # another letter for the sample, summed beside a (sample, unit) element in the same place
    (r"\frac{\partial L}{\partial w_{ij}} = \sum_m x_{mi} \delta_{mj}", ONE_LAYER),
])
def test_a_delta_with_the_sample_index_is_an_error_term(claim, spec):
    v = verify_claim(claim, spec)
    assert v.verdict == "correct", v.reason


def test_an_error_term_delta_that_is_wrong_is_still_wrong():
    # swapped i and j: right only where w_{ij} runs from unit j below to unit i (the column
    # convention), and the sample index n is the sample wherever it stands
    claim = r"\frac{\partial L}{\partial w_{ij}} = \sum_n x_{nj} \delta_{ni}"
    v = verify_claim(claim, ONE_LAYER, layout="row")
    assert v.verdict == "wrong", v.reason
    v = verify_claim(claim, ONE_LAYER)
    assert v.verdict == "correct" and "w_{kj}: the first index is the unit of the layer" in v.reason
    assert verify_claim(r"\frac{\partial L}{\partial w_{kj}} = \sum_n x_{jn} \delta_{kn}", ONE_LAYER,
                        layout="column").verdict == "correct"


def test_a_batch_softmax_jacobian_keeps_the_kronecker_delta():
    # k is summed beside \hat{y}_{nk}, but in the unit's place (next to n): a Kronecker delta
    from symbp.claims import parse_claim
    from symbp.claims import ast as A
    from symbp.verify.spec_check import _sample_error_terms

    claim = parse_claim(r"g_{nj} = \sum_k \hat{y}_{nk}(\delta_{jk} - \hat{y}_{nj})")
    assert _sample_error_terms(claim, {}) is claim
    assert any(isinstance(n, A.Kronecker) for n in A.walk(claim.sides[1]))
    claim = parse_claim(r"g_{ij} = \sum_m x_{mi} \delta_{mj}")
    got = _sample_error_terms(claim, {})
    assert not any(isinstance(n, A.Kronecker) for n in A.walk(got.sides[1]))


def test_wrong_softmax_jacobian_is_not_shown_the_loss_gradient():
    # dyhat_i/dz_j is not dL/dz_j: the "correct" formula must not be that of the loss gradient
    v = verify_claim(r"\frac{\partial \hat{y}_i}{\partial z_j} = \hat{y}_i(1 - \hat{y}_j)", SM)
    assert v.verdict == "wrong"
    assert "y_{nj}" not in (v.correct or "") and r"\hat{y}_{nj} - y_{nj}" not in (v.correct or "")


# --- layers a claim does not write, and the weight-index convention ----------------------------

def test_unlayered_derivative_between_layers_is_ambiguous():
    v = verify_claim(r"\frac{\partial z_k}{\partial a_j} = w_{kj}", NET)
    assert v.verdict == "unverifiable" and "layers of z and a are not written" in v.reason
    v = verify_claim(r"\frac{\partial z^{(2)}_k}{\partial a^{(1)}_j} = w^{(2)}_{kj}", NET)
    assert v.verdict == "correct", v.reason


def test_the_layer_read_for_an_unlayered_symbol_is_stated():
    v = verify_claim(r"\frac{\partial L}{\partial z_k} = (\hat{y}_k - y_k) \hat{y}_k (1 - \hat{y}_k)", NET)
    assert v.verdict == "correct" and "read at layer 2 (the output layer): z^(2)" in v.reason
    v = verify_claim(r"\frac{\partial L}{\partial z_k} = \hat{y}_k - y_k", NET)
    assert v.verdict == "wrong" and "read at layer 2 (the output layer): z^(2)" in v.reason


@pytest.mark.parametrize("claim,layout,words", [
    (r"\frac{\partial L}{\partial w^{(2)}_{kj}} = (\hat{y}_k - y_k) \hat{y}_k (1 - \hat{y}_k) a^{(1)}_j",
     "column", "w_{kj}: the first index is the unit of the layer,"),
    (r"\frac{\partial L}{\partial w^{(2)}_{jk}} = (\hat{y}_k - y_k) \hat{y}_k (1 - \hat{y}_k) a^{(1)}_j",
     "row", "w_{jk}: the first index is the unit of the layer below"),
])
def test_the_weight_index_convention_is_stated(claim, layout, words):
    v = verify_claim(claim, NET)
    assert v.verdict == "correct" and v.layout == layout and words in v.reason, v.reason


# --- generic activation names -----------------------------------------------------------------

@pytest.mark.parametrize("claim,verdict,label", [
    # Ng's g^{[1]}: the activation of the layer whose z it is applied to (tanh here)
    (r"\delta^{(1)} = (W^{(2)})^T \delta^{(2)} \odot g'(Z^{(1)})", "correct", None),
    (r"\frac{\partial J}{\partial z^{(1)}_j} = \sum_k W^{(2)}_{kj} \frac{\partial J}{\partial z^{(2)}_k} g'(z^{(1)}_j)",
     "correct", None),
    (r"\delta^{(1)} = (W^{(2)})^T \delta^{(2)} \odot \varphi'(z^{(1)})", "correct", None),
    (r"\delta^{(1)} = (W^{(2)})^T \delta^{(2)} \odot g(Z^{(1)})", "wrong",
     "function_instead_of_derivative"),
    # applied to something that is not a layer's z: no meaning to give it
    (r"\delta^{(1)} = (W^{(2)})^T \delta^{(2)} \odot g'(a^{(1)})", "unverifiable", None),
])
def test_generic_function_letters_are_the_layers_activation(claim, verdict, label):
    v = verify_claim(claim, NG_NET, layout="column")
    assert v.verdict == verdict, (v.reason, v.diagnosis)
    if label:
        assert label in v.diagnosis
    if verdict == "unverifiable":
        assert "that layer's z" in v.reason


# --- Ng's notation (deeplearning.ai): [l] layers, dZ per sample, dW of the cost ------------------

@pytest.mark.parametrize("claim,verdict,label", [
    # the six equations of "gradient descent for neural networks", as the course writes them
    (r"dZ^{[2]} = A^{[2]} - Y", "correct", None),
    (r"dW^{[2]} = \frac{1}{m} dZ^{[2]} A^{[1]T}", "correct", None),
    (r"db^{[2]} = \frac{1}{m} \sum_n dZ^{[2]}", "correct", None),
    (r"dZ^{[1]} = W^{[2]T} dZ^{[2]} \odot g^{[1]\prime}(Z^{[1]})", "correct", None),
    (r"dW^{[1]} = \frac{1}{m} dZ^{[1]} X^T", "correct", None),
    (r"\frac{\partial J}{\partial W^{[2]}} = \frac{1}{m} dZ^{[2]} (A^{[1]})^T", "correct", None),
    # a sum over the examples with its range written
    (r"\frac{\partial J}{\partial b^{[2]}} = \frac{1}{m} \sum_{i=1}^{m} (A^{[2]} - Y)", "correct", None),
    (r"db^{[2]} = \sum_{i=1}^{m} dZ^{[2]}", "wrong", "factor_N"),
    # one example, in lower case: checked for one sample
    (r"dW^{[2]} = dz^{[2]} a^{[1]T}", "correct", None),
    (r"db^{[2]} = dz^{[2]}", "correct", None),
    # one error each
    (r"dW^{[2]} = dZ^{[2]} A^{[1]T}", "wrong", "factor_N"),
    (r"dZ^{[2]} = \frac{1}{m}(A^{[2]} - Y)", "wrong", "factor_inv_N"),
    (r"dW^{[2]} = \frac{1}{m} A^{[1]T} dZ^{[2]}", "wrong", "transposed"),
    (r"dZ^{[1]} = W^{[2]T} dZ^{[2]}", "wrong", "missing_activation_derivative"),
])
def test_ngs_notation_reads_as_the_course_means_it(claim, verdict, label):
    v = verify_claim(claim, NG_NET, layout="column")
    assert v.verdict == verdict, (v.reason, v.diagnosis)
    if label:
        assert label in v.diagnosis, (v.reason, v.diagnosis)
    if "dZ" in claim or "dz" in claim:
        assert "Ng's dZ, dA" in v.reason


def test_bracket_layers_and_a_transpose_inside_the_superscript_parse():
    from symbp.claims.parse import parse_expression

    w = parse_expression(r"W^{[2]}").ref            # a layer, never a square
    assert (w.base, w.layer, w.transpose) == ("W", 2, False)
    a = parse_expression(r"A^{(1)T}").ref
    assert (a.layer, a.transpose) == (1, True)
    h = parse_expression(r"h^{(l-1)\top}").ref
    assert (h.layer, h.transpose) == ("l-1", True)
    g = parse_expression(r"g^{[1]\prime}(Z^{[1]})")
    assert g.name == "g[1]" and g.primes == 1       # layer 1's activation
    f = parse_expression(r"f^{(2)}(z)")              # a number in parentheses: f''
    assert f.name == "f" and f.primes == 2
    f = parse_expression(r"f^{(1)\prime}(z^{(1)})")  # with a prime: layer 1's f'
    assert f.name == "f[1]" and f.primes == 1
    s = parse_expression(r"\sigma^{[1]\prime}(z^{(1)})")
    assert s.name == "sigma" and s.primes == 1


def test_ngs_layer_on_g_is_the_layer_read_and_d_names_keep_their_old_meaning_elsewhere():
    wrong = r"dZ^{[1]} = W^{[2]T} dZ^{[2]} \odot g^{[2]\prime}(Z^{[1]})"   # the sigmoid's g'
    assert verify_claim(wrong, NG_NET, layout="column").verdict == "wrong"
    # without brackets dz2 is the error term, as before, and an alias of dz is honoured
    assert verify_claim("dL/db2 = dz2", "seed000_sigmoid_mse").verdict == "correct"
    assert verify_claim(r"\frac{\partial J}{\partial b_2} = dz2", "seed000_sigmoid_mse",
                        notation={"dz": "delta"}).verdict == "correct"
    v = verify_claim(r"\frac{\partial L}{\partial z^{(2)}} = g(z^{(2)}) - y", DECAY)
    assert v.verdict == "unverifiable" and "softmax" in v.reason
    # a sigmoid fused into the loss (bce_logits) is still the output layer's g
    assert verify_claim(r"dZ^{[2]} = g^{[2]}(Z^{[2]}) - Y", "seed001_relu_bce_logits",
                        layout="column").verdict == "correct"
    # the runtime's own names: dW2, db2 are gradients, a dz2 left side is the error term
    for claim in ("dW2 = a1^T delta2", r"dW_2 = a_1^T \delta_2", "db2 = sum(delta2)",
                  "dz2 = (yhat - y) * yhat * (1 - yhat) / N"):
        assert verify_claim(claim, "seed000_sigmoid_mse").verdict == "correct", claim
    # a summand without the index, over a written range, is repeated, not a sum over samples
    claim = r"\frac{\partial J}{\partial W^{[2]}} = \frac{1}{m^2} \sum_{i=1}^{m} dZ^{[2]} A^{[1]T}"
    assert verify_claim(claim, NG_NET, layout="column").verdict == "correct"
    claim = r"\frac{\partial L}{\partial W^{(2)}} = \sum_{k=1}^{1} \delta^{(2)} (a^{(1)})^T"
    assert verify_claim(claim, "seed000_sigmoid_mse", layout="column").verdict == "correct"
    claim = r"\delta^{(1)} = (W^{(2)})^T \delta^{(2)} \odot f^{(1)\prime}(z^{(1)})"
    assert verify_claim(claim, NET, layout="column").verdict == "correct"
