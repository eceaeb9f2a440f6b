"""Alert rules, written as short text: ``"drift"``, ``"accuracy < reference"``, ...

A rule names a metric the monitor computes and when it should alert:

- ``"drift"``: some feature drifted in a window (the alert names them);
- ``"multivariate_drift"``: a classifier tells the window's requests from the reference;
- ``"online_drift"``: an online detector fed one request at a time detected drift;
- ``"prediction_drift"``: the model's outputs moved from its outputs on the reference;
- ``"accuracy < reference"``: live accuracy is significantly below the model version's
  reference accuracy (its registered accuracy, else the accuracy its probabilities expect on
  the reference sample), by a one-sided exact binomial test at the monitor's ``alpha``;
- ``"<metric> < <number>"`` or ``"<metric> > <number>"``: for an estimate with an interval
  (accuracy, expected accuracy, MAE, RMSE), the whole interval is past the number; for a
  share (outlier rate, labelled share) or a business metric, its value is.

Pure: parsing imports nothing but the lab's errors.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

from mlops_lab.errors import listing
from mlops_lab.monitor._errors import MonitorError

ESTIMATES = ("accuracy", "expected_accuracy", "mae", "rmse")
SHARES = ("outlier_rate", "labelled_share")
EVENTS = ("drift", "multivariate_drift", "online_drift", "prediction_drift")
_CRITICAL = {"accuracy", "expected_accuracy", "mae", "rmse"}
_COMPARISON = re.compile(r"^\s*([a-z_]+)\s*([<>])\s*([^\s]+)\s*$")


@dataclass(frozen=True)
class AlertRule:
    """One parsed rule.

    Attributes:
        text: The rule as written, which names its alerts.
        metric: The metric it watches.
        op: ``"<"`` or ``">"`` for a comparison, ``""`` for an event rule.
        threshold: The number compared with, or None against the reference.
        severity: ``"critical"`` for accuracy and errors, ``"warning"`` otherwise.
    """

    text: str
    metric: str
    op: str = ""
    threshold: float | None = None
    severity: str = "warning"


def parse_rule(text: str, business: Iterable[str] = ()) -> AlertRule:
    """Read one rule; ``business`` names the endpoint's business metrics it may watch.

    Example:
        >>> parse_rule("outlier_rate > 0.05")
        AlertRule(text='outlier_rate > 0.05', metric='outlier_rate', op='>', threshold=0.05, severity='warning')
    """  # noqa: E501
    if not isinstance(text, str):
        raise MonitorError(_refusal(repr(text)))
    cleaned = " ".join(text.split())
    if cleaned in EVENTS:
        return AlertRule(cleaned, cleaned)
    match = _COMPARISON.match(cleaned)
    if match is None:
        raise MonitorError(_refusal(repr(text)))
    metric, op, value = match.groups()
    watched = ESTIMATES + SHARES + tuple(business)
    if metric not in watched:
        raise MonitorError(_refusal(repr(text), f"'{metric}' is no metric a rule can watch",
                                    watched))  # fmt: skip
    severity = "critical" if metric in _CRITICAL or metric in business else "warning"
    if value == "reference":
        if (metric, op) != ("accuracy", "<"):
            raise MonitorError(_refusal(repr(text), "only 'accuracy < reference' compares "
                                        "with the reference"))  # fmt: skip
        return AlertRule(cleaned, metric, op, None, severity)
    try:
        threshold = float(value)
    except ValueError:
        threshold = math.nan
    if not math.isfinite(threshold):
        raise MonitorError(_refusal(repr(text), f"'{value}' is not a number"))
    return AlertRule(cleaned, metric, op, threshold, severity)


def parse_rules(texts: object, business: Iterable[str] = ()) -> list[AlertRule]:
    """Read a list of rules; a rule written twice counts once."""
    if isinstance(texts, str) or not isinstance(texts, list | tuple):
        raise MonitorError(
            f"The 'alerts' option of monitor() must be a list of rules, such as "
            f"['drift', 'accuracy < reference']. Got {texts!r} instead."
        )
    rules: dict[str, AlertRule] = {}
    for text in texts:
        rule = parse_rule(text, business)
        rules.setdefault(rule.text, rule)
    return list(rules.values())


def _refusal(got: str, why: str = "", watched: tuple[str, ...] = ESTIMATES + SHARES) -> str:
    metrics = listing(watched, limit=len(watched))
    reason = f" ({why})" if why else ""
    return (
        f"The alert rule {got} cannot be read{reason}. Write 'drift', 'multivariate_drift', "
        "'online_drift', 'prediction_drift', "
        f"'accuracy < reference', or '<metric> < <number>' or '<metric> > <number>' "
        f"with a metric among {metrics}."
    )
