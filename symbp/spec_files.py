"""Finding and reading spec files: no SymPy, so that a warm start (compiled kernels loaded from
the cache, nothing derived) does not import it.

Contract: :func:`read_spec_text` turns what a user names (TOML text, a path, a bundled spec's
name) into the spec's text, or raises :class:`~symbp.errors.SpecError` naming the file.
:mod:`symbp.spec` parses and validates that text.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import SpecError

MAX_SPEC_BYTES = 1_000_000


def read_spec_text(path_or_text) -> tuple[str, str, str]:
    """(text, source shown in errors, default name) of a spec given as TOML text, a path or a
    bundled spec's name; SpecError when there is no such file or it is not UTF-8 text."""
    s = os.fspath(path_or_text)
    if "\n" in s or "[model]" in s:
        return s, "<text>", "spec"
    path = Path(s)
    if not path.exists():
        bundled = bundled_spec_path(s)
        if bundled is not None:
            path = bundled
        else:
            raise SpecError(s, None, "no such file; expected a path to a .toml spec or the name of "
                            f"a bundled spec ({', '.join(bundled_spec_names())})")
    if path.is_dir():
        raise SpecError(s, None, "this is a folder; expected a .toml spec file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SpecError(s, None, f"cannot read the file ({exc.strerror})") from None
    if len(data) > MAX_SPEC_BYTES:
        raise SpecError(s, None, f"the file is larger than {MAX_SPEC_BYTES} bytes; a spec is a short "
                        "TOML file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(s, None, f"not UTF-8 text (byte {exc.start}); expected a TOML file") from None
    return text, str(path), path.stem


def bundled_dir() -> Path:
    """Where the bundled specs are: the installed ``symbp.bundled``, or ``derivations/`` of a
    source checkout (editable installs)."""
    installed = Path(__file__).parent / "bundled"
    return installed if installed.is_dir() else Path(__file__).parent.parent / "derivations"


def bundled_spec_names() -> list[str]:
    return sorted(p.stem for p in bundled_dir().glob("*.toml"))


def bundled_spec_path(name: str) -> Path | None:
    p = bundled_dir() / f"{Path(name).stem}.toml"
    return p if p.is_file() and ("/" not in name and "\\" not in name) else None
