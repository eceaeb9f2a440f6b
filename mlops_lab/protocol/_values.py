"""The values of each feature: which JSON values it takes and the column they become.

A feature's declared pandas dtype says which JSON values it takes (numbers, whole numbers,
booleans or strings) and the dtype its column becomes. Values are checked a column at a time
with numpy, so checking costs little next to decoding the JSON; a value that does not fit is
refused with a :class:`~mlops_lab.protocol.RequestError` naming where it was in the body.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlops_lab.errors import listing
from mlops_lab.protocol._errors import RequestError, describe, refuse

FieldPath = Callable[[int], str]  # row index -> where that row's value is in the body

FLOAT_MAX = float(np.finfo(np.float64).max)


@dataclass(frozen=True)
class FeatureKind:
    """How one feature's JSON values are checked, and the dtype its column is cast to."""

    kind: str  # "number", "integer", "boolean" or "string"
    target: Any  # the numpy or pandas dtype of the column
    label: str  # the dtype as declared, for messages

    @property
    def expected(self) -> str:
        """What a value must be, as messages say it: "a number (float64)"."""
        return f"{_KINDS[self.kind][0]} ({self.label})"


# kind -> what a value must be, how to fix one that is not, the JSON types taken, an example
_KINDS: dict[str, tuple[str, str, frozenset[type], Any]] = {
    "number": ("a number", "Send a JSON number.", frozenset({int, float}), 1.5),
    "integer": ("a whole number", "Send a whole number such as 3.", frozenset({int, float}), 1),
    "boolean": ("true or false", "Send true or false, without quotes.", frozenset({bool}), True),
    "string": ("a string", "Send a JSON string.", frozenset({str}), "text"),
}


@functools.lru_cache(maxsize=256)
def feature_kind(dtype: str | None) -> FeatureKind:
    """The kind of a feature of declared pandas ``dtype``; an unknown dtype takes numbers.

    Example:
        >>> feature_kind("int32").expected
        'a whole number (int32)'
    """
    try:
        target = pd.api.types.pandas_dtype(dtype) if dtype is not None else None
    except (TypeError, ValueError):
        target = None
    if target is None:
        return FeatureKind("number", np.dtype(np.float64), "float64")
    kinds = {"i": "integer", "u": "integer", "f": "number", "b": "boolean"}
    return FeatureKind(kinds.get(target.kind, "string"), target, str(dtype))


def example_row(inputs: list[dict[str, Any]]) -> list[Any]:
    """A row of example values, one per feature, that the features accept."""
    return [_KINDS[feature_kind(feature.get("dtype")).kind][3] for feature in inputs]


def check_names(
    given: list[str], names: list[str], where: str, field: Callable[[str], str]
) -> None:
    """Refuse a name that is not a feature (with a did-you-mean), then a missing feature."""
    for name in given:
        if name not in names:
            close = difflib.get_close_matches(name, names, n=1)
            raise refuse(
                "unknown_feature",
                field(name),
                f"features {listing(names)}",
                repr(name),
                f"Did you mean '{close[0]}'?" if close else "Send only those.",
                what=" names an unknown feature",
            )
    for name in names:
        if name not in given:
            received = f"features {listing(given)}" if given else "no features"
            raise refuse(
                "missing_feature",
                field(name),
                f"features {listing(names)}",
                received,
                "Send every feature.",
                what=" is missing" if field(name) != where else f" lacks feature '{name}'",
            )


# --- values: one column at a time, cast to the declared dtype ---


def frame_of(
    inputs: list[dict[str, Any]], columns: list[list[Any]], paths: list[FieldPath], rows: int
) -> pd.DataFrame:
    """The DataFrame of checked ``columns``; ``paths`` say where each value came from."""
    data = {}
    for feature, values, path in zip(inputs, columns, paths, strict=True):
        name = str(feature["name"])
        data[name] = _column(values, name, feature_kind(feature.get("dtype")), path)
    arrays = list(data.values())
    if arrays and all(isinstance(a, np.ndarray) and a.dtype == arrays[0].dtype for a in arrays):
        # One dtype (all float64, say): one block, built in half the time of a dict's.
        return pd.DataFrame(np.column_stack(arrays), columns=list(data))
    return pd.DataFrame(data, index=pd.RangeIndex(rows))


def _column(values: list[Any], name: str, kind: FeatureKind, path: FieldPath) -> Any:
    types = set(map(type, values))  # exact types: bool is not taken for a number
    accepts = _KINDS[kind.kind][2]
    if not types <= accepts:
        i = next(i for i, value in enumerate(values) if type(value) not in accepts)
        raise _bad_value("wrong_type", name, kind, values[i], path(i))
    if kind.kind in ("number", "integer"):
        return _numbers(values, float in types, name, kind, path)
    try:
        return _cast(values, kind.target)
    except (TypeError, ValueError):  # text that a datetime (or other) dtype cannot read
        i = next(i for i, value in enumerate(values) if not _casts(value, kind.target))
        raise _bad_value("invalid_value", name, kind, values[i], path(i)) from None


def _numbers(
    values: list[Any], has_floats: bool, name: str, kind: FeatureKind, path: FieldPath
) -> Any:
    try:
        array = np.array(values, dtype=np.float64)
    except OverflowError:  # a whole number beyond float64
        i = next(i for i, value in enumerate(values) if abs(value) > FLOAT_MAX)
        raise _out_of_range(name, kind, values[i], path(i)) from None
    finite = np.isfinite(array)
    if not finite.all():
        i = int(np.argmin(finite))
        fix = f"{describe(values[i])} is not allowed for feature '{name}'; fill in missing values."
        raise _bad_value(
            "invalid_value", name, kind, values[i], path(i), f"a finite number ({kind.label})", fix
        )
    storage = _storage(kind)
    if kind.kind == "integer":
        if has_floats:
            fractional = array != np.trunc(array)
            if fractional.any():
                i = int(np.argmax(fractional))
                raise _bad_value("wrong_type", name, kind, values[i], path(i))
            values = [int(value) for value in values]
        # Bounds on the exact Python ints: float64 cannot tell 2**63 - 1 from 2**63.
        info = np.iinfo(storage)
        if min(values) < info.min or max(values) > info.max:
            i = next(i for i, value in enumerate(values) if not info.min <= value <= info.max)
            raise _out_of_range(name, kind, values[i], path(i))
        return _cast(np.array(values, dtype=storage), kind.target)
    if storage == array.dtype:
        return _cast(array, kind.target)
    with np.errstate(over="ignore"):
        narrowed = array.astype(storage)
    if not np.isfinite(narrowed).all():  # beyond float32 or float16
        i = int(np.argmin(np.isfinite(narrowed)))
        raise _out_of_range(name, kind, values[i], path(i))
    return _cast(narrowed, kind.target)


def _storage(kind: FeatureKind) -> np.dtype:
    """The numpy dtype behind a numeric kind (pandas' Int64 and Float64 have one too)."""
    return np.dtype(getattr(kind.target, "numpy_dtype", kind.target))


def _cast(values: Any, target: Any) -> Any:
    if isinstance(target, np.dtype):
        return np.asarray(values, dtype=target)
    return pd.array(values, dtype=target)


def _casts(value: Any, target: Any) -> bool:
    try:
        _cast([value], target)
    except (TypeError, ValueError):
        return False
    return True


def _out_of_range(name: str, kind: FeatureKind, value: Any, field: str) -> RequestError:
    storage = _storage(kind)
    if kind.kind == "integer":
        low, high = str(np.iinfo(storage).min), str(np.iinfo(storage).max)
    else:
        low, high = f"{np.finfo(storage).min:.4g}", f"{np.finfo(storage).max:.4g}"
    expected = f"{_KINDS[kind.kind][0]} from {low} to {high} ({kind.label})"
    return _bad_value("invalid_value", name, kind, value, field, expected, "Send one in range.")


def _bad_value(
    code: str,
    name: str,
    kind: FeatureKind,
    value: Any,
    field: str,
    expected: str | None = None,
    fix: str | None = None,
) -> RequestError:
    return refuse(
        code,
        field,
        expected or kind.expected,
        describe(value),
        fix or _KINDS[kind.kind][1],
        what=f" (feature '{name}')",
    )
