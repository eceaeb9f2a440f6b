"""The router of one endpoint: the Ray Serve ingress that routes, predicts and logs.

Each replica holds the endpoint's model versions and its routing policy. For every request
it checks the input against the model signature, lets the policy choose a model version per
instance (with the propensity), predicts, runs the shadows, appends one log row per instance
and answers. Routes arrive through ``reconfigure`` (a Serve ``user_config``), so a change of
weights or policy takes effect in the running replicas without dropping a request.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from starlette.requests import Request
from starlette.responses import Response

from mlops_lab._json import encodable_value
from mlops_lab._text import encodable
from mlops_lab.protocol import (
    RequestError,
    binary_outputs,
    encode_response,
    infer_response,
    model_metadata,
    not_served,
    openapi,
    parse_feedback,
    parse_infer,
    parse_instances,
    read_json,
    served_version,
    split_body,
    to_json_values,
)
from mlops_lab.routing._rollout import Routes
from mlops_lab.serve._feedback import Learner, learn_feedback, store_feedback, take_feedback
from mlops_lab.serve._http import (
    error_response,
    json_response,
    no_route,
    read_body,
    unauthorized,
)
from mlops_lab.serve._log import LogBuffer
from mlops_lab.serve._models import Models, Served
from mlops_lab.serve._replica import Active, Replica
from mlops_lab.serve._rows import new_request_id, refused_row, served_rows
from mlops_lab.store._actor import ActorStore, find_store_actor

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limits:
    """What one request may hold."""

    max_body_bytes: int = 8 * 1024 * 1024
    max_instances: int = 10_000


@dataclass
class Outcome:
    """What a batch of instances got: predictions and how each was routed."""

    request_ids: list[str]
    predictions: list[Any]
    arms: list[str]


class Router:
    """One endpoint's router; Ray Serve makes it a deployment (see ``_deploy.py``).

    The router holds the endpoint's current authentication (the digest of its token, from
    ``reconfigure``) and checks it on every call that carries an outside request: its own
    HTTP paths, and :meth:`infer` and :meth:`metadata`, to which the gateway forwards the
    request's headers. The Python API's calls (:meth:`predict_payload`, :meth:`feedback`,
    :meth:`describe`, :meth:`flush`) come through a deployment handle from inside the lab's
    Ray cluster, which has token authentication of its own, and are trusted.

    What feedback and learning need (the store, the request log, the routes served now and
    the policy's lock) is the router's :class:`Replica`, which it hands to them.

    Args:
        endpoint: The endpoint's name; its HTTP routes live under ``/<endpoint>``.
        namespace: The lab's Ray namespace, where the store actor is found.
        spill_dir: Node-local folder of the request log's journal and spill files.
    """

    def __init__(self, endpoint: str, namespace: str, spill_dir: str) -> None:
        self.endpoint = endpoint
        self._prefix = f"/{endpoint}"
        handle = find_store_actor(namespace)
        if handle is None:
            raise RuntimeError(f"The lab's store actor is not running in '{namespace}'.")
        # A short timeout: while the store is away, log rows go to disk instead of waiting.
        # Rows are written once a second: a store transaction costs about 10 ms of CPU
        # whatever its size, which more frequent writes would take from the requests.
        self.log = LogBuffer(
            ActorStore(handle, timeout=0.5), "requests", spill_dir=Path(spill_dir),
            flush_every_s=1.0,
        )  # fmt: skip
        self.replica = Replica(endpoint, ActorStore(handle, timeout=10.0), self.log)
        self.models = Models(ActorStore(handle, timeout=60.0))
        self.limits = Limits()
        self.logging = True
        self.auth: str | None = None  # the SHA-256 of the token HTTP clients must send
        self.learner = Learner(self.replica)

    @property
    def active(self) -> Active | None:
        """The routes served now (the replica's), None until the first ``reconfigure``."""
        return self.replica.active

    def reconfigure(self, config: dict[str, Any]) -> None:
        """Take new routes (and limits); requests in flight finish on the old ones."""
        routes = Routes.from_json(config["routes"])
        self.limits = Limits(**config.get("limits", {}))
        self.logging = bool(config.get("log", True))
        self.auth = config.get("auth")
        current = self.active
        if current is not None and current.routes == routes:
            return
        models = self.models.load(routes.models, config.get("trust", {}))
        # A change of shadows alone keeps the routes' id, and what the policy learned.
        kept = current.policy if current and current.routes.route_id == routes.route_id else None
        active = Active.of(routes, kept or routes.make_policy(), models)
        if kept is None:
            self.learner.start_routes(active)
        self.replica.active = active

    def close(self) -> None:
        """Stop learning and send the log's last rows: the replica or the endpoint stops."""
        self.learner.stop()
        self.log.close(timeout=10.0)

    def __del__(self) -> None:
        # Ray Serve calls __del__ when it stops a replica gracefully: send what is left.
        self.close()

    # HTTP.

    async def __call__(self, request: Request) -> Response:
        """Answer ``/<endpoint>/predict``, ``/feedback``, ``/openapi.json`` and ``/``."""
        path = request.url.path
        tail = path[len(self._prefix) :] if path.startswith(self._prefix) else path
        tail = tail.rstrip("/")
        routes = {
            ("POST", "/predict"): self._http_predict,
            ("POST", "/feedback"): self._http_feedback,
            ("GET", "/openapi.json"): self._http_openapi,
            ("GET", ""): self._http_describe,
        }
        refused = unauthorized(request.headers, self.auth)
        if refused is not None:
            return error_response(refused)
        handler = routes.get((request.method, tail))
        if handler is None:
            return error_response(no_route(request.method, self._prefix + tail, routes))
        try:
            return await handler(request)
        except Exception:  # a defect, not the request's fault: still a JSON answer
            log.exception("%s %s failed", request.method, encodable(path))
            return error_response(_internal_error())

    async def _http_predict(self, request: Request) -> Response:
        start = time.perf_counter()
        body = await read_body(request, self.limits.max_body_bytes)
        try:
            if isinstance(body, RequestError):
                raise body
            payload = read_json(body, max_bytes=self.limits.max_body_bytes)
        except RequestError as error:
            self._log_error(error, body, start)
            return error_response(error)
        answer = self.predict_payload(payload, raw=body, start=start)
        status = answer.pop("status")
        return json_response(answer, status)

    async def _http_feedback(self, request: Request) -> Response:
        body = await read_body(request, self.limits.max_body_bytes)
        try:
            if isinstance(body, RequestError):
                raise body
            payload = read_json(body, max_bytes=self.limits.max_body_bytes)
            items = parse_feedback(payload, max_items=self.limits.max_instances)
            # The thread only waits for the store; learning is quick, and done here.
            stored = await asyncio.to_thread(store_feedback, self.replica, items, "http")
        except RequestError as error:
            return error_response(error)
        return json_response(learn_feedback(self.learner, items, stored))

    async def _http_openapi(self, request: Request) -> Response:
        active = self.active
        if active is None:
            return error_response(_not_ready(self.endpoint))
        return json_response(openapi(self.endpoint, active.inputs, active.signature))

    async def _http_describe(self, request: Request) -> Response:
        return json_response(self.describe())

    # Calls through a deployment handle: the Python API (trusted, see the class docstring)
    # and the Open Inference Protocol gateway (checked, with the request's headers).

    def describe(self) -> dict[str, Any]:
        """The endpoint's routes, the policy's statistics and the log's counts."""
        active = self.active
        stats = self.log.stats()
        with self.replica.lock:
            learned = active.policy.stats() if active is not None else {}
        return {
            "endpoint": self.endpoint,
            "replica_pid": os.getpid(),
            "routes": None if active is None else active.routes.to_json(),
            "policy_stats": learned,
            "log": stats.__dict__,
        }

    def predict_payload(
        self, payload: Any, *, raw: bytes | None = None, start: float | None = None
    ) -> dict[str, Any]:
        """Predict for ``{"instances": [...]}`` given as Python values (status and body).

        ``raw`` is the body the payload was read from (logged if refused); ``start`` when
        the request arrived. Without ``raw`` the payload comes from the Python API, whose
        text is made encodable here (``read_json`` does it for HTTP bodies).
        """
        start = time.perf_counter() if start is None else start
        if raw is None:
            payload = encodable_value(payload)
        try:
            active = self._require_active()
            frame = parse_instances(payload, active.inputs, max_instances=self.limits.max_instances)
            outcome = self.predict_frame(frame, active, start)
        except RequestError as error:
            self._log_error(error, payload if raw is None else raw, start)
            return {"status": error.status, **error.body()}
        return {
            "status": 200,
            "predictions": outcome.predictions,
            "request_ids": outcome.request_ids,
            "models": outcome.arms,
        }

    def infer(
        self, body: bytes, headers: dict[str, str], version: str | None = None
    ) -> dict[str, Any]:
        """An Open Inference Protocol v2 inference: status, then error body or reply.

        A refused request gets its status and the error's JSON body; an answered one gets
        200, the reply's ``content`` (bytes) and its ``headers``.

        Args:
            body: The request body: JSON, possibly followed by binary tensor data.
            headers: The request's headers, names in lower case; ``authorization`` must
                carry the endpoint's token when it has one.
            version: The model version of a ``/versions/<version>/infer`` path; it must be
                one the endpoint serves, and the endpoint routes the request as any other.
        """
        start = time.perf_counter()
        try:
            refused = unauthorized(headers, self.auth)
            if refused is not None:
                return {"status": refused.status, **refused.body()}
            return self._infer(body, headers, version, start)
        except Exception:  # a defect, not the request's fault: still a JSON answer
            log.exception("An inference on %s failed", self.endpoint)
            return {"status": 500, **_internal_error().body()}

    def _infer(
        self, body: bytes, headers: dict[str, str], version: str | None, start: float
    ) -> dict[str, Any]:
        try:
            payload, data = split_body(body, headers, max_bytes=self.limits.max_body_bytes)
            active = self._require_active()
            if version is not None and version not in active.routes.arms:
                raise not_served(version, active.routes.arms)
            frame, infer_id = parse_infer(
                payload, active.inputs, max_instances=self.limits.max_instances, binary=data
            )
            binary = binary_outputs(payload)
            outcome = self.predict_frame(frame, active, start)
        except RequestError as error:
            self._log_error(error, body, start)
            return {"status": error.status, **error.body()}
        answer = infer_response(
            self.endpoint,
            served_version(outcome.arms, active.routes.arms),
            infer_id or outcome.request_ids[0],
            outcome.predictions,
            request_ids=outcome.request_ids,
            parameters={"models": outcome.arms, "route_id": active.routes.route_id},
        )
        content, reply_headers = encode_response(answer, binary)
        return {"status": 200, "content": content, "headers": reply_headers}

    def metadata(self, headers: dict[str, str], version: str | None = None) -> dict[str, Any]:
        """The Open Inference Protocol's model metadata (status and body).

        Its versions are the model versions the endpoint routes to.

        Args:
            headers: The request's headers, names in lower case, as for :meth:`infer`.
            version: From a ``/versions/<version>`` path; it must be one of them.
        """
        refused = unauthorized(headers, self.auth)
        if refused is not None:
            return {"status": refused.status, **refused.body()}
        active = self.active
        if active is None:
            return {"status": 503, **_not_ready(self.endpoint).body()}
        served = list(active.routes.arms)
        if version is not None and version not in served:
            return {"status": 404, **not_served(version, served).body()}
        body = model_metadata(self.endpoint, active.inputs, active.signature, served)
        return {"status": 200, **body}

    def feedback(self, items: list[dict[str, Any]], source: str = "api") -> dict[str, Any]:
        """Take feedback given as Python values (status and body)."""
        items = encodable_value(items)
        try:
            parsed = parse_feedback(items, max_items=max(len(items), 1))
            return {"status": 200, **take_feedback(self.replica, self.learner, parsed, source)}
        except RequestError as error:
            return {"status": error.status, **error.body()}

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every request logged so far is in the store."""
        return self.log.flush(timeout)

    # Serving.

    def predict_frame(self, frame: pd.DataFrame, active: Active, start: float) -> Outcome:
        """Route each instance, predict, run the shadows and log one row per instance."""
        routes = active.routes
        contexts = None
        if active.policy.contextual:
            contexts = frame[active.contexts].to_numpy(dtype=float)
        with self.replica.lock:
            decisions = [
                active.policy.choose(routes.arms, None if contexts is None else contexts[i])
                for i in range(len(frame))
            ]
        predictions: list[Any] = [None] * len(frame)
        for arm, rows in _group(decisions).items():
            part = frame if len(rows) == len(frame) else frame.iloc[rows]
            values = _predict(active.models[arm], part)
            for row, value in zip(rows, values, strict=True):
                predictions[row] = value
        shadows = {arm: _shadow(active.models[arm], frame) for arm in routes.shadow}
        outcome = Outcome(
            [new_request_id() for _ in decisions], predictions, [d.arm for d in decisions]
        )
        if self.logging:
            self._log(
                served_rows(
                    self.endpoint, active, frame, decisions, outcome.request_ids,
                    outcome.predictions, shadows, _since(start),
                )
            )  # fmt: skip
        return outcome

    def _log_error(self, error: RequestError, body: Any, start: float) -> None:
        if self.logging:
            self._log([refused_row(self.endpoint, self.active, error, body, _since(start))])

    def _log(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            self.log.append(row)

    def _require_active(self) -> Active:
        active = self.active
        if active is None:
            raise _not_ready(self.endpoint)
        return active


def _since(start: float) -> float:
    """Milliseconds since ``start`` (a ``time.perf_counter()``): a row's latency."""
    return (time.perf_counter() - start) * 1000.0


def _predict(served: Served, frame: pd.DataFrame) -> list[Any]:
    try:
        return to_json_values(served.model.predict(frame))
    except Exception as exc:  # the input passed the signature yet the model refused it
        raise RequestError(
            422,
            "model_error",
            f"Model {served.ref} could not predict on this input: {type(exc).__name__}: "
            f"{encodable(str(exc))}. Check the values against the data the model was trained on.",
        ) from None


def _shadow(served: Served, frame: pd.DataFrame) -> list[Any]:
    try:
        return to_json_values(served.model.predict(frame))
    except Exception as exc:  # a shadow never fails the request; its error is logged
        return [{"error": encodable(f"{type(exc).__name__}: {exc}")}] * len(frame)


def _group(decisions: list[Any]) -> dict[str, list[int]]:
    rows: dict[str, list[int]] = defaultdict(list)
    for i, decision in enumerate(decisions):
        rows[decision.arm].append(i)
    return rows


def _internal_error() -> RequestError:
    return RequestError(
        500, "internal_error", "The router failed on this request; its log says why. The "
        "request may be sent again; report it if it fails the same way.",
    )  # fmt: skip


def _not_ready(endpoint: str) -> RequestError:
    return RequestError(
        503, "not_ready", f"The endpoint '{endpoint}' has no routes yet; retry in a moment."
    )
