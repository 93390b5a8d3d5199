"""The ``parallel`` emitter: the cpu target's serial loops, under ``@njit(parallel=True)``
where a function has a ``prange``.

Contract: the internal passes of the parallel module are the cpu target's, loop for loop (the
same printer, nodes and loop nests); the parallelism is in the public kernels, which run them on
blocks of batch rows, one block a thread (:mod:`symbp.codegen.parallel_module`).
"""

from __future__ import annotations

from .numba_cpu import CpuEmitter


class ParallelEmitter(CpuEmitter):
    """The cpu loops; the parallel decorator and ``prange`` import for the public kernels."""

    target = "parallel"
    decorator = ("@njit(cache=True, error_model='numpy', fastmath={'contract'}, parallel=True,\n"
                 "      no_cfunc_wrapper=True)")
    internal = ("@njit(cache=True, error_model='numpy', fastmath={'contract'}, parallel=True,\n"
                "      no_cpython_wrapper=True, no_cfunc_wrapper=True)")
    imports = ("import math", "", "import numpy as np", "from numba import njit, prange")
