"""What runs inside a Tune trial: configurations scored one after another.

Without a scheduler there is one Tune trial per parallel slot, and the work is shared out as
(configuration, fold) units, as GridSearchCV does: each trial takes the next unit that no
other trial has claimed (a claim is one atomic put in Ray's key-value store). The slots stay
busy until the last fit however uneven the fits are, a search with fewer configurations than
slots still uses every slot, and Tune's fixed cost per trial is paid once per slot. The
units are scored in a thread of their own while the trial's thread reports the results
(those that came in since the last report, together), so the next fit does not wait for
Tune's round trip. The driver averages a configuration's folds once they are all in.

With ASHA each trial holds one configuration, which reports every iteration (over all folds)
so that the scheduler can stop it early. A unit or configuration that raises is reported
with its error and the trial goes on.
"""

from __future__ import annotations

import queue
import threading
import time
import traceback
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from sklearn.base import BaseEstimator

from mlops_lab.train._fit import IterativeTrainer, Split, fit_and_score


def run_pack(
    config: dict[str, Any], *, data: tuple[Any, Any], estimator: BaseEstimator,
    configs: list[dict[str, Any]], splits: list[Split], metric: str, max_iter: int | None,
    worst: float,
) -> None:  # fmt: skip
    """Score the configurations of ``config["pack"]``, reporting every result to Tune.

    With ``config["claims"]`` (a key prefix) the pack is shared with the other trials and
    scored fold by fold; otherwise each configuration is trained iteratively.
    """
    from ray import tune

    X, y = data
    claims = config.get("claims")
    if claims:
        units = [(index, fold) for index in config["pack"] for fold in range(len(splits))]

        def score(index: int, fold: int) -> dict[str, Any] | None:
            if not _claim(f"{claims}{index}/{fold}"):
                return None
            start = time.perf_counter()
            try:
                value = fit_and_score(estimator, configs[index], X, y, splits[fold], metric)
                return _result(index, 1, value, start, fold=(fold, len(splits)))
            except Exception as exc:  # a bad configuration must not end the trial
                error = _describe(exc)
                return _result(index, 0, worst, start, fold=(fold, len(splits)), error=error)

        _report_while_working(units, score)
        return
    assert max_iter is not None, "a trial of its own trains iteratively"
    with _trial_threads():
        for index in config["pack"]:
            start = time.perf_counter()
            try:
                _train_iteratively(index, estimator, configs[index], X, y, splits, metric, max_iter)
            except Exception as exc:
                tune.report(_result(index, 0, worst, start, done=True, error=_describe(exc)))


def _trial_threads() -> AbstractContextManager:
    """Size the native thread pools (OpenMP, BLAS) of the calling thread to the trial's CPUs.

    Ray sets ``OMP_NUM_THREADS`` in a trial's process, but a worker started ahead has loaded
    those libraries before, with a thread per core: two trials fitting a histogram gradient
    boosting at once would then run twice as many threads as there are cores. An OpenMP
    limit holds for the thread that sets it, so the thread that fits enters this.
    """
    import ray
    from threadpoolctl import threadpool_limits

    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1.0)
    return threadpool_limits(limits=max(1, int(cpus)))


def _report_while_working(
    units: list[tuple[int, int]], score: Callable[[int, int], dict[str, Any] | None]
) -> None:
    """Score ``units`` in a thread of their own and report the results as they come, in batches.

    A report waits for Tune's controller to take the result and call the trial again, a
    round trip of several milliseconds; in its own thread the next fit runs meanwhile. When
    Tune ends the trial (a report raises ``SystemExit``), no further unit is started.
    ``score`` returns None for a unit another trial has claimed.
    """
    from ray import tune

    results: queue.SimpleQueue[dict[str, Any] | BaseException | None] = queue.SimpleQueue()
    stop = threading.Event()

    def run() -> None:
        try:
            with _trial_threads():
                for unit in units:
                    if stop.is_set():
                        return
                    result = score(*unit)
                    if result is not None:
                        results.put(result)
        except BaseException as exc:  # raised again in the trial's own thread
            results.put(exc)
        finally:
            results.put(None)

    threading.Thread(target=run, daemon=True, name="trial-work").start()
    try:
        finished = False
        while not finished:
            batch = [results.get()]
            while not results.empty():
                batch.append(results.get())
            for item in batch:
                if isinstance(item, BaseException):
                    raise item
            finished = batch[-1] is None
            scored = [item for item in batch if isinstance(item, dict)]
            if scored:
                tune.report({"units": scored})
    finally:
        stop.set()


def _describe(exc: Exception) -> str:
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()


def _claim(key: str) -> bool:
    from ray.experimental import internal_kv

    already = internal_kv._internal_kv_put(key, b"1", overwrite=False)
    return not already


def forget_claims(prefix: str) -> None:
    """Remove the claims of a search that has ended."""
    from ray.experimental import internal_kv

    internal_kv._internal_kv_del(prefix, del_by_prefix=True)


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
    index: int, iteration: int, score: float, start: float, *, done: bool = False,
    fold: tuple[int, int] | None = None, error: str = "",
) -> dict[str, Any]:  # fmt: skip
    return {
        "config_index": index,
        "iteration": iteration,
        "score": score,
        "duration_s": time.perf_counter() - start,
        # One fold of the configuration (its number, and how many there are), or None when
        # the result covers every fold.
        "fold": None if fold is None else fold[0],
        "folds": None if fold is None else fold[1],
        # Tune reserves "done" (it ends the trial), hence the prefixed names.
        "config_done": done,
        "config_error": error,
    }
