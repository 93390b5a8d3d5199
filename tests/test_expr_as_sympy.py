"""symbp.expr.as_sympy converts numbers and SymPy objects and refuses text (it replaces sympify)."""

from fractions import Fraction

import numpy as np
import pytest
import sympy as sp

from symbp.expr import as_sympy


@pytest.mark.parametrize("value, expected", [
    (3, sp.Integer(3)), (np.int64(-2), sp.Integer(-2)), (Fraction(1, 3), sp.Rational(1, 3)),
    (0.5, sp.Float(0.5)), (np.float32(0.25), sp.Float(0.25)), (sp.Symbol("x"), sp.Symbol("x")),
])
def test_numbers_and_sympy_objects(value, expected):
    assert as_sympy(value) == expected


@pytest.mark.parametrize("value", ["1 + 1", "__import__('os').system('true')", True, [1], None])
def test_text_and_other_objects_are_refused(value):
    with pytest.raises(TypeError):
        as_sympy(value)
