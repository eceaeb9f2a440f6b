"""A tuning request is checked by a table of rules: each passes a good request and names what
is wrong with a bad one, and build_request raises the first failure."""

from __future__ import annotations

from typing import Any

import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.neighbors import KNeighborsClassifier
from sklearn.tree import DecisionTreeClassifier

from mlops_lab._options import TUNE, resolve
from mlops_lab.train._request import (
    RULES,
    Given,
    asha_has_an_iterative_estimator,
    build_request,
    data_has_rows_and_targets,
    declared,
    estimator_is_an_estimator,
    grace_period_within_max_iter,
    metric_is_a_scorer,
    space_fits_the_estimator,
)
from mlops_lab.train._space import TuneError

X = [[0.0], [1.0], [2.0], [3.0]]
y = [0, 1, 0, 1]


def options(**given: Any) -> dict[str, Any]:
    """Every tune() option, as run_tune resolves them, with a number of trials at once."""
    return resolve(TUNE, {"dataset": "d", "max_concurrent": 2, **given}, TuneError)


def request(**changes: Any) -> Given:
    """A good request to a tree on four rows, with ``changes`` to its parts or options."""
    parts: dict[str, Any] = {
        "estimator": DecisionTreeClassifier(), "param_space": {"max_depth": [1, 2]},
        "X": X, "y": y,
    }  # fmt: skip
    chosen = {key: changes.pop(key) for key in list(changes) if key in parts}
    return Given(**{**parts, **chosen}, options=options(**changes))


def test_the_good_request_passes_every_rule() -> None:
    """The request each test below changes in one place is right by every rule."""
    assert [rule.__name__ for rule in RULES if rule(request()) is not None] == []


def test_every_rule_declared_with_a_tune_option_is_in_the_table() -> None:
    """No option's declared choices or rule is left unchecked by build_request."""
    checked = {rule.__name__ for rule in RULES}
    with_rules = {o.name for o in TUNE if o.choices or o.rule is not None}
    assert with_rules == {"mode", "search", "scheduler", "num_samples", "max_concurrent",
                          "max_iter", "grace_period", "reduction_factor", "cv"}  # fmt: skip
    assert {f"declared_{name}" for name in with_rules} <= checked


def test_estimator_is_an_estimator() -> None:
    """A scikit-learn estimator passes; anything else is named by its type."""
    assert estimator_is_an_estimator(request()) is None
    assert estimator_is_an_estimator(request(estimator="tree")) == (
        "The 'estimator' parameter of tune() must be a scikit-learn estimator or Pipeline. "
        "Got str instead."
    )


def test_metric_is_a_scorer_with_the_closest_names() -> None:
    """A scorer name passes; a misspelt one is shown the closest scorer names."""
    assert metric_is_a_scorer(request(metric="roc_auc")) is None
    assert metric_is_a_scorer(request(metric="acuracy")) == (
        "The 'metric' parameter of tune() must be one of ['accuracy', 'top_k_accuracy'] "
        "(closest matches). Got 'acuracy' instead."
    )


def test_metric_far_from_any_scorer_lists_them_all() -> None:
    """Without a close scorer name, every scorer name is listed."""
    problem = metric_is_a_scorer(request(metric="zzzz"))
    assert problem is not None and "(closest matches)" not in problem
    assert "'accuracy'" in problem and "'r2'" in problem


@pytest.mark.parametrize(
    ("name", "good", "bad", "must"),
    [
        ("mode", "min", "maximum", "be one of ['max', 'min']"),
        ("search", "random", "bayes", "be one of ['grid', 'random']"),
        ("scheduler", "asha", "hyperband", "be one of ['asha', None]"),
        ("num_samples", 4, 0, "be an integer >= 1"),
        ("max_concurrent", 8, 0, "be an integer >= 1"),
        ("max_iter", 3, "3", "be an integer >= 1"),
        ("grace_period", 1, False, "be an integer >= 1"),
        ("reduction_factor", 2.5, 1.0, "be a number above 1 (ASHA keeps one trial in that many "
         "at each rung)"),
        ("cv", 2, 1, "be at least 2"),
    ],
)  # fmt: skip
def test_declared_rule(name: str, good: Any, bad: Any, must: str) -> None:
    """The declared rule of each option, as the request table applies it."""
    rule = declared(name)
    given = request(estimator=RandomForestClassifier())
    assert rule(Given(**{**given.__dict__, "options": {**given.options, name: good}})) is None
    bad_request = Given(**{**given.__dict__, "options": {**given.options, name: bad}})
    assert (
        rule(bad_request) == f"The '{name}' parameter of tune() must {must}. Got {bad!r} instead."
    )


def test_grace_period_within_max_iter() -> None:
    """ASHA may wait as long as a trial runs, not longer."""
    assert grace_period_within_max_iter(request(max_iter=3, grace_period=3)) is None
    assert grace_period_within_max_iter(request(max_iter=3, grace_period=4)) == (
        "The 'grace_period' parameter of tune() must be at most max_iter (3): ASHA cannot wait "
        "longer than a trial runs. Got 4 instead."
    )


def test_asha_has_an_iterative_estimator() -> None:
    """ASHA with a forest (grown by warm start) passes; with k-neighbours it is refused; without
    ASHA any estimator passes."""
    assert asha_has_an_iterative_estimator(
        request(estimator=RandomForestClassifier(), scheduler="asha")
    ) is None  # fmt: skip
    assert asha_has_an_iterative_estimator(request(estimator=KNeighborsClassifier())) is None
    assert asha_has_an_iterative_estimator(
        request(estimator=KNeighborsClassifier(), scheduler="asha")
    ) == (
        "scheduler='asha' stops trials early, which needs an estimator that trains in steps "
        "(partial_fit, or warm_start with n_estimators or boosting rounds); "
        "KNeighborsClassifier does not. Use scheduler=None."
    )  # fmt: skip


def test_space_fits_the_estimator() -> None:
    """The space names the estimator's parameters; a misspelt one is shown the closest."""
    assert space_fits_the_estimator(request()) is None
    problem = space_fits_the_estimator(request(param_space={"max_dept": [1]}))
    assert problem is not None
    assert problem.startswith("'max_dept' is not a parameter of DecisionTreeClassifier. Did you")
    assert space_fits_the_estimator(request(param_space={})) == (
        "The 'param_space' parameter of tune() must be a non-empty dict of parameter -> values. "
        "Got {} instead."
    )


def test_data_has_rows_and_targets() -> None:
    """Two rows with a target each pass; one row, or a target missing, is refused."""
    assert data_has_rows_and_targets(request(X=X[:2], y=y[:2])) is None
    assert data_has_rows_and_targets(request(X=X[:1], y=y[:1])) == (
        "The data must have at least 2 rows and as many targets as rows; got 1 rows and 1 targets."
    )
    assert data_has_rows_and_targets(request(y=y[:3])) is not None


def test_build_request_raises_the_first_failing_rule() -> None:
    """With two mistakes, the one earlier in the table is the error."""
    with pytest.raises(TuneError, match="'mode' parameter"):
        build_request(
            DecisionTreeClassifier(), {}, (X, y), dataset=None,
            options=options(mode="up", num_samples=0),
        )  # fmt: skip


def test_build_request_expands_a_good_request() -> None:
    """A good request keeps its options and expands the grid; max_iter counts only under
    ASHA, and the name defaults to the estimator's class."""
    built = build_request(
        DecisionTreeClassifier(), {"max_depth": [1, 2, 3]}, (X, y), dataset="d@1",
        options=options(cv=2),
    )  # fmt: skip
    assert built.configs == [{"max_depth": 1}, {"max_depth": 2}, {"max_depth": 3}]
    assert (built.name, built.cv, built.max_iter, built.max_concurrent) == (
        "DecisionTreeClassifier", 2, None, 2
    )  # fmt: skip
    asha = build_request(
        RandomForestClassifier(), {"max_depth": [1]}, (X, y), dataset=None,
        options=options(scheduler="asha", max_iter=5, name="forest"),
    )  # fmt: skip
    assert (asha.max_iter, asha.name, asha.dataset) == (5, "forest", None)
