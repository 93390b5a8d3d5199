"""Code generation: Derivation -> Python/Numba source (see ``module.generate_source``).

Pipeline: :mod:`.lower` (Derivation -> kernel IR) -> emitters :mod:`.numba_cpu` /
:mod:`.numba_parallel` / :mod:`.numba_cuda` (IR -> code AST, scalar bodies through
:mod:`.printer`; the cuda module with its host class is assembled by :mod:`.cuda_module`) ->
:mod:`.code` (rendering) ; :mod:`.cache` stores the result on disk.
"""

from .module import DTYPES, EMITTERS, generate_source
from .printer import CodegenError

__all__ = ["CodegenError", "DTYPES", "EMITTERS", "generate_source"]
