"""Loading and validating specs (``derivations/*.toml``).

Contract: :func:`load_spec` reads TOML (a path or the text itself), validates every key and returns
a :class:`Spec`. Any problem raises :class:`~symbp.errors.SpecError` naming the file, the dotted
key (``model.layers[1].activation``) and what was expected. Custom expressions are parsed with
:func:`symbp.expr.parse_math`, never evaluated.

Format::

    name = "seed000"                      # optional, defaults to the file name
    description = "..."                   # optional

    [model]
    inputs = 2
    layers = [ { units = 5, activation = "sigmoid" },
               { units = 1, activation = "leaky_relu", slope = 0.1 },
               { units = 1, activation = "x / (1 + exp(-x))" } ]   # custom, in x

    [loss]                                # or: loss = "mse"
    kind = "mse"                          # mse | bce | bce_logits | cross_entropy |
                                          # softmax_cross_entropy | huber | custom
    scale = 0.5                           # mse only: 0.5 or 1
    delta = 1.0                           # huber only
    expr = "(yhat - y)^4"                 # custom only, in yhat and y
    reduction = "mean"                    # mean (1/N over the batch) | sum
    l2 = 0.0                              # weight decay: adds l2/2 * sum of squared weights

Further tables (``[data]``, ``[train]``, ``[[claims]]``, ``[example]``, ``[notation]``) are checked
by the modules that use them, through :data:`SECTION_VALIDATORS`.
"""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import sympy as sp

from .errors import ExprError, SpecError
from .expr import parse_math
from .spec_files import (MAX_SPEC_BYTES, bundled_dir, bundled_spec_names,  # noqa: F401 - re-exported
                         bundled_spec_path, read_spec_text as _read)
from .rules.activations import (ACTIVATION_ALIASES, ACTIVATIONS, Activation, custom_activation,
                                make_activation)
from .rules.losses import LOSS_ALIASES, LOSSES, Loss, custom_loss, make_loss


MAX_LAYERS = 512
MAX_UNITS = 1_000_000

TOP_LEVEL_KEYS = ("name", "description", "model", "loss", "data", "train", "claims", "example",
                  "notation")


@dataclass(frozen=True)
class LayerSpec:
    """One dense layer: ``z = a_prev W + b``, ``a = f(z)``."""

    units: int
    activation: Activation


@dataclass(frozen=True)
class ModelSpec:
    inputs: int
    layers: tuple[LayerSpec, ...]

    @property
    def sizes(self) -> tuple[int, ...]:
        """Widths from the input to the output, e.g. ``(2, 5, 1)``."""
        return (self.inputs,) + tuple(layer.units for layer in self.layers)


@dataclass(frozen=True)
class LossSpec:
    rule: Loss
    reduction: str  # "mean" | "sum"
    l2: sp.Expr     # weight-decay coefficient (exact)

    @property
    def kind(self) -> str:
        return self.rule.name


@dataclass(frozen=True)
class Spec:
    """A validated spec. ``raw`` keeps the parsed TOML for the optional tables."""

    name: str
    description: str
    source: str
    model: ModelSpec
    loss: LossSpec
    raw: dict = field(repr=False, compare=False)

    @property
    def digest(self) -> str:
        """SHA-256 of the spec's content (comments and key order do not matter)."""
        canon = json.dumps(self.raw, sort_keys=True, default=str)
        return hashlib.sha256(canon.encode()).hexdigest()

    def section(self, name: str) -> Any:
        """The raw optional table ``name`` (``data``, ``train``, ``claims``, ...) or None."""
        return self.raw.get(name)

    @property
    def base_dir(self) -> Path:
        """The folder relative paths in the spec are resolved against."""
        return Path(self.source).parent if os.path.isfile(self.source) else Path.cwd()


#: Validators for the optional tables: name -> callable(value, source) raising SpecError.
#: Modules that own a table register here (``train`` registers ``data`` and ``train``).
SECTION_VALIDATORS: dict[str, Callable[[Any, str], None]] = {}


# --- loading ----------------------------------------------------------------------------------

def load_spec(path_or_text: str | os.PathLike, *, validate_sections: bool = True) -> Spec:
    """Load and validate a spec.

    Args:
        path_or_text: a path to a ``.toml`` file, the name of a bundled spec (``"digits_softmax"``), or
            the TOML text itself (anything containing a newline or ``[model]``).
        validate_sections: also validate the optional tables with :data:`SECTION_VALIDATORS`.

    Returns:
        The validated :class:`Spec`.

    Raises:
        SpecError: the file is missing or unreadable, the TOML is malformed, or a key is missing,
            unknown or has a wrong value.
    """
    text, source, default_name = _read(path_or_text)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(source, None, f"this is not valid TOML ({exc}); see derivations/ for "
                        "examples of the format") from None
    return spec_from_dict(raw, source, default_name, validate_sections=validate_sections)


def spec_from_dict(raw: dict, source: str = "<dict>", default_name: str = "spec", *,
                   validate_sections: bool = True) -> Spec:
    """Validate an already-parsed spec table (see :func:`load_spec`)."""
    _check_keys(raw, TOP_LEVEL_KEYS, source, "")
    name = raw.get("name", default_name)
    if not isinstance(name, str) or not name.strip():
        raise SpecError(source, "name", "expected a non-empty string")
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise SpecError(source, "description", "expected a string")
    if "model" not in raw:
        raise SpecError(source, "model", "missing; expected a [model] table with `inputs` and `layers`")
    model = _model(raw["model"], source)
    if "loss" not in raw:
        raise SpecError(source, "loss", "missing; expected a [loss] table, e.g. kind = \"mse\"")
    loss = _loss(raw["loss"], source)
    loss = _check_combination(raw["model"], model, loss, source)
    spec = Spec(name, description, source, model, loss, raw)
    if validate_sections:
        _load_section_validators()
        for key, validator in SECTION_VALIDATORS.items():
            if key in raw:
                validator(raw[key], source)
    return spec


def _load_section_validators() -> None:
    """Import the modules that own the optional tables, so they can register validators."""
    import importlib

    for module in ("symbp.data", "symbp.train", "symbp.verify", "symbp.example"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:  # a module not built yet registers nothing
            if exc.name != module:
                raise


# --- model ------------------------------------------------------------------------------------

def _check_keys(table: Any, allowed: tuple[str, ...], source: str, prefix: str) -> None:
    if not isinstance(table, dict):
        raise SpecError(source, prefix or None, "expected a table")
    for key in table:
        if key not in allowed:
            where = f"{prefix}.{key}" if prefix else key
            raise SpecError(source, where, f"unknown key; expected one of {', '.join(allowed)}")


def _int(value: Any, source: str, key: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(source, key, f"expected a whole number from {lo} to {hi}, got {value!r}")
    if not lo <= value <= hi:
        raise SpecError(source, key, f"expected a whole number from {lo} to {hi}, got {value}")
    return value


def _number(value: Any, source: str, key: str, positive: bool = False) -> sp.Rational:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(source, key, f"expected a number, got {value!r}")
    if value != value or value in (float("inf"), float("-inf")):
        raise SpecError(source, key, "expected a finite number")
    if positive and value <= 0:
        raise SpecError(source, key, f"expected a positive number, got {value}")
    return sp.Rational(repr(value)) if isinstance(value, float) else sp.Integer(value)


def _model(table: Any, source: str) -> ModelSpec:
    _check_keys(table, ("inputs", "layers"), source, "model")
    if "inputs" not in table:
        raise SpecError(source, "model.inputs", "missing; expected the number of input features")
    inputs = _int(table["inputs"], source, "model.inputs", 1, MAX_UNITS)
    layers_raw = table.get("layers")
    if not isinstance(layers_raw, list) or not layers_raw:
        raise SpecError(source, "model.layers", "expected a non-empty list of tables such as "
                        "{ units = 5, activation = \"sigmoid\" }")
    if len(layers_raw) > MAX_LAYERS:
        raise SpecError(source, "model.layers", f"at most {MAX_LAYERS} layers are supported")
    layers = []
    for i, layer in enumerate(layers_raw):
        key = f"model.layers[{i}]"
        if not isinstance(layer, dict):
            raise SpecError(source, key, "expected a table such as { units = 5, activation = \"tanh\" }")
        act_name = layer.get("activation", "identity")
        params = _activation_params(act_name)
        _check_keys(layer, ("units", "activation") + tuple(params), source, key)
        if "units" not in layer:
            raise SpecError(source, f"{key}.units", "missing; expected the number of units")
        units = _int(layer["units"], source, f"{key}.units", 1, MAX_UNITS)
        activation = _activation(layer, source, key, i == len(layers_raw) - 1)
        layers.append(LayerSpec(units, activation))
    return ModelSpec(inputs, tuple(layers))


def _activation_params(name: Any) -> dict[str, float]:
    if isinstance(name, str):
        name = ACTIVATION_ALIASES.get(name.strip().lower(), name.strip().lower())
        if name in ACTIVATIONS:
            return ACTIVATIONS[name].params
    return {}


def _activation(layer: dict, source: str, key: str, is_last: bool) -> Activation:
    value = layer.get("activation", "identity")
    akey = f"{key}.activation"
    if not isinstance(value, str):
        raise SpecError(source, akey, "expected a string: a built-in name or an expression in x")
    name = ACTIVATION_ALIASES.get(value.strip().lower(), value.strip().lower())
    if name == "softmax":
        if not is_last:
            raise SpecError(source, akey, "softmax is only supported on the last layer, fused with "
                            "the cross-entropy loss")
        return make_activation("identity")  # the loss applies softmax to the logits (see _loss)
    if name in ACTIVATIONS:
        params = {}
        for pname in ACTIVATIONS[name].params:
            if pname in layer:
                params[pname] = _number(layer[pname], source, f"{key}.{pname}", positive=True)
        return make_activation(name, **params)
    if value.strip().isidentifier():
        known = ", ".join(sorted(ACTIVATIONS) + ["softmax"])
        raise SpecError(source, akey, f"unknown activation {value!r}; expected one of {known}, or "
                        "an expression in x such as \"x / (1 + exp(-x))\"")
    try:
        f = parse_math(value, {"x": sp.Symbol("x")}, what="a custom activation")
    except ExprError as exc:
        raise SpecError(source, akey, f"{exc}; a custom activation is an expression in x such as "
                        "\"x / (1 + exp(-x))\"") from None
    if not f.has(sp.Symbol("x")):
        raise SpecError(source, akey, f"the custom activation {value!r} does not depend on x")
    return custom_activation(f, value)


# --- loss -------------------------------------------------------------------------------------

def _loss(table: Any, source: str) -> LossSpec:
    if isinstance(table, str):
        table = {"kind": table}
    if not isinstance(table, dict):
        raise SpecError(source, "loss", "expected a table such as { kind = \"mse\" } or a loss name")
    kind_raw = table.get("kind")
    if not isinstance(kind_raw, str):
        raise SpecError(source, "loss.kind", f"missing or not a string; expected one of "
                        f"{', '.join(sorted(LOSSES) + ['custom'])}")
    kind = LOSS_ALIASES.get(kind_raw.strip().lower(), kind_raw.strip().lower())
    params = dict(LOSSES[kind].params) if kind in LOSSES else {}
    extra = ("expr",) if kind == "custom" else ()
    _check_keys(table, ("kind", "reduction", "l2") + tuple(params) + extra, source, "loss")
    if kind == "custom":
        if not isinstance(table.get("expr"), str):
            got = "missing" if "expr" not in table else f"expected a string, got {table['expr']!r}"
            raise SpecError(source, "loss.expr", f"{got}; a custom loss needs expr = \"...\" in "
                            f"yhat and y")
        try:
            ell = parse_math(table["expr"], {"yhat": sp.Symbol("yhat"), "y": sp.Symbol("y")},
                             what="a custom loss")
        except ExprError as exc:
            raise SpecError(source, "loss.expr", f"{exc}; a custom loss is an expression in yhat "
                            "and y such as \"(yhat - y)^4\"") from None
        if not ell.has(sp.Symbol("yhat")):
            raise SpecError(source, "loss.expr", "the custom loss does not depend on yhat")
        rule = custom_loss(ell, table["expr"])
    elif kind in LOSSES:
        values = {p: _number(table[p], source, f"loss.{p}", positive=True) for p in params if p in table}
        if kind == "mse" and "scale" in values and values["scale"] not in (sp.Rational(1, 2), 1):
            raise SpecError(source, "loss.scale", "expected 0.5 (textbook 1/2 (y - yhat)^2) or 1")
        rule = make_loss(kind, **values)
    else:
        raise SpecError(source, "loss.kind", f"unknown loss {kind_raw!r}; expected one of "
                        f"{', '.join(sorted(LOSSES) + ['custom'])}")
    reduction = table.get("reduction", "mean")
    if reduction not in ("mean", "sum"):
        raise SpecError(source, "loss.reduction", f"expected \"mean\" (1/N over the batch) or "
                        f"\"sum\", got {reduction!r}")
    l2 = sp.Integer(0)
    if "l2" in table:
        l2 = _number(table["l2"], source, "loss.l2")
        if l2 < 0:
            raise SpecError(source, "loss.l2", "expected a number >= 0")
    return LossSpec(rule, reduction, l2)


def _check_combination(raw_model: dict, model: ModelSpec, loss: LossSpec, source: str) -> LossSpec:
    """Fuse ``activation = "softmax"`` with cross-entropy; reject links applied twice."""
    key = f"model.layers[{len(model.layers) - 1}].activation"
    last_raw = raw_model["layers"][-1].get("activation", "identity")
    if isinstance(last_raw, str) and last_raw.strip().lower() == "softmax":
        if loss.rule.name not in ("cross_entropy", "softmax_cross_entropy"):
            raise SpecError(source, key, "a softmax output is only supported with the loss "
                            "cross_entropy (fused into softmax cross-entropy); for other losses use "
                            "an elementwise activation")
        return LossSpec(make_loss("softmax_cross_entropy"), loss.reduction, loss.l2)
    last = model.layers[-1].activation
    if loss.rule.link is not None and not last.is_identity:
        raise SpecError(source, key, f"the loss {loss.rule.name} applies {loss.rule.link} to the "
                        f"logits itself, so the last layer must be linear (activation = "
                        f"\"identity\"), not {last.name}")
    return loss
