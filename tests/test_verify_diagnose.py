"""Diagnosis of wrong claims over a batch, and the cost of the checks around a verdict: the
constant factor is measured at every sample point (not sought by symbolic algebra on a large
batch expression), the symbolic ratio is bounded by the time limit, and the batch check of a
per-sample matrix formula is the cheap one."""

import sympy as sp

from symbp.verify import diagnose, model, spec_check, verify_claim
from symbp.verify.model import Comparison

try:
    from .verify_specs import DECAY, ONE_LAYER
except ImportError:
    from verify_specs import DECAY, ONE_LAYER


def _no_symbolic_ratio(*args, **kwargs):
    raise AssertionError("the constant factor must be found at the sample points")


def test_constant_factor_over_a_batch_is_found_at_the_sample_points(monkeypatch):
    monkeypatch.setattr(diagnose, "_symbolic_ratio", _no_symbolic_ratio)
    v = verify_claim(r"\frac{\partial L}{\partial w_{ij}} = 2 \sum_n x_{ni} \delta_{nj}", ONE_LAYER)
    assert v.verdict == "wrong", v.reason
    assert v.diagnosis == ["factor_2"], (v.diagnosis, v.reason)
    assert "a batch of N = " in v.reason


def test_diagnose_scalar_measures_the_ratio_at_every_point(monkeypatch):
    monkeypatch.setattr(diagnose, "_symbolic_ratio", _no_symbolic_ratio)
    x, y = sp.symbols("x y", real=True)
    ref = sp.exp(x) * y / (1 + x ** 2)
    points = [{x: sp.Float(0.1 * k + 0.05), y: sp.Float(0.3 - 0.07 * k)} for k in range(6)]
    # the comparison stopped at the first point: one ratio only
    comp = Comparison(False, None, False, points[0], None, None, ratio=[2.0])
    assert diagnose.diagnose_scalar(ref, 2 * ref, comp, points=points)[0] == ["factor_2"]
    assert diagnose.diagnose_scalar(ref, -ref, comp, points=points)[0] == ["sign"]
    labels, _ = diagnose.diagnose_scalar(ref, ref + x, comp, points=points)
    assert labels == ["other"]


def test_numeric_ratio_is_not_constant_where_the_reference_vanishes():
    x = sp.Symbol("x", real=True)
    ref, claim = sp.Heaviside(x) * x, 2 * x
    points = [{x: sp.Float(v)} for v in (0.5, 0.7, -0.4, 0.9)]
    assert diagnose.numeric_ratio(ref, claim, points) == (True, None)
    assert diagnose.numeric_ratio(ref, 2 * ref, points) == (True, 2.0)
    assert diagnose.numeric_ratio(ref, claim, points[:1]) == (False, None)


def test_symbolic_ratio_is_bounded_by_the_time_limit(monkeypatch):
    state = {"finished": False}

    def slow_cancel(reference, claim):
        import time

        for _ in range(500):  # far longer than the limit: interrupted by it
            time.sleep(0.01)
        state["finished"] = True
        return sp.Integer(2)

    monkeypatch.setattr(model, "SIMPLIFY_SECONDS", 0.05)
    monkeypatch.setattr(diagnose, "_cancel_ratio", slow_cancel)
    x = sp.Symbol("x", real=True)
    assert diagnose._symbolic_ratio(sp.exp(x), 2 * sp.exp(x)) is None
    assert not state["finished"]
    monkeypatch.undo()
    assert diagnose._symbolic_ratio(sp.exp(x), 2 * sp.exp(x)) == 2


def test_batch_check_of_a_per_sample_formula_is_the_quick_one(monkeypatch):
    calls = []
    run = spec_check._run_layout

    def recording(*args, **kwargs):
        out = run(*args, **kwargs)
        calls.append((args[8], kwargs.get("quick", False), out["status"]))  # args[8]: batch
        return out

    monkeypatch.setattr(spec_check, "_run_layout", recording)
    v = verify_claim(r"\frac{\partial J}{\partial W^{(2)}} = (a^{(1)})^T \delta^{(2)}",
                     "seed000_sigmoid_mse")
    assert v.verdict == "correct" and "and over a batch of N = " in v.reason, v.reason
    batch = [c for c in calls if c[0]]
    assert batch and all(quick for _, quick, _ in batch), calls


def test_batch_note_falls_back_to_the_full_check_when_the_quick_one_is_undecided(monkeypatch):
    run = spec_check._run_layout

    def undecided_when_quick(*args, **kwargs):
        if kwargs.get("quick") and args[8]:
            return {"status": "unverifiable", "message": "no real value"}
        return run(*args, **kwargs)

    monkeypatch.setattr(spec_check, "_run_layout", undecided_when_quick)
    v = verify_claim(r"\frac{\partial J}{\partial W^{(2)}} = (a^{(1)})^T \delta^{(2)}",
                     "seed000_sigmoid_mse")
    assert v.verdict == "correct" and "and over a batch of N = " in v.reason, v.reason

    def always_undecided(*args, **kwargs):
        if args[8]:
            return {"status": "unverifiable", "message": "no real value"}
        return run(*args, **kwargs)

    monkeypatch.setattr(spec_check, "_run_layout", always_undecided)
    v = verify_claim(r"\frac{\partial J}{\partial W^{(2)}} = (a^{(1)})^T \delta^{(2)}",
                     "seed000_sigmoid_mse")
    assert v.verdict == "correct" and "does not hold over a batch" not in v.reason, v.reason


def test_fewer_points_are_a_prefix_of_more():
    d = spec_check.derivation_of("seed000_sigmoid_mse")
    inst = spec_check.instance_of(d, (2, 3, 1), 4)
    one = spec_check._consistent_points(inst, __import__("random").Random(5), 1)
    assert spec_check.points_of(inst, 5, 1) == one
    assert spec_check.points_of(inst, 5)[:1] == one


def test_weight_decay_missing_or_of_the_wrong_sign_is_named_and_the_fix_keeps_it():
    """With [loss] l2, dL/dW = a^T delta + lambda W: the data term alone is wrong for want of
    the decay term, and the suggested formula has it (it used to print the claim itself)."""
    lhs = r"\frac{\partial L}{\partial W_2} = "
    v = verify_claim(lhs + r"(a^{(1)})^T \delta^{(2)}", DECAY)
    assert v.verdict == "wrong" and v.diagnosis == ["missing_weight_decay"], (v.diagnosis, v.reason)
    assert r"\lambda W^{(2)}" in v.correct and "0.001" in v.correct
    v = verify_claim(lhs + r"(a^{(1)})^T \delta^{(2)} - \lambda W_2", DECAY)
    assert v.diagnosis == ["weight_decay_sign"], (v.diagnosis, v.reason)
    assert verify_claim(lhs + r"(a^{(1)})^T \delta^{(2)} + \lambda W_2", DECAY).verdict == "correct"
    v = verify_claim(r"\frac{\partial L}{\partial w^{(2)}_{jk}} = a^{(1)}_j \delta^{(2)}_k", DECAY)
    assert v.diagnosis == ["missing_weight_decay"], (v.diagnosis, v.reason)
