"""What a monitor keeps between passes: its options and how far it has read.

Both live in the store's ``monitor_state`` table, keyed by endpoint, so a restarted monitor
(or one on another node) carries on from the same place. The cursor moves in the same
transaction as the results of the rows it passes, so no row is counted twice.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from mlops_lab.store import StoreClient

CONFIG_KEY = "config"
CURSOR_KEY = "cursor"


@dataclass(frozen=True)
class Cursor:
    """How far a monitor has read, in the store's arrival numbers.

    Attributes:
        requests: The last request of the last closed window.
        scored: The last request given an outlier score.
        feedback: The last feedback row whose metrics were computed.
        windows: How many windows have closed.
    """

    requests: int = 0
    scored: int = 0
    feedback: int = 0
    windows: int = 0


def read_state(store: StoreClient, endpoint: str, key: str) -> tuple[Any, bytes | None] | None:
    """The JSON state and data kept under ``key`` for ``endpoint``, or None."""
    rows = store.query(
        "SELECT state, data FROM monitor_state WHERE endpoint = ? AND key = ?", [endpoint, key]
    ).to_pylist()
    if not rows:
        return None
    state = rows[0]["state"]
    return (json.loads(state) if state is not None else None), rows[0]["data"]


def state_row(endpoint: str, key: str, state: Any, data: bytes | None = None) -> dict[str, Any]:
    """A ``monitor_state`` row that keeps ``state`` (JSON) and ``data`` under ``key``."""
    return {"endpoint": endpoint, "key": key, "updated_at": now(), "state": state, "data": data}


def read_cursor(store: StoreClient, endpoint: str) -> Cursor:
    """The endpoint's cursor; a monitor that never ran starts before the first row."""
    kept = read_state(store, endpoint, CURSOR_KEY)
    return Cursor(**kept[0]) if kept else Cursor()


def cursor_row(endpoint: str, cursor: Cursor) -> dict[str, Any]:
    """The ``monitor_state`` row that keeps ``cursor``."""
    return state_row(endpoint, CURSOR_KEY, asdict(cursor))


def now() -> datetime:
    """The current time as the store keeps it (naive UTC)."""
    return datetime.now(UTC).replace(tzinfo=None)
