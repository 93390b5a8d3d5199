"""The on-disk cache: folder convention, warm starts without SymPy or Numba compilation, and
corrupted or truncated entries rebuilt, never loaded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from symbp.codegen import cache
from symbp.runtime import compile_spec

try:
    from . import codegen_util as cu
except ImportError:
    import codegen_util as cu

SPEC = cu.spec_text((2, 3, 1), ("tanh", "sigmoid"), name="cache_probe")

CHILD = r'''
import json, sys
import numpy as np
from symbp.runtime import compile_spec
from symbp.codegen import cache
m = compile_spec(sys.argv[1])
p = m.init_params(0)
L, g = m.loss_and_grad(p, np.ones((4, 2)), np.zeros((4, 1)))
fn = m.module.train_epochs  # the compiled entry of loss_and_grad
derive = sys.modules.get("symbp.derive")
print(json.dumps({"derive": derive.DERIVE_CALLS[0] if derive else 0,
                  "misses": sum(fn.stats.cache_misses.values()),
                  "hits": sum(fn.stats.cache_hits.values()), "L": L, "stats": cache.STATS,
                  "imported": [k for k in ("sympy", "symbp.derive", "scipy.linalg")
                               if k in sys.modules]}))
'''


def _child(cache_dir: Path) -> dict:
    env = dict(os.environ, SYMBP_CACHE_DIR=str(cache_dir))
    out = subprocess.run([sys.executable, "-c", CHILD, SPEC], env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_cache_dir_convention(monkeypatch, tmp_path):
    monkeypatch.setenv("SYMBP_CACHE_DIR", str(tmp_path / "x"))
    assert cache.cache_dir() == tmp_path / "x"
    monkeypatch.delenv("SYMBP_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if sys.platform.startswith("linux"):
        assert cache.cache_dir() == tmp_path / "xdg" / "symbp"
        monkeypatch.delenv("XDG_CACHE_HOME")
        assert cache.cache_dir() == Path.home() / ".cache" / "symbp"


def test_key_covers_target_dtype_and_spec():
    keys = {cache.cache_key({"a": 1}, "s", t, d, "sgd") for t in ("cpu", "parallel")
            for d in ("float64", "float32")}
    keys.add(cache.cache_key({"a": 2}, "s", "cpu", "float64", "sgd"))
    keys.add(cache.cache_key({"a": 1}, "s", "cpu", "float64", "adam"))
    assert len(keys) == 6


@pytest.mark.slow
def test_warm_start_does_no_sympy_and_no_numba_compilation(tmp_path):
    cold = _child(tmp_path)
    assert cold["derive"] == 1 and cold["misses"] == 1
    warm = _child(tmp_path)
    assert warm["derive"] == 0, "a warm start must not derive"
    # nor import what only deriving needs (SymPy: 0.4 s), nor scipy.linalg's package init
    # (0.25 s; Numba needs only its cython_blas module, loaded on its own)
    assert warm["imported"] == [], warm["imported"]
    assert warm["misses"] == 0 and warm["hits"] == 1, "a warm start must not compile"
    assert warm["L"] == cold["L"]


def _entry(tmp_path) -> Path:
    (entry,) = [p for p in tmp_path.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return entry


@pytest.mark.parametrize("victim", ["module", "numba"])
def test_corrupted_entry_is_rebuilt(tmp_path, monkeypatch, victim):
    monkeypatch.setenv("SYMBP_CACHE_DIR", str(tmp_path))
    m = compile_spec(SPEC)
    m.loss(m.init_params(0), [[1.0, 2.0]], [[0.5]])  # Numba writes its files; the entry is sealed
    entry = _entry(tmp_path)
    if victim == "module":
        path = entry / next(p for p in os.listdir(entry) if p.endswith(".py"))
        path.write_text(path.read_text()[:200])  # truncated
    else:
        path = next(p for p in (entry / "__pycache__").iterdir() if p.suffix == ".nbc")
        path.write_bytes(b"garbage" + path.read_bytes()[7:])
    key = entry.name
    rebuilt = cache.STATS["rebuilt"]
    assert cache.lookup(key) is None
    assert cache.STATS["rebuilt"] == rebuilt + 1 and not entry.exists()
    # regenerated, stored anew and loaded by a new process (this one still holds the old module)
    fresh = _child(tmp_path)
    assert fresh["stats"]["rebuilt"] == 0
    cache._verify(_entry(tmp_path))  # whole (its key may differ from this process's: tests
    #                                   here may have registered rules, which the key covers)
    assert fresh["L"] == pytest.approx(m.loss(m.init_params(0), np.ones((4, 2)), np.zeros((4, 1))))


def test_fingerprint_covers_the_derivation_rules_and_codegen(monkeypatch):
    # any source that shapes the generated code changes the key: derive, rules, codegen
    from pathlib import Path

    from symbp.codegen import cache as cache_mod

    read = []
    original = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: read.append(self.as_posix()) or
                        original(self))
    monkeypatch.setattr(cache_mod, "_FINGERPRINT", [])
    cache_mod.codegen_fingerprint()
    for part in ("symbp/derive.py", "symbp/rules/activations.py", "symbp/codegen/printer.py",
                 "symbp/graph.py"):
        assert any(path.endswith(part) for path in read), part


def test_key_covers_user_registered_rules():
    # a rule registered (or replaced) by the user shapes the code: editing it between runs must
    # not serve the kernels of its old definition
    import sympy as sp

    from symbp.extend import X, register_activation
    from symbp.rules import ACTIVATIONS

    def key():
        return cache.cache_key({"a": 1}, "s", "cpu", "float64", "sgd")

    before = key()
    try:
        @register_activation("cache_probe_act", "p", "p")
        def first():
            return X * sp.tanh(X), None

        one = key()

        @register_activation("cache_probe_act", "p", "p")
        def second():
            return X * sp.tanh(2 * X), None

        two = key()
    finally:
        ACTIVATIONS.pop("cache_probe_act", None)
    assert len({before, one, two}) == 3
    assert key() == before


def test_an_unwritable_cache_folder_warns_and_compiles_without_it(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    env = dict(os.environ, SYMBP_CACHE_DIR=str(blocker / "cache"), TMPDIR=str(tmp_path))
    code = ("import warnings, numpy as np\n"
            "from symbp.runtime import compile_spec\n"
            "with warnings.catch_warnings(record=True) as w:\n"
            "    warnings.simplefilter('always')\n"
            "    m = compile_spec(__import__('sys').argv[1])\n"
            "print([type(x.message).__name__ for x in w], m.path)\n"
            "print(m.loss(m.init_params(0), np.ones((4, 2)), np.zeros((4, 1))))\n")
    out = subprocess.run([sys.executable, "-c", code, SPEC], env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "['CacheWarning'] None"
    assert np.isfinite(float(lines[1]))
    # the module's temporary folder is removed when the process exits
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("symbp-")]


def test_store_keeps_an_entry_another_process_stored_first(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMBP_CACHE_DIR", str(tmp_path))
    first = cache.store("k" * 64, "mod", "X = 1\n")
    second = cache.store("k" * 64, "mod", "X = 2\n")  # lost the race: theirs is kept
    assert first == second and first.read_text() == "X = 1\n"
    assert cache.lookup("k" * 64) == first
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", "k" * 64]  # no temp folder


def test_store_replaces_a_leftover_folder(tmp_path, monkeypatch):
    # a process still running from a discarded entry can make Numba re-create its __pycache__
    monkeypatch.setenv("SYMBP_CACHE_DIR", str(tmp_path))
    (tmp_path / ("k" * 64) / "__pycache__").mkdir(parents=True)
    path = cache.store("k" * 64, "mod", "X = 1\n")
    assert path.read_text() == "X = 1\n" and cache.lookup("k" * 64) == path


def test_files_numba_is_still_writing_are_neither_sealed_nor_deleted(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMBP_CACHE_DIR", str(tmp_path))
    path = cache.store("k" * 64, "mod", "X = 1\n")
    partial = path.parent / "__pycache__" / "mod.f-1.py312.nbi.tmp.4f2a"  # Numba's temp name
    partial.parent.mkdir()
    partial.write_bytes(b"half")
    cache.seal(path)
    assert "tmp" not in (path.parent / cache.MANIFEST).read_text()
    assert cache.lookup("k" * 64) == path and partial.exists()


@pytest.mark.slow
def test_processes_sharing_a_cold_cache(tmp_path):
    # three processes compile the same spec into one empty cache folder at the same time
    env = dict(os.environ, SYMBP_CACHE_DIR=str(tmp_path))
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, SPEC], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(3)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outs]
    losses = {json.loads(out.strip().splitlines()[-1])["L"] for out, _ in outs}
    assert len(losses) == 1
    entries = [p for p in tmp_path.iterdir() if not p.name.startswith(".")]
    assert len(entries) == 1 and not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    warm = _child(tmp_path)  # the entry they left is whole: loaded, nothing compiled
    assert warm["misses"] == 0 and warm["stats"]["rebuilt"] == 0 and warm["L"] in losses


TRAIN_CHILD = r'''
import hashlib, sys
import numpy as np
from symbp.runtime import compile_spec
spec = """[model]
inputs = 5
layers = [ { units = 7, activation = "tanh" }, { units = 3, activation = "softmax" } ]
[loss]
kind = "cross_entropy"
reduction = "mean"
l2 = 0.001
"""
rng = np.random.default_rng(0)
X, Y = rng.standard_normal((40, 5)), np.eye(3)[rng.integers(0, 3, 40)]
m = compile_spec(spec, target=sys.argv[1], dtype="float64", optimizer="adam")
p = m.init_params(seed=0)
m.train_epochs(p, m.init_state(), X, Y, lr=0.05, batch_size=16, n_epochs=3, seed=0)
print(hashlib.sha256(b"".join(p[k].tobytes() for k in m.param_names)).hexdigest())
'''


@pytest.mark.slow
@pytest.mark.parametrize("target", ["cpu", "parallel"])
def test_a_compiling_run_and_a_cache_loading_run_train_to_the_same_bits(tmp_path, target):
    """Training is bit-reproducible across processes whether the kernels were compiled afresh
    or loaded from the cache (cpu, and parallel where no layer is big enough for blocked updates). Adam's update was a function of its own that a fresh
    process compiled, and called, apart from the copy linked into train_epochs' cached code;
    the two copies fused multiply-adds differently (the second moment differed in the last
    bit from the second step on)."""
    env = dict(os.environ, SYMBP_CACHE_DIR=str(tmp_path / "cache"))
    runs = [subprocess.run([sys.executable, "-c", TRAIN_CHILD, target], env=env, capture_output=True,
                           text=True, timeout=300) for _ in range(2)]
    assert all(r.returncode == 0 for r in runs), [r.stderr for r in runs]
    cold, warm = (r.stdout.strip().splitlines()[-1] for r in runs)
    assert cold == warm
