"""Compare a hand-written NumPy backward function with the derived gradients.

Contract: :func:`load_function` imports the user's own Python file by path (``file.py:function``;
this runs their code, which is the point of the command) and :func:`gradcheck` calls the
function on random data of the spec's sizes. Arguments are matched by name: ``X``/``x``/
``inputs``, ``y``/``Y``/``targets``, ``W1``, ``b1``, ... (``W``/``b`` for one layer), forward
values ``z1``, ``a1``, ..., ``a{L}``/``yhat``/``outputs``. The returned gradients (a tuple in the
order of the function's ``return`` names such as ``dW1, dW2, db1, db2`` or ``grad_W, grad_b``, or
a dict) are compared parameter by parameter with the derivation; mismatches are diagnosed
(constant factor N, 1/N, 2, 1/2, sign; wrong shape).
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import SymbpError
from ..evaluate import evaluate
from .diagnose import factor_labels


class GradcheckError(SymbpError):
    """The function could not be loaded or called."""


@dataclass
class ParamResult:
    param: str
    status: str                     # ok | wrong | shape | missing
    message: str = ""
    diagnosis: list = field(default_factory=list)


@dataclass
class GradcheckReport:
    function: str
    n: int
    results: list

    @property
    def ok(self) -> bool:
        return all(r.status == "ok" for r in self.results)

    def to_text(self) -> str:
        lines = [f"gradcheck {self.function} on random data (N = {self.n} samples)"]
        for r in self.results:
            lines.append(f"  {('d' + r.param):<6} {r.status.upper():<6} {r.message}")
        bad = sum(r.status != "ok" for r in self.results)
        lines.append(f"{len(self.results) - bad} of {len(self.results)} gradients match")
        return "\n".join(lines) + "\n"


def load_function(target: str):
    """``path/to/file.py:function`` -> (function, return names). Runs the user's file."""
    if ":" not in target:
        raise GradcheckError(f"{target!r}: expected path/to/file.py:function")
    path, name = target.rsplit(":", 1)
    p = Path(path)
    if not p.is_file():
        raise GradcheckError(f"{path}: no such file")
    if not name.isidentifier():
        raise GradcheckError(f"{name!r} is not a function name")
    spec = importlib.util.spec_from_file_location(f"_symbp_user_{p.stem}", p)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the user's file failed: report it, no traceback
        raise GradcheckError(f"{path}: importing the file failed: {type(exc).__name__}: {exc}") from None
    fn = getattr(module, name, None)
    if not callable(fn):
        raise GradcheckError(f"{path} has no function {name!r}")
    return fn, _return_names(p.read_text(encoding="utf-8"), name)


def _return_names(source: str, name: str) -> list[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == name:
            for sub in ast.walk(node):
                if isinstance(sub, ast.Return) and isinstance(sub.value, ast.Tuple):
                    return [e.id if isinstance(e, ast.Name) else "" for e in sub.value.elts]
    return []


def _param_of(gname: str, params: list[str]) -> str | None:
    m = re.match(r"^(?:d|grad_?|g)(W|b|w)(\d*)$", gname)
    if not m:
        return None
    kind, num = m.group(1).upper() if m.group(1) == "w" else m.group(1), m.group(2)
    if not num:
        num = "1" if len([p for p in params if p.startswith(kind)]) == 1 else ""
    cand = f"{kind}{num}"
    return cand if cand in params else None


def gradcheck(d, fn, return_names=(), *, n: int = 7, seed: int = 0) -> GradcheckReport:
    """Call ``fn`` on random data and compare its gradients with the derivation ``d``."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise GradcheckError(f"the number of samples must be a whole number of at least 1 (the "
                             f"random batch the function is called on), got {n!r}")
    rng = np.random.default_rng(seed)
    sizes = d.spec.model.sizes
    depth = len(sizes) - 1
    for _ in range(50):
        params = {}
        for l in range(1, depth + 1):
            params[f"W{l}"] = rng.uniform(0.05, 0.6, (sizes[l - 1], sizes[l]))
            params[f"b{l}"] = rng.uniform(0.0, 0.2, sizes[l])
        X = rng.uniform(0.05, 0.95, (n, sizes[0]))
        if d.spec.loss.rule.link == "softmax":  # one-hot rows: what the fused ŷ − y assumes
            Y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], n)]
        else:
            Y = rng.uniform(0.05, 0.95, (n, sizes[-1])).round()
        with np.errstate(all="ignore"):
            values = evaluate(d, params, X, Y)
        grads = {p: values["d" + p] for p in d.params}
        if all(np.all(np.isfinite(g)) for g in grads.values()):
            break
    else:
        raise GradcheckError("the derived gradient is not finite at any random point "
                             "(an ill-posed loss, e.g. a log of a ReLU output)")
    env = {"X": X, "x": X, "inputs": X, "X_train": X, "y": Y, "Y": Y, "targets": Y, "t": Y,
           "y_true": Y, "N": n}
    env.update(params)
    if depth == 1:
        env.update(W=params["W1"], b=params["b1"])
    for l in range(1, depth + 1):
        env[f"z{l}"] = values[f"z{l}"]
        env[f"a{l}"] = values["yhat"] if l == depth else values[f"a{l}"]
    for alias in ("yhat", "y_pred", "outputs", "output", "a_out"):
        env[alias] = values["yhat"]
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        raise GradcheckError("cannot read the function's parameters") from None
    kwargs = {}
    for pname in sig.parameters:
        if pname not in env:
            raise GradcheckError(f"the function's parameter {pname!r} is not one symbp knows "
                                 f"(known: {', '.join(sorted(set(env) - {'N'}))})")
        kwargs[pname] = np.array(env[pname], copy=True)
    try:
        with np.errstate(all="ignore"):
            out = fn(**kwargs)
    except Exception as exc:
        raise GradcheckError(f"calling the function failed: {type(exc).__name__}: {exc}") from None
    if isinstance(out, dict):
        got = {(_param_of(k, d.params) or k): v for k, v in out.items()}
    else:
        out = out if isinstance(out, (tuple, list)) else (out,)
        names = list(return_names) if len(return_names) == len(out) else []
        got = {}
        for i, v in enumerate(out):
            p = _param_of(names[i], d.params) if names else None
            got[p or (d.params[i] if i < len(d.params) else f"#{i}")] = v
    hyps = _hypotheses(d, params, values, X, Y)
    results = [_compare(p, got.get(p), grads[p], n, hyps, X.shape[1]) for p in d.params]
    return GradcheckReport(getattr(fn, "__name__", "function"), n, results)


def _act_derivative(act, z: np.ndarray) -> np.ndarray:
    """f'(z) elementwise, numerically (from the activation's SymPy derivative)."""
    import sympy as sp

    from ..rules.activations import X as XSYM

    df = act.df
    out = np.empty(z.shape)
    for idx, v in np.ndenumerate(z):
        val = df.subs(XSYM, float(v))
        if val.has(sp.Heaviside):
            val = val.replace(lambda e: isinstance(e, sp.Heaviside),
                              lambda e: sp.Integer(1) if e.args[0] > 0 else sp.Integer(0))
        out[idx] = float(val)
    return out


def _hypotheses(d, params, values, X, Y) -> dict:
    """Gradients of common mistakes, backpropagated through the network as derived:
    ``yhat - y`` as the output error (right only for a sigmoid/softmax output with
    cross-entropy or an identity output with 1/2 MSE), and dL/dyhat without the output
    activation's derivative. ``{name: (labels, words, {param: grad})}``."""
    depth = len(d.spec.model.sizes) - 1
    layers = d.spec.model.layers
    n = X.shape[0]
    mean = getattr(d.spec.loss, "reduction", "sum") == "mean"
    try:
        with np.errstate(all="ignore"):
            fps = [_act_derivative(layers[l - 1].activation, values[f"z{l}"])
                   for l in range(1, depth + 1)]
    except Exception:  # an activation without a numeric derivative: no hypotheses
        return {}
    yhat = values["yhat"]
    true_out = values[f"delta{depth}"]
    out = {}
    fused = (yhat - Y) / (n if mean else 1)
    if not np.allclose(fused, true_out, rtol=1e-6, atol=1e-12):
        act = layers[-1].activation
        out["fused"] = (["missing_activation_derivative", "wrong_output_error"],
                        f"the output error is yhat - y, which is dL/dz only for a sigmoid or "
                        f"softmax output with cross-entropy (or an identity output with MSE); "
                        f"this network's output is {act.text} with {d.spec.loss.kind}, so the "
                        f"output layer's derivative is missing or wrong", fused)
    with np.errstate(all="ignore"):
        no_fp = np.where(np.abs(fps[-1]) > 1e-12, true_out / fps[-1], np.nan)
    if np.all(np.isfinite(no_fp)) and not np.allclose(no_fp, true_out, rtol=1e-6, atol=1e-12):
        out["no_fp"] = (["missing_activation_derivative"],
                        "the output activation's derivative f'(z) is missing", no_fp)
    result = {}
    for name, (labels, words, delta) in out.items():
        grads = {}
        with np.errstate(all="ignore"):
            for l in range(depth, 0, -1):
                a_prev = X if l == 1 else values[f"a{l - 1}"]
                grads[f"W{l}"] = a_prev.T @ delta
                grads[f"b{l}"] = delta.sum(axis=0)
                if l > 1:
                    delta = (delta @ params[f"W{l}"].T) * fps[l - 2]
        result[name] = (labels, words, grads)
    return result


def _scale_words(c: float, n: int, features: int | None) -> str:
    """The constant between a gradient and a hypothesis computed with the loss's own 1/N."""
    if abs(c - 1) < 1e-9:
        return ""
    m = n / c
    if features and abs(m - features) < 1e-9:
        return (f" (times N/{features}: divided by {features}, the number of input features, "
                f"instead of by N = {n})")
    if abs(c - n) < 1e-9 * n:
        return " (times N: the 1/N of the mean is missing)"
    return f" (times {c:.6g})"


def _compare(p: str, mine, derived: np.ndarray, n: int, hyps=None, features=None) -> ParamResult:
    if mine is None:
        return ParamResult(p, "missing", "the function returns no gradient for " + p)
    try:
        mine = np.asarray(mine, dtype=float)
    except (TypeError, ValueError):
        return ParamResult(p, "shape", f"the function returns {type(mine).__name__} for {p}, "
                           f"which is not a numeric array", ["shape"])
    if mine.shape != derived.shape:
        if mine.ndim == 2 and mine.shape == derived.shape[::-1] and \
                np.allclose(mine.T, derived, rtol=1e-6, atol=1e-10):
            return ParamResult(p, "shape", f"shape {mine.shape}: the transpose of the derived "
                               f"gradient, whose shape is {derived.shape} like {p}'s",
                               ["transposed"])
        if mine.size == derived.size:
            mine = mine.reshape(derived.shape)
        else:
            why = ""
            if p.startswith("b") and mine.shape in ((n, 1), (n,)):
                why = (": one value per sample, so the sum ran over the units (axis=1) instead "
                       "of over the samples (axis=0)")
            return ParamResult(p, "shape", f"shape {mine.shape}, but {p} has shape "
                               f"{derived.shape}{why}", ["shape"])
    if np.allclose(mine, derived, rtol=1e-6, atol=1e-10):
        return ParamResult(p, "ok", "matches the derived gradient")
    err = float(np.max(np.abs(mine - derived)))
    if not np.any(mine):
        return ParamResult(p, "wrong", f"d{p} is all zeros (max abs difference from the derived "
                           f"gradient {err:.3g})", ["other"])
    mask = np.abs(derived) > 1e-12
    ratios = mine[mask] / derived[mask]
    hyp = _match_hypothesis(p, mine, hyps, n, features, err)
    if ratios.size and np.allclose(ratios, ratios[0], rtol=1e-6):
        labels, text = factor_labels(float(ratios[0]), n)
        if hyp is not None and labels in (["factor"], ["sign", "factor"]):
            return hyp  # an unnamed factor says less than a known mistake
        c = float(ratios[0])
        shown = f"{c:.6g}"
        if abs(c - n) < 1e-9 * n:
            shown = "N"
        elif abs(c * n - 1) < 1e-9:
            shown = "1/N"
        return ParamResult(p, "wrong", f"d{p} = {shown} x derived" + (f": {text}" if text else ""), labels)
    if hyp is not None:
        return hyp
    return ParamResult(p, "wrong", f"differs from the derived gradient (max abs difference "
                       f"{err:.3g}), not by a constant factor", ["other"])


def _match_hypothesis(p, mine, hyps, n, features, err):
    for labels, words, grads in (hyps or {}).values():
        h = grads.get(p)
        if h is None or h.shape != mine.shape:
            continue
        mask = np.abs(h) > 1e-12
        if not mask.any() or np.any(np.abs(mine[~mask]) > 1e-10):
            continue
        r = mine[mask] / h[mask]
        if abs(r[0]) > 1e-12 and np.allclose(r, r[0], rtol=1e-6):
            scale = _scale_words(float(r[0]), n, features)
            if r.size == 1 and scale and "N" not in scale:
                continue  # one number is a multiple of anything: only an exact or named match
            return ParamResult(p, "wrong", f"d{p} is the gradient computed with the wrong output "
                               f"error{scale}: {words} (max abs difference from the derived "
                               f"gradient {err:.3g})", list(labels))
    return None
