"""Optimizer update rules, as equations.

Contract: an optimizer is an ordered list of per-element updates ``target <- expr``, SymPy
expressions in the symbols ``p`` (the parameter), ``g`` (its gradient), the optimizer's state
(``v``; or ``m`` and ``s``), the hyper-parameters (``eta``, ``mu``, ``beta1``, ``beta2``,
``epsilon``) and ``t`` (the 1-based step count). The derivation prints them per parameter and the
code generator fuses them into the compiled step, so updates never run in Python.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

P, G, V, M_, S, T_ = sp.symbols("p g v m s t", real=True)
ETA, MU, BETA1, BETA2, EPS = sp.symbols("eta mu beta1 beta2 epsilon", positive=True)


@dataclass(frozen=True)
class Optimizer:
    """An optimizer: state names, hyper-parameter defaults and the ordered update equations.

    Attributes:
        name: ``sgd``, ``momentum`` or ``adam``.
        hyper: hyper-parameter name -> default value (``eta`` is the learning rate).
        state: names of the per-parameter state tensors (zero-initialised).
        updates: ordered ``(target name, SymPy expression)``; a target is a state name or ``p``.
        text: one-line description for printouts.
    """

    name: str
    hyper: dict
    state: tuple[str, ...]
    updates: tuple[tuple[str, sp.Expr], ...]
    text: str

    def symbol(self, name: str) -> sp.Symbol:
        return {"p": P, "g": G, "v": V, "m": M_, "s": S, "t": T_, "eta": ETA, "mu": MU,
                "beta1": BETA1, "beta2": BETA2, "epsilon": EPS}[name]


OPTIMIZERS = {
    "sgd": Optimizer("sgd", {"eta": 0.1}, (), (("p", P - ETA * G),),
                     "plain gradient descent"),
    # PyTorch's form: v <- mu v + g ; p <- p - eta v
    "momentum": Optimizer("momentum", {"eta": 0.01, "mu": 0.9}, ("v",),
                          (("v", MU * V + G), ("p", P - ETA * V)),
                          "gradient descent with momentum (heavy ball)"),
    # Kingma & Ba (2015), with bias correction
    "adam": Optimizer("adam", {"eta": 0.001, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8},
                      ("m", "s"),
                      (("m", BETA1 * M_ + (1 - BETA1) * G),
                       ("s", BETA2 * S + (1 - BETA2) * G**2),
                       ("p", P - ETA * (M_ / (1 - BETA1**T_)) / (sp.sqrt(S / (1 - BETA2**T_)) + EPS))),
                      "Adam with bias correction (Kingma & Ba, 2015)"),
}


def make_optimizer(name: str = "sgd") -> Optimizer:
    """The optimizer registered as ``name`` (``sgd``, ``momentum``, ``adam``).

    Raises:
        SymbpError: no optimizer of that name.
    """
    try:
        return OPTIMIZERS[name]
    except (KeyError, TypeError):
        from ..errors import SymbpError

        raise SymbpError(f"unknown optimizer {name!r}; expected one of "
                         f"{', '.join(OPTIMIZERS)}") from None
