"""Tests of the reverse sweep (``symbp/derive.py``) against Nielsen's BP1-BP4, written by hand.

Contract checked here: for every built-in activation (and a custom one) x every loss, a network
with two hidden layers derives to equations that equal the textbook backpropagation equations

    BP1  delta_L = c * dl/dyhat (.) f_L'(z_L)          (c = 1/N for the mean, 1 for the sum)
    BP2  delta_l = (delta_{l+1} W_{l+1}^T) (.) f_l'(z_l)
    BP3  dL/db_l = sum_n delta_l
    BP4  dL/dW_l = a_{l-1}^T delta_l  (+ lambda W_l with L2 decay)

where the right-hand sides are written out below by hand (loops over concrete indices, the
activations and loss derivatives as explicit formulas), never produced by symbp. The fused losses
are compared with the *unfused* chain rule (dBCE/dyhat * sigma'(z); the softmax Jacobian), so the
fusion itself is checked. Each equation is checked separately, in terms of the named
intermediates (delta_{l+1}, ...), at concrete small sizes and at random exact rational points
(both signs, away from kinks), evaluated to 40 digits. The optimizer updates equal the textbook
SGD / momentum / Adam rules symbolically; the seed-002 worked example evaluated exactly gives the
corrected numbers of ``tests/reference.py`` and not the seed's wrong ones.
"""

from __future__ import annotations

import itertools
import random
import zlib

import numpy as np
import pytest
import sympy as sp

import symbp
from symbp.evaluate import evaluate
from symbp.rules.losses import YHAT, Y, Z

try:
    from . import reference as ref
except ImportError:  # tests/ is not a package
    import reference as ref

R = sp.Rational
IB = sp.IndexedBase

# --- the textbook, by hand -------------------------------------------------------------------


def sig(x):
    return 1 / (1 + sp.exp(-x))


GELU_K = sp.sqrt(2 / sp.pi)
GELU_C = R(44715, 10**6)


def _gelu_prime(x):
    u = GELU_K * (x + GELU_C * x**3)
    return (1 + sp.tanh(u)) / 2 + x / 2 * (1 - sp.tanh(u) ** 2) * GELU_K * (1 + 3 * GELU_C * x**2)


# spec activation text -> (f, f'), written out by hand
ACTS = {
    "identity": (lambda x: x, lambda x: 1),
    "sigmoid": (sig, lambda x: sig(x) * (1 - sig(x))),
    "tanh": (sp.tanh, lambda x: 1 - sp.tanh(x) ** 2),
    "relu": (lambda x: sp.Max(0, x), lambda x: 1 if x > 0 else 0),
    "leaky_relu": (lambda x: x if x > 0 else x / 100, lambda x: 1 if x > 0 else R(1, 100)),
    "leaky_relu slope=0.2": (lambda x: x if x > 0 else x / 5, lambda x: 1 if x > 0 else R(1, 5)),
    "softplus": (lambda x: sp.log(1 + sp.exp(x)), sig),
    "elu": (lambda x: x if x > 0 else sp.exp(x) - 1, lambda x: 1 if x > 0 else sp.exp(x)),
    "elu alpha=0.5": (lambda x: x if x > 0 else (sp.exp(x) - 1) / 2,
                      lambda x: 1 if x > 0 else sp.exp(x) / 2),
    "gelu": (lambda x: x / 2 * (1 + sp.tanh(GELU_K * (x + GELU_C * x**3))), _gelu_prime),
    "silu": (lambda x: x * sig(x), lambda x: sig(x) + x * sig(x) * (1 - sig(x))),
    "x / (1 + exp(-x))": (lambda x: x * sig(x), lambda x: sig(x) + x * sig(x) * (1 - sig(x))),
}

# loss spec -> dl/dyhat (yhat, y), by hand; None for the fused losses (handled in _bp1)
LOSSES = {
    "mse": lambda p, t: p - t,                                  # d/dp (p - t)^2 / 2
    "mse scale=1": lambda p, t: 2 * (p - t),                    # d/dp (p - t)^2
    "huber delta=0.5": lambda p, t: (p - t) if abs(p - t) <= R(1, 2) else R(1, 2) * sp.sign(p - t),
    "bce": lambda p, t: -t / p + (1 - t) / (1 - p),
    "cross_entropy": lambda p, t: -t / p,
    "custom (yhat - y)^4/4": lambda p, t: (p - t) ** 3,
    "bce_logits": None,
    "softmax_cross_entropy": None,
}
# hand-written per-element losses, for the loss equation itself
LOSS_VALUES = {
    "mse": lambda p, t: (p - t) ** 2 / 2,
    "mse scale=1": lambda p, t: (p - t) ** 2,
    "huber delta=0.5": lambda p, t: (p - t) ** 2 / 2 if abs(p - t) <= R(1, 2)
    else R(1, 2) * (abs(p - t) - R(1, 4)),
    "bce": lambda p, t: -(t * sp.log(p) + (1 - t) * sp.log(1 - p)),
    "cross_entropy": lambda p, t: -t * sp.log(p),
    "custom (yhat - y)^4/4": lambda p, t: (p - t) ** 4 / 4,
}


def _toml_act(act: str) -> str:
    name, *params = act.split(" ") if not act.startswith("x ") else (act,)
    extra = "".join(f", {p.split('=')[0]} = {p.split('=')[1]}" for p in params)
    return f'activation = "{name}"{extra}'


def _toml_loss(loss: str, reduction: str, l2) -> str:
    if loss.startswith("custom"):
        body = f'kind = "custom"\nexpr = "{loss.split(" ", 1)[1]}"'
    else:
        name, *params = loss.split(" ")
        body = f'kind = "{name}"\n' + "".join(f"{p.split('=')[0]} = {p.split('=')[1]}\n"
                                               for p in params)
    return f'[loss]\n{body}\nreduction = "{reduction}"\nl2 = {l2}\n'


def _output_act(act: str, loss: str) -> str:
    if loss in ("bce", "cross_entropy"):
        return "sigmoid"          # BCE / CE need probabilities
    if loss in ("bce_logits", "softmax_cross_entropy"):
        return "identity"         # fused losses read logits
    return act


SIZES = (2, 2, 3, 2)  # d0 .. d3: input, two hidden layers, output
NROWS = 2


def _spec(act: str, loss: str, reduction: str = "mean", l2=0, hidden2: str | None = None):
    out = _output_act(act, loss)
    layers = [f"{{ units = {SIZES[1]}, {_toml_act(act)} }}",
              f"{{ units = {SIZES[2]}, {_toml_act(hidden2 or act)} }}",
              f"{{ units = {SIZES[3]}, {_toml_act(out)} }}"]
    text = (f"[model]\ninputs = {SIZES[0]}\nlayers = [ {', '.join(layers)} ]\n"
            + _toml_loss(loss, reduction, l2))
    return symbp.load_spec(text), [act, hidden2 or act, out]


# --- comparing an equation with its hand-written form ----------------------------------------

def _dims(d):
    return {**{sp.Symbol(f"d{l}", integer=True, positive=True): s for l, s in enumerate(SIZES)},
            sp.Symbol("N", integer=True, positive=True): NROWS}


def _rand_value(rng, name):
    """A random exact rational away from 0 (and so from every kink at 0)."""
    v = R(rng.randint(2, 20), 10)
    return v if rng.random() < 0.5 else -v


class Point:
    """Random exact values for every tensor element a derivation reads (one sample point)."""

    def __init__(self, seed: int, loss: str, l2):
        self.rng = random.Random(seed)
        self.values: dict = {}
        self.loss = loss
        self.scalars = {"lambda": R(str(l2))}
        if loss == "softmax_cross_entropy":  # the stated assumption: one-hot rows
            for n in range(1, NROWS + 1):
                hot = self.rng.randint(1, SIZES[-1])
                for k in range(1, SIZES[-1] + 1):
                    self.values[IB("y")[n, k]] = 1 if k == hot else 0
        elif loss in ("bce", "cross_entropy", "bce_logits"):
            for n, k in itertools.product(range(1, NROWS + 1), range(1, SIZES[-1] + 1)):
                self.values[IB("y")[n, k]] = R(self.rng.randint(0, 10), 10)

    def value(self, atom):
        if atom not in self.values:
            self.values[atom] = _rand_value(self.rng, atom)
        return self.values[atom]


def _realize(expr, acts, loss, point: Point):
    """Replace activations a_l (and yhat) by f_l(z_l) (hand-written), then every element by a
    number of ``point``; returns a SymPy number."""
    L = len(acts)
    f = {l: ACTS[acts[l - 1]][0] for l in range(1, L + 1)}
    expr = expr.xreplace({s: point.scalars[s.name] for s in expr.free_symbols
                          if s.name in point.scalars})
    for _ in range(3):  # a -> f(z), yhat -> link(z), then numbers
        reps = {}
        for atom in expr.atoms(sp.Indexed):
            name, idx = atom.base.name, atom.indices
            if name.startswith("a") and name[1:].isdigit():
                l = int(name[1:])
                reps[atom] = f[l](point.value(IB(f"z{l}")[idx]))
            elif name == "yhat":
                z = IB(f"z{L}")
                if loss == "bce_logits":
                    reps[atom] = sig(point.value(z[idx]))
                elif loss == "softmax_cross_entropy":
                    n, k = idx
                    zs = [point.value(z[n, kk]) for kk in range(1, SIZES[-1] + 1)]
                    reps[atom] = sp.exp(zs[k - 1]) / sum(sp.exp(v) for v in zs)
                else:
                    reps[atom] = f[L](point.value(z[idx]))
            else:
                reps[atom] = point.value(atom)
        expr = expr.xreplace(reps)
        if not expr.atoms(sp.Indexed):
            break
    assert not expr.free_symbols, expr.free_symbols
    return expr


def _close(a, b, what):
    va, vb = sp.N(a, 40), sp.N(b, 40)
    assert abs(va - vb) <= sp.Float("1e-30", 40) * max(1, abs(vb)), (what, va, vb)


def _unroll(s: sp.Sum):
    """A Sum with concrete bounds as an explicit sum of its terms (much faster than doit)."""
    terms = [s.function]
    for idx, lo, hi in s.limits:
        terms = [t.xreplace({idx: v}) for t in terms for v in range(int(lo), int(hi) + 1)]
    return sp.Add(*terms)


def _concrete(d, eq, idx_values):
    """The derived right-hand side at concrete sizes and indices, sums expanded."""
    rhs = eq.rhs.xreplace(_dims(d))
    rhs = rhs.xreplace(dict(zip(eq.indices, idx_values)))
    return rhs.replace(lambda e: isinstance(e, sp.Sum), _unroll)


def _index_points(target_dims):
    """Two index tuples (1-based): all first, and all last (another row, unit and input)."""
    return sorted({tuple(1 for _ in target_dims), tuple(target_dims)})


# hand-written BP1-BP4 at concrete indices: these build the expected right-hand sides --------

def _bp1(loss, c, acts, point, n, j):
    """delta_L[n, j] by the unfused chain rule."""
    L = len(acts)
    z = IB(f"z{L}")
    t = point.value(IB("y")[n, j])
    if loss == "bce_logits":                       # dBCE/dyhat at yhat = sigma(z), times sigma'(z)
        s = sig(point.value(z[n, j]))
        return c * LOSSES["bce"](s, t) * s * (1 - s)
    if loss == "softmax_cross_entropy":            # sum_k dCE/dp_k dp_k/dz_j
        K = SIZES[-1]
        zs = [point.value(z[n, k]) for k in range(1, K + 1)]
        p = [sp.exp(v) / sum(sp.exp(u) for u in zs) for v in zs]
        ys = [point.value(IB("y")[n, k]) for k in range(1, K + 1)]
        return c * sum((-ys[k] / p[k]) * p[k] * ((1 if k == j - 1 else 0) - p[j - 1])
                       for k in range(K))
    f, fp = ACTS[acts[-1]]
    zv = point.value(z[n, j])
    return c * LOSSES[loss](f(zv), t) * fp(zv)     # BP1: dl/da (.) f'(z)


def _bp2(l, acts, point, n, j):
    """delta_l[n, j] = (sum_k delta_{l+1}[n, k] W_{l+1}[j, k]) f_l'(z_l[n, j])."""
    back = sum(point.value(IB(f"delta{l + 1}")[n, k]) * point.value(IB(f"W{l + 1}")[j, k])
               for k in range(1, SIZES[l + 1] + 1))
    return back * ACTS[acts[l - 1]][1](point.value(IB(f"z{l}")[n, j]))


def _a_prev(l, acts, point, n, i):
    if l == 1:
        return point.value(IB("x")[n, i])
    return ACTS[acts[l - 2]][0](point.value(IB(f"z{l - 1}")[n, i]))


def _bp3(l, point, j):
    return sum(point.value(IB(f"delta{l}")[n, j]) for n in range(1, NROWS + 1))


def _bp4(l, acts, point, i, j, l2):
    g = sum(_a_prev(l, acts, point, n, i) * point.value(IB(f"delta{l}")[n, j])
            for n in range(1, NROWS + 1))
    return g + R(str(l2)) * point.value(IB(f"W{l}")[i, j])


def _hand_loss(loss, c, acts, point, l2):
    L = len(acts)
    total = 0
    for n, k in itertools.product(range(1, NROWS + 1), range(1, SIZES[-1] + 1)):
        zv = point.value(IB(f"z{L}")[n, k])
        t = point.value(IB("y")[n, k])
        if loss == "bce_logits":
            total += LOSS_VALUES["bce"](sig(zv), t)
        elif loss == "softmax_cross_entropy":
            zs = [point.value(IB(f"z{L}")[n, kk]) for kk in range(1, SIZES[-1] + 1)]
            total += -t * sp.log(sp.exp(zv) / sum(sp.exp(u) for u in zs))
        else:
            total += LOSS_VALUES[loss](ACTS[acts[-1]][0](zv), t)
    decay = sum(point.value(IB(f"W{l}")[i, j]) ** 2 for l in range(1, L + 1)
                for i in range(1, SIZES[l - 1] + 1) for j in range(1, SIZES[l] + 1))
    return c * total + R(str(l2)) / 2 * decay


def check_against_textbook(d, acts, loss, reduction, l2, seed=0):
    """Every delta, dW, db and the loss of ``d`` against BP1-BP4 at a random point."""
    c = R(1, NROWS) if reduction == "mean" else 1
    L = len(acts)
    point = Point(seed, loss, l2)
    checked = []
    _close(_realize(_concrete(d, d.equation("L"), ()), acts, loss, point),
           _hand_loss(loss, c, acts, point, l2), "L")
    for l in range(L, 0, -1):
        eq = d.equation(f"delta{l}")
        assert eq.stage == ("output_error" if l == L else "backward")
        for n, j in _index_points((NROWS, SIZES[l])):
            got = _realize(_concrete(d, eq, (n, j)), acts, loss, point)
            want = _bp1(loss, c, acts, point, n, j) if l == L else _bp2(l, acts, point, n, j)
            _close(got, want, f"delta{l}[{n},{j}]")
        for j, in _index_points((SIZES[l],)):
            got = _realize(_concrete(d, d.equation(f"db{l}"), (j,)), acts, loss, point)
            _close(got, _bp3(l, point, j), f"db{l}[{j}]")
        for i, j in _index_points((SIZES[l - 1], SIZES[l])):
            got = _realize(_concrete(d, d.equation(f"dW{l}"), (i, j)), acts, loss, point)
            _close(got, _bp4(l, acts, point, i, j, l2), f"dW{l}[{i},{j}]")
        checked.append(l)
    assert checked == list(range(L, 0, -1))


# --- every activation x every loss -----------------------------------------------------------

PAIRS = [(a, l) for a in ACTS for l in LOSSES]


def _settings(loss):
    """Reductions and decay vary across the pairs, so that both are covered everywhere."""
    reduction = "sum" if loss in ("mse scale=1", "huber delta=0.5", "bce") else "mean"
    l2 = 0.25 if loss in ("cross_entropy", "softmax_cross_entropy", "custom (yhat - y)^4/4") else 0
    return reduction, l2


@pytest.mark.parametrize("act,loss", PAIRS)
def test_derivation_matches_nielsen(act, loss):
    reduction, l2 = _settings(loss)
    spec, acts = _spec(act, loss, reduction, l2)
    d = symbp.derive(spec)
    check_against_textbook(d, acts, loss, reduction, l2, seed=zlib.crc32(f"{act}|{loss}".encode()))


def test_pairs_cover_every_registered_rule():
    from symbp.rules.activations import ACTIVATIONS
    from symbp.rules.losses import LOSSES as REGISTERED

    assert {a.split(" ")[0] for a in ACTS if not a.startswith("x ")} == set(ACTIVATIONS)
    assert {l.split(" ")[0] for l in LOSSES} == set(REGISTERED) | {"custom"}


def test_mixed_activations_and_softmax_spelling():
    """Different activations per layer, and softmax written as an activation + cross_entropy."""
    text = ('[model]\ninputs = 2\nlayers = [ { units = 2, activation = "tanh" }, '
            '{ units = 3, activation = "relu" }, { units = 2, activation = "softmax" } ]\n'
            '[loss]\nkind = "cross_entropy"\n')
    d = symbp.derive(symbp.load_spec(text))
    assert d.spec.loss.rule.name == "softmax_cross_entropy"
    check_against_textbook(d, ["tanh", "relu", "identity"], "softmax_cross_entropy", "mean", 0)


def test_the_check_catches_a_wrong_derivation():
    """The harness must fail on a wrong equation: swap in sigma'(z) for tanh'(z) by hand."""
    spec, acts = _spec("sigmoid", "mse")
    d = symbp.derive(spec)
    with pytest.raises(AssertionError):
        check_against_textbook(d, ["tanh", "tanh", "tanh"], "mse", "mean", 0)


# --- fused and rewritten forms, symbolically -------------------------------------------------

@pytest.mark.parametrize("act", ["sigmoid", "tanh", "softplus", "identity", "silu"])
def test_output_error_kernel_is_the_unfused_chain_rule(act):
    """d.output_error (in yhat, y, z) equals dl/dyhat(f(z)) f'(z) symbolically (MSE)."""
    d = symbp.derive(_spec(act, "mse")[0])
    f, fp = ACTS[act]
    got = d.output_error.subs(YHAT, f(Z))
    want = LOSSES["mse"](f(Z), Y) * fp(Z)
    diff = got - want
    assert sp.simplify(diff) == 0 or sp.simplify(sp.expand(diff.rewrite(sp.exp))) == 0


def test_sigmoid_bce_output_error_cancels_to_yhat_minus_y():
    spec, _ = _spec("tanh", "bce")   # sigmoid output layer, unfused BCE
    d = symbp.derive(spec)
    assert sp.simplify(d.output_error - (YHAT - Y)) == 0
    # and this cancelled form is the unfused chain rule: dBCE/dyhat * sigma'(z) at yhat = sigma(z)
    unfused = LOSSES["bce"](sig(Z), Y) * sig(Z) * (1 - sig(Z))
    assert sp.simplify(unfused - d.output_error.subs(YHAT, sig(Z))) == 0
    assert d.equation("delta3").matrix.text() == "(1/N)(ŷ − y)"


@pytest.mark.parametrize("loss,assumption", [
    ("bce_logits", "linear"),
    ("softmax_cross_entropy", "one-hot"),
])
def test_fused_output_error_and_stated_assumption(loss, assumption):
    spec, _ = _spec("tanh", loss)
    d = symbp.derive(spec)
    assert d.output_error == YHAT - Y
    assert d.equation("delta3").matrix.text() == "(1/N)(ŷ − y)"
    assert d.equation("delta3").matrix.plain() == "(1/N) * (yhat - y)"
    assert any(assumption in a for a in d.assumptions)
    text = d.to_text()
    assert "assumes:" in text and assumption in text
    assert "assumes" in d.to_markdown().lower() and "Assumes" in d.to_latex()


def test_unfused_losses_state_no_fusion_assumption():
    d = symbp.derive(_spec("tanh", "mse")[0])
    assert d.assumptions == []
    assert "assumes:" not in d.to_text()


@pytest.mark.parametrize("act,matrix", [
    ("sigmoid", "(δ2 W3ᵀ) ⊙ a2 ⊙ (1 − a2)"),
    ("tanh", "(δ3 W3ᵀ) ⊙ (1 − a2²)"),
    ("relu", "(δ3 W3ᵀ) ⊙ 1[a2 > 0]"),
    ("identity", "δ3 W3ᵀ"),
])
def test_hidden_delta_textbook_matrix_form(act, matrix):
    d = symbp.derive(_spec(act, "mse")[0])
    want = matrix.replace("δ2 W3", "δ3 W3")
    assert d.equation("delta2").matrix.text() == want


def test_ill_posed_combination_warns():
    d = symbp.derive(symbp.load_spec("derivations/seed001_relu_bce.toml"))
    assert any("relu" in w and "log" in w for w in d.warnings)
    assert "WARNING" in d.to_text()
    assert symbp.derive(_spec("tanh", "bce")[0]).warnings == []


def _custom_loss(expr: str):
    return symbp.load_spec("[model]\ninputs = 2\nlayers = [{ units = 1, activation = "
                           f'"identity" }}]\n[loss]\nkind = "custom"\nexpr = "{expr}"\n')


@pytest.mark.parametrize("expr,warns", [
    ("-y*log(yhat)", True),                    # log of a linear output: undefined for ŷ <= 0
    ("log(cosh(yhat - y))", False),            # log-cosh: defined for every ŷ
    ("log(1 + exp(yhat)) - y*yhat", False),    # BCE on logits, written out
])
def test_log_warning_only_where_the_log_can_be_undefined(expr, warns):
    assert bool(symbp.derive(_custom_loss(expr)).warnings) is warns


@pytest.mark.parametrize("expr,text,latex", [
    # an unevaluated (1/N)·(−...) printed "(1/N)−y" read as 1/N minus y
    ("-y*yhat", "−(1/N)y", r"-\frac{1}{N} y"),
    ("log(cosh(yhat - y))", "−(1/N)sinh(y − ŷ)/cosh(y − ŷ)", None),
])
def test_a_negative_output_error_prints_its_sign_in_front(expr, text, latex):
    eq = symbp.derive(_custom_loss(expr)).equation("delta1")
    assert eq.matrix.text() == text
    if latex:
        assert eq.matrix.render("latex") == latex


# --- L2 decay ---------------------------------------------------------------------------------

def test_l2_adds_lambda_w_to_dw_and_nothing_to_db():
    spec, acts = _spec("tanh", "mse", "mean", 0.5)
    d = symbp.derive(spec)
    spec0, _ = _spec("tanh", "mse", "mean", 0)
    d0 = symbp.derive(spec0)
    lam = sp.Symbol("lambda", nonnegative=True)
    for l in (1, 2, 3):
        extra = sp.expand(d.equation(f"dW{l}").rhs - d0.equation(f"dW{l}").rhs)
        i, j = d.equation(f"dW{l}").indices
        assert extra == lam * IB(f"W{l}")[i, j]
        assert d.equation(f"db{l}").rhs == d0.equation(f"db{l}").rhs
        assert d.equation(f"dW{l}").matrix.text().endswith(f"+ λ W{l}")
    assert not d0.equation("dW1").rhs.has(lam)
    check_against_textbook(d, acts, "mse", "mean", 0.5)


# --- optimizer updates ------------------------------------------------------------------------

def _by_name(expr):
    """Replace every symbol by a plain one of the same name (assumptions differ by module)."""
    return expr.xreplace({s: sp.Symbol(s.name) for s in expr.free_symbols if isinstance(s, sp.Symbol)})


def _same(a, b):
    return sp.simplify(_by_name(a) - _by_name(b)) == 0


def test_sgd_update():
    d = symbp.derive(_spec("tanh", "mse")[0], optimizer="sgd")
    eta = sp.Symbol("eta")
    ups = d.stage("update")
    assert [e.target for e in ups] == ["W1", "b1", "W2", "b2", "W3", "b3"]
    for e in ups:
        idx = e.indices
        assert _same(e.rhs, IB(e.target)[idx] - eta * IB("d" + e.target)[idx])
    assert d.equation("W2", "update").matrix.text() == "W2 − η ∂L/∂W2"


def test_momentum_update():
    d = symbp.derive(_spec("tanh", "mse")[0], optimizer="momentum")
    eta, mu = sp.symbols("eta mu")
    targets = [e.target for e in d.stage("update")]
    assert targets[:2] == ["v_W1", "W1"]
    v = d.equation("v_W1")
    i, j = v.indices
    assert _same(v.rhs, mu * IB("v_W1")[i, j] + IB("dW1")[i, j])          # v <- mu v + g
    assert _same(d.equation("W1", "update").rhs, IB("W1")[i, j] - eta * IB("v_W1")[i, j])


def test_adam_update():
    d = symbp.derive(_spec("tanh", "mse")[0], optimizer="adam")
    eta, b1, b2, eps, t = sp.symbols("eta beta1 beta2 epsilon t")
    targets = [e.target for e in d.stage("update")]
    assert targets[:3] == ["m_b1", "s_b1", "b1"] or targets[:3] == ["m_W1", "s_W1", "W1"]
    (j,) = d.equation("m_b1").indices
    g, m, s = IB("db1")[j], IB("m_b1")[j], IB("s_b1")[j]
    assert _same(d.equation("m_b1").rhs, b1 * m + (1 - b1) * g)
    assert _same(d.equation("s_b1").rhs, b2 * s + (1 - b2) * g**2)
    mhat, shat = m / (1 - b1**t), s / (1 - b2**t)                       # bias correction
    assert _same(d.equation("b1", "update").rhs, IB("b1")[j] - eta * mhat / (sp.sqrt(shat) + eps))


def test_optimizer_from_the_spec_train_table():
    d = symbp.derive(symbp.load_spec("derivations/deep_tanh_regression.toml"))
    assert d.optimizer.name == "adam"
    assert "m_W1" in [e.target for e in d.stage("update")]


# --- the seed-002 worked example, exactly ------------------------------------------------------

def test_seed002_worked_example_exact():
    d = symbp.derive(symbp.load_spec("derivations/seed002_worked_example.toml"))
    out = evaluate(d, ref.seed002_params(), ref.SEED002_X, ref.SEED002_Y, eta=ref.SEED002_LR,
                   exact=True)
    for key, want in ref.SEED002_EXPECTED.items():
        got = np.asarray(out[key], dtype=float) if key != "L" else float(out[key])
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15, err_msg=key)
    # exact arithmetic: the first affine map is a rational, not a float
    assert out["z1"][0, 0] == R(3, 5)
    # the seed's printed numbers are wrong, and we do not reproduce them
    assert abs(float(out["L"]) - 2.485) > 1
    assert not np.allclose(np.asarray(out["yhat"], dtype=float), [[0.9, 0.99]], atol=1e-3)
    assert not np.allclose(np.asarray(out["z1"], dtype=float), [[0.7, 1.3]], atol=1e-3)
    assert not np.allclose(np.asarray(out["delta3"], dtype=float), [[-0.1, -0.01]], atol=1e-3)
    assert not np.allclose(np.asarray(out["delta2"], dtype=float), [[-0.036, -0.014]], atol=1e-3)
    assert abs(float(out["W3_new"][0, 0]) - 1.0) > 0.05   # the seed's 0.9 - 0.1*(-0.1) = "1.0"


def test_lazy_package_exports_keep_derive_the_function():
    # `import symbp` loads SymPy only on first use; importing the submodule symbp.derive (which
    # the lazy export does) must not rebind the package's `derive` to the module
    import importlib

    import symbp

    importlib.import_module("symbp.derive")
    assert callable(symbp.derive) and symbp.derive.__module__ == "symbp.derive"
    from symbp import Spec, derive, load_spec

    assert derive is symbp.derive and isinstance(load_spec("seed000_sigmoid_mse"), Spec)
    assert {"derive", "load_spec", "MLPClassifier"} <= set(dir(symbp))


def test_an_unknown_optimizer_is_an_input_error():
    from symbp.errors import SymbpError
    from symbp.runtime import compile_spec

    spec = _spec("tanh", "mse")[0]
    for call in (lambda: symbp.derive(spec, optimizer="Adam"),
                 lambda: compile_spec(spec, optimizer="adamw")):
        with pytest.raises(SymbpError, match="unknown optimizer .*sgd, momentum, adam"):
            call()


def test_an_activation_is_defined_in_its_why_only_when_that_says_something():
    d = symbp.derive(_spec("tanh", "mse")[0])
    assert d.equation("a1").why == "activation of layer 1"  # not "tanh(x) = tanh(x)"
    d = symbp.derive(_spec("sigmoid", "mse")[0])
    assert d.equation("a1").why == "activation of layer 1: σ(x) = 1/(1 + exp(−x))"


def test_text_prints_absolute_values_pi_square_roots_and_comparisons_as_texts_do():
    """Huber's |y − ŷ| (not SymPy's Abs), GELU's √2 and π, a piecewise derivative in one pair
    of parentheses, ≤; the ASCII comments of generated code keep abs, pi, sqrt and <=."""
    from symbp.printing.scalar import print_expr

    x, y = sp.symbols("x y", real=True)
    huber = sp.Piecewise((x - y, sp.Abs(x - y) <= 1), (sp.sign(x - y), True))
    assert print_expr(huber, "text") == "(x − y if |x − y| ≤ 1 else sign(x − y))"
    assert print_expr(huber, "plain") == "(x - y if abs(x - y) <= 1 else sign(x - y))"
    assert print_expr(sp.sqrt(2) * x / sp.sqrt(sp.pi), "text").count("√") == 2
    assert "π" in print_expr(sp.sqrt(2) * x / sp.sqrt(sp.pi), "text")
    assert "sqrt(pi)" in print_expr(sp.sqrt(2) * x / sp.sqrt(sp.pi), "plain")
    spec = symbp.load_spec("""
[model]
inputs = 2
layers = [ { units = 3, activation = "leaky_relu" }, { units = 1, activation = "identity" } ]
[loss]
kind = "huber"
""")
    text = symbp.derive(spec).to_text()
    assert "Abs(" not in text and "((1 if" not in text
    assert "(1 if a1 > 0 else 1/100)" in text
