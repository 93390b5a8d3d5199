"""symbp demo: derive, verify, compile and train the digits MLP in one command."""

from __future__ import annotations

import re

import pytest

from symbp.cli import main


@pytest.mark.slow
def test_demo_end_to_end(capsys):
    assert main(["demo", "-q"]) == 0
    out = capsys.readouterr().out
    assert "δ1 = (δ2 W2ᵀ) ⊙ (1 − a1²)" in out and "∂L/∂W1 = xᵀ δ1 + λ W1" in out
    checks = re.findall(r"^   (ok  |FAIL) (\w+)", out, re.M)
    assert [c[1] for c in checks] == ["delta2", "dW2", "db2", "delta1", "dW1", "db1"]
    assert all(c[0] == "ok  " for c in checks)
    m = re.search(r"test accuracy (\d\.\d+) .*?([\d,]+) steps/s", out)
    assert m and float(m.group(1)) >= 0.96 and int(m.group(2).replace(",", "")) > 0
    assert "BELOW EXPECTATIONS" not in out


def test_textbook_check_catches_a_wrong_derivation():
    import symbp
    from symbp.commands.demo import textbook_check

    d = symbp.derive(symbp.load_spec("digits_softmax"))
    assert all(err < 1e-10 for _, _, err in textbook_check(d))
    # the same check against a network with a different hidden activation must fail
    wrong = symbp.derive(symbp.load_spec(
        symbp.spec.bundled_spec_path("digits_softmax").read_text().replace('"tanh"', '"sigmoid"')))
    errs = {name: err for name, _, err in textbook_check(wrong)}
    assert errs["delta2"] > 1e-6 and errs["delta1"] > 1e-6
