"""The store as a Ray actor, and the client that reaches it from any process.

While the lab runs, one named, detached actor owns the DuckDB file. Ray restarts it
when it dies; :class:`ActorStore` retries calls across the restart, which is safe because
every write is idempotent by primary key.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pyarrow as pa
import ray
from ray.exceptions import ActorUnavailableError, GetTimeoutError, RayActorError, RayTaskError

from mlops_lab._warm import cold_runtime_env
from mlops_lab.store._batch import Batch, to_arrow
from mlops_lab.store._errors import StoreError, StoreUnavailableError
from mlops_lab.store._lines import RowLines
from mlops_lab.store._store import Params, Store, StoreClient

STORE_ACTOR_NAME = "store"
# The store actor's CPU priority (19: the lowest). Its writes are of work already done (logged
# requests, trial results): where they compete for a core with a request being served, the
# request goes first. Ray starts its workers at 15.
STORE_NICENESS = 19


class StoreActor:
    """Owns the :class:`Store` inside the Ray cluster (one per lab)."""

    def __init__(self, path: str, lock_timeout: float = 60.0) -> None:
        # Before the store starts its threads, which take the priority of the thread that
        # starts them (the calls run in this one).
        lower_priority(STORE_NICENESS)
        # A restarted actor may find the file still locked by its dying predecessor.
        self._store = Store(path, lock_timeout=lock_timeout)

    def write(self, batches: dict[str, pa.Table | RowLines]) -> dict[str, int]:
        return self._store.write(batches)

    def query(self, sql: str, params: Params = None) -> pa.Table:
        return self._store.query(sql, params)

    def counts(self) -> dict[str, int]:
        return self._store.counts()

    def add_feedback(
        self, endpoint: str, items: list[dict[str, Any]], source: str
    ) -> dict[str, Any]:
        return self._store.add_feedback(endpoint, items, source)

    def info(self) -> dict[str, Any]:
        return {
            **self._store.info(),
            "pid": os.getpid(),
            "node_id": ray.get_runtime_context().get_node_id(),
            "niceness": os.getpriority(os.PRIO_PROCESS, 0),
        }

    def close(self) -> None:
        self._store.close()


def lower_priority(niceness: int) -> None:
    """Lower the calling thread's CPU priority to ``niceness``, never raise it."""
    if niceness > os.getpriority(os.PRIO_PROCESS, 0):
        os.setpriority(os.PRIO_PROCESS, 0, niceness)


class ActorStore(StoreClient):
    """Reach the lab's store actor; the same interface as an in-process :class:`Store`.

    Batches are converted to Arrow in the caller's process, so only Arrow crosses to the
    actor, except :class:`RowLines`, which the actor reads. A call is retried with backoff
    while the actor restarts, up to ``timeout`` seconds; a call returns only once the actor
    has committed the write.

    Args:
        handle: The store actor's handle.
        timeout: Seconds to keep retrying while the actor is away.
    """

    def __init__(self, handle: ray.actor.ActorHandle, timeout: float = 120.0) -> None:
        self._handle = handle
        self.timeout = timeout

    def write(self, batches: Mapping[str, Batch]) -> dict[str, int]:
        """Write batches to several tables in one transaction, all or nothing."""
        tables = {
            name: data if isinstance(data, RowLines) else to_arrow(data)
            for name, data in batches.items()
        }
        return self._call(lambda: self._handle.write.remote(tables))

    def query(self, sql: str, params: Params = None) -> pa.Table:
        """Run one read-only statement in the store and return an Arrow table."""
        return self._call(lambda: self._handle.query.remote(sql, params))

    def counts(self) -> dict[str, int]:
        """Rows in each lifecycle table."""
        return self._call(lambda: self._handle.counts.remote())

    def info(self) -> dict[str, Any]:
        """Where the store is, which process holds it and its schema version."""
        return self._call(lambda: self._handle.info.remote())

    def add_feedback(
        self, endpoint: str, items: Sequence[Mapping[str, Any]], source: str
    ) -> dict[str, Any]:
        """Store feedback on requests ``endpoint`` answered, each request's once, in one step.

        The store looks the requests up and writes the feedback itself: one round trip, and
        no rows converted in this process.
        """
        given = list(items)
        return self._call(lambda: self._handle.add_feedback.remote(endpoint, given, source))

    def _call(self, submit: Callable[[], ray.ObjectRef]) -> Any:
        deadline = time.monotonic() + self.timeout
        delay = 0.05
        while True:
            try:
                return ray.get(submit(), timeout=max(deadline - time.monotonic(), 0.1))
            except RayTaskError as exc:
                if isinstance(exc.cause, StoreError):
                    raise exc.cause from None
                raise
            except (RayActorError, ActorUnavailableError, GetTimeoutError) as exc:
                if time.monotonic() + delay >= deadline:
                    raise StoreUnavailableError(
                        f"The lab's store did not answer within {self.timeout:.0f} s "
                        f"({type(exc).__name__}). Check the lab with `mlops-lab status`."
                    ) from exc
                time.sleep(delay)
                delay = min(delay * 2, 1.0)


def start_store_actor(path: str, namespace: str) -> ray.actor.ActorHandle:
    """Return the lab's store actor, creating it on ``path`` when missing.

    The actor is pinned to the head node, where the file lives.
    """
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    remote = ray.remote(StoreActor).options(
        name=STORE_ACTOR_NAME,
        namespace=namespace,
        lifetime="detached",
        get_if_exists=True,
        max_restarts=-1,
        max_concurrency=8,
        num_cpus=0,
        runtime_env=cold_runtime_env(),
        # The DuckDB file lives on the head node's disk; a restart must find it there.
        scheduling_strategy=NodeAffinitySchedulingStrategy(_head_node_id(), soft=False),
    )
    # An actor that already runs keeps its own file: on a cluster that is the lab's store,
    # whatever path this process would have chosen.
    handle: ray.actor.ActorHandle = remote.remote(path)  # type: ignore[assignment]
    return handle


def find_store_actor(namespace: str) -> ray.actor.ActorHandle | None:
    """The running lab's store actor, or None when no lab runs in ``namespace``."""
    try:
        return ray.get_actor(STORE_ACTOR_NAME, namespace=namespace)
    except ValueError:
        return None


def _head_node_id() -> str:
    for node in ray.nodes():
        if node["Alive"] and "node:__internal_head__" in node["Resources"]:
            return node["NodeID"]
    return ray.get_runtime_context().get_node_id()
