"""The on-disk cache of generated modules and of Numba's compiled code.

Contract: an entry is a folder ``<cache dir>/<key>/`` holding the generated module
``<module name>.py``, Numba's cache files (``__pycache__/``, written by ``cache=True``) and a
manifest ``manifest.json`` with the SHA-256 of every file. The key hashes everything that
changes the code: the spec's content and name, the symbp version, the package's source, the
activations and losses the user registered (:func:`symbp.rules.user_rules_fingerprint`), the
target, the dtype, the optimizer and the Numba version.

:func:`lookup` verifies every file of the manifest; a missing, corrupted or truncated file
removes the whole entry (it is regenerated, never loaded). :func:`seal` rewrites the manifest
after Numba has added compiled code.

Several processes may share the folder: entries appear and disappear only by renaming a folder
(never half-written, never deleted in place under a process that uses them), and verifying,
storing and sealing hold an exclusive lock on ``<cache dir>/.lock`` (``fcntl.flock``; where
there is none, the renames alone keep entries whole).

The cache folder: ``$SYMBP_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/symbp`` or
``~/.cache/symbp`` on Linux, ``~/Library/Caches/symbp`` on macOS,
``%LOCALAPPDATA%\\symbp\\Cache`` on Windows.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

MANIFEST = "manifest.json"

#: Counters for tests and benchmarks: hits, misses, rebuilt (corrupted entries removed).
STATS = {"hits": 0, "misses": 0, "rebuilt": 0}


def cache_dir() -> Path:
    """The cache folder (see the module docstring); not created here."""
    env = os.environ.get("SYMBP_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "symbp"
    if os.name == "nt":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "symbp" / "Cache"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "symbp"


def cache_key(raw: dict, name: str, target: str, dtype: str, optimizer: str) -> str:
    """SHA-256 over everything that changes the generated code."""
    import numba

    from .. import __version__

    # rules can only have been registered once symbp.rules is loaded (a warm start never loads it)
    rules = sys.modules.get(f"{__package__.rpartition('.')[0]}.rules")
    payload = json.dumps({"spec": raw, "name": name, "symbp": __version__,
                          "codegen": codegen_fingerprint(), "target": target, "dtype": dtype,
                          "optimizer": optimizer, "numba": numba.__version__,
                          "rules": rules.user_rules_fingerprint() if rules else ""},
                         sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


_FINGERPRINT: list[str] = []


def codegen_fingerprint() -> str:
    """SHA-256 of the whole symbp package's source (the derivation, the rules and the code
    generator all shape the generated code): a development checkout that changes any of them
    never reuses stale entries under the same version number (~2 ms, once per process)."""
    if not _FINGERPRINT:
        package = Path(__file__).parent.parent
        h = hashlib.sha256()
        for path in sorted(package.rglob("*.py")):
            h.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
        _FINGERPRINT.append(h.hexdigest())
    return _FINGERPRINT[0]


def module_name(spec_name: str, key: str) -> str:
    """A valid, unique module name: ``symbp_<spec name>_<key prefix>``."""
    safe = "".join(ch if ch.isalnum() else "_" for ch in spec_name)[:40]
    return f"symbp_{safe}_{key[:16]}"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _files(entry: Path) -> list[Path]:
    """The entry's files, less the manifest and files still being written (ours end in
    ``.tmp``; Numba writes ``<name>.tmp.<id>`` and renames it into place)."""
    return sorted(p for p in entry.rglob("*") if p.is_file() and p.name != MANIFEST
                  and not p.name.endswith(".tmp") and ".tmp." not in p.name)


@contextmanager
def _locked(root: Path):
    """Hold the cache folder's lock (other processes wait); a folder that cannot hold a lock
    file (read-only) or a platform without ``fcntl`` goes on unlocked."""
    try:
        import fcntl

        fh = open(root / ".lock", "a")
    except (ImportError, OSError):
        yield
        return
    with fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _discard(entry: Path) -> None:
    """Remove an entry: renamed out of its key first (atomic), then deleted."""
    trash = entry.with_name(f".{entry.name[:16]}.{os.getpid()}.{id(entry):x}.trash")
    try:
        os.rename(entry, trash)
    except OSError:
        trash = entry
    shutil.rmtree(trash, ignore_errors=True)


def _verify(entry: Path) -> Path:
    """The module file of a whole entry; raises OSError, ValueError ... for any defect."""
    manifest = json.loads((entry / MANIFEST).read_text())
    module = entry / manifest["module"]
    for rel, digest in manifest["files"].items():
        if _sha(entry / rel) != digest:
            raise ValueError(rel)
    if module.relative_to(entry).as_posix() not in manifest["files"]:
        raise ValueError("module not in manifest")
    # Numba files written after the last seal are unverified: drop them, Numba rewrites them
    for path in _files(entry):
        if path.relative_to(entry).as_posix() not in manifest["files"]:
            path.unlink(missing_ok=True)
    return module


def lookup(key: str) -> Path | None:
    """The module file of a valid entry, or None (a corrupted entry is removed)."""
    entry = cache_dir() / key
    if not entry.is_dir():
        STATS["misses"] += 1
        return None
    with _locked(entry.parent):
        try:
            module = _verify(entry)
        except (OSError, ValueError, KeyError, TypeError, json.JSONDecodeError):
            _discard(entry)
            STATS["rebuilt"] += 1
            STATS["misses"] += 1
            return None
    STATS["hits"] += 1
    return module


def store(key: str, name: str, source: str) -> Path:
    """Write a new entry atomically (a temporary folder renamed into place); returns the module.

    When another process stored the same key meanwhile, its entry is used and this one dropped.

    Raises:
        OSError: the cache folder cannot be written.
    """
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    entry = root / key
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{key[:16]}.", suffix=".tmp"))
    try:
        (tmp / f"{name}.py").write_text(source, encoding="utf-8")
        _write_manifest(tmp, f"{name}.py")
        with _locked(root):
            for _ in range(2):
                try:
                    os.rename(tmp, entry)
                    break
                except OSError:  # the key exists: a whole entry, or a stray leftover
                    try:
                        _verify(entry)
                        break  # another process stored it first: use theirs
                    except (OSError, ValueError, KeyError, TypeError, json.JSONDecodeError):
                        _discard(entry)
            else:
                raise OSError(f"cannot store the cache entry {entry}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # gone already when it was renamed into place
    return entry / f"{name}.py"


def seal(module: Path) -> None:
    """Record the current files of the entry of ``module`` (after Numba wrote compiled code).

    Never fails: an entry that cannot be sealed keeps its last manifest, and the files Numba
    added are dropped by the next :func:`lookup` (and compiled again)."""
    try:
        with _locked(module.parent.parent):
            if (module.parent / MANIFEST).is_file():  # not discarded meanwhile
                _write_manifest(module.parent, module.name)
    except OSError:
        pass


def _write_manifest(entry: Path, module: str) -> None:
    files = {}
    for p in _files(entry):
        try:
            files[p.relative_to(entry).as_posix()] = _sha(p)
        except FileNotFoundError:  # replaced or removed by Numba meanwhile
            continue
    data = json.dumps({"module": module, "files": files}, indent=1, sort_keys=True)
    fd, tmp = tempfile.mkstemp(dir=entry, prefix=".manifest.", suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        fh.write(data)
    os.replace(tmp, entry / MANIFEST)
