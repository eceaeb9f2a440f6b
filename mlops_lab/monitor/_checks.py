"""The checks of one model version in one closed window: drift, outliers, expected accuracy.

Each check gives result rows; a check that raises gives an error row instead, and the
other checks still run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from mlops_lab.monitor._multivariate import classifier_drift, kernel_drift
from mlops_lab.monitor._reference import Reference
from mlops_lab.monitor._results import Subject, error_row, result_row
from mlops_lab.monitor._windows import features_frame, predictions
from mlops_lab.stats import categorical_drift, expected_accuracy, feature_drift, numeric_drift

Rows = list[dict[str, Any]]


def window_checks(
    subject: Subject, rows: pd.DataFrame, reference: Reference, settings: Mapping[str, Any],
    flags: Mapping[str, bool], *, time: datetime,
) -> Rows:  # fmt: skip
    """Every check of ``subject`` on its rows of the window.

    Args:
        subject: The window and the model version.
        rows: The window's requests that this version served.
        reference: The version's reference.
        settings: The monitor's options.
        flags: Whether each request (by id) is an outlier, for those scored.
        time: When the results are computed.
    """
    frame = features_frame(rows, reference.features)
    checks: dict[str, Callable[[], Rows]] = {
        "feature_drift": lambda: _feature_drift(subject, frame, reference, settings, time),
        "prediction_drift": lambda: _prediction_drift(subject, rows, reference, time),
        "multivariate_drift": lambda: _multivariate(subject, frame, reference, settings, time),
        "outliers": lambda: _outlier_rate(subject, rows, flags, time),
        "expected_accuracy": lambda: _expected(subject, frame, reference, settings, time),
    }
    results = [result_row(subject, "rows", float(len(rows)), {}, time=time)]
    for name, check in checks.items():
        try:
            results.extend(check())
        except Exception as error:  # a failing check is a result; the others still run
            results.append(error_row(subject, name, error, time=time))
    return results


def _feature_drift(
    subject: Subject, frame: pd.DataFrame, reference: Reference, settings: Mapping[str, Any],
    time: datetime,
) -> Rows:  # fmt: skip
    drifts = feature_drift(
        {name: reference.frame[name] for name in reference.features},
        {name: frame[name] for name in reference.features},
        reference.kinds,
        alpha=settings["alpha"], correction=settings["correction"],
        min_effect=settings["min_effect"], numeric_test=settings["numeric_test"],
    )  # fmt: skip
    rows = [
        result_row(subject, "drift", d.p_adjusted, d.as_dict(), time=time, key=d.feature)
        for d in drifts
    ]
    drifted = [d.feature for d in drifts if d.drifted]
    details = {"features": drifted, "tested": len(drifts), "alpha": settings["alpha"]}
    rows.append(result_row(subject, "drifted_features", float(len(drifted)), details, time=time))
    return rows


def _multivariate(
    subject: Subject, frame: pd.DataFrame, reference: Reference, settings: Mapping[str, Any],
    time: datetime,
) -> Rows:  # fmt: skip
    if not settings["multivariate"] or len(frame) < 2:
        return []
    test = settings["multivariate_test"]
    if test == "classifier":
        details = classifier_drift(reference, frame, settings["alpha"])
    else:
        details = kernel_drift(reference, frame, settings["alpha"], test)
    return [result_row(subject, "multivariate_drift", details["p_value"], details, time=time)]


def _prediction_drift(
    subject: Subject, rows: pd.DataFrame, reference: Reference, time: datetime
) -> Rows:
    live = predictions(rows)
    expected = reference.predictions.tolist()
    if reference.task == "classification":
        drift = categorical_drift("prediction", expected, live)
    else:
        drift = numeric_drift("prediction", expected, pd.to_numeric(pd.Series(live), "coerce"))
    return [result_row(subject, "prediction_drift", drift.p_value, drift.as_dict(), time=time)]


def _outlier_rate(
    subject: Subject, rows: pd.DataFrame, flags: Mapping[str, bool], time: datetime
) -> Rows:
    scored = [flags[request_id] for request_id in rows["request_id"] if request_id in flags]
    if not scored:
        return []
    outliers = int(np.sum(scored))
    details = {"outliers": outliers, "scored": len(scored)}
    return [result_row(subject, "outlier_rate", outliers / len(scored), details, time=time)]


def _expected(
    subject: Subject, frame: pd.DataFrame, reference: Reference, settings: Mapping[str, Any],
    time: datetime,
) -> Rows:  # fmt: skip
    confidences = reference.confidences(frame)
    if confidences is None:
        return []
    estimate = expected_accuracy(confidences, settings["confidence"])
    details = {**estimate.as_dict(), "method": "confidence-based (calibrated probabilities)"}
    return [result_row(subject, "expected_accuracy", estimate.value, details, time=time)]
