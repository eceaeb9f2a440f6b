"""Preparation steps: describe them for lineage, check them, and apply them in derive().

A step is an sklearn transformer (anything with ``fit`` and ``transform``, Pipelines and
ColumnTransformers included) or a callable taking and returning a DataFrame.
"""

from __future__ import annotations

import hashlib
import inspect
from typing import Any

import numpy as np
import pandas as pd

from mlops_lab._json import dotted_name, json_or_name
from mlops_lab.data._errors import bad_parameter

# Attributes that hold the sub-steps of sklearn's composites; described as steps, not params.
_STEP_LISTS = ("steps", "transformers", "transformer_list")


def is_transformer(prep: object) -> bool:
    """Whether ``prep`` is used as an sklearn transformer (fit, then transform)."""
    return hasattr(prep, "fit") and (hasattr(prep, "transform") or hasattr(prep, "fit_transform"))


def check_prep(prep: object, caller: str) -> None:
    """Refuse a prep that is neither an sklearn transformer nor a callable."""
    if isinstance(prep, type) and is_transformer(prep):
        raise bad_parameter(
            "prep", caller, "be a transformer instance", f"the class {prep.__name__}",
            fix=f"Pass {prep.__name__}() instead.",
        )  # fmt: skip
    if prep is not None and not is_transformer(prep) and not callable(prep):
        raise bad_parameter(
            "prep", caller,
            "be an sklearn transformer (with fit and transform), a callable taking a "
            "DataFrame, or None", f"{type(prep).__name__} {prep!r:.60}",
        )  # fmt: skip


def describe_prep(prep: object, caller: str) -> dict[str, Any] | None:
    """A JSON description of a prep step, for the dataset's lineage.

    Example:
        >>> describe_prep(StandardScaler(), "register")["class"]
        'sklearn.preprocessing._data.StandardScaler'
    """
    check_prep(prep, caller)
    if prep is None:
        return None
    if is_transformer(prep):
        return {"type": "sklearn", **_describe_estimator(prep)}
    return {"type": "callable", **_describe_callable(prep)}


def _describe_estimator(estimator: Any) -> dict[str, Any]:
    if isinstance(estimator, str):  # "drop" and "passthrough" in ColumnTransformers
        return {"class": estimator}
    description: dict[str, Any] = {"class": dotted_name(type(estimator))}
    params = estimator.get_params(deep=False) if hasattr(estimator, "get_params") else {}
    description["params"] = json_or_name({k: v for k, v in params.items() if k not in _STEP_LISTS})
    for attribute in _STEP_LISTS:
        if hasattr(estimator, attribute) and attribute in params:
            description["steps"] = [_describe_step(step) for step in getattr(estimator, attribute)]
    return description


def _describe_step(step: tuple[Any, ...]) -> dict[str, Any]:
    name, estimator, *columns = step
    described = {"name": name, **_describe_estimator(estimator)}
    if columns:
        described["columns"] = json_or_name(columns[0])
    return described


def _describe_callable(function: Any) -> dict[str, Any]:
    source, how = _code_of(function)
    return {
        "module": getattr(function, "__module__", None) or type(function).__module__,
        "qualname": getattr(function, "__qualname__", None) or type(function).__qualname__,
        "sha256": hashlib.sha256(source).hexdigest() if source is not None else None,
        "hashed": how,
    }


def _code_of(function: Any) -> tuple[bytes | None, str | None]:
    """The callable's source, else its bytecode (e.g. defined in a REPL), else nothing."""
    try:
        return inspect.getsource(function).encode(), "source"
    except (OSError, TypeError):
        pass
    code = getattr(function, "__code__", None)
    if code is not None:
        return code.co_code, "bytecode"
    try:  # an instance with __call__: its class holds the code
        return inspect.getsource(type(function)).encode(), "source"
    except (OSError, TypeError):
        return None, None


def apply_prep(prep: Any, frame: pd.DataFrame, passthrough: str | None) -> pd.DataFrame:
    """Apply a prep step to a frame; the result is checked further by register().

    A callable gets the whole frame (so it may filter rows consistently). A transformer
    is fitted on the feature columns only; the ``passthrough`` (target) column is
    joined back untouched, and output columns keep the names the transformer reports.
    """
    if not is_transformer(prep):
        result = prep(frame.copy())
        if not isinstance(result, pd.DataFrame):
            raise bad_parameter(
                "prep", "derive", "return a DataFrame when it is a callable",
                f"a callable returning {type(result).__name__}",
                fix="Wrap the result, e.g. pd.DataFrame(values, columns=frame.columns).",
            )  # fmt: skip
        return result
    features = frame.drop(columns=[passthrough]) if passthrough else frame
    output = prep.fit_transform(features)
    if hasattr(output, "toarray"):  # a sparse matrix, e.g. from OneHotEncoder
        output = output.toarray()
    if isinstance(output, pd.DataFrame):  # set_output(transform="pandas") names its columns
        result = output.reset_index(drop=True)
    else:
        result = pd.DataFrame(np.asarray(output), columns=_output_names(prep, output))
    if passthrough:
        result = _join_target(result, frame[passthrough])
    return result


def _output_names(prep: Any, output: Any) -> list[str]:
    width = np.shape(output)[1] if np.ndim(output) == 2 else 1
    try:
        names = [str(name) for name in prep.get_feature_names_out()]
    except (AttributeError, ValueError, TypeError):
        names = []
    return names if len(names) == width else [f"x{i}" for i in range(width)]


def _join_target(result: pd.DataFrame, target: pd.Series) -> pd.DataFrame:
    if target.name in result.columns:
        raise bad_parameter(
            "prep", "derive", "leave the target column to derive()",
            f"a transformer whose output has a column named {target.name!r}",
            fix="Rename that output column, or drop the target before transforming.",
        )  # fmt: skip
    if len(result) != len(target):
        raise bad_parameter(
            "prep", "derive", "keep one output row per input row when the data has a target",
            f"{len(result)} rows from {len(target)}",
            fix="Filter rows with a callable prep instead, which sees the target.",
        )  # fmt: skip
    # Aligned on the fresh index, so the target keeps its dtype (categories included).
    return result.assign(**{str(target.name): target.reset_index(drop=True)})
