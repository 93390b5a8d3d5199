"""Hostile input: a clear error or unverifiable, promptly, and nothing executed."""

import subprocess
import sys
import time

import pytest

from symbp.verify import verify_claim
from symbp.verify.spec_check import derivation_of


def _cases(tmp_path):
    marker = tmp_path / "pwned"
    return marker, [
        f"__import__('os').system('touch {marker}')",
        f"dL/dz = __import__('os').system('touch {marker}')",
        "x" * 1_000_000,
        r"\frac{\partial L}{\partial z = {{{{",
        r"\frac{" * 300 + "1" + "}{2}" * 300,
        "dL/dz = " + "(" * 5000 + "1" + ")" * 5000,
        r"\frac{\partial L}{\partial w} = 10^{10^{10}}",
        "lambda: 0",
    ]


def test_each_hostile_claim_is_refused_quickly(tmp_path):
    marker, cases = _cases(tmp_path)
    derivation_of("seed000_sigmoid_mse")  # the spec's derivation is not the claim's cost
    for text in cases:
        t = time.monotonic()
        v = verify_claim(text, "seed000_sigmoid_mse")
        # a hang guard, not a speed test: each case takes milliseconds, and evaluating
        # 10^(10^10) or recursing 5000 brackets deep would take minutes or never end
        assert time.monotonic() - t < 10.0, text[:40]
        assert v.verdict in ("unverifiable", "skipped"), (text[:40], v.verdict)
    assert not marker.exists()


def test_cli_hostile_claim_exit_code(tmp_path):
    marker = tmp_path / "pwned"
    r = subprocess.run([sys.executable, "-m", "symbp", "verify", "seed000_sigmoid_mse", "--claim",
                        f"__import__('os').system('touch {marker}')"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2
    assert "UNVERIFIABLE" in r.stdout and "Traceback" not in r.stderr
    assert not marker.exists()


def test_circular_definitions_are_unverifiable_with_a_reason():
    v = verify_claim(r"\frac{\partial L}{\partial a} = 2", given=["L = b^2", "b = c + 1", "c = b * 2"])
    assert v.verdict == "unverifiable"
    assert "circular" in v.reason


def test_canonical_form_refuses_a_definition_that_refers_to_itself():
    import sympy as sp

    from symbp.verify.model import ScalarModel, Unresolvable

    a, b, c = sp.symbols("a b c")
    m = ScalarModel()
    m.define(a, b + 1)
    m.define(b, 2 * a)
    m.define(c, a + 3, cut=True)
    with pytest.raises(Unresolvable, match="circular"):
        m.canonical(a + c)
    assert m.canonical(c) == c  # a cut symbol is a leaf: nothing circular is reached
    m.defs[b] = sp.Integer(5)  # repaired: the failed expansion left nothing half-memoised behind
    assert m.canonical(a + c) == 6 + c
