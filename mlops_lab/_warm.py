"""Trial workers started ahead of a search, with the trial code already imported.

Ray starts a new Python process for every actor, and Tune's trials are actors: each search
would wait seconds for its trial processes to start and import Ray Tune and scikit-learn.
A lab driver instead asks its node's raylet to start a few idle workers ahead of time
(``PrestartWorkers``); Ray hands an idle worker to an actor whose runtime environment matches
its own, so these workers are started with exactly the environment Tune gives its trials.
Every worker of the driver's job runs :func:`setup` when it starts, which imports the trial
code, so by the time a search starts its trials land in processes that are already warm.

The pool is refilled when a search ends. Where the raylet cannot be asked (another Ray
version, a driver that initialised Ray itself), the pool stays empty and trials start cold.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from dataclasses import dataclass
from typing import Any

from mlops_lab import _starting

log = logging.getLogger(__name__)

HOOK = "mlops_lab._warm.setup"
ENV = "MLOPS_LAB_WARM"
KV_PREFIX = "mlops_lab/warm/"
# An idle worker is kept this long (or until a trial takes it) before Ray may reclaim it.
KEEP_ALIVE_S = 6 * 3600
# Workers started ahead for Serve's processes are for the lab's start only.
_COLD_KEEP_ALIVE_S = 120

# What a trial imports before its first fit: besides the trial code, what Ray imports on a
# worker's first deserialization (its pydantic serializers) and what Tune's Trainable imports
# when it starts (IPython, to turn its display off); each of these takes a few hundred ms.
TRIAL_MODULES = (
    "ray.tune",
    "ray.tune.trainable.function_trainable",
    "sklearn.ensemble",
    "sklearn.linear_model",
    "mlops_lab.train._trainable",
    "pydantic.v1.fields",
    "IPython.core.interactiveshell",
)


def job_runtime_env() -> dict[str, Any]:
    """The runtime environment a lab driver gives its job: new workers run :func:`setup`."""
    return {"worker_process_setup_hook": HOOK, "env_vars": {ENV: "1"}}


# The roles of the job's processes that run no trial, and what a new worker of each imports
# as it starts: a worker started ahead for Serve's controller or a router replica has then
# imported it by the time it is handed the actor.
SERVE = "serve"  # Serve's controller, and its proxy (which the controller starts)
ROUTER = "router"  # a router replica: the shared application's, or an endpoint's own
_COLD = "0"  # the store and the monitor
ROLE_MODULES = {
    SERVE: ("ray.serve._private.controller", "ray.serve._private.proxy"),
    # The replica, its router, and what loading a model imports (skops, scikit-learn).
    ROUTER: ("ray.serve._private.replica", "mlops_lab.serve._shared", "skops.io"),
}


def cold_runtime_env(role: str = _COLD) -> dict[str, Any]:
    """The runtime environment of the job's actors that never run trials.

    Args:
        role: :data:`SERVE` or :data:`ROUTER` for Serve's processes and the routers, whose
            new workers import what they need as they start; the store and the monitor
            import nothing ahead.
    """
    return {"env_vars": {ENV: role}}


def setup() -> None:
    """Runs in each new worker of a lab driver's job: import what its actors will need.

    A trial worker (``MLOPS_LAB_WARM=1``) imports the trial code. The worker is registered
    with its raylet (and can be handed an actor) before this runs, so it announces itself
    first, and again once the imports are done; an actor handed to it in between starts
    when they are. A worker for Serve or a router imports that role's modules.
    """
    role = os.environ.get(ENV)
    if role == "1":
        _announce(imported=False)
        _import(TRIAL_MODULES)
        _announce(imported=True)
    elif role in ROLE_MODULES:
        _import(ROLE_MODULES[role])


def _import(modules: tuple[str, ...]) -> None:
    import importlib

    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError:  # one left out of this install: its user imports it, and says
            log.debug("could not import %s ahead", module, exc_info=True)


def _announce(imported: bool) -> None:
    try:
        import ray
        from ray.experimental import internal_kv

        context = ray.get_runtime_context()
        key = f"{KV_PREFIX}{context.get_job_id()}/{context.get_worker_id()}"
        value = {"pid": os.getpid(), "node_id": context.get_node_id(), "imported": imported}
        internal_kv._internal_kv_put(key, json.dumps(value))
    except Exception:  # announcing is best effort: the worker is warm all the same
        log.debug("could not announce a warm worker", exc_info=True)


@dataclass(frozen=True)
class WarmWorker:
    """An idle worker started for the next search."""

    pid: int
    node_id: str
    #: Whether it has imported the trial code yet (it is usable as soon as it is listed).
    imported: bool


class WarmPool:
    """Idle trial workers of this driver's job, started ahead of the next search.

    Args:
        size: How many workers to keep ready; 0 turns the pool off.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._requested = 0
        self._deadline = 0.0

    @property
    def enabled(self) -> bool:
        """Whether workers can be started ahead: a size, and a job that runs :func:`setup`."""
        return self.size > 0 and _job_runs_setup()

    def ready(self) -> list[WarmWorker]:
        """The workers started for the next search that have registered so far."""
        return _announced() if self._requested else []

    def refill(self) -> None:
        """Ask the local raylet for ``size`` idle workers with the trials' environment."""
        if not self.enabled:
            return
        _forget_announced()
        try:
            _prestart(self.size, trial_runtime_env())
        except Exception as exc:  # the raylet's API is internal to Ray: trials start cold
            log.warning("Trial workers could not be started ahead (%s); trials start cold.", exc)
            self._requested = 0
            return
        self._requested = self.size
        self._deadline = time.monotonic() + 30.0

    def wait(self, timeout: float = 60.0, poll_s: float = 0.1) -> list[WarmWorker]:
        """Wait until the requested workers have imported the trial code; return them.

        A search does not need this (see :meth:`claim`); it is for measuring a lab that has
        been up for a while, and for tests.
        """
        deadline = time.monotonic() + timeout
        # A lab asks for its first workers once the rest has started (runtime.py).
        with contextlib.suppress(_starting.StartError):
            _starting.wait_for(None, timeout)
        while time.monotonic() < deadline:
            workers = self.ready()
            if sum(w.imported for w in workers) >= self._requested:
                return workers
            time.sleep(poll_s)
        return self.ready()

    def claim(self, poll_s: float = 0.05) -> list[WarmWorker]:
        """Wait for the requested workers to register, then hand them to the search.

        A trial that asks for a worker before the started ones have registered would get a
        new, cold process, and the two would compete for the CPUs; waiting for registration
        takes a second or two at most. The pool is empty afterwards until :meth:`refill`.
        """
        while self._requested and time.monotonic() < self._deadline:
            if len(self.ready()) >= self._requested:
                break
            time.sleep(poll_s)
        claimed = self.ready()
        self._requested = 0
        return claimed


def trial_runtime_env() -> dict[str, str]:
    """The environment variables Tune gives its trial actors, as Tune computes them."""
    from ray.tune.execution.class_cache import DEFAULT_ENV_VARS, ENV_VARS_TO_PROPAGATE

    env = dict(DEFAULT_ENV_VARS)
    env.update({name: os.environ[name] for name in ENV_VARS_TO_PROPAGATE if name in os.environ})
    return env


def merged_runtime_env(job_env: dict[str, Any], env_vars: dict[str, str]) -> str:
    """The serialized runtime environment of an actor with ``env_vars`` in ``job_env``'s job.

    Ray merges the two in its core worker (environment variables merged, other keys
    replaced) and serializes the result as compact JSON with sorted keys; the raylet matches
    idle workers to actors by a hash of that text, so it must be reproduced exactly.
    """
    merged = dict(job_env)
    merged["env_vars"] = {**job_env.get("env_vars", {}), **env_vars}
    return json.dumps(merged, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _job_env() -> dict[str, Any]:
    import ray

    worker: Any = ray._private.worker.global_worker
    return json.loads(worker.core_worker.get_current_runtime_env() or "{}")


def _job_runs_setup() -> bool:
    import ray

    return ray.is_initialized() and _job_env().get("worker_process_setup_hook") == HOOK


def prestart_cold(role: str, count: int) -> None:
    """Ask the local raylet for ``count`` idle workers with :func:`cold_runtime_env` of ``role``.

    Serve's controller starts its proxy, and a deploy its replica, one after the other, and
    each would wait seconds for a new process: started ahead with the lab, these are ready
    (and have imported what they need) when asked for. Unused ones end after two minutes.
    Best effort, as the trial workers.
    """
    try:
        _prestart(count, cold_runtime_env(role)["env_vars"], keep_alive_s=_COLD_KEEP_ALIVE_S)
    except Exception as exc:  # the raylet's API is internal to Ray: Serve starts them cold
        log.warning("Workers for Serve could not be started ahead (%s).", exc)


def _prestart(count: int, env_vars: dict[str, str], keep_alive_s: int = KEEP_ALIVE_S) -> None:
    import ray
    from ray._private.grpc_utils import init_grpc_channel
    from ray.core.generated import common_pb2, node_manager_pb2, node_manager_pb2_grpc
    from ray.core.generated import runtime_environment_pb2 as env_pb2

    # Generated protobuf modules: their members are made at import, unknown to type checkers.
    common: Any = common_pb2
    messages: Any = node_manager_pb2
    runtime_env: Any = env_pb2

    node_id = ray.get_runtime_context().get_node_id()
    node = next(n for n in ray.nodes() if n["NodeID"] == node_id)
    channel = init_grpc_channel(f"{node['NodeManagerAddress']}:{node['NodeManagerPort']}")
    serialized = merged_runtime_env(_job_env(), env_vars)
    request = messages.PrestartWorkersRequest(
        language=common.PYTHON,
        job_id=ray._private.worker.global_worker.current_job_id.binary(),
        runtime_env_info=runtime_env.RuntimeEnvInfo(serialized_runtime_env=serialized),
        keep_alive_duration_secs=keep_alive_s,
        num_workers=count,
    )
    try:
        node_manager_pb2_grpc.NodeManagerServiceStub(channel).PrestartWorkers(request, timeout=10)
    finally:
        channel.close()


def _job_prefix() -> str:
    import ray

    return f"{KV_PREFIX}{ray.get_runtime_context().get_job_id()}/"


def _announced() -> list[WarmWorker]:
    from ray.experimental import internal_kv

    workers = []
    for key in internal_kv._internal_kv_list(_job_prefix()):
        value = internal_kv._internal_kv_get(key)
        if value:
            data = json.loads(value)
            workers.append(WarmWorker(int(data["pid"]), str(data["node_id"]), data["imported"]))
    return workers


def _forget_announced() -> None:
    from ray.experimental import internal_kv

    internal_kv._internal_kv_del(_job_prefix(), del_by_prefix=True)
