"""Configurations are trained iteration by iteration, as if each had been fitted in one go."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import BaseEstimator, clone
from sklearn.datasets import make_classification
from sklearn.ensemble import (
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
)
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from mlops_lab.train._fit import IterativeTrainer, fit_and_score, is_iterative, make_splits

X, y = make_classification(n_samples=300, n_features=6, random_state=0)


@pytest.mark.parametrize(
    ("estimator", "iterative"),
    [
        (SGDClassifier(), True),  # partial_fit
        (RandomForestClassifier(), True),  # warm_start, n_estimators
        (GradientBoostingClassifier(), True),
        (HistGradientBoostingClassifier(), True),  # warm_start, max_iter boosting rounds
        (HistGradientBoostingRegressor(), True),
        (make_pipeline(StandardScaler(), HistGradientBoostingClassifier()), True),
        # warm_start and max_iter, but a second fit restarts the solver from the last
        # solution rather than adding iterations: not growth.
        (LogisticRegression(), False),
        (SVC(), False),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseEstimator) else str(value),
)
def test_which_estimators_can_train_in_steps(estimator: BaseEstimator, iterative: bool) -> None:
    assert is_iterative(estimator) is iterative


@pytest.mark.parametrize(
    ("estimator", "params"),
    [
        (HistGradientBoostingClassifier(random_state=0, early_stopping=False), {"max_iter": 30}),
        (RandomForestClassifier(random_state=0), {"n_estimators": 12, "max_depth": 4}),
        (
            make_pipeline(StandardScaler(), HistGradientBoostingClassifier(random_state=0)),
            {"histgradientboostingclassifier__max_iter": 30},
        ),
    ],
    ids=["hist_boosting", "forest", "pipeline"],
)
def test_the_last_iteration_scores_what_one_fit_would(
    estimator: BaseEstimator, params: dict
) -> None:
    splits = make_splits(estimator, X, y, 3)
    trainer = IterativeTrainer(estimator, params, X, y, splits, "accuracy", max_iter=3)
    scores = [trainer.step() for _ in range(3)]
    at_once = np.mean(
        [fit_and_score(estimator, params, X, y, split, "accuracy") for split in splits]
    )
    assert scores[-1] == pytest.approx(at_once)
    # Each iteration grew the models: the first one had a third of the final size.
    first = IterativeTrainer(estimator, params, X, y, splits, "accuracy", max_iter=3)
    first.step()
    model = first._folds[0][0]
    size = model.n_iter_ if hasattr(model, "n_iter_") else len(model.estimators_)
    final_size = next(
        value for key, value in params.items() if key.endswith(("max_iter", "n_estimators"))
    )
    assert size == final_size // 3


def test_a_partial_fit_estimator_takes_one_pass_per_iteration() -> None:
    estimator = SGDClassifier(random_state=0, tol=None)
    splits = make_splits(estimator, X, y, 3)
    trainer = IterativeTrainer(estimator, {"alpha": 1e-3}, X, y, splits, "accuracy", max_iter=4)
    for _ in range(4):
        trainer.step()
    expected = clone(estimator).set_params(alpha=1e-3)
    train, _ = splits[0]
    for _ in range(4):
        expected.partial_fit(X[train], y[train], classes=np.unique(y))
    np.testing.assert_allclose(trainer._folds[0][0].coef_, expected.coef_)
