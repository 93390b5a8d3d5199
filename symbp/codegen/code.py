"""A small code AST for generated modules: statements, loops, functions, a module; one renderer.

Contract: emitters build trees of these nodes and call :func:`render`; indentation, blank lines
between definitions and comment placement live here and nowhere else, so no emitter
concatenates indentation by hand. Scalar expressions arrive already printed (by
:class:`~symbp.codegen.printer.NumbaPrinter`) as the text of a :class:`Line`.

    >>> print(render(For("j", "range(5)", [Line("z[j] = 0.0")], comment="z = 0")))
    # z = 0
    for j in range(5):
        z[j] = 0.0
    <BLANKLINE>
"""

from __future__ import annotations

from dataclasses import dataclass, field

INDENT = "    "
WIDTH = 100


def _wrap(pad: str, text: str) -> list[str]:
    """Break a long call or signature after commas, continuation aligned with the open paren."""
    if len(pad) + len(text) <= WIDTH or "(" not in text:
        return [pad + text]
    open_at = _last_call(text)
    col = len(pad) + open_at + 1
    lines, cur = [], pad + text[: open_at + 1]
    for part in _split_args(text[open_at + 1:]):
        if len(cur) + len(part) > WIDTH and cur.strip() and not cur.endswith("("):
            lines.append(cur.rstrip())
            cur = " " * col
        cur += part
    lines.append(cur)
    return lines


def _last_call(text: str) -> int:
    """The open paren of the argument list that ends the line (``k[g(n)](a, b)`` -> the one
    before ``a``), else the first open paren."""
    if text.endswith(")"):
        depth = 0
        for k in range(len(text) - 1, -1, -1):
            depth += 1 if text[k] in ")]" else -1 if text[k] in "([" else 0
            if depth == 0:
                return k
    return text.index("(")


def _split_args(text: str) -> list[str]:
    """Split at top-level ", " keeping the separator with the left part."""
    parts, depth, start = [], 0, 0
    for k, ch in enumerate(text):
        depth += 1 if ch in "([" else -1 if ch in ")]" else 0
        if ch == "," and depth == 0:
            parts.append(text[start:k + 2])
            start = k + 2
    parts.append(text[start:])
    return [p for p in parts if p]


@dataclass(frozen=True)
class Line:
    """One statement (already printed)."""

    text: str


@dataclass(frozen=True)
class Comment:
    """One or more comment lines."""

    lines: tuple[str, ...]


@dataclass(frozen=True)
class Blank:
    """An empty line between blocks."""


@dataclass(frozen=True)
class For:
    """``for var in head: body``; ``comment`` lines go above the loop."""

    var: str
    head: str
    body: list
    comment: tuple[str, ...] | str = ()


@dataclass(frozen=True)
class If:
    """``if cond: body`` (``else: orelse`` when given; an ``orelse`` that is one ``If`` renders
    as ``elif``)."""

    cond: str
    body: list
    orelse: list = field(default_factory=list)


@dataclass(frozen=True)
class With:
    """``with head: body`` (host code of intrinsics: ``builder.if_then(...)``)."""

    head: str
    body: list


@dataclass(frozen=True)
class FunctionDef:
    """A function with an optional decorator and docstring."""

    name: str
    args: tuple[str, ...]
    body: list
    decorator: str | None = None
    doc: str = ""


@dataclass(frozen=True)
class ClassDef:
    """A class with a docstring and methods (host code of the cuda target)."""

    name: str
    body: list
    doc: str = ""


@dataclass
class Module:
    """A module: docstring, imports, constants, definitions."""

    doc: str
    imports: list[str] = field(default_factory=list)
    constants: list[tuple[str, str]] = field(default_factory=list)
    defs: list[FunctionDef] = field(default_factory=list)


def _comment_lines(c) -> tuple[str, ...]:
    return (c,) if isinstance(c, str) else tuple(c)


def _docstring(doc: str, pad: str, out: list[str]) -> None:
    if not doc:
        return
    lines = doc.strip().splitlines()
    if len(lines) == 1:
        out.append(f'{pad}"""{lines[0]}"""')
    else:
        out.append(f'{pad}"""{lines[0]}')
        out.extend((pad + d) if d else "" for d in lines[1:])
        out.append(f'{pad}"""')


def _render(node, depth: int, out: list[str]) -> None:
    pad = INDENT * depth
    if isinstance(node, list):
        for item in node:
            _render(item, depth, out)
    elif isinstance(node, Line):
        out.extend(_wrap(pad, node.text))
    elif isinstance(node, Comment):
        out.extend(pad + "# " + line for line in node.lines)
    elif isinstance(node, Blank):
        out.append("")
    elif isinstance(node, For):
        out.extend(pad + "# " + line for line in _comment_lines(node.comment))
        out.append(f"{pad}for {node.var} in {node.head}:")
        _render(node.body or [Line("pass")], depth + 1, out)
    elif isinstance(node, If):
        out.append(f"{pad}if {node.cond}:")
        _render(node.body or [Line("pass")], depth + 1, out)
        while len(node.orelse) == 1 and isinstance(node.orelse[0], If):  # else: if -> elif
            node = node.orelse[0]
            out.append(f"{pad}elif {node.cond}:")
            _render(node.body or [Line("pass")], depth + 1, out)
        if node.orelse:
            out.append(f"{pad}else:")
            _render(node.orelse, depth + 1, out)
    elif isinstance(node, With):
        out.append(f"{pad}with {node.head}:")
        _render(node.body or [Line("pass")], depth + 1, out)
    elif isinstance(node, FunctionDef):
        if node.decorator:
            out.append(pad + node.decorator)
        out.extend(_wrap(pad, f"def {node.name}({', '.join(node.args)}):"))
        _docstring(node.doc, pad + INDENT, out)
        _render(node.body or [Line("pass")], depth + 1, out)
    elif isinstance(node, ClassDef):
        out.append(f"{pad}class {node.name}:")
        _docstring(node.doc, pad + INDENT, out)
        for k, item in enumerate(node.body):
            if k or node.doc:
                out.append("")
            _render(item, depth + 1, out)
    elif isinstance(node, Module):
        out.append('"""' + node.doc.strip() + '\n"""')
        out.append("")
        out.extend(node.imports)
        out.append("")
        for name, value in node.constants:
            out.append(f"{name} = {value}")
        for d in node.defs:
            out.extend(["", ""])
            _render(d, 0, out)
    else:  # pragma: no cover - a bug in an emitter
        raise TypeError(f"cannot render {type(node).__name__}")


def render(node) -> str:
    """Source text of a node (ends with a newline)."""
    out: list[str] = []
    _render(node, 0, out)
    return "\n".join(out) + "\n"
