"""Endpoints from the notebook: deploy, split, canary, shadow, bandit, feedback, undeploy.

The endpoint's configuration lives in the store (``endpoints``; each change also in
``route_changes``); every change is checked first, then sent to the running router replicas
through Serve's ``reconfigure``, then recorded.
"""

from __future__ import annotations

import asyncio
import difflib
import json
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from ray import serve

from mlops_lab.config import Settings
from mlops_lab.errors import parameter_error
from mlops_lab.registry import Registry, RegistryError
from mlops_lab.routing import PolicyError
from mlops_lab.routing import _rollout as rollout
from mlops_lab.routing._rollout import Routes
from mlops_lab.serve._app import delete_router, run_router
from mlops_lab.serve._errors import EndpointError
from mlops_lab.serve._http import token_digest
from mlops_lab.serve._views import TrafficView, traffic
from mlops_lab.store import StoreClient

_NAME = re.compile(r"[a-z][a-z0-9-]{0,62}")


class Endpoint:
    """A deployed endpoint; get one with ``lab.deploy(...)`` or ``lab.endpoint(name)``.

    HTTP clients send the lab's token (``Authorization: Bearer <token>``) when it has one;
    the methods here call the router through a deployment handle from inside the lab's Ray
    cluster, which has token authentication of its own, and need none. Each deploy or
    change gives the endpoint the token of this endpoint's settings.

    Example:
        >>> ep = lab.deploy("iris", "iris@champion")
        >>> ep.canary("iris@4", steps=[0.1, 0.5, 1.0])
        >>> ep.advance(); ep.promote()
    """

    def __init__(self, name: str, store: StoreClient, registry: Registry, settings: Settings):
        self.name = name
        self._store = store
        self._registry = registry
        self._settings = settings

    def __repr__(self) -> str:
        routes = self.routes
        return f"<Endpoint {self.name} at {self.url}: {_describe(routes)}>"

    @property
    def url(self) -> str:
        """The endpoint's base URL (``POST {url}/predict``)."""
        return f"http://{self._settings.serve_host}:{self._settings.serve_port}/{self.name}"

    @property
    def routes(self) -> Routes:
        """The routes the endpoint serves now."""
        return Routes.from_json(self._config()["routes"])

    def split(self, weights: Mapping[str, float], *, trusted: Sequence[str] = ()) -> Endpoint:
        """Split traffic by weight between model versions, e.g. ``{"a@1": 0.9, "b@2": 0.1}``.

        ``trusted`` (in every change of routes) adds types the endpoint trusts artifacts
        with, for model versions that need them (see ``lab.registry.get(ref)``).
        """
        return self._change("split", lambda r: rollout.split(r, self._arms(weights)), trusted)

    def canary(
        self, model: str, steps: Sequence[float] = (0.05, 0.25, 0.5, 1.0), *,
        trusted: Sequence[str] = (),
    ) -> Endpoint:  # fmt: skip
        """Give ``model`` the first share in ``steps``; ``advance()`` moves to the next."""
        arm = self._arm(model)
        return self._change("canary", lambda r: rollout.start_canary(r, arm, list(steps)), trusted)

    def advance(self) -> Endpoint:
        """Move the canary to its next step."""
        return self._change("advance", rollout.advance)

    def rollback(self) -> Endpoint:
        """Stop the canary: all traffic back to the model it started from."""
        return self._change("rollback", rollout.rollback)

    def promote(self) -> Endpoint:
        """End the canary: all traffic to the candidate."""
        return self._change("promote", rollout.promote)

    def shadow(self, *models: str, trusted: Sequence[str] = ()) -> Endpoint:
        """Send every request also to ``models``; their outputs are logged, never returned.

        ``shadow()`` with no model stops shadowing.
        """
        arms = [self._arm(model) for model in models]
        return self._change("shadow", lambda r: rollout.shadow(r, arms), trusted)

    def bandit(
        self, models: Sequence[str], policy: str = "thompson", reward: str = "accuracy", *,
        trusted: Sequence[str] = (), **params: Any,
    ) -> Endpoint:  # fmt: skip
        """Let a bandit policy route between ``models``, learning from feedback.

        Args:
            models: The model versions to choose from (two or more).
            policy: ``epsilon_greedy``, ``ucb1``, ``thompson``, ``discounted_thompson``,
                ``sliding_window_ucb`` or ``linucb`` (contextual, on the numeric features).
            reward: "accuracy" (1 when the feedback's truth equals the prediction) or
                "reward" (the feedback's reward).
            trusted: Types to trust the artifacts with, as in :meth:`split`.
            **params: The policy's parameters (``gamma``, ``window``, ``epsilon``, ...).
        """
        arms = [self._arm(model) for model in models]
        return self._change(
            "bandit", lambda r: rollout.bandit(r, arms, policy, reward, params), trusted
        )

    def predict(self, data: pd.DataFrame | Sequence[Any]) -> pd.DataFrame:
        """Predict through the router (logged like an HTTP request).

        Returns:
            One row per instance: ``prediction``, ``request_id`` and ``model``.
        """
        rows = data.to_dict("records") if isinstance(data, pd.DataFrame) else list(data)
        answer = self._call("predict_payload", {"instances": rows})
        return pd.DataFrame(
            {
                "prediction": answer["predictions"],
                "request_id": answer["request_ids"],
                "model": answer["models"],
            }
        )

    def feedback(self, data: pd.DataFrame | Iterable[Mapping[str, Any]]) -> dict[str, Any]:
        """Give feedback by request id: columns ``request_id`` and ``truth`` and/or ``reward``.

        Returns:
            ``{"received": n, "duplicates": [...]}``; feedback given twice is stored once.
        """
        items = _feedback_items(data)
        return self._call("feedback", items, "api")

    def describe(self) -> dict[str, Any]:
        """What a router replica holds now: routes, the policy's statistics, log counts."""
        return _wait(self._handle().describe.remote())

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until a router replica's logged requests are in the store."""
        return bool(_wait(self._handle().flush.remote(timeout)))

    def traffic(self, every: str | float = "10s", last: str | float | None = None) -> pd.DataFrame:
        """Requests per model version per time bucket (one column per version)."""
        return traffic(self._store, self.name, every, last)

    def view(self, every: str | float = "10s", last: str | float | None = None) -> TrafficView:
        """The traffic share per model over time, as a chart in a notebook."""
        return TrafficView(self.traffic(every, last), self.name)

    def undeploy(self) -> None:
        """Stop serving; the endpoint's logged requests and feedback stay in the store."""
        config = self._config()  # refuses an endpoint that does not run
        delete_router(self.name)
        _record(self._store, self.name, "deleted", config, "undeploy")

    # Internals.

    def _change(self, kind: str, step: Any, trusted: Sequence[str] = ()) -> Endpoint:
        config = self._config()
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
            _check_loads(self._registry, arm, trust, kind)
        _check_same_inputs(self._registry, routes.models)
        _run(self.name, config, self._settings)
        _record(self._store, self.name, "running", config, kind)
        return self

    def _config(self) -> dict[str, Any]:
        return endpoint_config(self._store, self.name)

    def _arm(self, model: str) -> str:
        return _resolve(self._registry, model)

    def _arms(self, weights: Mapping[str, float]) -> dict[str, float]:
        if not isinstance(weights, Mapping):
            must = "be a dict of model version to weight, such as {'iris@1': 0.9, 'iris@2': 0.1}"
            raise EndpointError(parameter_error("weights", "split()", must, repr(weights)))
        return {self._arm(model): weight for model, weight in weights.items()}

    def _handle(self) -> Any:
        self._config()
        return serve.get_app_handle(self.name)

    def _call(self, method: str, *args: Any) -> dict[str, Any]:
        answer = _wait(getattr(self._handle(), method).remote(*args))
        if answer.pop("status") != 200:
            raise EndpointError(answer["error"])
        return answer


def _wait(response: Any) -> Any:
    """The result of a deployment call, also from a notebook.

    A notebook kernel runs an event loop, where Serve refuses to block; the wait then
    happens in a worker thread.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return response.result()
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(response.result).result()


def deploy(
    name: str, model: str, *, store: StoreClient, registry: Registry, settings: Settings,
    replicas: int = 1, replica_cpus: float = 0.0, trusted: Sequence[str] = (),
    allow_pickle: bool = False,
) -> Endpoint:  # fmt: skip
    """Serve ``model`` at ``/<name>``; on a running endpoint, route all traffic to it."""
    _check_name(name)
    _check_int(replicas, "replicas", 1)
    arm = _resolve(registry, model)
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
    }
    _check_same_inputs(registry, routes.models)
    _run(name, config, settings)
    _record(store, name, "running", config, "deploy")
    return Endpoint(name, store, registry, settings)


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
                "routes": _describe(Routes.from_json(_json(row["config"])["routes"])),
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


def _run(name: str, config: dict[str, Any], settings: Settings) -> None:
    served = {key: config[key] for key in ("routes", "trust", "limits", "log")}
    run_router(
        name, {**served, "auth": token_digest(settings.auth_token)}, namespace=settings.namespace,
        spill_dir=settings.home.absolute() / "spill", replicas=config["replicas"],
        replica_cpus=config["replica_cpus"],
    )  # fmt: skip


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


def _resolve(registry: Registry, model: str) -> str:
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


def _check_int(value: object, parameter: str, lowest: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < lowest:
        must = f"be an integer >= {lowest}"
        raise EndpointError(parameter_error(parameter, "deploy()", must, repr(value)))


def _feedback_items(data: Any) -> list[dict[str, Any]]:
    if isinstance(data, pd.DataFrame):
        if "request_id" not in data.columns:
            raise EndpointError(
                "Feedback needs a 'request_id' column (from a prediction's request ids), and "
                f"'truth' and/or 'reward'. Got the columns {list(data.columns)}."
            )
        columns = [c for c in ("request_id", "truth", "reward") if c in data.columns]
        records = data[columns].astype(object).where(data[columns].notna(), None)
        return records.to_dict("records")
    return [dict(item) for item in data]


def _describe(routes: Routes) -> str:
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
