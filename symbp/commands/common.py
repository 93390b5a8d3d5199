"""Helpers shared by the subcommands: output files and the spec argument."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from ..errors import SymbpError


class OutputError(SymbpError):
    """An output file could not be written."""


def add_spec_argument(parser) -> None:
    parser.add_argument("spec", metavar="SPEC",
                        help="a spec file (derivations/*.toml) or the name of a bundled spec")


def write_output(text: str, path: str | None) -> None:
    """Print ``text``, or write it atomically to ``path`` (temp file then rename)."""
    if not path or path == "-":
        sys.stdout.write(text)
        return
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, target)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    print(f"wrote {path}", file=sys.stderr)
