"""``symbp gradcheck SPEC --against file.py:function``: check a hand-written backward pass."""

from __future__ import annotations

from .common import add_spec_argument, write_output


def register(sub) -> None:
    p = sub.add_parser("gradcheck", help="compare your NumPy backward function with the derivation",
                       description="Run your hand-written backward function on random data of "
                       "SPEC's sizes and compare its gradients, parameter by parameter, with the "
                       "derived ones. NOTE: this imports and runs the Python file you name (your "
                       "own code); do not point it at files you do not trust. Arguments are "
                       "matched by name (X, y, W1, b1, z1, a1, ...). Exit 0 all match, 1 some "
                       "differ, 2 bad input.")
    add_spec_argument(p)
    p.add_argument("--against", required=True, metavar="FILE.py:FUNCTION",
                   help="your backward function (it is imported and run)")
    p.add_argument("--samples", type=int, default=7, help="batch size of the random data (default 7)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", metavar="FILE")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..derive import derive
    from ..spec import load_spec
    from ..verify.gradcheck import gradcheck, load_function

    d = derive(load_spec(args.spec))
    fn, names = load_function(args.against)
    report = gradcheck(d, fn, names, n=args.samples, seed=args.seed)
    write_output(report.to_text(), args.output)
    return 0 if report.ok else 1
