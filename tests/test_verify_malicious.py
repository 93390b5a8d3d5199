"""Hostile input: a clear error or unverifiable within a second, and nothing executed."""

import subprocess
import sys
import time

import pytest

from symbp.verify import verify_claim


def _cases(tmp_path):
    marker = tmp_path / "pwned"
    return marker, [
        f"__import__('os').system('touch {marker}')",
        f"dL/dz = __import__('os').system('touch {marker}')",
        "x" * 1_000_000,
        r"\frac{\partial L}{\partial z = {{{{",
        r"\frac{" * 300 + "1" + "}{2}" * 300,
        "dL/dz = " + "(" * 5000 + "1" + ")" * 5000,
        r"\frac{\partial L}{\partial w} = 10^{10^{10}}",
        "lambda: 0",
    ]


def test_each_hostile_claim_is_refused_quickly(tmp_path):
    marker, cases = _cases(tmp_path)
    for text in cases:
        t = time.monotonic()
        v = verify_claim(text, "seed000_sigmoid_mse")
        assert time.monotonic() - t < 1.0, text[:40]
        assert v.verdict in ("unverifiable", "skipped"), (text[:40], v.verdict)
    assert not marker.exists()


def test_cli_hostile_claim_exit_code(tmp_path):
    marker = tmp_path / "pwned"
    r = subprocess.run([sys.executable, "-m", "symbp", "verify", "seed000_sigmoid_mse", "--claim",
                        f"__import__('os').system('touch {marker}')"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2
    assert "UNVERIFIABLE" in r.stdout and "Traceback" not in r.stderr
    assert not marker.exists()
