"""Turn what callers give into a batch that fits one table, or refuse it whole.

Callers give a ``pyarrow.Table``, a ``pandas.DataFrame``, a mapping of columns, a list
of row dicts or :class:`~mlops_lab.store._lines.RowLines`. Conversion to Arrow
(:func:`to_arrow`) happens on the caller's side, so that only Arrow crosses process
boundaries, except for row lines, which the store reads itself: a log writer then spends
no time on Arrow. The check against the table (:func:`conform`) happens in the store,
which alone knows the schema for certain.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from mlops_lab._json import encodable_value
from mlops_lab._text import encodable
from mlops_lab.store._errors import BadDataError, SchemaError
from mlops_lab.store._lines import PLAIN_TYPES, RowLines, encodable_json_default, json_default

Batch: TypeAlias = (
    pa.Table
    | pa.RecordBatch
    | pd.DataFrame
    | RowLines
    | Mapping[str, Any]
    | Sequence[Mapping[str, Any]]
)


@dataclass(frozen=True)
class TableSpec:
    """What a batch must look like to be written to one table."""

    name: str
    schema: pa.Schema
    required: frozenset[str]
    json_columns: frozenset[str]
    primary_key: tuple[str, ...]
    mutable: bool
    # The column the store numbers as rows arrive; a batch leaves it out.
    arrival: str | None = None


def to_arrow(data: Batch) -> pa.Table:
    """Convert a batch to an Arrow table; nested values in rows become JSON text.

    Raises:
        BadDataError: values Arrow cannot hold (text UTF-8 cannot encode, a number too large
            for its column, a column of values of different kinds), naming the problem;
            :class:`SchemaError` (one) for a batch that is no kind of batch, or a damaged
            row line.
    """
    try:
        return _to_arrow(data)
    except BadDataError:
        raise
    except (ValueError, TypeError, OverflowError) as exc:  # Arrow's and codecs' among them
        raise BadDataError(
            f"The batch could not be converted to Arrow: {type(exc).__name__}: "
            f"{encodable(str(exc))}. Give each column values of one kind that JSON or "
            "Arrow can hold (text as valid UTF-8)."
        ) from None


def _to_arrow(data: Batch) -> pa.Table:
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if isinstance(data, pd.DataFrame):
        return pa.Table.from_pandas(data, preserve_index=False)
    if isinstance(data, RowLines):
        data = data.rows()
    if isinstance(data, Mapping):
        return pa.table({name: _column(values) for name, values in data.items()})
    if _is_records(data):
        return pa.Table.from_pylist([{k: _scalar(v) for k, v in row.items()} for row in data])
    raise SchemaError(
        "A batch must be a pyarrow Table, a pandas DataFrame, a dict of columns, a list "
        f"of row dicts or RowLines. Got {type(data).__name__} instead."
    )


def _is_records(data: object) -> bool:
    return (
        isinstance(data, Sequence)
        and not isinstance(data, str | bytes)
        and all(isinstance(row, Mapping) for row in data)
    )


def conform(table: pa.Table, spec: TableSpec) -> pa.Table:
    """Check a batch against a table and cast it to the table's exact Arrow schema.

    Raises:
        SchemaError: naming the first column that is unknown, missing, null where a
            value is required, or of a type that cannot be stored losslessly.
    """
    if spec.arrival in table.column_names:
        raise SchemaError(
            f"Column '{spec.arrival}' of table '{spec.name}' is numbered by the store as rows "
            "arrive; leave it out of the batch."
        )
    unknown = [name for name in table.column_names if name not in spec.schema.names]
    if unknown:
        raise SchemaError(
            f"Table '{spec.name}' has no column '{unknown[0]}'. "
            f"Its columns are: {', '.join(spec.schema.names)}."
        )
    if table.num_rows == 0:
        return spec.schema.empty_table()
    columns = [_conform_column(table, field, spec) for field in spec.schema]
    return pa.Table.from_arrays(columns, schema=spec.schema)


def describe_type(arrow_type: pa.DataType) -> str:
    """Say in words what kind of values an Arrow type holds."""
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "text"
    if pa.types.is_integer(arrow_type):
        return f"integers ({arrow_type})"
    if pa.types.is_floating(arrow_type):
        return "numbers (double)"
    if pa.types.is_timestamp(arrow_type):
        return "timestamps"
    if pa.types.is_binary(arrow_type) or pa.types.is_large_binary(arrow_type):
        return "bytes"
    return str(arrow_type)


def _conform_column(table: pa.Table, field: pa.Field, spec: TableSpec) -> pa.ChunkedArray:
    where = f"Column '{field.name}' of table '{spec.name}'"
    if field.name not in table.column_names:
        if field.name in spec.required:
            raise SchemaError(f"{where} is required and missing from the batch.")
        return pa.chunked_array([pa.nulls(table.num_rows, field.type)])
    column = table.column(field.name)
    if field.name in spec.json_columns and not _is_text(column.type):
        column = _to_json_text(column)
    if not _can_store(column.type, field.type):
        raise SchemaError(
            f"{where} holds {describe_type(field.type)}; the batch has {column.type} "
            "values. Convert the column before appending it."
        )
    if field.name in spec.required and column.null_count:
        raise SchemaError(
            f"{where} is required, but {column.null_count} of {len(column)} values are null."
        )
    try:
        # Sub-microsecond digits of timestamps are dropped; every other cast must be exact.
        return pc.cast(column, field.type, safe=not pa.types.is_timestamp(field.type))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise SchemaError(f"{where} cannot hold these values: {exc}") from None


def _can_store(source: pa.DataType, target: pa.DataType) -> bool:
    if pa.types.is_dictionary(source):
        source = source.value_type
    if pa.types.is_null(source) or source == target:
        return True
    checks = (
        (_is_text, _is_text),
        (pa.types.is_integer, pa.types.is_integer),
        (pa.types.is_floating, _is_number),
        (pa.types.is_boolean, pa.types.is_boolean),
        (pa.types.is_timestamp, lambda t: pa.types.is_timestamp(t) or pa.types.is_date(t)),
        (_is_bytes, _is_bytes),
    )
    return any(is_target(target) and accepts(source) for is_target, accepts in checks)


def _is_text(arrow_type: pa.DataType) -> bool:
    return (
        pa.types.is_string(arrow_type)
        or pa.types.is_large_string(arrow_type)
        or pa.types.is_string_view(arrow_type)
    )


def _is_number(arrow_type: pa.DataType) -> bool:
    return (
        pa.types.is_integer(arrow_type)
        or pa.types.is_floating(arrow_type)
        or pa.types.is_decimal(arrow_type)
    )


def _is_bytes(arrow_type: pa.DataType) -> bool:
    return pa.types.is_binary(arrow_type) or pa.types.is_large_binary(arrow_type)


def _to_json_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    texts = [None if value is None else _dumps(value) for value in column.to_pylist()]
    return pa.chunked_array([pa.array(texts, pa.string())])


def _column(values: Any) -> Any:
    if isinstance(values, pa.Array | pa.ChunkedArray | np.ndarray | pd.Series):
        return values
    return [_scalar(value) for value in values]


def _scalar(value: Any) -> Any:
    """Nested values (dicts, lists, arrays) travel as JSON text; scalars stay as they are."""
    if type(value) in PLAIN_TYPES:  # the common case, checked without the cost of an ABC
        return value
    if isinstance(value, Mapping | list | tuple | np.ndarray):
        return _dumps(value)
    return value


def _dumps(value: Any) -> str:
    text = json.dumps(value, default=json_default, separators=(",", ":"))
    # Written ASCII-only, text outside the BMP and lone surrogates alike become surrogate
    # escapes; a lone one is JSON that DuckDB refuses, so the value's text is made encodable.
    if "\\ud" in text:
        text = json.dumps(
            encodable_value(value), default=encodable_json_default, separators=(",", ":")
        )
    return text
