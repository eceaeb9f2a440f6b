"""What runs inside a Tune trial: a pack of configurations, scored one after another.

Very short fits are packed several to a trial, so Tune's fixed cost per trial is paid once
per pack; with ASHA each trial holds one configuration, which reports every iteration so
that the scheduler can stop it early. A configuration that raises is reported with its
error and the pack goes on.
"""

from __future__ import annotations

import time
import traceback
from typing import Any

from sklearn.base import BaseEstimator

from mlops_lab.train._fit import IterativeTrainer, Split, cross_validate


def run_pack(
    config: dict[str, Any], *, data: tuple[Any, Any], estimator: BaseEstimator,
    configs: list[dict[str, Any]], splits: list[Split], metric: str, max_iter: int | None,
    worst: float,
) -> None:  # fmt: skip
    """Score each configuration of ``config["pack"]``, reporting every result to Tune."""
    from ray import tune

    X, y = data
    for index in config["pack"]:
        params = configs[index]
        start = time.perf_counter()
        try:
            if max_iter is None:
                score = cross_validate(estimator, params, X, y, splits, metric)
                tune.report(_result(index, 1, score, start, done=True))
            else:
                _train_iteratively(index, estimator, params, X, y, splits, metric, max_iter)
        except Exception as exc:  # a bad configuration must not end the pack
            message = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            tune.report(_result(index, 0, worst, start, done=True, error=message))


def _train_iteratively(
    index: int, estimator: BaseEstimator, params: dict[str, Any], X: Any, y: Any,
    splits: list[Split], metric: str, max_iter: int,
) -> None:  # fmt: skip
    from ray import tune

    start = time.perf_counter()
    trainer = IterativeTrainer(estimator, params, X, y, splits, metric, max_iter)
    for iteration in range(1, max_iter + 1):
        score = trainer.step()
        tune.report(_result(index, iteration, score, start, done=iteration == max_iter))
        start = time.perf_counter()


def _result(
    index: int, iteration: int, score: float, start: float, *, done: bool, error: str = ""
) -> dict[str, Any]:
    return {
        "config_index": index,
        "iteration": iteration,
        "score": score,
        "duration_s": time.perf_counter() - start,
        # Tune reserves "done" (it ends the trial), hence the prefixed names.
        "config_done": done,
        "config_error": error,
    }
