"""The serving API's requests and responses, as pure functions.

The router hands these the parsed body and the model's features (``signature["inputs"]``);
they return what the model needs, a DataFrame with the declared columns and dtypes, or raise
a :class:`RequestError`: a 4xx whose JSON body names the field at fault, what was expected
and what was received. Instances come as ``{"instances": [...]}`` (rows as lists in feature
order, or as objects keyed by feature name); ``_values.py`` checks their values and
``_v2.py`` reads Open Inference Protocol v2 (KServe, Triton) ``/infer`` requests. No Ray,
Starlette or IPython here.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlops_lab._text import encodable, encodable_value
from mlops_lab.serve._values import (
    FLOAT_MAX,
    FieldPath,
    check_names,
    describe,
    example_row,
    frame_of,
    keys_of,
    listing,
    plural,
    refuse,
)


class RequestError(Exception):
    """A request the server refuses: 4xx, with a JSON body naming the field.

    Example:
        >>> RequestError(400, "missing_field", "No id.", field="request_id").body()
        {'error': 'No id.', 'code': 'missing_field', 'field': 'request_id'}
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        expected: str | None = None,
        received: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.expected = expected
        self.received = received

    def body(self) -> dict[str, Any]:
        """The JSON body of the response: ``{"error": "<message>"}`` and the details beside it.

        The message is a string, as the Open Inference Protocol has it (its clients, such as
        ``tritonclient``, show ``body["error"]`` and nothing else), and says on its own what
        was wrong, expected and received. ``code``, and ``field``, ``expected`` and
        ``received`` when known, are top-level keys beside it for programs to read. Text sent
        by the client may be quoted in them: it is made encodable, so the body always is.
        """
        details = {
            "code": self.code,
            "field": self.field,
            "expected": self.expected,
            "received": self.received,
        }
        body = {"error": encodable(self.message)}
        body.update({key: encodable(value) for key, value in details.items() if value is not None})
        return body

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only arguments: rebuild through a partial so that the error can be pickled.
        rebuild = functools.partial(
            RequestError, field=self.field, expected=self.expected, received=self.received
        )
        return rebuild, (self.status, self.code, self.message)


@dataclass(frozen=True)
class FeedbackItem:
    """The truth about one request, a reward for it, or both.

    ``has_truth`` tells a ``"truth": null`` that was sent from no truth at all.
    """

    request_id: str
    truth: Any = None
    reward: float | None = None
    has_truth: bool = False


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


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
        # Only a \uD800-\uDFFF escape makes a lone surrogate: skip the walk without one.
        return encodable_value(payload) if _SURROGATE_ESCAPE.search(body) else payload
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


# --- instances: {"instances": [[...], ...]} or {"instances": [{...}, ...]} ---


def parse_instances(
    payload: Any, inputs: list[dict[str, Any]], *, max_instances: int
) -> pd.DataFrame:
    """The instances of ``{"instances": [...]}`` as a DataFrame of the model's features.

    Instances are all lists (values in feature order) or all objects (feature name to
    value). Columns come named, ordered and typed as ``inputs`` declares.

    Example:
        >>> features = [{"name": "a", "dtype": "float64"}, {"name": "b", "dtype": "int64"}]
        >>> parse_instances({"instances": [[0.5, 3]]}, features, max_instances=10).to_dict()
        {'a': {0: 0.5}, 'b': {0: 3}}
    """
    instances = _instances(payload, inputs, max_instances)
    names = [str(feature["name"]) for feature in inputs]
    if isinstance(instances[0], list):
        columns = _columns_of_lists(instances, names)
        paths = [_row_path(f"[{j}]") for j in range(len(names))]
    else:
        columns = _columns_of_objects(instances, names)
        paths = [_row_path(f".{name}") for name in names]
    return frame_of(inputs, columns, paths, len(instances))


def _instances(payload: Any, inputs: list[dict[str, Any]], max_instances: int) -> list[Any]:
    example = json.dumps({"instances": [example_row(inputs)]})
    if not isinstance(payload, dict) or not isinstance(payload.get("instances"), list):
        got = (
            payload["instances"]
            if isinstance(payload, dict) and "instances" in payload
            else payload
        )
        raise refuse(
            "invalid_payload",
            "instances",
            "an object with an 'instances' list",
            describe(got),
            f"Send one such as {example}.",
            what=" is missing or not a list",
        )
    instances = payload["instances"]
    check_count(len(instances), max_instances, "instances")
    first = type(instances[0])
    for i, instance in enumerate(instances):
        if type(instance) is not first or first not in (list, dict):
            layouts: dict[type, str] = {list: "a list", dict: "an object"}
            expected = f"{layouts[first]}, like instances[0]" if i else "a list or an object"
            raise refuse(
                "invalid_payload",
                f"instances[{i}]",
                expected,
                describe(instance),
                "Send every instance as a list (values in feature order) or every one "
                f"as an object (feature name to value), such as {example}.",
            )
    return instances


def check_count(count: int, max_instances: int, field: str) -> None:
    """Refuse a request of no instances, or of more than ``max_instances`` (413)."""
    if count == 0:
        raise refuse("invalid_payload", field, "at least 1 instance", "none", "Send at least one.")
    if count > max_instances:
        raise refuse(
            "too_many_instances",
            field,
            f"at most {max_instances:,} instances",
            f"{count:,}",
            "Split them over several requests.",
            status=413,
        )


def _columns_of_lists(rows: list[list[Any]], names: list[str]) -> list[list[Any]]:
    if set(map(len, rows)) != {len(names)}:
        i = next(i for i, row in enumerate(rows) if len(row) != len(names))
        raise refuse(
            "wrong_feature_count",
            f"instances[{i}]",
            f"{plural(len(names), 'value')} ({listing(names)})",
            plural(len(rows[i]), "value"),
            "Send one value per feature, in this order.",
        )
    return [list(column) for column in zip(*rows, strict=True)]


def _columns_of_objects(rows: list[dict[str, Any]], names: list[str]) -> list[list[Any]]:
    expected = set(names)
    for i, row in enumerate(rows):
        if row.keys() != expected:
            field = functools.partial("instances[{}].{}".format, i)
            check_names(list(row), names, f"instances[{i}]", field)
    return [[row[name] for row in rows] for name in names]


# --- feedback: {"request_id": ..., "truth": ..., "reward": ...}, a list, or {"feedback": [...]}


def parse_feedback(payload: Any, *, max_items: int) -> list[FeedbackItem]:
    """The feedback items of a body: one object, a list of them, or ``{"feedback": [...]}``.

    Example:
        >>> parse_feedback({"request_id": "r1", "reward": 1}, max_items=100)
        [FeedbackItem(request_id='r1', truth=None, reward=1.0, has_truth=False)]
    """
    items, where = _feedback_items(payload)
    if not items:
        raise refuse("invalid_payload", "feedback", "at least one item", "none", _FEEDBACK)
    if len(items) > max_items:
        raise refuse(
            "too_many_items",
            "feedback",
            f"at most {max_items:,} items",
            f"{len(items):,}",
            "Split them over several requests.",
            status=413,
        )
    parsed = [_feedback_item(item, where(i)) for i, item in enumerate(items)]
    first: dict[str, int] = {}
    for i, item in enumerate(parsed):
        j = first.setdefault(item.request_id, i)
        if j != i:
            raise refuse(
                "duplicate_request_id",
                _join(where(i), "request_id"),
                "each request id once",
                f"{item.request_id!r} again, after {where(j)}",
                "Send a request's truth and reward in one item.",
            )
    return parsed


_FEEDBACK = 'Send {"request_id": "...", "truth": ...} and/or "reward": a number.'


def _feedback_items(payload: Any) -> tuple[list[Any], Callable[[int], str]]:
    if isinstance(payload, list):
        return payload, "[{}]".format
    if isinstance(payload, dict) and "feedback" in payload:
        if not isinstance(payload["feedback"], list):
            raise refuse(
                "wrong_type",
                "feedback",
                "a list of feedback items",
                describe(payload["feedback"]),
                _FEEDBACK,
            )
        return payload["feedback"], "feedback[{}]".format
    if isinstance(payload, dict):
        return [payload], lambda i: ""
    raise refuse(
        "invalid_payload", "body", "an object or a list of objects", describe(payload), _FEEDBACK
    )


def _feedback_item(item: Any, where: str) -> FeedbackItem:
    if not isinstance(item, dict):
        raise refuse(
            "wrong_type", where, "an object with a 'request_id'", describe(item), _FEEDBACK
        )
    request_id = required(item, "request_id", str, where, "the request id of a prediction")
    if not request_id:
        raise refuse(
            "missing_field",
            _join(where, "request_id"),
            "the request id of a prediction",
            "an empty string",
        )
    if "truth" not in item and "reward" not in item:
        raise refuse(
            "missing_field",
            _join(where, "truth"),
            "'truth', 'reward' or both",
            keys_of(item),
            _FEEDBACK,
            what=" is missing",
        )
    reward = _reward(item["reward"], _join(where, "reward")) if "reward" in item else None
    if "truth" in item:
        _check_truth(item["truth"], _join(where, "truth"))
    return FeedbackItem(request_id, item.get("truth"), reward, "truth" in item)


def _check_truth(value: Any, field: str) -> None:
    """Refuse a truth the store could not keep as JSON: NaN, infinities, deep nesting."""
    try:
        json.dumps(value, allow_nan=False)
    except ValueError:  # Python's json reads NaN and Infinity, which JSON has not
        received = "NaN or Infinity"
    except RecursionError:
        received = "lists or objects nested too deeply"
    else:
        return
    raise refuse(
        "invalid_value", field, "a JSON value of finite numbers", received,
        "Send null for a truth that is not known.",
    )  # fmt: skip


def _reward(value: Any, field: str) -> float:
    if type(value) not in (int, float):
        raise refuse(
            "wrong_type",
            field,
            "a finite number",
            describe(value),
            "Send a JSON number, or leave 'reward' out.",
        )
    number = float(value) if abs(value) <= FLOAT_MAX else math.inf
    if not math.isfinite(number):
        raise refuse("invalid_value", field, "a finite number", describe(value))
    return number


# --- responses ---


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
        return [json_value(value) for value in array.tolist()]
    return list(array.tolist())


def json_scalar(value: Any) -> Any:
    """A value as JSON: a Python scalar, or None for a missing or non-finite one."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def json_value(value: Any) -> Any:
    r"""``value`` as strict JSON carries it: None for NaN and infinities, text encodable.

    Dicts, lists and tuples are rebuilt (tuples as lists); numpy scalars become Python ones.

    Example:
        >>> json_value({"a": [1.5, float("nan")], "b": "\ud800"})
        {'a': [1.5, None], 'b': '\\ud800'}
    """
    if isinstance(value, dict):
        return {json_value(key): json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(item) for item in value]
    if isinstance(value, str):
        return encodable(value)
    return json_scalar(value)


def openapi(
    endpoint: str, inputs: list[dict[str, Any]], signature: dict[str, Any]
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of an endpoint's HTTP API, built by ``_openapi.py``.

    Example:
        >>> openapi("iris", [{"name": "a", "dtype": "float64"}], {"task": "regression"})["openapi"]
        '3.1.0'
    """
    from mlops_lab.serve._openapi import openapi_document  # it builds on this module

    return openapi_document(endpoint, inputs, signature)


# --- fields: where a value is in the body ---


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _row_path(suffix: str) -> FieldPath:
    return lambda i: f"instances[{i}]{suffix}"


def required(item: dict[str, Any], key: str, kind: type, where: str, expected: str) -> Any:
    """``item[key]``, refused if it is missing or not of type ``kind``."""
    field = _join(where, key)
    if key not in item:
        raise refuse("missing_field", field, expected, keys_of(item), what=" is missing")
    if not isinstance(item[key], kind):
        raise refuse("wrong_type", field, expected, describe(item[key]))
    return item[key]
