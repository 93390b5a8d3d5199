"""The spec tables symbp.verify owns: [[claims]] (with `expect`) and [notation] (aliases)."""

import json
import subprocess
import sys

import pytest

from symbp.errors import SpecError
from symbp.spec import load_spec
from symbp.verify import verify_claim, verify_spec_claims
from symbp.verify.report import exit_code, render_text

BASE = """
[model]
inputs = 2
layers = [ { units = 3, activation = "sigmoid" }, { units = 1, activation = "sigmoid" } ]
[loss]
kind = "mse"
scale = 0.5
reduction = "sum"
"""
RIGHT = r"\frac{\partial L}{\partial z^{(2)}_k} = (\hat{y}_k - y_k) \hat{y}_k (1 - \hat{y}_k)"
WRONG = r"\frac{\partial L}{\partial z^{(2)}_k} = \hat{y}_k - y_k"


def _spec(*claims):
    text = BASE
    for claim, expect in claims:
        text += f"\n[[claims]]\ntext = '''{claim}'''\n" + (f'expect = "{expect}"\n' if expect else "")
    return text


def test_expect_is_compared_and_flagged():
    spec = load_spec(_spec((RIGHT, "correct"), (WRONG, "correct"), (WRONG, "wrong")))
    vs = verify_spec_claims(spec)
    assert [v.verdict for v in vs] == ["correct", "wrong", "wrong"]
    assert [v.expected for v in vs] == ["correct", "correct", "wrong"]
    assert [v.unexpected for v in vs] == [False, True, False]
    text = render_text(vs)
    assert text.count("NOT AS EXPECTED") == 1
    assert "1 not as expected" in text
    assert exit_code(vs) == 1


def test_claims_as_expected_exit_zero_even_when_expected_wrong():
    vs = verify_spec_claims(load_spec(_spec((RIGHT, "correct"), (WRONG, "wrong"))))
    assert not any(v.unexpected for v in vs)
    assert exit_code(vs) == 0
    # without expect a wrong claim still fails the run
    assert exit_code(verify_spec_claims(load_spec(_spec((WRONG, None))))) == 1


def test_expect_unverifiable_that_is_correct_is_unexpected():
    vs = verify_spec_claims(load_spec(_spec((RIGHT, "unverifiable"))))
    assert vs[0].unexpected and exit_code(vs) == 1


def test_cli_expect_mismatch(tmp_path):
    f = tmp_path / "spec.toml"
    f.write_text(_spec((RIGHT, "correct"), (WRONG, "correct")))
    r = subprocess.run([sys.executable, "-m", "symbp", "verify", str(f), "--format", "json"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stderr
    report = json.loads(r.stdout)
    assert report["counts"]["unexpected"] == 1
    assert [c["unexpected"] for c in report["claims"]] == [False, True]
    f.write_text(_spec((RIGHT, "correct"), (WRONG, "wrong")))
    r = subprocess.run([sys.executable, "-m", "symbp", "verify", str(f)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "(as expected)" in r.stdout


@pytest.mark.parametrize("table,key,words", [
    ('notation = "o"\n', "notation", "expected a table"),
    ('[notation]\no = 3\n', "notation.o", "expected a string"),
    ('[notation]\no = ""\n', "notation.o", "expected a string"),
    ('[notation]\no = \'\\frac{\'\n', "notation.o", "not a kind, tensor or formula"),
    ('[notation]\n"o o" = "yhat"\n', "notation.o o", "symbol name"),
    ('[notation]\nq = "z0"\n', "notation.q", "numbered from 1"),
    ('[notation]\np = "2 q"\nq = "p + 1"\n', "notation.p", "refers to itself"),
    ('[notation]\np = "p + 1"\n', "notation.p", "refers to itself"),
    ('[[claims]]\nexpect = "correct"\n', "claims[0].text", "missing"),
    ('[[claims]]\ntext = "dL/dz = 1"\nexpect = "right"\n', "claims[0].expect", "expected correct"),
    ('[[claims]]\ntext = "dL/dz = 1"\nexpected = "correct"\n', "claims[0].expected", "unknown key"),
])
def test_bad_tables_name_the_key(table, key, words):
    text = (table + BASE) if not table.startswith("[") else (BASE + table)
    with pytest.raises(SpecError) as err:
        load_spec(text)
    assert err.value.key == key
    assert words in err.value.problem


def test_good_aliases_are_used():
    spec = load_spec(BASE + '[notation]\no = "yhat"\nnet = "z"\nq1 = "a1"\n'
                     "delta_out = '\\frac{\\partial L}{\\partial \\hat{y}}'\n")
    assert verify_claim(r"\frac{\partial L}{\partial net^{(2)}_k} = (o_k - y_k) o_k (1 - o_k)", spec).verdict == "correct"
    assert verify_claim(r"\delta_{out} = \hat{y} - y", spec).verdict == "correct"


def test_skipped_claims_are_listed_whole_or_marked_cut():
    from symbp.verify.verdict import Verdict

    short, long = "x = a + b", "x = " + " + ".join("abcdefghijklmnop")
    text = render_text([Verdict(short, "skipped", "states no derivative"),
                        Verdict(long, "skipped", "states no derivative")])
    line = next(ln for ln in text.splitlines() if ln.startswith("skipped: "))
    assert line == f"skipped: {short}, {long[:29]}…"
