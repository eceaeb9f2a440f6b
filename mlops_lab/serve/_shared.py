"""The lab's shared application: every shared endpoint's router, and the ``/v2`` gateway.

A Ray Serve application starts a process per replica, which on a small machine takes ten
seconds or more. The lab therefore starts one application, at ``/``, when it starts: its
replica holds a :class:`~mlops_lab.serve._router.Router` per shared endpoint and answers the
Open Inference Protocol paths. Deploying an endpoint, changing its routes or undeploying it
changes this application's ``user_config`` (``{"auth": ..., "endpoints": {name: config}}``),
which Serve hands to the running replica through ``reconfigure``: about a second, with no
process started. An endpoint that asks for isolation (or for more replicas, or reserved
CPUs) is an application of its own at ``/<endpoint>``, which Serve prefers for its longer
prefix.

The running replica is the source of each shared endpoint's configuration (its token's
digest is not stored elsewhere), so a change reads it there, changes one part and runs the
application again, under a lock in the lab's folder that serialises the changes of every
process on this machine.

Serve hands a new ``user_config`` to the replica only at its next control-loop pass, after
the replica's status is checked: a few hundred milliseconds. So a change, once Serve has
it (and a restarted replica would get it), also hands it to the running replica itself,
through the application's handle. Each configuration carries a ``generation``, one more
than the one it replaces, and a replica takes only a configuration newer than its own:
when Serve's copy of the same change arrives, or an older one still on its way, it is
ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ray import serve
from ray.serve.exceptions import DeploymentUnavailableError
from starlette.requests import Request
from starlette.responses import Response

from mlops_lab import _starting
from mlops_lab._lock import file_lock
from mlops_lab._warm import ROUTER, cold_runtime_env
from mlops_lab.config import Settings
from mlops_lab.protocol import RequestError
from mlops_lab.registry._artifacts import import_ahead
from mlops_lab.serve._errors import EndpointError
from mlops_lab.serve._gateway import GATEWAY_APP, Gateway, code_version
from mlops_lab.serve._http import error_response, token_digest
from mlops_lab.serve._router import Router

log = logging.getLogger(__name__)

# How long a retired endpoint's requests in flight may take before its log is closed.
_RETIRE_S = 20.0
# How long a change waits for the running replica to say what it serves.
_ASK_S = 120.0


class SharedRouter(Gateway):
    """The shared endpoints' routers in one replica, behind the ``/v2`` gateway's paths.

    Args:
        namespace: The lab's Ray namespace, where the routers find the store actor.
        spill_dir: Node-local folder; each endpoint's journal is in ``<spill_dir>/<name>``.
    """

    def __init__(self, namespace: str, spill_dir: str) -> None:
        # The replica is started ahead of any endpoint: what loading a model imports is
        # imported meanwhile, so that the first deploy does not wait for it (a worker of the
        # router's role has imported it as it started; one of a driver without the lab's
        # worker setup has not).
        threading.Thread(target=_import_ahead, daemon=True, name="import-ahead").start()
        super().__init__()
        self.namespace = namespace
        self.spill_dir = Path(spill_dir)
        self.routers: dict[str, Router] = {}
        self._config: dict[str, Any] = {"auth": None, "endpoints": {}, "generation": -1}
        self._in_flight: dict[str, int] = {}
        self._lock = threading.Lock()
        self._changing = threading.Lock()  # Serve's reconfigure, and a change handed over

    def reconfigure(self, config: dict[str, Any]) -> None:
        """Take the gateway's token and the endpoints' configurations, and match them.

        A new endpoint gets a router, a changed one its new routes, and one left out is
        retired: it answers no new request, and its log is closed once its requests end. A
        configuration no newer than the one served (by its ``generation``) is ignored.
        """
        generation = int(config.get("generation", 0))
        with self._changing:
            if generation <= self._config["generation"]:
                return
            super().reconfigure(config)
            wanted: dict[str, Any] = config.get("endpoints", {})
            for name in [name for name in self.routers if name not in wanted]:
                self._retire(name)
            for name, served in wanted.items():
                router = self.routers.get(name)
                if router is None:
                    router = Router(name, self.namespace, str(self.spill_dir / name))
                router.reconfigure(served)  # a new router serves once it has its routes
                self.routers[name] = router
            self._config = {
                "auth": config.get("auth"), "endpoints": dict(wanted), "generation": generation
            }  # fmt: skip

    def take_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """Take a change handed over by :func:`run_shared` (a handle call).

        Returns the configuration served then: that change, or a newer one.
        """
        self.reconfigure(config)
        return self._config

    def current_config(self) -> dict[str, Any]:
        """The configuration this replica serves (a handle call, for :func:`run_shared`)."""
        return self._config

    def call(self, endpoint: str, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call a shared endpoint's router (the Python API's calls, through a handle)."""
        router = self.routers.get(endpoint)
        if router is None:
            return {"status": 404, **_unknown(endpoint).body()}
        with self._serving(endpoint):
            return getattr(router, method)(*args, **kwargs)

    async def __call__(self, request: Request) -> Response:
        """``/v2/...`` to the gateway; ``/<endpoint>/...`` to that endpoint's router."""
        first = request.url.path.strip("/").split("/", 1)[0]
        if first == "v2":
            return await super().__call__(request)
        router = self.routers.get(first)
        if router is None:
            return error_response(_unknown(first))
        with self._serving(first):
            return await router(request)

    async def _ask(self, endpoint: str, method: str, *args: Any, **kwargs: Any) -> Any:
        router = self.routers.get(endpoint)
        if router is None:  # an endpoint of its own: through its application's handle
            return await super()._ask(endpoint, method, *args, **kwargs)
        with self._serving(endpoint):
            return getattr(router, method)(*args, **kwargs)

    def __del__(self) -> None:
        # Ray Serve calls __del__ when it stops the replica gracefully: each log sends its rows.
        for router in self.routers.values():
            router.close()

    @contextlib.contextmanager
    def _serving(self, endpoint: str) -> Iterator[None]:
        with self._lock:
            self._in_flight[endpoint] = self._in_flight.get(endpoint, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                self._in_flight[endpoint] -= 1

    def _retire(self, name: str) -> None:
        """Stop routing to ``name`` now; close its router once its requests have ended."""
        router = self.routers.pop(name)

        def close() -> None:
            deadline = time.monotonic() + _RETIRE_S
            while self._in_flight.get(name, 0) > 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            router.close()

        threading.Thread(target=close, daemon=True, name=f"retire-{name}").start()


def _import_ahead() -> None:
    try:
        import_ahead()
    except Exception as exc:  # the first load raises it, with what to do
        log.info("The model loaders could not be imported ahead: %s", exc)


def _unknown(endpoint: str) -> RequestError:
    return RequestError(
        404, "unknown_endpoint", f"No endpoint is named {endpoint!r}. List the endpoints "
        "with lab.endpoints() or `%mlops endpoints`.",
    )  # fmt: skip


def _changes_lock(settings: Settings) -> contextlib.AbstractContextManager[None]:
    """Serialise the changes of the shared application made by this machine's processes."""
    return file_lock(settings.home / "shared-app.lock")


def run_shared(
    settings: Settings, *, auth: Any = ..., endpoint: str | None = None,
    served: dict[str, Any] | None = None,
) -> None:  # fmt: skip
    """Start the shared application, or change one part of the running one's configuration.

    Args:
        settings: The lab's settings (namespace, spill folder, the lock's folder).
        auth: The gateway's token digest (None: open); left as it is when not given.
        endpoint: An endpoint to add, change (with ``served``) or remove (without).
        served: The endpoint's configuration, as its router takes it.
    """
    with _changes_lock(settings):
        running = running_config()
        config = running or {"auth": None, "endpoints": {}}
        endpoints = dict(config["endpoints"])
        if endpoint is not None:
            if served is None:
                endpoints.pop(endpoint, None)
            else:
                endpoints[endpoint] = served
        new = {"auth": config["auth"] if auth is ... else auth, "endpoints": endpoints}
        if running is not None and new == _content(running):
            return  # a serve.run takes a second even when nothing changes
        new["generation"] = int(config.get("generation", 0)) + 1
        _deploy(settings, new, running=running is not None)


def start_shared(settings: Settings, wait: bool = True) -> None:
    """Start the shared application, with no endpoint and the lab's token, unless one runs.

    Args:
        settings: The lab's settings.
        wait: Whether to wait until its replica answers (see :func:`_until_up`); without,
            this returns once Serve has the application (and its proxy serves).
    """
    with _changes_lock(settings):
        if GATEWAY_APP not in serve.status().applications:
            auth = token_digest(settings.auth_token)
            first: dict[str, Any] = {"auth": auth, "endpoints": {}, "generation": 0}
            _submit(settings, first)
    if wait:
        _until_up()


def running_config() -> dict[str, Any] | None:
    """The configuration the shared application's replica serves; None if none runs.

    Raises:
        EndpointError: the application runs but its replica did not answer (it may be
            starting on a busy machine); nothing was changed.
    """
    if GATEWAY_APP not in serve.status().applications:
        return None
    return _served_config()


def _served_config() -> dict[str, Any]:
    """Ask the running replica what it serves (see :func:`running_config`)."""
    return _ask_replica(  # type: ignore[no-any-return]
        "current_config", failed=f"did not say what it serves within {_ASK_S:.0f} s",
        after="nothing was changed. Its replica may still be starting: try again in a "
        "moment (lab.status() says how far it is).",
    )  # fmt: skip


def _ask_replica(method: str, *args: Any, failed: str, after: str) -> Any:
    """Call ``method`` of the running shared replica through the application's handle.

    Raises:
        EndpointError: no answer within ``_ASK_S``, or the replica's own error; the message
            says what ``failed``, the cause, and ``after`` it what stands and what to do.
    """
    try:
        handle = serve.get_app_handle(GATEWAY_APP)
        return result_of(getattr(handle, method).remote(*args), timeout_s=_ASK_S)
    except Exception as exc:
        raise EndpointError(
            f"The lab's shared application {failed} ({type(exc).__name__}: {exc}); {after}"
        ) from None


def result_of(response: Any, timeout_s: float | None = None) -> Any:
    """The result of a deployment handle's call, also from a notebook.

    A notebook kernel runs an event loop, where Serve refuses to block; the wait then
    happens in a worker thread.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return response.result(timeout_s=timeout_s)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(response.result, timeout_s=timeout_s).result()


def _content(config: dict[str, Any]) -> dict[str, Any]:
    """A configuration without its generation: what it serves."""
    return {key: value for key, value in config.items() if key != "generation"}


def _deploy(settings: Settings, config: dict[str, Any], running: bool = False) -> None:
    """Run the shared application with ``config``, until its replica serves it.

    ``serve.run`` would poll the application's status once a second. The application is
    instead submitted, and then a new replica is waited for until it answers, and a
    running one is handed the change (see the module's notes).
    """
    _submit(settings, config)
    if running:
        _hand_over(config)
    else:
        _until_up()


def _submit(settings: Settings, config: dict[str, Any]) -> None:
    """Hand the shared application with ``config`` to Serve, without waiting for it."""
    init_args = (settings.namespace, str(settings.home.absolute() / "spill"))
    deployment = serve.deployment(
        name="shared",
        user_config=config,
        max_ongoing_requests=64,
        graceful_shutdown_timeout_s=20,
        # Its worker imports the router's code as it starts, not the trials' (see _warm).
        ray_actor_options={"num_cpus": 0, "runtime_env": cold_runtime_env(ROUTER)},
    )(SharedRouter)
    deployment._version = code_version(("shared", *init_args))  # reconfigure in place
    app = deployment.bind(*init_args)
    target = serve.RunTarget(app, name=GATEWAY_APP, route_prefix="/")
    serve.run_many([target], wait_for_applications_running=False)


def _until_up(every_s: float = 1.0) -> None:
    """Wait until a new shared application's replica answers, or its start has failed.

    A call through the application's handle waits for a replica and is answered as soon as
    one is up; every ``every_s`` without an answer, the application's status says whether
    its replica failed to start. A handle that still knows only an application deleted
    before this one refuses calls until Serve tells it of the new one: that is waited out.
    """
    handle = serve.get_app_handle(GATEWAY_APP)
    deadline = time.monotonic() + _starting.WAIT_S
    while time.monotonic() < deadline:
        response = handle.current_config.remote()
        try:
            result_of(response, timeout_s=every_s)
            return
        except TimeoutError:
            response.cancel()
        except DeploymentUnavailableError:
            time.sleep(every_s)
        status = serve.status().applications.get(GATEWAY_APP)
        if status is None or status.status == "DEPLOY_FAILED":
            raise EndpointError(
                "The lab's shared application failed to start: "
                f"{status.message if status else 'it was deleted meanwhile'}. The lab's "
                "Ray log says more (mlops-lab status); connect again to retry."
            )
    raise EndpointError(
        f"The lab's shared application did not start within {_starting.WAIT_S:.0f} s. The "
        "machine may be busy: wait, or free some cores and connect again."
    )


def _hand_over(config: dict[str, Any]) -> None:
    """Hand the running shared replica the change ``config``, which Serve has, until taken.

    The replica serves this change or a newer one when the call returns.
    """
    _ask_replica(
        "take_config", config, failed="did not take its new configuration",
        after="Serve has it too and hands it to the replica when it answers: lab.status() "
        "says how it is.",
    )  # fmt: skip
