"""Windows over the request log: what arrived since the last pass, cut by count or by age.

A window is a range of arrival numbers of one endpoint's served requests. It closes when it
holds ``window_rows`` requests, or when its first request is ``window_seconds`` old,
whichever comes first, so that a quiet endpoint is still checked. Requests after the last
closed window form the open window, which the next pass reads again; nothing before it is
read twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from mlops_lab.store import StoreClient

# A pass reads at most this many windows' worth of rows, so that a monitor started on a
# long log catches up over several passes instead of holding one for minutes.
MAX_WINDOWS_PER_PASS = 20

_COLUMNS = "seq, request_id, time, model, model_version, features, prediction"


@dataclass(frozen=True)
class Window:
    """The served requests of one closed window.

    Attributes:
        window_id: ``endpoint:first-last``, the same whichever pass closes it.
        endpoint: The endpoint's name.
        rows: The requests, in arrival order (``seq``, ``request_id``, ``time``, ``model``,
            ``model_version``, ``features``, ``prediction``).
        closed_by: ``"count"`` or ``"time"``.
    """

    window_id: str
    endpoint: str
    rows: pd.DataFrame
    closed_by: str

    @property
    def first_seq(self) -> int:
        """The arrival number of its first request."""
        return int(self.rows["seq"].iloc[0])

    @property
    def last_seq(self) -> int:
        """The arrival number of its last request."""
        return int(self.rows["seq"].iloc[-1])

    def record(self, closed_at: datetime) -> dict[str, Any]:
        """The window's row in ``monitor_windows``."""
        return {
            "window_id": self.window_id, "endpoint": self.endpoint,
            "first_seq": self.first_seq, "last_seq": self.last_seq,
            "window_start": self.rows["time"].min().to_pydatetime(),
            "window_end": self.rows["time"].max().to_pydatetime(),
            "rows": len(self.rows), "closed_at": closed_at, "closed_by": self.closed_by,
        }  # fmt: skip


def new_rows(store: StoreClient, endpoint: str, after: int, limit: int) -> pd.DataFrame:
    """The endpoint's served requests that arrived after ``after``, in arrival order."""
    return served_rows(store, endpoint, after + 1, None, limit)


def window_rows(store: StoreClient, endpoint: str, first: int, last: int) -> pd.DataFrame:
    """The served requests of a closed window, from its arrival numbers."""
    return served_rows(store, endpoint, first, last, None)


def served_rows(
    store: StoreClient, endpoint: str, first: int, last: int | None, limit: int | None
) -> pd.DataFrame:
    """The endpoint's served requests numbered ``first`` to ``last``, in arrival order.

    ``last`` None reads to the end; ``limit`` None reads every row.
    """
    return store.query(
        f"SELECT {_COLUMNS} FROM requests WHERE endpoint = ? AND seq >= ? "
        "AND (? IS NULL OR seq <= ?) AND status = 200 ORDER BY seq LIMIT ?",
        [endpoint, first, last, last, limit],
    ).to_pandas()


def close_windows(
    endpoint: str, rows: pd.DataFrame, *, size: int, seconds: float, now: datetime
) -> list[Window]:
    """Cut ``rows`` (read after the last closed window) into the windows that have closed.

    Full windows of ``size`` rows close by count; what is left closes by time when its
    first request is at least ``seconds`` old at ``now``.

    Example:
        >>> [w.closed_by for w in close_windows("e", rows_of(25), size=10, seconds=60, now=t)]
        ['count', 'count']
    """
    windows = []
    start = 0
    while len(rows) - start >= size:
        windows.append(_window(endpoint, rows.iloc[start : start + size], "count"))
        start += size
    rest = rows.iloc[start:]
    if len(rest) and now - rest["time"].iloc[0].to_pydatetime() >= timedelta(seconds=seconds):
        windows.append(_window(endpoint, rest, "time"))
    return windows


def features_frame(rows: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """The logged features of ``rows`` as columns ``names``; a feature not logged is NaN."""
    records = [json.loads(text) if text is not None else {} for text in rows["features"]]
    frame = pd.DataFrame.from_records(records, columns=names)
    return frame.reset_index(drop=True)


def predictions(rows: pd.DataFrame) -> list[Any]:
    """The logged predictions of ``rows`` as Python values."""
    return [json.loads(text) if text is not None else None for text in rows["prediction"]]


def _window(endpoint: str, rows: pd.DataFrame, closed_by: str) -> Window:
    rows = rows.reset_index(drop=True)
    first, last = int(rows["seq"].iloc[0]), int(rows["seq"].iloc[-1])
    return Window(f"{endpoint}:{first}-{last}", endpoint, rows, closed_by)
