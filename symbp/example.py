"""Worked numeric examples: every forward and backward value at given weights and inputs.

Contract: the ``[example]`` table of a spec (or a TOML file with the same keys) gives the inputs
``x`` (rows are samples), the targets ``y``, the learning rate ``lr`` and every parameter
(``W1``, ``b1``, ...). ``layout = "out_in"`` says the weight matrices are written as textbooks
that use ``z = W a + b`` write them (one row per output unit); the default ``"in_out"`` is symbp's
``z = a W + b``. :func:`worked_example` evaluates the derivation exactly (rationals stay
rational; values after exp/log are kept to 30 digits) and :func:`render_example` prints each
equation with its value, exact and as a decimal. Values of weight-shaped quantities are shown in
the layout the user wrote them in.
"""

from __future__ import annotations

import math
import tomllib

import numpy as np
import sympy as sp

from .errors import SpecError
from .evaluate import evaluate
from .matrix import column_layout
from .printing.names import name_text
from .spec import SECTION_VALIDATORS, load_spec

LAYOUTS = ("in_out", "out_in")
DEFAULT_LR = 0.1


def validate_example_table(table, source: str) -> None:
    """Check the ``[example]`` table's keys and value types (shapes are checked on use)."""
    if not isinstance(table, dict):
        raise SpecError(source, "example", "expected a table with x, y, lr and the parameters")
    for key, value in table.items():
        k = f"example.{key}"
        if key == "layout":
            if value not in LAYOUTS:
                raise SpecError(source, k, f"expected \"in_out\" (z = a W + b) or \"out_in\" "
                                f"(z = W a + b, rows are output units), got {value!r}")
        elif key == "lr":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise SpecError(source, k, "expected a positive number")
        elif key in ("x", "y") or _is_param(key):
            _matrix(value, source, k)
        else:
            raise SpecError(source, k, "unknown key; expected x, y, lr, layout, and W1, b1, W2, "
                            "b2, ... (one entry per parameter)")


SECTION_VALIDATORS["example"] = validate_example_table


def _is_param(key: str) -> bool:
    return len(key) > 1 and key[0] in "Wb" and key[1:].isdigit()


def _matrix(value, source: str, key: str) -> np.ndarray:
    if not isinstance(value, list) or not value:
        raise SpecError(source, key, "expected a non-empty list of numbers or of rows")
    rows = value if isinstance(value[0], list) else [value]
    width = len(rows[0])
    for r, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != width:
            raise SpecError(source, key, f"row {r} has {len(row) if isinstance(row, list) else 1} "
                            f"entries, expected {width} like the first row")
        for c, v in enumerate(row):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise SpecError(source, key, f"entry [{r}][{c}] is {v!r}, expected a finite number")
    return np.array(value, dtype=object)


def example_inputs(spec, table: dict | None = None, source: str | None = None):
    """``(params, X, Y, lr, layout)`` from the ``[example]`` table (or ``table``), exact."""
    table = spec.section("example") if table is None else table
    source = source or spec.source
    if not table:
        raise SpecError(source, "example", "missing: `symbp example` needs an [example] table "
                        "(x, y, every parameter W1, b1, ..., and optionally lr and layout) in the "
                        "spec or in --values FILE")
    validate_example_table(table, source)
    layout = table.get("layout", "in_out")
    sizes = spec.model.sizes
    names = [f"{k}{l}" for l in range(1, len(sizes)) for k in "Wb"]
    extra = [k for k in table if _is_param(k) and k not in names]
    if extra:
        raise SpecError(source, f"example.{extra[0]}", f"the model has {len(sizes) - 1} layers, "
                        f"so its parameters are {', '.join(names)}")
    out = {}
    for key in ("x", "y"):
        if key not in table:
            raise SpecError(source, f"example.{key}", "missing")
        arr = _exact(_matrix(table[key], source, f"example.{key}"))
        out[key] = arr if arr.ndim == 2 else arr.reshape(1, -1)
    want = {"x": sizes[0], "y": sizes[-1]}
    for key, cols in want.items():
        if out[key].shape[1] != cols:
            raise SpecError(source, f"example.{key}", f"has {out[key].shape[1]} columns, the model "
                            f"expects {cols}")
    if out["x"].shape[0] != out["y"].shape[0]:
        raise SpecError(source, "example.y", f"has {out['y'].shape[0]} rows but x has {out['x'].shape[0]}")
    if spec.loss.rule.link == "softmax":
        for r, row in enumerate(out["y"]):
            if sum(row) != 1:
                raise SpecError(source, "example.y", f"row {r} sums to {sum(row)}, not 1: the "
                                f"output error ŷ − y of softmax cross-entropy holds for targets "
                                f"whose rows sum to 1 (one-hot labels or probabilities)")
    params = {}
    for l in range(1, len(sizes)):
        for name, shape in ((f"W{l}", (sizes[l - 1], sizes[l])), (f"b{l}", (sizes[l],))):
            if name not in table:
                raise SpecError(source, f"example.{name}", f"missing; expected {_shape_text(name, shape, layout)}")
            arr = _exact(_matrix(table[name], source, f"example.{name}"))
            if name.startswith("W") and layout == "out_in":
                arr = arr.T
            if name.startswith("b"):
                arr = arr.reshape(-1)
            if arr.shape != shape:
                raise SpecError(source, f"example.{name}", f"has shape {_shape_of(table[name])}, "
                                f"expected {_shape_text(name, shape, layout)}")
            params[name] = arr
    lr = sp.nsimplify(str(table.get("lr", DEFAULT_LR)))
    return params, out["x"], out["y"], lr, layout


def _shape_of(value) -> tuple:
    return (len(value), len(value[0])) if isinstance(value[0], list) else (len(value),)


def _shape_text(name, shape, layout) -> str:
    if len(shape) == 1:
        return f"{shape[0]} numbers"
    rows, cols = (shape[1], shape[0]) if layout == "out_in" else shape
    return f"a {rows} x {cols} matrix ({'one row per output unit' if layout == 'out_in' else 'one row per input unit'})"


def _exact(arr: np.ndarray) -> np.ndarray:
    return np.vectorize(lambda v: sp.nsimplify(repr(v)), otypes=[object])(arr)


def worked_example(d, params, X, Y, lr) -> dict:
    """All values of the derivation at the given point, exact (see :func:`symbp.evaluate.evaluate`)."""
    return evaluate(d, params, X, Y, eta=lr, exact=True)


def _fmt_number(v) -> str:
    dec = f"{float(v):.10g}"
    if isinstance(v, sp.Integer):
        return str(v)
    if isinstance(v, sp.Rational):
        return f"{v.p}/{v.q} = {dec}"
    return dec


def _fmt_value(arr, transpose: bool) -> str:
    arr = np.asarray(arr, dtype=object)
    if arr.ndim == 0:
        return _fmt_number(arr.item())
    if transpose and arr.ndim == 2:
        arr = arr.T
    if arr.ndim == 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim == 1:
        return "[" + ", ".join(_fmt_number(v) for v in arr) + "]"
    return "[" + ",\n     ".join("[" + ", ".join(_fmt_number(v) for v in row) + "]" for row in arr) + "]"


def render_example(d, values: dict, params: dict, X, Y, lr, layout: str = "in_out",
                   lr_given: bool = True) -> str:
    """Text of the worked example: inputs, then each equation and its value, then the update."""
    default_lr = "" if lr_given else " (the default; set lr in the table to change it)"
    from .printing.document import summary

    flip = layout == "out_in"
    where = ("column layout: z = W a + b, a row of W per output unit" if flip else
             "row layout: z = a W + b, a row of W per input unit")
    lines = [f"Worked example for {d.spec.name}", summary(d), f"equations and weights in {where}",
             f"learning rate η = {lr}{default_lr}", "", "Given", "-----",
             f"x = {_fmt_value(X, False)}", f"y = {_fmt_value(Y, False)}"]
    for name, value in params.items():
        lines.append(f"{name_text(name)} = {_fmt_value(value, flip and name.startswith('W'))}")
    titles = {"forward": "Forward pass", "loss": "Loss", "output_error": "Backward pass",
              "update": "Updated parameters"}
    shown = set()
    for eq in d.equations:
        title = titles.get(eq.stage)
        if title and title not in shown:
            shown.add(title)
            lines += ["", title, "-" * len(title)]
        key = eq.target + "_new" if eq.stage == "update" else eq.target
        if key not in values:
            continue
        weighty = eq.target.startswith(("W", "dW"))
        label = name_text(eq.target)
        form = (column_layout(eq.matrix) if flip else eq.matrix).text()
        lhs = f"{label} ← {form}" if eq.stage == "update" else f"{label} = {form}"
        lines.append(lhs)
        lines.append(f"   = {_fmt_value(values[key], flip and weighty)}")
    return "\n".join(lines) + "\n"


def run_example(spec_path: str, values_path: str | None = None) -> str:
    """Load, derive and render (used by the ``symbp example`` command)."""
    from .derive import derive

    spec = load_spec(spec_path)
    table, source = None, None
    if values_path:
        try:
            with open(values_path, "rb") as fh:
                table = tomllib.load(fh)
        except OSError as exc:
            raise SpecError(values_path, None, f"cannot read the file ({exc.strerror})") from None
        except UnicodeDecodeError:
            raise SpecError(values_path, None, "not UTF-8 text (TOML files are UTF-8)") from None
        except tomllib.TOMLDecodeError as exc:
            raise SpecError(values_path, None, f"not valid TOML ({exc})") from None
        table = table.get("example", table)
        source = values_path
    d = derive(spec, optimizer="sgd")
    params, X, Y, lr, layout = example_inputs(spec, table, source)
    values = worked_example(d, params, X, Y, lr)
    given = "lr" in (table if table is not None else spec.section("example") or {})
    return render_example(d, values, params, X, Y, lr, layout, lr_given=given)
