"""Endpoints from the notebook: deploy one, then route, call, watch and undeploy it.

:class:`Endpoint` is the handle a notebook holds: its route changes go through the deploy
driver (``_deploy.py``: checked, run on Ray Serve, recorded), and its calls reach a router
replica through a deployment handle.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd
from ray import serve

from mlops_lab import _starting
from mlops_lab._options import BANDIT, CANARY, DEPLOY, resolve
from mlops_lab.config import Settings
from mlops_lab.errors import parameter_error
from mlops_lab.registry import Registry
from mlops_lab.routing import _rollout as rollout
from mlops_lab.routing._rollout import Routes
from mlops_lab.serve._deploy import (
    change_routes,
    describe_routes,
    endpoint_config,
    is_isolated,
    resolve_model,
    start_endpoint,
    stop_endpoint,
)
from mlops_lab.serve._errors import EndpointError
from mlops_lab.serve._gateway import GATEWAY_APP
from mlops_lab.serve._shared import result_of
from mlops_lab.serve._views import TrafficView, traffic
from mlops_lab.store import StoreClient

if TYPE_CHECKING:
    from mlops_lab.monitor._actor import LabMonitor


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
        return f"<Endpoint {self.name} at {self.url}: {describe_routes(routes)}>"

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
        self, model: str, steps: Sequence[float] = CANARY["steps"].default, *,
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
        self, models: Sequence[str], policy: str = BANDIT["policy"].default,
        reward: str = BANDIT["reward"].default, *,
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
        return result_of(self._remote("describe"))

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until a router replica's logged requests are in the store."""
        return bool(result_of(self._remote("flush", timeout)))

    def traffic(self, every: str | float = "10s", last: str | float | None = None) -> pd.DataFrame:
        """Requests per model version per time bucket (one column per version)."""
        return traffic(self._store, self.name, every, last)

    def view(self, every: str | float = "10s", last: str | float | None = None) -> TrafficView:
        """The traffic share per model over time, as a chart in a notebook."""
        return TrafficView(self.traffic(every, last), self.name)

    @property
    def monitor(self) -> LabMonitor:
        """The endpoint's monitor: call it to set its options and start it beside serving.

        ``run()`` runs a pass now, ``results(metric)`` shows what it found, ``health()``
        how it runs, ``stop()`` stops it.

        Example:
            >>> ep.monitor(window_rows=500)
            >>> ep.monitor.run().windows
            >>> ep.monitor.results("drift")
        """
        from mlops_lab.monitor._actor import LabMonitor  # the monitor loads on first use

        return LabMonitor(self._store, self.name, self._settings.namespace)

    def undeploy(self) -> None:
        """Stop serving, and the endpoint's monitor; what they logged stays in the store."""
        from mlops_lab.monitor._actor import stop_monitor

        stop_endpoint(self.name, self._store, self._settings)
        stop_monitor(self.name, self._settings.namespace)

    # Internals.

    def _change(
        self, kind: str, step: Callable[[Routes], Routes], trusted: Sequence[str] = ()
    ) -> Endpoint:
        change_routes(
            self.name, kind, step, trusted, store=self._store, registry=self._registry,
            settings=self._settings,
        )  # fmt: skip
        return self

    def _config(self) -> dict[str, Any]:
        return endpoint_config(self._store, self.name)

    def _arm(self, model: str) -> str:
        return resolve_model(self._registry, model)

    def _arms(self, weights: Mapping[str, float]) -> dict[str, float]:
        if not isinstance(weights, Mapping):
            must = "be a dict of model version to weight, such as {'iris@1': 0.9, 'iris@2': 0.1}"
            raise EndpointError(parameter_error("weights", "split()", must, repr(weights)))
        return {self._arm(model): weight for model, weight in weights.items()}

    def _remote(self, method: str, *args: Any) -> Any:
        """Call ``method`` of a replica of the endpoint's router, wherever it is served."""
        isolated = is_isolated(self._config())
        _starting.wait_for(_starting.SERVE)
        if isolated:
            return getattr(serve.get_app_handle(self.name), method).remote(*args)
        return serve.get_app_handle(GATEWAY_APP).call.remote(self.name, method, *args)

    def _call(self, method: str, *args: Any) -> dict[str, Any]:
        answer = result_of(self._remote(method, *args))
        if answer.pop("status") != 200:
            raise EndpointError(answer["error"])
        return answer


def deploy(
    name: str, model: str, *, store: StoreClient, registry: Registry, settings: Settings,
    **given: Any,
) -> Endpoint:  # fmt: skip
    """Serve ``model`` at ``/<name>``; on a running endpoint, route all traffic to it.

    ``given`` holds the options declared in ``DEPLOY`` (``replicas``, ``replica_cpus``,
    ``trusted``, ``allow_pickle``); an unknown one is refused with the closest name.
    """
    options = resolve(DEPLOY, given, EndpointError)
    start_endpoint(name, model, store=store, registry=registry, settings=settings, **options)
    return Endpoint(name, store, registry, settings)


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
