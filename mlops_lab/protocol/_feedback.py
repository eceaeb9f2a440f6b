"""Feedback as the serving API takes it: the truth about a request, a reward, or both."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlops_lab.protocol._errors import describe, keys_of, refuse
from mlops_lab.protocol._instances import join, required
from mlops_lab.protocol._values import FLOAT_MAX


@dataclass(frozen=True)
class FeedbackItem:
    """The truth about one request, a reward for it, or both.

    ``has_truth`` tells a ``"truth": null`` that was sent from no truth at all.
    """

    request_id: str
    truth: Any = None
    reward: float | None = None
    has_truth: bool = False


# --- feedback: {"request_id": ..., "truth": ..., "reward": ...}, a list, or {"feedback": [...]}


def parse_feedback(payload: Any, *, max_items: int) -> list[FeedbackItem]:
    """The feedback items of a body: one object, a list of them, or ``{"feedback": [...]}``.

    Example:
        >>> parse_feedback({"request_id": "r1", "reward": 1}, max_items=100)
        [FeedbackItem(request_id='r1', truth=None, reward=1.0, has_truth=False)]
    """
    items, where = _feedback_items(payload)
    if not items:
        raise refuse("invalid_payload", "feedback", "at least one item", "none", _FEEDBACK)
    if len(items) > max_items:
        raise refuse(
            "too_many_items",
            "feedback",
            f"at most {max_items:,} items",
            f"{len(items):,}",
            "Split them over several requests.",
            status=413,
        )
    parsed = [_feedback_item(item, where(i)) for i, item in enumerate(items)]
    first: dict[str, int] = {}
    for i, item in enumerate(parsed):
        j = first.setdefault(item.request_id, i)
        if j != i:
            raise refuse(
                "duplicate_request_id",
                join(where(i), "request_id"),
                "each request id once",
                f"{item.request_id!r} again, after {where(j)}",
                "Send a request's truth and reward in one item.",
            )
    return parsed


_FEEDBACK = 'Send {"request_id": "...", "truth": ...} and/or "reward": a number.'


def _feedback_items(payload: Any) -> tuple[list[Any], Callable[[int], str]]:
    if isinstance(payload, list):
        return payload, "[{}]".format
    if isinstance(payload, dict) and "feedback" in payload:
        if not isinstance(payload["feedback"], list):
            raise refuse(
                "wrong_type",
                "feedback",
                "a list of feedback items",
                describe(payload["feedback"]),
                _FEEDBACK,
            )
        return payload["feedback"], "feedback[{}]".format
    if isinstance(payload, dict):
        return [payload], lambda i: ""
    raise refuse(
        "invalid_payload", "body", "an object or a list of objects", describe(payload), _FEEDBACK
    )


def _feedback_item(item: Any, where: str) -> FeedbackItem:
    if not isinstance(item, dict):
        raise refuse(
            "wrong_type", where, "an object with a 'request_id'", describe(item), _FEEDBACK
        )
    request_id = required(item, "request_id", str, where, "the request id of a prediction")
    if not request_id:
        raise refuse(
            "missing_field",
            join(where, "request_id"),
            "the request id of a prediction",
            "an empty string",
        )
    if "truth" not in item and "reward" not in item:
        raise refuse(
            "missing_field",
            join(where, "truth"),
            "'truth', 'reward' or both",
            keys_of(item),
            _FEEDBACK,
            what=" is missing",
        )
    reward = _reward(item["reward"], join(where, "reward")) if "reward" in item else None
    if "truth" in item:
        _check_truth(item["truth"], join(where, "truth"))
    return FeedbackItem(request_id, item.get("truth"), reward, "truth" in item)


def _check_truth(value: Any, field: str) -> None:
    """Refuse a truth the store could not keep as JSON: NaN, infinities, deep nesting."""
    try:
        json.dumps(value, allow_nan=False)
    except ValueError:  # Python's json reads NaN and Infinity, which JSON has not
        received = "NaN or Infinity"
    except RecursionError:
        received = "lists or objects nested too deeply"
    else:
        return
    raise refuse(
        "invalid_value", field, "a JSON value of finite numbers", received,
        "Send null for a truth that is not known.",
    )  # fmt: skip


def _reward(value: Any, field: str) -> float:
    if type(value) not in (int, float):
        raise refuse(
            "wrong_type",
            field,
            "a finite number",
            describe(value),
            "Send a JSON number, or leave 'reward' out.",
        )
    number = float(value) if abs(value) <= FLOAT_MAX else math.inf
    if not math.isfinite(number):
        raise refuse("invalid_value", field, "a finite number", describe(value))
    return number
