"""``symbp example SPEC``: a worked numeric example, every intermediate value exactly."""

from __future__ import annotations

from ..example import run_example
from .common import add_spec_argument, write_output


def register(sub) -> None:
    p = sub.add_parser("example", help="print a worked numeric example (forward, backward, update)",
                       description="Evaluate every equation of SPEC's derivation at the weights and "
                                   "inputs of its [example] table (or --values FILE), exactly: "
                                   "rationals stay rational, and decimals are shown beside them.")
    add_spec_argument(p)
    p.add_argument("--values", metavar="FILE",
                   help="a TOML file with x, y, lr, layout and W1, b1, ... (instead of [example])")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    p.set_defaults(func=run)


def run(args) -> int:
    write_output(run_example(args.spec, args.values), args.output)
    return 0
