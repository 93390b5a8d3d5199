"""Public extension points: register your own activations and losses.

Re-exports only (like HIPS autograd's ``extend.py``). A rule is a SymPy expression, so the same
rule prints, differentiates (``sympy.diff``) and generates code::

    import sympy as sp
    from symbp.extend import X, A, register_activation

    @register_activation("mish", "mish", r"\\operatorname{mish}", doc="x tanh(softplus(x))")
    def mish():
        return X * sp.tanh(sp.log(1 + sp.exp(X))), None   # (f(x), f' in terms of a, or None)

After registering, ``activation = "mish"`` works in specs.
"""

from .rules.activations import A, X, Activation, make_activation, register_activation
from .rules.losses import YHAT, Y, Z, Loss, make_loss, register_loss
from .rules.optimizers import OPTIMIZERS, Optimizer

__all__ = ["A", "X", "Activation", "make_activation", "register_activation", "YHAT", "Y", "Z",
           "Loss", "make_loss", "register_loss", "OPTIMIZERS", "Optimizer"]
