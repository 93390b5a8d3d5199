"""Helpers shared by the codegen, runtime and cache tests: specs, data, references."""

from __future__ import annotations

import numpy as np

import symbp
from symbp.codegen import generate_source

try:
    from . import reference as ref
except ImportError:  # tests/ is not a package
    import reference as ref


def spec_text(sizes, acts, loss="mse", reduction="mean", l2=0.0, name="t", optimizer=None,
              extra="") -> str:
    layers = ", ".join(f'{{ units = {u}, activation = "{a}" }}' for u, a in zip(sizes[1:], acts))
    train = f'\n[train]\noptimizer = "{optimizer}"\n' if optimizer else ""
    return (f'name = "{name}"\n[model]\ninputs = {sizes[0]}\nlayers = [ {layers} ]\n'
            f'[loss]\nkind = "{loss}"\nreduction = "{reduction}"\nl2 = {l2}\n{extra}{train}')


def reference_args(spec):
    """(acts, loss, reduction, l2) for tests/reference.py from a Spec."""
    acts = [(layer.activation.name, {k: float(v) for k, v in layer.activation.params})
            for layer in spec.model.layers]
    loss = (spec.loss.rule.name, {k: float(v) for k, v in spec.loss.rule.params})
    return acts, loss, spec.loss.reduction, float(spec.loss.l2)


def data(spec, n=6, seed=0):
    """Inputs and targets that fit the spec's loss (one-hot rows for softmax CE, (0, 1) for BCE)."""
    rng = np.random.default_rng(seed)
    d0, dL = spec.model.sizes[0], spec.model.sizes[-1]
    X = rng.standard_normal((n, d0))
    name = spec.loss.rule.name
    if name == "softmax_cross_entropy":
        Y = np.eye(dL)[rng.integers(0, dL, n)]
    elif name in ("bce", "bce_logits", "cross_entropy"):
        Y = rng.uniform(0.05, 0.95, (n, dL))
    else:
        Y = rng.standard_normal((n, dL))
    return X, Y


def params(spec, seed=1, scale=1.0):
    return ref.init_params(list(spec.model.sizes), np.random.default_rng(seed), scale)


def pure_python_module(d, target="cpu", dtype="float64"):
    """The generated module executed as plain Python (Numba's JIT disabled): readable errors,
    no compile time."""
    import types

    import numba

    source = generate_source(d, target, dtype)
    module = types.ModuleType("symbp_pure")
    old = numba.config.DISABLE_JIT
    numba.config.DISABLE_JIT = True
    try:
        exec(compile(source, "<generated>", "exec"), module.__dict__)
    finally:
        numba.config.DISABLE_JIT = old
    return module


def call_loss_and_grad(module, names, p, X, Y):
    L, *grads = module.loss_and_grad(*[p[k] for k in names], X, Y)
    return float(L), dict(zip(names, grads))


def derive_text(text, optimizer=None):
    return symbp.derive(symbp.load_spec(text), optimizer=optimizer)
