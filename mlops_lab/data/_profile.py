"""What a dataset holds: its schema (dtype and kind per column) and a per-column profile."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlops_lab._json import json_or_name
from mlops_lab.data._frame import column_kind

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
TOP_VALUES = 10


def schema_of(frame: pd.DataFrame, target: str | None) -> dict[str, Any]:
    """Each column's dtype and kind, and which column is the target.

    Example:
        >>> schema_of(pd.DataFrame({"x": [1.0], "y": ["a"]}), "y")["columns"][1]
        {'name': 'y', 'dtype': 'object', 'kind': 'categorical', 'target': True}
    """
    columns = [
        {
            "name": name,
            "dtype": str(frame[name].dtype),
            "kind": column_kind(frame[name]),
            "target": name == target,
        }
        for name in frame.columns
    ]
    return {"columns": columns, "target": target}


def profile_of(frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Per column: count and nulls, then statistics that fit its kind.

    Numeric columns get mean, std, min, max and the 5/25/50/75/95% quantiles;
    categorical and boolean columns the distinct count and the ten most frequent
    values; datetime columns their first and last value. Statistics of a column with
    no values, and non-finite ones, are ``None`` (strict JSON has no NaN).
    """
    return {name: profile_column(frame[name]) for name in frame.columns}


def profile_column(column: pd.Series) -> dict[str, Any]:
    """The profile of one column (see :func:`profile_of`)."""
    present = column.dropna()
    kind = column_kind(column)
    stats: dict[str, Any] = {
        "kind": kind,
        "count": len(present),
        "nulls": len(column) - len(present),
    }
    if kind == "numeric":
        stats.update(_numeric(present.to_numpy(dtype=np.float64)))
    elif kind == "datetime":
        stats.update(dict.fromkeys(("min", "max")) if present.empty else _span(present))
    else:
        stats.update(_frequencies(present))
    return json_or_name(stats)


def _numeric(values: np.ndarray) -> dict[str, Any]:
    if not len(values):
        return dict.fromkeys(("mean", "std", "min", "max", "quantiles"))
    # Infinite or huge values overflow; the non-finite results are stored as None.
    with np.errstate(all="ignore"):
        quantiles = np.quantile(values, QUANTILES)
        return {
            "mean": float(values.mean()),
            "std": float(values.std(ddof=1)) if len(values) > 1 else None,
            "min": float(values.min()),
            "max": float(values.max()),
            "quantiles": {
                f"{round(q * 100)}%": float(v) for q, v in zip(QUANTILES, quantiles, strict=True)
            },
        }


def _span(present: pd.Series) -> dict[str, Any]:
    return {"min": present.min(), "max": present.max()}


def _frequencies(present: pd.Series) -> dict[str, Any]:
    counts = present.astype(object).value_counts(sort=False)
    # Ties are broken by the value's text, so the same data always gives the same top.
    ranked = sorted(counts.items(), key=lambda item: (-item[1], str(item[0])))
    top = [{"value": value, "count": int(count)} for value, count in ranked[:TOP_VALUES]]
    return {"distinct": len(counts), "top": top}
