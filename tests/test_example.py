"""`symbp example`: the worked example's equations in the layout of its weights, and its input
checks."""

from __future__ import annotations

import re

import numpy as np
import pytest

import symbp
from symbp.errors import SpecError
from symbp.example import run_example

SEED002 = "derivations/seed002_worked_example.toml"


def _values(text: str, name: str) -> np.ndarray:
    """The decimals printed under the equation of ``name`` (``= [a, b]`` or ``[[..], [..]]``)."""
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith(f"{name} = "))
    block = [lines[at + 1]]
    for line in lines[at + 2:]:
        if not line.startswith("     ["):
            break
        block.append(line)
    rows = re.findall(r"\[([^\[\]]+)\]", " ".join(block))
    nums = [[float(v.split("=")[-1]) for v in row.split(", ")] for row in rows]
    return np.array(nums if len(nums) > 1 else nums[0])


def test_out_in_weights_get_the_column_layout_equations():
    # seed 002 writes z = W a + b: the equations must be the ones its numbers satisfy
    text = run_example(SEED002)
    assert "z1 = W1 x + b1" in text and "z1 = x W1 + b1" not in text
    assert "∂L/∂W3 = δ3 a2ᵀ" in text and "δ2 = (W3ᵀ δ3) ⊙ a2 ⊙ (1 − a2)" in text
    W1 = np.array([[0.1, 0.2], [0.3, 0.4]])  # as the spec writes it: a row per output unit
    x, b1 = np.array([1.0, 2.0]), np.array([0.1, 0.2])
    np.testing.assert_allclose(_values(text, "z1"), W1 @ x + b1, rtol=1e-9)
    # ∂L/∂W1 = δ1 xᵀ, an outer product with x's entries along the columns
    np.testing.assert_allclose(_values(text, "∂L/∂W1"), np.outer(_values(text, "δ1"), x),
                               rtol=1e-8)
    W3 = np.array([[0.9, 1.0], [1.1, 1.2]])
    a2, d3 = _values(text, "a2"), _values(text, "δ3")
    np.testing.assert_allclose(_values(text, "δ2"), (W3.T @ d3) * a2 * (1 - a2), rtol=1e-8)


def test_in_out_weights_keep_the_row_layout(tmp_path):
    values = tmp_path / "v.toml"
    values.write_text("x = [[1, 2]]\ny = [[3, 4]]\nlr = 0.1\n"
                      "W1 = [[0.1, 0.3], [0.2, 0.4]]\nb1 = [0.1, 0.2]\n"
                      "W2 = [[0.5, 0.7], [0.6, 0.8]]\nb2 = [0.5, 0.6]\n"
                      "W3 = [[0.9, 1.1], [1.0, 1.2]]\nb3 = [0.9, 1.0]\n")
    text = run_example(SEED002, str(values))
    assert "z1 = x W1 + b1" in text and "∂L/∂W3 = a2ᵀ δ3" in text
    W1 = np.array([[0.1, 0.3], [0.2, 0.4]])
    np.testing.assert_allclose(_values(text, "z1"), np.array([1.0, 2.0]) @ W1 + [0.1, 0.2])
    # the same network as seed 002's, written transposed: the same loss
    assert "6.823770188" in text


@pytest.mark.parametrize("line,key,words", [
    ("x = [[inf, 2]]", "example.x", "finite number"),
    ("x = [[nan, 2]]", "example.x", "finite number"),
    ("W4 = [[1.0]]", "example.W4", "W1, b1, W2, b2, W3, b3"),
])
def test_bad_values_name_their_key(tmp_path, line, key, words):
    base = {"x": "x = [[1, 2]]", "y": "y = [[3, 4]]"}
    name = line.split(" ")[0]
    base[name] = line
    rest = ("W1 = [[0.1, 0.3], [0.2, 0.4]]\nb1 = [0.1, 0.2]\nW2 = [[0.5, 0.7], [0.6, 0.8]]\n"
            "b2 = [0.5, 0.6]\nW3 = [[0.9, 1.1], [1.0, 1.2]]\nb3 = [0.9, 1.0]\n")
    values = tmp_path / "v.toml"
    values.write_text("\n".join(base.values()) + "\n" + rest)
    with pytest.raises(SpecError) as info:
        run_example(SEED002, str(values))
    assert info.value.key == key and words in str(info.value)


def test_a_default_learning_rate_is_said_to_be_one(tmp_path):
    values = tmp_path / "v.toml"
    values.write_text("x = [[1, 2]]\ny = [[3, 4]]\nW1 = [[0.1, 0.3], [0.2, 0.4]]\nb1 = [0.1, 0.2]\n"
                      "W2 = [[0.5, 0.7], [0.6, 0.8]]\nb2 = [0.5, 0.6]\n"
                      "W3 = [[0.9, 1.1], [1.0, 1.2]]\nb3 = [0.9, 1.0]\n")
    assert "η = 1/10 (the default" in run_example(SEED002, str(values))
    assert "(the default" not in run_example(SEED002)  # the spec sets lr = 0.1 itself


def test_softmax_targets_must_sum_to_one(tmp_path):
    spec = tmp_path / "sm.toml"
    spec.write_text('[model]\ninputs = 2\nlayers = [{ units = 2, activation = "softmax" }]\n'
                    '[loss]\nkind = "cross_entropy"\n'
                    '[example]\nx = [[1, 2]]\ny = [[0.5, 1]]\nW1 = [[1, 0], [0, 1]]\nb1 = [0, 0]\n')
    with pytest.raises(SpecError, match="row 0 sums to 3/2, not 1"):
        run_example(str(spec))
    spec.write_text(spec.read_text().replace("y = [[0.5, 1]]", "y = [[0.25, 0.75]]"))
    assert "δ1 = (1/N)(ŷ − y)" in run_example(str(spec))


def test_a_values_file_that_is_not_utf8_is_an_input_error(tmp_path):
    values = tmp_path / "v.toml"
    values.write_bytes(b"x = [[1, 2]]\n# \xff\xfe\n")
    with pytest.raises(SpecError, match="not UTF-8"):
        run_example(SEED002, str(values))


def test_worked_example_cli_exit_codes(tmp_path, capsys):
    from symbp.cli import main

    assert main(["example", SEED002]) == 0
    assert "L = " in capsys.readouterr().out
    values = tmp_path / "v.toml"
    values.write_text("x = [[1, 2]]\n")
    assert main(["example", SEED002, "--values", str(values)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "example.y" in err
    assert symbp  # the package imports the command lazily
