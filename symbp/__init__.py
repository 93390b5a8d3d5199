"""symbp: SYMbolic BackPropagation.

Derive the gradients of a network and loss symbolically with SymPy, print the derivation as a
textbook would, compile it with Numba, and check anyone's formulas against it.

    >>> import symbp
    >>> d = symbp.derive(symbp.load_spec("seed000_sigmoid_mse"))
    >>> print(d.equation("delta1").matrix.text())
    (δ2 W2ᵀ) ⊙ a1 ⊙ (1 − a1)
"""

from .derive import Derivation, Equation, derive
from .errors import SymbpError, SpecError
from .spec import Spec, load_spec

__version__ = "0.1.0"

__all__ = ["Derivation", "Equation", "MLPClassifier", "MLPRegressor", "Spec", "SpecError",
           "SymbpError", "derive", "load_spec", "__version__"]


def __getattr__(name):
    """Lazy exports: the estimators import the trainer (and scikit-learn for their checks)."""
    if name in ("MLPClassifier", "MLPRegressor"):
        from . import estimators

        return getattr(estimators, name)
    raise AttributeError(f"module 'symbp' has no attribute {name!r}")
