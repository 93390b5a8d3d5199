"""``symbp codegen SPEC``: print or write the generated Numba module of a spec."""

from __future__ import annotations

from ..codegen import DTYPES, generate_source
from ..derive import derive
from ..spec import load_spec
from .common import add_spec_argument, write_output

TARGETS = ("cpu", "parallel", "cuda")


def register(sub) -> None:
    p = sub.add_parser("codegen", help="print the generated Numba kernels of a spec",
                       description="Generate the Python/Numba module that computes SPEC's forward "
                                   "pass, loss, gradients and training step, and print it (or "
                                   "write it with -o). The module imports only math, numpy and numba "
                                   "(with llvmlite, Numba's own; numba-cuda for --target cuda).")
    add_spec_argument(p)
    p.add_argument("--target", choices=TARGETS, default="cpu",
                   help="cpu (@njit), parallel (@njit(parallel=True), prange) or cuda "
                        "(numba.cuda.jit kernels and a host wrapper class); default cpu")
    p.add_argument("--dtype", choices=DTYPES, default="float64", help="default float64")
    p.add_argument("--optimizer", choices=("sgd", "momentum", "adam"), default=None,
                   help="update rule of step() (default: the spec's [train] optimizer, else sgd)")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    p.set_defaults(func=run)


def run(args) -> int:
    d = derive(load_spec(args.spec), optimizer=args.optimizer)
    write_output(generate_source(d, args.target, args.dtype), args.output)
    return 0
