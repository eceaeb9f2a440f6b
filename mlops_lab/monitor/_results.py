"""Rows of ``monitor_results``: one per metric of one model version in one window.

A result's id derives from its window, model version, metric and (for a per-feature or
recomputed metric) its key, so a pass that is retried after a crash writes the same ids and
the store keeps each once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mlops_lab._json import strict_json
from mlops_lab.monitor._windows import Window

MONITOR = "monitor"


@dataclass(frozen=True)
class Subject:
    """What a result is about: a model version of an endpoint in a window."""

    window: Window
    model: str
    version: int

    @property
    def ref(self) -> str:
        """``"name@version"``."""
        return f"{self.model}@{self.version}"


def result_row(
    subject: Subject, metric: str, value: float | None, details: dict[str, Any], *,
    time: datetime, key: str = "",
) -> dict[str, Any]:  # fmt: skip
    """One ``monitor_results`` row; ``key`` tells apart rows of one metric in one window."""
    window = subject.window
    identity = f"{window.window_id}|{subject.ref}|{metric}|{key}"
    return {
        "result_id": hashlib.sha256(identity.encode()).hexdigest()[:32],
        "endpoint": window.endpoint,
        "monitor": MONITOR,
        "time": time,
        "window_start": window.rows["time"].min().to_pydatetime(),
        "window_end": window.rows["time"].max().to_pydatetime(),
        "metric": metric,
        "value": _finite_or_none(value),
        "details": strict_json(details),
        "model": subject.model,
        "model_version": subject.version,
        "window_id": window.window_id,
    }


def error_row(subject: Subject, check: str, error: BaseException, *, time: datetime) -> dict:
    """The result of a check that raised: which check, and what it raised."""
    details = {"check": check, "error": type(error).__name__, "message": str(error)}
    return result_row(subject, "error", None, details, time=time, key=check)


def _finite_or_none(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if value == value and abs(value) != float("inf") else None
