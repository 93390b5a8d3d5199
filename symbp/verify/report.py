"""Reports of verdicts: text for people, JSON for machines."""

from __future__ import annotations

import json

from .verdict import Verdict


#: Exit codes of ``symbp verify`` (see :func:`exit_code`).
EXIT_CORRECT, EXIT_WRONG, EXIT_BAD_INPUT, EXIT_NOTHING_VERIFIED = 0, 1, 2, 3


def exit_code(verdicts: list[Verdict], bad_input: bool = False) -> int:
    """The exit code of a run:

    - 0: no claim is wrong, and at least one was verified; every verified claim is correct or
      as its [[claims]] entry expects (unverifiable ones are listed in the report);
    - 1: a claim is wrong, or not as expected (a [[claims]] entry whose ``expect`` differs
      from its verdict);
    - 2: bad input: a claim given on the command line cannot be parsed (``bad_input``), or
      there is no formula stating a derivative at all (an empty document);
    - 3: nothing could be verified: every formula stating a derivative is unverifiable (no
      setting, unknown symbols), so nothing is known to be correct.
    """
    if any(v.unexpected for v in verdicts):
        return EXIT_WRONG
    if any(v.verdict == "wrong" and v.expected != "wrong" for v in verdicts):
        return EXIT_WRONG
    checked = [v for v in verdicts if v.verdict != "skipped"]
    if bad_input or not checked:
        return EXIT_BAD_INPUT
    if not any(v.verdict in ("correct", "wrong") or v.expected is not None for v in checked):
        return EXIT_NOTHING_VERIFIED
    return EXIT_CORRECT


def render_text(verdicts: list[Verdict], title: str = "") -> str:
    out = [title] if title else []
    skipped = [v for v in verdicts if v.verdict == "skipped"]
    for v in verdicts:
        if v.verdict == "skipped":
            continue
        where = f"line {v.line}: " if v.line is not None else ""
        out.append(f"{where}{v.text}")
        out.append(f"  verdict: {v.verdict.upper()}" + (f" ({v.reason})" if v.reason else ""))
        if v.expected is not None:
            out.append(f"  expected: {v.expected.upper()}" + (
                f"  <-- NOT AS EXPECTED (the spec's `expect` says {v.expected}, the check says "
                f"{v.verdict})" if v.unexpected else " (as expected)"))
        if v.verdict == "wrong":
            ce = v.counterexample or {}
            if ce.get("at"):
                at = ", ".join(f"{k} = {val}" for k, val in list(ce["at"].items())[:12])
                out.append(f"  counterexample: at {at}")
            if ce.get("expected"):
                out.append(f"    derived value: {ce['expected']}")
            if ce.get("claimed"):
                out.append(f"    claimed value: {ce['claimed']}")
            if v.diagnosis:
                out.append(f"  diagnosis: {', '.join(v.diagnosis)}" +
                           (f": {'; '.join(w for w in v.explanation if w)}" if v.explanation else ""))
            if v.correct:
                out.append(f"  correct: {v.correct}")
        out.append("")
    counts = {k: sum(v.verdict == k for v in verdicts) for k in ("correct", "wrong", "unverifiable")}
    out.append(f"{counts['correct']} correct, {counts['wrong']} wrong, {counts['unverifiable']} "
               f"unverifiable, {len(skipped)} skipped (no derivative)")
    if not counts["correct"] + counts["wrong"]:
        out.append("nothing was verified: " + ("no formula states a derivative" if not
                                               counts["unverifiable"] else
                                               "every formula is unverifiable (see the reasons)"))
    unexpected = [v for v in verdicts if v.unexpected]
    if unexpected:
        out.append(f"{len(unexpected)} not as expected: " + ", ".join(
            (f"line {v.line}" if v.line is not None else v.text[:40]) for v in unexpected[:20]))
    if skipped:
        shown = ", ".join(f"line {v.line}" if v.line is not None else
                          v.text if len(v.text) <= 30 else v.text[:29] + "…" for v in skipped[:20])
        out.append(f"skipped: {shown}" + (" ..." if len(skipped) > 20 else ""))
    return "\n".join(out) + "\n"


def render_json(verdicts: list[Verdict], source: str = "") -> str:
    counts = {k: sum(v.verdict == k for v in verdicts)
              for k in ("correct", "wrong", "unverifiable", "skipped")}
    counts["unexpected"] = sum(v.unexpected for v in verdicts)
    return json.dumps({"source": source, "counts": counts,
                       "claims": [v.to_dict() for v in verdicts]}, indent=2, default=str) + "\n"
