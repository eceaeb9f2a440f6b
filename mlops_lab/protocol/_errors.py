"""The error of a refused request, its one message template, and how messages show values.

Every refusal of the serving API is a :class:`RequestError` built by :func:`refuse`: a 4xx
whose JSON body says where in the body the fault is, what was expected and what was received.
"""

from __future__ import annotations

import functools
import json
import math
from typing import Any

from mlops_lab._text import encodable
from mlops_lab.errors import LabError, listing


class RequestError(LabError):
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


def refuse(
    code: str,
    field: str,
    expected: str,
    received: str,
    fix: str = "",
    *,
    what: str = "",
    status: int = 400,
) -> RequestError:
    """The one error template: where, what was expected and received, how to fix it."""
    message = f"{field}{what}: expected {expected}, got {received}." + (f" {fix}" if fix else "")
    return RequestError(status, code, message, field=field, expected=expected, received=received)


# --- messages ---


def describe(value: Any) -> str:
    """A JSON value as messages show it: "null", "the string 'abc'", "a list of 3 values"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, int) and value.bit_length() > 128:  # repr refuses very long ints
        return f"a {value.bit_length()}-bit whole number"
    if isinstance(value, int | float):
        return f"the number {shown(value)}"
    if isinstance(value, str):
        return f"the string {shown(value)}"
    if isinstance(value, list):
        return f"a list of {plural(len(value), 'value')}"
    if isinstance(value, dict):
        return f"an object with {keys_of(value)}"
    return f"a {type(value).__name__}"


def shown(value: Any, limit: int = 40) -> str:
    """A value as messages quote it, cut to ``limit`` characters."""
    text = json.dumps(value) if isinstance(value, list) else repr(value)  # lists: of sizes
    return text if len(text) <= limit else text[: limit - 3] + "..."


def keys_of(item: dict[str, Any]) -> str:
    """The keys of an object, for a message: "keys 'a', 'b'" or "no keys"."""
    return f"keys {listing([repr(key) for key in item])}" if item else "no keys"


def plural(count: int, noun: str) -> str:
    """A count and its noun: "1 value", "3 values"."""
    return f"{count} {noun}{'' if count == 1 else 's'}"
