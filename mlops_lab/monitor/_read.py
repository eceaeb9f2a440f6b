"""The monitor's results as frames: the latest value of each metric in each window.

A live metric is computed again as labels arrive; a frame shows its latest computation.
Estimates (accuracy, errors, the accuracy expected before labels) come with the bounds of
their interval; per-feature drift with its feature.
"""

from __future__ import annotations

import json

import pandas as pd

from mlops_lab.errors import listing, parameter_error
from mlops_lab.monitor._errors import MonitorError
from mlops_lab.monitor._state import CONFIG_KEY, read_state
from mlops_lab.store import StoreClient

METRICS = (
    "accuracy", "drift", "drifted_features", "error", "expected_accuracy", "importance",
    "labelled_share", "mae", "multivariate_drift", "online_drift", "outlier_rate",
    "prediction_drift", "rmse", "rows",
)  # fmt: skip

_COLUMNS = [
    "window_id", "window_start", "window_end", "model", "model_version", "metric", "feature",
    "value", "low", "high", "time", "details",
]  # fmt: skip


def monitoring(store: StoreClient, endpoint: str, metric: str | None = None) -> pd.DataFrame:
    """The monitor's results for ``endpoint``, one row per window, model version and metric.

    Args:
        store: The lab's store.
        endpoint: The endpoint's name.
        metric: Only this metric (one of :data:`METRICS`); all when None.

    Returns:
        Columns ``window_id, window_start, window_end, model, model_version, metric,
        feature, value, low, high, time, details``, in window order; ``details`` holds
        the result's details as a dict.

    Example:
        >>> monitoring(lab.store, "churn", "drift").pivot(
        ...     index="window_start", columns="feature", values="value")
    """
    if metric is not None and metric not in METRICS:
        kept = read_state(store, endpoint, CONFIG_KEY)
        known = METRICS + tuple((kept[0] or {}).get("metrics", {}) if kept else ())
        if metric not in known:
            must = f"be one of {listing(known, limit=len(known))}, or None for every metric"
            raise MonitorError(parameter_error("metric", "monitoring()", must, repr(metric)))
    rows = store.query(
        "SELECT window_id, window_start, window_end, model, model_version, metric, "
        "details->>'feature' AS feature, value, TRY_CAST(details->>'low' AS DOUBLE) AS low, "
        "TRY_CAST(details->>'high' AS DOUBLE) AS high, time, details FROM monitor_results "
        "WHERE endpoint = ? AND (? IS NULL OR metric = ?) "
        "QUALIFY row_number() OVER (PARTITION BY window_id, model, model_version, metric, "
        "details->>'feature', details->>'check' ORDER BY time DESC, result_id) = 1 "
        "ORDER BY window_start, window_id, model, model_version, metric, feature",
        [endpoint, metric, metric],
    ).to_pandas()
    frame = pd.DataFrame(rows, columns=_COLUMNS)
    frame["details"] = [json.loads(text) if text else {} for text in frame["details"]]
    return frame.reset_index(drop=True)


def alerts_frame(
    store: StoreClient, endpoint: str | None = None, *, open_only: bool = False
) -> pd.DataFrame:
    """The alerts (of ``endpoint``, or of every endpoint), the open ones first, newest first.

    Columns ``alert_id, endpoint, time, severity, kind, message, resolved_at, details``;
    ``details`` as a dict.
    """
    rows = store.query(
        "SELECT alert_id, endpoint, time, severity, kind, message, resolved_at, details "
        "FROM alerts WHERE (? IS NULL OR endpoint = ?) AND (NOT ? OR resolved_at IS NULL) "
        "ORDER BY resolved_at IS NOT NULL, time DESC, alert_id",
        [endpoint, endpoint, bool(open_only)],
    ).to_pandas()
    rows["details"] = [json.loads(text) if text else {} for text in rows["details"]]
    return rows.reset_index(drop=True)
