"""The seeds' NumPy backward functions through gradcheck, with the right diagnosis."""

import subprocess
import sys
from pathlib import Path

import pytest

import symbp
from symbp.errors import SymbpError
from symbp.verify.gradcheck import gradcheck, load_function

FIX = Path(__file__).parent / "fixtures" / "seed_backward.py"


def _run(spec, name):
    fn, names = load_function(f"{FIX}:{name}")
    return gradcheck(symbp.derive(symbp.load_spec(spec)), fn, names)


def test_seed000_factor_n():
    rep = _run("seed000_sigmoid_mse", "seed000_backward")
    assert not rep.ok
    for r in rep.results:
        assert r.status == "wrong" and "factor_N" in r.diagnosis
    assert "dW2 = N x derived" in rep.to_text()


def test_seed003_factor_half():
    rep = _run("seed003_linear_regression", "seed003_gradient")
    assert [r.diagnosis for r in rep.results] == [["factor_half"], ["factor_half"]]


def test_seed001_shapes_and_mismatch():
    rep = _run("seed001_relu_bce", "seed001_backward")
    by = {r.param: r for r in rep.results}
    assert by["b1"].status == "shape" and by["b2"].status == "shape"
    assert "axis=1" in by["b1"].message and "axis=0" in by["b1"].message
    assert by["W1"].status == "wrong" and by["W2"].status == "wrong"


def test_seed001_output_error_yhat_minus_y_with_a_relu_output_is_recognised():
    rep = _run("seed001_relu_bce", "seed001_backward")
    by = {r.param: r for r in rep.results}
    for p in ("W1", "W2"):  # the hidden layer inherits the wrong output error
        assert by[p].diagnosis == ["missing_activation_derivative", "wrong_output_error"], by[p]
        assert "yhat - y" in by[p].message and "ReLU" in by[p].message
        # scaled by 1/inputs.shape[1] (2 features) instead of 1/N
        assert "number of input features" in by[p].message


def test_output_error_without_the_activation_derivative(tmp_path):
    # sigmoid output with 1/2 MSE (seed 000's spec), mean over the batch: dZ2 forgets a2(1 - a2)
    f = tmp_path / "nofp.py"
    f.write_text("import numpy as np\n"
                 "def backward(X, y, a1, a2, W2):\n"
                 "    dZ2 = (a2 - y) / len(X)\n"
                 "    dZ1 = (dZ2 @ W2.T) * a1 * (1 - a1)\n"
                 "    dW1, dW2, db1, db2 = X.T @ dZ1, a1.T @ dZ2, dZ1.sum(axis=0), dZ2.sum(axis=0)\n"
                 "    return dW1, dW2, db1, db2\n")
    fn, names = load_function(f"{f}:backward")
    rep = gradcheck(symbp.derive(symbp.load_spec("seed000_sigmoid_mse")), fn, names)
    assert [r.status for r in rep.results] == ["wrong"] * 4
    for r in rep.results:
        assert "missing_activation_derivative" in r.diagnosis, r


def test_correct_function_passes(tmp_path):
    f = tmp_path / "good.py"
    f.write_text("import numpy as np\n"
                 "def backward(X, y, W1, b1):\n"
                 "    yhat = X @ W1 + b1\n"
                 "    d = 2 * (yhat - y) / len(X)\n"
                 "    return X.T @ d, d.sum(axis=0)\n")
    fn, names = load_function(f"{f}:backward")
    rep = gradcheck(symbp.derive(symbp.load_spec("seed003_linear_regression")), fn, names)
    assert rep.ok, rep.to_text()


def test_exit_codes():
    def code(*args):
        return subprocess.run([sys.executable, "-m", "symbp", "gradcheck", *args],
                              capture_output=True, text=True, timeout=120).returncode
    assert code("seed003_linear_regression", "--against", f"{FIX}:seed003_gradient") == 1
    assert code("seed003_linear_regression", "--against", f"{FIX}:nope") == 2
    assert code("seed003_linear_regression", "--against", "missing.py:f") == 2


def test_an_all_zero_stub_is_reported_not_crashed(tmp_path):
    # a "not written yet" backward; seed 000's spec has output-error hypotheses, and 0 is a
    # multiple of each of them: it must not be matched to one (nor divide by zero naming it)
    f = tmp_path / "stub.py"
    f.write_text("import numpy as np\n"
                 "def backward(X, y, W1, b1, W2, b2):\n"
                 "    return (np.zeros_like(W1), np.zeros_like(b1), np.zeros_like(W2),\n"
                 "            np.zeros_like(b2))\n")
    fn, names = load_function(f"{f}:backward")
    rep = gradcheck(symbp.derive(symbp.load_spec("seed000_sigmoid_mse")), fn, names)
    assert [r.status for r in rep.results] == ["wrong"] * 4
    assert all("all zeros" in r.message for r in rep.results), rep.to_text()


def test_a_non_numeric_gradient_and_a_bad_sample_count_are_input_errors(tmp_path):
    f = tmp_path / "odd.py"
    f.write_text("def backward(X, y, W1, b1):\n"
                 "    return 'dW', [[1.0], [1.0, 2.0]]\n")
    fn, names = load_function(f"{f}:backward")
    d = symbp.derive(symbp.load_spec("seed003_linear_regression"))
    rep = gradcheck(d, fn, names)
    assert [r.status for r in rep.results] == ["shape", "shape"]
    assert "not a numeric array" in rep.results[0].message
    for bad in (0, -1, 2.5):
        with pytest.raises(SymbpError, match="number of samples"):
            gradcheck(d, fn, names, n=bad)


SOFTMAX_SPEC = ('[model]\ninputs = 3\nlayers = [{ units = 4, activation = "tanh" },'
                ' { units = 3, activation = "softmax" }]\n[loss]\nkind = "cross_entropy"\n')


def test_softmax_cross_entropy_is_checked_with_one_hot_targets(tmp_path):
    # a right backward in the general form ŷ·Σ_k y − y (no one-hot assumption) must match: with
    # targets that are not one-hot the fused ŷ − y it is compared with is another gradient
    f = tmp_path / "sm.py"
    f.write_text("import numpy as np\n"
                 "def backward(X, y, W1, b1, W2, b2):\n"
                 "    a1 = np.tanh(X @ W1 + b1)\n"
                 "    z2 = a1 @ W2 + b2\n"
                 "    e = np.exp(z2 - z2.max(1, keepdims=True))\n"
                 "    yhat = e / e.sum(1, keepdims=True)\n"
                 "    dz2 = (yhat * y.sum(1, keepdims=True) - y) / len(X)\n"
                 "    dz1 = (dz2 @ W2.T) * (1 - a1**2)\n"
                 "    return X.T @ dz1, dz1.sum(0), a1.T @ dz2, dz2.sum(0)\n"
                 "def transposed(X, y, W1, b1, W2, b2):\n"
                 "    dW1, db1, dW2, db2 = backward(X, y, W1, b1, W2, b2)\n"
                 "    return dW1.T, db1, dW2, db2\n")
    d = symbp.derive(symbp.load_spec(SOFTMAX_SPEC))
    rep = gradcheck(d, *load_function(f"{f}:backward"))
    assert rep.ok, rep.to_text()
    rep = gradcheck(d, *load_function(f"{f}:transposed"))
    w1 = rep.results[0]
    assert (w1.param, w1.status, w1.diagnosis) == ("W1", "shape", ["transposed"]), w1
    assert [r.status for r in rep.results[1:]] == ["ok"] * 3
