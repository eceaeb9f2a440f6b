r"""The lab's rules for turning Python values into JSON, each a function named for its rule.

Where a value goes decides what JSON may hold of it, so there is one rule for each place:

- :func:`strict_json`: a response or a prediction. NaN, infinities and missing values are
  ``null``, numpy scalars Python ones, and text is made :func:`~mlops_lab._text.encodable`.
- :func:`json_or_repr`: a model's parameters in the registry. Non-finite floats and values
  JSON cannot hold are stored as their repr (``'nan'``, ``"SVC()"``); small arrays as lists.
- :func:`json_or_name`: the descriptions of a dataset (profile, prep, schema), which are
  hashed. Non-finite floats are ``null``, dates ISO text, classes and functions their dotted
  name (a repr's memory address would change the text every run), anything else its repr.
- :func:`encodable_value`: text from the outside. Every string, keys included, is made
  encodable, and nothing else is touched. JSON text that :func:`may_escape_surrogate` says
  holds no surrogate escape decodes to values that need no such walk.

They walk dicts, lists and tuples (tuples become lists) in one way, :func:`_rebuilt`, and
differ only in what they make of a single value. This module imports numpy and pandas, and
nothing of Ray, DuckDB or a web or notebook library: the pure packages use it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from mlops_lab._text import encodable

# Larger arrays (initial weights, fitted-looking parameters) are summarised by their repr
# rather than stored element by element in every row.
_MAX_ARRAY_SIZE = 1000
# A lone UTF-16 surrogate reaches decoded JSON only through an escape \uD800-\uDFFF.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE_ESCAPE_BYTES = re.compile(_SURROGATE_ESCAPE.pattern.encode("ascii"))


def strict_json(value: Any) -> Any:
    r"""``value`` as strict JSON carries it: None for NaN, infinities and missing values.

    Dicts, lists and tuples are rebuilt (tuples as lists), numpy scalars become Python
    ones and text is made encodable; any other object is left for the encoder to refuse.

    Example:
        >>> strict_json({"a": [1.5, float("nan")], "b": "\ud800", "n": np.int64(2)})
        {'a': [1.5, None], 'b': '\\ud800', 'n': 2}
    """
    return _rebuilt(value, _strict_scalar, _strict_scalar)


def json_or_repr(value: Any) -> Any:
    """``value`` as plain JSON, with anything JSON cannot hold (NaN too) as its repr.

    Applying it twice changes nothing. Arrays of up to 1000 elements become lists.

    Example:
        >>> json_or_repr({"C": np.float64(0.5), "steps": ("scale", None), "f": np.log1p})
        {'C': 0.5, 'steps': ['scale', None], 'f': "<ufunc 'log1p'>"}
        >>> json_or_repr([float("nan"), float("inf")])
        ['nan', 'inf']
    """
    return _rebuilt(value, _repr_scalar, str)


def json_or_name(value: Any) -> Any:
    """``value`` as plain JSON; classes and functions by name, anything else unknown by repr.

    Non-finite floats become ``None`` (strict JSON has no NaN), numpy scalars their Python
    value, timestamps ISO text and functions or classes their dotted name, which, unlike a
    repr, holds no memory address and so reads the same every run.

    Example:
        >>> json_or_name({"alpha": np.float64(0.5), "bad": float("nan"), "f": len})
        {'alpha': 0.5, 'bad': None, 'f': 'builtins.len'}
    """
    return _rebuilt(value, _named_scalar, str)


def encodable_value(value: Any) -> Any:
    r"""``value`` with every string in it (dict keys included) made encodable.

    Dicts and lists are rebuilt (tuples as lists); anything else comes back as it is.

    Example:
        >>> encodable_value({"\ud800": ["ok", "\udfff"]})
        {'\\ud800': ['ok', '\\udfff']}
    """
    return _rebuilt(value, _encodable_scalar, _encodable_scalar)


def may_escape_surrogate(text: str | bytes) -> bool:
    r"""Whether JSON ``text`` holds an escape of a UTF-16 surrogate (``\ud800``-``\udfff``).

    Only such an escape decodes to a string UTF-8 cannot encode, so the values of JSON
    without one need no :func:`encodable_value` walk.

    Example:
        >>> may_escape_surrogate(b'{"k": "\\ud800"}'), may_escape_surrogate('{"k": "\\u00e9"}')
        (True, False)
    """
    if isinstance(text, bytes):
        return _SURROGATE_ESCAPE_BYTES.search(text) is not None
    return _SURROGATE_ESCAPE.search(text) is not None


def canonical_json(value: Any) -> str:
    """:func:`json_or_name` as compact JSON text with sorted keys: equal values, equal text.

    Example:
        >>> canonical_json({"b": 1, "a": [float("nan")]})
        '{"a":[null],"b":1}'
    """
    return json.dumps(json_or_name(value), separators=(",", ":"), sort_keys=True, allow_nan=False)


def dotted_name(obj: Any) -> str:
    """The module and qualified name of a class or function, e.g. ``numpy.log1p``.

    Example:
        >>> dotted_name(json.dumps)
        'json.dumps'
    """
    module = getattr(obj, "__module__", None) or type(obj).__module__
    qualname = getattr(obj, "__qualname__", None) or type(obj).__qualname__
    return f"{module}.{qualname}"


def _rebuilt(value: Any, scalar: Callable[[Any], Any], key: Callable[[Any], Any]) -> Any:
    """Dicts, lists and tuples rebuilt with ``key`` for their keys, ``scalar`` for the rest."""
    if isinstance(value, dict):
        return {key(name): _rebuilt(item, scalar, key) for name, item in value.items()}
    if isinstance(value, list | tuple):
        return [_rebuilt(item, scalar, key) for item in value]
    return scalar(value)


def _encodable_scalar(value: Any) -> Any:
    return encodable(value) if isinstance(value, str) else value


def _strict_scalar(value: Any) -> Any:
    if isinstance(value, str):
        return encodable(value)
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _repr_scalar(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, np.generic):
        item = value.item()
        return repr(value) if isinstance(item, np.generic) else json_or_repr(item)
    if isinstance(value, Mapping):
        return json_or_repr(dict(value))
    if isinstance(value, np.ndarray) and value.size <= _MAX_ARRAY_SIZE:
        return json_or_repr(value.tolist())
    return repr(value)


def _named_scalar(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, np.generic):
        return json_or_name(value.item())
    if isinstance(value, pd.Timestamp | datetime | date):
        return None if pd.isna(value) else value.isoformat()
    if isinstance(value, Mapping):
        return json_or_name(dict(value))
    if isinstance(value, type) or (callable(value) and hasattr(value, "__qualname__")):
        return dotted_name(value)
    return repr(value)
