"""Code the registry tests put into models: types that skops does not trust by default."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin


def double(x: np.ndarray) -> np.ndarray:
    """A module-level function, usable in a FunctionTransformer."""
    return x * 2


class MeanRegressor(RegressorMixin, BaseEstimator):
    """Predicts the training mean plus ``shift``; a custom estimator class."""

    def __init__(self, shift: float = 0.0) -> None:
        self.shift = shift

    def fit(self, X: np.ndarray, y: np.ndarray) -> MeanRegressor:
        self.n_features_in_ = np.asarray(X).shape[1]
        self.mean_ = float(np.mean(y)) + self.shift
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.full(len(X), self.mean_)
