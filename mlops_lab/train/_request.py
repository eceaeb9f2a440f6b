"""Check a tuning request whole, before any trial starts."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.metrics import get_scorer_names

from mlops_lab.data._errors import LISTED
from mlops_lab.errors import listing, parameter_error
from mlops_lab.train._fit import is_iterative
from mlops_lab.train._space import TuneError, check_space, expand

SEARCHES = ("grid", "random")
SCHEDULERS = ("asha", None)


@dataclass(frozen=True)
class TuneRequest:
    """A validated request: the estimator, its configurations and the data."""

    estimator: BaseEstimator
    configs: list[dict[str, Any]]
    X: Any
    y: Any
    dataset: str | None
    metric: str
    mode: str
    search: str
    scheduler: str | None
    cv: Any
    max_concurrent: int
    max_iter: int | None
    grace_period: int
    reduction_factor: float
    name: str
    seed: int


def build_request(
    estimator: Any, param_space: Any, data: tuple[Any, Any], *, dataset: str | None,
    metric: str, mode: str, search: str, num_samples: int, cv: Any, scheduler: str | None,
    max_concurrent: int, max_iter: int, name: str | None, seed: int, grace_period: int = 1,
    reduction_factor: float = 3,
) -> TuneRequest:  # fmt: skip
    """Validate every argument of ``tune()``; raise :class:`TuneError` on the first wrong one."""
    if not isinstance(estimator, BaseEstimator):
        must = "be a scikit-learn estimator or Pipeline"
        raise TuneError(parameter_error("estimator", "tune()", must, type(estimator).__name__))
    _one_of("metric", metric, sorted(get_scorer_names()))
    _one_of("mode", mode, ["max", "min"])
    _one_of("search", search, list(SEARCHES))
    _one_of("scheduler", scheduler, list(SCHEDULERS))
    for label, value in (
        ("num_samples", num_samples), ("max_concurrent", max_concurrent), ("max_iter", max_iter),
        ("grace_period", grace_period),
    ):  # fmt: skip
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise TuneError(parameter_error(label, "tune()", "be an integer >= 1", repr(value)))
    if grace_period > max_iter:
        must = f"be at most max_iter ({max_iter}): ASHA cannot wait longer than a trial runs"
        raise TuneError(parameter_error("grace_period", "tune()", must, repr(grace_period)))
    if (
        isinstance(reduction_factor, bool)
        or not isinstance(reduction_factor, int | float)
        or not (reduction_factor > 1)
    ):
        must = "be a number above 1 (ASHA keeps one trial in that many at each rung)"
        raise TuneError(parameter_error("reduction_factor", "tune()", must, repr(reduction_factor)))
    if isinstance(cv, int) and cv < 2:
        raise TuneError(parameter_error("cv", "tune()", "be at least 2", repr(cv)))
    if scheduler == "asha" and not is_iterative(estimator):
        raise TuneError(
            "scheduler='asha' stops trials early, which needs an estimator that trains in "
            "steps (partial_fit, or warm_start with n_estimators or boosting rounds); "
            f"{type(estimator).__name__} does not. Use scheduler=None."
        )
    check_space(estimator, param_space, search)
    X, y = data
    if len(X) < 2 or len(X) != len(y):
        raise TuneError(
            "The data must have at least 2 rows and as many targets as rows; "
            f"got {len(X)} rows and {len(y)} targets."
        )
    return TuneRequest(
        estimator=estimator,
        configs=expand(param_space, search, num_samples, seed),
        X=X, y=y, dataset=dataset, metric=metric, mode=mode, search=search,
        scheduler=scheduler, cv=cv, max_concurrent=max_concurrent,
        max_iter=max_iter if scheduler == "asha" else None,
        grace_period=grace_period, reduction_factor=reduction_factor,
        name=name or type(estimator).__name__,
        seed=seed,
    )  # fmt: skip


def split_target(frame: pd.DataFrame, target: str | None, source: str) -> tuple[Any, Any]:
    """Split a frame into features and target, naming the columns when the target is absent."""
    if target is None:
        raise TuneError(
            f"{source} has no target column. Register the dataset with target=..., or pass "
            "target='column' to tune()."
        )
    if target not in frame.columns:
        raise TuneError(
            f"The target column '{target}' is not in {source}. "
            f"Its columns are: {listing(frame.columns, LISTED)}."
        )
    return frame.drop(columns=[target]), frame[target]


def _one_of(label: str, value: Any, allowed: list[Any]) -> None:
    if value in allowed:
        return
    shown = [a for a in allowed if isinstance(a, str)]
    close = difflib.get_close_matches(str(value), shown, n=3)
    if close and len(allowed) > 10:  # of a long list (the scorers) the closest say more
        must = f"be one of {close!r} (closest matches)"
    else:
        must = f"be one of {allowed!r}"
    raise TuneError(parameter_error(label, "tune()", must, repr(value)))
