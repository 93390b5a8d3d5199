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
        blocker = next((a for a in reversed(target.parents) if a.exists() and not a.is_dir()),
                       None)
        if blocker is not None:  # mkdir would say only "File exists"
            raise OutputError(f"cannot write {path}: {blocker} is a file, not a folder")
        if target.is_dir():
            raise OutputError(f"cannot write {path}: it is a folder; give a file name")
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, _file_mode(target))  # mkstemp's 0600 would hide a .tex from co-authors
        os.replace(tmp, target)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    print(f"wrote {path}", file=sys.stderr)


def _file_mode(target: Path) -> int:
    """The mode a plainly created file would get: the replaced file's, else 0666 less the
    umask."""
    try:
        return target.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
