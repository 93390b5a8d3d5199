"""Verify formulas (claims) and hand-written backward functions against symbp's derivations.

Public API::

    verify_claim(text, spec=None, *, given=None, notation=None, functions=None) -> Verdict
    verify_spec_claims(spec) -> list[Verdict]           the spec's [[claims]]
    verify_document(markdown_text, spec=None) -> list[Verdict]   one per formula (skipped too)
    gradcheck(spec, function) -> GradcheckReport         see symbp.verify.gradcheck
    Verdict

The spec tables this package owns: ``[[claims]]`` (``text``, optional ``expect``) and
``[notation]`` (aliases; see :mod:`symbp.verify.resolve`).
"""

from __future__ import annotations

from ..claims import extract_formulas
from ..errors import SpecError
from ..spec import SECTION_VALIDATORS
from .check import verify_claim
from .resolve import validate_notation
from .verdict import Verdict

__all__ = ["Verdict", "verify_claim", "verify_document", "verify_spec_claims"]


def verify_spec_claims(spec, seed: int = 0) -> list[Verdict]:
    """Check every ``[[claims]]`` entry of a spec; an entry's ``expect`` is copied into its
    verdict (``Verdict.expected``; ``Verdict.unexpected`` when they differ)."""
    out = []
    for i, entry in enumerate(spec.section("claims") or []):
        v = verify_claim(entry["text"], spec, seed=seed)
        v.expected = entry.get("expect")
        out.append(v)
    return out


def verify_document(markdown_text: str, spec=None, *, notation=None, seed: int = 0) -> list[Verdict]:
    """Check every formula of a Markdown document; formulas stating no derivative are skipped."""
    out = []
    for f in extract_formulas(markdown_text):
        if not any(r in f.text for r in ("=", "\\leftarrow", "\\gets", "\\approx")):
            out.append(Verdict(f.text, "skipped", "states no relation", line=f.line))
        else:
            out.append(verify_claim(f.text, spec, notation=notation, seed=seed, line=f.line))
    return out


def _validate_claims(value, source: str) -> None:
    if not isinstance(value, list):
        raise SpecError(source, "claims", "expected an array of tables: [[claims]] text = \"...\"")
    for i, entry in enumerate(value):
        key = f"claims[{i}]"
        if not isinstance(entry, dict):
            raise SpecError(source, key, "expected a table with a `text` key")
        for k in entry:
            if k not in ("text", "expect", "note"):
                raise SpecError(source, f"{key}.{k}", "unknown key; expected text, expect or note")
        if not isinstance(entry.get("text"), str) or not entry["text"].strip():
            raise SpecError(source, f"{key}.text", "missing; expected the formula as a string")
        if "expect" in entry and entry["expect"] not in ("correct", "wrong", "unverifiable"):
            raise SpecError(source, f"{key}.expect", "expected correct, wrong or unverifiable")


SECTION_VALIDATORS["claims"] = _validate_claims
SECTION_VALIDATORS["notation"] = validate_notation
