"""Alert rules read from short text, and refused with what would do."""

from __future__ import annotations

import pytest

from mlops_lab.monitor import MonitorError
from mlops_lab.monitor._rules import AlertRule, parse_rule, parse_rules


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("drift", AlertRule("drift", "drift")),
        ("  prediction_drift ", AlertRule("prediction_drift", "prediction_drift")),
        ("accuracy < reference", AlertRule("accuracy < reference", "accuracy", "<", None,
                                           "critical")),
        ("outlier_rate>0.05", AlertRule("outlier_rate>0.05", "outlier_rate", ">", 0.05)),
        ("mae >  2.5", AlertRule("mae > 2.5", "mae", ">", 2.5, "critical")),
        ("accuracy < 0.8", AlertRule("accuracy < 0.8", "accuracy", "<", 0.8, "critical")),
    ],
)  # fmt: skip
def test_rules_read_as_written(text: str, expected: AlertRule) -> None:
    """A rule names an event, or a metric compared with a number or the reference."""
    assert parse_rule(text) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("drfit", "cannot be read"),
        ("latency > 3", "'latency' is no metric a rule can watch"),
        ("accuracy > reference", "only 'accuracy < reference'"),
        ("mae < reference", "only 'accuracy < reference'"),
        ("accuracy < nan", "'nan' is not a number"),
        ("accuracy < 0.8 or drift", "cannot be read"),
        (3, "cannot be read"),
    ],
)
def test_a_rule_that_cannot_be_read_is_refused_with_the_forms_there_are(
    text: object, says: str
) -> None:
    """The error quotes the rule, says what is wrong and lists the forms and metrics."""
    with pytest.raises(MonitorError, match=says) as error:
        parse_rule(text)  # type: ignore[arg-type]
    assert "'accuracy < reference'" in str(error.value)
    assert "outlier_rate" in str(error.value)


def test_rules_are_a_list_and_a_rule_written_twice_counts_once() -> None:
    """One text is not a list of rules; the same rule spaced differently is one rule."""
    with pytest.raises(MonitorError, match="must be a list of rules"):
        parse_rules("drift")
    assert [r.text for r in parse_rules(["drift", "mae > 1", "mae  >  1"])] == ["drift", "mae > 1"]
