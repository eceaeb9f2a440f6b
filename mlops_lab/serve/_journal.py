"""The log buffer's files: its write-ahead journal's segments, and its spill files.

A journal segment is a file of row lines (:mod:`mlops_lab.store._lines`), one per row, that
its buffer holds an exclusive ``flock`` on while it lives. A segment is created under a hidden
name and renamed only once locked, so that no other buffer sees it without an owner; it is
deleted while still locked, so that nobody takes it over meanwhile. Its file is allocated
whole and mapped into memory: lines are copied in (:meth:`Segment.append`), and the zero
bytes after the last line mark where the lines end. What is copied in is in the kernel's page
cache at once, so it survives a kill of the process (not a power loss).

Another buffer takes over the segments whose lock is free (:func:`take_segment`): their owner
is gone. A kill in the middle of a copy may leave a torn last line, which :func:`read_lines`
reports and never returns.

A buffer without the journal spills the rows it cannot keep in memory to Arrow files
(:func:`write_spill`), written whole under a hidden name and then renamed.
"""

from __future__ import annotations

import fcntl
import logging
import mmap
import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from mlops_lab.store._batch import to_arrow
from mlops_lab.store._lines import RowLines, encode_row

log = logging.getLogger(__name__)

_READ_CHUNK = 1 << 20


# Segment files.


@dataclass(eq=False)
class Segment:
    """A journal file a buffer holds the lock of (open as ``fd``)."""

    path: Path
    fd: int
    first: int = 0  # own segments: index (among appended rows) of the first row
    rows: int = 0  # own segments: whole lines written
    full: bool = False  # own segments: the next row starts a new segment
    offset: int = 0  # taken-over segments: bytes already acknowledged by the store
    map: mmap.mmap | None = None  # own segments: the file, mapped for writing
    end: int = 0  # own segments: bytes written

    def append(self, line: bytes) -> bool:
        """Copy ``line`` into an own segment; False (and nothing written) if it does not fit.

        A copy into the map holds the GIL throughout, where a ``write`` call would let it go
        and, with another thread busy, wait up to the interpreter's switch interval (5 ms) to
        take it back: the request being logged would wait as long.
        """
        assert self.map is not None, "only own segments take lines"
        end = self.end + len(line)
        if end > len(self.map):
            return False
        self.map[self.end : end] = line
        self.end = end
        return True


def create_segment(path: Path, size: int) -> Segment:
    """Create the segment file ``path`` of ``size`` bytes, locked and mapped for writing.

    The file's blocks are allocated at once, so that a full disk shows here as an
    ``OSError`` rather than later as a fault while writing to the map.
    """
    new = path.with_name(f".{path.name}.new")
    fd = os.open(new, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # a file nobody else knows yet: never waits
        os.posix_fallocate(fd, 0, size)
        mapped = mmap.mmap(fd, size)
    except OSError:
        os.close(fd)
        new.unlink(missing_ok=True)
        raise
    # Renamed once locked, so that no other buffer can see it without an owner.
    new.rename(path)
    return Segment(path, fd, map=mapped)


def take_segment(path: Path) -> Segment | None:
    """Lock the segment of a buffer that is gone; None if its owner still holds it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:  # its owner deleted it meanwhile
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        # The owner deletes a segment before unlocking it: a file no longer at its path
        # was deleted between our open and our lock.
        if os.stat(path).st_ino == os.fstat(fd).st_ino:
            return Segment(path, fd)
    except (BlockingIOError, FileNotFoundError):
        pass
    os.close(fd)
    return None


def take_segments(spill_dir: Path, table: str, owner: str) -> list[Segment]:
    """Lock the segments of ``table`` in ``spill_dir`` whose buffers are gone, oldest first.

    Segments of ``owner`` (the caller's own) are left alone; an unreadable folder is logged
    and gives none.
    """
    try:
        found = [
            segment
            for path in sorted(spill_dir.glob(f"{table}-*.journal"))
            if owner not in path.name and (segment := take_segment(path)) is not None
        ]
    except OSError as exc:
        log.warning("Could not look for journal segments in %s: %s", spill_dir, exc)
        return []
    if found:
        log.info("Taking over %d journal segments of '%s'", len(found), table)
    return found


def close_segment(segment: Segment) -> None:
    """Let go of a segment (its map and its lock) and leave it on disk."""
    if segment.map is not None:
        segment.map.close()
    os.close(segment.fd)


def delete_segment(segment: Segment) -> None:
    """Delete a segment and let go of its lock."""
    segment.path.unlink(missing_ok=True)  # while still locked: nobody takes it meanwhile
    close_segment(segment)


def read_lines(fd: int, offset: int, limit: int) -> tuple[list[bytes], int, bool]:
    """Up to ``limit`` whole lines of a segment from byte ``offset``.

    The lines end at the file's end or at its first zero byte: a segment is allocated
    whole, zero-filled, and a line never holds a zero byte.

    Returns:
        The lines, the offset where they end, and whether bytes without a line end follow
        them at the end (a torn last line).
    """
    lines: list[bytes] = []
    end, tail = offset, b""
    while len(lines) < limit:
        chunk = os.pread(fd, _READ_CHUNK, end + len(tail))
        last = not chunk or b"\0" in chunk
        *whole, tail = (tail + chunk.partition(b"\0")[0]).split(b"\n")
        whole = whole[: limit - len(lines)]
        lines.extend(whole)
        end += sum(len(line) + 1 for line in whole)
        if last:
            return lines, end, bool(tail) and len(lines) < limit
    return lines, end, False


# Spill files: the rows of a buffer without the journal, written while the store is away.


def write_spill(spill_dir: Path, table: str, lines: Sequence[bytes]) -> Path:
    """Write row lines to a new Arrow spill file of ``table`` in ``spill_dir``; its path.

    Raises:
        BadDataError: lines whose values Arrow cannot hold (nothing is written).
    """
    arrow = to_arrow(RowLines(b"".join(lines)))
    name = f"{table}-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.arrow"
    partial = spill_dir / f".{name}.partial"
    with pa.OSFile(str(partial), "wb") as sink, pa.ipc.new_file(sink, arrow.schema) as out:
        out.write_table(arrow)
    partial.rename(spill_dir / name)  # whole files only: a crash leaves no half file
    return spill_dir / name


def read_spill(path: Path) -> list[bytes]:
    """The rows of a spill file, as row lines."""
    return [encode_row(row) for row in pa.ipc.open_file(path).read_all().to_pylist()]
