"""The monitor beside serving: a Ray actor per endpoint that runs a pass every few seconds.

The actor is named ``monitor:<endpoint>``, detached (it outlives the notebook that started
it), restarted by Ray when it dies, and runs at the lowest CPU priority, like the store: a
request being served goes first. It keeps nothing of its own: a restarted actor reads its
options, cursor and fitted detectors from the store and carries on where the last committed
pass stopped. A pass that raises is counted and its error kept in the store
(``monitor_state``, key ``health``); the loop goes on.
"""

from __future__ import annotations

import contextlib
import threading
import time
import traceback
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

import ray

from mlops_lab._warm import cold_runtime_env
from mlops_lab.monitor._business import Function
from mlops_lab.monitor._errors import MonitorError
from mlops_lab.monitor._monitor import Monitor, PassReport
from mlops_lab.monitor._state import now, read_state, state_row
from mlops_lab.store import StoreClient

if TYPE_CHECKING:
    from mlops_lab.ui import MonitorView
from mlops_lab.store._actor import ActorStore, find_store_actor, lower_priority

PREFIX = "monitor:"
HEALTH_KEY = "health"
# The monitor's CPU priority: the lowest, as the store's.
MONITOR_NICENESS = 19


class MonitorActor:
    """Runs one endpoint's monitor in a loop; ``run_now`` runs a pass at once."""

    def __init__(
        self, endpoint: str, namespace: str, every: float,
        functions: dict[str, Function] | None = None,
    ) -> None:  # fmt: skip
        lower_priority(MONITOR_NICENESS)
        handle = find_store_actor(namespace)
        if handle is None:
            raise RuntimeError(f"No lab store runs in namespace '{namespace}'.")
        self._monitor = Monitor(ActorStore(handle), endpoint, functions)
        self._every = every
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        kept = read_state(self._monitor.store, endpoint, HEALTH_KEY)
        self._health: dict[str, Any] = dict(kept[0]) if kept else {"passes": 0, "failures": 0}
        self._health["starts"] = int(self._health.get("starts", 0)) + 1
        self._thread = threading.Thread(target=self._loop, name="monitor-loop", daemon=True)
        self._thread.start()

    def run_now(self) -> PassReport:
        """Run a pass now (after the one in progress, if any) and return its report."""
        with self._lock:
            return self._pass()

    def health(self) -> dict[str, Any]:
        """How the loop is doing.

        Passes run, failures and the last error, when the last pass ran and what it closed,
        whether a pass runs now, and how many times the actor started.
        """
        return dict(self._health)

    def stop(self) -> None:
        """End the loop after the pass in progress."""
        self._stopping.set()

    def _loop(self) -> None:
        while not self._stopping.wait(self._every):
            with self._lock:
                try:
                    self._pass()
                except Exception:  # counted and kept by _pass; the loop goes on
                    continue

    def _pass(self) -> PassReport:
        self._health.update(in_pass=True, pass_started=str(now()))
        try:
            report = self._monitor.run()
        except Exception as error:
            self._health["in_pass"] = False
            self._health.update(
                failures=int(self._health["failures"]) + 1, last_failure=str(now()),
                last_error=f"{type(error).__name__}: {error}",
                last_traceback=traceback.format_exc(limit=8),
            )  # fmt: skip
            self._keep_health()
            raise
        self._health.update(
            in_pass=False, passes=int(self._health["passes"]) + 1, last_pass=str(now()),
            last_seconds=round(report.seconds, 3), last_windows=report.windows,
        )  # fmt: skip
        if report.windows or self._health["passes"] == 1:
            self._keep_health()
        return report

    def _keep_health(self) -> None:
        row = state_row(self._monitor.endpoint, HEALTH_KEY, self._health)
        try:
            self._monitor.store.write({"monitor_state": [row]})
        except Exception:  # the store is away: the health is kept with the next pass
            return


class LabMonitor(Monitor):
    """An endpoint's monitor as the notebook sees it: configuring it starts it beside serving.

    Calling it (or :meth:`configure`) keeps the options and starts the endpoint's monitor
    actor, which then runs a pass every ``every`` seconds; :meth:`run` asks the actor for a
    pass now when it runs, and runs one here when it does not.

    Example:
        >>> ep = lab.endpoint("churn")
        >>> ep.monitor(window_rows=500, alerts=["drift", "accuracy < reference"])
        >>> ep.monitor.run().windows
        >>> ep.monitor.health()["passes"]
    """

    def __init__(self, store: StoreClient, endpoint: str, namespace: str) -> None:
        super().__init__(store, endpoint)
        self.namespace = namespace

    def configure(self, **options: Any) -> dict[str, Any]:
        """Keep the options, and start the monitor beside serving (or restart it with them)."""
        settings = super().configure(**options)
        stop_monitor(self.endpoint, self.namespace)
        handle = start_monitor(self.endpoint, self.namespace, settings["every"], self.functions)
        ray.get(handle.health.remote())  # started: its first pass comes within `every`
        return settings

    def run(self, at: datetime | None = None) -> PassReport:
        """Run a pass now: in the monitor actor when it runs, else in this process."""
        handle = find_monitor(self.endpoint, self.namespace)
        if handle is None or at is not None:
            return super().run(at)
        return cast(PassReport, ray.get(handle.run_now.remote()))

    def health(self) -> dict[str, Any]:
        """How the monitor beside serving is doing: passes, failures, the last error.

        Raises:
            MonitorError: no monitor runs for the endpoint.
        """
        handle = find_monitor(self.endpoint, self.namespace)
        if handle is None:
            raise MonitorError(
                f"No monitor runs for endpoint '{self.endpoint}'. Start one with "
                f"lab.endpoint('{self.endpoint}').monitor()."
            )
        return cast(dict[str, Any], ray.get(handle.health.remote()))

    def stop(self) -> bool:
        """Stop the monitor beside serving; its results and state stay in the store."""
        return stop_monitor(self.endpoint, self.namespace)

    def view(self, every: float = 2.0) -> MonitorView:
        """A live view of what the monitor finds: in a notebook it redraws in place.

        Example:
            >>> ep.monitor.view()
        """
        from mlops_lab.ui import MonitorView

        return MonitorView(self.store, self.endpoint, every)


def start_monitor(
    endpoint: str, namespace: str, every: float, functions: dict[str, Function] | None = None
) -> ray.actor.ActorHandle:
    """The endpoint's monitor actor, started if it does not run.

    Business metrics given as Python functions travel with the actor's arguments, so a
    restarted actor keeps them.
    """
    remote = ray.remote(MonitorActor).options(
        name=PREFIX + endpoint,
        namespace=namespace,
        lifetime="detached",
        get_if_exists=True,
        max_restarts=-1,
        max_task_retries=-1,
        max_concurrency=2,  # run_now and health beside the loop's thread
        num_cpus=0,
        runtime_env=cold_runtime_env(),
    )
    handle: ray.actor.ActorHandle = remote.remote(endpoint, namespace, every, functions)  # type: ignore[assignment]
    return handle


def find_monitor(endpoint: str, namespace: str) -> ray.actor.ActorHandle | None:
    """The endpoint's running monitor actor, or None."""
    try:
        return ray.get_actor(PREFIX + endpoint, namespace=namespace)
    except ValueError:
        return None


def stop_monitor(endpoint: str, namespace: str, timeout: float = 30.0) -> bool:
    """Stop and remove the endpoint's monitor actor; False if none ran."""
    handle = find_monitor(endpoint, namespace)
    if handle is None:
        return False
    # A dead or restarting actor is killed all the same.
    with contextlib.suppress(Exception):
        ray.get(handle.stop.remote(), timeout=timeout)
    ray.kill(handle, no_restart=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and find_monitor(endpoint, namespace) is not None:
        time.sleep(0.1)
    return True
