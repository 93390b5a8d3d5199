"""``symbp verify``: check formulas (claims) against a derivation."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import SymbpError
from .common import write_output

MAX_DOC_BYTES = 5_000_000


def register(sub) -> None:
    p = sub.add_parser("verify", help="check formulas (LaTeX or plain) against a derivation",
                       description="Check claims: `symbp verify SPEC --claim '...'` (repeatable), "
                       "`symbp verify SPEC` (the spec's [[claims]]) or `symbp verify DOC.md "
                       "[--spec SPEC]` (every formula of a Markdown file that states a "
                       "derivative; a line `<!-- symbp: spec = NAME -->` sets the spec of the "
                       "formulas after it). A [[claims]] entry may state `expect = \"correct\"|\"wrong\"|"
                       "\"unverifiable\"`: a verdict that differs is flagged and fails the run, and "
                       "a claim expected wrong that is wrong does not. Exit 0: at least one claim "
                       "verified and every verified claim correct (or as expected); 1: some claim "
                       "wrong or not as expected; 2: bad input (a --claim that cannot be parsed, or "
                       "no formula stating a derivative); 3: nothing verified (every formula "
                       "unverifiable, e.g. a document without a spec).")
    p.add_argument("target", metavar="SPEC|DOC.md", help="a spec (.toml or bundled name) or a "
                   "Markdown document")
    p.add_argument("--claim", action="append", default=[], metavar="FORMULA",
                   help="a formula to check, e.g. 'dL/dz2[k] = yhat[k] - y[k]' (repeatable)")
    p.add_argument("--spec", metavar="SPEC", help="the setting for a document's formulas (before "
                   "any `<!-- symbp: spec = NAME -->` line)")
    p.add_argument("--layout", choices=("row", "column", "either"), default="either",
                   help="the layout the formulas are written in: row (z = a W + b, samples as "
                        "rows: symbp's, CS231n's), column (z = W a + b, samples as columns: "
                        "Nielsen's, Ng's) or either (default: a formula that holds in one of "
                        "them is correct, and the verdict says which); a document's "
                        "`<!-- symbp: layout = column -->` line sets it for what follows")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--seed", type=int, default=0, help="seed of the random points and shapes")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..spec import load_spec
    from ..verify import verify_claim, verify_document, verify_spec_claims
    from ..verify.report import exit_code, render_json, render_text

    target = args.target
    layout = None if args.layout == "either" else args.layout
    is_doc = target.lower().endswith((".md", ".markdown", ".txt"))
    bad = False
    if is_doc:
        path = Path(target)
        if not path.is_file():
            what = "a folder" if path.is_dir() else "no such file"
            raise SymbpError(f"{target}: {what}; expected a Markdown document")
        if path.stat().st_size > MAX_DOC_BYTES:
            raise SymbpError(f"{target}: larger than {MAX_DOC_BYTES} bytes")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SymbpError(f"{target}: cannot read the document ({exc})") from None
        spec = load_spec(args.spec) if args.spec else None
        verdicts = verify_document(text, spec, seed=args.seed, source=target,
                                   base_dir=path.parent, layout=layout)
        claims = [verify_claim(c, spec, seed=args.seed, layout=layout) for c in args.claim]
        bad = any(_cannot_parse(v) for v in claims)
        verdicts.extend(claims)
    else:
        spec = load_spec(target)
        if args.claim:
            verdicts = [verify_claim(c, spec, seed=args.seed, layout=layout) for c in args.claim]
            bad = any(_cannot_parse(v) for v in verdicts)
        else:
            verdicts = verify_spec_claims(spec, seed=args.seed, layout=layout)
            if not verdicts:
                raise SymbpError(f"{target}: the spec has no [[claims]]; pass --claim '...'")
    if args.format == "json":
        out = render_json(verdicts, target)
    else:
        out = render_text(verdicts)
    write_output(out, args.output)
    if bad:
        print("symbp verify: error: a --claim is not a formula symbp can read (its reason is "
              "above); exit status 2, bad input", file=sys.stderr)
    return exit_code(verdicts, bad)


def _cannot_parse(verdict) -> bool:
    """A claim given on the command line that is not a formula: bad input (exit 2)."""
    return verdict.verdict == "unverifiable" and verdict.reason.startswith("cannot parse")
