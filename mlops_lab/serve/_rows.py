"""The request log's rows: one per instance served, one per request refused, one builder.

Every text in a row can be encoded: the row of a refused request quotes what was sent and
why it was refused, and the router's input is made encodable where it enters (``read_json``,
and the Python API's calls), so no row can be one that the store cannot write.
"""

from __future__ import annotations

import json
import secrets
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from mlops_lab._text import encodable
from mlops_lab.protocol import RequestError

if TYPE_CHECKING:
    from mlops_lab.routing import Decision
    from mlops_lab.routing._rollout import Routes
    from mlops_lab.serve._models import Served
    from mlops_lab.serve._replica import Active

# Rows of the error log keep at most this much of a refused body.
_ERROR_BODY_CHARS = 2000


def new_request_id() -> str:
    """A request id that sorts by time: milliseconds since the epoch, then 64 random bits."""
    return f"{time.time_ns() // 1_000_000:011x}{secrets.token_hex(8)}"


def served_rows(
    endpoint: str, active: Active, frame: pd.DataFrame, decisions: list[Decision],
    request_ids: list[str], predictions: list[Any], shadows: dict[str, list[Any]],
    latency_ms: float,
) -> list[dict[str, Any]]:  # fmt: skip
    """The rows of the instances of one request, each with its arm and propensity.

    ``predictions`` and each shadow's outputs (by arm) are JSON values already
    (``to_json_values``: null for NaN), one per instance, as are the request ids.
    """
    now = _now()
    features = _records(frame)
    return [
        request_row(
            request_ids[i], now, endpoint, active.routes, status=200, latency_ms=latency_ms,
            features=features[i], served=active.models[decision.arm], decision=decision,
            # JSON text: predictions of one batch need not share a type.
            prediction=json.dumps(predictions[i]),
            shadow={arm: values[i] for arm, values in shadows.items()} or None,
        )
        for i, decision in enumerate(decisions)
    ]  # fmt: skip


def refused_row(
    endpoint: str, active: Active | None, error: RequestError, body: Any, latency_ms: float
) -> dict[str, Any]:
    """The row of a refused request: its status, the error, and the start of its body."""
    return request_row(
        new_request_id(), _now(), endpoint, None if active is None else active.routes,
        status=error.status, latency_ms=latency_ms, features={"body": _received(body)},
        error=encodable(f"{error.code}: {error.message}"),
    )  # fmt: skip


def request_row(
    request_id: str, time: datetime, endpoint: str, routes: Routes | None, *, status: int,
    latency_ms: float, features: Any, served: Served | None = None,
    decision: Decision | None = None, prediction: str | None = None,
    shadow: dict[str, Any] | None = None, error: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """One row of the request log, as the ``requests`` table holds it.

    Every row is built here, an instance served or a request refused, so each column is
    spelled once. A refused request has no model, arm, propensity or prediction.

    Args:
        request_id: The row's key (``new_request_id``).
        time: When the request was answered (naive UTC).
        endpoint: The endpoint's name.
        routes: The routes served then (their policy and id), None before the first.
        status: The HTTP status answered: 200, or the refusal's.
        latency_ms: The time from the request's arrival to its answer.
        features: The instance's features by name, or what a refused request sent.
        served: The model version that predicted.
        decision: The policy's choice: the arm and its propensity.
        prediction: The prediction as JSON text.
        shadow: Each shadow arm's output for this instance.
        error: Why the request was refused.
    """
    return {
        "request_id": request_id,
        "time": time,
        "endpoint": endpoint,
        "model": None if served is None else served.name,
        "model_version": None if served is None else served.version,
        "arm": None if decision is None else decision.arm,
        "propensity": None if decision is None else decision.propensity,
        "policy": None if routes is None else routes.policy,
        "features": features,
        "prediction": prediction,
        "latency_ms": latency_ms,
        "status": status,
        "error": error,
        "shadow": shadow,
        "route_id": None if routes is None else routes.route_id,
    }


def _received(body: Any) -> str | None:
    """The start of a refused body: bytes from HTTP, Python values from the API."""
    if isinstance(body, RequestError | None):
        return None
    if isinstance(body, bytes):
        return body[:_ERROR_BODY_CHARS].decode("utf-8", "replace")
    try:
        return encodable(repr(body)[:_ERROR_BODY_CHARS])
    except RecursionError:
        return "(nested too deeply to show)"


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows as dicts of plain Python values (DataFrame.to_dict is ten times slower)."""
    names = list(frame.columns)
    columns = [frame[name].tolist() for name in names]
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


def _now() -> datetime:
    # The store keeps naive UTC timestamps.
    return datetime.now(UTC).replace(tzinfo=None)
