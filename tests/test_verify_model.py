"""The comparison machinery of symbp.verify.model and the instance's names."""

import pytest
import sympy as sp

from symbp.verify import model
from symbp.verify.instance import Instance
from symbp.verify.spec_check import derivation_of


def test_is_zero_is_undecided_only_for_what_sympy_cannot_decide(monkeypatch):
    z = sp.Symbol("z", real=True)
    assert model.is_zero(sp.tanh(z) - (1 - sp.exp(-2 * z)) / (1 + sp.exp(-2 * z))) is True

    def hard(*args, **kwargs):
        raise NotImplementedError("no algorithm")

    monkeypatch.setattr(model.sp, "simplify", hard)
    assert model.is_zero(sp.sin(z) ** 2 + sp.cos(z) ** 2 - 1) is None

    def bug(*args, **kwargs):  # a programming error is not "undecided"
        raise AttributeError("'NoneType' object has no attribute 'args'")

    monkeypatch.setattr(model.sp, "simplify", bug)
    with pytest.raises(AttributeError):
        model.is_zero(sp.sin(z) ** 2 + sp.cos(z) ** 2 - 1)


def test_gradient_names_of_the_instance():
    inst = Instance(derivation_of("seed000_sigmoid_mse"), (2, 3, 1), 1)
    assert [inst.gradient_name(t) for t in ("z2", "W1", "b2", "a1", "x")] == [
        "delta2", "dW1", "db2", None, None]
    m = inst.model
    assert all(sp.simplify(g - m.canonical(m.derivative(m.defs[inst.loss], w))) == 0
               for g, w in zip(inst.grad_of_loss("W2").flat, inst.arrays["W2"].flat))
