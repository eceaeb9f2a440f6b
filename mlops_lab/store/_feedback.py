"""Feedback on logged requests: looked up and stored in one step by the store's writer.

A router replica sends the feedback it is given, and the store looks its requests up and
writes it in one call: the replica then spends no time converting rows and makes one round
trip, not two. The check for a repeat and the write happen under the writer's lock, so two
replicas given the same feedback at once store it once and one of them reports the repeat.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import duckdb

# Request ids sort by time and feedback is about recent requests, so a lookup bounds the ids
# by the smallest and largest asked for: DuckDB then skips the rest of the log by its
# min/max statistics instead of scanning it all. A feedback id is its request id.
_REQUESTS_SQL = """
SELECT r.request_id, r.endpoint, r.status, r.arm, r.prediction, r.features, r.route_id,
       f.feedback_id IS NOT NULL AS has_feedback
FROM requests r
LEFT JOIN (SELECT feedback_id FROM feedback WHERE feedback_id BETWEEN $1 AND $2) f
    ON f.feedback_id = r.request_id
WHERE r.request_id BETWEEN $1 AND $2 AND list_contains($3::VARCHAR[], r.request_id)
"""
_COLUMNS = (
    "request_id", "endpoint", "status", "arm", "prediction", "features", "route_id",
    "has_feedback",
)  # fmt: skip


def logged_requests(con: duckdb.DuckDBPyConnection, ids: list[str]) -> dict[str, dict[str, Any]]:
    """The log rows of ``ids`` (those logged), each with whether it has feedback already."""
    with con.cursor() as cursor:
        rows = cursor.execute(_REQUESTS_SQL, [min(ids), max(ids), ids]).fetchall()
    return {row[0]: dict(zip(_COLUMNS, row, strict=True)) for row in rows}


def answered_by(endpoint: str, requests: Mapping[str, Mapping[str, Any]], ids: list[str]) -> bool:
    """Whether every one of ``ids`` is logged as answered (200) by ``endpoint``."""
    return all(
        (row := requests.get(request_id)) is not None
        and row["endpoint"] == endpoint
        and row["status"] == 200
        for request_id in ids
    )


def feedback_rows(
    items: Sequence[Mapping[str, Any]],
    requests: Mapping[str, Mapping[str, Any]],
    now: datetime,
    source: str,
) -> list[dict[str, Any]]:
    """The feedback table's rows for the items whose request has no feedback yet."""
    return [
        {
            "feedback_id": item["request_id"],  # one feedback per request: a repeat is ignored
            "request_id": item["request_id"],
            "time": now,
            "truth": item.get("truth"),
            "reward": item.get("reward"),
            "source": source,
            "endpoint": request["endpoint"],
            "route_id": request["route_id"],
        }
        for item in items
        if not (request := requests[item["request_id"]])["has_feedback"]
    ]
