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
        self._results: list[dict[str, Any]] = []
        self._listeners: list[Callable[[TrialRecorder], None]] = []
        self._flush_every = flush_every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._flush_loop, daemon=True, name="trial-flush")

    def start(self) -> None:
        """Write the pending trials and start flushing in the background."""
        self.flush()
        self._thread.start()

    def subscribe(self, listener: Callable[[TrialRecorder], None]) -> None:
        """Call ``listener(recorder)`` after each flush (progress views)."""
        self._listeners.append(listener)

    def on_result(self, result: dict[str, Any]) -> None:
        """Take one reported result: an iteration of a configuration, or its failure."""
        with self._lock:
            trial = self.trials[int(result["config_index"])]
            trial.started_at = trial.started_at or utcnow()
            trial.status = "running"
            trial.duration_s += float(result.get("duration_s", 0.0))
            if result.get("config_error"):
                trial.status, trial.error = "error", str(result["config_error"])
            else:
                trial.scores.append(float(result["score"]))
                self._results.append(self._result_row(trial, result))
            if result.get("config_done"):
                trial.status = "error" if trial.error else "completed"
                trial.finished_at = utcnow()
            self._dirty.add(trial.index)

    def on_pack_ended(self, indices: list[int], error: str | None = None) -> None:
        """A Tune trial ended: its configurations not yet finished were stopped (or failed)."""
        with self._lock:
            for index in indices:
                trial = self.trials[index]
                if trial.status in TERMINAL:
                    continue
                trial.status = "error" if error else ("stopped" if trial.scores else "cancelled")
                trial.error = error
                trial.finished_at = utcnow()
                self._dirty.add(index)

    def close(self) -> None:
        """Cancel what never ran, stop the flusher and write everything left."""
        self.on_pack_ended([t.index for t in self.trials if t.status == "pending"])
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.flush()

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

    def flush(self) -> None:
        """Write the changed trials and new results in one store write, then notify."""
        with self._lock:
            trials = [self.trials[i].row(self.experiment_id) for i in sorted(self._dirty)]
            results, self._results, self._dirty = self._results, [], set()
        if not (trials or results):
            return  # nothing new: no write, and no redraw of the live views
        batches = {"trials": trials, "trial_results": results}
        self.store.write({name: rows for name, rows in batches.items() if rows})
        for listener in self._listeners:
            listener(self)

    def _flush_loop(self) -> None:
        while not self._stop.wait(self._flush_every):
            self.flush()

    @staticmethod
    def _result_row(trial: TrialState, result: dict[str, Any]) -> dict[str, Any]:
        return {
            "trial_id": trial.trial_id,
            "iteration": len(trial.scores),
            "time": utcnow(),
            "metrics": {"score": float(result["score"]), "duration_s": result.get("duration_s")},
        }
