"""The computation graph as a Mermaid diagram, forward and backward edges.

Contract: :func:`render_mermaid` returns a ``graph LR`` Mermaid block: solid arrows for the
forward pass (inputs and parameters into each op), dotted arrows for the backward pass labelled
with what flows back (``δ2 W2ᵀ``, ``a1ᵀ δ2``), and the loss node. Node ids are the tensor names,
which are valid Mermaid identifiers.
"""

from __future__ import annotations

from ..graph import Dense, Elementwise, Link, LossOp
from .names import name_text


def _node(name: str, shape: str = "box") -> str:
    label = name_text(name)
    if shape == "round":
        return f'{name}(["{label}"])'
    if shape == "param":
        return f'{name}[/"{label}"/]'
    return f'{name}["{label}"]'


def render_mermaid(d) -> str:
    lines = ["graph LR"]
    declared = set()

    def declare(name, shape="box"):
        if name not in declared:
            declared.add(name)
            lines.append("    " + _node(name, shape))

    declare("x", "round")
    back = []
    for op in d.graph.ops:
        if isinstance(op, Dense):
            for t, shape in ((op.x.name, "box"), (op.W.name, "param"), (op.b.name, "param"),
                             (op.z.name, "box")):
                declare(t, shape)
            lines.append(f"    {op.x.name} --> {op.z.name}")
            lines.append(f"    {op.W.name} --> {op.z.name}")
            lines.append(f"    {op.b.name} --> {op.z.name}")
            l = op.layer
            back.append(f"    {op.z.name} -. \"{name_text(op.x.name)}ᵀ δ{l}\" .-> {op.W.name}")
            back.append(f"    {op.z.name} -. \"Σₙ δ{l}\" .-> {op.b.name}")
            if op.x.role != "input":
                back.append(f"    {op.z.name} -. \"δ{l} W{l}ᵀ\" .-> {op.x.name}")
        elif isinstance(op, Elementwise):
            declare(op.a.name)
            lines.append(f"    {op.z.name} -- \"{op.act.text}\" --> {op.a.name}")
            back.append(f"    {op.a.name} -. \"⊙ {op.act.text}'\" .-> {op.z.name}")
        elif isinstance(op, Link):
            declare(op.yhat.name)
            lines.append(f"    {op.z.name} -- \"{op.kind}\" --> {op.yhat.name}")
        elif isinstance(op, LossOp):
            declare("y", "round")
            declare("L", "round")
            lines.append(f"    {op.pred.name} --> L")
            lines.append("    y --> L")
            if op.rule.link is not None:
                z = f"z{op.pred.layer}"
                back.append(f"    L -. \"(ŷ − y)/N (fused)\" .-> {z}")
            else:
                back.append(f"    L -. \"∂L/∂ŷ\" .-> {op.pred.name}")
    lines += list(reversed(back))
    lines.append("    classDef param fill:#fff3c4,stroke:#b58900")
    params = ",".join(p.name for p in d.graph.params)
    lines.append(f"    class {params} param")
    return "\n".join(lines) + "\n"
