"""scikit-learn style estimators over symbp's compiled kernels: MLPClassifier, MLPRegressor.

Contract: ``fit`` builds a spec from the constructor arguments and the data's shape (a dense
network ``n_features -> hidden_layer_sizes -> outputs``), derives it (``.derivation_`` prints
what was compiled), compiles it for ``target`` and trains it with the compiled whole-epoch
kernel (:class:`symbp.train.Trainer`): seeded minibatches, the optimizer fused into the step.
Needs scikit-learn (``pip install "symbp[data]"``) for its base classes and input validation.

Differences from scikit-learn's MLP estimators:

- ``alpha`` is the L2 coefficient of the derivation's loss, ``L = mean loss + alpha/2 sum W^2``
  (scikit-learn divides the penalty by the batch size as well).
- ``solver``: ``"sgd"`` (with ``momentum`` > 0 the heavy-ball form ``v <- mu v + g``,
  ``p <- p - eta v``; no Nesterov), ``"adam"``; no ``"lbfgs"``. A constant learning rate; training
  always runs ``max_iter`` epochs (no ``tol`` / early stopping).
- Each distinct architecture (features, hidden sizes, activation, outputs, alpha, solver,
  target, dtype) is compiled once, then reused from symbp's on-disk cache.

Like scikit-learn's, ``fit`` validates every constructor argument before it looks at the data:
the training settings as the ``[train]`` keys they become (``learning_rate_init`` as ``lr``,
``max_iter`` as ``epochs``, ``momentum``, ``beta_1``, ``beta_2``, ``epsilon`` in their ranges
whatever the solver), and a bad value is a ``ValueError`` that names the argument.

scikit-learn's ``check_estimator`` passes for both estimators: every check, none declared as an
expected failure (tests/test_estimators.py; about 50 checks each, their time dominated by
compiling the distinct architectures they fit). scikit-learn itself skips its pandas-input
variants (``check_*_data_not_an_array`` with pandas) where pandas is not installed.
"""

from __future__ import annotations

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.utils import check_random_state
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted, column_or_1d
except ImportError as exc:  # pragma: no cover - exercised only without scikit-learn
    raise ImportError("symbp.MLPClassifier and symbp.MLPRegressor need scikit-learn: pip install "
                      "\"symbp[data]\" (or pip install scikit-learn)") from exc

try:
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # pragma: no cover - scikit-learn < 1.6
    def _validate_data(est, *args, **kwargs):
        return est._validate_data(*args, **kwargs)

ACTIVATIONS = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}
SOLVERS = ("sgd", "adam")
#: Constructor arguments -> the ``[train]`` key each becomes (and is validated as).
TRAIN_ARGS = {"learning_rate_init": "lr", "max_iter": "epochs", "momentum": "momentum",
              "beta_1": "beta1", "beta_2": "beta2", "epsilon": "epsilon", "target": "target",
              "dtype": "dtype"}


class _MLP(BaseEstimator):
    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate_init=0.001, max_iter=200,
                 random_state=None, momentum=0.9, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                 target="cpu", dtype="float64", verbose=False):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.random_state = random_state
        self.momentum = momentum
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.target = target
        self.dtype = dtype
        self.verbose = verbose

    # -- building the spec -----------------------------------------------------------------------
    def _hidden(self) -> list[int]:
        h = self.hidden_layer_sizes
        h = [h] if np.isscalar(h) else list(h)
        if any(isinstance(u, bool) or int(u) != u or u < 1 for u in h):
            raise ValueError(f"hidden_layer_sizes must be positive whole numbers, got "
                             f"{self.hidden_layer_sizes!r}")
        return [int(u) for u in h]

    def _check_params(self) -> None:
        """Validate the constructor arguments (``fit`` calls this first).

        The training settings are checked as the spec's ``[train]`` keys they become
        (:func:`symbp.train.validate_train_table`), each of them whatever the solver, as
        scikit-learn does.

        Raises:
            ValueError: naming the argument and what was expected.
        """
        from .errors import SpecError
        from .train import HYPER_KEYS, validate_train_table

        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got "
                             f"{self.activation!r}")
        if self.solver not in SOLVERS:
            raise ValueError(f"solver must be 'sgd' or 'adam' (symbp has no {self.solver!r})")
        self._hidden()
        for arg, key in TRAIN_ARGS.items():
            value = getattr(self, arg)
            if arg == "momentum":  # scikit-learn's interval, [0, 1] (a spec's [train]: [0, 1))
                if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
                        or not 0 <= value <= 1:
                    raise ValueError(f"momentum: expected a number in [0, 1], got {value!r}")
                continue
            table = {key: value.item() if isinstance(value, np.generic) else value}
            if key in HYPER_KEYS:
                table["optimizer"] = HYPER_KEYS[key][0]
            try:
                validate_train_table(table, type(self).__name__)
            except SpecError as exc:
                raise ValueError(f"{arg}: {exc.problem}") from None
        if isinstance(self.alpha, bool) or not isinstance(self.alpha, (int, float, np.number)) \
                or not np.isfinite(self.alpha) or self.alpha < 0:
            raise ValueError(f"alpha: expected a number >= 0, got {self.alpha!r}")
        if self.batch_size != "auto" and not (isinstance(self.batch_size, (int, np.integer))
                                              and not isinstance(self.batch_size, bool)
                                              and self.batch_size >= 1):
            raise ValueError(f"batch_size: expected 'auto' or a whole number >= 1, got "
                             f"{self.batch_size!r}")

    def _optimizer(self) -> str:
        if self.solver == "adam":
            return "adam"
        return "momentum" if self.momentum > 0 else "sgd"

    def _spec(self, n_features: int, n_outputs: int, out_activation: str, loss: str):
        from .spec import spec_from_dict

        act = ACTIVATIONS[self.activation]
        layers = [{"units": u, "activation": act} for u in self._hidden()]
        layers.append({"units": n_outputs, "activation": out_activation})
        raw = {"name": f"{type(self).__name__.lower()}",
               "model": {"inputs": int(n_features), "layers": layers},
               "loss": {"kind": loss, "reduction": "mean", "l2": float(self.alpha)}}
        if loss == "mse":
            raw["loss"]["scale"] = 0.5
        return spec_from_dict(raw, f"<{type(self).__name__}>", validate_sections=False)

    def _config(self, n_samples: int):
        from .train import TrainConfig

        batch = min(200, n_samples) if self.batch_size == "auto" else int(self.batch_size)
        seed = int(check_random_state(self.random_state).randint(0, 2**31 - 1))
        opt = self._optimizer()
        extra = ({"momentum": float(self.momentum)} if opt == "momentum" else
                 {"beta1": float(self.beta_1), "beta2": float(self.beta_2),
                  "epsilon": float(self.epsilon)} if opt == "adam" else {})
        return TrainConfig(optimizer=opt, lr=float(self.learning_rate_init),
                           epochs=int(self.max_iter), batch_size=min(batch, n_samples), seed=seed,
                           target=self.target, dtype=self.dtype, **extra)

    # -- training --------------------------------------------------------------------------------
    def _train(self, X: np.ndarray, Y: np.ndarray, out_activation: str, loss: str, task: str):
        from .data import Dataset, Standardizer
        from .train import Trainer, prepare

        spec = self._spec(X.shape[1], Y.shape[1], out_activation, loss)
        config = self._config(len(X))
        empty = np.zeros((0, X.shape[1])), np.zeros((0, Y.shape[1]))
        data = Dataset(X, Y, *empty, *empty, None, task, (), Standardizer.identity(X.shape[1]))
        d, data, model, _ = prepare(spec, config, data=data)
        progress = None
        if self.verbose:
            from .progress import ProgressBar

            progress = ProgressBar(enabled=True)
        trainer = Trainer(d, model, data, config, progress=progress, metric_points=1,
                          report_seconds=0.5 if self.verbose else 5.0)
        try:
            run = trainer.run()
        finally:
            if progress is not None:
                progress.close()
        self.derivation_ = d
        self._model = model
        self.coefs_ = [run.params[f"W{l}"] for l in range(1, len(spec.model.layers) + 1)]
        self.intercepts_ = [run.params[f"b{l}"] for l in range(1, len(spec.model.layers) + 1)]
        self.loss_curve_ = list(run.losses)
        self.loss_ = run.final_loss
        self.n_iter_ = run.epoch
        self.t_ = int(run.state["t"])
        self.n_layers_ = len(spec.model.layers) + 1
        self.n_outputs_ = Y.shape[1]
        self.out_activation_ = "softmax" if loss == "softmax_cross_entropy" else \
            ("logistic" if loss == "bce_logits" else "identity")
        return self

    def _forward(self, X) -> np.ndarray:
        check_is_fitted(self, "coefs_")
        X = _validate_data(self, X, reset=False, dtype=np.float64)
        params = {}
        for l, (W, b) in enumerate(zip(self.coefs_, self.intercepts_), start=1):
            params[f"W{l}"], params[f"b{l}"] = W, b
        return np.asarray(self._compiled().forward(params, X), dtype=np.float64)

    def _compiled(self):
        if getattr(self, "_model", None) is None:  # after unpickling: the cache has it
            from .runtime import compile_derivation

            self._model = compile_derivation(self.derivation_, target=self.target,
                                             dtype=self.dtype)
        return self._model

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_model", None)  # compiled code is not picklable; recompiled (cached) on use
        return state


class MLPClassifier(ClassifierMixin, _MLP):
    """Multi-layer perceptron classifier trained with symbp's compiled kernels.

    Two classes: one logistic output with the fused sigmoid + binary cross-entropy on the
    logits; more: softmax outputs with the fused softmax cross-entropy. See the module
    docstring for the arguments and the differences from scikit-learn's ``MLPClassifier``.

    Attributes (after ``fit``): ``classes_``, ``coefs_``, ``intercepts_``, ``loss_curve_``,
    ``loss_``, ``n_iter_``, ``n_features_in_``, ``derivation_`` (print it to see the
    equations compiled).

        >>> clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=50, random_state=0)
        >>> clf.fit([[0, 0], [0, 1], [1, 0], [1, 1]], [0, 1, 1, 0]).predict([[0, 0]]).shape
        (1,)
    """

    def fit(self, X, y):
        self._check_params()
        X, y = _validate_data(self, X, y, dtype=np.float64)
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        self.classes_, idx = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"MLPClassifier needs samples of at least 2 classes; got only "
                             f"one class ({self.classes_[0]!r})")
        if len(self.classes_) == 2:
            return self._train(X, idx[:, None].astype(np.float64), "identity", "bce_logits",
                               "classification")
        Y = np.eye(len(self.classes_))[idx]
        return self._train(X, Y, "softmax", "cross_entropy", "classification")

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, one column per class in ``classes_`` order."""
        p = self._forward(X)
        return np.column_stack([1 - p[:, 0], p[:, 0]]) if p.shape[1] == 1 else p

    def predict_log_proba(self, X) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X) -> np.ndarray:
        proba = self.predict_proba(X)  # raises NotFittedError before fit
        return self.classes_[np.argmax(proba, axis=1)]


class MLPRegressor(RegressorMixin, _MLP):
    """Multi-layer perceptron regressor trained with symbp's compiled kernels.

    Linear outputs and the loss ``1/2 mean (y - yhat)^2`` (plus ``alpha/2 sum W^2``), as
    scikit-learn's ``MLPRegressor``; several targets are several outputs. As there, a column
    vector ``y`` of shape ``(n, 1)`` is one target (with a ``DataConversionWarning``), predicted
    as shape ``(n,)``. See the module docstring for the arguments.
    """

    def fit(self, X, y):
        self._check_params()
        X, y = _validate_data(self, X, y, dtype=np.float64, multi_output=True, y_numeric=True)
        if y.ndim == 2 and y.shape[1] == 1:  # a column vector: one target, as scikit-learn
            y = column_or_1d(y, warn=True)
        self._y_1d = y.ndim == 1
        Y = y[:, None] if y.ndim == 1 else y
        return self._train(X, Y.astype(np.float64), "identity", "mse", "regression")

    def predict(self, X) -> np.ndarray:
        out = self._forward(X)
        return out[:, 0] if self._y_1d else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags
