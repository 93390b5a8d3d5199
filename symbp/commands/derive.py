"""``symbp derive SPEC``: print the derivation of a spec."""

from __future__ import annotations

from ..derive import derive
from ..errors import SymbpError
from ..spec import load_spec
from .common import add_spec_argument, write_output

FORMATS = ("text", "latex", "markdown", "json", "mermaid")


def register(sub) -> None:
    p = sub.add_parser("derive", help="derive and print the gradients of a spec",
                       description="Derive every gradient of SPEC symbolically and print the "
                                   "derivation: forward pass, loss, backward pass, update.")
    add_spec_argument(p)
    p.add_argument("--format", choices=FORMATS, default="text", help="output format (default text)")
    p.add_argument("--form", choices=("index", "matrix", "both"), default=None,
                   help="index form (δ1[n,j] = ...), matrix form (δ1 = (δ2 W2ᵀ) ⊙ ...) or both "
                        "(the default; text, latex and markdown: json always has both)")
    p.add_argument("--optimizer", choices=("sgd", "momentum", "adam"), default=None,
                   help="update rule to derive (default: the spec's [train] optimizer, else sgd)")
    p.add_argument("--standalone", action="store_true",
                   help="with --format latex: a complete LaTeX document")
    p.add_argument("--width", type=int, default=None,
                   help="with --format text: width in columns (default 80)")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    p.set_defaults(func=run)


#: options that only some formats use: option -> (the formats, what the others do instead)
ONLY_FOR = {"form": (("text", "latex", "markdown"), "json holds both forms, mermaid draws the graph"),
            "standalone": (("latex",), "it makes a complete LaTeX document"),
            "width": (("text",), "it wraps the text form")}


def run(args) -> int:
    if args.width is not None and args.width < 20:
        raise SymbpError(f"--width {args.width}: expected at least 20 columns")
    for option, (formats, why) in ONLY_FOR.items():
        if getattr(args, option) not in (None, False, "both") and args.format not in formats:
            raise SymbpError(f"--{option} does nothing with --format {args.format} ({why}); "
                             f"it applies to --format {' or '.join(formats)}")
    args.form = args.form or "both"  # (--form both is allowed everywhere: json holds both)
    d = derive(load_spec(args.spec), optimizer=args.optimizer)
    if args.format == "text":
        text = d.to_text(form=args.form, width=args.width or 80)
    elif args.format == "latex":
        text = d.to_latex(form=args.form, standalone=args.standalone)
    elif args.format == "markdown":
        text = d.to_markdown(form=args.form)
    elif args.format == "json":
        text = d.to_json()
    else:
        text = "```mermaid\n" + d.to_mermaid() + "```\n"
    write_output(text, args.output)
    return 0
