"""One endpoint's monitor: its options, and a pass over what arrived since the last one.

A pass reads the requests after the last closed window, gives every request not yet scored
its outlier score, closes the windows that are full or old enough and checks each model
version's requests in them against its reference, and recomputes the live metrics of the
closed windows that new feedback reached. Everything it writes (windows, results, scores
and the cursor that says how far it got) goes in one transaction, so a pass cut short
leaves nothing behind, and the next one does the same work again with the same ids.
"""

from __future__ import annotations

import hashlib
import time as clock
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import pandas as pd

from mlops_lab._json import dotted_name
from mlops_lab._options import MONITOR, resolve
from mlops_lab.errors import parameter_error
from mlops_lab.monitor._alerts import judge, open_alerts
from mlops_lab.monitor._business import PYTHON, Function, business_metrics, split_metrics
from mlops_lab.monitor._checks import window_checks
from mlops_lab.monitor._errors import MonitorError
from mlops_lab.monitor._explain import importance
from mlops_lab.monitor._labels import (
    label_metrics,
    labelled,
    shadow_pairs,
    windows_with_new_feedback,
)
from mlops_lab.monitor._multivariate import torch_missing
from mlops_lab.monitor._online import OnlineDetector, online_detector
from mlops_lab.monitor._outliers import OutlierDetector, detector_row, outlier_detector
from mlops_lab.monitor._read import METRICS, monitoring
from mlops_lab.monitor._reference import (
    Reference,
    check_categorical,
    endpoint_trust,
    load_reference,
)
from mlops_lab.monitor._results import Subject, error_row, result_row
from mlops_lab.monitor._rules import parse_rules
from mlops_lab.monitor._state import (
    CONFIG_KEY,
    Cursor,
    cursor_row,
    now,
    read_cursor,
    read_state,
    state_row,
)
from mlops_lab.monitor._windows import (
    MAX_WINDOWS_PER_PASS,
    Window,
    close_windows,
    features_frame,
    new_rows,
)
from mlops_lab.store import StoreClient

Version = tuple[str, int]


@dataclass(frozen=True)
class PassReport:
    """What one pass did.

    Attributes:
        windows: The windows it closed.
        alerts: The alerts it opened or resolved, as their messages.
        scored: Requests given an outlier score.
        relabelled: Closed windows whose live metrics new feedback changed.
        results: Result rows written.
        errors: Checks that raised (their error rows are among the results).
        seconds: How long the pass took.
        cursor: Where the next pass starts.
    """

    windows: list[str]
    alerts: list[str]
    scored: int
    relabelled: int
    results: int
    errors: int
    seconds: float
    cursor: Cursor = field(repr=False)


class Monitor:
    """The monitor of one endpoint, working on the store (in any process).

    Configure it with :meth:`configure` (or by calling it), run a pass with :meth:`run`,
    and read what it found with :meth:`results`.

    Example:
        >>> monitor = Monitor(lab.store, "churn")
        >>> monitor.configure(window_rows=500)
        >>> monitor.run().windows
        ['churn:1-500']
    """

    def __init__(
        self, store: StoreClient, endpoint: str, functions: Mapping[str, Function] | None = None
    ) -> None:
        self.store = store
        self.endpoint = endpoint
        # The business metrics given as Python functions in this process.
        self.functions: dict[str, Function] = dict(functions or {})
        self._references: dict[Version, Reference] = {}
        self._detectors: dict[Version, OutlierDetector] = {}
        self._online: dict[Version, OnlineDetector] = {}

    def __call__(self, **options: Any) -> dict[str, Any]:
        """Set the monitor's options, as :meth:`configure` does.

        Example:
            >>> lab.endpoint("churn").monitor(window_rows=500, min_effect=0.2)
        """
        return self.configure(**options)

    def results(self, metric: str | None = None) -> pd.DataFrame:
        """The latest value of each metric (or of ``metric``) in each closed window.

        Example:
            >>> lab.endpoint("churn").monitor.results("accuracy")[["window_start", "value"]]
        """
        return monitoring(self.store, self.endpoint, metric)

    def configure(self, **options: Any) -> dict[str, Any]:
        """Set the monitor's options (the others keep their defaults) and keep them.

        Raises:
            MonitorError: an unknown option, a value its rule refuses, or an endpoint that
                was never deployed.
        """
        endpoint_trust(self.store, self.endpoint)  # refuses an endpoint never deployed
        settings = _resolved(options)
        if settings["multivariate_test"] != "classifier" and torch_missing():
            raise MonitorError(
                f"multivariate_test={settings['multivariate_test']!r} needs PyTorch, which is "
                "not installed. Install the torch extra (pip install 'mlops-lab[torch]'), or "
                "keep multivariate_test='classifier', which needs only scikit-learn."
            )
        sql, functions = split_metrics(self.store, self.endpoint, settings["metrics"], METRICS)
        settings["metrics"] = {**sql, **{name: {PYTHON: dotted_name(f)} for name, f in
                                         functions.items()}}  # fmt: skip
        parse_rules(settings["alerts"], settings["metrics"])
        check_categorical(self.store, self.endpoint, settings["categorical"])
        self.functions = functions
        self.store.write({"monitor_state": [state_row(self.endpoint, CONFIG_KEY, settings)]})
        self._references.clear()
        self._detectors.clear()
        self._online.clear()
        return settings

    @property
    def settings(self) -> dict[str, Any]:
        """The options kept for this endpoint, or the defaults."""
        kept = read_state(self.store, self.endpoint, CONFIG_KEY)
        return _resolved(kept[0] if kept else {})

    def run(self, at: datetime | None = None) -> PassReport:
        """Run one pass now; ``at`` stands for the current time (for windows closed by age)."""
        started = clock.perf_counter()
        settings = self.settings
        when = at or now()
        cursor = read_cursor(self.store, self.endpoint)
        limit = settings["window_rows"] * MAX_WINDOWS_PER_PASS
        rows = new_rows(self.store, self.endpoint, cursor.requests, limit)
        scores, flags, scored_to = self._score(rows, cursor, settings, when)
        windows = close_windows(self.endpoint, rows, size=settings["window_rows"],
                                seconds=settings["window_seconds"], now=when)  # fmt: skip
        results = [r for w in windows for r in self._check(w, settings, flags, when)]
        feedback_to = self._feedback_seen()
        relabelled = windows_with_new_feedback(self.store, self.endpoint, cursor.feedback)
        closed_before = {w.window_id for w in relabelled}
        for window in [*relabelled, *(w for w in windows if w.window_id not in closed_before)]:
            results += self._labels(window, settings, when, feedback_to)
        alerts = judge(parse_rules(settings["alerts"], settings["metrics"]), results,
                       open_alerts(self.store, self.endpoint), self._reference_accuracy,
                       settings, time=when)  # fmt: skip
        cursor = replace(
            cursor, requests=windows[-1].last_seq if windows else cursor.requests,
            scored=scored_to, feedback=max(cursor.feedback, feedback_to),
            windows=cursor.windows + len(windows),
        )  # fmt: skip
        # The state the pass moved: online drift detectors fed, an online outlier detector.
        moved = [state_row(self.endpoint, f"online:{model}@{version}", {"ert": d.ert}, d.state())
                 for (model, version), d in self._online.items() if d.fed]  # fmt: skip
        moved += [detector_row(self.endpoint, self.reference(*key), d, settings["outlier_rate"])
                  for key, d in self._detectors.items() if d.moved]  # fmt: skip
        try:
            self.store.write({
                "monitor_windows": [w.record(when) for w in windows],
                "monitor_results": results,
                "outlier_scores": scores,
                "alerts": alerts,
                "monitor_state": [cursor_row(self.endpoint, cursor), *moved],
            })  # fmt: skip
        except BaseException:
            # The online detectors moved past windows the store does not have: reload them.
            self._online.clear()
            self._detectors = {k: d for k, d in self._detectors.items() if not d.moved}
            raise
        for detector in self._online.values():
            detector.fed = False
        for outliers in self._detectors.values():
            outliers.moved = False
        return PassReport(
            windows=[w.window_id for w in windows], scored=len(scores),
            alerts=[("resolved: " if a["resolved_at"] else "") + a["message"] for a in alerts
                    if a["resolved_at"] or "last" not in a["details"]],
            relabelled=len(relabelled), results=len(results),
            errors=sum(r["metric"] == "error" for r in results),
            seconds=clock.perf_counter() - started, cursor=cursor,
        )  # fmt: skip

    def reference(self, model: str, version: int) -> Reference:
        """The reference of a model version, loaded once per monitor."""
        key = (model, int(version))
        if key not in self._references:
            categorical = self.settings["categorical"]
            self._references[key] = load_reference(
                self.store, self.endpoint, model, int(version), categorical
            )
        return self._references[key]

    def _score(
        self, rows: pd.DataFrame, cursor: Cursor, settings: dict[str, Any], when: datetime
    ) -> tuple[list[dict[str, Any]], dict[str, bool], int]:
        """Outlier scores of the rows not yet scored; flags of every row read; new cursor."""
        fresh = rows[rows["seq"] > cursor.scored]
        kept = self._kept_flags(rows[rows["seq"] <= cursor.scored])
        if settings["outliers"] is None or fresh.empty:
            scored_to = int(rows["seq"].max()) if len(rows) else cursor.scored
            return [], kept, max(cursor.scored, scored_to)
        scores = []
        for (model, version), group in fresh.groupby(["model", "model_version"], sort=True):
            try:
                detector = self._detector(str(model), int(version), settings)
                reference = self.reference(str(model), int(version))
                values = detector.scores(features_frame(group, reference.features))
            except MonitorError:
                continue  # no reference: the window's checks record why
            for request_id, score in zip(group["request_id"], values, strict=True):
                scores.append({
                    "request_id": request_id, "endpoint": self.endpoint, "time": when,
                    "model": str(model), "model_version": int(version),
                    "detector": detector.name, "score": float(score),
                    "outlier": bool(score > detector.threshold),
                })  # fmt: skip
        flags = {**kept, **{s["request_id"]: s["outlier"] for s in scores}}
        return scores, flags, int(rows["seq"].max())

    def _kept_flags(self, rows: pd.DataFrame) -> dict[str, bool]:
        if rows.empty:
            return {}
        kept = self.store.query(
            "SELECT request_id, outlier FROM outlier_scores "
            "WHERE request_id IN (SELECT unnest(?::VARCHAR[]))",
            [rows["request_id"].tolist()],
        ).to_pylist()
        return {row["request_id"]: bool(row["outlier"]) for row in kept}

    def _detector(self, model: str, version: int, settings: dict[str, Any]) -> OutlierDetector:
        key = (model, version)
        if key not in self._detectors:
            self._detectors[key] = outlier_detector(
                self.store, self.endpoint, self.reference(model, version),
                settings["outliers"], settings["outlier_rate"],
            )  # fmt: skip
        return self._detectors[key]

    def _check(
        self, window: Window, settings: dict[str, Any], flags: dict[str, bool], when: datetime
    ) -> list[dict[str, Any]]:
        results = []
        for (model, version), group in window.rows.groupby(["model", "model_version"]):
            subject = Subject(window, str(model), int(version))
            try:
                reference = self.reference(str(model), int(version))
            except MonitorError as error:
                results.append(error_row(subject, "reference", error, time=when))
                continue
            results += window_checks(subject, group, reference, settings, flags, time=when)
            if settings["online_ert"] is not None:
                results += self._online_check(subject, group, reference, settings, when)
            if settings["importance_rows"]:
                results += self._importance(subject, group, reference, settings, when)
        return results

    def _importance(
        self, subject: Subject, rows: pd.DataFrame, reference: Reference,
        settings: dict[str, Any], when: datetime,
    ) -> list[dict[str, Any]]:  # fmt: skip
        """Each feature's mean |SHAP| over a sample of the window's requests of a version."""
        size = min(settings["importance_rows"], len(rows))
        # The same window always draws the same sample.
        seed = int.from_bytes(hashlib.sha256(subject.window.window_id.encode()).digest()[:4])
        sample = rows.sample(n=size, random_state=seed).sort_values("seq")
        try:
            explainer, means = importance(self.store, self.endpoint, subject.ref,
                                          features_frame(sample, reference.features))  # fmt: skip
        except Exception as error:  # recorded; the other checks and the loop go on
            return [error_row(subject, "importance", error, time=when)]
        return [
            result_row(subject, "importance", value, {"feature": feature, "rows": size,
                                                      "explainer": explainer},
                       time=when, key=feature)
            for feature, value in means.items()
        ]  # fmt: skip

    def _online_check(
        self, subject: Subject, rows: pd.DataFrame, reference: Reference,
        settings: dict[str, Any], when: datetime,
    ) -> list[dict[str, Any]]:  # fmt: skip
        """Feed the window's requests to the version's online detectors, in arrival order."""
        key = (subject.model, subject.version)
        try:
            detector = self._online.get(key)
            if detector is None or detector.ert != settings["online_ert"]:
                detector = online_detector(reference, settings["online_ert"])
                kept = read_state(self.store, self.endpoint, f"online:{subject.ref}")
                if kept is not None and kept[1] is not None and kept[0]["ert"] == detector.ert:
                    detector.load(kept[1])
                self._online[key] = detector
            detections = detector.feed(features_frame(rows, reference.features))
        except Exception as error:  # recorded; the other checks and the loop go on
            self._online.pop(key, None)
            return [error_row(subject, "online_drift", error, time=when)]
        found = [{**d, "request_id": rows["request_id"].iloc[d["row"]],
                  "seq": int(rows["seq"].iloc[d["row"]])} for d in detections]  # fmt: skip
        details = {"detections": found, "ert": detector.ert, "rows": len(rows)}
        return [result_row(subject, "online_drift", float(len(found)), details, time=when)]

    def _labels(
        self, window: Window, settings: dict[str, Any], when: datetime, seen: int
    ) -> list[dict[str, Any]]:
        joined = labelled(self.store, window)
        tasks = {}
        shadows = shadow_pairs(joined)
        served = joined[["model", "model_version"]].drop_duplicates().itertuples(index=False)
        for model, version in [*served, *shadows]:
            try:
                tasks[(str(model), int(version))] = self.reference(str(model), int(version)).task
            except MonitorError:
                continue
        rows = label_metrics(window, joined, shadows, tasks, settings, time=when, seen=seen)
        declared = settings["metrics"]
        sql = {name: metric for name, metric in declared.items() if isinstance(metric, str)}
        functions = {name: self.functions.get(name) for name in declared if name not in sql}
        return rows + business_metrics(self.store, window, sql, functions, time=when,
                                       seen=seen)  # fmt: skip

    def _reference_accuracy(self, ref: str) -> float | None:
        model, version = ref.rsplit("@", 1)
        try:
            return self.reference(model, int(version)).accuracy
        except MonitorError:
            return None

    def _feedback_seen(self) -> int:
        row = self.store.query(
            "SELECT coalesce(max(seq), 0) AS seq FROM feedback WHERE endpoint = ?",
            [self.endpoint],
        ).to_pylist()
        return int(row[0]["seq"])


def _resolved(options: dict[str, Any]) -> dict[str, Any]:
    """Every option of the monitor, checked; its lists as lists, its metrics as a dict."""
    settings = resolve(MONITOR, options, MonitorError)
    for name, example in (("categorical", "['plan']"), ("alerts", "['drift']")):
        if isinstance(settings[name], str) or not isinstance(settings[name], list | tuple):
            must = f"be a list, such as {example}"
            got = repr(settings[name])
            raise MonitorError(parameter_error(name, "monitor()", must, got))
        settings[name] = list(settings[name])
    if isinstance(settings["metrics"], Mapping):
        settings["metrics"] = dict(settings["metrics"])
    return settings
