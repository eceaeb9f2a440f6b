"""Live accuracy and errors from feedback, per model version and window, as labels arrive.

Feedback comes late, so a window's metrics are computed when it closes and again each time
new feedback names one of its requests: each computation is a new result row (keyed by the
feedback arrival number it saw), and the latest is the current value. The truth is judged
against the prediction by the one reward rule the bandits use (``routing.reward_of``); a
request given feedback twice counts its latest.

A shadow's outputs, logged beside each request it saw, are joined to the same truth: the
shadow's model version gets its own metrics (``"role": "shadow"`` in their details), so a
candidate is judged on live labels before it serves anyone. A shadow that failed on a
request is left out of its metrics and counted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeGuard

import pandas as pd

from mlops_lab.monitor._results import Subject, result_row
from mlops_lab.monitor._windows import Window, window_rows
from mlops_lab.routing import reward_of
from mlops_lab.stats import mean_absolute_error, proportion, root_mean_squared_error
from mlops_lab.store import StoreClient

Rows = list[dict[str, Any]]
# A prediction and its truth, as JSON values.
Pair = tuple[Any, Any]
# A shadow version's pairs, the requests it saw and the ones it failed on.
ShadowPairs = tuple[list[Pair], int, int]


def labelled(store: StoreClient, window: Window) -> pd.DataFrame:
    """The window's requests with the truth of their latest feedback (None without one)."""
    return store.query(
        "SELECT r.request_id, r.model, r.model_version, r.prediction, r.shadow, f.truth "
        "FROM requests r LEFT JOIN (SELECT request_id, arg_max(truth, seq) AS truth "
        "FROM feedback WHERE endpoint = ? AND truth IS NOT NULL GROUP BY request_id) f "
        "USING (request_id) WHERE r.endpoint = ? AND r.seq BETWEEN ? AND ? AND r.status = 200",
        [window.endpoint, window.endpoint, window.first_seq, window.last_seq],
    ).to_pandas()


def windows_with_new_feedback(store: StoreClient, endpoint: str, after: int) -> list[Window]:
    """The closed windows holding a request whose feedback arrived after ``after``."""
    rows = store.query(
        "SELECT DISTINCT w.window_id, w.first_seq, w.last_seq FROM monitor_windows w "
        "JOIN requests r ON r.endpoint = w.endpoint AND r.seq BETWEEN w.first_seq AND w.last_seq "
        "JOIN feedback f ON f.request_id = r.request_id "
        "WHERE w.endpoint = ? AND f.endpoint = ? AND f.seq > ? ORDER BY w.first_seq",
        [endpoint, endpoint, after],
    ).to_pylist()
    return [
        Window(row["window_id"], endpoint, window_rows(store, endpoint, row["first_seq"],
                                                       row["last_seq"]), "kept")
        for row in rows
    ]  # fmt: skip


def label_metrics(
    window: Window, joined: pd.DataFrame, shadows: Mapping[tuple[str, int], ShadowPairs],
    tasks: Mapping[tuple[str, int], str], settings: Mapping[str, Any], *, time: datetime,
    seen: int,
) -> Rows:  # fmt: skip
    """Accuracy (classifiers) or MAE and RMSE (regressors) of each model version.

    Each comes with the share of the version's requests that have a label so far. The
    versions that shadowed the window's requests get theirs too, from their logged outputs.

    Args:
        window: The closed window.
        joined: :func:`labelled` rows of the window.
        shadows: :func:`shadow_pairs` of ``joined``.
        tasks: Each model version's task.
        settings: The monitor's options (``confidence``).
        time: When the metrics are computed.
        seen: The last feedback arrival number counted, which keys the rows.
    """
    rows: Rows = []
    for (model, version), group in joined.groupby(["model", "model_version"], sort=True):
        pairs = [
            (json.loads(p) if p is not None else None, json.loads(t))
            for p, t in zip(group["prediction"], group["truth"], strict=True)
            if t is not None
        ]
        subject = Subject(window, str(model), int(version))
        task = tasks.get((str(model), int(version)), "classification")
        measured = _measured(pairs, len(group), task, settings, {})
        rows += [
            result_row(subject, metric, value, details, time=time, key=str(seen))
            for metric, (value, details) in measured.items()
        ]
    for (model, version), (pairs, seen_rows, failed) in sorted(shadows.items()):
        subject = Subject(window, model, version)
        task = tasks.get((model, version), "classification")
        extra = {"role": "shadow", "shadow_errors": failed}
        measured = _measured(pairs, seen_rows, task, settings, extra)
        rows += [
            result_row(subject, metric, value, details, time=time, key=f"shadow:{seen}")
            for metric, (value, details) in measured.items()
        ]
    return rows


def shadow_pairs(joined: pd.DataFrame) -> dict[tuple[str, int], ShadowPairs]:
    """Per shadow version: its (output, truth) pairs, the requests it saw, the ones it failed."""
    found: dict[tuple[str, int], ShadowPairs] = {}
    for shadow, truth in zip(joined["shadow"], joined["truth"], strict=True):
        outputs = json.loads(shadow) if isinstance(shadow, str) else shadow
        for ref, output in (outputs or {}).items():
            model, _, version = str(ref).rpartition("@")
            if not version.isdigit():
                continue  # not a model version's output
            pairs, seen_rows, failed = found.get((model, int(version)), ([], 0, 0))
            failed_here = isinstance(output, dict) and "error" in output
            if truth is not None and not failed_here:
                pairs.append((output, json.loads(truth)))
            found[(model, int(version))] = (pairs, seen_rows + 1, failed + failed_here)
    return found


def _measured(
    pairs: list[Pair], total: int, task: str, settings: Mapping[str, Any],
    extra: dict[str, Any],
) -> dict[str, tuple[float | None, dict[str, Any]]]:  # fmt: skip
    """The labelled share and accuracy, or MAE and RMSE, of ``total`` requests' ``pairs``."""
    share = len(pairs) / total if total else 0.0
    base = {"labelled": len(pairs), "rows": total, "labelled_share": share, **extra}
    measured: dict[str, tuple[float | None, dict[str, Any]]] = {"labelled_share": (share, base)}
    if task == "classification":
        right = sum(reward_of("accuracy", p, truth=t) == 1.0 for p, t in pairs)
        estimate = proportion(int(right), len(pairs), settings["confidence"])
        measured["accuracy"] = (estimate.value, {**base, **estimate.as_dict()})
    else:
        errors = [float(t) - float(p) for p, t in pairs if _number(p) and _number(t)]
        for metric, measure in (("mae", mean_absolute_error),
                                ("rmse", root_mean_squared_error)):  # fmt: skip
            estimate = measure(errors, settings["confidence"])
            measured[metric] = (estimate.value, {**base, **estimate.as_dict()})
    return measured


def _number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)
