"""Endpoints in the lab's shared application: deployed by a reconfigure, kept apart, lost none."""

from __future__ import annotations

import threading

import pandas as pd
import pytest
import requests
from ray import serve
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from mlops_lab import Lab
from mlops_lab.serve._gateway import GATEWAY_APP
from tests._eventually import eventually

X, Y = load_iris(return_X_y=True, as_frame=True)
BODY = {"instances": X.head(2).to_numpy().tolist()}


@pytest.fixture(scope="module")
def model(lab: Lab) -> str:
    return lab.registry.register("shared-lr", LogisticRegression(max_iter=1000).fit(X, Y)).ref


def _replica_pid(lab: Lab, name: str) -> int:
    return int(lab.endpoint(name).describe()["replica_pid"])


def test_shared_endpoints_run_in_one_process_and_an_isolated_one_in_its_own(
    lab: Lab, model: str
) -> None:
    """Two endpoints deployed with the defaults are served by the same replica, with no
    application of their own; one deployed isolated has its own application and process;
    each answers at its own path."""
    names = ["shared-a", "shared-b", "shared-own"]
    lab.deploy("shared-a", model)
    lab.deploy("shared-b", model)
    lab.deploy("shared-own", model, isolated=True)
    try:
        for name in names:
            reply = requests.post(f"{lab.endpoint(name).url}/predict", json=BODY, timeout=60)
            assert reply.status_code == 200, reply.text
        assert _replica_pid(lab, "shared-a") == _replica_pid(lab, "shared-b")
        assert _replica_pid(lab, "shared-own") != _replica_pid(lab, "shared-a")
        apps = serve.status().applications
        assert "shared-own" in apps and "shared-a" not in apps and GATEWAY_APP in apps
    finally:
        for name in names:
            lab.endpoint(name).undeploy()


def test_an_endpoint_undeployed_under_load_loses_no_row_and_another_keeps_serving(
    lab: Lab, model: str
) -> None:
    """Two shared endpoints take requests at once; one is undeployed meanwhile. Every 200
    either gave has exactly one row, under its own endpoint; after the undeploy the other
    still answers, and the undeployed one answers a JSON 404 naming it."""
    lab.deploy("shared-stays", model)
    going = lab.deploy("shared-goes", model)
    base = f"http://{lab.settings.serve_host}:{lab.settings.serve_port}"
    answered: dict[str, list[str]] = {"shared-stays": [], "shared-goes": []}
    unexpected: list[str] = []
    stop = threading.Event()

    def client(name: str) -> None:
        with requests.Session() as session:
            while not stop.is_set():
                reply = session.post(f"{base}/{name}/predict", json=BODY, timeout=60)
                if reply.status_code == 200:
                    answered[name].extend(reply.json()["request_ids"])
                elif not (reply.status_code == 404 and name in reply.json()["error"]):
                    unexpected.append(f"{name}: {reply.status_code} {reply.text}")

    clients = [threading.Thread(target=client, args=(n,)) for n in answered for _ in range(2)]
    for thread in clients:
        thread.start()
    try:
        eventually(lambda: len(answered["shared-goes"]) > 50, timeout=120, what="load on both")
        going.undeploy()
        before = len(answered["shared-stays"])
        eventually(lambda: len(answered["shared-stays"]) > before + 50, timeout=60,
                   what="the other endpoint still serving")  # fmt: skip
    finally:
        stop.set()
        for thread in clients:
            thread.join()
    assert unexpected == []
    gone = requests.post(f"{base}/shared-goes/predict", json=BODY, timeout=60)
    assert gone.status_code == 404 and "shared-goes" in gone.json()["error"]
    stays = lab.endpoint("shared-stays")
    assert stays.flush(timeout=60)
    for name, ids in answered.items():
        (rows,) = eventually(
            lambda ids=ids: (_rows_of(lab, ids),), timeout=90, every=1.0,
            what=f"every row of {name}", ignoring=(AssertionError,),
        )  # fmt: skip
        assert rows.request_id.is_unique and set(rows.endpoint) == {name}
    stays.undeploy()


def _rows_of(lab: Lab, ids: list[str]) -> pd.DataFrame:
    rows = lab.sql(
        "SELECT request_id, endpoint FROM requests WHERE request_id IN "
        "(SELECT unnest(?::VARCHAR[]))",
        params=[ids],
    )
    assert len(rows) >= len(ids), f"{len(rows)} of {len(ids)} rows"
    return rows


def test_a_change_is_served_when_its_call_returns_and_an_older_one_is_ignored(
    lab: Lab, model: str
) -> None:
    """A change of routes is handed to the running replica, so it is served when the call
    returns; a configuration older than the one served (as Serve's copy of an earlier
    change arriving late would be) changes nothing."""
    second = lab.registry.register(
        "shared-lr", LogisticRegression(max_iter=500).fit(X, Y)
    ).ref  # fmt: skip
    endpoint = lab.deploy("shared-gen", model)
    try:
        handle = serve.get_app_handle(GATEWAY_APP)
        before = handle.current_config.remote().result(timeout_s=60)
        endpoint.split({model: 0.5, second: 0.5})
        after = handle.current_config.remote().result(timeout_s=60)
        assert after["generation"] == before["generation"] + 1
        assert set(endpoint.describe()["routes"]["arms"]) == {model, second}
        assert handle.take_config.remote(before).result(timeout_s=60) == after
        assert handle.current_config.remote().result(timeout_s=60) == after
    finally:
        endpoint.undeploy()
