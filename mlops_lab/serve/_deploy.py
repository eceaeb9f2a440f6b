"""The deploy driver: an endpoint's configuration checked, run on Ray Serve and recorded.

The configuration lives in the store (``endpoints``; each change also in
``route_changes``). Every change is checked first (the names, that each new model version
loads with the endpoint's trust, that all of them take the same features), then sent to the
running router replicas through Serve's ``reconfigure``, then recorded.
:class:`~mlops_lab.serve._endpoint.Endpoint` is the handle a notebook holds over this.
"""

from __future__ import annotations

import difflib
import json
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from ray import serve

from mlops_lab import _starting
from mlops_lab._warm import ROUTER, cold_runtime_env
from mlops_lab.config import Settings
from mlops_lab.errors import parameter_error
from mlops_lab.registry import Registry, RegistryError
from mlops_lab.routing import PolicyError
from mlops_lab.routing import _rollout as rollout
from mlops_lab.routing._rollout import Routes
from mlops_lab.serve._errors import EndpointError
from mlops_lab.serve._gateway import code_version
from mlops_lab.serve._http import token_digest
from mlops_lab.serve._router import Router
from mlops_lab.serve._shared import run_shared
from mlops_lab.store import StoreClient

_NAME = re.compile(r"[a-z][a-z0-9-]{0,62}")


@_starting.in_front()  # the trial workers started ahead wait for it
def start_endpoint(
    name: str, model: str, *, store: StoreClient, registry: Registry, settings: Settings,
    replicas: int, replica_cpus: float, trusted: Sequence[str], allow_pickle: bool,
    isolated: bool,
) -> None:  # fmt: skip
    """Serve ``model`` at ``/<name>``; on a running endpoint, route all traffic to it.

    The shadows and the trust of a running endpoint are kept; trust only grows. The endpoint
    is served by the lab's shared application unless it is ``isolated`` or has more than one
    replica or reserved CPUs (see ``_shared.py``).
    """
    _check_name(name)
    arm = resolve_model(registry, model)
    current = _current(store, name)
    known = (current or {}).get("trust", {"trusted": [], "allow_pickle": False})
    trust = {
        "trusted": sorted({*known["trusted"], *_names(trusted)}),
        "allow_pickle": bool(allow_pickle) or known["allow_pickle"],
    }
    _check_loads(registry, arm, trust, "deploy")
    routes = rollout.single(arm)
    if current is not None:
        old = Routes.from_json(current["routes"])
        routes = Routes(arms=routes.arms, params=routes.params, shadow=old.shadow)
    config = {
        "routes": routes.to_json(),
        "trust": trust,
        "limits": {},
        "log": True,
        "replicas": replicas,
        "replica_cpus": float(replica_cpus),
        "isolated": bool(isolated) or replicas != 1 or replica_cpus > 0,
    }
    _check_same_inputs(registry, routes.models)
    run_endpoint(name, config, settings)
    _record(store, name, "running", config, "deploy")


@_starting.in_front()  # the trial workers started ahead wait for it
def change_routes(
    name: str, kind: str, step: Callable[[Routes], Routes], trusted: Sequence[str], *,
    store: StoreClient, registry: Registry, settings: Settings,
) -> None:  # fmt: skip
    """Apply a rollout ``step`` to the routes of the running endpoint ``name``.

    Args:
        name: The endpoint.
        kind: The change's name as recorded in ``route_changes`` ("split", "canary", ...).
        step: From the current routes to the new ones (a pure rollout step).
        trusted: Type names the endpoint trusts artifacts with, added to those it has.
        store: The lab's store client.
        registry: The lab's model registry.
        settings: The lab's settings (the token the router checks, the spill folder).

    Raises:
        EndpointError: no such endpoint, a step the routes refuse, a model version that
            does not load or takes other features.
    """
    config = endpoint_config(store, name)
    current = Routes.from_json(config["routes"])
    try:
        routes = step(current)
    except PolicyError as exc:
        raise EndpointError(str(exc)) from None
    trust = config["trust"]
    trust = {**trust, "trusted": sorted({*trust["trusted"], *_names(trusted)})}
    config = {**config, "routes": routes.to_json(), "trust": trust}
    # Trust only grows, so the versions already served still load: check the new ones.
    for arm in set(routes.models) - set(current.models):
        _check_loads(registry, arm, trust, kind)
    _check_same_inputs(registry, routes.models)
    run_endpoint(name, config, settings, may_move=False)
    _record(store, name, "running", config, kind)


@_starting.in_front()  # the trial workers started ahead wait for it
def stop_endpoint(name: str, store: StoreClient, settings: Settings) -> None:
    """Stop serving ``name``; its logged requests and feedback stay in the store."""
    config = endpoint_config(store, name)  # refuses an endpoint that does not run
    if is_isolated(config):
        delete_router(name)
    else:
        _starting.wait_for(_starting.SHARED)
        run_shared(settings, endpoint=name)
    _record(store, name, "deleted", config, "undeploy")


def endpoint_config(store: StoreClient, name: str) -> dict[str, Any]:
    """The configuration of a running endpoint.

    Raises:
        EndpointError: no endpoint of that name runs (with the close names that do).
    """
    config = _current(store, name)
    if config is None:
        running = list_endpoints(store)["endpoint"].tolist()
        close = difflib.get_close_matches(str(name), running, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise EndpointError(
            f"No endpoint named {name!r} is deployed. Running endpoints: {running or 'none'}."
            f"{hint} Deploy one with lab.deploy({name!r}, 'model@champion')."
        )
    return config


def list_endpoints(store: StoreClient) -> pd.DataFrame:
    """The running endpoints with their routes."""
    rows = store.query(
        "SELECT endpoint, updated_at, config FROM endpoints WHERE status = 'running' "
        "ORDER BY endpoint"
    ).to_pylist()
    return pd.DataFrame(
        [
            {
                "endpoint": row["endpoint"],
                "routes": describe_routes(Routes.from_json(_json(row["config"])["routes"])),
                "updated_at": row["updated_at"],
            }
            for row in rows
        ],
        columns=["endpoint", "routes", "updated_at"],
    )


def _current(store: StoreClient, name: str) -> dict[str, Any] | None:
    rows = store.query(
        "SELECT config FROM endpoints WHERE endpoint = ? AND status = 'running'", [name]
    ).to_pylist()
    return _json(rows[0]["config"]) if rows else None


def run_endpoint(
    name: str, config: dict[str, Any], settings: Settings, *, may_move: bool = True
) -> None:
    """Serve ``name`` with ``config`` and the token digest of ``settings``.

    A shared endpoint is a change of the shared application's configuration; an isolated
    one runs its own application. Either way the gateway's own paths then ask for this
    token, and an endpoint that moved is served by the new place before the old one stops.
    ``may_move=False`` says the endpoint stays where it is (a change of routes), so there
    is no application of its own to look for.
    """
    auth = token_digest(settings.auth_token)
    served = {key: config[key] for key in ("routes", "trust", "limits", "log")} | {"auth": auth}
    _starting.wait_for(_starting.SERVE)
    if is_isolated(config):
        run_router(
            name, served, namespace=settings.namespace,
            spill_dir=settings.home.absolute() / "spill", replicas=config["replicas"],
            replica_cpus=config["replica_cpus"],
        )  # fmt: skip
        _starting.wait_for(_starting.SHARED)  # started with the lab: up by now, or soon
        run_shared(settings, auth=auth, endpoint=name)  # no shared copy of it any more
    else:
        _starting.wait_for(_starting.SHARED)
        run_shared(settings, auth=auth, endpoint=name, served=served)
        if may_move and name in serve.status().applications:  # it had an application
            delete_router(name)


def is_isolated(config: dict[str, Any]) -> bool:
    """Whether an endpoint's configuration has it served by an application of its own."""
    # Endpoints recorded before the shared application existed each had their own.
    return bool(config.get("isolated", True))


def _record(store: StoreClient, name: str, status: str, config: dict[str, Any], kind: str) -> None:
    """Store the endpoint's configuration and the change; an undeploy keeps the last one."""
    now = datetime.now(UTC).replace(tzinfo=None)
    created = store.query("SELECT created_at FROM endpoints WHERE endpoint = ?", [name])
    created_at = created.column("created_at")[0].as_py() if created.num_rows else now
    store.write(
        {
            "endpoints": [
                {
                    "endpoint": name, "created_at": created_at, "updated_at": now,
                    "status": status, "config": config,
                }
            ],
            "route_changes": [
                {
                    "change_id": uuid.uuid4().hex, "endpoint": name, "time": now, "kind": kind,
                    "config": config["routes"] if status == "running" else None,
                    "reason": None,
                }
            ],
        }
    )  # fmt: skip


def run_router(
    endpoint: str, config: dict[str, Any], *, namespace: str, spill_dir: Path, replicas: int,
    replica_cpus: float,
) -> None:  # fmt: skip
    """Deploy (or update in place) the router of ``endpoint`` with ``config``.

    Only ``config`` (the Serve ``user_config``) may differ between calls for an update to
    reach the running replicas through ``reconfigure`` without restarting them.
    """
    init_args = (endpoint, namespace, str(spill_dir / endpoint))
    deployment = serve.deployment(
        name="router",
        num_replicas=replicas,
        user_config=config,
        max_ongoing_requests=32,
        graceful_shutdown_timeout_s=20,
        # Their workers import the router's code as they start, not the trials' (see _warm).
        ray_actor_options={"num_cpus": replica_cpus, "runtime_env": cold_runtime_env(ROUTER)},
    )(Router)
    deployment._version = code_version(init_args)  # so a new config reconfigures in place
    app = deployment.bind(*init_args)
    serve.run(app, name=endpoint, route_prefix=f"/{endpoint}")


def delete_router(endpoint: str) -> None:
    """Stop an endpoint's router; its replicas send their last log rows first."""
    _starting.wait_for(_starting.SERVE)
    serve.delete(endpoint)


def resolve_model(registry: Registry, model: str) -> str:
    try:
        return registry.get(model).ref
    except RegistryError as exc:
        raise EndpointError(str(exc)) from None


def _check_loads(registry: Registry, arm: str, trust: Mapping[str, Any], step: str) -> None:
    """Refuse a model version the endpoint could not load with the trust it has."""
    try:
        registry.load(arm, trusted=trust["trusted"], allow_pickle=trust["allow_pickle"])
    except RegistryError as exc:
        raise EndpointError(
            f"{exc} For an endpoint, pass trusted=[...] to {step}() instead."
        ) from None


def _names(values: Sequence[str]) -> list[str]:
    if isinstance(values, str) or not all(isinstance(v, str) for v in values):
        must = "be a list of type names, such as ['sklearn.tree._tree.Tree']"
        raise EndpointError(parameter_error("trusted", "", must, repr(values)))
    return list(values)


def _check_same_inputs(registry: Registry, models: Sequence[str]) -> None:
    names = {
        model: [i["name"] for i in registry.get(model).signature["inputs"]] for model in models
    }
    first = models[0]
    for model, inputs in names.items():
        if inputs != names[first]:
            raise EndpointError(
                f"{model} takes the features {inputs}, but {first} takes {names[first]}. "
                "The model versions of one endpoint must take the same features."
            )


def _check_name(name: object) -> None:
    if not isinstance(name, str) or not _NAME.fullmatch(name) or name == "v2":
        raise EndpointError(
            "An endpoint name must start with a lowercase letter and hold only lowercase "
            f"letters, digits and '-' (at most 63), and not be 'v2'. Got {name!r} instead."
        )


def describe_routes(routes: Routes) -> str:
    if routes.is_bandit:
        text = f"{routes.policy} over {', '.join(routes.arms)}"
    else:
        weights = routes.params["weights"]
        text = ", ".join(f"{arm} {weights[arm]:.0%}" for arm in routes.arms)
    if routes.canary is not None:
        text += f" (canary step {routes.canary.step + 1} of {len(routes.canary.steps)})"
    if routes.shadow:
        text += f"; shadow {', '.join(routes.shadow)}"
    return text


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value
