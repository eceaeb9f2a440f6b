"""Rows the store refuses as bad data, set aside with the reason so they hold up no other row.

A log writer sends row lines (:mod:`mlops_lab.store._lines`) with :func:`write_lines`. When
the store refuses a batch as bad data (:class:`~mlops_lab.store._errors.BadDataError`: it never
will take it as it is), the batch is split in halves until the rows it refuses are alone;
every other row is written, and each refused row goes to the ``dead_letters`` table with the
reason, as the text of its line. If even that write is refused, the letters are appended to
a file (one JSON object a line), so that no row is ever dropped unsaid.

A letter's key is a hash of its table and its row's text: a batch written again (after the
store was away midway, or by a buffer that took over a killed one's journal) stores each
letter once, as it stores each row once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlops_lab._text import encodable
from mlops_lab.store._errors import BadDataError
from mlops_lab.store._lines import RowLines
from mlops_lab.store._store import StoreClient

log = logging.getLogger(__name__)

DEAD_LETTERS = "dead_letters"


def write_lines(store: StoreClient, table: str, lines: Sequence[bytes], letters_file: Path) -> int:
    """Write row lines to ``table``, setting aside the rows the store refuses as bad data.

    Args:
        store: Where the rows go.
        table: Their table.
        lines: Row lines, each ending in its line feed.
        letters_file: Where letters go when the ``dead_letters`` table refuses them too.

    Returns:
        How many rows were set aside; every other row is stored.

    Raises:
        Exception: any error of the store other than a refusal as bad data (the store is
            away): some rows may be stored already, and writing the lines again is safe.

    Example:
        >>> write_lines(lab.store, "requests", [encode_row(row)], Path("letters.jsonl"))
        0
    """
    refused = refused_lines(lines, lambda part: store.write({table: RowLines(b"".join(part))}))
    if refused:
        set_aside(store, table, refused, letters_file)
    return len(refused)


def refused_lines(
    lines: Sequence[bytes], write: Callable[[Sequence[bytes]], object]
) -> list[tuple[bytes, str]]:
    r"""Write ``lines`` in as few parts as it takes; the lines refused alone, with the reason.

    When ``write`` refuses a part (raising :class:`BadDataError`) naming the rows it refuses
    (``refused``: positions and reasons, as the store does for JSON it cannot read), those
    are set aside and the rest written again. Otherwise the part is split in halves, each
    written on its own, down to single lines: with ``k`` bad lines among ``n``, about
    ``2 k log2(n)`` writes. Any other error of ``write`` is raised as it is.

    Example:
        >>> def write(part):
        ...     if b"bad\n" in part:
        ...         raise BadDataError("no")
        >>> refused_lines([b"a\n", b"bad\n", b"c\n"], write)
        [(b'bad\n', 'no')]
    """
    if not lines:
        return []
    try:
        write(lines)
    except BadDataError as exc:
        if len(lines) == 1:
            return [(lines[0], str(exc))]
        named = {at: why for at, why in exc.refused.items() if 0 <= at < len(lines)}
        if named:  # the store said which rows: set those aside, and write the rest again
            rest = [line for at, line in enumerate(lines) if at not in named]
            return [(lines[at], why) for at, why in sorted(named.items())] + refused_lines(
                rest, write
            )
        half = len(lines) // 2
        return refused_lines(lines[:half], write) + refused_lines(lines[half:], write)
    return []


def dead_letter(table: str, line: bytes, reason: str, time: datetime) -> dict[str, Any]:
    r"""The ``dead_letters`` row of a line that ``table`` refused for ``reason``.

    Example:
        >>> dead_letter("requests", b'[{"n":1},{}]\n', "no", now)["row_text"]
        '[{"n":1},{}]'
    """
    # Any bytes, a damaged line's too, become text: what UTF-8 cannot read is escaped.
    text = line.rstrip(b"\n").decode("utf-8", "backslashreplace")
    key = hashlib.sha256(f"{table}\n{text}".encode()).hexdigest()[:32]
    return {
        "letter_id": key,
        "time": time,
        "table_name": table,
        "reason": encodable(reason),
        "row_text": text,
    }


def set_aside(
    store: StoreClient, table: str, refused: Sequence[tuple[bytes, str]], letters_file: Path
) -> None:
    """Write the letters of refused lines to the ``dead_letters`` table, or to the file.

    Raises:
        Exception: the store's error when it is away (nothing is set aside), or the file's
            ``OSError`` when it cannot be written either.
    """
    letters = letters_of(table, refused)
    try:
        store.write({DEAD_LETTERS: letters})
    except BadDataError as exc:
        append_letters(letters_file, letters, f"the store refused them too: {encodable(str(exc))}")


def letters_of(table: str, refused: Sequence[tuple[bytes, str]]) -> list[dict[str, Any]]:
    """The letters of lines that ``table`` refused, each with its reason; each is logged."""
    now = datetime.now(UTC).replace(tzinfo=None)  # the store keeps naive UTC timestamps
    letters = [dead_letter(table, line, reason, now) for line, reason in refused]
    for letter in letters:
        log.warning(
            "A row for '%s' was refused as bad data and set aside as dead letter %s: %s",
            table, letter["letter_id"], letter["reason"],
        )  # fmt: skip
    return letters


def append_letters(path: Path, letters: Sequence[dict[str, Any]], filed_because: str) -> None:
    """Append letters to ``path``, one JSON object a line, saying why they are not in the store.

    The file is opened for appending, so that buffers of several processes can share it.
    """
    data = b"".join(
        json.dumps({**letter, "filed_because": filed_because}, default=str).encode() + b"\n"
        for letter in letters
    )
    log.error("%d dead letters go to %s: %s", len(letters), path, filed_because)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
