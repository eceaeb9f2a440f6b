"""Keep the state of every trial of a search and write it to the store as it happens.

Trial results arrive on Tune's driver loop; writing to the store there would slow the loop,
so rows are queued and a background thread flushes them in batches (one store write per
flush, trials and their per-iteration results together).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mlops_lab.store import StoreClient

TERMINAL = ("completed", "stopped", "error", "cancelled")


def utcnow() -> datetime:
    """Now, in UTC without a zone, as the store keeps times."""
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass
class TrialState:
    """What is known of one configuration of a search."""

    trial_id: str
    index: int
    params: dict[str, Any]
    status: str = "pending"
    scores: list[float] = field(default_factory=list)
    folds: dict[int, float] = field(default_factory=dict)  # scored one fold at a time
    workers: set[str] = field(default_factory=set)  # "node_ip:pid" of the processes it ran in
    duration_s: float = 0.0
    error: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def metric(self) -> float | None:
        """The latest score: what the configuration reached when it ended."""
        return self.scores[-1] if self.scores else None

    def row(self, experiment_id: str) -> dict[str, Any]:
        """The trial as a row of the ``trials`` table."""
        return {
            "trial_id": self.trial_id,
            "experiment_id": experiment_id,
            "params": self.params,
            "status": self.status,
            "metric": self.metric,
            "iterations": len(self.scores),
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration_s": self.duration_s,
            "error": self.error,
        }


class TrialRecorder:
    """The trials of one search: updated from Tune results, flushed to the store."""

    def __init__(
        self, store: StoreClient, experiment_id: str, configs: list[dict[str, Any]], mode: str,
        flush_every: float = 0.25,
    ) -> None:  # fmt: skip
        self.store = store
        self.experiment_id = experiment_id
        self.mode = mode
        self.trials = [
            TrialState(f"{experiment_id}-{i:04d}", i, params) for i, params in enumerate(configs)
        ]
        self._lock = threading.Lock()
        self._dirty: set[int] = set(range(len(configs)))
        self._failure: str | None = None  # of a trial that shared its configurations
        self._results: list[dict[str, Any]] = []
        self._listeners: list[Callable[[TrialRecorder], None]] = []
        self._flush_every = flush_every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._flush_loop, daemon=True, name="trial-flush")

    def start(self, experiment: dict[str, Any] | None = None) -> None:
        """Write the pending trials and start flushing them in the background.

        Args:
            experiment: The search's row of ``experiments``, written in the same store write.
        """
        self.flush({"experiments": [experiment]} if experiment else None)
        self._thread.start()

    def subscribe(self, listener: Callable[[TrialRecorder], None]) -> None:
        """Call ``listener(recorder)`` after each flush (progress views)."""
        self._listeners.append(listener)

    def on_result(self, result: dict[str, Any]) -> None:
        """Take one reported result: a fold or an iteration of a configuration, or its failure."""
        with self._lock:
            trial = self.trials[int(result["config_index"])]
            if trial.status in TERMINAL:
                return  # a late fold of a configuration that already failed
            trial.started_at = trial.started_at or utcnow()
            trial.status = "running"
            trial.duration_s += float(result.get("duration_s", 0.0))
            if result.get("node_ip") is not None:
                trial.workers.add(f"{result['node_ip']}:{result.get('pid')}")
            if result.get("config_error"):
                trial.status, trial.error = "error", str(result["config_error"])
                trial.finished_at = utcnow()
            elif result.get("fold") is not None:
                trial.folds[int(result["fold"])] = float(result["score"])
                if len(trial.folds) == int(result["folds"]):
                    scores = [trial.folds[fold] for fold in sorted(trial.folds)]
                    self._finish(trial, sum(scores) / len(scores), fold_scores=scores)
            else:
                trial.scores.append(float(result["score"]))
                self._results.append(self._result_row(trial))
                if result.get("config_done"):
                    trial.status, trial.finished_at = "completed", utcnow()
            self._dirty.add(trial.index)

    def _finish(self, trial: TrialState, score: float, **metrics: Any) -> None:
        trial.scores.append(score)
        self._results.append(self._result_row(trial, **metrics))
        trial.status, trial.finished_at = "completed", utcnow()

    def on_tune_trial_ended(self, own: list[int], error: str | None = None) -> None:
        """A Tune trial ended.

        Args:
            own: The configurations that were this trial's alone (an ASHA trial's one); those
                not finished were stopped, or failed with the trial. Empty when the trial
                shared its configurations with others.
            error: Why the trial failed, if it did. A failed trial that shared its
                configurations fails those left unfinished when the search ends.
        """
        with self._lock:
            if error and not own:
                self._failure = error
            for index in own:
                trial = self.trials[index]
                if trial.status in TERMINAL:
                    continue
                trial.status = "error" if error else ("stopped" if trial.scores else "cancelled")
                trial.error = error
                trial.finished_at = utcnow()
                self._dirty.add(index)

    def close(self, experiment: dict[str, Any] | None = None) -> None:
        """End what did not finish, stop the flusher and write everything left.

        A configuration that never started was cancelled; one that started and did not finish
        was stopped (or failed, when a trial running it failed).

        Args:
            experiment: The search's final row of ``experiments``, written in the same store
                write.
        """
        with self._lock:
            for trial in self.trials:
                if trial.status in TERMINAL:
                    continue
                if trial.status == "pending":
                    trial.status = "cancelled"
                elif self._failure:
                    trial.status, trial.error = "error", self._failure
                else:
                    trial.status = "stopped"
                trial.finished_at = utcnow()
                self._dirty.add(trial.index)
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.flush({"experiments": [experiment]} if experiment else None)

    def rows(self) -> list[dict[str, Any]]:
        """Every trial as a ``trials`` row, read consistently while results arrive."""
        with self._lock:
            return [trial.row(self.experiment_id) for trial in self.trials]

    def best(self) -> TrialState | None:
        """The trial with the best score so far."""
        scored = [t for t in self.trials if t.metric is not None and math.isfinite(t.metric)]
        if not scored:
            return None
        sign = 1 if self.mode == "max" else -1
        return max(scored, key=lambda t: sign * (t.metric or 0.0))

    def flush(self, also: dict[str, list[dict[str, Any]]] | None = None) -> None:
        """Write the changed trials and new results in one store write, then notify.

        Args:
            also: Rows of other tables, by table, to write in the same store write.
        """
        with self._lock:
            trials = [self.trials[i].row(self.experiment_id) for i in sorted(self._dirty)]
            results, self._results, self._dirty = self._results, [], set()
        if not (trials or results or also):
            return  # nothing new: no write, and no redraw of the live views
        batches = {**(also or {}), "trials": trials, "trial_results": results}
        self.store.write({name: rows for name, rows in batches.items() if rows})
        for listener in self._listeners:
            listener(self)

    def _flush_loop(self) -> None:
        while not self._stop.wait(self._flush_every):
            self.flush()

    @staticmethod
    def _result_row(trial: TrialState, **metrics: Any) -> dict[str, Any]:
        return {
            "trial_id": trial.trial_id,
            "iteration": len(trial.scores),
            "time": utcnow(),
            "metrics": {
                "score": trial.scores[-1],
                "duration_s": trial.duration_s,
                "workers": sorted(trial.workers),  # where it ran, as "node_ip:pid"
                **metrics,
            },
        }
