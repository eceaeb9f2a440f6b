"""Every path to an endpoint asks for that endpoint's current token, over real HTTP.

An endpoint deployed with a token (here through settings of its own, as a lab whose token
changed would deploy it) is reached at ``/<ep>/...`` through its router and at
``/v2/models/<ep>/...`` through the gateway: both must ask for the token the endpoint has
now, whichever endpoint created the gateway and whatever token it had then.
"""

from __future__ import annotations

import dataclasses

import pytest
import requests
from ray import serve
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from mlops_lab import Lab
from mlops_lab.serve._endpoint import deploy
from mlops_lab.serve._gateway import GATEWAY_APP

X, Y = load_iris(return_X_y=True, as_frame=True)
ROW = X.iloc[0].tolist()
TENSOR = {"name": "x", "shape": [1, 4], "datatype": "FP64", "data": ROW}


@pytest.fixture(scope="module")
def model(lab: Lab) -> str:
    return lab.registry.register("auth-lr", LogisticRegression(max_iter=1000).fit(X, Y)).ref


def _deploy(lab: Lab, name: str, model: str, token: str | None):
    settings = dataclasses.replace(lab.settings, auth_token=token)
    return deploy(name, model, store=lab.store, registry=lab.registry, settings=settings)


def _endpoint_answers(ep, token: str | None) -> dict[str, int]:
    """The status of each path to the endpoint, sent with ``token`` (None: no header)."""
    base = ep.url.rsplit("/", 1)[0]
    request_id = ep.predict([ROW]).request_id[0]  # the Python API is inside the lab
    calls = {
        "POST /<ep>/predict": ("POST", ep.url + "/predict", {"instances": [ROW]}),
        "POST /<ep>/feedback": ("POST", ep.url + "/feedback", {"request_id": request_id,
                                                              "reward": 1.0}),
        "GET /<ep>/openapi.json": ("GET", ep.url + "/openapi.json", None),
        "GET /<ep>": ("GET", ep.url, None),
        "GET /v2/models/<ep>": ("GET", f"{base}/v2/models/{ep.name}", None),
        "GET /v2/models/<ep>/ready": ("GET", f"{base}/v2/models/{ep.name}/ready", None),
        "POST /v2/models/<ep>/infer": ("POST", f"{base}/v2/models/{ep.name}/infer",
                                       {"inputs": [TENSOR]}),
    }  # fmt: skip
    return {path: _status(method, url, body, token) for path, (method, url, body) in calls.items()}


def _gateway_answers(ep, token: str | None) -> dict[str, int]:
    """The status of the gateway's own paths, sent with ``token``."""
    base = ep.url.rsplit("/", 1)[0] + "/v2"
    paths = ["", "/health/live", "/health/ready"]
    return {f"GET /v2{path}": _status("GET", base + path, None, token) for path in paths}


def _status(method: str, url: str, body: object, token: str | None) -> int:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    reply = requests.request(method, url, json=body, headers=headers, timeout=60)
    reply.json()  # every answer, refusals included, is JSON
    return reply.status_code


def _all(answers: dict[str, int], status: int) -> dict[str, int]:
    return dict.fromkeys(answers, status)


@pytest.mark.parametrize("guarded_first", [True, False], ids=["guarded-first", "open-first"])
def test_every_path_asks_for_the_endpoints_current_token(
    lab: Lab, model: str, guarded_first: bool
) -> None:
    """Deployed before or after an open endpoint, an endpoint with a token answers every
    path only with it; given a new token, only with the new one; the open endpoint stays
    open; the gateway's own paths ask for the token of the latest deploy."""
    serve.delete(GATEWAY_APP)  # so that the first deploy below creates the gateway again
    order = [("auth-guarded", "one"), ("auth-open", None)]
    if not guarded_first:
        order.reverse()
    endpoints = {name: _deploy(lab, name, model, token) for name, token in order}
    guarded, opened = endpoints["auth-guarded"], endpoints["auth-open"]
    try:
        for token, status in [("one", 200), (None, 401), ("two", 401)]:
            answers = _endpoint_answers(guarded, token)
            assert _all(answers, status) == answers, token
        answers = _endpoint_answers(opened, None)
        assert _all(answers, 200) == answers
        latest = order[-1][1]  # the gateway's own paths follow the latest deploy's token
        gateway = _gateway_answers(guarded, None)
        assert _all(gateway, 200 if latest is None else 401) == gateway
        assert _all(gateway, 200) == _gateway_answers(guarded, latest)

        _deploy(lab, "auth-guarded", model, "two")  # the token changes
        for token, status in [("two", 200), ("one", 401), (None, 401)]:
            answers = _endpoint_answers(guarded, token)
            assert _all(answers, status) == answers, token
        answers = _endpoint_answers(opened, None)
        assert _all(answers, 200) == answers
        gateway = _gateway_answers(guarded, "one")
        assert _all(gateway, 401) == gateway
        assert _all(gateway, 200) == _gateway_answers(guarded, "two")
    finally:
        for ep in endpoints.values():
            ep.undeploy()
