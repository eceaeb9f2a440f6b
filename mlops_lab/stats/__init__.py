"""Pure statistics: drift tests and their correction, estimates with confidence intervals.

No Ray, DuckDB, web or notebook import: the monitor runs these on windows of the request
log, and the tests and benchmarks run them on generated data. Names load on first use, so
that the options that list the tests' names cost no SciPy import.

Example:
    >>> from mlops_lab.stats import feature_drift, proportion
    >>> proportion(45, 50).value
    0.9
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_lab._lazy import lazy_exports

if TYPE_CHECKING:
    from mlops_lab.stats._choices import CATEGORICAL_TESTS, CORRECTIONS, NUMERIC_TESTS
    from mlops_lab.stats._drift import (
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

_EXPORTS = {
    "CATEGORICAL_TESTS": "mlops_lab.stats._choices",
    "CORRECTIONS": "mlops_lab.stats._choices",
    "NUMERIC_TESTS": "mlops_lab.stats._choices",
    "Estimate": "mlops_lab.stats._intervals",
    "FeatureDrift": "mlops_lab.stats._drift",
    "StatsError": "mlops_lab.stats._errors",
    "adjust": "mlops_lab.stats._drift",
    "categorical_drift": "mlops_lab.stats._drift",
    "expected_accuracy": "mlops_lab.stats._intervals",
    "feature_drift": "mlops_lab.stats._drift",
    "mean_absolute_error": "mlops_lab.stats._intervals",
    "numeric_drift": "mlops_lab.stats._drift",
    "proportion": "mlops_lab.stats._intervals",
    "proportion_below": "mlops_lab.stats._intervals",
    "root_mean_squared_error": "mlops_lab.stats._intervals",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
