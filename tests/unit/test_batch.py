"""Batches are converted to Arrow and checked against a table, or refused whole."""

from __future__ import annotations

import json
from datetime import datetime

import hypothesis.strategies as st
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given

from mlops_lab.store import SchemaError
from mlops_lab.store._batch import TableSpec, conform, to_arrow

SPEC = TableSpec(
    name="requests",
    schema=pa.schema(
        [
            ("request_id", pa.string()),
            ("time", pa.timestamp("us")),
            ("status", pa.int16()),
            ("latency_ms", pa.float64()),
            ("features", pa.string()),
        ]
    ),
    required=frozenset({"request_id", "time", "status"}),
    json_columns=frozenset({"features"}),
    primary_key=("request_id",),
    mutable=False,
)
NOW = datetime(2026, 1, 1, 12, 0, 0)


def row(**changes: object) -> dict[str, object]:
    return {"request_id": "r1", "time": NOW, "status": 200, **changes}


def test_records_dataframes_and_column_dicts_give_the_same_batch() -> None:
    """The three ways of giving a batch end in the same conformed table."""
    records = [row(latency_ms=1.5, features=[1.0, 2.0])]
    frame = pd.DataFrame({"request_id": ["r1"], "time": [NOW], "status": [200],
                          "latency_ms": [1.5], "features": ["[1.0,2.0]"]})  # fmt: skip
    columns = {name: [value] for name, value in records[0].items()}
    tables = [conform(to_arrow(given), SPEC) for given in (records, frame, columns)]
    assert tables[0].equals(tables[1])
    assert tables[0].equals(tables[2])


def test_nested_values_are_stored_as_json_text() -> None:
    """Dicts, lists and numpy arrays in a JSON column become JSON text."""
    table = conform(to_arrow([row(features={"a": np.float64(1.5), "b": np.arange(2)})]), SPEC)
    assert json.loads(table.column("features")[0].as_py()) == {"a": 1.5, "b": [0, 1]}


def test_missing_optional_columns_are_null() -> None:
    """An optional column left out of the batch is stored as null."""
    table = conform(to_arrow([row()]), SPEC)
    assert table.column("latency_ms").null_count == 1
    assert table.schema == SPEC.schema


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        ([row(status="ok")], "Column 'status' of table 'requests' holds integers"),
        ([row(latency_ms="fast")], "Column 'latency_ms' of table 'requests' holds numbers"),
        ([row(status=70000)], "Column 'status' of table 'requests' cannot hold these values"),
        ([{"request_id": "r1", "status": 200}], "Column 'time' .* is required and missing"),
        ([row(), row(request_id=None)], "Column 'request_id' .* 1 of 2 values are null"),
        ([row(colour="red")], "Table 'requests' has no column 'colour'"),
    ],
)
def test_a_bad_column_is_named(batch: list[dict[str, object]], message: str) -> None:
    """The refusal names the column and what it holds."""
    with pytest.raises(SchemaError, match=message):
        conform(to_arrow(batch), SPEC)


def test_something_else_than_a_batch_is_refused() -> None:
    """A string is not a batch; the error lists what is accepted."""
    with pytest.raises(SchemaError, match="must be a pyarrow Table, a pandas DataFrame"):
        to_arrow("request_id,time")  # type: ignore[arg-type]


def test_timezone_aware_times_are_stored_in_utc() -> None:
    """A tz-aware timestamp is stored as the same instant in UTC, without zone."""
    aware = pd.Timestamp("2026-01-01 14:00", tz="Europe/Paris")
    table = conform(to_arrow(pd.DataFrame([row(time=aware)])), SPEC)
    assert table.column("time")[0].as_py() == datetime(2026, 1, 1, 13, 0)


@given(
    st.lists(
        st.tuples(
            st.text(min_size=1, max_size=8),
            st.integers(-(2**15), 2**15 - 1),
            st.one_of(st.none(), st.floats(allow_nan=False)),
            st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=4),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_conform_keeps_every_value(rows: list[tuple[str, int, float | None, list[float]]]) -> None:
    """Whatever valid rows are given, the conformed batch holds exactly their values."""
    records = [
        {"request_id": rid, "time": NOW, "status": status, "latency_ms": lat, "features": feats}
        for rid, status, lat, feats in rows
    ]
    table = conform(to_arrow(records), SPEC)
    assert table.column("request_id").to_pylist() == [r[0] for r in rows]
    assert table.column("status").to_pylist() == [r[1] for r in rows]
    assert table.column("latency_ms").to_pylist() == [r[2] for r in rows]
    assert [json.loads(v) for v in table.column("features").to_pylist()] == [r[3] for r in rows]
