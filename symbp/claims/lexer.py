"""Tokenizer for claims written in a LaTeX subset or in plain text.

Contract: :func:`tokenize` turns a claim into a list of :class:`Token`, never executing anything.
It enforces the size limits (``MAX_LENGTH`` characters, ``MAX_TOKENS`` tokens, ``MAX_DEPTH``
nested brackets / braces / environments), checks that brackets and ``\\begin``/``\\end`` pairs
balance, and drops layout-only input (``\\,`` ``\\;`` ``\\quad`` ``\\left`` ``\\bigl`` ...).
Every problem is a :class:`~symbp.claims.ast.ClaimParseError` with the character position.

Token kinds:
    num    a number (``2``, ``0.25``, ``1e-3``)
    name   an identifier (``z``, ``yhat``, ``dz2``; ``\\text{ReLU}`` and ``\\mathrm{d}`` too)
    cmd    a LaTeX command, text without the backslash (``frac``, ``sigma``, ``partial``)
    op     ``+ - * / ^ _ ( ) [ ] { } , = := <- <= >= ' & @ ** .T < >``
    text   the content of ``\\text{...}`` that is prose, not a name (``if``, ``(for ReLU)``)
    begin / endenv   ``\\begin{bmatrix}`` / ``\\end{bmatrix}``; text is the environment name
    rowsep ``\\\\``
    end    end of input
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .ast import ClaimParseError

MAX_LENGTH = 20_000
MAX_TOKENS = 5_000
MAX_DEPTH = 64

#: Commands that only change layout or size; they are dropped.
SKIPPED_COMMANDS = frozenset({
    "quad", "qquad", "left", "right", "big", "Big", "bigg", "Bigg", "bigl", "bigr", "Bigl",
    "Bigr", "biggl", "biggr", "Biggl", "Biggr", "middle", "displaystyle", "textstyle", "limits",
    "nolimits", "mathbf", "boldsymbol", "bm", "vec", "mathit", "mathsf", "mathnormal",
})
#: Commands whose braced argument is raw text: a name when it is one, else prose.
TEXT_COMMANDS = frozenset({"text", "mathrm", "operatorname", "textrm", "textit", "rm", "mbox"})
ENVIRONMENTS = frozenset({"bmatrix", "pmatrix", "matrix", "Bmatrix", "cases"})
#: Words inside \text{...} that are prose even though they look like names.
PROSE_WORDS = frozenset({"if", "otherwise", "for", "and", "else", "when", "where", "or"})
SPACING = frozenset(",;:! ")
UNICODE = {
    "\u2202": ("cmd", "partial"), "\u2211": ("cmd", "sum"), "\u03c3": ("cmd", "sigma"),
    "\u00b7": ("cmd", "cdot"), "\u2299": ("cmd", "odot"), "\u00d7": ("cmd", "times"),
    "\u2212": ("op", "-"), "\u2190": ("cmd", "leftarrow"), "\u2264": ("cmd", "leq"),
    "\u2265": ("cmd", "geq"), "\u03b4": ("cmd", "delta"), "\u03b1": ("cmd", "alpha"),
    "\u03b7": ("cmd", "eta"), "\u03bb": ("cmd", "lambda"), "\u2207": ("cmd", "nabla"),
    "\u2218": ("cmd", "circ"),
}
_NUMBER = re.compile(r"(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+(?![A-Za-z]))?")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_COMMAND = re.compile(r"[A-Za-z]+")
_IDENT = re.compile(r"[A-Za-z][A-Za-z0-9]*\Z")
_OPS = (":=", "<-", "<=", ">=", "**", "+", "-", "*", "/", "^", "_", "(", ")", "[", "]", "{",
        "}", ",", "=", "'", "&", "@", "<", ">", "|")
_OPEN = {"(": ")", "[": "]", "{": "}"}


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    pos: int
    space_before: bool = False


def _fail(text: str, pos: int, problem: str, expected: str = "") -> ClaimParseError:
    return ClaimParseError(text, pos, problem, expected)


def _braced(text: str, pos: int, what: str) -> tuple[str, int]:
    """Read ``{...}`` starting at ``pos`` (spaces allowed before it); return content and end."""
    while pos < len(text) and text[pos] == " ":
        pos += 1
    if pos >= len(text) or text[pos] != "{":
        raise _fail(text, pos, f"missing braces after {what}", "'{'")
    depth, start = 0, pos
    while pos < len(text):
        if text[pos] == "{":
            depth += 1
            if depth > MAX_DEPTH:
                raise _fail(text, pos, f"braces nested more than {MAX_DEPTH} levels deep",
                            "fewer nested braces")
        elif text[pos] == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1:pos], pos + 1
        pos += 1
    raise _fail(text, start, f"unbalanced braces after {what}", "a closing '}'")


def tokenize(text: str) -> list[Token]:
    """Split a claim into tokens, enforcing the size limits and bracket balance.

    Args:
        text: the claim, LaTeX subset or plain text.

    Returns:
        The tokens, ending with a token of kind ``end``.

    Raises:
        ClaimParseError: on an unexpected character, an unknown environment, unbalanced
            brackets or environments, or input over the limits.
    """
    if not isinstance(text, str):
        raise ClaimParseError(repr(text)[:60], None, "a claim must be a string")
    if len(text) > MAX_LENGTH:
        raise _fail(text, MAX_LENGTH, f"the formula is longer than {MAX_LENGTH} characters",
                    "a single formula")
    tokens: list[Token] = []
    stack: list[tuple[str, int]] = []  # open brackets / environments: (closer, pos)
    pos, n, space = 0, len(text), False

    def add(kind: str, tok: str, at: int) -> None:
        nonlocal space
        if len(tokens) >= MAX_TOKENS:
            raise _fail(text, at, f"the formula has more than {MAX_TOKENS} tokens",
                        "a shorter formula")
        tokens.append(Token(kind, tok, at, space))
        space = False

    def push(closer: str, at: int) -> None:
        stack.append((closer, at))
        if len(stack) > MAX_DEPTH:
            raise _fail(text, at, f"brackets nested more than {MAX_DEPTH} levels deep",
                        "fewer nested brackets")

    def pop(closer: str, at: int) -> None:
        if not stack:
            raise _fail(text, at, f"unbalanced {closer!r}: nothing is open here",
                        "an expression")
        want, opened = stack.pop()
        if want != closer:
            raise _fail(text, at, f"{closer!r} closes the bracket opened at position {opened}",
                        repr(want))

    while pos < n:
        ch = text[pos]
        if ch in " \t\r\n~":
            space = True
            pos += 1
            continue
        if ch == "\\":
            nxt = text[pos + 1] if pos + 1 < n else ""
            if nxt == "\\":
                add("rowsep", "\\\\", pos)
                pos += 2
                continue
            if nxt in SPACING and nxt:
                space = True
                pos += 2
                continue
            m = _COMMAND.match(text, pos + 1)
            if not m:
                raise _fail(text, pos, f"unsupported command '\\{nxt}'",
                            "a letter command such as \\frac or \\sigma")
            name, end = m.group(), m.end()
            if name in SKIPPED_COMMANDS:
                if name in ("left", "right", "middle") and end < n and text[end] in ".|":
                    end += 1
                space = True
                pos = end
                continue
            if name in TEXT_COMMANDS:
                content, end = _braced(text, end, "\\" + name)
                if _IDENT.match(content) and content not in PROSE_WORDS:
                    add("name", content, pos)
                elif content.strip():
                    add("text", content.strip(), pos)
                pos = end
                continue
            if name in ("begin", "end"):
                env, end = _braced(text, end, "\\" + name)
                if env not in ENVIRONMENTS:
                    raise _fail(text, pos, f"unsupported environment {env!r}",
                                "one of " + ", ".join(sorted(ENVIRONMENTS)))
                if name == "begin":
                    push("\\end{" + env + "}", pos)
                else:
                    pop("\\end{" + env + "}", pos)
                add("begin" if name == "begin" else "endenv", env, pos)
                pos = end
                continue
            add("cmd", name, pos)
            pos = end
            continue
        if ch in UNICODE:
            kind, tok = UNICODE[ch]
            add(kind, tok, pos)
            pos += 1
            continue
        m = _NUMBER.match(text, pos)
        if m:
            add("num", m.group(), pos)
            pos = m.end()
            continue
        m = _NAME.match(text, pos)
        if m:
            add("name", m.group(), pos)
            pos = m.end()
            continue
        if ch == "." and text.startswith(".T", pos) and not (
                pos + 2 < n and (text[pos + 2].isalnum() or text[pos + 2] == "_")):
            add("op", ".T", pos)
            pos += 2
            continue
        for op in _OPS:
            if text.startswith(op, pos):
                if op in _OPEN:
                    push(_OPEN[op], pos)
                elif op in (")", "]", "}"):
                    pop(op, pos)
                add("op", op, pos)
                pos += len(op)
                break
        else:
            what = "attribute access ('.') is not allowed" if ch == "." else (
                f"unexpected character {ch!r}")
            raise _fail(text, pos, what, "a number, a name, an operator or a LaTeX command")
    if stack:
        closer, opened = stack[-1]
        raise _fail(text, opened, f"unbalanced bracket opened at position {opened}",
                    f"a closing {closer!r}")
    add("end", "", n)
    return tokens
