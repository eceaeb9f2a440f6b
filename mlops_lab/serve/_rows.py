"""The request log's rows: one per instance served, one per request refused.

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
    from mlops_lab.serve._replica import Active
    from mlops_lab.serve._router import Outcome

# Rows of the error log keep at most this much of a refused body.
_ERROR_BODY_CHARS = 2000


def new_request_id() -> str:
    """A request id that sorts by time: milliseconds since the epoch, then 64 random bits."""
    return f"{time.time_ns() // 1_000_000:011x}{secrets.token_hex(8)}"


def served_rows(
    endpoint: str, active: Active, frame: pd.DataFrame, decisions: list[Any], outcome: Outcome,
    shadows: dict[str, list[Any]], latency_ms: float,
) -> list[dict[str, Any]]:  # fmt: skip
    """The rows of the instances of one request, each with its arm and propensity."""
    now = _now()
    features = _records(frame)
    rows = []
    for i, decision in enumerate(decisions):
        served = active.models[decision.arm]
        rows.append(
            {
                "request_id": outcome.request_ids[i],
                "time": now,
                "endpoint": endpoint,
                "model": served.name,
                "model_version": served.version,
                "arm": decision.arm,
                "propensity": decision.propensity,
                "policy": active.routes.policy,
                "features": features[i],
                # JSON text: predictions of one batch need not share a type. They are
                # JSON values already (to_json_values: null for NaN), so the text is JSON.
                "prediction": json.dumps(outcome.predictions[i]),
                "latency_ms": latency_ms,
                "status": 200,
                "error": None,
                "shadow": {arm: values[i] for arm, values in shadows.items()} or None,
                "route_id": active.routes.route_id,
            }
        )
    return rows


def refused_row(
    endpoint: str, active: Active | None, error: RequestError, body: Any, latency_ms: float
) -> dict[str, Any]:
    """The row of a refused request: its status, the error, and the start of its body."""
    return {
        "request_id": new_request_id(),
        "time": _now(),
        "endpoint": endpoint,
        "model": None,
        "model_version": None,
        "arm": None,
        "propensity": None,
        "policy": None if active is None else active.routes.policy,
        "features": {"body": _received(body)},
        "prediction": None,
        "latency_ms": latency_ms,
        "status": error.status,
        "error": encodable(f"{error.code}: {error.message}"),
        "shadow": None,
        "route_id": None if active is None else active.routes.route_id,
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
