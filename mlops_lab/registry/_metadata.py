"""Metrics and parameters as the registry stores them: plain, finite JSON."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

from mlops_lab.errors import parameter_error
from mlops_lab.registry._errors import RegistryError

# Larger arrays (initial weights, fitted-looking parameters) are summarised by their
# repr rather than stored element by element in every row.
_MAX_ARRAY_SIZE = 1000


def json_safe(value: Any) -> Any:
    """Turn a value into plain JSON: numbers, text, lists and dicts; anything else as repr.

    Non-finite floats become their repr too ('nan', 'inf'), since JSON has no spelling
    for them. Applying it twice changes nothing.

    Example:
        >>> json_safe({"C": np.float64(0.5), "steps": ("scale", None), "f": np.log1p})
        {'C': 0.5, 'steps': ['scale', None], 'f': "<ufunc 'log1p'>"}
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, np.generic):
        item = value.item()
        return repr(value) if isinstance(item, np.generic) else json_safe(item)
    if isinstance(value, Mapping):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if isinstance(value, np.ndarray) and value.size <= _MAX_ARRAY_SIZE:
        return json_safe(value.tolist())
    return repr(value)


def check_metrics(metrics: object) -> dict[str, float]:
    """Return the metrics as floats, refusing any that is not a finite number.

    Example:
        >>> check_metrics({"accuracy": np.float32(0.5), "n": 3})
        {'accuracy': 0.5, 'n': 3.0}
    """
    if metrics is None:
        return {}
    if not isinstance(metrics, Mapping):
        must = "be a dict of metric names to numbers, such as {'accuracy': 0.97}"
        raise RegistryError(parameter_error("metrics", "register()", must, type(metrics).__name__))
    checked = {}
    for key, value in metrics.items():
        if not isinstance(key, str) or not key:
            raise RegistryError(
                f"Metric names passed to register() must be non-empty strings. Got {key!r}."
            )
        if not _is_finite_number(value):
            raise RegistryError(
                f"The metric '{key}' passed to register() must be a finite number. Got "
                f"{value!r} ({type(value).__name__}) instead; pass e.g. {{'{key}': 0.97}}."
            )
        checked[key] = float(value)
    return checked


def model_params(model: Any, params: object) -> dict[str, Any]:
    """The parameters to store: ``params`` when given, else the model's own (not nested)."""
    if params is None:
        params = model.get_params(deep=False) if hasattr(model, "get_params") else {}
    if not isinstance(params, Mapping):
        must = "be a dict of parameter names to values, such as {'C': 1.0}"
        raise RegistryError(parameter_error("params", "register()", must, type(params).__name__))
    return json_safe(dict(params))


def _is_finite_number(value: object) -> bool:
    # bool is an int to Python, but True is no metric value.
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        return False
    return math.isfinite(float(value))
