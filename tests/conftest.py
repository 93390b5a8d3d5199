"""Shared test configuration: compiled kernels go to one temporary cache for the session."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def symbp_cache_dir(tmp_path_factory):
    """SYMBP_CACHE_DIR points at a session temporary folder (generated modules and Numba's
    compiled code), so tests never touch ~/.cache/symbp and share compiled models."""
    old = os.environ.get("SYMBP_CACHE_DIR")
    path = tmp_path_factory.mktemp("symbp-cache")
    os.environ["SYMBP_CACHE_DIR"] = str(path)
    yield path
    if old is None:
        os.environ.pop("SYMBP_CACHE_DIR", None)
    else:
        os.environ["SYMBP_CACHE_DIR"] = old
