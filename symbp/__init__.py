"""symbp: SYMbolic BackPropagation.

Derive the gradients of a network and loss symbolically with SymPy, print the derivation as a
textbook would, compile it with Numba, and check anyone's formulas against it.

    >>> import symbp
    >>> d = symbp.derive(symbp.load_spec("seed000_sigmoid_mse"))
    >>> print(d.equation("delta1").matrix.text())
    (δ2 W2ᵀ) ⊙ a1 ⊙ (1 − a1)
"""

import sys
import types

from .errors import SpecError, SymbpError

__version__ = "0.1.0"

__all__ = ["Derivation", "Equation", "MLPClassifier", "MLPRegressor", "Spec", "SpecError",
           "SymbpError", "derive", "load_spec", "__version__"]

#: Lazy exports: SymPy (0.4 s to import) only where something is derived, so that loading
#: compiled kernels from the cache (a warm start) never imports it; the estimators import the
#: trainer (and scikit-learn for their checks).
_LAZY = {"Derivation": "derive", "Equation": "derive", "derive": "derive", "Spec": "spec",
         "load_spec": "spec", "MLPClassifier": "estimators", "MLPRegressor": "estimators"}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'symbp' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """``symbp.derive`` is the function, as it was when it was imported eagerly: importing the
    submodule of the same name (lazily, on first use) binds the module here, and this puts the
    function back."""

    def __setattr__(self, name, value):
        if name == "derive" and isinstance(value, types.ModuleType):
            value = value.derive
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
