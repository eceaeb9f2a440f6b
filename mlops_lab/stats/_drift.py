"""Per-feature drift: a two-sample test by column kind, its distance, and a correction.

A p-value alone flags trivial shifts once a window is large: with 10,000 rows a mean
shift of a hundredth of a standard deviation is "significant". So each test also reports
a distance on a scale that does not grow with the window (the Wasserstein distance in
units of the reference's standard deviation for numbers, the Jensen-Shannon distance for
categories), and a feature counts as drifted only when the corrected test is significant
*and* the distance reaches a minimum effect.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats as sp_stats
from scipy.spatial.distance import jensenshannon

from mlops_lab.stats._choices import CORRECTIONS, NUMERIC_TESTS
from mlops_lab.stats._errors import StatsError


@dataclass(frozen=True)
class FeatureDrift:
    """The drift test of one feature in one window.

    Attributes:
        feature: The feature's name.
        test: ``"ks"`` (Kolmogorov-Smirnov), ``"cvm"`` (Cramér-von Mises) or ``"chi2"``.
        statistic: The test's statistic.
        p_value: Its p-value, before any correction.
        distance: Normalised Wasserstein (numbers) or Jensen-Shannon (categories).
        distance_name: ``"wasserstein_sd"`` or ``"jensen_shannon"``.
        p_adjusted: The p-value after the correction for the number of features.
        drifted: Significant after correction, and ``distance >= min_effect``.
        rows: The window's rows that had a value for the feature.
    """

    feature: str
    test: str
    statistic: float
    p_value: float
    distance: float
    distance_name: str
    p_adjusted: float = float("nan")
    drifted: bool = False
    rows: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The result as plain values, for a stored row's details."""
        return {
            "feature": self.feature, "test": self.test, "statistic": self.statistic,
            "p_value": self.p_value, "p_adjusted": self.p_adjusted, "distance": self.distance,
            "distance_name": self.distance_name, "drifted": self.drifted, "rows": self.rows,
        }  # fmt: skip


def numeric_drift(feature: str, reference: Any, current: Any, test: str = "ks") -> FeatureDrift:
    """Test whether a numeric feature's distribution moved from the reference.

    Missing values (NaN, None) are left out of both samples.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> numeric_drift("x", rng.normal(size=500), rng.normal(1, size=500)).p_value < 1e-6
        True
    """
    if test not in NUMERIC_TESTS:
        raise StatsError(f"No numeric drift test '{test}'; choose one of {list(NUMERIC_TESTS)}.")
    ref = _finite(reference)
    cur = _finite(current)
    if len(ref) < 2 or len(cur) < 2:
        return FeatureDrift(feature, test, float("nan"), float("nan"), float("nan"),
                            "wasserstein_sd", rows=len(cur))  # fmt: skip
    if test == "ks":
        result = sp_stats.ks_2samp(ref, cur)
        statistic, p_value = float(result.statistic), float(result.pvalue)
    else:
        result = sp_stats.cramervonmises_2samp(ref, cur, method="asymptotic")
        statistic, p_value = float(result.statistic), float(result.pvalue)
    scale = float(np.std(ref))
    distance = float(sp_stats.wasserstein_distance(ref, cur))
    distance = distance / scale if scale > 0 else (0.0 if distance == 0 else float("inf"))
    return FeatureDrift(feature, test, statistic, min(max(p_value, 0.0), 1.0), distance,
                        "wasserstein_sd", rows=len(cur))  # fmt: skip


def categorical_drift(feature: str, reference: Any, current: Any) -> FeatureDrift:
    """Test whether a categorical feature's frequencies moved from the reference.

    A chi-squared test of homogeneity over every category seen in either sample (one the
    reference never had counts as moved mass), and the Jensen-Shannon distance (base 2,
    between 0 and 1) of the two frequency vectors. Missing values are left out.

    Example:
        >>> drift = categorical_drift("c", ["a"] * 50 + ["b"] * 50, ["a"] * 90 + ["b"] * 10)
        >>> drift.p_value < 0.001, round(drift.distance, 2)
        (True, 0.38)
    """
    ref = _present(reference)
    cur = _present(current)
    if not ref or not cur:
        return FeatureDrift(feature, "chi2", float("nan"), float("nan"), float("nan"),
                            "jensen_shannon", rows=len(cur))  # fmt: skip
    categories = sorted(set(ref) | set(cur), key=repr)
    counts = np.array([_counts(ref, categories), _counts(cur, categories)], dtype=float)
    if len(categories) < 2:
        statistic, p_value = 0.0, 1.0
    else:
        result = sp_stats.chi2_contingency(counts, correction=False)
        statistic, p_value = float(result.statistic), float(result.pvalue)
    frequencies = counts / counts.sum(axis=1, keepdims=True)
    distance = float(jensenshannon(frequencies[0], frequencies[1], base=2))
    return FeatureDrift(feature, "chi2", statistic, p_value, distance, "jensen_shannon",
                        rows=len(cur))  # fmt: skip


def adjust(p_values: Sequence[float], correction: str) -> list[float]:
    """P-values corrected for testing several features at once.

    ``"bonferroni"`` multiplies by the number of tests (the family-wise error rate stays
    at most alpha); ``"fdr"`` is Benjamini-Hochberg's step-up (the expected share of false
    discoveries stays at most alpha); ``"none"`` leaves them. NaN (a feature with too few
    values to test) stays NaN and is not counted as a test.

    Example:
        >>> [round(p, 3) for p in adjust([0.01, 0.04, 0.5], "bonferroni")]
        [0.03, 0.12, 1.0]
    """
    if correction not in CORRECTIONS:
        raise StatsError(f"No correction '{correction}'; choose one of {list(CORRECTIONS)}.")
    values = np.asarray(p_values, dtype=float)
    tested = ~np.isnan(values)
    count = int(tested.sum())
    adjusted = values.copy()
    if correction == "none" or count == 0:
        return [float(v) for v in adjusted]
    if correction == "bonferroni":
        adjusted[tested] = np.minimum(values[tested] * count, 1.0)
    else:
        ranked = values[tested]
        order = np.argsort(ranked)
        scaled = ranked[order] * count / np.arange(1, count + 1)
        # Step-up: each adjusted p-value is the smallest scaled value at or above its rank.
        stepped = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
        result = np.empty(count)
        result[order] = stepped
        adjusted[tested] = result
    return [float(v) for v in adjusted]


def feature_drift(
    reference: Mapping[str, Any], current: Mapping[str, Any], kinds: Mapping[str, str], *,
    alpha: float = 0.05, correction: str = "bonferroni", min_effect: float = 0.1,
    numeric_test: str = "ks",
) -> list[FeatureDrift]:  # fmt: skip
    """Test every feature of a window against the reference, corrected together.

    Args:
        reference: Each feature's reference values, by name.
        current: Each feature's values in the window, by name.
        kinds: ``"numeric"`` or ``"categorical"`` for each feature to test.
        alpha: The level of the corrected tests.
        correction: ``"bonferroni"``, ``"fdr"`` or ``"none"``.
        min_effect: The smallest distance that counts as drift (0 counts every
            significant shift).
        numeric_test: ``"ks"`` or ``"cvm"``.

    Returns:
        One result per feature of ``kinds``, in its order, with ``p_adjusted`` and
        ``drifted`` filled in.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> ref = {"x": rng.normal(size=2000), "y": rng.normal(size=2000)}
        >>> window = {"x": rng.normal(0.5, size=500), "y": rng.normal(size=500)}
        >>> kinds = {"x": "numeric", "y": "numeric"}
        >>> [d.feature for d in feature_drift(ref, window, kinds) if d.drifted]
        ['x']
    """
    check_level(alpha, "alpha")
    if min_effect < 0 or not np.isfinite(min_effect):
        raise StatsError(f"The minimum effect must be a finite number >= 0; got {min_effect}.")
    results = []
    for name, kind in kinds.items():
        if kind == "categorical":
            results.append(categorical_drift(name, reference[name], current[name]))
        elif kind == "numeric":
            results.append(numeric_drift(name, reference[name], current[name], numeric_test))
        else:
            raise StatsError(
                f"Feature '{name}' has kind '{kind}'; a kind is 'numeric' or 'categorical'."
            )
    adjusted = adjust([r.p_value for r in results], correction)
    return [
        FeatureDrift(
            r.feature, r.test, r.statistic, r.p_value, r.distance, r.distance_name, p,
            drifted=bool(p <= alpha and r.distance >= min_effect), rows=r.rows,
        )
        for r, p in zip(results, adjusted, strict=True)
    ]  # fmt: skip


def check_level(value: float, name: str) -> None:
    """Refuse a significance level outside (0, 1)."""
    if not isinstance(value, int | float) or not 0 < value < 1:
        raise StatsError(f"The '{name}' level must be a number between 0 and 1; got {value!r}.")


def _finite(values: Any) -> np.ndarray:
    array = np.asarray(values, dtype=float).ravel()
    return array[np.isfinite(array)]


def _present(values: Any) -> list[Any]:
    return [v for v in values if v is not None and not (isinstance(v, float) and np.isnan(v))]


def _counts(values: list[Any], categories: list[Any]) -> list[int]:
    index = {category: i for i, category in enumerate(categories)}
    counts = [0] * len(categories)
    for value in values:
        counts[index[value]] += 1
    return counts
