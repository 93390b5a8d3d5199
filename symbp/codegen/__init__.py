"""Code generation: Derivation -> Python/Numba source (see ``module.generate_source``).

Pipeline: :mod:`.lower` (Derivation -> kernel IR) -> emitters :mod:`.numba_cpu` /
:mod:`.numba_parallel` / :mod:`.numba_cuda` (IR -> code AST, scalar bodies through
:mod:`.printer`; the cuda module with its host class is assembled by :mod:`.cuda_module`) ->
:mod:`.code` (rendering) ; :mod:`.cache` stores the result on disk.
"""

DTYPES = ("float64", "float32")

__all__ = ["CodegenError", "DTYPES", "EMITTERS", "generate_source"]


def __getattr__(name):
    """Lazy: the generator imports SymPy, which loading a cached module (``.cache``) never needs."""
    if name in ("EMITTERS", "generate_source"):
        from . import module

        return getattr(module, name)
    if name == "CodegenError":
        from .printer import CodegenError

        return CodegenError
    raise AttributeError(f"module 'symbp.codegen' has no attribute {name!r}")
