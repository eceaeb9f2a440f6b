"""Rows the store refuses are found by splitting their batch, and set aside with the reason;
text UTF-8 cannot hold never reaches a row line, a batch or a JSON column."""

from __future__ import annotations

import json
import math
import pickle
from collections.abc import Sequence
from datetime import datetime

import hypothesis.strategies as st
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given

from mlops_lab._json import encodable_value
from mlops_lab.store import BadDataError, SchemaError
from mlops_lab.store._batch import TableSpec, conform, to_arrow
from mlops_lab.store._dead_letters import dead_letter, refused_lines
from mlops_lab.store._lines import RowLines, decode_row, encode_row

NOW = datetime(2026, 1, 1, 12, 0, 0)
# Any code point, lone surrogates included: what json.loads can hand the lab.
ANY_TEXT = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=8)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | ANY_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ANY_TEXT, inner, max_size=3),
    max_leaves=10,
)
SPEC = TableSpec(
    name="requests",
    schema=pa.schema(
        [
            ("request_id", pa.string()),
            ("time", pa.timestamp("us")),
            ("error", pa.string()),
            ("features", pa.string()),
        ]
    ),
    required=frozenset({"request_id", "time"}),
    json_columns=frozenset({"features"}),
    primary_key=("request_id",),
    mutable=False,
)


def _has_surrogate(value: object) -> bool:
    if isinstance(value, str):
        return any(0xD800 <= ord(char) <= 0xDFFF for char in value)
    if isinstance(value, dict):
        return any(_has_surrogate(k) or _has_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_surrogate(item) for item in value)
    return False


class Refusing:
    """A writer that refuses any part holding a bad line, and records what it took; with
    ``names``, it says which rows of the part it refuses, as the store does for bad JSON."""

    def __init__(self, bad: set[bytes], names: bool) -> None:
        self.bad, self.names, self.taken, self.calls = bad, names, [], 0

    def __call__(self, part: Sequence[bytes]) -> None:
        self.calls += 1
        refused = {at: f"refused {line!r}" for at, line in enumerate(part) if line in self.bad}
        if refused:
            first = next(iter(refused.values()))
            raise BadDataError(first, refused if self.names else None)
        self.taken.extend(part)


@pytest.mark.parametrize("names", [False, True])
@given(bad_marks=st.lists(st.booleans(), max_size=200))
def test_a_split_sets_aside_exactly_the_refused_lines_and_writes_the_rest_once(
    names: bool, bad_marks: list[bool]
) -> None:
    """Whatever lines are bad, those alone come back (in order, each with its own reason),
    every other line is written exactly once; it takes at most 2 k log2(n) writes more than
    one, or two writes when the store names the rows it refuses."""
    lines = [f"{n}\n".encode() for n in range(len(bad_marks))]
    bad = {line for line, is_bad in zip(lines, bad_marks, strict=True) if is_bad}
    write = Refusing(bad, names)
    refused = refused_lines(lines, write)
    assert refused == [(line, f"refused {line!r}") for line in lines if line in bad]
    assert write.taken == [line for line in lines if line not in bad]
    depth = math.ceil(math.log2(len(lines))) if len(lines) > 1 else 0
    assert write.calls <= (2 if names else 1 + 2 * len(bad) * depth)


def test_bad_data_keeps_the_rows_it_names_across_a_process_boundary() -> None:
    """A refusal pickled (as Ray does for the store actor's errors) keeps class, message and
    the rows it names."""
    back = pickle.loads(pickle.dumps(SchemaError("no", {3: "bad JSON"})))
    assert (type(back), str(back), back.refused) == (SchemaError, "no", {3: "bad JSON"})
    assert BadDataError("no").refused == {}


def test_an_error_that_is_not_bad_data_is_raised_as_it_is() -> None:
    """A store that is away is not a refusal: nothing is set aside, the error goes up."""

    def away(part: Sequence[bytes]) -> None:
        raise ConnectionError("the store is away")

    with pytest.raises(ConnectionError, match="away"):
        refused_lines([b"a\n", b"b\n"], away)


def test_a_letter_keeps_the_rows_text_and_its_key_depends_on_nothing_else() -> None:
    """The same line refused twice (a retried batch) has the same key, whatever the reason
    or time; another table or another line has another key; damaged bytes become text."""
    line = encode_row({"request_id": "r1", "error": "bad \ud800 key"})
    first = dead_letter("requests", line, "why", NOW)
    again = dead_letter("requests", line, "why not", datetime(2027, 1, 1))
    assert first["letter_id"] == again["letter_id"]
    assert first["row_text"] == line.decode().rstrip("\n")
    assert dead_letter("feedback", line, "why", NOW)["letter_id"] != first["letter_id"]
    assert dead_letter("requests", b"x\n", "why", NOW)["letter_id"] != first["letter_id"]
    assert dead_letter("requests", b"\xed\xa0\x80\xff\n", "r", NOW)["row_text"] == (
        "\\xed\\xa0\\x80\\xff"
    )
    assert dead_letter("requests", b"x", "bad \udcff", NOW)["reason"] == "bad \\udcff"


@given(st.dictionaries(ANY_TEXT, JSON, max_size=6))
def test_a_row_with_surrogates_anywhere_gives_a_utf8_line_of_its_escaped_text(row: dict) -> None:
    """Lone surrogates in keys, values and nested values never fail encode_row: the line is
    UTF-8, and reads back as the row with each surrogate written as its escape."""
    line = encode_row(row)
    line.decode("utf-8")  # strict: raises on anything UTF-8 cannot hold
    back = decode_row(line)
    assert back == encodable_value(row)
    assert not _has_surrogate(back)


def test_a_row_of_valid_text_is_written_as_it_is() -> None:
    """Valid text, non-ASCII included, is written as UTF-8, not escaped."""
    line = encode_row({"error": "café ☕ \U0001f600", "features": {"ключ": "значение"}})
    assert "café ☕ \U0001f600".encode() in line and "значение".encode() in line
    assert decode_row(line) == {"error": "café ☕ \U0001f600", "features": {"ключ": "значение"}}


def test_a_column_named_with_a_surrogate_keeps_its_tagged_value() -> None:
    """A key with a lone surrogate is escaped alike in the row and in its tags, so that a
    datetime, date or bytes value under it still comes back as itself."""
    row = {"\ud800": NOW, "b\udfff": b"\x00\xff", "ok": NOW.date()}
    assert decode_row(encode_row(row)) == {
        "\\ud800": NOW,
        "b\\udfff": b"\x00\xff",
        "ok": NOW.date(),
    }


def test_a_numpy_array_of_text_with_a_surrogate_is_escaped_too() -> None:
    """Text inside values JSON cannot hold by itself (a numpy array) is made encodable."""
    line = encode_row({"features": {"names": np.array(["ok", "bad \ud800"])}})
    assert decode_row(line) == {"features": {"names": ["ok", "bad \\ud800"]}}


def test_a_line_written_before_surrogates_were_escaped_reads_back_encodable() -> None:
    """An older line (ASCII-only JSON, a lone surrogate as a JSON escape, as journals from
    before this version hold) reads back with the surrogate escaped, and converts to Arrow."""
    old = json.dumps([{"request_id": "r1", "error": "bad \ud800 \U0001f600"}, {}]).encode()
    assert decode_row(old) == {"request_id": "r1", "error": "bad \\ud800 \U0001f600"}
    raw = '[{"error":"bad \ud800"},{}]'.encode("utf-8", "surrogatepass")  # raw surrogate bytes
    assert decode_row(raw) == {"error": "bad \\ud800"}
    assert to_arrow(RowLines(old + b"\n")).column("error").to_pylist() == ["bad \\ud800 \U0001f600"]


def test_rows_with_surrogates_given_as_dicts_are_bad_data_not_a_codec_error() -> None:
    """Text Arrow cannot encode in a plain column is refused as bad data, naming the problem;
    in a JSON column the nested text is made encodable, since DuckDB refuses the escape."""
    with pytest.raises(BadDataError, match="could not be converted to Arrow.*surrogates"):
        to_arrow([{"request_id": "r1", "time": NOW, "error": "bad \ud800"}])

    def stored_json(features: object) -> object:
        table = conform(to_arrow([{"request_id": "r", "time": NOW, "features": features}]), SPEC)
        return json.loads(table.column("features")[0].as_py())

    assert stored_json({"\ud800": ["\udfff"]}) == {"\\ud800": ["\\udfff"]}
    assert stored_json(["\U0001f600"]) == ["\U0001f600"]  # a valid pair is kept as it is


def test_a_schema_refusal_is_bad_data() -> None:
    """A batch that does not fit its table is bad data too: retrying it cannot help."""
    assert issubclass(SchemaError, BadDataError)
    with pytest.raises(BadDataError):
        conform(to_arrow([{"request_id": "r1", "time": NOW, "colour": "red"}]), SPEC)
