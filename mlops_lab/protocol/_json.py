"""JSON in and out of the serving API: request bodies read, predictions and values written.

Text read from a body, or written into a response or a log row, is made
:func:`~mlops_lab._text.encodable`: JSON can escape a lone UTF-16 surrogate, which no
response, message or log row could hold. The JSON rules are those of :mod:`mlops_lab._json`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from mlops_lab._json import encodable_value, may_escape_surrogate, strict_json
from mlops_lab.protocol._errors import refuse


def read_json(body: bytes, *, max_bytes: int) -> Any:
    """Decode a request body of at most ``max_bytes`` bytes of UTF-8 JSON.

    Every string in it (keys too) comes back :func:`~mlops_lab._text.encodable`: JSON can
    escape a lone UTF-16 surrogate, which no response, message or log row could hold.

    Example:
        >>> read_json(b'{"instances": [[1, 2]]}', max_bytes=1_000_000)
        {'instances': [[1, 2]]}
    """
    if len(body) > max_bytes:
        raise refuse(
            "body_too_large",
            "body",
            f"at most {max_bytes:,} bytes",
            f"{len(body):,} bytes",
            "Send fewer instances per request.",
            what=" is too large",
            status=413,
        )
    try:
        payload = json.loads(body.decode("utf-8"))
        return encodable_value(payload) if may_escape_surrogate(body) else payload
    except UnicodeDecodeError as exc:
        problem = f"byte {exc.start}, which is not UTF-8"
    except json.JSONDecodeError as exc:
        problem = f"an error at line {exc.lineno}, column {exc.colno} ({exc.msg})"
    except RecursionError:
        problem = "lists or objects nested too deeply"
    except ValueError:  # the one left: Python's limit on the digits of an integer
        problem = "a number of too many digits"
    raise refuse(
        "malformed_json",
        "body",
        "UTF-8 JSON",
        problem,
        "Send a JSON object encoded as UTF-8.",
        what=" is not valid JSON",
    )


def to_json_values(predictions: Sequence[Any] | np.ndarray) -> list[Any]:
    """Predictions as JSON values: Python scalars, with None for NaN (and infinities).

    Example:
        >>> to_json_values(np.array([1.5, np.nan]))
        [1.5, None]
    """
    array = np.atleast_1d(np.asarray(predictions))
    if array.dtype.kind == "f":
        values = array.astype(object)
        values[~np.isfinite(array)] = None
        return list(values.tolist())
    if array.dtype.kind in "mMS":
        return list(array.astype(str).tolist())
    if array.dtype.kind in "OU":  # objects, or text (class labels) that may not be encodable
        if array.ndim > 1:
            return [to_json_values(row) for row in array]
        return [strict_json(value) for value in array.tolist()]
    return list(array.tolist())
