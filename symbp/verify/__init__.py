"""Verify formulas (claims) and hand-written backward functions against symbp's derivations.

Public API::

    verify_claim(text, spec=None, *, given=None, notation=None, functions=None) -> Verdict
    verify_spec_claims(spec) -> list[Verdict]           the spec's [[claims]]
    verify_document(markdown_text, spec=None) -> list[Verdict]   one per formula (skipped too);
        <!-- symbp: spec = NAME --> lines switch the setting within the document
    gradcheck(spec, function) -> GradcheckReport         see symbp.verify.gradcheck
    Verdict

The spec tables this package owns: ``[[claims]]`` (``text``, optional ``expect``) and
``[notation]`` (aliases; see :mod:`symbp.verify.resolve`).
"""

from __future__ import annotations

from ..claims import extract_formulas, extract_spec_markers
from ..errors import SpecError
from ..spec import SECTION_VALIDATORS
from .check import verify_claim
from .resolve import validate_notation
from .verdict import Verdict

__all__ = ["Verdict", "verify_claim", "verify_document", "verify_spec_claims"]


def verify_spec_claims(spec, seed: int = 0, layout: str | None = None) -> list[Verdict]:
    """Check every ``[[claims]]`` entry of a spec; an entry's ``expect`` is copied into its
    verdict (``Verdict.expected``; ``Verdict.unexpected`` when they differ)."""
    out = []
    for i, entry in enumerate(spec.section("claims") or []):
        v = verify_claim(entry["text"], spec, seed=seed, layout=layout)
        v.expected = entry.get("expect")
        out.append(v)
    return out


def verify_document(markdown_text: str, spec=None, *, notation=None, seed: int = 0,
                    source: str = "<document>", base_dir=None,
                    layout: str | None = None) -> list[Verdict]:
    """Check every formula of a Markdown document; formulas stating no derivative are skipped.

    ``spec`` is the setting of every formula, unless a ``<!-- symbp: spec = NAME -->`` line
    (a bundled spec name, or a path relative to ``base_dir``) sets it for the formulas that
    follow, up to the next marker: one document may discuss several networks. A marker naming
    no spec raises :class:`~symbp.errors.SpecError` with its line in ``source``.
    ``layout`` (see :func:`verify_claim`) is the document's layout, unless a
    ``<!-- symbp: layout = row -->`` (or ``column``, or ``either``) line sets it for the
    formulas that follow.
    """
    from pathlib import Path

    from ..spec import load_spec

    markers, loaded = extract_spec_markers(markdown_text), {}
    layouts = extract_spec_markers(markdown_text, "layout")
    for at, value in layouts:
        if value not in ("row", "column", "either"):
            raise SpecError(f"{source}, line {at}", "symbp: layout",
                            f"{value!r} is not a layout; expected row (z = a W + b, samples as "
                            f"rows), column (z = W a + b, samples as columns) or either")

    def layout_at(line: int):
        value = next((v for at, v in reversed(layouts) if at <= line), layout)
        return None if value == "either" else value

    def setting(line: int):
        name = next((m for at, m in reversed(markers) if at <= line), None)
        if name is None:
            return spec
        if name not in loaded:
            path = Path(base_dir or ".") / name
            try:
                loaded[name] = load_spec(path if path.suffix == ".toml" else name)
            except SpecError as exc:
                at = next(at for at, m in markers if m == name)
                raise SpecError(f"{source}, line {at}", "symbp: spec",
                                f"{name!r} does not load ({exc})") from None
        return loaded[name]

    out = []
    for f in extract_formulas(markdown_text):
        if not any(r in f.text for r in ("=", "\\leftarrow", "\\gets", "\\approx")):
            out.append(Verdict(f.text, "skipped", "states no relation", line=f.line))
        else:
            out.append(verify_claim(f.text, setting(f.line), notation=notation, seed=seed,
                                    line=f.line, layout=layout_at(f.line)))
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
