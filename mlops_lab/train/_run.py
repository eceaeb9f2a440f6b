"""Run a validated search on Ray Tune, in the foreground or in the background."""

from __future__ import annotations

import logging
import os
import random
import signal
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
from ray import tune
from ray.tune.progress_reporter import TrialProgressCallback

from mlops_lab._warm import WarmPool
from mlops_lab.store import StoreClient
from mlops_lab.train._fit import make_splits
from mlops_lab.train._recorder import TrialRecorder, TrialState, utcnow
from mlops_lab.train._render import render_html, render_text
from mlops_lab.train._request import TuneRequest
from mlops_lab.train._trainable import forget_claims, run_pack
from mlops_lab.train._trial import Trial

# Every trial is recorded in the store; Tune's own per-trial log files and console tables
# would only repeat it (and its loggers cost time per result). An explicit choice in the
# environment is respected.
os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
# An interrupt (Ctrl+C, a notebook's Interrupt) stops a search through the lab's stop flag
# (see _stop_on_interrupt), so that it ends as a stop would; Tune's own handler would end it
# as a success and log a warning into the cell.
os.environ.setdefault("TUNE_DISABLE_SIGINT_HANDLER", "1")
# Without its loggers Tune warns at the end that it found no result files to read back.
logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)


class _Unsaved:
    """A hook of a live run, saved empty when Tune pickles its state.

    Tune pickles callbacks and stoppers to allow restoring a run; these belong to the live
    run (threads, locks, the store client), so nothing of them is saved.
    """

    def __getstate__(self) -> dict[str, Any]:
        return {}


class _StopFlag(_Unsaved, tune.Stopper):
    def __init__(self) -> None:
        self.event = threading.Event()

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        return False

    def stop_all(self) -> bool:
        return self.event.is_set()


class _Relay(_Unsaved, tune.Callback):
    """Pass Tune's events on the driver to the recorder."""

    def __init__(self, recorder: TrialRecorder) -> None:
        self.recorder = recorder

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:  # fmt: skip  # noqa: E501
        # A shared pack reports the units scored since its last report together.
        where = {"node_ip": result.get("node_ip"), "pid": result.get("pid")}
        for unit in result.get("units") or [result]:
            self.recorder.on_result({**unit, **where})

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.recorder.on_tune_trial_ended(_own(trial))

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        error = trial.get_error() if hasattr(trial, "get_error") else None
        self.recorder.on_tune_trial_ended(_own(trial), error=str(error or "trial failed"))


class _NoConsole(_Unsaved, tune.ProgressReporter):
    """Tune's progress reporter, silenced: the lab's own views show the search.

    In a notebook Tune's default reporter clears the cell's output when a search starts
    (``clear_output``, to draw its table in place), which takes the live view away with it.
    """

    def should_report(self, trials: list, done: bool = False) -> bool:
        return False

    def report(self, trials: list, done: bool, *sys_info: str) -> None:
        return None


class _NoTrialLines(_Unsaved, TrialProgressCallback):
    """Stands in for Tune's per-trial console lines, which it adds when none is given.

    Tune prints "Trial ... completed. Last result: ..." whatever the verbosity.
    """

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:  # fmt: skip  # noqa: E501
        return None

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        return None

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        return None


def _own(trial: Any) -> list[int]:
    """The configurations that were this Tune trial's alone (none when the pack is shared)."""
    return [] if trial.config.get("claims") else list(trial.config["pack"])


class TuneRun:
    """A search on Ray Tune: wait for it, stop it, read its trials.

    Returned by ``lab.tune(...)``; with ``background=True`` it runs in a thread so the
    notebook stays responsive.
    """

    def __init__(
        self, request: TuneRequest, store: StoreClient, storage: Path, warm: WarmPool | None = None
    ) -> None:
        self.request = request
        self._warm = warm
        self.experiment_id = f"{request.name}-{uuid.uuid4().hex[:8]}"
        self._store = store
        self._storage = storage
        self._stopper = _StopFlag()
        self._done = threading.Event()
        self._error: BaseException | None = None
        self._started_at = utcnow()
        self.recorder = TrialRecorder(store, self.experiment_id, request.configs, request.mode)
        self._claims = f"mlops_lab/claims/{self.experiment_id}/"

    def start(self, background: bool) -> TuneRun:
        """Record the experiment and its pending trials (one store write), then run the search."""
        self.recorder.start(experiment=self._experiment_row("running"))
        if background:
            threading.Thread(target=self._run, daemon=True, name=self.experiment_id).start()
        else:
            self._run()
            self._raise_if_failed()
        return self

    @property
    def done(self) -> bool:
        """Whether the search has ended (completed, stopped or failed)."""
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> pd.DataFrame:
        """Block until the search ends; return its trials (best first)."""
        if not self._done.wait(timeout):
            raise TimeoutError(f"The search {self.experiment_id} is still running.")
        self._raise_if_failed()
        return self.results()

    def stop(self) -> None:
        """Ask the search to stop; running trials end at their next report."""
        self._stopper.event.set()

    def results(self) -> pd.DataFrame:
        """Every trial: parameters, score, iterations, status, duration and error, best first."""
        frame = pd.DataFrame(self.recorder.rows()).drop(columns=["experiment_id"])
        ascending = self.request.mode == "min"
        return frame.sort_values("metric", ascending=ascending, na_position="last").reset_index(
            drop=True
        )

    def best(self) -> Trial:
        """The best trial so far; register it with ``lab.registry.register(name, trial)``."""
        best = self.recorder.best()
        if best is None:
            raise ValueError(f"No trial of {self.experiment_id} has a score yet.")
        return self._trial(best)

    def trials(self) -> list[Trial]:
        """Every trial, in the order of the configurations."""
        return [self._trial(state) for state in self.recorder.trials]

    def _trial(self, state: TrialState) -> Trial:
        return Trial(state.trial_id, state.params, state.metric, state.status, self.request)

    def __repr__(self) -> str:
        return render_text(self.recorder, self.request.metric)

    def _repr_html_(self) -> str:
        return render_html(self.recorder, self.request.metric)

    def _run(self) -> None:
        status = "completed"
        try:
            if self._warm is not None:
                self._warm.claim()
            with _stop_on_interrupt(self.stop):
                self._tuner().fit()
            if self._stopper.event.is_set():
                status = "stopped"
        except BaseException as exc:
            self._error, status = exc, "failed"
        finally:
            forget_claims(self._claims)
            self.recorder.close(experiment=self._experiment_row(status))
            if self._warm is not None:
                self._warm.refill()  # for the next search, while this one's results are read
            self._done.set()

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error

    def _tuner(self) -> tune.Tuner:
        request = self.request
        splits = make_splits(request.estimator, request.X, request.y, request.cv)
        packs = _packs(
            len(request.configs), len(splits), request.max_concurrent, request.scheduler,
            request.seed,
        )  # fmt: skip
        shared = request.scheduler is None
        trainable = tune.with_parameters(
            run_pack,
            data=(request.X, request.y),
            estimator=request.estimator,
            configs=request.configs,
            splits=splits,
            metric=request.metric,
            max_iter=request.max_iter,
            # A failed configuration still reports a (finite) score: ASHA needs one per result.
            worst=-sys.float_info.max if request.mode == "max" else sys.float_info.max,
        )
        scheduler = None
        if request.scheduler == "asha":
            scheduler = tune.schedulers.ASHAScheduler(
                time_attr="training_iteration", max_t=request.max_iter or 1,
                grace_period=request.grace_period, reduction_factor=request.reduction_factor,
            )  # fmt: skip
        return tune.Tuner(
            trainable,
            param_space={
                "pack": tune.grid_search(packs),
                "claims": self._claims if shared else None,
            },
            tune_config=tune.TuneConfig(
                metric="score" if scheduler else None,
                mode=request.mode if scheduler else None,
                scheduler=scheduler,
                max_concurrent_trials=request.max_concurrent,
                reuse_actors=True,
            ),
            run_config=tune.RunConfig(
                name=self.experiment_id,
                storage_path=str(self._storage),
                stop=self._stopper,
                callbacks=[_Relay(self.recorder), _NoTrialLines()],
                progress_reporter=_NoConsole(),
                verbose=0,
            ),
        )

    def _experiment_row(self, status: str) -> dict[str, Any]:
        request = self.request
        name, _, version = (request.dataset or "").partition("@")
        return {
            "experiment_id": self.experiment_id,
            "name": request.name,
            "created_at": self._started_at,
            "dataset_name": name or None,
            "dataset_version": version or None,
            "estimator": repr(request.estimator),
            "metric": request.metric,
            "mode": request.mode,
            "search": request.search,
            "config": {
                "configs": len(request.configs),
                "cv": repr(request.cv),
                "scheduler": request.scheduler,
                "max_iter": request.max_iter,
                "max_concurrent": request.max_concurrent,
            },
            "status": status,
            "finished_at": None if status == "running" else utcnow(),
        }


@contextmanager
def _stop_on_interrupt(stop: Callable[[], None]) -> Iterator[None]:
    """In the main thread, a first interrupt stops the search; a second one interrupts.

    A search in a notebook's foreground holds the kernel, which reads a click on the view's
    Stop button only once the cell ends: the kernel's Interrupt is how to stop it then.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)

    def on_interrupt(signum: int, frame: Any) -> None:
        stop()
        signal.signal(signal.SIGINT, previous)

    signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _packs(
    n_configs: int, n_folds: int, slots: int, scheduler: str | None, seed: int
) -> list[list[int]]:
    if scheduler is not None:
        # ASHA judges a trial against those that reached its rung before it: in a grid's
        # order (often worst to best) nothing would ever be stopped, so the order is shuffled.
        order = random.Random(seed).sample(range(n_configs), n_configs)
        return [[index] for index in order]
    # One trial per slot (as many as there are folds to score, at most), each offered every
    # configuration; claims share the folds out.
    return [list(range(n_configs)) for _ in range(min(n_configs * n_folds, slots))]
