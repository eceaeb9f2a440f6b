"""Business metrics declared per endpoint: a SQL aggregate, or a Python function per decision.

A SQL metric is an aggregate expression over the window's served requests joined with their
latest feedback, with the columns ``request_id, time, model, model_version, features,
prediction, latency_ms, truth, reward`` (``features``, ``prediction`` and ``truth`` are
JSON), e.g. ``avg(CASE WHEN prediction = truth THEN 10 ELSE -5 END)``. It runs as one
read-only query per window, grouped by model version; a statement that would write is
refused. A Python metric is a function of ``(features, prediction, truth, reward)`` giving
a number per decision (None to skip it), e.g. the profit of a decision from a cost matrix;
its value in a window is the mean. Both are computed when a window closes and again as
feedback reaches it, like accuracy.

SQL metrics are kept with the monitor's options in the store; a Python function lives in
the process that was given it (the notebook, and the monitor actor it starts).
"""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import partial
from typing import Any

import pandas as pd

from mlops_lab.errors import LabError, parameter_error
from mlops_lab.monitor._errors import MonitorError
from mlops_lab.monitor._results import Subject, error_row, result_row
from mlops_lab.monitor._windows import Window
from mlops_lab.store import StoreClient

Rows = list[dict[str, Any]]
Function = Callable[[Any, Any, Any, Any], Any]
PYTHON = "python"  # how the options record a metric given as a Python function

_WINDOW = (
    "WITH batch AS (SELECT r.request_id, r.time, r.model, r.model_version, r.features, "
    "r.prediction, r.latency_ms, f.truth, f.reward FROM requests r LEFT JOIN ("
    "SELECT request_id, arg_max(truth, seq) FILTER (WHERE truth IS NOT NULL) AS truth, "
    "arg_max(reward, seq) FILTER (WHERE reward IS NOT NULL) AS reward FROM feedback "
    "WHERE endpoint = ? GROUP BY request_id) f USING (request_id) "
    "WHERE r.endpoint = ? AND r.seq BETWEEN ? AND ? AND r.status = 200) "
)


def split_metrics(
    store: StoreClient, endpoint: str, metrics: object, reserved: tuple[str, ...]
) -> tuple[dict[str, str], dict[str, Function]]:
    """Check the declared metrics; return the SQL ones and the Python ones apart.

    Each SQL expression is run once on an empty window, so a typo or an unknown column is
    refused now, with DuckDB's reason, rather than in every pass.
    """
    if not isinstance(metrics, Mapping):
        must = "be a dict of metric names to SQL aggregate expressions or Python functions"
        raise MonitorError(parameter_error("metrics", "monitor()", must, repr(metrics)))
    sql: dict[str, str] = {}
    functions: dict[str, Function] = {}
    for name, metric in metrics.items():
        if not isinstance(name, str) or not name.isidentifier() or name in reserved:
            raise MonitorError(
                f"A business metric's name must be a word (letters, digits, _) that is no "
                f"built-in metric ({', '.join(reserved)}). Got {name!r}."
            )
        if isinstance(metric, str):
            _try_sql(store, endpoint, name, metric)
            sql[name] = metric
        elif callable(metric) and _takes_four(metric):
            functions[name] = metric
        else:
            raise MonitorError(
                f"Business metric '{name}' must be a SQL aggregate expression (text) or a "
                f"function of (features, prediction, truth, reward). Got {metric!r}."
            )
    return sql, functions


def business_metrics(
    store: StoreClient, window: Window, sql: Mapping[str, str],
    functions: Mapping[str, Function | None], *, time: datetime, seen: int,
) -> Rows:  # fmt: skip
    """Each business metric of each model version in ``window``.

    A metric that fails, or a Python metric this process was not given, is an error result.
    """
    rows: Rows = []
    if not sql and not functions:
        return rows
    joined = _window_rows(store, window)
    for (model, version), group in joined.groupby(["model", "model_version"], sort=True):
        subject = Subject(window, str(model), int(version))
        computations = {
            **{name: partial(_sql_value, store, window, expression, str(model), int(version))
               for name, expression in sql.items()},
            **{name: partial(_python_value, function, name, group)
               for name, function in functions.items()},
        }  # fmt: skip
        for name, compute in computations.items():
            rows += _guarded(subject, name, time, seen, compute)
    return rows


def _guarded(
    subject: Subject, name: str, time: datetime, seen: int,
    compute: Callable[[], tuple[float | None, dict[str, Any]]],
) -> Rows:  # fmt: skip
    try:
        value, details = compute()
    except Exception as error:  # the metric's failure is its result; the others still run
        return [error_row(subject, f"metric:{name}", error, time=time)]
    return [result_row(subject, name, value, {**details, "business": True}, time=time,
                       key=str(seen))]  # fmt: skip


def _sql_value(
    store: StoreClient, window: Window, expression: str, model: Any, version: Any
) -> tuple[float | None, dict[str, Any]]:
    result = store.query(
        _WINDOW + f"SELECT ({expression}) AS value, count(*) AS n FROM batch "
        "WHERE model = ? AND model_version = ?",
        [window.endpoint, window.endpoint, window.first_seq, window.last_seq, model, version],
    ).to_pylist()[0]
    value = result["value"]
    return (None if value is None else float(value)), {"kind": "sql", "rows": result["n"]}


def _python_value(
    function: Function | None, name: str, group: pd.DataFrame
) -> tuple[float | None, dict[str, Any]]:
    if function is None:
        raise MonitorError(
            f"Business metric '{name}' is a Python function given to the monitor in another "
            "process; give it again here with ep.monitor(metrics={...})."
        )
    values = []
    for features, prediction, truth, reward in zip(
        group["features"], group["prediction"], group["truth"], group["reward"], strict=True
    ):
        value = function(_loads(features), _loads(prediction), _loads(truth),
                         None if pd.isna(reward) else float(reward))  # fmt: skip
        if value is not None and math.isfinite(float(value)):
            values.append(float(value))
    mean = sum(values) / len(values) if values else None
    details = {"kind": PYTHON, "rows": len(group), "counted": len(values), "sum": sum(values)}
    return mean, details


def _window_rows(store: StoreClient, window: Window) -> pd.DataFrame:
    return store.query(
        _WINDOW + "SELECT * FROM batch",
        [window.endpoint, window.endpoint, window.first_seq, window.last_seq],
    ).to_pandas()


def _try_sql(store: StoreClient, endpoint: str, name: str, expression: str) -> None:
    try:
        store.query(_WINDOW + f"SELECT ({expression}) AS value FROM batch",
                    [endpoint, endpoint, 0, -1])  # fmt: skip
    except LabError as error:
        raise MonitorError(
            f"Business metric '{name}' does not run as a read-only SQL aggregate over the "
            f"window ({error}). Its columns are request_id, time, model, model_version, "
            "features, prediction, latency_ms, truth and reward."
        ) from None


def _takes_four(function: Callable[..., Any]) -> bool:
    try:
        inspect.signature(function).bind(None, None, None, None)
    except (TypeError, ValueError):
        return False
    return True


def _loads(text: Any) -> Any:
    return json.loads(text) if isinstance(text, str) else None
