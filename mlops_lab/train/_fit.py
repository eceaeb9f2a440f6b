"""Fit and score a configuration by cross-validation, a fold at a time or iteration by iteration.

Pure scikit-learn: no Ray here, so the same code runs in a Tune trial, a test or a notebook.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone, is_classifier
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.metrics import get_scorer
from sklearn.model_selection import check_cv
from sklearn.pipeline import Pipeline

Split = tuple[np.ndarray, np.ndarray]


def make_splits(estimator: BaseEstimator, X: Any, y: Any, cv: Any) -> list[Split]:
    """The train/test index pairs every configuration is scored on (the same for all)."""
    splitter = check_cv(cv, y, classifier=is_classifier(estimator))
    return [(train, test) for train, test in splitter.split(X, y)]


def fit_and_score(
    estimator: BaseEstimator, params: dict[str, Any], X: Any, y: Any, split: Split, metric: str
) -> float:
    """Score of ``estimator`` with ``params`` fitted on one split's train part."""
    train, test = split
    model = clone(estimator).set_params(**params)
    model.fit(_take(X, train), _take(y, train))
    return float(get_scorer(metric)(model, _take(X, test), _take(y, test)))


def is_iterative(estimator: BaseEstimator) -> bool:
    """Whether the (final) estimator can train step by step, so that ASHA can stop it."""
    final = _final(estimator)
    return hasattr(final, "partial_fit") or _grown_by(final) is not None


def _grown_by(final: BaseEstimator) -> str | None:
    """The size a warm-started estimator grows in: its members, or its boosting rounds."""
    params = final.get_params()
    if "warm_start" not in params:
        return None
    if "n_estimators" in params:
        return "n_estimators"
    if isinstance(final, HistGradientBoostingClassifier | HistGradientBoostingRegressor):
        return "max_iter"
    return None


class IterativeTrainer:
    """Train one configuration on every split, one iteration at a time.

    Estimators with ``partial_fit`` take one pass per iteration. Estimators with
    ``warm_start`` grow by a ``max_iter``-th of their final size per iteration: ensembles in
    ``n_estimators`` members, histogram gradient boosting in ``max_iter`` boosting rounds.
    Preprocessing steps of a Pipeline are fitted once per split.
    """

    def __init__(
        self, estimator: BaseEstimator, params: dict[str, Any], X: Any, y: Any,
        splits: Sequence[Split], metric: str, max_iter: int,
    ) -> None:  # fmt: skip
        self.scorer = get_scorer(metric)
        self.max_iter = max_iter
        self.iteration = 0
        model = clone(estimator).set_params(**params)
        final = _final(model)
        self._grown_by = _grown_by(final)
        self._target_n = final.get_params()[self._grown_by] if self._grown_by else 0
        self._folds = [self._prepare(clone(model), X, y, tr, te) for tr, te in splits]
        self._classes = np.unique(y) if is_classifier(model) else None

    def step(self) -> float:
        """Advance every split's model by one iteration; return the mean score."""
        self.iteration += 1
        scores = []
        for final, X_train, y_train, X_test, y_test in self._folds:
            self._advance(final, X_train, y_train)
            scores.append(self.scorer(final, X_test, y_test))
        return float(np.mean(scores))

    def _advance(self, final: BaseEstimator, X: Any, y: Any) -> None:
        if hasattr(final, "partial_fit"):
            extra = {"classes": self._classes} if self._classes is not None else {}
            final.partial_fit(X, y, **extra)
            return
        assert self._grown_by is not None, "tune() accepts only estimators that train in steps"
        grown = max(1, round(self._target_n * self.iteration / self.max_iter))
        final.set_params(warm_start=True, **{self._grown_by: grown})
        final.fit(X, y)

    @staticmethod
    def _prepare(
        model: BaseEstimator, X: Any, y: Any, train: np.ndarray, test: np.ndarray
    ) -> tuple:
        X_train, X_test = _take(X, train), _take(X, test)
        final = model
        if isinstance(model, Pipeline):
            head, final = Pipeline(model.steps[:-1]), model.steps[-1][1]
            X_train = head.fit_transform(X_train, _take(y, train))
            X_test = head.transform(X_test)
        return final, X_train, _take(y, train), X_test, _take(y, test)


def _final(estimator: BaseEstimator) -> BaseEstimator:
    return estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator


def _take(data: Any, rows: np.ndarray) -> Any:
    return data.iloc[rows] if hasattr(data, "iloc") else np.asarray(data)[rows]
