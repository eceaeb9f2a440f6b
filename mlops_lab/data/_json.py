"""Make descriptions (profiles, prep parameters) storable as strict JSON."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd


def json_safe(value: Any) -> Any:
    """Return ``value`` as plain JSON data; what JSON cannot hold becomes its repr.

    Non-finite floats become ``None`` (strict JSON has no NaN), numpy scalars their
    Python value, timestamps ISO text and functions or classes their dotted name,
    which, unlike a repr, holds no memory address and so reads the same every run.

    Example:
        >>> json_safe({"alpha": np.float64(0.5), "bad": float("nan"), "f": len})
        {'alpha': 0.5, 'bad': None, 'f': 'builtins.len'}
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, np.generic):
        return json_safe(value.item())
    if isinstance(value, pd.Timestamp | datetime | date):
        return None if pd.isna(value) else value.isoformat()
    if isinstance(value, Mapping):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if isinstance(value, type) or (callable(value) and hasattr(value, "__qualname__")):
        return dotted_name(value)
    return repr(value)


def dotted_name(obj: Any) -> str:
    """The module and qualified name of a class or function, e.g. ``numpy.log1p``."""
    module = getattr(obj, "__module__", None) or type(obj).__module__
    qualname = getattr(obj, "__qualname__", None) or type(obj).__qualname__
    return f"{module}.{qualname}"


def dumps(value: Any) -> str:
    """Strict, compact JSON text with sorted keys, so equal values give equal text."""
    return json.dumps(json_safe(value), separators=(",", ":"), sort_keys=True, allow_nan=False)
