"""Alerts: the rules judged on a pass's results, one open alert per rule and model version.

A rule that fires opens an alert unless one is open for the same rule and model version
already (that one gets the latest window and value instead: no flood); a rule that holds
again on a later window resolves the open alert, with the time. A rule without data to
judge (no labels yet) leaves its alert as it is.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mlops_lab.monitor._rules import EVENTS, AlertRule
from mlops_lab.stats import proportion_below
from mlops_lab.store import StoreClient

Row = dict[str, Any]


@dataclass(frozen=True)
class Verdict:
    """A rule judged on one model version's latest window: fired or not, and why."""

    fired: bool
    message: str
    details: dict[str, Any]


def open_alerts(store: StoreClient, endpoint: str) -> dict[tuple[str, str], Row]:
    """The endpoint's open alerts, by (rule, model version)."""
    rows = store.query(
        "SELECT * FROM alerts WHERE endpoint = ? AND resolved_at IS NULL", [endpoint]
    ).to_pylist()
    alerts = {}
    for row in rows:
        details = json.loads(row["details"]) if row["details"] else {}
        alerts[(details.get("rule", ""), details.get("model_ref", ""))] = {
            **row,
            "details": details,
        }
    return alerts


def judge(
    rules: list[AlertRule], results: list[Row], opened: Mapping[tuple[str, str], Row],
    reference_accuracy: Callable[[str], float | None], settings: Mapping[str, Any],
    *, time: datetime,
) -> list[Row]:  # fmt: skip
    """The alert rows to write after a pass: alerts opened, kept up to date, or resolved.

    Args:
        rules: The endpoint's rules.
        results: The result rows the pass wrote.
        opened: The endpoint's open alerts (:func:`open_alerts`).
        reference_accuracy: A model version's reference accuracy, by ``"name@version"``.
        settings: The monitor's options (``alpha``, ``min_effect``).
        time: When the pass ran.
    """
    latest = _latest(results)
    rows = []
    for rule in rules:
        metric = "drifted_features" if rule.metric == "drift" else rule.metric
        for (ref, result_metric), result in sorted(latest.items()):
            if result_metric != metric:
                continue
            verdict = _verdict(rule, result, reference_accuracy(ref), settings)
            if verdict is not None:
                rows += _transition(rule, ref, result, verdict, opened.get((rule.text, ref)), time)
    return rows


def _latest(results: list[Row]) -> dict[tuple[str, str], Row]:
    """Each model version's result of each metric in the latest window of the pass."""
    latest: dict[tuple[str, str], Row] = {}
    for row in results:
        key = (f"{row['model']}@{row['model_version']}", row["metric"])
        if key not in latest or _order(row) >= _order(latest[key]):
            latest[key] = row
    return latest


def _order(row: Row) -> tuple[int, datetime]:
    first = int(row["window_id"].rsplit(":", 1)[1].split("-")[0])
    return first, row["time"]


def _verdict(
    rule: AlertRule, result: Row, reference: float | None, settings: Mapping[str, Any]
) -> Verdict | None:
    details = result["details"]
    value = result["value"]
    if rule.metric in EVENTS:
        if rule.metric == "drift":
            features = list(details.get("features", []))
            return Verdict(bool(features), f"features {features} drifted", {"features": features})
        if rule.metric == "online_drift":
            found = details.get("detections", [])
            return Verdict(bool(found), f"online detectors found drift {len(found)} time(s)",
                           {"detections": found})  # fmt: skip
        if rule.metric == "multivariate_drift":
            fired = bool(details.get("drifted"))
            test = str(details.get("test", "classifier")).split(" (")[0]
            by = "a classifier" if test == "classifier" else f"a {test} test"
            what = f"{by} tells the requests from the reference"
        else:
            fired = value is not None and value <= settings["alpha"] and (
                details.get("distance") or 0) >= settings["min_effect"]  # fmt: skip
            what = "the predictions drifted"
        return Verdict(fired, f"{what} (p = {_shown(value)})",
                       {"p_value": value, "distance": details.get("distance")})  # fmt: skip
    if value is None:
        return None  # nothing to judge yet (no labels)
    low, high = details.get("low", value), details.get("high", value)
    shown = f"{rule.metric} is {_shown(value)}"
    if low != value or high != value:
        shown += f" [{_shown(low)}, {_shown(high)}]"
    facts = {"value": value, "low": low, "high": high, "n": details.get("n")}
    if rule.threshold is None:  # accuracy < reference
        if reference is None or not details.get("n"):
            return None
        n = int(details["n"])
        p = proportion_below(round(value * n), n, reference)
        message = f"{shown}, below its reference {_shown(reference)} (p = {_shown(p)})"
        return Verdict(p <= settings["alpha"], message, {**facts, "reference": reference,
                                                         "p_value": p})  # fmt: skip
    past = high < rule.threshold if rule.op == "<" else low > rule.threshold
    return Verdict(past, f"{shown}, {rule.op} {rule.threshold:g}", facts)


def _transition(
    rule: AlertRule, ref: str, result: Row, verdict: Verdict, current: Row | None, time: datetime
) -> list[Row]:
    model, version = ref.rsplit("@", 1)
    details = {
        "rule": rule.text, "model_ref": ref, "model": model, "model_version": int(version),
        "window_id": result["window_id"], **verdict.details,
    }  # fmt: skip
    shadow = result["details"].get("role") == "shadow"
    of = f"the shadow {ref}" if shadow else ref
    message = f"{rule.text}: {verdict.message} in window {result['window_id']} of {of}."
    if current is None:
        if not verdict.fired:
            return []
        identity = f"{result['endpoint']}|{rule.text}|{ref}|{result['window_id']}"
        return [{
            "alert_id": hashlib.sha256(identity.encode()).hexdigest()[:32],
            "endpoint": result["endpoint"], "time": time, "severity": rule.severity,
            "kind": rule.metric, "message": message,
            "details": {**details, "opened_in": result["window_id"]}, "resolved_at": None,
        }]  # fmt: skip
    kept = {**current["details"], "last": details}
    if verdict.fired:
        return [{**current, "details": kept}]
    return [{**current, "details": {**kept, "resolved_in": result["window_id"]},
             "resolved_at": time}]  # fmt: skip


def _shown(value: Any) -> str:
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.3g}"
    return str(value)
