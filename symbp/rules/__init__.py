"""Symbolic rules: elementwise activations, losses and the linear (contraction) map.

Each family is a registry filled in one place; see ``symbp/extend.py`` to add your own.
"""

import hashlib
import inspect

from .activations import ACTIVATIONS, Activation, make_activation, register_activation
from .losses import LOSSES, Loss, make_loss, register_loss

__all__ = ["ACTIVATIONS", "Activation", "make_activation", "register_activation",
           "LOSSES", "Loss", "make_loss", "register_loss", "user_rules_fingerprint"]

# the entries registered by symbp itself (their source is in the cache key's code fingerprint)
_BUILTIN = {"activation": dict(ACTIVATIONS), "loss": dict(LOSSES)}


def user_rules_fingerprint() -> str:
    """SHA-256 of the activations and losses registered or replaced by the user, ``""`` if none.

    A registered rule shapes the generated code as much as the spec does, but it lives in the
    user's program, not in the spec or in symbp's source: the cache key includes this, so a
    rule edited between runs is never served the kernels of its old definition. Each rule counts
    by its built default form (the SymPy expressions, printed) and its build function's source.
    """
    parts = []
    for kind, registry, make in (("activation", ACTIVATIONS, make_activation),
                                 ("loss", LOSSES, make_loss)):
        for name in sorted(registry):
            entry = registry[name]
            if _BUILTIN[kind].get(name) is entry:
                continue
            try:
                built = repr(make(name))
            except Exception as exc:  # noqa: BLE001 - deriving with it reports the error itself
                built = f"{type(exc).__name__}: {exc}"
            fields = {k: v for k, v in vars(entry).items() if k != "build"}
            parts.append(f"{kind}:{name}:{fields!r}:{built}:{_code(entry.build)}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest() if parts else ""


def _code(fn) -> str:
    """The source of ``fn`` (stable across processes), else its bytecode and names."""
    try:
        return inspect.getsource(fn)
    except (OSError, TypeError):
        code = getattr(fn, "__code__", None)
        return f"{code.co_code.hex()}:{code.co_names}" if code is not None else repr(fn)
