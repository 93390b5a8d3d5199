"""Whole-derivation printers: text, LaTeX, Markdown and JSON.

Contract: each ``render_*`` function takes a :class:`~symbp.derive.Derivation` and returns a
string. Sections follow the textbook: model and assumptions, forward pass, loss, backward pass
(output error, then each layer's delta and gradients in the order they are computed), update.
``form`` chooses the ``index`` form (``δ1[n,j] = ...``), the ``matrix`` form
(``δ1 = (δ2 W2ᵀ) ⊙ ...``) or ``both``. Every equation is followed by its justification.
"""

from __future__ import annotations

import json
import textwrap

from ..matrix import IndexForm
from .names import name_latex, name_text
from .scalar import print_expr

SECTIONS = (
    ("Forward pass", ("forward",)),
    ("Loss", ("loss",)),
    ("Backward pass", ("output_error", "backward", "gradient")),
    ("Update", ("update",)),
)
FORMS = ("index", "matrix", "both")


def _check_form(form: str) -> None:
    if form not in FORMS:
        raise ValueError(f"form must be one of {', '.join(FORMS)}, got {form!r}")


def _forms(eq, form: str) -> tuple[bool, bool]:
    """(show matrix form, show index form); equations that read the same show once."""
    same = isinstance(eq.matrix, IndexForm)
    return form in ("matrix", "both"), form == "index" or (form == "both" and not same)


def _sections(d):
    for title, stages in SECTIONS:
        eqs = [e for e in d.equations if e.stage in stages]
        if eqs:
            yield title, eqs


def summary(d) -> str:
    """One line: architecture and loss, e.g. ``2 → 5 (σ) → 1 (σ); loss MSE, mean over batch``."""
    parts = [str(d.spec.model.inputs)]
    link = d.spec.loss.rule.link
    for idx, layer in enumerate(d.spec.model.layers):
        act = layer.activation
        name = act.source if act.name == "custom" else act.text
        if link is not None and idx == len(d.spec.model.layers) - 1:
            name = f"logits → {'σ' if link == 'sigmoid' else link}"
        parts.append(f"{layer.units} ({name})")
    rule = d.spec.loss.rule
    loss = rule.text if rule.name != "custom" else f"ℓ = {rule.source}"
    red = "mean over the batch" if d.spec.loss.reduction == "mean" else "sum over the batch"
    l2 = f", L2 λ = {d.spec.loss.l2}" if d.spec.loss.l2 != 0 else ""
    return f"{' → '.join(parts)}; loss {loss}, {red}{l2}; optimizer {d.optimizer.name}"


def _lhs_matrix(eq, style: str) -> str:
    name = name_latex(eq.target) if style == "latex" else name_text(eq.target)
    if eq.stage == "update":
        arrow = {"latex": r"\leftarrow", "text": "←", "plain": "<-"}[style]
        return f"{name} {arrow}"
    return f"{name} ="


def _lhs_index(eq, style: str) -> str:
    arrow = {"latex": r"\leftarrow", "text": "←", "plain": "<-"}[style]
    return f"{print_expr(eq.lhs, style)} {arrow if eq.stage == 'update' else '='}"


# --- text -----------------------------------------------------------------------------------

def render_text(d, form: str = "both", width: int = 80) -> str:
    """Unicode text for terminals, wrapped to ``width`` columns."""
    _check_form(form)
    out = [f"Derivation of {d.spec.name}", "=" * min(width, len(d.spec.name) + 14),
           _wrap(summary(d), width), ""]
    notes = [("assumes", a) for a in d.assumptions] + [("WARNING", w) for w in d.warnings]
    for label, text in notes:
        out.append(_wrap(f"{label}: {text}", width, indent="  "))
    if notes:
        out.append("")
    for title, eqs in _sections(d):
        out += [title, "-" * len(title)]
        for eq in eqs:
            show_matrix, show_index = _forms(eq, form)
            if show_matrix:
                out.append(_wrap(f"{_lhs_matrix(eq, 'text')} {eq.matrix.text()}", width, indent="    "))
            if show_index:
                lead = "  " if show_matrix else ""
                out.append(_wrap(f"{lead}{_lhs_index(eq, 'text')} {print_expr(eq.rhs, 'text')}",
                                 width, indent="    "))
            out.append(_wrap(f"  ∵ {eq.why}", width, indent="    "))
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def _wrap(s: str, width: int, indent: str = "  ") -> str:
    return "\n".join(textwrap.wrap(s, width=width, subsequent_indent=indent,
                                   break_long_words=False, break_on_hyphens=False)) or s


# --- LaTeX ----------------------------------------------------------------------------------

def _latex_escape_text(s: str) -> str:
    table = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
             "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}",
             # OT1 text mode sets these as other glyphs (an em dash, inverted marks)
             "|": r"$|$", "<": r"$<$", ">": r"$>$"}
    s = "".join(table.get(ch, ch) for ch in s)
    uni = {"δ": r"$\delta$", "σ": r"$\sigma$", "η": r"$\eta$", "λ": r"$\lambda$", "ŷ": r"$\hat{y}$",
           "∂": r"$\partial$", "⊙": r"$\odot$", "ᵀ": r"$^\top$", "Σ": r"$\Sigma$", "→": r"$\to$",
           "−": "-", "·": r"$\cdot$", "²": r"$^2$", "‖": r"$\|$", "∵": "", "β": r"$\beta$",
           "₁": r"$_1$", "₂": r"$_2$", "ε": r"$\epsilon$", "√": r"$\surd$", "ₙ": r"$_n$",
           "∘": r"$\circ$", "≤": r"$\le$", "ℓ": r"$\ell$", "≥": r"$\ge$", "≠": r"$\ne$",
           "∈": r"$\in$", "≈": r"$\approx$", "…": "...", "′": "'", "×": r"$\times$"}
    return "".join(uni[ch] if ch in uni else _latex_char(ch) for ch in s)


def _latex_char(ch: str) -> str:
    """A character of text for pdflatex: ASCII as it is, a Greek letter, superscript or
    subscript digit in math mode, anything else by its Unicode name (never a raw character
    the preamble cannot typeset)."""
    if ch.isascii():
        return ch
    import unicodedata

    name = unicodedata.name(ch, "")
    words = name.split()
    if name.startswith("GREEK ") and len(words) == 4 and words[1] in ("SMALL", "CAPITAL"):
        letter = _GREEK_SPELLING.get(words[-1], words[-1]).lower()
        if words[1] == "CAPITAL":
            return f"${_GREEK_CAPITALS[letter]}$" if letter in _GREEK_CAPITALS else \
                letter[0].upper()  # Alpha, Beta, ...: the Latin capital, as LaTeX has none
        return "o" if letter == "omicron" else rf"$\{letter}$"
    if name.startswith(("SUPERSCRIPT ", "SUBSCRIPT ")) and words[-1] in _DIGIT_WORDS:
        return ("$^" if words[0] == "SUPERSCRIPT" else "$_") + _DIGIT_WORDS[words[-1]] + "$"
    return f"[{name.lower() or 'U+%04X' % ord(ch)}]"


#: Unicode's spellings that LaTeX spells otherwise; the capitals LaTeX has a command for
_GREEK_SPELLING = {"LAMDA": "lambda"}
_GREEK_CAPITALS = {g: "\\" + g.capitalize() for g in (
    "gamma", "delta", "theta", "lambda", "xi", "pi", "sigma", "upsilon", "phi", "psi", "omega")}
_DIGIT_WORDS = {w: str(i) for i, w in enumerate(
    ("ZERO", "ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN", "EIGHT", "NINE"))}


def render_latex_body(d, form: str = "both", display: str = "align", why: bool = False) -> str:
    """The equations as LaTeX: ``align*`` environments (``display="align"``) or ``$$`` blocks;
    ``why``: each equation in an ``align*`` of its own, followed by its justification."""
    _check_form(form)
    out = []
    for title, eqs in _sections(d):
        out.append(rf"\paragraph{{{title}}}" if display == "align" else rf"\textbf{{{title}}}")
        rows = []
        for eq in eqs:
            if why and display == "align" and rows:
                out.append("\\begin{align*}\n" + " \\\\\n".join(rows) + "\n\\end{align*}")
                rows = []
            show_matrix, show_index = _forms(eq, form)
            if show_matrix:
                lhs = _lhs_matrix(eq, "latex").replace(" =", " &=").replace(r" \leftarrow", r" &\leftarrow")
                rows.append(f"{lhs} {eq.matrix.latex()}")
            if show_index:
                lhs = _lhs_index(eq, "latex").replace(" =", " &=").replace(r" \leftarrow", r" &\leftarrow")
                rows.append(f"{lhs} {print_expr(eq.rhs, 'latex')}")
            if why and display == "align":
                out.append("\\begin{align*}\n" + " \\\\\n".join(rows) + "\n\\end{align*}")
                out.append(r"\noindent{\small \textit{Why:} " + _latex_escape_text(eq.why) + r"}\par")
                rows = []
        if not rows:
            continue
        if display == "align":
            out.append("\\begin{align*}\n" + " \\\\\n".join(rows) + "\n\\end{align*}")
        else:
            out.append("$$\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}$$")
    return "\n".join(out) + "\n"


def render_latex(d, form: str = "both", standalone: bool = False) -> str:
    """LaTeX; with ``standalone`` a complete document that compiles with pdflatex."""
    body = render_latex_body(d, form, why=True)
    notes = "".join(rf"\noindent\textit{{Assumes:}} {_latex_escape_text(a)}\par" + "\n"
                    for a in d.assumptions)
    notes += "".join(rf"\noindent\textbf{{Warning:}} {_latex_escape_text(w)}\par" + "\n"
                     for w in d.warnings)
    head = (rf"\noindent {_latex_escape_text(summary(d))}\par" + "\n" + notes)
    if not standalone:
        return head + body
    title = _latex_escape_text(d.spec.name)
    return ("\\documentclass{article}\n\\usepackage[utf8]{inputenc}\n\\usepackage{amsmath,amssymb}\n"
            "\\usepackage[margin=2cm]{geometry}\n"
            f"\\title{{Derivation of {title}}}\n\\date{{}}\n\\begin{{document}}\n\\maketitle\n"
            + head + body + "\\end{document}\n")


# --- Markdown -------------------------------------------------------------------------------

def render_markdown(d, form: str = "both") -> str:
    """Markdown with ``$$`` display math (GitHub, Jupyter, MkDocs with MathJax)."""
    _check_form(form)
    out = [f"# Derivation of {d.spec.name}", "", f"**Model:** {summary(d)}", ""]
    for a in d.assumptions:
        out.append(f"> **Assumes:** {a}")
    for w in d.warnings:
        out.append(f"> **Warning:** {w}")
    if d.assumptions or d.warnings:
        out.append("")
    for title, eqs in _sections(d):
        out += [f"## {title}", ""]
        for eq in eqs:
            lines = []
            show_matrix, show_index = _forms(eq, form)
            if show_matrix:
                lines.append(f"{_lhs_matrix(eq, 'latex')} {eq.matrix.latex()}")
            if show_index:
                lines.append(f"{_lhs_index(eq, 'latex')} {print_expr(eq.rhs, 'latex')}")
            out += ["$$", " \\\\\n".join(lines) if len(lines) == 1 else
                    "\\begin{aligned}" + " \\\\\n".join(lines) + "\\end{aligned}", "$$", "",
                    f"*{eq.why}*", ""]
    return "\n".join(out).rstrip() + "\n"


# --- JSON -----------------------------------------------------------------------------------

def to_dict(d) -> dict:
    """A JSON-ready dictionary of the derivation."""
    return {
        "spec": d.spec.name,
        "digest": d.spec.digest,
        "summary": summary(d),
        "sizes": list(d.spec.model.sizes),
        "activations": [layer.activation.source or layer.activation.name for layer in d.spec.model.layers],
        "loss": d.spec.loss.rule.name,
        "reduction": d.spec.loss.reduction,
        "l2": str(d.spec.loss.l2),
        "optimizer": d.optimizer.name,
        "assumptions": list(d.assumptions),
        "warnings": list(d.warnings),
        "equations": [
            {
                "stage": eq.stage,
                "target": eq.target,
                "layer": eq.layer,
                "indices": [str(s) for s in eq.indices],
                "index": {"text": print_expr(eq.rhs, "text"), "latex": print_expr(eq.rhs, "latex"),
                          "plain": print_expr(eq.rhs, "plain")},
                "matrix": {"text": eq.matrix.text(), "latex": eq.matrix.latex(),
                           "plain": eq.matrix.plain()},
                "why": eq.why,
            }
            for eq in d.equations
        ],
    }


def render_json(d) -> str:
    return json.dumps(to_dict(d), indent=2, ensure_ascii=False) + "\n"
