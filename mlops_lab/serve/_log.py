"""Log rows that never block the caller and are never lost.

The router appends a row per request and returns at once. A background thread sends the rows
to the store in batches (by size or time) and forgets them only once the store has
acknowledged the commit; while the store is away it retries with backoff. Writes are
idempotent by primary key (request id), so a row sent twice is stored once. A batch the store
refuses as bad data is not retried: the rows it refuses are found by splitting it and set
aside as dead letters with the reason (:mod:`mlops_lab.store._dead_letters`), in the store's
``dead_letters`` table or, if even that refuses them, in the file ``DEAD_LETTER_FILE`` of
``spill_dir``; every other row is stored.

``append`` encodes the row as a line of JSON text (:mod:`mlops_lab.store._lines`) at once, and
the buffer keeps and sends lines: the store reads them into Arrow in its own process, so that
the writer's process (a router serving requests) spends almost nothing per batch.

With the journal (the default), ``append`` first copies the line into a journal segment in
``spill_dir``: a file, mapped into memory, that the buffer holds an exclusive ``flock`` on
while it lives, deleted once the store has acknowledged all its rows. A killed process loses
no row it had taken: another buffer on the same folder sees the lock is free, takes the
segments over and sends them. Memory stays bounded: past ``max_rows_in_memory`` the oldest
rows are dropped from memory and read back from their segment when their turn comes.

Without the journal, rows past ``max_rows_in_memory`` are spilled to Arrow files in
``spill_dir``. Spill files left by an earlier buffer are sent first in both modes.

The journal's segments and the spill files are in :mod:`mlops_lab.serve._journal`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_lab.serve._journal import (
    Segment,
    close_segment,
    create_segment,
    delete_segment,
    read_lines,
    read_spill,
    take_segments,
    write_spill,
)
from mlops_lab.store._dead_letters import append_letters, letters_of, refused_lines, write_lines
from mlops_lab.store._lines import encode_row
from mlops_lab.store._store import StoreClient

log = logging.getLogger(__name__)

SEGMENT_BYTES = 8 << 20  # size of a journal segment (a longer row gets one of its own size)
RESCAN_EVERY_S = 5.0  # how often a buffer looks for the segments of buffers that are gone
DEAD_LETTER_FILE = "dead-letters-{table}.jsonl"  # in spill_dir: letters the store refused too


@dataclass(frozen=True)
class LogStats:
    """What a buffer has taken and where it is."""

    appended: int  # rows taken by append()
    written: int  # of those, rows the store has acknowledged
    recovered: int  # rows from an earlier buffer's files (spill or journal), acknowledged
    in_memory: int  # rows waiting in memory (in flight included)
    spilled_files: int  # files whose rows wait on disk only: spill files, journal segments
    failures: int  # store writes that failed while the store was away, and were retried
    dead_lettered: int = 0  # rows (own or recovered) the store refused, set aside as letters
    scans: int = 0  # completed looks for the journal segments of buffers that are gone


class LogBuffer:
    """Rows for one store table, flushed in the background; see the module docstring.

    Args:
        store: Where rows go. Give it a short timeout (a few seconds) so that an absent
            store is noticed and rows wait on disk instead of in memory.
        table: The store table.
        spill_dir: Folder of the journal and spill files; those that earlier buffers left
            there are sent first.
        batch_rows: Rows per store write.
        flush_every_s: Longest time a row waits before a write is attempted.
        max_rows_in_memory: Rows kept in memory; older rows wait on disk.
        journal: Write every row to a journal segment before ``append`` returns, so that
            rows survive a kill of the process.
        segment_bytes: Size of each journal segment file, allocated when it is made; a row
            longer than that gets a segment of its own size.

    Example:
        >>> buffer = LogBuffer(lab.store, "requests", spill_dir=Path(".mlops_lab/spill"))
        >>> buffer.append({"request_id": "r1", "time": now, "endpoint": "churn", "status": 200})
        >>> buffer.close()
    """

    def __init__(
        self, store: StoreClient, table: str, *, spill_dir: Path, batch_rows: int = 1000,
        flush_every_s: float = 0.2, max_rows_in_memory: int = 100_000, journal: bool = True,
        segment_bytes: int = SEGMENT_BYTES,
    ) -> None:  # fmt: skip
        self.store = store
        self.table = table
        self.spill_dir = Path(spill_dir)
        self.batch_rows = batch_rows
        self.flush_every_s = flush_every_s
        self.max_rows_in_memory = max_rows_in_memory
        self.journal = journal
        self.segment_bytes = segment_bytes
        self.spill_dir.mkdir(parents=True, exist_ok=True)
        # Own rows have indexes 0, 1, ... in append order; those below _written are stored
        # (or set aside as dead letters), the last len(_rows) are in memory, the ones between
        # wait in the journal only.
        self._rows: deque[bytes] = deque()  # encoded lines
        self._in_flight = 0
        self._cond = threading.Condition()
        self._appended = self._written = self._recovered = self._failures = 0
        # Own rows set aside count among _written (rows done with), and apart in _own_dead.
        self._dead_lettered = self._own_dead = 0
        self._scans = 0  # completed looks for segments of buffers that are gone
        self._letters_file = self.spill_dir / DEAD_LETTER_FILE.format(table=table)
        # Spill files waiting to be sent, oldest first; those of an earlier buffer come first.
        self._spilled: deque[Path] = deque(sorted(self.spill_dir.glob(f"{table}-*.arrow")))
        self._earlier = set(self._spilled)
        self._owner = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self._segments: deque[Segment] = deque()  # own, oldest first; the last takes rows
        self._taken: deque[Segment] = deque()  # of buffers that are gone, being sent
        self._seq = 0  # of the last own segment
        self._line_at: dict[int, int] = {}  # row index -> byte offset, where a read stopped
        self._next_scan = 0.0
        self._closing = False
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"log-{table}")
        self._thread.start()

    def append(self, row: Mapping[str, Any]) -> None:
        """Take one row; never waits for the store.

        With the journal, the row is copied into the journal segment (no system call, no
        fsync) before this returns: it survives a kill of the process, not a power loss.

        Raises:
            RuntimeError: the buffer is closed.
            TypeError: a value a row line cannot keep (see :func:`encode_row`).
            OSError: no new journal segment could be made (disk full); the row was not taken.
        """
        line = encode_row(row)
        with self._cond:
            if self._closing:
                raise RuntimeError(f"The log buffer of '{self.table}' is closed.")
            if self.journal:
                self._write_journal(line)
            self._rows.append(line)
            self._appended += 1
            if len(self._rows) >= self.batch_rows:
                self._cond.notify_all()
            if len(self._rows) > self.max_rows_in_memory:
                self._make_room(len(self._rows) - self.max_rows_in_memory // 2)

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
        """Send what is left, then stop.

        Rows the store could not take stay on disk (in journal segments or spill files) for
        the next buffer on the same folder.
        """
        done = self.flush(timeout)
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout=max(timeout, 1.0))
        with self._cond:
            if not self.journal and not done and self._rows:
                self._spill(len(self._rows))
        return self.stats()

    def stats(self) -> LogStats:
        """Counts of rows taken, written, waiting and spilled."""
        with self._cond:
            return LogStats(
                appended=self._appended,
                written=self._written - self._own_dead,
                recovered=self._recovered,
                in_memory=len(self._rows) + self._in_flight,
                spilled_files=len(self._spilled) + len(self._taken) + self._segments_on_disk(),
                failures=self._failures,
                dead_lettered=self._dead_lettered,
                scans=self._scans,
            )

    # The background thread.

    def _run(self) -> None:
        self._work()
        with self._cond:
            self._let_go()

    def _work(self) -> None:
        delay = 0.05
        while True:
            self._scan_when_due()
            with self._cond:
                if not self._closing and self._appended - self._written < self.batch_rows:
                    self._cond.wait(min(self.flush_every_s, RESCAN_EVERY_S))
                if self._closing and not self._waiting():
                    return
            if self._send_spilled() and self._send_taken() and self._send_batch():
                delay = 0.05
                continue
            with self._cond:
                self._failures += 1
                if self._closing:  # the store is still away: keep the rest on disk
                    if not self.journal:
                        self._spill(len(self._rows))
                    return
            time.sleep(delay)
            delay = min(delay * 2, 2.0)

    def _waiting(self) -> bool:
        return self._appended > self._written or bool(self._spilled) or bool(self._taken)

    def _send_spilled(self) -> bool:
        while self._spilled:
            path = self._spilled[0]  # only this thread takes from the left
            lines = read_spill(path)
            dead = self._deliver(lines)
            if dead is None:
                return False
            path.unlink()
            with self._cond:
                self._spilled.popleft()
                self._dead_lettered += dead
                if path in self._earlier:
                    self._recovered += len(lines) - dead
                else:
                    self._written += len(lines)
                    self._own_dead += dead
                self._cond.notify_all()
        return True

    def _send_batch(self) -> bool:
        with self._cond:
            start = self._written
            on_disk = self._appended - len(self._rows) - start if self.journal else 0
            if on_disk > 0:  # the oldest rows are in the journal only: read them back
                segment, count = self._segment_of(start, min(on_disk, self.batch_rows))
            else:
                count = min(self.batch_rows, len(self._rows))
                batch = [self._rows.popleft() for _ in range(count)]
            self._in_flight = count
        if on_disk > 0:
            batch = self._read_back(segment, start, count)
        dead = self._deliver(batch)
        with self._cond:
            self._in_flight = 0
            oldest_in_memory = self._appended - len(self._rows)
            if dead is not None:
                self._dead_lettered += dead
                self._own_dead += dead
                self._acknowledge(count)
            elif on_disk <= 0 and (not self.journal or oldest_in_memory == start + count):
                self._rows.extendleft(reversed(batch))  # oldest first again
                if len(self._rows) > self.max_rows_in_memory:
                    self._make_room(len(self._rows) - self.max_rows_in_memory // 2)
            # Otherwise the batch's rows wait in the journal until their turn comes again.
            self._cond.notify_all()
        return dead is not None

    def _deliver(self, lines: list[bytes]) -> int | None:
        """Write row lines, setting aside the rows refused as bad data; how many were.

        None while the store is away: the lines are to be sent again (rows stored meanwhile
        are skipped by their key, letters too).
        """
        if not lines:
            return 0
        try:
            return write_lines(self.store, self.table, lines, self._letters_file)
        except Exception as exc:  # the store is away or restarting: keep the rows, retry
            log.warning("Log rows for '%s' wait for the store: %s", self.table, exc)
            return None

    def _make_room(self, count: int) -> None:
        """Let the oldest rows wait on disk only; called with the lock held."""
        if not self.journal:
            self._spill(count)
            return
        for _ in range(min(count, len(self._rows))):
            self._rows.popleft()  # already in the journal

    # Spill files, oldest first; called with the lock held.

    def _spill(self, count: int) -> None:
        lines = [self._rows.popleft() for _ in range(min(count, len(self._rows)))]
        refused = refused_lines(lines, self._spill_file)
        if refused:  # rows not even Arrow can hold: the store never will take them
            because = "they could not be spilled to an Arrow file while the store was away"
            append_letters(self._letters_file, letters_of(self.table, refused), because)
            self._written += len(refused)
            self._own_dead += len(refused)
            self._dead_lettered += len(refused)

    def _spill_file(self, lines: Sequence[bytes]) -> None:
        self._spilled.append(write_spill(self.spill_dir, self.table, lines))

    # The buffer's own journal segments; called with the lock held unless said otherwise.

    def _write_journal(self, line: bytes) -> None:
        segment = self._segments[-1] if self._segments else None
        if segment is None or segment.full or not segment.append(line):
            if segment is not None:
                segment.full = True
            segment = self._open_segment(max(self.segment_bytes, len(line)))
            segment.append(line)
        segment.rows += 1

    def _open_segment(self, size: int) -> Segment:
        self._seq += 1
        path = self.spill_dir / f"{self.table}-{self._owner}-{self._seq:06d}.journal"
        segment = create_segment(path, size)
        segment.first = self._appended
        self._segments.append(segment)
        return segment

    def _segment_of(self, index: int, count: int) -> tuple[Segment, int]:
        """The segment of row ``index``, and how many of ``count`` rows from there it has."""
        segment = next(s for s in self._segments if s.first <= index < s.first + s.rows)
        return segment, min(count, segment.first + segment.rows - index)

    def _read_back(self, segment: Segment, start: int, count: int) -> list[bytes]:
        """Lines of rows ``start`` to ``start + count`` from their segment (the thread's alone).

        The buffer wrote them whole, so each is a row line; the line feeds are put back.
        """
        offset = 0 if start == segment.first else self._line_at.get(start)
        if offset is None:  # no read stopped there: skip the segment's earlier lines
            offset = read_lines(segment.fd, 0, start - segment.first)[1]
        lines, end, _ = read_lines(segment.fd, offset, count)
        self._line_at = {start: offset, start + count: end}
        return [line + b"\n" for line in lines]

    def _acknowledge(self, count: int) -> None:
        """The store has the next ``count`` rows: delete the segments it now has whole."""
        self._written += count
        while self._segments:
            segment = self._segments[0]
            if segment.first + segment.rows > self._written:
                return
            if segment is self._segments[-1] and not segment.full and not self._closing:
                return  # still taking rows
            delete_segment(segment)
            self._segments.popleft()

    def _segments_on_disk(self) -> int:
        """How many own segments hold rows that wait on disk only."""
        low, high = self._written + self._in_flight, self._appended - len(self._rows)
        if high <= low:
            return 0
        return sum(1 for s in self._segments if s.first < high and s.first + s.rows > low)

    def _let_go(self) -> None:
        """At the end of the thread: unlock what is left, for the next buffer to send."""
        if not self.journal:
            return
        self._rows.clear()  # every row is in the journal too
        self._acknowledge(0)  # deletes the current segment if the store has it whole
        for segment in (*self._segments, *self._taken):
            close_segment(segment)

    # Segments of buffers that are gone; the thread's alone.

    def _scan_when_due(self) -> None:
        if not self.journal or self._closing or time.monotonic() < self._next_scan:
            return
        self._next_scan = time.monotonic() + RESCAN_EVERY_S
        found = take_segments(self.spill_dir, self.table, self._owner)
        with self._cond:
            self._taken.extend(found)
            self._scans += 1

    def _send_taken(self) -> bool:
        while self._taken:
            segment = self._taken[0]
            lines, end, torn = read_lines(segment.fd, segment.offset, self.batch_rows)
            # A line no encoder made (damaged) is refused by the store and set aside too.
            dead = self._deliver([line + b"\n" for line in lines])
            if dead is None:
                return False
            with self._cond:
                segment.offset = end
                self._recovered += len(lines) - dead
                self._dead_lettered += dead
                if len(lines) < self.batch_rows:  # the end of the segment
                    if torn:
                        log.warning("Skipped the torn last line of %s", segment.path)
                    delete_segment(segment)
                    self._taken.popleft()
                self._cond.notify_all()
        return True
