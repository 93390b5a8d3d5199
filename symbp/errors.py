"""Error types of symbp.

Every error a user can cause by bad input is a :class:`SymbpError`. The command-line interface
prints its message (one paragraph, naming the file, key or position and what was expected) and
exits with code 2; it never shows a traceback for these.
"""

from __future__ import annotations


class SymbpError(Exception):
    """Base class of all user-facing errors (bad input, not bugs)."""

    exit_code = 2


class SymbpWarning(UserWarning):
    """Something the user should know that does not stop the work (the command-line interface
    prints it as ``symbp COMMAND: warning: ...``)."""


class CacheWarning(SymbpWarning):
    """The on-disk cache cannot be used; symbp compiles without it (slower, same results)."""


class SpecError(SymbpError):
    """A spec file (TOML) is malformed or does not validate.

    Attributes:
        source: the file (or ``"<text>"``) the spec came from.
        key: dotted path of the offending key, e.g. ``model.layers[1].activation``.
        problem: what is wrong and what was expected.
    """

    def __init__(self, source: str, key: str | None, problem: str):
        self.source = source
        self.key = key
        self.problem = problem
        where = f"{source}: key '{key}'" if key else f"{source}"
        super().__init__(f"{where}: {problem}")


class ExprError(SymbpError):
    """A math expression (custom activation, custom loss, claim) could not be parsed safely.

    Attributes:
        text: the expression as given (possibly shortened for display).
        position: 0-based character offset of the problem, or None.
        problem: what is wrong and what was expected.
    """

    def __init__(self, text: str, position: int | None, problem: str):
        self.text = text
        self.position = position
        self.problem = problem
        shown = text if len(text) <= 60 else text[:57] + "..."
        at = f" at position {position}" if position is not None else ""
        super().__init__(f"cannot parse expression {shown!r}{at}: {problem}")


class DataError(SymbpError):
    """Training data could not be loaded or does not fit the spec."""


class CheckpointError(SymbpError):
    """A checkpoint or parameter file is missing, corrupt or does not fit the spec."""
