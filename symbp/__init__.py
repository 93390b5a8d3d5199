"""symbp: SYMbolic BackPropagation.

Derive the gradients of a network and loss symbolically with SymPy, print the derivation as a
textbook would, compile it with Numba, and check anyone's formulas against it.

    >>> import symbp
    >>> d = symbp.derive(symbp.load_spec("seed000"))
    >>> print(d.equation("delta1").matrix.text())
    (δ2 W2ᵀ) ⊙ a1 ⊙ (1 − a1)
"""

from .derive import Derivation, Equation, derive
from .errors import SymbpError, SpecError
from .spec import Spec, load_spec

__version__ = "0.1.0"

__all__ = ["Derivation", "Equation", "Spec", "SpecError", "SymbpError", "derive", "load_spec",
           "__version__"]
