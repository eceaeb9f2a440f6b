"""Journal lines give back the rows they were written from, and torn lines are refused."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given

from mlops_lab.serve._journal import decode_row, encode_row, read_lines

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
