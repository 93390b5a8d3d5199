"""MLPClassifier / MLPRegressor: scikit-learn's own estimator checks, and everyday use."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.datasets import load_iris, make_regression
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator

from symbp.estimators import MLPClassifier, MLPRegressor


@pytest.mark.slow
@pytest.mark.parametrize("est", [MLPClassifier(), MLPRegressor()], ids=lambda e: type(e).__name__)
def test_sklearn_check_estimator(est):
    results = check_estimator(est, on_fail=None)
    failed = [(r["check_name"], str(r["exception"])[:200]) for r in results
              if r["status"] == "failed"]
    assert len(results) > 40 and failed == []


def test_classifier_fit_predict_score_and_api():
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    clf = MLPClassifier(hidden_layer_sizes=(16,), activation="tanh", learning_rate_init=0.01,
                        max_iter=100, random_state=0)
    assert clf.fit(X, names) is clf
    assert list(clf.classes_) == ["setosa", "versicolor", "virginica"]
    assert clf.score(X, names) > 0.9
    proba = clf.predict_proba(X[:5])
    assert proba.shape == (5, 3) and np.allclose(proba.sum(axis=1), 1)
    assert clf.n_iter_ == 100 and len(clf.loss_curve_) == 100
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]
    assert [W.shape for W in clf.coefs_] == [(4, 16), (16, 3)]
    assert "δ1 = (δ2 W2ᵀ) ⊙ (1 − a1²)" in clf.derivation_.to_text()
    assert clf.get_params()["hidden_layer_sizes"] == (16,)
    assert clf.set_params(max_iter=3).max_iter == 3
    # same random_state, same model; pickling keeps predictions
    again = MLPClassifier(hidden_layer_sizes=(16,), activation="tanh", learning_rate_init=0.01,
                          max_iter=100, random_state=0).fit(X, names)
    clone = pickle.loads(pickle.dumps(clf.set_params(max_iter=100).fit(X, names)))
    assert np.array_equal(clone.predict_proba(X), clf.predict_proba(X))
    assert np.array_equal(again.coefs_[0], clf.coefs_[0])


def test_binary_classifier_uses_fused_logistic_output():
    X, y = load_iris(return_X_y=True)
    X, y = StandardScaler().fit_transform(X[y < 2]), y[y < 2]
    clf = MLPClassifier(hidden_layer_sizes=(4,), solver="sgd", learning_rate_init=0.1,
                        max_iter=30, random_state=1).fit(X, y)
    assert clf.derivation_.spec.loss.kind == "bce_logits" and clf.out_activation_ == "logistic"
    assert clf.predict_proba(X).shape == (len(X), 2) and clf.score(X, y) == 1.0
    with pytest.raises(ValueError, match="lbfgs"):
        MLPClassifier(solver="lbfgs").fit(X, y)


def test_regressor_fits_a_linear_target():
    X, y = make_regression(n_samples=200, n_features=3, noise=0.1, random_state=0)
    y = (y - y.mean()) / y.std()
    reg = MLPRegressor(hidden_layer_sizes=(8,), activation="identity", learning_rate_init=0.01,
                       max_iter=200, random_state=0).fit(X, y)
    assert reg.predict(X).shape == (200,) and reg.score(X, y) > 0.99
    Y2 = np.column_stack([y, -y])
    reg2 = MLPRegressor(hidden_layer_sizes=(8,), activation="identity", learning_rate_init=0.01,
                        max_iter=50, random_state=0).fit(X, Y2)
    assert reg2.predict(X).shape == (200, 2)


@pytest.mark.parametrize("params, name", [
    (dict(solver="sgd", momentum=-0.5), "momentum"),
    (dict(momentum=1.5), "momentum"),
    (dict(beta_1=1.0), "beta_1"),
    (dict(beta_2=1.5), "beta_2"),
    (dict(epsilon=-1.0), "epsilon"),
    (dict(learning_rate_init=float("inf")), "learning_rate_init"),
    (dict(max_iter=0), "max_iter"),
    (dict(alpha=float("nan")), "alpha"),
    (dict(target="gpu"), "target"),
])
@pytest.mark.parametrize("cls", [MLPClassifier, MLPRegressor])
def test_bad_hyper_parameters_are_a_value_error_at_the_start_of_fit(cls, params, name):
    est = cls(**{"hidden_layer_sizes": (2,), "max_iter": 2, **params})
    with pytest.raises(ValueError, match=rf"^{name}: expected"):
        est.fit([[0.0], [1.0], [2.0]], [0, 1, 0])
    assert not hasattr(est, "coefs_")


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_momentum_takes_scikit_learns_closed_interval(solver):
    # scikit-learn accepts momentum in [0, 1] whatever the solver; so must the estimators
    X, y = [[0.0], [1.0], [2.0], [3.0]], [0, 1, 0, 1]
    clf = MLPClassifier(hidden_layer_sizes=(2,), solver=solver, momentum=1.0, max_iter=2,
                        random_state=0).fit(X, y)
    assert clf.predict(X).shape == (4,)


def test_regressor_fitted_on_a_column_vector_predicts_1d_as_scikit_learn():
    from sklearn.exceptions import DataConversionWarning

    X, y = make_regression(n_samples=30, n_features=2, random_state=0)
    with pytest.warns(DataConversionWarning):
        reg = MLPRegressor(hidden_layer_sizes=(3,), max_iter=3, random_state=0).fit(
            X, y[:, None])
    assert reg.predict(X).shape == (30,)
