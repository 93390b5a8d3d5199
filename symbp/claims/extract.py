"""Finding the formulas of a Markdown document.

Contract: :func:`extract_formulas` returns every math span of a Markdown text, in order, with
the 1-based line where its content starts: display math ``$$...$$`` (may span lines) and
``\\[...\\]``, inline math ``$...$`` and ``\\(...\\)``. Escaped dollars (``\\$``), fenced code
blocks (```` ``` ```` / ``~~~``) and inline code spans are skipped. Nothing is parsed here;
feed ``Formula.text`` to :func:`symbp.claims.parse_claim`. A display formula that is an
``aligned`` / ``align`` / ``gathered`` / ``gather`` / ``split`` environment (as ``symbp derive
--format markdown`` prints) holds one formula per row: each row is a formula of its own, with
its line, and the alignment marks ``&`` are dropped.
"""

from __future__ import annotations

import bisect
import re

from .ast import Formula

_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})")
_CODE_SPAN = re.compile(r"(`+)(?!`)(.+?)(?<!`)\1(?!`)", re.S)


def _mask_code(text: str) -> str:
    """Replace fenced code blocks and inline code spans by spaces, keeping line breaks."""
    out, fence = [], None
    for line in text.splitlines(keepends=True):
        m = _FENCE.match(line)
        if fence is None and m:
            fence = m.group(1)
            out.append(_blank(line))
        elif fence is not None:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) and (
                    line.strip() == m.group(1)):
                fence = None
            out.append(_blank(line))
        else:
            out.append(line)
    masked = "".join(out)
    return _CODE_SPAN.sub(lambda m: _blank(m.group(0)), masked)


def _blank(s: str) -> str:
    return "".join(c if c == "\n" else " " for c in s)


def _escaped(text: str, i: int) -> bool:
    n = 0
    while i - 1 - n >= 0 and text[i - 1 - n] == "\\":
        n += 1
    return n % 2 == 1


def _find(text: str, closer: str, start: int, stop: int) -> int:
    j = text.find(closer, start, stop)
    while j != -1 and _escaped(text, j) and closer[0] != "\\":
        j = text.find(closer, j + 1, stop)
    return j


#: ``<!-- symbp: spec = NAME -->`` (a bundled spec name or a path): the setting of the formulas
#: that follow it, up to the next such marker.
_MARKER = r"<!--\s*symbp\s*:\s*{key}\s*=\s*(\S+?)\s*-->"


def extract_spec_markers(markdown_text: str, key: str = "spec") -> list[tuple[int, str]]:
    """``(line, value)`` for every ``<!-- symbp: spec = NAME -->`` (or another ``key``, such
    as ``layout``) outside code, in order."""
    text = _mask_code(markdown_text)
    pattern = re.compile(_MARKER.format(key=re.escape(key)))
    return [(text.count("\n", 0, m.start()) + 1, m.group(1)) for m in pattern.finditer(text)]


_ALIGNED = re.compile(r"\\begin\{(aligned|align\*?|gathered|gather\*?|split)\}(.*)"
                      r"\\end\{\1\}\Z", re.S)
_ENV = re.compile(r"\\(begin|end)\{[^}]*\}|\\\\|&")


def _aligned_rows(content: str):
    """The rows of a formula that is one alignment environment: ``(offset, row)`` pairs, the
    row stripped of its ``&`` marks (separators of nested matrices are kept); None when the
    formula is not such an environment."""
    m = _ALIGNED.match(content)
    if not m:
        return None
    body, base = m.group(2), m.start(2)
    rows, depth, start, parts = [], 0, 0, []
    for tok in _ENV.finditer(body):
        text = tok.group(0)
        if text.startswith("\\begin"):
            depth += 1
        elif text.startswith("\\end"):
            depth -= 1
        elif depth == 0:
            parts.append(body[start:tok.start()])
            start = tok.end()
            if text == "\\\\":
                rows.append((parts, tok.end()))
                parts = []
    parts.append(body[start:])
    rows.append((parts, len(body)))
    out, offset = [], 0
    for parts, end in rows:
        row = "".join(parts)
        if row.strip():
            out.append((base + offset + len(row) - len(row.lstrip()), " ".join(row.split())))
        offset = end
    return out


def extract_formulas(markdown_text: str) -> list[Formula]:
    """List the formulas of a Markdown text.

    Args:
        markdown_text: the document.

    Returns:
        ``Formula(line, text, display)`` for each math span, in document order; ``line`` is
        the 1-based line of the first non-blank character of the content, ``text`` the
        stripped content.

    Raises:
        Nothing: unclosed delimiters are left as prose.
    """
    text = _mask_code(markdown_text)
    starts = [0] + [m.end() for m in re.finditer(r"\n", text)]
    formulas: list[Formula] = []
    i, n = 0, len(text)

    def add(lo: int, hi: int, display: bool) -> None:
        raw = markdown_text[lo:hi]
        content = raw.strip()
        if not content:
            return
        first = lo + (len(raw) - len(raw.lstrip()))
        rows = _aligned_rows(content) if display else None
        if rows is None:
            formulas.append(Formula(bisect.bisect_right(starts, first), content, display))
            return
        for at, row in rows:
            formulas.append(Formula(bisect.bisect_right(starts, first + at), row, display))

    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n and text[i + 1] in "[(" and not _escaped(text, i):
            closer = "\\]" if text[i + 1] == "[" else "\\)"
            j = text.find(closer, i + 2)
            if j == -1:
                i += 2
                continue
            add(i + 2, j, text[i + 1] == "[")
            i = j + 2
        elif ch == "$" and not _escaped(text, i):
            if text.startswith("$$", i):
                j = _find(text, "$$", i + 2, n)
                if j == -1:
                    i += 2
                    continue
                add(i + 2, j, True)
                i = j + 2
                continue
            eol = text.find("\n", i)
            eol = n if eol == -1 else eol
            j = _find(text, "$", i + 1, eol)
            nxt = text[i + 1] if i + 1 < n else " "
            if j == -1 or nxt.isspace() or text[j - 1].isspace() or (
                    j + 1 < n and text[j + 1].isdigit()):
                i += 1
                continue
            add(i + 1, j, False)
            i = j + 1
        else:
            i += 1
    return formulas
