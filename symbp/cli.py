"""The ``symbp`` command.

Contract: each subcommand lives in ``symbp/commands/<name>.py`` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` (``func(args) -> int`` exit
code). Exit codes: 0 success, 1 a check found something wrong (verify, gradcheck), 2 bad input.
User errors (:class:`~symbp.errors.SymbpError`) print one paragraph on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__
from .errors import SymbpError

#: Subcommand modules, in the order ``symbp --help`` lists them.
COMMANDS = ("demo", "derive", "example", "codegen", "train", "predict", "verify", "gradcheck")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="symbp",
        description="SYMbolic BackPropagation: derive gradients with SymPy, compile them with "
                    "Numba, verify textbook formulas.")
    parser.add_argument("--version", action="version", version=f"symbp {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"symbp.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"symbp.commands.{name}":
                continue  # not built in this version
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    _show_warnings_as(f"symbp {args.command}")
    try:
        return int(args.func(args) or 0)
    except SymbpError as exc:
        print(f"symbp {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"symbp {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `symbp derive ... | head`
        return 0


def _show_warnings_as(prefix: str) -> None:
    """symbp's own warnings as one line, ``symbp train: warning: ...``; others as Python shows them."""
    import warnings

    from .errors import SymbpWarning

    default = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, SymbpWarning):
            print(f"{prefix}: warning: {message}", file=file or sys.stderr)
        else:
            default(message, category, filename, lineno, file, line)

    warnings.showwarning = show


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
