"""Row lines give back the rows they were written from, torn lines are refused, and the store
reads a batch of lines as it reads the rows."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given

from mlops_lab.serve._journal import close_segment, create_segment, read_lines, take_segment
from mlops_lab.store import SchemaError
from mlops_lab.store._batch import to_arrow
from mlops_lab.store._lines import RowLines, decode_row, encode_row

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
VALUES = (
    JSON
    | st.datetimes(timezones=st.none() | st.timezones(), allow_imaginary=False)
    | st.dates()
    | st.binary()
    | st.decimals(allow_nan=False, allow_infinity=False)
)
ROWS = st.dictionaries(st.text(), VALUES, max_size=14)


@given(ROWS)
def test_a_row_comes_back_as_it_was_appended(row: dict) -> None:
    """Every value comes back equal and of the same type; datetimes keep their UTC offset."""
    back = decode_row(encode_row(row))
    # An aware datetime in a zone's DST fold never equals one in another zone (Python's
    # rule), so datetimes are compared by instant and offset, everything else by value.
    assert {k: v for k, v in back.items() if not isinstance(v, datetime)} == {
        k: v for k, v in row.items() if not isinstance(v, datetime)
    }
    for key, value in row.items():
        if isinstance(value, datetime) and value.tzinfo is not None:
            assert back[key].timestamp() == value.timestamp()
        elif isinstance(value, datetime):
            assert back[key] == value
    assert [type(value) for value in back.values()] == [type(value) for value in row.values()]
    for key, value in row.items():
        if isinstance(value, datetime):
            assert back[key].utcoffset() == value.utcoffset()


@given(ROWS)
def test_a_line_is_one_line_and_no_torn_part_of_it_reads_as_a_row(row: dict) -> None:
    """A line ends in its only line feed, and any shorter part of it is refused."""
    line = encode_row(row)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    for end in range(len(line) - 1):
        with pytest.raises(ValueError):
            decode_row(line[:end])


def test_values_the_store_writes_alike_come_back_as_plain_python() -> None:
    """Numpy scalars, tuples and arrays come back as the Python values the store writes."""
    row = {
        "a": np.int32(7), "b": np.float64(0.5), "c": np.bool_(True), "d": (1, 2),
        "e": np.array([1.5, 2.5]), "f": {"g": np.array([1])},
        "h": np.datetime64("2026-01-02T03:04:05"),
        "i": datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=-5))),
    }  # fmt: skip
    assert decode_row(encode_row(row)) == {
        "a": 7, "b": 0.5, "c": True, "d": [1, 2], "e": [1.5, 2.5], "f": {"g": [1]},
        "h": datetime(2026, 1, 2, 3, 4, 5), "i": datetime(2026, 1, 1, 5, tzinfo=UTC),
    }  # fmt: skip


def test_a_value_the_journal_cannot_keep_is_refused_naming_its_column() -> None:
    """An object of another kind is refused at once, not when the batch is sent."""
    with pytest.raises(TypeError, match="Column 'when' of a log row holds a timedelta"):
        encode_row({"when": timedelta(seconds=1)})


def test_lines_are_read_in_pieces_and_a_torn_tail_is_reported(tmp_path: Path) -> None:
    """Whole lines are read from an offset, at most `limit` at a time; bytes after the last
    line feed are reported as a torn line, never returned."""
    lines = [encode_row({"n": n, "date": date(2026, 1, 1)}) for n in range(5)]
    path = tmp_path / "segment"
    path.write_bytes(b"".join(lines) + lines[0][:10])
    fd = os.open(path, os.O_RDONLY)
    try:
        first, end, torn = read_lines(fd, 0, 3)
        assert (first, end, torn) == (
            [line[:-1] for line in lines[:3]],
            sum(map(len, lines[:3])),
            False,
        )
        rest, end, torn = read_lines(fd, end, 3)
        assert [decode_row(line)["n"] for line in rest] == [3, 4]
        assert (end, torn) == (sum(map(len, lines)), True)
        assert read_lines(fd, end, 3) == ([], end, True)
    finally:
        os.close(fd)


def test_row_lines_become_the_same_arrow_table_as_their_rows() -> None:
    """The store reads a batch of row lines into the table the rows themselves give."""
    rows = [
        {"request_id": f"r{n}", "time": datetime(2026, 1, 1, n, tzinfo=UTC), "status": 200,
         "features": {"x": n / 3, "y": [n, None]}, "error": None}
        for n in range(5)
    ]  # fmt: skip
    lines = RowLines(b"".join(encode_row(row) for row in rows))
    assert to_arrow(lines).equals(to_arrow(rows))
    assert to_arrow(RowLines(b"")).num_rows == 0


def test_a_damaged_row_line_refuses_the_whole_batch_naming_the_line() -> None:
    """A batch of lines with one that no encoder made is refused, before anything is written."""
    good = encode_row({"n": 1})
    with pytest.raises(SchemaError, match="Line 2 of a batch of row lines is not a row line"):
        to_arrow(RowLines(good + b'{"n": 2}\n' + good))


def test_a_mapped_segment_reads_back_up_to_its_zero_tail(tmp_path: Path) -> None:
    """Lines copied into a segment are read back whole, whatever the zero bytes after them;
    a line that does not fit is refused and leaves the segment as it was."""
    lines = [encode_row({"n": n}) for n in range(3)]
    segment = create_segment(tmp_path / "requests-a-000001.journal", 4096)
    try:
        assert all(segment.append(line) for line in lines)
        assert not segment.append(b"x" * 4096)
        assert (tmp_path / "requests-a-000001.journal").stat().st_size == 4096
        assert segment.end == sum(map(len, lines))
        read, end, torn = read_lines(segment.fd, 0, 10)
        assert [decode_row(line)["n"] for line in read] == [0, 1, 2]
        assert (end, torn) == (segment.end, False)
    finally:
        close_segment(segment)
    assert not list(tmp_path.glob(".*"))  # made under a hidden name, then renamed


@pytest.mark.parametrize("copied", ["prefix", "ends"])
def test_a_copy_cut_short_by_a_kill_reads_as_a_torn_line(tmp_path: Path, copied: str) -> None:
    """A kill in the middle of a copy leaves part of the line and zeros where the rest should
    be (a copy may write the line's end before its middle): read as a torn line, not a row."""
    line = encode_row({"text": "x" * 200})
    segment = create_segment(tmp_path / "requests-b-000001.journal", 4096)
    assert segment.map is not None
    try:
        segment.append(encode_row({"n": 1}))
        start = segment.end
        if copied == "prefix":
            segment.map[start : start + 100] = line[:100]
        else:  # first and last 32 bytes only
            segment.map[start : start + 32] = line[:32]
            segment.map[start + len(line) - 32 : start + len(line)] = line[-32:]
        read, end, torn = read_lines(segment.fd, 0, 10)
        assert ([decode_row(x) for x in read], end, torn) == ([{"n": 1}], start, True)
    finally:
        close_segment(segment)


def test_a_segment_is_taken_over_only_once_its_owner_lets_go(tmp_path: Path) -> None:
    """The owner's lock keeps others off; once it is let go, the segment can be taken."""
    path = tmp_path / "requests-c-000001.journal"
    segment = create_segment(path, 4096)
    segment.append(encode_row({"n": 1}))
    assert take_segment(path) is None
    close_segment(segment)
    taken = take_segment(path)
    assert taken is not None
    try:
        line = encode_row({"n": 1})
        assert read_lines(taken.fd, 0, 10) == ([line[:-1]], len(line), False)
    finally:
        close_segment(taken)
