"""Estimates with their confidence intervals: live accuracy, errors, and accuracy before labels.

Live accuracy is a proportion over the window's requests that have feedback (Wilson's
interval, which keeps its coverage near 0 and 1 and on few labels). MAE and RMSE are means
of per-request errors (Student's t; RMSE's interval is the square root of the interval of
the mean squared error). Before labels arrive, a classifier whose probabilities are
calibrated is expected to be right on a request with the probability it gave its
prediction: the expected accuracy is their mean, and the realised accuracy of those
requests varies around it with the variance of a sum of Bernoulli trials (the
confidence-based estimate that NannyML calls CBPE).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats as sp_stats

from mlops_lab.stats._errors import StatsError


@dataclass(frozen=True)
class Estimate:
    """A value with the interval that holds the true value at the stated confidence.

    Attributes:
        value: The estimate (NaN with no data).
        low: The interval's lower bound.
        high: The interval's upper bound.
        n: How many observations it rests on.
    """

    value: float
    low: float
    high: float
    n: int

    def as_dict(self) -> dict[str, Any]:
        """The estimate as plain values, for a stored row's details."""
        return {"value": self.value, "low": self.low, "high": self.high, "n": self.n}

    def covers(self, value: float) -> bool:
        """Whether ``value`` lies within the interval."""
        return self.low <= value <= self.high


NO_DATA = Estimate(float("nan"), float("nan"), float("nan"), 0)


def proportion(successes: int, n: int, confidence: float = 0.95) -> Estimate:
    """A proportion (say, the share of correct predictions) with Wilson's score interval.

    Example:
        >>> estimate = proportion(45, 50)
        >>> estimate.value, round(estimate.low, 3), round(estimate.high, 3)
        (0.9, 0.786, 0.957)
    """
    _check_confidence(confidence)
    if n <= 0:
        return NO_DATA
    if not 0 <= successes <= n:
        raise StatsError(f"A proportion needs 0 <= successes <= n; got {successes} of {n}.")
    z = _z(confidence)
    share = successes / n
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n))
    return Estimate(share, max(0.0, centre - half), min(1.0, centre + half), n)


def mean_absolute_error(errors: Any, confidence: float = 0.95) -> Estimate:
    """The mean of ``|truth - prediction|`` with Student's t interval.

    Example:
        >>> round(mean_absolute_error([1.0, -1.0, 2.0, -2.0]).value, 2)
        1.5
    """
    return _mean(np.abs(_finite(errors)), confidence)


def root_mean_squared_error(errors: Any, confidence: float = 0.95) -> Estimate:
    """The square root of the mean squared error, with the root of the MSE's interval.

    Example:
        >>> round(root_mean_squared_error([3.0, -3.0]).value, 2)
        3.0
    """
    squared = _mean(_finite(errors) ** 2, confidence)
    if squared.n == 0:
        return NO_DATA
    return Estimate(math.sqrt(squared.value), math.sqrt(max(squared.low, 0.0)),
                    math.sqrt(squared.high), squared.n)  # fmt: skip


def expected_accuracy(confidences: Any, confidence: float = 0.95) -> Estimate:
    """The accuracy a calibrated classifier should realise on these requests, before labels.

    ``confidences`` are the probabilities the model gave its predicted classes. If they are
    calibrated, each request is right with its probability, so the realised accuracy has
    mean ``mean(p)`` and variance ``sum(p * (1 - p)) / n**2``; the interval is where the
    realised accuracy should fall once every label has arrived.

    Example:
        >>> estimate = expected_accuracy([0.9] * 100)
        >>> round(estimate.value, 3), round(estimate.low, 3), round(estimate.high, 3)
        (0.9, 0.841, 0.959)
    """
    _check_confidence(confidence)
    p = _finite(confidences)
    if len(p) == 0:
        return NO_DATA
    if p.min() < 0 or p.max() > 1:
        raise StatsError("Confidences are probabilities; got values outside [0, 1].")
    value = float(p.mean())
    half = _z(confidence) * math.sqrt(float((p * (1 - p)).sum())) / len(p)
    return Estimate(value, max(0.0, value - half), min(1.0, value + half), len(p))


def proportion_below(successes: int, n: int, reference: float) -> float:
    """The one-sided p-value that the true proportion is below ``reference``.

    An exact binomial test, so it holds on a handful of labels as on thousands.

    Example:
        >>> proportion_below(70, 100, 0.9) < 0.001
        True
    """
    if n <= 0:
        return float("nan")
    if not 0 <= reference <= 1:
        raise StatsError(f"A reference proportion lies in [0, 1]; got {reference}.")
    return float(sp_stats.binomtest(successes, n, reference, alternative="less").pvalue)


def _mean(values: np.ndarray, confidence: float) -> Estimate:
    _check_confidence(confidence)
    n = len(values)
    if n == 0:
        return NO_DATA
    value = float(values.mean())
    if n == 1:
        return Estimate(value, float("-inf"), float("inf"), 1)
    half = float(sp_stats.t.ppf(0.5 + confidence / 2, n - 1)) * float(values.std(ddof=1))
    half /= math.sqrt(n)
    return Estimate(value, value - half, value + half, n)


def _finite(values: Any) -> np.ndarray:
    array = np.asarray(values, dtype=float).ravel()
    return array[np.isfinite(array)]


def _z(confidence: float) -> float:
    return float(sp_stats.norm.ppf(0.5 + confidence / 2))


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise StatsError(f"A confidence level lies between 0 and 1; got {confidence!r}.")
