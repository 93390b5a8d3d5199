"""Bad specs: ``symbp derive BAD.toml`` exits 2 with one clear paragraph and no traceback.

Contract checked here: for each kind of bad input (malformed TOML, unknown activation, zero
units, an unsafe expression, an unknown key, a missing loss, an unknown loss, a negative l2,
softmax on a hidden layer, bce_logits after a sigmoid, a missing file, a folder) the command run
in a real subprocess exits with code 2, prints nothing on stdout, and prints on stderr exactly one
line (one paragraph) that names the file and, where there is one, the offending key, with no
Python traceback. An expression that would run code if it were evaluated does not run it. The
same errors are raised in-process as :class:`symbp.SpecError` with ``source`` and ``key`` set.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import symbp
from symbp.errors import SpecError

GOOD_MODEL = ('[model]\ninputs = 2\nlayers = [ { units = 3, activation = "tanh" }, '
              '{ units = 1, activation = "sigmoid" } ]\n')
GOOD_LOSS = '[loss]\nkind = "mse"\n'

# name -> (file content or None for special cases, key expected in the message or None,
#          a word the explanation must contain)
CASES = {
    "malformed": ('[model\ninputs = 2\n', None, "TOML"),
    "unknown_activation": (GOOD_MODEL.replace('"tanh"', '"sigmoidd"') + GOOD_LOSS,
                           "model.layers[0].activation", "sigmoidd"),
    "zero_units": (GOOD_MODEL.replace("units = 3", "units = 0") + GOOD_LOSS,
                   "model.layers[0].units", "got 0"),
    "unsafe_expression": (
        GOOD_MODEL.replace('"tanh"', '''"__import__('os').system('touch PWNED')"''') + GOOD_LOSS,
        "model.layers[0].activation", "expression"),
    "unknown_key": (GOOD_MODEL.replace('"tanh"', '"tanh", dropout = 0.5') + GOOD_LOSS,
                    "model.layers[0].dropout", "unknown key"),
    "unknown_top_level_key": ("modle = 1\n" + GOOD_MODEL + GOOD_LOSS, "modle", "unknown key"),
    "custom_loss_expr_not_text": (GOOD_MODEL + '[loss]\nkind = "custom"\nexpr = 3\n', "loss.expr",
                                  "expected a string, got 3"),
    "missing_loss": (GOOD_MODEL, "loss", "missing"),
    "bad_loss_kind": (GOOD_MODEL + '[loss]\nkind = "hinge"\n', "loss.kind", "hinge"),
    "negative_l2": (GOOD_MODEL + GOOD_LOSS + "l2 = -0.1\n", "loss.l2", ">= 0"),
    "hidden_softmax": (GOOD_MODEL.replace('"tanh"', '"softmax"') + GOOD_LOSS,
                       "model.layers[0].activation", "last layer"),
    "bce_logits_after_sigmoid": (GOOD_MODEL + '[loss]\nkind = "bce_logits"\n',
                                 "model.layers[1].activation", "identity"),
    "unsafe_loss_expression": (GOOD_MODEL + '[loss]\nkind = "custom"\n'
                               'expr = "yhat.__class__(y)"\n', "loss.expr", "expression"),
    "nonexistent_file": (None, None, "no such file"),
    "directory": (None, None, "folder"),
}


def _path(tmp, name):
    if name == "directory":
        p = tmp / "a_folder.toml"
        p.mkdir(exist_ok=True)
        return p
    p = tmp / f"{name}.toml"
    content = CASES[name][0]
    if content is not None:
        p.write_text(content, encoding="utf-8")
    return p


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Run every case as ``python -m symbp derive FILE`` at once (they are independent)."""
    tmp = tmp_path_factory.mktemp("bad_specs")
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    procs = {}
    for name in CASES:
        path = _path(tmp, name)
        procs[name] = (path, subprocess.Popen(
            [sys.executable, "-m", "symbp", "derive", str(path)], cwd=tmp, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    out = {}
    for name, (path, proc) in procs.items():
        stdout, stderr = proc.communicate(timeout=120)
        out[name] = (path, proc.returncode, stdout, stderr)
    return tmp, out


@pytest.mark.parametrize("name", list(CASES))
def test_bad_spec_exits_2_with_one_paragraph(runs, name):
    _, out = runs
    path, rc, stdout, stderr = out[name]
    _, key, word = CASES[name]
    assert rc == 2, (rc, stderr)
    assert stdout == ""
    assert "Traceback" not in stderr and 'File "' not in stderr
    assert stderr.endswith("\n") and "\n" not in stderr[:-1], stderr
    assert stderr.startswith("symbp derive: error: ")
    assert path.name in stderr
    if key is not None:
        assert f"'{key}'" in stderr, stderr
    assert word in stderr, stderr
    assert len(stderr) < 600


def test_unsafe_expression_is_not_executed(runs):
    tmp, out = runs
    assert out["unsafe_expression"][1] == 2
    assert not (tmp / "PWNED").exists()


def test_malformed_toml_says_where(runs):
    _, out = runs
    assert "line 1" in out["malformed"][3]


# --- the same, in-process ---------------------------------------------------------------------

@pytest.mark.parametrize("name", [n for n, c in CASES.items() if c[0] is not None])
def test_bad_spec_raises_spec_error(name):
    text, key, word = CASES[name]
    with pytest.raises(SpecError) as info:
        symbp.load_spec(text)
    assert info.value.key == key
    assert info.value.source == "<text>"
    assert word in str(info.value)


@pytest.mark.parametrize("expr", [
    "__import__('os').system('touch PWNED')",
    "__import__(x)",
    "x.__class__",
    "exec(x)",
    "eval(x)",
    "lambda: x",
    "[x for x in x]",
    "open(x)",
    "x; x",
    "x if x else x",
    "getattr(x, x)",
    "exp(x",
    "1 +",
    "",
    "x * 9^9^9",       # SymPy would compute the 370-million-digit power and never return
    "x + (10^7)^9",
    "x^1000",
])
def test_unsafe_or_broken_activation_expressions(expr, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = GOOD_MODEL.replace('"tanh"', repr(expr).replace("'", '"') if "'" not in expr
                              else f"'''{expr}'''") + GOOD_LOSS
    with pytest.raises(SpecError) as info:
        symbp.load_spec(text)
    assert info.value.key == "model.layers[0].activation"
    assert "\n" not in str(info.value)
    assert not (tmp_path / "PWNED").exists()


def test_custom_activation_must_use_x():
    with pytest.raises(SpecError, match="does not depend on x"):
        symbp.load_spec(GOOD_MODEL.replace('"tanh"', '"2 + 3"') + GOOD_LOSS)
