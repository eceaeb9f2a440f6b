"""Metrics and parameters as the registry stores them: plain, finite JSON.

Parameters JSON cannot hold are stored as their repr (:func:`mlops_lab._json.json_or_repr`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

from mlops_lab._json import json_or_repr
from mlops_lab.errors import parameter_error
from mlops_lab.registry._errors import RegistryError


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
    return json_or_repr(dict(params))


def _is_finite_number(value: object) -> bool:
    # bool is an int to Python, but True is no metric value.
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        return False
    return math.isfinite(float(value))
