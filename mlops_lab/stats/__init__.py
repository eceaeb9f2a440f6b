"""Pure statistics: drift tests and their correction, estimates with confidence intervals.

No Ray, DuckDB, web or notebook import: the monitor runs these on windows of the request
log, and the tests and benchmarks run them on generated data.

Example:
    >>> from mlops_lab.stats import feature_drift, proportion
    >>> proportion(45, 50).value
    0.9
"""

from __future__ import annotations

from mlops_lab.stats._drift import (
    CATEGORICAL_TESTS,
    CORRECTIONS,
    NUMERIC_TESTS,
    FeatureDrift,
    adjust,
    categorical_drift,
    feature_drift,
    numeric_drift,
)
from mlops_lab.stats._errors import StatsError
from mlops_lab.stats._intervals import (
    Estimate,
    expected_accuracy,
    mean_absolute_error,
    proportion,
    proportion_below,
    root_mean_squared_error,
)

__all__ = [
    "CATEGORICAL_TESTS",
    "CORRECTIONS",
    "NUMERIC_TESTS",
    "Estimate",
    "FeatureDrift",
    "StatsError",
    "adjust",
    "categorical_drift",
    "expected_accuracy",
    "feature_drift",
    "mean_absolute_error",
    "numeric_drift",
    "proportion",
    "proportion_below",
    "root_mean_squared_error",
]
