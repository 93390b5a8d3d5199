"""`symbp verify` on a Markdown file made from seed 000's text: one verdict per derivative formula."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from symbp.verify import verify_document

try:
    from .verify_specs import NG_NET
except ImportError:
    from verify_specs import NG_NET

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


# --- exit codes and symbp's own derivation ------------------------------------------------------

def _verify_cli(*args):
    return subprocess.run([sys.executable, "-m", "symbp", "verify", *args], capture_output=True,
                          text=True, timeout=120)


def test_exit_codes_say_when_nothing_was_verified(tmp_path):
    from symbp.verify.report import exit_code
    from symbp.verify.verdict import Verdict

    correct, unverifiable = Verdict("a", "correct"), Verdict("b", "unverifiable", "why")
    assert exit_code([correct, unverifiable]) == 0
    assert exit_code([unverifiable]) == 3                     # nothing is known to be correct
    assert exit_code([Verdict("c", "skipped", "no derivative")]) == 2  # nothing to check
    assert exit_code([]) == 2
    expected = Verdict("d", "unverifiable", "why", expected="unverifiable")
    assert exit_code([expected]) == 0                          # as its [[claims]] entry expects
    empty = tmp_path / "empty.md"
    empty.write_text("")
    r = _verify_cli(str(empty))
    assert r.returncode == 2 and "nothing was verified" in r.stdout, r.stdout + r.stderr
    nospec = tmp_path / "nospec.md"
    nospec.write_text(r"$$\frac{\partial J}{\partial z_k^{(2)}} = \hat{y}_k - y_k$$" + "\n")
    r = _verify_cli(str(nospec))
    assert r.returncode == 3 and "needs a setting" in r.stdout, r.stdout + r.stderr


def test_unparseable_claim_is_bad_input_in_both_modes(tmp_path):
    doc = tmp_path / "post.md"
    doc.write_text(SIGMOID_DELTA + "\n")
    for args in ([str(doc), "--spec", "seed000_sigmoid_mse"], ["seed000_sigmoid_mse"]):
        r = _verify_cli(*args, "--claim", r"\frac{")
        assert r.returncode == 2, (args, r.stdout + r.stderr)
        assert "cannot parse" in r.stdout
        assert "a --claim is not a formula symbp can read" in r.stderr


@pytest.mark.parametrize("spec,form", [
    ("seed000_sigmoid_mse", "both"), ("seed000_sigmoid_mse", "index"),
    ("seed000_sigmoid_mse", "matrix"), ("seed003_linear_regression", "both"),
    ("digits_softmax", "both"),   # softmax, weight decay (lambda), Adam
])
def test_symbps_own_markdown_derivation_verifies(spec, form):
    from symbp.verify.spec_check import derivation_of

    d = derivation_of(spec)
    verdicts = verify_document(d.to_markdown(form=form), spec)
    checked = [v for v in verdicts if v.verdict != "skipped"]
    # Adam's second moment (s <- beta_2 s + (1 - beta_2) g^2) is the one state symbp does not check
    second_moment = [v for v in checked if v.verdict == "unverifiable" and v.text.startswith("{s_")
                     and "optimizer state" in v.reason]
    assert checked and all(v.verdict == "correct" for v in checked if v not in second_moment), [
        (v.text, v.verdict, v.reason) for v in checked if v.verdict != "correct"]
    # every backward-pass equation was a formula of its own and was checked
    backward = [e for e in d.equations if e.stage in ("backward", "update")]
    assert len(checked) >= len(backward) * (2 if form == "both" else 1) - 1


def test_aligned_rows_are_formulas_of_their_own():
    from symbp.claims import extract_formulas

    doc = "text\n$$\n\\begin{aligned}a &= b \\\\\nc &= \\begin{bmatrix} 1 & 2 \\\\ 3 & 4 \\end{bmatrix}\n\\end{aligned}\n$$\n"
    got = [(f.line, f.text) for f in extract_formulas(doc)]
    assert got == [(3, "a = b"), (4, r"c = \begin{bmatrix} 1 & 2 \\ 3 & 4 \end{bmatrix}")]


def test_a_folder_named_like_a_document_is_named_as_a_folder(tmp_path, capsys):
    from symbp.cli import main

    (tmp_path / "post.md").mkdir()
    assert main(["verify", str(tmp_path / "post.md"), "--spec", "seed000_sigmoid_mse"]) == 2
    assert "post.md: a folder; expected a Markdown document" in capsys.readouterr().err
    assert main(["verify", str(tmp_path / "gone.md"), "--spec", "seed000_sigmoid_mse"]) == 2
    assert "gone.md: no such file" in capsys.readouterr().err


# --- the document's layout ------------------------------------------------------------------------

NG = r"\frac{\partial J}{\partial W^{(2)}} = \frac{1}{m} (A^{(1)})^T (A^{(2)} - Y)"   # row layout
NG_COLUMN = r"\frac{\partial J}{\partial W^{(2)}} = \frac{1}{m} (A^{(2)} - Y) (A^{(1)})^T"
NG_SPEC = NG_NET


def test_a_pinned_layout_refuses_a_formula_that_holds_only_in_the_other():
    """Either layout by default; pinned, the row-layout product is a transposed formula in
    Ng's column layout (it used to pass as correct in any document)."""
    from symbp.verify import verify_claim

    assert verify_claim(NG, NG_SPEC).verdict == "correct"
    v = verify_claim(NG, NG_SPEC, layout="column")
    assert v.verdict == "wrong" and "transposed" in v.diagnosis, (v.reason, v.diagnosis)
    assert verify_claim(NG_COLUMN, NG_SPEC, layout="column").verdict == "correct"
    # the weight-index convention too: Nielsen's w^l_{jk} is (unit of l, unit of l-1)
    swapped = r"\frac{\partial C}{\partial w^l_{jk}} = a^{l-1}_j \delta^l_k"
    assert verify_claim(swapped, "seed000_sigmoid_mse").verdict == "correct"
    assert verify_claim(swapped, "seed000_sigmoid_mse", layout="column").verdict == "wrong"


def test_layout_markers_switch_the_layout_within_a_document_and_a_bad_one_is_named(tmp_path):
    from symbp.errors import SpecError

    doc = "\n".join([f"$${NG}$$", "<!-- symbp: layout = column -->", f"$${NG}$$",
                     f"$${NG_COLUMN}$$", "<!-- symbp: layout = either -->", f"$${NG}$$"])
    got = [(v.line, v.verdict) for v in verify_document(doc, NG_SPEC)]
    assert got == [(1, "correct"), (3, "wrong"), (4, "correct"), (6, "correct")]
    got = [v.verdict for v in verify_document(f"$${NG}$$", NG_SPEC, layout="column")]
    assert got == ["wrong"]
    with pytest.raises(SpecError, match=r"post\.md, line 2: .*'colum' is not a layout"):
        verify_document("x\n<!-- symbp: layout = colum -->\n" + RELU_DELTA, source="post.md")
    (tmp_path / "ng.toml").write_text(NG_SPEC)
    r = _verify_cli(str(tmp_path / "ng.toml"), "--claim", NG, "--layout", "column")
    assert r.returncode == 1 and "transposed" in r.stdout, r.stdout + r.stderr
