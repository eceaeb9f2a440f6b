"""The log buffer's write-ahead journal: its line format and its segment files.

A journal segment is a file of lines, one row each (:func:`encode_row`), that its buffer holds
an exclusive ``flock`` on while it lives. A segment is created under a hidden name and renamed
only once locked, so that no other buffer sees it without an owner; it is deleted while still
locked, so that nobody takes it over meanwhile. Another buffer takes over the segments whose
lock is free (:func:`take_segment`): their owner is gone. A kill in the middle of a write may
leave a torn last line, which :func:`read_lines` reports and never returns.
"""

from __future__ import annotations

import base64
import fcntl
import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from mlops_lab.store._batch import _json_default

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


def create_segment(path: Path) -> int:
    """Create the segment file ``path``, locked; its descriptor, open for appending."""
    new = path.with_name(f".{path.name}.new")
    fd = os.open(new, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)  # a file nobody else knows yet: never waits
    # Renamed once locked, so that no other buffer can see it without an owner.
    new.rename(path)
    return fd


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


def delete_segment(segment: Segment) -> None:
    """Delete a segment and let go of its lock."""
    segment.path.unlink(missing_ok=True)  # while still locked: nobody takes it meanwhile
    os.close(segment.fd)


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to ``fd``."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def read_lines(fd: int, offset: int, limit: int) -> tuple[list[bytes], int, bool]:
    """Up to ``limit`` whole lines of a file from byte ``offset``.

    Returns:
        The lines, the offset where they end, and whether bytes without a line end follow
        them at the end of the file (a torn last line).
    """
    lines: list[bytes] = []
    end, tail = offset, b""
    while len(lines) < limit:
        chunk = os.pread(fd, _READ_CHUNK, end + len(tail))
        if not chunk:
            return lines, end, bool(tail)
        *whole, tail = (tail + chunk).split(b"\n")
        whole = whole[: limit - len(lines)]
        lines.extend(whole)
        end += sum(len(line) + 1 for line in whole)
    return lines, end, False


def decode_lines(lines: list[bytes], path: Path) -> list[dict[str, Any]]:
    """The rows of the lines of segment ``path``; unreadable lines are logged and skipped."""
    rows = []
    for line in lines:
        try:
            rows.append(decode_row(line))
        except ValueError as exc:
            log.warning("Skipped an unreadable line of %s: %s", path, exc)
    return rows


# The journal's line format. JSON text, because it is safe to read whatever the file holds
# (unlike pickle), fast (the C encoder) and readable with `head`; values JSON lacks are
# written as text and tagged in a second object, so that no row value can pass for a tag:
# a line is [row, {column: tag}], e.g. [{"time":"2026-01-01T00:00:00",...},{"time":"t"}].

_PLAIN = frozenset({str, int, float, bool, type(None)})
_ENCODER = json.JSONEncoder(separators=(",", ":"), default=_json_default)
_DECODERS: dict[str, Callable[[str], Any]] = {
    "t": datetime.fromisoformat,
    "d": date.fromisoformat,
    "b": base64.b64decode,
    "n": Decimal,
}


def encode_row(row: Mapping[str, Any]) -> bytes:
    """One journal line (ending in a line feed) that :func:`decode_row` reads back.

    Values come back as given: text, numbers, booleans, None, datetimes (naive or with
    their UTC offset, to the microsecond), dates, bytes, Decimals, and dicts and lists for
    JSON columns (whose tuples and numpy arrays come back as lists, numpy scalars as
    Python ones: what the store writes is the same).

    Raises:
        TypeError: a value of another kind, naming its column.
    """
    values, tags = dict(row), {}
    for key, value in row.items():
        if type(value) not in _PLAIN:
            tag, values[key] = _plain(key, value)
            if tag:
                tags[key] = tag
    return _ENCODER.encode([values, tags]).encode() + b"\n"


def decode_row(line: bytes) -> dict[str, Any]:
    """The row of a journal line.

    Raises:
        ValueError: the line is not a whole journal line (torn or damaged).
    """
    try:
        row, tags = json.loads(line)
        for key, tag in tags.items():
            row[key] = _DECODERS[tag](row[key])
    except (ValueError, TypeError, LookupError, ArithmeticError, AttributeError) as exc:
        raise ValueError(f"not a journal line ({type(exc).__name__}: {exc})") from None
    if not isinstance(row, dict):
        raise ValueError("not a journal line (no row)")
    return row


def _plain(key: str, value: Any) -> tuple[str | None, Any]:
    """A value JSON can hold and the tag to read it back with (None: as JSON reads it)."""
    if isinstance(value, datetime):  # pandas Timestamps too, to the microsecond
        return "t", datetime.isoformat(value)
    if isinstance(value, date):
        return "d", value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return "b", base64.b64encode(value).decode("ascii")
    if isinstance(value, Decimal):
        return "n", str(value)
    if isinstance(value, np.datetime64):
        return _plain(key, value.astype("datetime64[us]").item())
    if isinstance(value, np.generic):
        return _plain(key, value.item())
    if value is None or isinstance(value, str | int | float | Mapping | list | tuple | np.ndarray):
        return None, value
    raise TypeError(
        f"Column '{key}' of a log row holds a {type(value).__name__} value, which the "
        "journal cannot keep. Give text, numbers, booleans, None, datetimes, dates, bytes, "
        "Decimals, or dicts and lists for JSON columns (e.g. str(value))."
    )
