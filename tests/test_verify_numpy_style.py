"""Claims written in NumPy notation (as in symbp's own generated-code comments): `@` is the
matrix product and `*` is elementwise there, in the row layout z = a W + b."""

import pytest

from symbp.claims import parse_claim
from symbp.claims import ast as A
from symbp.verify import verify_claim


def test_star_is_elementwise_in_numpy_notation():
    rhs = parse_claim("dL/dz1 = (delta2 @ W2.T) * a1").sides[1]
    assert isinstance(rhs, A.BinOp) and rhs.op == "hadamard"
    # without NumPy notation `*` keeps its ordinary (matrix) product meaning
    assert parse_claim("dL/dz1 = W2 * a1").sides[1].op != "hadamard"


@pytest.mark.parametrize("claim, verdict", [
    ("dL/dz1 = (delta2 @ W2.T) * a1 * (1 - a1)", "correct"),
    ("dL/dW1 = x.T @ delta1", "correct"),
    ("dL/dz1 = (delta2 @ W2.T) * a1", "wrong"),          # sigma' = a1 (1 - a1) half missing
    ("dL/dW1 = delta1 @ x.T", "correct"),                # the column layout: delta x^T
    ("dL/dW1 = x.T @ delta2", "wrong"),                  # the next layer's delta
])
def test_numpy_style_claims(claim, verdict):
    assert verify_claim(claim, "seed000_sigmoid_mse").verdict == verdict
