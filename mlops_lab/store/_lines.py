"""Rows as lines of JSON text: the form log rows take on disk and on their way to the store.

A line is ``[row, {column: tag}]`` ending in a line feed, e.g.
``[{"time":"2026-01-01T00:00:00",...},{"time":"t"}]``. JSON, because it is safe to read
whatever a file holds (unlike pickle), fast (the C encoder) and readable with ``head``; values
JSON lacks are written as text and tagged in the second object, so that no row value can pass
for a tag.

Every line is valid UTF-8: text UTF-8 cannot hold (a lone surrogate from a JSON body) is
written as its escape (:func:`mlops_lab._text.encodable`), at no cost to rows of valid text.

A :class:`RowLines` batch carries such lines to the store as they are: the writer pays only for
joining bytes, and the store, in its own process, reads them into Arrow.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from mlops_lab._json import encodable_value, may_escape_surrogate
from mlops_lab.store._errors import SchemaError


@dataclass(frozen=True)
class RowLines:
    """A batch of rows as lines made by :func:`encode_row`, joined.

    Example:
        >>> store.write({"requests": RowLines(b"".join(encode_row(row) for row in rows))})
    """

    data: bytes

    def rows(self) -> list[dict[str, Any]]:
        """The rows of the lines.

        Raises:
            SchemaError: a line that :func:`encode_row` did not make, naming it.
        """
        rows = []
        for number, line in enumerate(self.data.splitlines(), start=1):
            try:
                rows.append(decode_row(line))
            except ValueError as exc:
                raise SchemaError(
                    f"Line {number} of a batch of row lines is not a row line: {exc}. "
                    "Make each line with encode_row()."
                ) from None
        return rows


def json_default(value: Any) -> Any:
    """JSON for the numpy and pandas values rows may hold; TypeError for anything else."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} values cannot be stored as JSON")


def encodable_json_default(value: Any) -> Any:
    """:func:`json_default`, with the text it gives (numpy arrays of text) made encodable."""
    return encodable_value(json_default(value))


PLAIN_TYPES = frozenset({str, int, float, bool, type(None)})
# Not ASCII-only: a lone surrogate then fails the line's UTF-8 encoding, which is how it is
# found, instead of being written as an escape that JSON reads back as the same surrogate.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=json_default)
_ENCODABLE = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, default=encodable_json_default
)
_DECODERS: dict[str, Callable[[str], Any]] = {
    "t": datetime.fromisoformat,
    "d": date.fromisoformat,
    "b": base64.b64decode,
    "n": Decimal,
}


def encode_row(row: Mapping[str, Any]) -> bytes:
    """One line (ending in a line feed) that :func:`decode_row` reads back.

    Values come back as given: text, numbers, booleans, None, datetimes (naive or with
    their UTC offset, to the microsecond), dates, bytes, Decimals, and dicts and lists for
    JSON columns (whose tuples and numpy arrays come back as lists, numpy scalars as
    Python ones: what the store writes is the same).

    Text UTF-8 cannot hold, in keys or values at any depth, is written as its escape.

    Raises:
        TypeError: a value of another kind, naming its column.
    """
    values, tags = dict(row), {}
    for key, value in row.items():
        if type(value) not in PLAIN_TYPES:
            tag, values[key] = _plain(key, value)
            if tag:
                tags[key] = tag
    try:
        return _ENCODER.encode([values, tags]).encode("utf-8") + b"\n"
    except UnicodeEncodeError:  # a lone surrogate somewhere: rare, so only then rebuilt
        return _ENCODABLE.encode(encodable_value([values, tags])).encode("utf-8") + b"\n"


def decode_row(line: bytes) -> dict[str, Any]:
    """The row of a line, its text made encodable.

    Lines of an earlier version may hold surrogate escapes, which JSON reads back as lone
    surrogates: their text comes back escaped, as :func:`encode_row` writes it now.

    Raises:
        ValueError: the line is not a whole row line (torn or damaged).
    """
    try:
        try:
            text, raw_surrogates = line.decode("utf-8"), False
        except UnicodeDecodeError:  # raw surrogates, as JSON reads bytes: they are escaped
            text, raw_surrogates = line.decode("utf-8", "surrogatepass"), True
        row, tags = json.loads(text)
        # encode_row writes no surrogate escape, so rows of this version are not walked.
        if raw_surrogates or may_escape_surrogate(text):
            row, tags = encodable_value(row), encodable_value(tags)
        for key, tag in tags.items():
            row[key] = _DECODERS[tag](row[key])
    except (ValueError, TypeError, LookupError, ArithmeticError, AttributeError) as exc:
        raise ValueError(f"not a row line ({type(exc).__name__}: {exc})") from None
    if not isinstance(row, dict):
        raise ValueError("not a row line (no row)")
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
        f"Column '{key}' of a log row holds a {type(value).__name__} value, which cannot be "
        "kept as a row line. Give text, numbers, booleans, None, datetimes, dates, bytes, "
        "Decimals, or dicts and lists for JSON columns (e.g. str(value))."
    )
