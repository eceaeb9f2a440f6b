"""No served request goes unlogged: a router replica or the store actor dies under load."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import ray
import requests
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from mlops_lab import Endpoint, Lab
from mlops_lab.store._actor import find_store_actor
from tests._eventually import eventually

X, Y = load_iris(return_X_y=True, as_frame=True)


@pytest.fixture(scope="module")
def endpoint(lab: Lab) -> Iterator[Endpoint]:
    """An endpoint with two router replicas, so that one keeps serving while one dies."""
    model = LogisticRegression(max_iter=1000).fit(X, Y)
    ref = lab.registry.register("loss-lr", model, reference=X.head(30)).ref
    ep = lab.deploy("loss-test", ref, replicas=2)
    yield ep
    ep.undeploy()


def _under_load(url: str, seconds: float, during: Callable[[], None]) -> tuple[list[str], int]:
    """Four clients send requests for ``seconds``; ``during`` runs after the first second.

    Returns the request ids of every successful response, and how many requests failed.
    """
    ids: list[str] = []
    failed = [0]
    stop = threading.Event()
    body = {"instances": X.head(2).to_numpy().tolist()}

    def client() -> None:
        with requests.Session() as session:
            while not stop.is_set():
                try:
                    reply = session.post(url, json=body, timeout=30)
                except requests.RequestException:
                    failed[0] += 1
                    continue
                if reply.status_code == 200:
                    ids.extend(reply.json()["request_ids"])
                else:
                    failed[0] += 1

    threads = [threading.Thread(target=client) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    during()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    return ids, failed[0]


def _logged(lab: Lab, ids: list[str], wait_s: float = 90.0) -> tuple[int, int]:
    """Rows and distinct ids logged for ``ids``, once every id is in."""

    def every_id_in() -> tuple[int, int]:
        row = lab.sql(
            "SELECT count(*) AS n, count(DISTINCT request_id) AS ids FROM requests "
            "WHERE request_id IN (SELECT unnest(?::VARCHAR[]))",
            params=[ids],
        ).iloc[0]
        assert int(row.ids) == len(ids), f"{row.ids} of {len(ids)} ids logged"
        return int(row.n), int(row.ids)

    return eventually(
        every_id_in,
        timeout=wait_s,
        every=1.0,
        what=f"all {len(ids)} request ids logged",
        ignoring=(AssertionError,),  # not yet: the failure says how many are in
    )


def test_a_killed_router_replica_loses_no_logged_request(lab: Lab, endpoint: Endpoint) -> None:
    """A router replica is killed (SIGKILL) under load: every successful response has
    exactly one row, the dead replica's journal being sent by its replacement."""
    victim = endpoint.describe()["replica_pid"]
    ids, _ = _under_load(f"{endpoint.url}/predict", 6.0, lambda: os.kill(victim, signal.SIGKILL))
    assert len(ids) > 100
    assert _logged(lab, ids) == (len(ids), len(ids))
    assert len(set(ids)) == len(ids)


def test_a_killed_store_actor_loses_no_logged_request(lab: Lab, endpoint: Endpoint) -> None:
    """The store actor is killed under load and restarted by Ray: every successful
    response has exactly one row once the store is back."""
    store = find_store_actor(lab.settings.namespace)
    ids, failed = _under_load(
        f"{endpoint.url}/predict", 6.0, lambda: ray.kill(store, no_restart=False)
    )
    assert len(ids) > 100 and failed == 0
    assert _logged(lab, ids) == (len(ids), len(ids))
