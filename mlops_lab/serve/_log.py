"""Log rows that never block the caller and are never lost.

The router appends a row per request and returns at once. A background thread sends the rows
to the store in batches (by size or time) and drops them from memory only once the store has
acknowledged the commit. While the store is away it retries with backoff, and memory stays
bounded: past ``max_rows_in_memory`` the oldest rows are spilled to Arrow files in
``spill_dir``, which are sent first once the store is back, and which a new buffer on the same
folder picks up after a crash or restart. Writes are idempotent by primary key (request id),
so a batch sent twice is stored once.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from mlops_lab.store._batch import to_arrow
from mlops_lab.store._store import StoreClient

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LogStats:
    """What a buffer has taken and where it is."""

    appended: int  # rows taken by append()
    written: int  # of those, rows the store has acknowledged
    recovered: int  # rows from an earlier buffer's spill files, acknowledged
    in_memory: int  # rows waiting in memory (in flight included)
    spilled_files: int  # spill files waiting to be sent
    failures: int  # store writes that failed and were retried


class LogBuffer:
    """Rows for one store table, flushed in the background; see the module docstring.

    Args:
        store: Where rows go. Give it a short timeout (a few seconds) so that an absent
            store is noticed and rows spill instead of waiting in memory.
        table: The store table.
        spill_dir: Folder of spill files; rows found there at start are sent first.
        batch_rows: Rows per store write.
        flush_every_s: Longest time a row waits before a write is attempted.
        max_rows_in_memory: Rows kept in memory before the oldest are spilled to disk.

    Example:
        >>> buffer = LogBuffer(lab.store, "requests", spill_dir=Path(".mlops_lab/spill"))
        >>> buffer.append({"request_id": "r1", "time": now, "endpoint": "churn", "status": 200})
        >>> buffer.close()
    """

    def __init__(
        self, store: StoreClient, table: str, *, spill_dir: Path, batch_rows: int = 1000,
        flush_every_s: float = 0.2, max_rows_in_memory: int = 100_000,
    ) -> None:  # fmt: skip
        self.store = store
        self.table = table
        self.spill_dir = Path(spill_dir)
        self.batch_rows = batch_rows
        self.flush_every_s = flush_every_s
        self.max_rows_in_memory = max_rows_in_memory
        self.spill_dir.mkdir(parents=True, exist_ok=True)
        self._rows: deque[dict[str, Any]] = deque()
        self._in_flight = 0
        self._cond = threading.Condition()
        self._appended = self._written = self._recovered = self._failures = 0
        # Spill files waiting to be sent, oldest first; those of an earlier buffer come first.
        self._spilled: deque[Path] = deque(sorted(self.spill_dir.glob(f"{table}-*.arrow")))
        self._earlier = set(self._spilled)
        self._closing = False
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"log-{table}")
        self._thread.start()

    def append(self, row: Mapping[str, Any]) -> None:
        """Take one row; never waits for the store.

        Raises:
            RuntimeError: the buffer is closed.
        """
        with self._cond:
            if self._closing:
                raise RuntimeError(f"The log buffer of '{self.table}' is closed.")
            self._rows.append(dict(row))
            self._appended += 1
            if len(self._rows) >= self.batch_rows:
                self._cond.notify_all()
            if len(self._rows) > self.max_rows_in_memory:
                self._spill(self.max_rows_in_memory // 2)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every row appended so far is in the store; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            target = self._appended
            self._cond.notify_all()
            while self._written < target:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(None if left is None else min(left, 0.1))
        return True

    def close(self, timeout: float = 30.0) -> LogStats:
        """Send what is left, then stop; rows the store could not take stay in spill files."""
        done = self.flush(timeout)
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout=max(timeout, 1.0))
        with self._cond:
            if not done and self._rows:
                self._spill(len(self._rows))
        return self.stats()

    def stats(self) -> LogStats:
        """Counts of rows taken, written, waiting and spilled."""
        with self._cond:
            return LogStats(
                appended=self._appended,
                written=self._written,
                recovered=self._recovered,
                in_memory=len(self._rows) + self._in_flight,
                spilled_files=len(self._spilled),
                failures=self._failures,
            )

    # The background thread.

    def _run(self) -> None:
        delay = 0.05
        while True:
            with self._cond:
                if not self._rows and not self._spilled:
                    if self._closing:
                        return
                    self._cond.wait(self.flush_every_s)
                elif len(self._rows) < self.batch_rows and not self._closing:
                    self._cond.wait(self.flush_every_s)
                if self._closing and not self._rows and not self._spilled:
                    return
            if self._send_spilled() and self._send_batch():
                delay = 0.05
                continue
            with self._cond:
                self._failures += 1
                if self._closing:  # the store is still away: keep the rest on disk
                    self._spill(len(self._rows))
                    return
            time.sleep(delay)
            delay = min(delay * 2, 2.0)

    def _send_spilled(self) -> bool:
        while self._spilled:
            path = self._spilled[0]  # only this thread takes from the left
            table = pa.ipc.open_file(path).read_all()
            if not self._write(table):
                return False
            path.unlink()
            with self._cond:
                self._spilled.popleft()
                if path in self._earlier:
                    self._recovered += table.num_rows
                else:
                    self._written += table.num_rows
                self._cond.notify_all()
        return True

    def _send_batch(self) -> bool:
        with self._cond:
            batch = [self._rows.popleft() for _ in range(min(self.batch_rows, len(self._rows)))]
            self._in_flight = len(batch)
        if not batch:
            return True
        ok = self._write(batch)
        with self._cond:
            self._in_flight = 0
            if ok:
                self._written += len(batch)
            else:
                self._rows.extendleft(reversed(batch))  # oldest first again
                if len(self._rows) > self.max_rows_in_memory:
                    self._spill(len(self._rows) - self.max_rows_in_memory // 2)
            self._cond.notify_all()
        return ok

    def _write(self, batch: Any) -> bool:
        try:
            self.store.write({self.table: batch})
        except Exception as exc:  # the store is away or restarting: keep the rows, retry
            log.warning("Log rows for '%s' wait for the store: %s", self.table, exc)
            return False
        return True

    # Spill files, oldest first; called with the lock held.

    def _spill(self, count: int) -> None:
        rows = [self._rows.popleft() for _ in range(min(count, len(self._rows)))]
        if not rows:
            return
        table = to_arrow(rows)
        name = f"{self.table}-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.arrow"
        partial = self.spill_dir / f".{name}.partial"
        with pa.OSFile(str(partial), "wb") as sink, pa.ipc.new_file(sink, table.schema) as out:
            out.write_table(table)
        partial.rename(self.spill_dir / name)  # whole files only: a crash leaves no half file
        self._spilled.append(self.spill_dir / name)
