"""Start, attach to and stop the lab runtime: a Ray head, Ray Serve and the store actor."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import ray

from mlops_lab import _ray, _starting
from mlops_lab._connect import connect
from mlops_lab._warm import (
    ROUTER,
    SERVE,
    WarmPool,
    cold_runtime_env,
    job_runtime_env,
    prestart_cold,
)
from mlops_lab.config import Settings
from mlops_lab.data import Datasets
from mlops_lab.errors import LabError
from mlops_lab.registry import Registry
from mlops_lab.store._actor import ActorStore, find_store_actor, start_store_actor
from mlops_lab.store._store import Params

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.base import BaseEstimator

    from mlops_lab.serve import Endpoint
    from mlops_lab.train import TuneRun

# What serving and tuning need (Ray Serve, Tune, scikit-learn: seconds of imports) loads on
# first use, or in the thread that starts Serve: connect() returns without waiting for it.

log = logging.getLogger(__name__)
_current: Lab | None = None


class LabConnectionError(LabError, RuntimeError):
    """This process cannot attach to the lab's runtime."""


class LabNotRunningError(LabConnectionError):
    """No lab runtime runs for these settings, and starting one was not asked for."""


_DEAD_LETTERS_HINT = "(rows refused as bad data: lab.sql('SELECT * FROM dead_letters'))"


@dataclass(frozen=True)
class LabStatus:
    """What ``lab.status()`` reports; prints as text, renders as HTML in notebooks."""

    runtime: str
    ray_address: str
    nodes: int
    cpus: float
    store_path: str
    store_pid: int
    schema_version: int
    serve_url: str
    rows: dict[str, int] = field(default_factory=dict)
    endpoints: list[str] = field(default_factory=list)
    #: Rows the store refused as bad data, kept with the reason in its ``dead_letters`` table.
    dead_letters: int = 0
    #: What this process started in the background, and how far it is.
    started: str = ""

    def __str__(self) -> str:
        rows = ", ".join(f"{name} {count}" for name, count in self.rows.items() if count)
        lines = [
            f"mlops-lab: {self.runtime} runtime at {self.ray_address} "
            f"({self.nodes} node(s), {self.cpus:g} CPUs)",
            f"  store:     {self.store_path} (schema v{self.schema_version}, pid {self.store_pid})",
            f"  rows:      {rows or 'none yet'}",
            f"  serve:     {self.serve_url}",
            f"  endpoints: {', '.join(self.endpoints) or 'none yet'}",
        ]
        if self.started:
            lines.append(f"  started:   {self.started}")
        if self.dead_letters:
            lines.append(f"  dead letters: {self.dead_letters} {_DEAD_LETTERS_HINT}")
        return "\n".join(lines)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def _repr_html_(self) -> str:
        cells = "".join(
            f"<tr><th style='text-align:left'>{key}</th><td>{value}</td></tr>"
            for key, value in (
                ("runtime", f"{self.runtime} at {self.ray_address}"),
                ("cluster", f"{self.nodes} node(s), {self.cpus:g} CPUs"),
                ("store", f"{self.store_path} (schema v{self.schema_version})"),
                ("rows", ", ".join(f"{k}: {v}" for k, v in self.rows.items() if v) or "none"),
                ("serve", self.serve_url),
                ("endpoints", ", ".join(self.endpoints) or "none yet"),
                ("dead letters", f"{self.dead_letters} {_DEAD_LETTERS_HINT}"),
                ("started", self.started or "nothing in the background"),
            )
        )
        return f"<table>{cells}</table>"


class Lab:
    """A connection to the running lab; get one with :func:`connect`.

    Example:
        >>> lab = mlops_lab.connect()
        >>> lab.sql("SELECT count(*) AS n FROM requests")
    """

    def __init__(self, settings: Settings, head: _ray.LocalHead | None, address: str) -> None:
        self.settings = settings
        self._head = head
        self._address = address
        self.store = ActorStore(start_store_actor(str(settings.store_path), settings.namespace))
        self.datasets = Datasets(self.store)
        self.registry = Registry(self.store)
        #: Trial workers started ahead of the next search (see ``warm_workers``).
        self.warm = WarmPool(settings.warm_workers)
        self._starting: _starting.Starting | None = None

    def __repr__(self) -> str:
        return f"<Lab {self._runtime_kind()} at {self._address}, store {self.settings.store_path}>"

    def sql(self, query: str, params: Params = None) -> pd.DataFrame:
        """Run one read-only SQL statement on the store and return a DataFrame.

        Args:
            query: A SELECT (or WITH, FROM, DESCRIBE, SHOW, SUMMARIZE) statement.
            params: Values for ``?`` or ``$name`` placeholders; never format them in.

        Raises:
            ReadOnlyError: the statement would change the store; nothing was run.
            QueryError: DuckDB could not run it.

        Example:
            >>> lab.sql("SELECT * FROM requests WHERE endpoint = ?", params=["iris"])
        """
        return self.store.sql(query, params)

    def tune(
        self, estimator: BaseEstimator, param_space: dict[str, Any], **options: Any
    ) -> TuneRun:
        """Search hyper-parameters of a scikit-learn estimator in parallel on Ray Tune.

        Every trial (parameters, per-iteration scores, duration, status, error) is written
        to the store as it happens, and a live view shows the search in a notebook.

        Args:
            estimator: An unfitted estimator or Pipeline (parameters as in ``get_params``).
            param_space: Parameter -> list of values (grid), or a distribution
                (``ray.tune.loguniform(...)``, ``scipy.stats`` frozen) for random search.
            **options: ``dataset`` (a registered dataset, or a tuple ``(X, y)``),
                ``target`` (overrides the dataset's), ``metric`` (a scikit-learn scorer name,
                default "accuracy"), ``mode`` ("max"), ``search`` ("grid" | "random"),
                ``num_samples`` (random draws, 10), ``cv`` (folds or splitter, 3),
                ``scheduler`` ("asha" | None: ASHA stops poor trials early, for estimators
                with ``partial_fit``, ``warm_start`` ensembles, or histogram gradient
                boosting), ``max_iter`` (iterations under ASHA, 10), ``grace_period``
                (iterations before ASHA may stop a trial, 1),
                ``reduction_factor`` (ASHA keeps 1 in this many at each rung, 3),
                ``max_concurrent`` (parallel trials; every CPU by default), ``name``,
                ``background`` (return at once; the run goes on in a thread), ``progress``
                (live view, True), ``seed``.

        Returns:
            The :class:`TuneRun`: ``wait()``, ``stop()``, ``results()``, ``best()``.

        Raises:
            TuneError: a wrong argument, found before any trial starts.

        Example:
            >>> run = lab.tune(RandomForestClassifier(), {"max_depth": [3, 5, None]},
            ...                dataset="iris", metric="accuracy")
            >>> run.best().params
        """
        from mlops_lab.train import run_tune

        return run_tune(
            self.store, self.datasets, self.settings.home.absolute() / "tune", self.warm,
            estimator, param_space, **options,
        )  # fmt: skip

    def deploy(self, endpoint: str, model: str, **options: Any) -> Endpoint:
        """Serve a registered model version at ``/<endpoint>`` on Ray Serve.

        On a running endpoint, all traffic moves to ``model`` (shadows stay).

        Args:
            endpoint: Lowercase letters, digits and '-', such as "iris".
            model: A model reference: "name@champion", "name@3" or "name" (latest).
            **options: ``replicas`` (router replicas, 1), ``replica_cpus`` (CPUs reserved
                per replica, 0), ``trusted`` (types the artifact is trusted with),
                ``allow_pickle`` (load a pickle artifact), ``isolated`` (processes of the
                endpoint's own, False: the endpoint is served by the lab's shared router,
                which a deploy only reconfigures).

        Raises:
            EndpointError: a wrong name, an unknown model or an artifact needing trust.

        Example:
            >>> ep = lab.deploy("iris", "iris@champion")
            >>> ep.url
            'http://127.0.0.1:8000/iris'
        """
        from mlops_lab.serve._endpoint import deploy

        return deploy(
            endpoint, model, store=self.store, registry=self.registry, settings=self.settings,
            **options,
        )  # fmt: skip

    def endpoint(self, name: str) -> Endpoint:
        """A running endpoint, to change its routes or give feedback.

        Raises:
            EndpointError: no endpoint of that name runs.

        Example:
            >>> lab.endpoint("iris").canary("iris@4", steps=[0.1, 0.5, 1.0])
        """
        from mlops_lab.serve._deploy import endpoint_config
        from mlops_lab.serve._endpoint import Endpoint

        endpoint_config(self.store, name)
        return Endpoint(name, self.store, self.registry, self.settings)

    def endpoints(self) -> pd.DataFrame:
        """The running endpoints and how each routes its traffic."""
        from mlops_lab.serve._deploy import list_endpoints

        return list_endpoints(self.store)

    def monitoring(self, endpoint: str, metric: str | None = None) -> pd.DataFrame:
        """What the endpoint's monitor found: the latest value of each metric in each window.

        Args:
            endpoint: The endpoint's name.
            metric: Only this metric ("drift", "accuracy", "outlier_rate", ...); all if None.

        Example:
            >>> lab.monitoring("churn", "drift").pivot(
            ...     index="window_start", columns="feature", values="value")
        """
        from mlops_lab.monitor._read import monitoring

        return monitoring(self.store, endpoint, metric)

    def explain(self, request_id: str, method: str = "shap") -> dict[str, Any]:
        """Why a logged request got its prediction, from the model version that served it.

        ``"shap"``: each feature's contribution to the predicted class's probability (or a
        regressor's output), by TreeShap for tree models and KernelShap otherwise, against
        the version's background sample. ``"anchors"``: a rule on a few features under
        which the prediction holds with high precision. Stored once; asking again reads it.

        Example:
            >>> lab.explain(response["request_id"][0])["contributions"]
            {'tenure': -0.21, 'plan': 0.08, ...}
        """
        from mlops_lab.monitor._explain import explain

        return explain(self.store, request_id, method)

    def alerts(self, endpoint: str | None = None, *, open_only: bool = False) -> pd.DataFrame:
        """The monitors' alerts, the open ones first, newest first.

        Args:
            endpoint: Only this endpoint's; every endpoint's when None.
            open_only: Only the alerts not resolved yet.

        Example:
            >>> lab.alerts("churn", open_only=True)[["severity", "message"]]
        """
        from mlops_lab.monitor._read import alerts_frame

        return alerts_frame(self.store, endpoint, open_only=open_only)

    def feedback(self, endpoint: str, data: Any) -> dict[str, Any]:
        """Give feedback in bulk: a DataFrame with ``request_id`` and ``truth`` or ``reward``.

        Feedback may come long after the prediction; given twice, it is stored once.

        Example:
            >>> lab.feedback("iris", pd.DataFrame({"request_id": ids, "truth": labels}))
            {'received': 100, 'duplicates': []}
        """
        return self.endpoint(endpoint).feedback(data)

    def lineage(self, model: str) -> dict[str, Any]:
        """Where a model version came from: trial -> dataset version -> parents and prep.

        Example:
            >>> lab.lineage("churn@champion")["trial"]["params"]
        """
        described = self.registry.lineage(model)
        trial = None
        if described["trial_id"]:
            rows = self.store.query(
                "SELECT t.trial_id, t.experiment_id, t.params, t.metric AS score, e.metric, "
                "e.name AS experiment FROM trials t JOIN experiments e USING (experiment_id) "
                "WHERE t.trial_id = ?",
                [described["trial_id"]],
            ).to_pylist()
            trial = {**rows[0], "params": json.loads(rows[0]["params"])} if rows else None
        dataset = self.datasets.lineage(described["dataset"]) if described["dataset"] else None
        return {"model": described["model"], "trial": trial, "dataset": dataset}

    def status(self) -> LabStatus:
        """Report the runtime, the store and the endpoints."""
        info = self.store.info()
        endpoints = self.store.query(
            "SELECT endpoint FROM endpoints WHERE status != 'deleted' ORDER BY endpoint"
        )
        nodes = [node for node in ray.nodes() if node["Alive"]]
        rows = self.store.counts()
        return LabStatus(
            runtime=self._runtime_kind(),
            ray_address=self._address,
            nodes=len(nodes),
            cpus=sum(node["Resources"].get("CPU", 0.0) for node in nodes),
            store_path=info["path"],
            store_pid=info["pid"],
            schema_version=info["schema_version"],
            serve_url=f"http://{self.settings.serve_host}:{self.settings.serve_port}",
            rows=rows,
            endpoints=endpoints.column("endpoint").to_pylist(),
            dead_letters=rows.get("dead_letters", 0),
            started=self._starting.describe() if self._starting else "",
        )

    def wait_started(self, timeout: float = _starting.WAIT_S) -> None:
        """Wait until what the lab starts in the background is up.

        That is Serve, the v2 gateway and the trial workers started ahead. Nothing needs
        this: a deploy waits for Serve by itself. It is for measuring a lab that has
        finished starting, and for scripts that want to fail early.

        Raises:
            StartError: something failed to start, or is not up after ``timeout`` seconds.
        """
        if self._starting is not None:
            self._starting.wait(timeout=timeout)
        self.warm.wait(timeout=timeout)

    def disconnect(self) -> None:
        """Detach this process; the runtime and everything in it keep running.

        What this process was starting in the background (Serve, the gateway) is let
        finish first, so that the runtime is left whole.
        """
        self._let_start_finish()
        ray.shutdown()

    def shutdown(self) -> None:
        """Stop the lab: Serve, the store actor and, for a local runtime, the Ray head.

        On a cluster named by ``MLOPS_LAB_RAY_ADDRESS`` the cluster itself keeps running.
        Every acknowledged write is already committed to the DuckDB file.
        """
        from ray import serve

        self._let_start_finish()
        serve.shutdown()
        handle = find_store_actor(self.settings.namespace)
        if handle is not None:
            ray.get(handle.close.remote())
            ray.kill(handle, no_restart=True)
        ray.shutdown()
        if self._head is not None:
            _ray.stop_head(self._head, self.settings)

    def _let_start_finish(self) -> None:
        if self._starting is not None:
            with contextlib.suppress(_starting.StartError):
                self._starting.wait(timeout=_starting.WAIT_S)

    def _runtime_kind(self) -> str:
        return "local" if self._head is not None else "cluster"


def attach(settings: Settings, start: bool) -> Lab:
    """Attach this process to the lab runtime of ``settings``; see :func:`connect`.

    ``connect`` has made sure of Ray's token authentication before it imported this module.
    """
    with _serving_imported_meanwhile(_ray.head_starting(settings)):
        head, address = _find_or_start_ray(settings, start)
    if ray.is_initialized():
        _check_same_cluster(address)
    else:
        ray.init(
            address=address,
            namespace=settings.namespace,
            log_to_driver=False,
            logging_level=logging.WARNING,
            # New workers of this job import the trial code as they start (see _warm).
            runtime_env=job_runtime_env(),
        )
    serve_running = _serve_running()
    if not serve_running:
        # The raylet starts as many processes at once as there are cores. Beside the store
        # actor's, the one whose start is longest: the shared router's replica, which
        # imports Serve, the router and the model loaders (about 3 s of a core) as it starts.
        prestart_cold(ROUTER, 1)
    lab = Lab(settings, head, address)
    # A new store actor takes a process start: alone on the cores, it answers in about
    # two seconds; beside Serve's start it took four times as long.
    lab.store.info()
    if not serve_running:
        # Serve's controller and its proxy would each wait for a process start in turn, once
        # asked for: theirs begin now, and the controller is asked for when connect returns.
        prestart_cold(SERVE, 2)
    _start_in_background(lab)
    global _current
    _current = lab
    return lab


def current_lab() -> Lab:
    """The lab this process last connected to, connecting (or starting) one if needed."""
    if _current is not None and ray.is_initialized():
        return _current
    return connect()


@contextlib.contextmanager
def _serving_imported_meanwhile(head_starting: bool) -> Iterator[None]:
    """Import what Serve's start and a deploy need while this process waits for its head.

    Ray Serve and the router would otherwise be imported once the lab is up, beside the
    user's first calls (the registration of a model, say). The import ends before the block
    does: the caller goes on to ``ray.init``, and two threads importing the same modules
    could each find the other's half done.
    """
    if not head_starting:
        yield
        return
    importer = threading.Thread(target=_import_serving, daemon=True, name="import-serving")
    importer.start()
    try:
        yield
    finally:
        importer.join()


def _import_serving() -> None:
    try:
        import mlops_lab.serve._deploy  # noqa: F401  (Ray Serve and the router with it)
    except Exception as exc:  # the deploy imports it again and reports what fails
        log.debug("Serving could not be imported ahead: %s", exc)


def _find_or_start_ray(settings: Settings, start: bool) -> tuple[_ray.LocalHead | None, str]:
    if settings.ray_address:
        return None, settings.ray_address
    head = _ray.find_or_start_head(settings, start)
    if head is None:
        raise LabNotRunningError(
            f"No lab runs for {settings.home.absolute()}. Start one with "
            "mlops_lab.connect() or `mlops-lab up`."
        )
    return head, head.address


def _check_same_cluster(address: str) -> None:
    attached = ray.get_runtime_context().gcs_address
    if attached.rsplit(":", 1)[-1] != address.rsplit(":", 1)[-1]:
        raise LabConnectionError(
            f"This process is attached to the Ray cluster at {attached}, not to the lab's "
            f"at {address}. Call ray.shutdown() (or lab.disconnect()) first."
        )


def _start_in_background(lab: Lab) -> None:
    """Start Serve, the shared router and the trial workers ahead beside the user's work.

    Nothing that registers data, tunes or queries needs them; a deploy waits for what it
    needs (see ``_starting``). In a notebook, a status line shows how far they are. The
    trial workers come last, once no deploy is waiting: on a small machine their starts
    would take the cores from Serve and from the deploy.
    """
    settings = lab.settings

    def shared() -> None:
        from mlops_lab.serve._shared import start_shared

        start_shared(settings)

    from mlops_lab.ui._starting import StartLine, in_notebook

    show = StartLine() if in_notebook() else None
    lab._starting = _starting.begin(
        [(_starting.SERVE, lambda: _start_serve(settings)), (_starting.SHARED, shared)],
        on_change=show,
        then=lab.warm.refill,
    )


def _serve_running() -> bool:
    try:
        ray.get_actor("SERVE_CONTROLLER_ACTOR", namespace="serve")
    except ValueError:
        return False
    return True


def _start_serve(settings: Settings) -> None:
    """Start Ray Serve, and hand it the shared application as soon as its controller is up.

    Serve's proxy and the shared router's replica each need a process, which on a small
    machine takes seconds to start: the controller then starts them side by side, not one
    after the other.
    """
    from ray import serve

    # Serve's own lines on this driver (its start, each handle's router) would be printed
    # into whichever notebook cell runs at the time: the lab's status line says what starts.
    logging.getLogger("ray.serve").setLevel(logging.WARNING)
    if _serve_running():
        return

    from mlops_lab.serve._shared import start_shared

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="serve-start") as pool:
        started = pool.submit(
            serve.start,
            http_options={"host": settings.serve_host, "port": settings.serve_port},
            controller_options={"runtime_env": cold_runtime_env(SERVE)},
        )
        while not started.done() and not _serve_running():
            time.sleep(0.05)
        if not started.done():
            try:
                start_shared(settings, wait=False)
            except Exception as exc:  # the shared router's own step tries again, and says
                log.info("The shared application waits for Serve's start: %s", exc)
        started.result()
