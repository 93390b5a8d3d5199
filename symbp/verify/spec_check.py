"""Claims in the setting of a spec: resolve the notation onto a concrete instance and compare.

Contract: :func:`check_in_spec` instantiates the spec's network at small sizes (the spec's widths
capped at 4, then random distinct widths so that a transposed factor cannot hide behind a
square matrix). A claim that writes the batch (N, m, a sample index n, a sum over n, a data
matrix X, Y or \\hat{Y}) is checked over a batch of ``BATCH`` samples, so that a missing or extra
1/N shows; other claims are per-sample formulas, checked for one sample, and a correct verdict
says so (a per-sample matrix formula is also tried over a batch, and the verdict says whether it
holds there). Every symbol of the claim becomes an element, vector or matrix of the instance,
in the claim's layout: ``column`` (textbook z = W a + b, vectors are columns, rows of W are
output units) or ``row`` (symbp's z = a W + b). A general layer ``l`` is tried at every layer
where the formula makes sense. The claim is correct in a layout when it matches the derivation
for every layer, size and index tried; it is accepted when it is correct in either layout, and
the report says which. A sum over an index (``\\sum_i``) is expanded term by term, each term
resolved with the index at its value, so a derivative in the summand is the derivative at that
value (the chain rule written as a sum). For a loss fused with softmax, whose output error
ŷ − y assumes that each row of y sums to 1, the random points satisfy that and the symbolic
comparison applies it (the last y of each row is 1 minus the others); a correct verdict that
needed it says so.
"""

from __future__ import annotations

import dataclasses
import itertools
import random
import re

import numpy as np
import sympy as sp

from ..claims import ClaimParseError, Resolver, to_sympy
from ..claims import ast as A
from ..claims.convert import FUNCTIONS
from ..claims.names import GENERIC_FUNCTIONS
from ..claims.parse import SUMMED_LOSS
from ..expr import as_sympy
from .instance import Instance
from .model import Unresolvable, compare
from .printing import fmt_point, fmt_value
from .resolve import Meaning, classify, layer_value, uses_general_layer
from .verdict import Verdict

LAYOUTS = ("column", "row")
_DERIVATIONS: dict = {}
_INSTANCES: dict = {}       # (id(d), sizes, n) -> (d, Instance); d kept so the id stays valid
_MAX_INSTANCES = 64
_MAX_TERMS = 64             # a sum with more terms than this stays symbolic (see sum_terms)


def derivation_of(spec):
    from ..derive import Derivation, derive
    from ..spec import load_spec

    if isinstance(spec, Derivation):
        return spec
    if not hasattr(spec, "model"):
        spec = load_spec(spec)
    key = spec.digest
    if key not in _DERIVATIONS:
        _DERIVATIONS[key] = derive(spec)
    return _DERIVATIONS[key]


def instance_of(d, sizes, n) -> Instance:
    """The instance of ``d`` at ``sizes`` with ``n`` samples (cached: building one is the costly
    part of a check, and a claim, its layouts and its candidate repairs share it)."""
    key = (id(d), tuple(sizes), n)
    hit = _INSTANCES.get(key)
    if hit is not None and hit[0] is d:
        return hit[1]
    if len(_INSTANCES) >= _MAX_INSTANCES:
        _INSTANCES.pop(next(iter(_INSTANCES)))
    inst = Instance(d, sizes, n)
    _INSTANCES[key] = (d, inst)
    return inst


def points_of(inst: Instance, seed: int, count: int = 10) -> list:
    """The random consistent points of an instance for a seed (cached on the instance). The
    first ``count`` points are the same for any ``count``: fewer are a prefix of more."""
    cache = inst.__dict__.setdefault("_points", {})
    key = (seed, count)
    longer = [pts for (sd, c), pts in cache.items() if sd == seed and c >= count]
    if key not in cache and longer:
        return longer[0][:count]
    if key not in cache:
        cache[key] = _consistent_points(inst, random.Random(seed), count)
    return cache[key]


class SpecResolver(Resolver):
    def __init__(self, inst: Instance, layout: str, l, context: int, aliases: dict, functions,
                 index_values: dict, denominator_kind: str | None):
        self.inst, self.layout, self.l, self.c = inst, layout, l, context
        self.aliases, self.functions = aliases, functions
        self.values = index_values          # letter -> 1-based int
        self.den_kind = denominator_kind
        self.sizes: dict = {}
        self.depth = 0

    # -- meaning -------------------------------------------------------------------------------
    def meaning(self, ref) -> Meaning:
        return classify(ref, self.aliases)

    def tensor_of(self, m: Meaning) -> str:
        inst = self.inst
        layer = layer_value(m.layer, self.l, inst.depth)
        if layer is None and m.kind in ("z", "W", "b", "delta"):
            layer = self.c
        if layer is None and m.kind == "a":
            layer = self.c if self.den_kind in (None, "z", "delta", "a", "yhat") else self.c - 1
        try:
            return inst.tensor(m.kind, layer)
        except KeyError:
            raise Unresolvable(f"layer {layer} of {m.kind} does not exist in this network "
                               f"({inst.depth} layers)") from None

    def whole(self, arr: np.ndarray) -> sp.Matrix:
        mat = sp.Matrix(arr.reshape(1, -1)) if arr.ndim == 1 else sp.Matrix(arr)
        return mat.T if self.layout == "column" else mat

    def element(self, name: str, arr: np.ndarray, idx: tuple, sample: str = ""):
        """``arr``'s element at the 1-based ``idx``; ``sample``: "n" when the one index is the
        sample index n of a one-unit quantity (``\\hat{y}_n`` of a network with one output),
        "n0" / "n1" when n is the first / second of two (``x_{nj}``, ``x_{jn}``)."""
        idx = tuple(int(i) - 1 for i in idx)
        if sample == "n":
            full = (idx[0], 0)
        elif sample in ("n0", "n1") and len(idx) == 2:
            full = idx if sample == "n0" else idx[::-1]
        elif arr.ndim == 1:
            full = idx[-1:] if len(idx) == 1 else None
        elif name.startswith(("W", "dW")):
            if len(idx) == 1 and 1 in arr.shape:  # w_j of a layer with one input or one output
                full = (idx[0], 0) if arr.shape[1] == 1 else (0, idx[0])
            else:
                full = idx if self.layout == "row" else idx[::-1]
        else:  # (N, d) activations: one index is the unit; two are (sample, unit) / (unit, sample)
            full = (0, idx[0]) if len(idx) == 1 else (idx if self.layout == "row" else idx[::-1])
        if full is None or len(full) != arr.ndim or any(not 0 <= i < s for i, s in zip(full, arr.shape)):
            raise Unresolvable(f"the index {tuple(i + 1 for i in idx)} does not fit {name} "
                               f"(shape {arr.shape})")
        return arr[full]

    # -- Resolver interface -------------------------------------------------------------------
    def symbol(self, ref):
        m = self.meaning(ref)
        inst = self.inst
        if m.kind == "formula":
            self.depth += 1
            if self.depth > 20:
                raise Unresolvable("the notation aliases refer to each other in a circle")
            try:
                return to_sympy(m.formula, self, functions=self.functions)
            finally:
                self.depth -= 1
        if m.kind == "loss":
            return inst.loss
        if m.kind == "loss_sum":  # N L for a mean over the batch
            return inst.loss * (inst.n if inst.d.spec.loss.reduction == "mean" else 1)
        if m.kind == "N":
            return sp.Integer(inst.n)
        if m.kind == "lr":
            return sp.Symbol("alpha", positive=True)
        if m.kind == "l2":  # the spec's weight decay, as the derivation uses it
            return as_sympy(inst.d.spec.loss.l2)
        name = self.tensor_of(m)
        return self._value(name, inst.arrays[name], ref)

    def _value(self, name, arr, ref):
        if not ref.indices:
            return self.whole(arr)
        sample = "n" if sample_indexed(name, arr, ref.indices) else \
            {0: "n0", 1: "n1"}.get(sample_place(name, arr, ref.indices), "")
        idx = []
        for letter in ref.indices:
            if letter.isdigit():
                idx.append(int(letter))
            elif letter in self.values:
                idx.append(self.values[letter])
            else:
                idx.append(None)
        if any(i is None for i in idx):  # a summation index: an element filled in after the sum
            return sp.IndexedBase(f"{name}|{self.layout}|{sample}")[tuple(
                sp.Symbol(x, integer=True) if i is None else sp.Integer(i)
                for x, i in zip(ref.indices, idx))]
        return self.element(name, arr, tuple(idx), sample)

    def index(self, name):
        return sp.Symbol(name, integer=True)

    def sum_over(self, index, body, bounds=None):
        """``\\sum_n`` of a matrix of samples (``\\sum_n \\delta^{(2)}``), or a sum over any
        letter from 1 to N (Ng's ``\\sum_{i=1}^{m} dZ^{[2]}``): the sum over the batch, one row
        (row layout) or column (column layout) per sample."""
        if not isinstance(body, sp.MatrixBase):
            return None
        per_sample = (body.rows if self.layout == "row" else body.cols) == self.inst.n
        if bounds is not None:
            lo, hi = bounds
            if not (getattr(lo, "is_Integer", False) and getattr(hi, "is_Integer", False)):
                return None
            if not (per_sample and (int(lo), int(hi)) == (1, self.inst.n)):
                return body * (int(hi) - int(lo) + 1)  # a summand without the index, repeated
        elif index != "n":
            return None
        if self.layout == "row":
            return sp.Matrix(1, body.cols, lambda i, j: sum(body[:, j], sp.Integer(0)))
        return sp.Matrix(body.rows, 1, lambda i, j: sum(body[i, :], sp.Integer(0)))

    def index_value(self, name):
        return sp.Integer(self.values[name]) if name in self.values else self.index(name)

    def sum_bounds(self, index):
        if index not in self.sizes:
            raise Unresolvable(f"the range of the summation index {index} is unknown")
        return sp.Integer(1), sp.Integer(self.sizes[index])

    def sum_terms(self, index, lower, upper):
        """A sum over an index with integer bounds is expanded term by term: each term is
        resolved with the index fixed, so an element or a derivative chosen by the index
        (``\\frac{\\partial L}{\\partial \\hat{y}_i}``, ``\\frac{\\partial \\hat{y}_i}{\\partial
        z_j}``) is the one at that value."""
        if not (getattr(lower, "is_Integer", False) and getattr(upper, "is_Integer", False)):
            return None
        if int(upper) - int(lower) > _MAX_TERMS:
            return None
        return list(range(int(lower), int(upper) + 1))

    def bind_index(self, index, value):
        previous = self.values.get(index)
        if value is None:
            self.values.pop(index, None)
        else:
            self.values[index] = value
        return previous

    def loss(self):
        return self.inst.loss

    def derivative(self, of, wrt, ref):
        inst = self.inst
        if any(x.isalpha() and x not in self.values for x in ref.indices) or any(
                isinstance(v, sp.Basic) and v.has(sp.Indexed) for v in (of, wrt)):
            # an element chosen by an index without a value here (a sum whose range is not a
            # number): its derivative cannot be taken element by element
            raise Unresolvable("a derivative with respect to an element chosen by a summation "
                               "index whose range is not known")
        scale = 1 if of == inst.loss else inst.n if of == inst.loss * inst.n else None
        if scale is not None:  # the loss, or N times it (Ng's dZ: the loss summed)
            m = self.meaning(ref)
            if m.kind in ("loss", "loss_sum", "N", "lr", "l2", "formula"):
                raise Unresolvable("a derivative with respect to a quantity that is not a tensor")
            name = self.tensor_of(m)
            value = self._value(name, inst.grad_of_loss(name), dataclasses.replace(ref, transpose=False))
            return value if scale == 1 else value * scale
        model = inst.model
        if isinstance(wrt, sp.MatrixBase):
            flat = list(wrt)
            if isinstance(of, sp.MatrixBase):
                of_l = list(of)
                return sp.Matrix(len(of_l), len(flat), lambda i, j: model.canonical(
                    model.derivative(of_l[i], flat[j])))
            return wrt.applyfunc(lambda w: model.canonical(model.derivative(of, w)))
        if isinstance(of, sp.MatrixBase):
            return of.applyfunc(lambda e: model.canonical(model.derivative(e, wrt)))
        return model.canonical(model.derivative(of, wrt))

    def function(self, name, args, primes):
        base, _, label = name.partition("[")
        if base in GENERIC_FUNCTIONS and len(args) == 1:
            return self._layer_activation(base, label.rstrip("]") or None, args[0], primes)
        if not args or not isinstance(args[0], sp.MatrixBase) or len(args) != 1:
            return None
        if name not in FUNCTIONS or FUNCTIONS[name][0] != 1:
            return None
        build = FUNCTIONS[name][1]
        t = sp.Dummy("t", real=True)
        f = sp.diff(build(t), t, primes) if primes else build(t)
        return args[0].applyfunc(lambda v: f.xreplace({t: v}))


    def _layer_activation(self, name, label, arg, primes):
        """``g(z^{(l)})``, ``g'(z^{(l)})`` (Goodfellow's f, Wikipedia's φ): the activation of
        layer l, or its derivative, where the argument is that layer's z; Ng's ``g^{[l]}`` is
        layer l's whatever its argument."""
        layers = {int(m.group(1)) for v in getattr(arg, "free_symbols", ())
                  for m in [re.match(r"z(\d+)_", v.name)] if m}
        shown = {"phi": "φ", "varphi": "φ", "psi": "ψ"}.get(name, name)
        depth = self.inst.depth
        if label is not None:
            try:
                layer = layer_value(label, self.l, depth)
            except (AttributeError, ValueError):  # not a layer expression: ^{[k]}
                layer = None
            if not isinstance(layer, int) or not 1 <= layer <= depth:
                raise Unresolvable(f"{shown}^[{label}]: this network has layers 1 to {depth}")
        elif len(layers) == 1:
            layer = layers.pop()
        else:
            raise Unresolvable(f"{shown} is read as a layer's activation only when its argument is "
                               f"that layer's z (as {shown}'(z^{{(1)}})) or its layer is written "
                               f"({shown}^{{[1]}}); write the activation itself (σ, tanh, ReLU)")
        link = self.inst.d.spec.loss.rule.link if layer == depth else None
        if link == "softmax":
            raise Unresolvable(f"{shown}: the softmax layer's activation is not elementwise")
        if link == "sigmoid":  # fused into the loss (bce_logits): the output layer's is σ
            from ..rules.activations import make_activation

            act = make_activation("sigmoid")
        else:
            act = self.inst.d.spec.model.layers[layer - 1].activation
        x = next(iter(act.f.free_symbols), sp.Symbol("x"))
        f = sp.diff(act.f, x, primes) if primes else act.f
        return arg.applyfunc(lambda v: f.xreplace({x: v})) if isinstance(arg, sp.MatrixBase) \
            else f.xreplace({x: arg})


# --- the check ---------------------------------------------------------------------------------

def _refs(claim):
    out = []
    for side in claim.sides:
        for n in A.walk(side):
            if isinstance(n, A.Sym):
                out.append(n.ref)
            elif isinstance(n, A.Deriv):
                out.append(n.wrt)
    return out


def _general_layers(claim, aliases, depth) -> list:
    metas = []
    for ref in _refs(claim):
        try:
            metas.append(classify(ref, aliases))
        except Unresolvable:
            raise
    if not any(uses_general_layer(m.layer) for m in metas):
        return [None]
    ok = []
    for l in range(0, depth + 1):
        good = True
        for m in metas:
            v = layer_value(m.layer, l, depth)
            if v is None:
                continue
            lo = 0 if m.kind in ("a", "x") else 1
            if not lo <= v <= depth:
                good = False
        if good:
            ok.append(l)
    if not ok:
        raise Unresolvable("no layer of this network fits the layer indices of the formula")
    return ok


def _sizes_for(d, rng: random.Random, has_digits: bool):
    spec_sizes = tuple(max(1, min(s, 4)) for s in d.spec.model.sizes)
    if has_digits:
        return [tuple(max(1, min(s, 6)) for s in d.spec.model.sizes)]
    if all(s == 1 for s in d.spec.model.sizes):
        return [spec_sizes]  # a scalar network: its formulas are scalar formulas
    trials = [spec_sizes]
    for _ in range(20):
        r = tuple(rng.randint(2, 4) for _ in spec_sizes)
        if spec_sizes[-1] == 1:  # one output unit: claims may treat the output as a scalar
            r = r[:-1] + (1,)
        if all(a != b for a, b in zip(r, r[1:])) or (spec_sizes[-1] == 1 and all(
                a != b for a, b in zip(r[:-1], r[1:-1]))):
            trials.append(r)
            break
    return trials


def _lhs_letters(claim) -> set:
    out = set()
    heads = [s for i, s in enumerate(claim.sides) if i == 0 or isinstance(s, A.Deriv)]
    for n in (m for side in heads for m in A.walk(side)):
        refs = [n.ref] if isinstance(n, A.Sym) else [n.wrt] if isinstance(n, A.Deriv) else []
        out.update(x for r in refs for x in r.indices)
    return out


def _letters(claim):
    lhs, all_letters, summed = set(), [], set()
    for i, side in enumerate(claim.sides):
        for n in A.walk(side):
            refs = [n.ref] if isinstance(n, A.Sym) else [n.wrt] if isinstance(n, A.Deriv) else []
            labels = [x for r in refs for x in r.indices]
            if isinstance(n, A.Kronecker):
                labels = [n.first, n.second]
            for x in labels:
                if not x.isdigit() and x.isalpha():
                    all_letters.append(x)
                    if i == 0:
                        lhs.add(x)
            if isinstance(n, A.Sum) and n.index:
                summed.add(n.index)
    free = [x for x in dict.fromkeys(all_letters) if x not in summed or x in lhs]
    return free, summed


def check_in_spec(claim, spec, aliases, functions, seed, numeric_only: bool = False,
                  quick: bool = False, layout: str | None = None) -> Verdict:
    """Check a claim in a spec's setting.

    ``layout``: ``"row"`` or ``"column"`` checks matrix formulas and two-index weights in that
    layout only (the document's own); None accepts a formula that holds in either.

    ``numeric_only``: compare at the random points only and do not diagnose a wrong claim (the
    check of a candidate repair). ``quick``: as numeric_only, at one point, one index choice and
    the distinct-width instance only (the cheap filter applied to candidate repairs first).
    """
    d = derivation_of(spec)
    claim = _sample_error_terms(claim, aliases)
    numeric_only = numeric_only or quick
    rng = random.Random(seed)
    depth = len(d.spec.model.sizes) - 1
    layers = _general_layers(claim, aliases, depth)
    refs = _refs(claim)
    batch = _batch_form(claim, refs, aliases)
    has_digits = any(x.isdigit() for r in refs for x in r.indices) or any(
        len(r.indices) == 1 and _safe(r, aliases) and classify(r, aliases).kind == "W" for r in refs)
    deriv = next((s for s in claim.sides if isinstance(s, A.Deriv)), None)
    den = classify(deriv.wrt, aliases) if deriv is not None else None
    free, summed = _letters(claim)
    stray = [x for x in free if x not in _lhs_letters(claim)]
    if stray:
        raise Unresolvable(f"the index {stray[0]} is neither summed over nor on the left side, so "
                           "the formula does not say which element it means")
    _ambiguous_layers(claim, aliases, depth)
    matrices = not any(r.indices for r in refs)
    results = {}
    pinned = layout
    both = LAYOUTS if pinned is None else (pinned,)
    for layout in (both if matrices or any(len(r.indices) > 1 for r in refs) else
                   (pinned or "column",)):  # (one index: the layouts agree)
        results[layout] = _run_layout(claim, d, layout, layers, depth, den, aliases, functions,
                                      batch, has_digits, free, summed, rng, seed, numeric_only, quick)
        if numeric_only and results[layout]["status"] == "correct":
            break
    for layout, res in results.items():
        if res["status"] == "correct":
            note = f" ({layout} layout: {_LAYOUT_TEXT[layout]})" if matrices else ""
            weights = not matrices and _two_index_weights(refs, aliases)
            if weights:
                note += f" (weight indices read as {_WEIGHT_TEXT[layout]})"
            if not numeric_only:
                note += _summed_note(refs, d)
                note += _unlayered_note(refs, aliases, depth, den)
                note += _samples_note(claim, d, layout, layers, depth, den, aliases, functions,
                                      res, matrices, has_digits, free, summed, seed)
            v = Verdict(claim.text, "correct", "matches the derivation" + note + res["note"],
                        layout=layout if matrices or weights else None, symbolic=res["symbolic"],
                        numeric=True)
            if res["symbolic"] is not True and not numeric_only:
                v.verdict = "unverifiable"
                v.reason = "numerically equal, but the symbolic comparison was inconclusive"
            return v
    if numeric_only:  # a candidate repair: no diagnosis (that would search repairs of repairs)
        status = next((r["status"] for r in results.values()), "unverifiable")
        return Verdict(claim.text, "wrong" if status in ("wrong", "shape") else "unverifiable",
                       "does not match")
    for layout, res in results.items():
        if res["status"] == "unverifiable" and "symbolic" in res.get("message", ""):
            return Verdict(claim.text, "unverifiable", res["message"] + f" ({layout} layout)",
                           layout=layout, numeric=True)
    for status in ("wrong", "shape", "unverifiable"):
        found = [(layout, res) for layout, res in results.items() if res["status"] == status]
        if status == "wrong" and len(found) > 1:
            # wrong in both layouts: report the one where it is a constant multiple of the
            # derived value (a factor or a sign, measured at the sample points), if any
            found.sort(key=lambda item: _constant_factor_of(item[1]) is None)
        for layout, res in found:
            return _report(claim, d, layout, res, matrices, aliases, functions, layers, den,
                           pinned)
    raise Unresolvable("nothing could be compared")


#: Kinds whose two-index elements are (sample, unit) or (unit, sample) of a batch.
_SAMPLE_KINDS = ("x", "y", "yhat", "z", "a", "delta")


def _sample_error_terms(claim, aliases):
    """The claim with each two-index ``\\delta`` that is an error term read as one. The parser
    reads ``\\delta_{ij}`` as a Kronecker delta (``\\delta_{nj}``, with the sample index n, is
    already an error term); in a spec, ``\\delta_{mj}`` summed over m beside an element of a
    batch quantity that has m in the same place and, in the other, an index other than n
    (``\\sum_m x_{mi} \\delta_{mj}``) is the error term of sample m. The softmax Jacobian's
    ``\\hat{y}_i(\\delta_{ij} - \\hat{y}_j)`` (one-index factors) and a batch form's
    ``\\hat{y}_{nk}(\\delta_{jk} - \\hat{y}_{nj})`` (k beside n) keep the Kronecker delta."""
    from .diagnose_spec import _map

    found = {}
    for side in claim.sides:
        for s in A.walk(side):
            if not (isinstance(s, A.Sum) and s.index):
                continue
            m, places = s.index, set()
            for n in A.walk(s.body):
                if (isinstance(n, A.Sym) and len(n.ref.indices) == 2 and m in n.ref.indices
                        and _safe(n.ref, aliases)
                        and classify(n.ref, aliases).kind in _SAMPLE_KINDS):
                    place = n.ref.indices.index(m)
                    if n.ref.indices[1 - place] not in (m, "n"):
                        places.add(place)
            for n in A.walk(s.body):
                if isinstance(n, A.Kronecker) and any(
                        (n.first, n.second)[p] == m for p in places):
                    found[id(n)] = n
    if not found:
        return claim

    def as_error_term(node):
        if isinstance(node, A.Kronecker) and found.get(id(node)) is node:
            return A.Sym(A.SymbolRef("delta", indices=(node.first, node.second)), node.pos)
        return None
    return dataclasses.replace(claim, sides=tuple(_map(s, as_error_term) for s in claim.sides))


_LAYOUT_TEXT = {"column": "z = W a + b, vectors are columns", "row": "z = a W + b, symbp's layout"}

_WEIGHT_TEXT = {"column": "w_{kj}: the first index is the unit of the layer, the second the unit "
                          "of the layer below (z = W a + b)",
                "row": "w_{jk}: the first index is the unit of the layer below, the second the unit "
                       "of the layer (z = a W + b)"}
_LAYERED = ("z", "a", "W", "b", "delta")


def _two_index_weights(refs, aliases) -> bool:
    return any(len(r.indices) == 2 and _safe(r, aliases) and classify(r, aliases).kind == "W"
               for r in refs)


def _unlayered(ref, aliases) -> bool:
    return _safe(ref, aliases) and (lambda m: m.kind in _LAYERED and m.layer is None)(
        classify(ref, aliases))


def _ambiguous_layers(claim, aliases, depth) -> None:
    """A derivative of one layered quantity with respect to another, neither with a layer
    (``\\partial z_k / \\partial a_j``), in a network of several layers: which layers it relates
    is not said, and no reading is safer than another."""
    deriv = next((s for s in claim.sides if isinstance(s, A.Deriv)), None)
    if depth < 2 or deriv is None or not isinstance(deriv.of, A.Sym):
        return
    of, wrt = deriv.of.ref, deriv.wrt
    if _unlayered(of, aliases) and _unlayered(wrt, aliases):
        raise Unresolvable(f"the layers of {of.base} and {wrt.base} are not written, and this "
                           f"network has {depth} layers: write them (as z^{{(2)}}_k, "
                           "a^{(1)}_j)")


def _summed_note(refs, d) -> str:
    """How Ng's dZ, dA were read, where the loss is a mean (else they are the loss's own)."""
    if d.spec.loss.reduction != "mean" or not any(r.base == SUMMED_LOSS for r in refs):
        return ""
    return ("; Ng's dZ, dA (dz, da of one example) read as his course defines them: each "
            "sample's own derivative, without the 1/m; dW, db as the mean loss's")


def _unlayered_note(refs, aliases, depth, den) -> str:
    """What layer the symbols written without one were read at (the layer of the derivative's
    variable, else the output layer; an activation is that layer's input when the derivative is
    with respect to a pre-activation, a weight or a bias)."""
    if depth < 2:
        return ""
    context = (layer_value(den.layer, None, depth) if den is not None else None) or depth
    kinds = sorted({classify(r, aliases).kind for r in refs if _unlayered(r, aliases)})
    if not kinds:
        return ""
    below = den is not None and den.kind not in ("z", "delta", "a", "yhat")
    read = [f"{k}^({context - 1 if k == 'a' and below else context})" for k in kinds]
    return (f"; symbols without a layer were read at layer {context}" +
            (" (the output layer)" if context == depth else "") + ": " + ", ".join(read))


#: The least number of samples of a batch-form check (more than one, so that a batch mean's 1/N
#: shows); see :func:`batch_size`.
BATCH = 3
#: Bases that name a data matrix, one row (column) per sample: X, Y and \\hat{Y}.
BATCH_NAMES = frozenset({"X", "Y"})


def _batch_form(claim, refs, aliases) -> bool:
    """Whether the claim is written for a whole batch: it names the batch size (N, m), a sample
    index n (also as a summation index) or a data matrix (X, Y, \\hat{Y}). Such a claim is checked
    over a batch of :data:`BATCH` samples, so that a missing or extra 1/N of a batch mean shows."""
    if any(r.base in BATCH_NAMES for r in refs):
        return True
    if any(isinstance(x, A.Deriv) and isinstance(x.of, A.Sym) and x.of.ref.base == SUMMED_LOSS
           and x.wrt.base[:1].isupper() for side in claim.sides for x in A.walk(side)):
        return True  # Ng's dZ, dA: one column per sample (his dz, da are one example's)
    if any("n" in r.indices for r in refs):
        return True
    if any(isinstance(x, A.Sum) and x.index == "n" for side in claim.sides for x in A.walk(side)):
        return True
    return any(classify(r, aliases).kind == "N" for r in refs if _safe(r, aliases))


def batch_size(sizes) -> int:
    """The batch of a batch-form check at ``sizes``: more than any width, so that no (samples x
    units) array is square and a product or power of such arrays cannot be mistaken for a matrix
    product or power."""
    return max(BATCH, max(sizes) + 1)


def _samples_note(claim, d, layout, layers, depth, den, aliases, functions, res, matrices,
                  has_digits, free, summed, seed) -> str:
    """What a correct verdict was checked for: a batch, or one sample. A matrix formula that
    writes no batch (lower-case vectors, as per-sample textbook formulas do) is checked over a
    batch as well, and the note says whether it also holds there. That check is the cheap one
    of a candidate repair (``quick``: the distinct-width instance, one point, numeric); only
    when it decides nothing (no real value at its point) is it repeated at every point and
    size, and when that decides nothing either the note says nothing about a batch."""
    if res["n"] > 1:
        return f"; checked over a batch of N = {res['n']} samples"
    if not matrices:
        return "; checked for one sample (N = 1): an element formula of one sample"
    over = None
    for quick in (True, False):
        over = _run_layout(claim, d, layout, layers, depth, den, aliases, functions, True,
                           has_digits, free, summed, random.Random(seed), seed,
                           numeric_only=True, quick=quick)
        if over["status"] in ("correct", "wrong", "shape"):
            break
    if over["status"] == "correct":
        return f"; checked for one sample (N = 1) and over a batch of N = {over['n']} samples"
    if over["status"] not in ("wrong", "shape"):
        return "; checked for one sample (N = 1)"
    mean = d.spec.loss.reduction == "mean"
    return ("; checked for one sample (N = 1), as a per-sample formula: it does not hold over a "
            "batch of samples" + (
                " (the loss is a mean over the batch, so a batch formula has a factor 1/N; "
                "write N, or X, Y, \\hat{Y}, for a batch formula)" if mean else ""))


def _safe(r, aliases):
    try:
        classify(r, aliases)
        return True
    except Unresolvable:
        return False


def _run_layout(claim, d, layout, layers, depth, den, aliases, functions, batch, has_digits, free,
                summed, rng, seed, numeric_only=False, quick=False):
    symbolic_done = False if numeric_only else None
    assumed = False
    trials = _sizes_for(d, rng, has_digits)
    if quick:
        trials = trials[-1:]
    n = 1
    for sizes in trials:
        n = batch_size(sizes) if batch else 1
        inst = instance_of(d, sizes, n)
        points = points_of(inst, seed, 1) if quick else points_of(inst, seed)
        for l in layers:
            context = layer_value(den.layer, l, depth) if den is not None else None
            if context is None:
                context = depth
            probe = SpecResolver(inst, layout, l, context, aliases, functions, {},
                                 den.kind if den else None)
            ranges = _index_ranges(claim, probe, free + sorted(summed))
            probe.sizes = ranges
            combos = list(itertools.product(*[range(1, ranges.get(x, 1) + 1) for x in free]))
            if len(combos) > 6:
                combos = rng.sample(combos, 6)
            if quick:
                combos = combos[-1:]
            for combo in combos:
                r = SpecResolver(inst, layout, l, context, aliases, functions, dict(zip(free, combo)),
                                 den.kind if den else None)
                r.sizes = ranges
                out = _compare_sides(claim, r, inst, points, functions, symbolic_done is None)
                if out["status"] != "correct":
                    out.update(sizes=sizes, l=l, combo=dict(zip(free, combo)), inst=inst,
                               layout=layout, points=points)
                    return out
                if symbolic_done is None:
                    symbolic_done = out["symbolic"]
                    assumed = out.get("assumed", False)
    return {"status": "correct", "symbolic": symbolic_done, "note": ROW_SUM_NOTE if assumed else "",
            "n": n}


def sample_indexed(name: str, arr: np.ndarray, indices) -> bool:
    """Whether a quantity's one index is the sample index: the letter n on a (samples x units)
    array of one unit (``\\hat{y}_n``, ``y_n``, ``z^{(2)}_n`` of a network with one output),
    as ``\\frac{1}{N} \\sum_n (\\hat{y}_n - y_n)`` writes it."""
    return (len(indices) == 1 and indices[0] == "n" and arr.ndim == 2 and arr.shape[1] == 1
            and not name.startswith(("W", "dW")))


def sample_place(name: str, arr: np.ndarray, indices) -> int | None:
    """Where the sample index n stands among a (samples x units) quantity's two indices (0 in
    ``x_{nj}``, 1 in ``x_{jn}``), whatever the layout: n names the sample in both; None
    without n."""
    if (len(indices) != 2 or "n" not in indices or indices[0] == indices[1] or arr.ndim != 2
            or name.startswith(("W", "dW"))):
        return None
    return indices.index("n")


def _index_ranges(claim, probe: SpecResolver, letters) -> dict:
    ranges = {}
    for ref in _refs(claim):
        if not ref.indices:
            continue
        m = probe.meaning(ref)
        if m.kind in ("loss", "loss_sum", "N", "lr", "l2", "formula"):
            continue
        name = probe.tensor_of(m)
        arr = probe.inst.arrays[name]
        if arr.ndim == 1:
            dims = [arr.shape[0]]
        elif name.startswith(("W", "dW")):
            if len(ref.indices) == 1 and 1 in arr.shape:
                dims = [max(arr.shape)]
            else:
                dims = list(arr.shape) if probe.layout == "row" else list(arr.shape[::-1])
        elif sample_indexed(name, arr, ref.indices):
            dims = [arr.shape[0]]
        elif sample_place(name, arr, ref.indices) is not None:
            dims = list(arr.shape) if ref.indices[0] == "n" else list(arr.shape[::-1])
        else:
            dims = [arr.shape[1]] if len(ref.indices) == 1 else (
                list(arr.shape) if probe.layout == "row" else list(arr.shape[::-1]))
        for x, size in zip(ref.indices, dims):
            if x in letters:
                ranges[x] = min(ranges.get(x, size), size)
    return ranges


def _consistent_points(inst: Instance, rng: random.Random, count: int) -> list:
    m = inst.model
    free = [s for s in inst.leaves if s not in m.defs]
    zs = [inst.arrays[f"z{l}"] for l in range(1, inst.depth + 1) if f"z{l}" in inst.arrays]
    pts = []
    for t in range(count):
        point = {s: sp.Float(round(rng.uniform(0.05, 0.95) if t % 2 == 0 else rng.uniform(-1.5, 1.5), 4))
                 for s in sorted(free, key=lambda s: s.name)}
        if inst.d.spec.loss.rule.link == "softmax" and "y" in inst.arrays:
            # targets whose rows sum to 1: what the fused output error ŷ − y assumes, so that a
            # claim in the general chain-rule form is compared with the gradient of the loss
            for row in inst.arrays["y"]:
                weights = [rng.uniform(0.05, 0.95) for _ in row]
                for s, w in zip(row, weights):
                    point[s] = sp.Float(w / sum(weights), 15)
        for arr in zs:
            for s in arr.flat:
                point[s] = m.canonical(m.defs[s]).xreplace(point).evalf(15)
        pts.append(point)
    return pts


def _fill(value, r: SpecResolver):
    def lookup(e):
        base = str(e.base)
        name, _, sample = base.split("|")
        arr = r.inst.arrays[name]
        if not all(i.is_Integer for i in e.indices):
            raise Unresolvable("an index of the formula is neither summed nor on the left side")
        return r.element(name, arr, tuple(int(i) for i in e.indices), sample)

    if isinstance(value, sp.MatrixBase):
        return value.applyfunc(lambda x: _fill(x, r))
    if isinstance(value, sp.Basic) and value.has(sp.Sum, sp.Indexed):
        value = value.doit() if value.has(sp.Sum) else value
        value = value.replace(lambda e: isinstance(e, sp.Indexed), lookup)
        if value.has(sp.Indexed):
            raise Unresolvable("an index of the formula is neither summed nor on the left side")
    return value


def _compare_sides(claim, r, inst, points, functions, symbolic):
    values, problems = [], []
    for i, side in enumerate(claim.sides):
        try:
            val = to_sympy(side, r, text=claim.text, functions=functions)
            val = _fill(val, r)
            if isinstance(val, sp.MatrixBase) and val.shape == (1, 1):
                val = val[0, 0]
            values.append((i, inst.model.canonical(val)))
        except ClaimParseError as exc:
            if "size mismatch" not in exc.problem.lower() and "shape" not in exc.problem.lower():
                return {"status": "unverifiable", "message": f"side {i + 1}: {exc.problem}",
                        "side": i}
            return {"status": "shape", "message": f"side {i + 1}: {exc.problem}", "side": i}
        except Unresolvable as exc:
            if isinstance(side, A.Sym) and i == 0 and len(claim.sides) > 1:
                continue  # a name for the derivative that follows (delta_output = dL/dyhat = ...)
            return {"status": "unverifiable", "message": str(exc), "side": i}
    ref_i = next((i for i, s in enumerate(claim.sides) if isinstance(s, A.Deriv)), None)
    avail = dict(values)
    if ref_i is None or ref_i not in avail:
        ref_i = values[0][0] if values else None
    if ref_i is None or len(values) < 2:
        return {"status": "unverifiable", "message": "nothing to compare", "side": 0}
    reference = avail[ref_i]
    assumed = False
    for i, val in values:
        if i == ref_i:
            continue
        if isinstance(reference, sp.MatrixBase) != isinstance(val, sp.MatrixBase) or (
                isinstance(val, sp.MatrixBase) and val.shape != reference.shape):
            return {"status": "shape", "side": i, "reference": reference, "claim": val,
                    "message": f"side {i + 1} has shape {_shape(val)} but the derivative has shape "
                               f"{_shape(reference)}"}
        c = compare(reference, val, point_list=points, symbolic=symbolic,
                    assume=_row_sum_assumption(inst))
        if c.equal is False or c.numeric is False:
            return {"status": "wrong", "side": i, "reference": reference, "claim": val, "comp": c}
        if c.numeric is None:
            return {"status": "unverifiable", "side": i, "message": f"side {i + 1} and the "
                    f"derived value both have a real value at only {c.valid} of the {len(points)} "
                    "sample points, too few to compare them"}
        if c.equal is None:
            return {"status": "unverifiable", "side": i, "message": "numerically equal, but the "
                    "symbolic comparison was inconclusive"}
        assumed = assumed or c.assumed
    return {"status": "correct", "symbolic": True, "assumed": assumed}


#: What a correct verdict adds when its symbolic comparison needed :func:`_row_sum_assumption`.
ROW_SUM_NOTE = ("; symbolically equal under the assumption of the fused softmax cross-entropy "
                "(delta = yhat - y) that each row of y sums to 1")


def _row_sum_assumption(inst: Instance) -> dict | None:
    """The assumption of a loss fused with softmax (the output error ŷ − y holds when each row
    of y sums to 1) as a substitution: the last y of each sample row is 1 minus the others.
    None for other losses (cached on the instance)."""
    cache = inst.__dict__
    if "_row_sum" not in cache:
        subs = None
        if inst.d.spec.loss.rule.link == "softmax" and "y" in inst.arrays:
            y = inst.arrays["y"]
            subs = {row[-1]: 1 - sum(row[:-1], sp.Integer(0)) for row in y.reshape(y.shape[0], -1)}
        cache["_row_sum"] = subs
    return cache["_row_sum"]


def _delta_lhs(claim, aliases):
    """The meaning of a left side that is an error term (``\\delta_1 = ...``, ``\\delta^l_j``),
    so a wrong claim about it is shown the right formula too; None for other left sides."""
    lhs = claim.sides[0]
    if not isinstance(lhs, A.Sym):
        return None
    try:
        meaning = classify(lhs.ref, aliases)
    except Unresolvable:
        return None
    return meaning if meaning.kind == "delta" else None


def _constant_factor_of(res):
    """The constant ratio claim/derived value of a wrong result at its sample points, or None."""
    from .diagnose import numeric_ratio

    return numeric_ratio(res.get("reference"), res.get("claim"), res.get("points"))[1]


def _shape(v):
    return "x".join(map(str, v.shape)) if isinstance(v, sp.MatrixBase) else "1x1 (a scalar)"


def _report(claim, d, layout, res, matrices, aliases, functions, layers, den,
            pinned=None) -> Verdict:
    from .diagnose_spec import diagnose_spec, correct_formula

    text = claim.text
    if res["status"] == "unverifiable":
        return Verdict(text, "unverifiable", res.get("message", ""))
    samples = res["inst"].n if res.get("inst") is not None else 1
    where = f" (in the {layout} layout, widths {res['sizes']}" + (
        f", layer l = {res['l']}" if res.get("l") is not None else "") + (
        f", a batch of N = {samples} samples" if samples > 1 else ", one sample") + (
        _summed_note(_refs(claim), d)) + (
        _unlayered_note(_refs(claim), aliases, len(d.spec.model.sizes) - 1, den)) + ")"
    v = Verdict(text, "wrong", "", layout=layout if matrices else None)
    v.correct = correct_formula(d, claim, den if den is not None else _delta_lhs(claim, aliases),
                                layout, res, aliases)
    if res["status"] == "shape":
        v.reason = "the shapes do not fit: " + res["message"] + where
        v.counterexample = {"at": {"widths": str(res["sizes"])}, "expected": _shape(res.get("reference")) if res.get("reference") is not None else "",
                            "claimed": res["message"], "side": res["side"]}
        v.diagnosis, v.explanation = diagnose_spec(claim, d, layout, res, aliases, functions, layers,
                                                   pinned)
        if not v.diagnosis:
            v.diagnosis, v.explanation = ["shape"], [res["message"]]
        v.numeric = False
        return v
    c = res["comp"]
    v.reason = f"side {res['side'] + 1} " + (
        "is undefined or not a real number where the derived value is finite" if c.undefined
        else "differs from the derived value") + where
    v.counterexample = {"at": fmt_point(_short_point(c.point, res)), "expected": fmt_value(c.left),
                        "claimed": fmt_value(c.right), "side": res["side"]}
    v.numeric, v.symbolic = False, c.symbolic
    v.diagnosis, v.explanation = diagnose_spec(claim, d, layout, res, aliases, functions, layers,
                                               pinned)
    return v


def _short_point(point, res):
    """The leaves the two values depend on (all of them when there are few)."""
    syms = set()
    for key in ("reference", "claim"):
        syms |= set(getattr(res.get(key), "free_symbols", set()))
    return {k: v for k, v in (point or {}).items() if k in syms} or (point or {})


def claim_names(claim, res, aliases, functions, den) -> dict:
    """Instance symbol -> the claim's own LaTeX for it, at the failing layer and index values
    (so that a correct formula or a missing factor can be written in the claim's notation)."""
    from .printing import ref_latex

    inst = res.get("inst")
    if inst is None:
        return {}
    depth = inst.depth
    l = res.get("l")
    context = layer_value(den.layer, l, depth) if den is not None else None
    r = SpecResolver(inst, res.get("layout", "column"), l, depth if context is None else context,
                     aliases, functions, dict(res.get("combo") or {}), den.kind if den else None)
    names = {}
    for side in claim.sides:
        for n in A.walk(side):
            if not isinstance(n, A.Sym) or not n.ref.indices:
                continue
            try:
                v = r.symbol(dataclasses.replace(n.ref, transpose=False))
            except Exception:  # a name the claim uses loosely: simply not mapped
                continue
            if isinstance(v, sp.Symbol) and v not in names:
                names[v] = ref_latex(n.ref)
    # activations and pre-activations the claim does not write: a^{(l)}_j by the unit's letter
    by_value = {}
    for x, val in (res.get("combo") or {}).items():
        by_value.setdefault(val, []).append(x)
    for tname, arr in inst.arrays.items():
        kind = tname.rstrip("0123456789")
        if kind not in ("a", "z", "yhat") or arr.ndim != 2 or arr.shape[0] != 1:
            continue
        layer = tname[len(kind):]
        for u in range(arr.shape[1]):
            letters = by_value.get(u + 1, [])
            sym = arr[0, u]
            if sym in names:
                continue
            head = r"\hat{y}" if kind == "yhat" else kind + (f"^{{({layer})}}" if layer else "")
            if len(letters) == 1:
                names[sym] = head + "_{" + letters[0] + "}"
            elif arr.shape[1] == 1:
                names[sym] = head
    return names
