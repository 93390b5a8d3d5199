"""``symbp derive``: every format and form on every spec in ``derivations/``, and the printers.

Contract checked here: ``symbp derive SPEC --format text|latex|markdown|json|mermaid
--form index|matrix|both [-o FILE] [--standalone]`` exits 0 with non-empty output for every
bundled spec; JSON parses and lists the equations; LaTeX has balanced braces and
``\\left``/``\\right`` pairs and no double superscript or subscript (``a^{(1)}^{2}``); a
standalone document has ``\\documentclass`` and ``\\end{document}``; text lines fit in 80
columns unless a single token is longer; ``-o`` writes the file. Exact strings (written by hand)
for the delta of a 2-2-1 sigmoid net pin the text, ASCII, LaTeX, index and matrix printers.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import symbp
from symbp.cli import main
from symbp.printing.scalar import print_expr

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "derivations").glob("*.toml"))
FORMATS = ("text", "latex", "markdown", "json", "mermaid")


def _run(capsys, *argv) -> str:
    rc = main(["derive", *map(str, argv)])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "Traceback" not in err
    return out


# --- a LaTeX checker ---------------------------------------------------------------------------

def _group_end(s: str, pos: int) -> int:
    """End (exclusive) of the script argument starting at ``pos`` (after ``^`` or ``_``)."""
    while pos < len(s) and s[pos] == " ":
        pos += 1
    if pos >= len(s):
        raise AssertionError("script at the end of the input")
    if s[pos] == "{":
        depth = 0
        for q in range(pos, len(s)):
            if s[q] == "\\":
                continue
            if s[q] == "{" and s[q - 1] != "\\":
                depth += 1
            elif s[q] == "}" and s[q - 1] != "\\":
                depth -= 1
                if depth == 0:
                    return q + 1
        raise AssertionError("unbalanced braces in a script")
    if s[pos] == "\\":
        m = re.match(r"\\[A-Za-z]+|\\.", s[pos:])
        return pos + m.end()
    return pos + 1


def latex_problems(tex: str) -> list[str]:
    """Problems that stop LaTeX (or MathJax) from rendering: a small structural checker."""
    problems = []
    body = re.sub(r"\\[{}]", "", tex)       # escaped braces are text, not groups
    body = re.sub(r"(?<!\\)%.*", "", body)  # comments
    depth = 0
    for ch in body:
        depth += ch == "{"
        depth -= ch == "}"
        if depth < 0:
            problems.append("a '}' closes no group")
            depth = 0
    if depth:
        problems.append(f"{depth} unclosed '{{'")
    n_left, n_right = len(re.findall(r"\\left\b", body)), len(re.findall(r"\\right\b", body))
    if n_left != n_right:
        problems.append(f"\\left x{n_left} but \\right x{n_right}")
    for env in set(re.findall(r"\\begin\{(\w+\*?)\}", body)):
        if body.count(f"\\begin{{{env}}}") != body.count(f"\\end{{{env}}}"):
            problems.append(f"unbalanced environment {env}")
    # double scripts: after x^{..} (and an optional _{..}) another ^ on the same base
    for m in re.finditer(r"(?<!\\)[\^_]", body):
        kinds = [m.group()]
        pos = _group_end(body, m.end())
        while True:
            rest = body[pos:]
            stripped = rest.lstrip(" ")
            if not stripped or stripped[0] not in "^_":
                break
            kind = stripped[0]
            if kind in kinds:
                problems.append(f"double {'super' if kind == '^' else 'sub'}script near "
                                f"{body[max(0, m.start() - 20):pos + 10]!r}")
                break
            kinds.append(kind)
            pos = _group_end(body, pos + (len(rest) - len(stripped)) + 1)
    return problems


def test_latex_checker_catches_the_usual_mistakes():
    assert latex_problems(r"{a^{(1)}}^{2} + \left(x\right)^{2} + x_{i}^{2} + W^{(1)}_{ij}") == []
    assert latex_problems(r"a^{(1)}^{2}")
    assert latex_problems(r"a^{(1)}_{nj}^{2}")
    assert latex_problems(r"x_{i}_{j}")
    assert latex_problems(r"\frac{1}{2")
    assert latex_problems(r"\left(x")
    assert latex_problems(r"\begin{align*} x")
    assert latex_problems(r"\{ x^{2} \}") == []


# --- every spec, every format ------------------------------------------------------------------

@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_every_format_on_every_spec(spec, capsys):
    d = symbp.derive(symbp.load_spec(spec))
    n_eq = len(d.equations)
    targets = {e.target for e in d.equations}

    text = _run(capsys, spec)  # default: text, both forms
    assert text.startswith(f"Derivation of {d.spec.name}")
    for line in text.splitlines():
        assert len(line) <= 80 or " " not in line.strip(), f"too wide: {line!r}"
    for title in ("Forward pass", "Loss", "Backward pass", "Update"):
        assert title in text
    assert "δ1" in text and "∂L/∂W1" in text

    latex = _run(capsys, spec, "--format", "latex")
    assert latex_problems(latex) == []
    assert latex.isascii(), "pdflatex stops at a Unicode character the preamble does not map"
    assert r"\begin{align*}" in latex and r"\documentclass" not in latex
    assert latex.count(r"\\") >= n_eq - 1

    md = _run(capsys, spec, "--format", "markdown")
    assert md.startswith(f"# Derivation of {d.spec.name}")
    assert md.count("$$") % 2 == 0 and md.count("$$") >= 2 * n_eq
    math = "\n".join(re.findall(r"\$\$\n(.*?)\n\$\$", md, flags=re.S))
    assert latex_problems(math) == []

    data = json.loads(_run(capsys, spec, "--format", "json"))
    assert data["spec"] == d.spec.name and len(data["equations"]) == n_eq
    assert {e["target"] for e in data["equations"]} == targets
    for e in data["equations"]:
        assert e["stage"] in ("forward", "loss", "output_error", "backward", "gradient", "update")
        assert e["matrix"]["text"] and e["index"]["latex"] and e["why"]
        assert e["matrix"]["plain"].isascii() and e["index"]["plain"].isascii(), e
    assert data["sizes"] == list(d.spec.model.sizes)

    mermaid = _run(capsys, spec, "--format", "mermaid")
    assert mermaid.startswith("```mermaid\n") and mermaid.rstrip().endswith("```")
    assert "flowchart" in mermaid or "graph" in mermaid


@pytest.mark.parametrize("spec", [s for s in SPECS if s.stem in ("seed000_sigmoid_mse",
                                                                  "digits_softmax")],
                         ids=lambda p: p.stem)
@pytest.mark.parametrize("form", ["index", "matrix", "both"])
@pytest.mark.parametrize("fmt", ["text", "latex", "markdown"])
def test_forms(spec, form, fmt, capsys):
    out = _run(capsys, spec, "--format", fmt, "--form", form)
    index_marker = {"text": "δ1[n,j] =", "latex": r"\delta^{(1)}_{nj} &=",
                    "markdown": r"\delta^{(1)}_{nj} ="}[fmt]
    matrix_marker = {"text": "δ1 = (δ2 W2ᵀ)", "latex": r"\delta^{(1)} &= \left(\delta^{(2)}",
                     "markdown": r"\delta^{(1)} = \left(\delta^{(2)}"}[fmt]
    assert (index_marker in out) == (form in ("index", "both")), out[:400]
    assert (matrix_marker in out) == (form in ("matrix", "both"))
    if fmt != "text":
        assert latex_problems(out) == []


def test_text_width_option_wraps(capsys):
    spec = ROOT / "derivations" / "digits_softmax.toml"
    out = _run(capsys, spec, "--width", "60")
    assert max(len(line) for line in out.splitlines() if " " in line.strip()) <= 60


def test_standalone_latex_and_output_file(tmp_path, capsys):
    spec = ROOT / "derivations" / "digits_softmax.toml"
    target = tmp_path / "sub" / "digits.tex"
    rc = main(["derive", str(spec), "--format", "latex", "--standalone", "-o", str(target)])
    out, err = capsys.readouterr()
    assert rc == 0 and out == "" and str(target) in err
    tex = target.read_text(encoding="utf-8")
    assert tex.startswith(r"\documentclass") and tex.rstrip().endswith(r"\end{document}")
    assert r"\begin{document}" in tex and latex_problems(tex) == []
    # the stated assumption of the fused loss is in the document
    assert "one-hot" in tex
    assert not list(tmp_path.glob("sub/.*.tmp"))  # written atomically, no temp file left
    # readable as any file the user creates (the umask's mode), not the temp file's 0600
    umask = os.umask(0o022)
    try:
        os.umask(0o022)
        target.chmod(0o600)
        target.unlink()
        assert main(["derive", str(spec), "-o", str(target)]) == 0
        assert target.stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(umask)


def test_standalone_latex_of_a_custom_loss_and_activation_is_ascii(tmp_path, capsys):
    spec = tmp_path / "custom.toml"
    spec.write_text('[model]\ninputs = 2\nlayers = [{ units = 3, activation = "x / (1 + exp(-x))" },'
                    ' { units = 1, activation = "identity" }]\n'
                    '[loss]\nkind = "custom"\nexpr = "log(cosh(yhat - y))"\n')
    for opt in ("sgd", "momentum", "adam"):
        latex = _run(capsys, spec, "--format", "latex", "--standalone", "--optimizer", opt)
        assert latex_problems(latex) == []
        bad = sorted({ch for ch in latex if not ch.isascii()})
        assert not bad, f"characters pdflatex cannot typeset: {bad}"


def test_optimizer_option(capsys):
    out = _run(capsys, ROOT / "derivations" / "seed000_sigmoid_mse.toml", "--optimizer", "momentum")
    assert "v_W1 ← ∂L/∂W1 + μ v_W1" in out
    assert "W1 ← W1 − η v_W1" in out


def test_subprocess_end_to_end(tmp_path):
    """The real command line: json to a file, then text to stdout."""
    spec = ROOT / "derivations" / "seed001_relu_bce_logits.toml"
    target = tmp_path / "d.json"
    res = subprocess.run([sys.executable, "-m", "symbp", "derive", str(spec), "--format", "json",
                          "-o", str(target)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    data = json.loads(target.read_text(encoding="utf-8"))
    assert data["loss"] == "bce_logits" and data["assumptions"]
    delta2 = next(e for e in data["equations"] if e["target"] == "delta2")
    assert delta2["matrix"]["text"] == "(1/N)(ŷ − y)"
    res = subprocess.run([sys.executable, "-m", "symbp", "derive", str(spec)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "assumes: the last layer is linear" in res.stdout


def test_bad_option_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["derive", str(SPECS[0]), "--format", "pdf"])
    assert info.value.code == 2


# --- exact strings for a 2-2-1 sigmoid network (hand-written) -------------------------------------

NET_221 = ('[model]\ninputs = 2\nlayers = [ { units = 2, activation = "sigmoid" }, '
           '{ units = 1, activation = "sigmoid" } ]\n[loss]\nkind = "mse"\n')


@pytest.fixture(scope="module")
def net221():
    return symbp.derive(symbp.load_spec(NET_221))


def test_delta1_printed_exactly(net221):
    eq = net221.equation("delta1")
    assert eq.matrix.text() == "(δ2 W2ᵀ) ⊙ a1 ⊙ (1 − a1)"
    assert eq.matrix.plain() == "(delta2 @ W2.T) * a1 * (1 - a1)"
    assert eq.matrix.latex() == (r"\left(\delta^{(2)} {W^{(2)}}^{\top}\right) \odot a^{(1)} "
                                 r"\odot \left(1 - a^{(1)}\right)")
    assert print_expr(eq.rhs, "text") == "(Σ_k δ2[n,k]·W2[j,k])·a1[n,j]·(1 − a1[n,j])"
    assert print_expr(eq.rhs, "plain") == "(sum_k(delta2[n,k]*W2[j,k]))*a1[n,j]*(1 - a1[n,j])"
    assert print_expr(eq.rhs, "latex") == (r"\left(\sum_{k} \delta^{(2)}_{nk} W^{(2)}_{jk}\right) "
                                           r"a^{(1)}_{nj} \left(1 - a^{(1)}_{nj}\right)")


def test_other_equations_printed_exactly(net221):
    d = net221
    assert d.equation("delta2").matrix.text() == "(1/N)(ŷ − y) ⊙ ŷ ⊙ (1 − ŷ)"
    assert d.equation("delta2").matrix.plain() == "(1/N) * (yhat - y) * yhat * (1 - yhat)"
    assert d.equation("dW2").matrix.text() == "a1ᵀ δ2"
    assert d.equation("dW2").matrix.plain() == "a1.T @ delta2"
    assert d.equation("dW2").matrix.latex() == r"{a^{(1)}}^{\top} \delta^{(2)}"
    assert print_expr(d.equation("dW2").rhs, "text") == "Σ_n a1[n,i]·δ2[n,j]"
    assert d.equation("db1").matrix.text() == "Σₙ δ1"
    assert d.equation("db1").matrix.plain() == "delta1.sum(axis=0)"
    assert d.equation("z1").matrix.text() == "x W1 + b1"
    assert d.equation("a1").matrix.text() == "σ(z1)"
    assert d.equation("a1").matrix.plain() == "sigmoid(z1)"
    assert print_expr(d.equation("a1").rhs, "plain") == "sigmoid(z1[n,j])"
    assert d.equation("W1", "update").matrix.text() == "W1 − η ∂L/∂W1"
    assert d.equation("W1", "update").matrix.plain() == "W1 - eta * dW1"


def test_whole_text_printout_of_the_221_net(net221):
    text = net221.to_text(form="matrix")
    want = """\
Backward pass
-------------
δ2 = (1/N)(ŷ − y) ⊙ ŷ ⊙ (1 − ŷ)
  ∵ δ2 = ∂L/∂z2: ∂ℓ/∂ŷ = ŷ − y (by sympy.diff of ℓ = (ŷ − y)²/2); σ' = a·(1 − a)
    in terms of a
∂L/∂W2 = a1ᵀ δ2
"""
    assert want in text
    assert net221._repr_latex_().startswith("$$") or "$$" in net221._repr_latex_()


def test_adam_coefficients_are_bracketed():
    d = symbp.derive(symbp.load_spec(NET_221), optimizer="adam")
    m = d.equation("m_W1")
    assert m.matrix.text() == "(1 − β₁) ∂L/∂W1 + β₁ m_W1"
    assert m.matrix.latex().startswith(r"\left(1 - \beta_1\right) \frac{\partial L}")
    s = d.equation("s_W1")
    assert s.matrix.text() == "β₂ s_W1 + (1 − β₂) (∂L/∂W1)²"
    assert latex_problems(d.to_latex()) == []


def test_output_under_a_file_or_onto_a_folder_names_the_problem(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    assert main(["derive", "seed000_sigmoid_mse", "-o", str(tmp_path / "afile" / "d.tex")]) == 2
    assert "afile is a file, not a folder" in capsys.readouterr().err
    assert main(["derive", "seed000_sigmoid_mse", "-o", str(tmp_path)]) == 2
    assert "it is a folder; give a file name" in capsys.readouterr().err
    assert main(["derive", "seed000_sigmoid_mse", "-o", str(tmp_path / ("a" * 300) / "d.txt")]) == 2
    assert "File name too long" in capsys.readouterr().err      # a message, not a traceback


def test_latex_text_spells_greek_capitals_as_latex_has_them():
    from symbp.printing.document import _latex_escape_text

    assert _latex_escape_text("Λ Σ Α ο λ") == r"$\Lambda$ $\Sigma$ A o $\lambda$"


def test_latex_carries_each_steps_justification_in_ascii(capsys):
    """The LaTeX of a derivation gives each equation's reason as text and Markdown do, in
    characters pdflatex typesets (π, ≤, |x| of the Huber loss, GELU's constants)."""
    spec = ('[model]\ninputs = 2\nlayers = [ { units = 3, activation = "gelu" },'
            ' { units = 1, activation = "identity" } ]\n[loss]\nkind = "huber"\n')
    d = symbp.derive(symbp.load_spec(spec))
    latex = d.to_latex(standalone=True)
    assert latex.count(r"\textit{Why:}") == len(d.equations)
    assert r"$\pi$" in latex and r"$\le$" in latex and r"$|$" in latex
    assert latex.isascii(), sorted({ch for ch in latex if not ch.isascii()})


@pytest.mark.parametrize("args,option", [
    (["--format", "json", "--form", "index"], "--form"),
    (["--format", "mermaid", "--form", "matrix"], "--form"),
    (["--standalone"], "--standalone"),
    (["--format", "markdown", "--width", "60"], "--width"),
])
def test_an_option_its_format_ignores_is_an_error_that_says_so(args, option, capsys):
    assert main(["derive", "seed000_sigmoid_mse", *args]) == 2
    err = capsys.readouterr().err
    assert f"{option} does nothing with --format" in err


def test_form_both_goes_with_any_format_and_a_width_must_be_usable(capsys):
    assert main(["derive", "seed000_sigmoid_mse", "--format", "json", "--form", "both"]) == 0
    capsys.readouterr()
    assert main(["derive", "seed000_sigmoid_mse", "--width", "-5"]) == 2
    assert "--width -5: expected at least 20 columns" in capsys.readouterr().err
