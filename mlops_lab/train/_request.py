"""Check a tuning request whole, before any trial starts."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.metrics import get_scorer_names

from mlops_lab._options import TUNE, value_error
from mlops_lab.data._errors import LISTED
from mlops_lab.errors import listing, parameter_error
from mlops_lab.train._fit import is_iterative
from mlops_lab.train._space import TuneError, check_space, expand


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


@dataclass(frozen=True)
class Given:
    """A tuning request as given, before any check: what each rule looks at."""

    estimator: Any
    param_space: Any
    X: Any
    y: Any
    options: Mapping[str, Any]


#: A rule of a request: what is wrong with it, or None when the rule holds.
Rule = Callable[[Given], str | None]


def estimator_is_an_estimator(given: Given) -> str | None:
    """The estimator is a scikit-learn estimator or Pipeline."""
    if isinstance(given.estimator, BaseEstimator):
        return None
    must = "be a scikit-learn estimator or Pipeline"
    return parameter_error("estimator", "tune()", must, type(given.estimator).__name__)


def metric_is_a_scorer(given: Given) -> str | None:
    """The metric names a scikit-learn scorer; a wrong one is shown its closest names."""
    metric = given.options["metric"]
    scorers = sorted(get_scorer_names())
    if metric in scorers:
        return None
    close = difflib.get_close_matches(str(metric), scorers, n=3)
    must = f"be one of {close!r} (closest matches)" if close else f"be one of {scorers!r}"
    return parameter_error("metric", "tune()", must, repr(metric))


def declared(name: str) -> Rule:
    """The rule declared with the option ``name`` in ``TUNE``: its choices or its check."""

    def rule(given: Given) -> str | None:
        return value_error(TUNE, name, given.options[name])

    rule.__name__ = rule.__qualname__ = f"declared_{name}"
    rule.__doc__ = f"The {name} option follows its declared rule."
    return rule


def grace_period_within_max_iter(given: Given) -> str | None:
    """ASHA's grace period is no longer than a trial runs."""
    grace_period, max_iter = given.options["grace_period"], given.options["max_iter"]
    if grace_period <= max_iter:
        return None
    must = f"be at most max_iter ({max_iter}): ASHA cannot wait longer than a trial runs"
    return parameter_error("grace_period", "tune()", must, repr(grace_period))


def asha_has_an_iterative_estimator(given: Given) -> str | None:
    """ASHA stops trials between steps, so its estimator must train in steps."""
    if given.options["scheduler"] != "asha" or is_iterative(given.estimator):
        return None
    return (
        "scheduler='asha' stops trials early, which needs an estimator that trains in "
        "steps (partial_fit, or warm_start with n_estimators or boosting rounds); "
        f"{type(given.estimator).__name__} does not. Use scheduler=None."
    )


def space_fits_the_estimator(given: Given) -> str | None:
    """The parameter space names parameters of the estimator, with values the search takes."""
    try:
        check_space(given.estimator, given.param_space, given.options["search"])
    except TuneError as exc:
        return str(exc)
    return None


def data_has_rows_and_targets(given: Given) -> str | None:
    """The data has at least 2 rows and one target per row."""
    if len(given.X) >= 2 and len(given.X) == len(given.y):
        return None
    return (
        "The data must have at least 2 rows and as many targets as rows; "
        f"got {len(given.X)} rows and {len(given.y)} targets."
    )


#: The rules of a tuning request, in the order they are checked; the first that fails is
#: the error. Rules about one option come first, then those that relate options and data.
RULES: tuple[Rule, ...] = (
    estimator_is_an_estimator,
    metric_is_a_scorer,
    declared("mode"),
    declared("search"),
    declared("scheduler"),
    declared("num_samples"),
    declared("max_concurrent"),
    declared("max_iter"),
    declared("grace_period"),
    grace_period_within_max_iter,
    declared("reduction_factor"),
    declared("cv"),
    asha_has_an_iterative_estimator,
    space_fits_the_estimator,
    data_has_rows_and_targets,
)


def build_request(
    estimator: Any, param_space: Any, data: tuple[Any, Any], *, dataset: str | None,
    options: Mapping[str, Any],
) -> TuneRequest:  # fmt: skip
    """Check a request by every rule of :data:`RULES`, in order.

    Args:
        estimator: What ``tune()`` was given to tune.
        param_space: The parameter space it was given.
        data: The features and the target.
        dataset: The registered dataset the data came from, if any.
        options: Every option of ``TUNE`` (see :func:`mlops_lab._options.resolve`), with
            ``max_concurrent`` a number of trials.

    Raises:
        TuneError: the problem the first failing rule names; nothing has started.
    """
    X, y = data
    given = Given(estimator, param_space, X, y, options)
    for rule in RULES:
        problem = rule(given)
        if problem is not None:
            raise TuneError(problem)
    scheduler = options["scheduler"]
    return TuneRequest(
        estimator=estimator,
        configs=expand(param_space, options["search"], options["num_samples"], options["seed"]),
        X=X, y=y, dataset=dataset, metric=options["metric"], mode=options["mode"],
        search=options["search"], scheduler=scheduler, cv=options["cv"],
        max_concurrent=options["max_concurrent"],
        max_iter=options["max_iter"] if scheduler == "asha" else None,
        grace_period=options["grace_period"], reduction_factor=options["reduction_factor"],
        name=options["name"] or type(estimator).__name__,
        seed=options["seed"],
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
