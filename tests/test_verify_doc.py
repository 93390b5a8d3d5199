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
