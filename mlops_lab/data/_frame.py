"""Turn what users pass to register() into one checked DataFrame, or refuse it.

Accepted: a DataFrame (``target`` names one of its columns), a 2-D array or a list of
rows (columns ``x0..xN``; ``target`` holds one value per row, stored as ``target``) and a
tuple ``(X, y)``. The index is dropped: a dataset is its columns and rows, in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mlops_lab.data._errors import LISTED, bad_parameter
from mlops_lab.errors import listing

ARRAY_TARGET = "target"
KINDS = ("numeric", "categorical", "boolean", "datetime")
_TARGET_FIX = {
    "register": "To give target values instead, pass data=(X, y).",
    "derive": "Keep the target column in the prep's output, or pass target=None.",
}
_DATA_MUST = "be a pandas DataFrame, a 2-D numpy array, a list of rows or a tuple (X, y)"


def check_name(name: object, caller: str) -> str:
    """Refuse a dataset name that would be ambiguous in a ``name@version`` reference."""
    if not isinstance(name, str) or not name or "@" in name or any(c.isspace() for c in name):
        raise bad_parameter(
            "name", caller, "be non-empty text without '@' or whitespace", repr(name),
            fix="Use a name such as 'iris' or 'churn-2026'; versions are added as name@version.",
        )  # fmt: skip
    return name


def to_frame(data: Any, target: Any, caller: str) -> tuple[pd.DataFrame, str | None]:
    """Return the data as a checked DataFrame with a fresh index, and its target column.

    Raises:
        DatasetError: the data or target is of an unsupported kind, empty, has duplicate
            or non-text column names, or a column of a type the registry cannot describe.
    """
    if isinstance(data, pd.DataFrame):
        frame, target_name = _from_frame(data, target, caller)
    elif isinstance(data, tuple) and len(data) == 2:
        frame, target_name = _from_pair(data, target, caller)
    elif isinstance(data, np.ndarray | list):
        frame = _features(data, caller)
        target_name = _attach_array_target(frame, target, caller, ARRAY_TARGET, "target")
    else:
        raise bad_parameter("data", caller, _DATA_MUST, type(data).__name__)
    _check_shape(frame, caller)
    _check_kinds(frame, caller)
    return frame, target_name


def column_kind(column: pd.Series) -> str | None:
    """Say what a column holds: one of :data:`KINDS`, or ``None`` when unsupported."""
    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype | pd.StringDtype):
        return "categorical"
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype):
        return "numeric"
    # Object columns are accepted only when they hold text (or nothing at all).
    text = pd.api.types.is_object_dtype(dtype) and _holds_text(column)
    return "categorical" if text else None


def _holds_text(column: pd.Series) -> bool:
    return pd.api.types.infer_dtype(column, skipna=True) in ("string", "empty")


def _from_frame(data: pd.DataFrame, target: Any, caller: str) -> tuple[pd.DataFrame, str | None]:
    frame = data.reset_index(drop=True)
    _check_names(frame, caller)
    if target is not None and (not isinstance(target, str) or target not in frame.columns):
        raise bad_parameter(
            "target", caller, "name a column of the data",
            repr(target) if isinstance(target, str) else type(target).__name__,
            f"columns are: {listing(frame.columns, LISTED)}",
            _TARGET_FIX.get(caller, ""),
        )  # fmt: skip
    return frame, target


def _from_pair(data: tuple[Any, Any], target: Any, caller: str) -> tuple[pd.DataFrame, str | None]:
    if target is not None:
        raise bad_parameter(
            "target", caller, "be None when data is a tuple (X, y), whose y is the target",
            repr(target),
        )  # fmt: skip
    features, labels = data
    if isinstance(features, pd.DataFrame):
        frame = features.reset_index(drop=True)
        _check_names(frame, caller)
    elif isinstance(features, np.ndarray | list):
        frame = _features(features, caller)
    else:
        raise bad_parameter(
            "data", caller, _DATA_MUST, f"a tuple whose X is a {type(features).__name__}"
        )
    named = isinstance(labels, pd.Series) and isinstance(labels.name, str) and labels.name
    return frame, _attach_array_target(frame, labels, caller, named or ARRAY_TARGET, "data")


def _features(data: np.ndarray | list[Any], caller: str) -> pd.DataFrame:
    if isinstance(data, np.ndarray) and data.ndim != 2:
        raise bad_parameter(
            "data", caller, "be 2-D when it is an array (rows by columns)",
            f"an array of shape {data.shape}",
            fix="Reshape it, e.g. x.reshape(-1, 1) for a single feature.",
        )  # fmt: skip
    if isinstance(data, list):
        _check_rows(data, caller)
    frame = pd.DataFrame(data)
    frame.columns = [f"x{i}" for i in range(frame.shape[1])]
    return frame


def _check_rows(rows: list[Any], caller: str) -> None:
    """Each row a sequence of values (not text, not a dict), all of one length."""
    for number, row in enumerate(rows):
        if not isinstance(row, Sequence | np.ndarray) or isinstance(row, str | bytes):
            raise bad_parameter(
                "data", caller, "be a list of rows (lists, tuples or 1-D arrays) when a list",
                f"row {number} of type {type(row).__name__}",
                fix="For a list of dicts, pass pd.DataFrame(rows).",
            )  # fmt: skip
    lengths = sorted({len(row) for row in rows})
    if len(lengths) > 1:
        raise bad_parameter(
            "data", caller, "have rows of one length", f"rows of lengths {listing(lengths, LISTED)}"
        )


def _attach_array_target(
    frame: pd.DataFrame, target: Any, caller: str, name: str, param: str
) -> str | None:
    """Store target values as column ``name``; ``param`` is where they came from."""
    if target is None:
        return None
    which = "a y of " if param == "data" else ""
    if isinstance(target, str) or np.ndim(target) != 1:
        raise bad_parameter(
            param, caller, "give 1-D target values (one per row) when data is not a DataFrame",
            repr(target) if isinstance(target, str) else f"{which}shape {np.shape(target)}",
            fix="To name a target column, pass a DataFrame; for a 2-D y use y.ravel().",
        )  # fmt: skip
    if name in frame.columns:
        raise bad_parameter(
            param, caller, "give a target named unlike the feature columns",
            f"a target named {name!r}, like a column of X",
            fix="Rename y first, e.g. y.rename('label').",
        )  # fmt: skip
    values = pd.Series(target).reset_index(drop=True)
    if len(values) != len(frame):
        raise bad_parameter(
            param, caller, "give one target value per row of the data",
            f"{which}{len(values)} values for {len(frame)} rows",
        )  # fmt: skip
    frame[name] = values
    return name


def _check_names(frame: pd.DataFrame, caller: str) -> None:
    not_text = [name for name in frame.columns if not isinstance(name, str)]
    if not_text:
        raise bad_parameter(
            "data", caller, "have text column names",
            f"{not_text[0]!r} ({type(not_text[0]).__name__})",
            fix="Rename the columns, e.g. df.columns = [f'x{i}' for i in range(df.shape[1])], "
            "or pass df.to_numpy() to get columns x0..xN.",
        )  # fmt: skip
    duplicated = frame.columns[frame.columns.duplicated()].unique().tolist()
    if duplicated:
        raise bad_parameter(
            "data", caller, "have unique column names",
            f"{listing((repr(name) for name in duplicated), LISTED)} more than once",
            fix="Rename or drop the duplicate columns first.",
        )  # fmt: skip


def _check_shape(frame: pd.DataFrame, caller: str) -> None:
    rows, columns = frame.shape
    if not rows or not columns:
        raise bad_parameter(
            "data", caller, "hold at least one row and one column",
            f"{rows} rows and {columns} columns",
        )  # fmt: skip


def _check_kinds(frame: pd.DataFrame, caller: str) -> None:
    for name in frame.columns:
        if column_kind(frame[name]) is None:
            raise bad_parameter(
                "data", caller, "hold numbers, booleans, datetimes, text or categories",
                f"column {name!r} of dtype {frame[name].dtype}",
                fix=f"Convert it first, e.g. df[{name!r}] = df[{name!r}].astype(str) "
                "(or astype(float)).",
            )  # fmt: skip
