"""`symbp verify` on a Markdown file made from seed 000's text: one verdict per derivative formula."""

import json
import subprocess
import sys
from pathlib import Path

from symbp.verify import verify_document

DOC = Path(__file__).parent / "data" / "seed000_formulas.md"


def test_one_verdict_per_derivative_formula():
    verdicts = verify_document(DOC.read_text(), "seed000_sigmoid_mse")
    checked = [v for v in verdicts if v.verdict != "skipped"]
    assert [(v.line, v.verdict) for v in checked] == [
        (45, "wrong"), (51, "wrong"), (59, "correct"), (63, "correct")]
    assert checked[0].counterexample["claimed"] != checked[0].counterexample["expected"]
    assert {"sign", "factor_2", "missing_activation_derivative"} <= set(checked[0].diagnosis)
    skipped = [v for v in verdicts if v.verdict == "skipped"]
    assert len(skipped) == len(verdicts) - 4 and len(skipped) > 20


def test_cli_json_report_and_exit_code():
    r = subprocess.run([sys.executable, "-m", "symbp", "verify", str(DOC), "--spec",
                        "seed000_sigmoid_mse", "--format", "json"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 1, r.stderr
    report = json.loads(r.stdout)
    assert report["counts"]["wrong"] == 2 and report["counts"]["correct"] == 2
    assert report["counts"]["skipped"] > 20


def test_cli_claims_exit_zero_when_correct():
    r = subprocess.run([sys.executable, "-m", "symbp", "verify", "seed000_sigmoid_mse", "--claim",
                        r"\frac{\partial J}{\partial z_k^{(2)}} = (\hat{y}_k - y_k) \hat{y}_k (1 - \hat{y}_k)"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "CORRECT" in r.stdout


SIGMOID_DELTA = r"$$\delta_1 = (\delta_2 W_2^T) \odot a_1 \odot (1 - a_1)$$"
RELU_DELTA = r"$$\delta_1 = (\delta_2 W_2^T) \odot \mathbb{1}[z_1 > 0]$$"


def test_spec_markers_switch_the_setting_within_a_document(tmp_path):
    # the same sigmoid formula is right for seed 000's net and wrong for the ReLU net; a marker
    # in a code block is not one; a path marker is read relative to the document
    (tmp_path / "mine.toml").write_text(
        (Path(__file__).parents[1] / "derivations" / "seed001_relu_bce_logits.toml").read_text())
    doc = "\n".join([
        SIGMOID_DELTA,                                   # line 1: the default setting
        "<!-- symbp: spec = seed001_relu_bce_logits -->",
        RELU_DELTA, SIGMOID_DELTA,                       # lines 3, 4
        "```", "<!-- symbp: spec = seed000_sigmoid_mse -->", "```",
        SIGMOID_DELTA,                                   # line 8: still the ReLU net
        "<!-- symbp: spec = mine.toml -->",
        RELU_DELTA])                                     # line 10
    got = [(v.line, v.verdict) for v in verify_document(doc, "seed000_sigmoid_mse",
                                                        base_dir=tmp_path)]
    assert got == [(1, "correct"), (3, "correct"), (4, "wrong"), (8, "wrong"), (10, "correct")]


def test_spec_marker_that_does_not_load_names_its_line():
    import pytest

    from symbp.errors import SpecError

    doc = "text\n<!-- symbp: spec = no_such_spec -->\n" + RELU_DELTA
    with pytest.raises(SpecError, match=r"post\.md, line 2: .*'no_such_spec' does not load"):
        verify_document(doc, source="post.md")
