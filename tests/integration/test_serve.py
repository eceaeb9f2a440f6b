"""Endpoints on real Ray Serve over real HTTP: routing, shadows, bandits, feedback, errors."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import signal
import threading
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd
import pytest
import requests
from sklearn.datasets import load_iris
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from mlops_lab import EndpointError, Lab
from mlops_lab.serve._endpoint import deploy
from tests._eventually import eventually
from tests.integration._replicas import successor_of

X, Y = load_iris(return_X_y=True, as_frame=True)
FEATURES = list(X.columns)
TREE = ["sklearn.tree._tree.Tree"]


@pytest.fixture(scope="module")
def models(lab: Lab) -> dict[str, str]:
    """Three iris models: a good one, a second good one, one that always says 0."""
    fitted = {
        "serve-lr": LogisticRegression(max_iter=1000).fit(X, Y),
        "serve-tree": DecisionTreeClassifier(random_state=0).fit(X, Y),
        "serve-dummy": DummyClassifier(strategy="constant", constant=0).fit(X, Y),
    }
    return {
        name: lab.registry.register(
            name, model, reference=X.sample(30, random_state=0), trusted=TREE
        ).ref
        for name, model in fitted.items()
    }


@pytest.fixture(scope="module")
def endpoint(lab: Lab, models: dict[str, str]):
    ep = lab.deploy("iris-test", models["serve-lr"], trusted=TREE)
    yield ep
    ep.undeploy()


def _post(url: str, payload: Any) -> requests.Response:
    return requests.post(url, json=payload, timeout=60)


def _instances(n: int, seed: int = 0) -> tuple[list[list[float]], list[int]]:
    rows = X.sample(n, replace=True, random_state=seed)
    return rows.to_numpy().tolist(), Y.loc[rows.index].tolist()


def _served_with_truth(endpoint, n: int, seed: int) -> dict[str, Any]:
    """Predict ``n`` instances over HTTP, then send their truth as feedback."""
    rows, truth = _instances(n, seed=seed)
    answer = _post(f"{endpoint.url}/predict", {"instances": rows}).json()
    feedback = [
        {"request_id": rid, "truth": t} for rid, t in zip(answer["request_ids"], truth, strict=True)
    ]
    assert _post(f"{endpoint.url}/feedback", feedback).json()["received"] == n
    return answer


def _store_feedback(lab: Lab, ids: list[str], truths: list[int], route_id: str) -> None:
    """Write feedback on ``ids`` to the store as another replica of iris-test would."""
    now = pd.Timestamp.now(tz="UTC").tz_localize(None).to_pydatetime()
    lab.store.write({"feedback": [
        {"feedback_id": rid, "request_id": rid, "time": now, "truth": json.dumps(t),
         "reward": None, "source": "other", "endpoint": "iris-test", "route_id": route_id}
        for rid, t in zip(ids, truths, strict=True)
    ]})  # fmt: skip


def _learned(endpoint, n: int) -> int:
    """The rewards the endpoint's policy has learned, once they are at least ``n``."""

    def at_least_n() -> int:
        pulls = sum(s["pulls"] for s in endpoint.describe()["policy_stats"].values())
        assert pulls >= n, f"learned {pulls} of {n} rewards"
        return pulls

    return eventually(
        at_least_n,
        every=0.2,
        what=f"{n} rewards learned",
        ignoring=(AssertionError,),  # not yet: the failure says how many are in
    )


def _logged(lab: Lab, ids: list[str]) -> list[dict[str, Any]]:
    return lab.store.query(
        "SELECT * FROM requests WHERE request_id IN (SELECT unnest(?::VARCHAR[]))", [ids]
    ).to_pylist()


def test_predictions_over_http_match_the_model_and_each_is_logged_once(
    lab: Lab, endpoint, models: dict[str, str]
) -> None:
    """Rows as lists and as objects give the model's own predictions; every instance has a
    request id and exactly one log row naming the model version that served it."""
    rows, _ = _instances(20)
    by_list = _post(f"{endpoint.url}/predict", {"instances": rows})
    by_dict = _post(
        f"{endpoint.url}/predict",
        {"instances": [dict(zip(FEATURES, r, strict=True)) for r in rows]},
    )
    assert by_list.status_code == by_dict.status_code == 200
    model = lab.registry.load(models["serve-lr"])
    expected = model.predict(pd.DataFrame(rows, columns=FEATURES)).tolist()
    assert by_list.json()["predictions"] == by_dict.json()["predictions"] == expected
    ids = by_list.json()["request_ids"] + by_dict.json()["request_ids"]
    assert len(set(ids)) == 40
    assert set(by_list.json()["models"]) == {models["serve-lr"]}
    assert endpoint.flush()
    logged = _logged(lab, ids)
    assert sorted(r["request_id"] for r in logged) == sorted(ids)
    assert {(r["arm"], r["status"], r["propensity"]) for r in logged} == {
        (models["serve-lr"], 200, 1.0)
    }


def test_a_split_sends_each_model_its_share(lab: Lab, endpoint, models: dict[str, str]) -> None:
    """With a 70/30 split, 2000 instances go 30% to the second model within 4 standard
    errors, and the logged propensities are the weights."""
    a, b = models["serve-lr"], models["serve-tree"]
    endpoint.split({a: 0.7, b: 0.3})
    rows, _ = _instances(2000, seed=1)
    answer = _post(f"{endpoint.url}/predict", {"instances": rows}).json()
    share = Counter(answer["models"])[b] / 2000
    assert abs(share - 0.3) < 4 * np.sqrt(0.3 * 0.7 / 2000)
    assert endpoint.flush()
    logged = _logged(lab, answer["request_ids"][:200])
    assert {(r["arm"], r["propensity"]) for r in logged} == {(a, 0.7), (b, 0.3)}


def test_a_shadow_sees_every_request_and_is_never_returned(
    lab: Lab, endpoint, models: dict[str, str]
) -> None:
    """Every logged row holds the shadow's output; no response names the shadow."""
    a, shadow = models["serve-lr"], models["serve-dummy"]
    endpoint.split({a: 1.0}).shadow(shadow)
    rows, _ = _instances(50, seed=2)
    answers = [_post(f"{endpoint.url}/predict", {"instances": [row]}).json() for row in rows]
    assert {m for answer in answers for m in answer["models"]} == {a}
    ids = [answer["request_ids"][0] for answer in answers]
    assert endpoint.flush()
    logged = _logged(lab, ids)
    assert len(logged) == 50
    assert all(json.loads(r["shadow"]) == {shadow: 0} for r in logged)
    endpoint.shadow()


def test_a_bandit_moves_traffic_to_the_better_model(
    lab: Lab, endpoint, models: dict[str, str]
) -> None:
    """Thompson sampling between a good model and one that always says 0, fed the truth
    after each batch, sends most of the late traffic to the good model."""
    good, bad = models["serve-lr"], models["serve-dummy"]
    endpoint.bandit([good, bad], policy="thompson", reward="accuracy", seed=0)
    late = Counter()
    for round_ in range(30):
        answer = _served_with_truth(endpoint, 20, seed=100 + round_)
        if round_ >= 20:
            late.update(answer["models"])
    assert late[good] / sum(late.values()) > 0.7
    learned = endpoint.describe()["policy_stats"]
    assert learned[good]["mean_reward"] > learned[bad]["mean_reward"]


def test_a_restarted_replica_keeps_what_the_bandit_learned(
    lab: Lab, endpoint, models: dict[str, str]
) -> None:
    """The router replica is killed; its replacement rebuilds the bandit from the feedback
    in the store: the same pulls per model, the same routes; and its next read of the store
    adds exactly the one reward stored since."""
    good, bad = models["serve-lr"], models["serve-dummy"]
    endpoint.bandit([good, bad], policy="ucb1")
    for round_ in range(5):
        _served_with_truth(endpoint, 10, seed=200 + round_)
    before = endpoint.describe()
    os.kill(before["replica_pid"], signal.SIGKILL)
    after = successor_of(endpoint, before["replica_pid"], timeout=120)
    assert after["routes"] == before["routes"]
    pulls = {arm: stats["pulls"] for arm, stats in after["policy_stats"].items()}
    assert pulls == {arm: stats["pulls"] for arm, stats in before["policy_stats"].items()}
    assert sum(pulls.values()) == 50
    # Only the replica's reads of the store learn this reward: once it is in, the
    # replacement has read the store again, and the 50 it replayed were not counted twice.
    rows, truth = _instances(1, seed=205)
    answer = _post(f"{endpoint.url}/predict", {"instances": rows}).json()
    assert endpoint.flush()
    _store_feedback(lab, answer["request_ids"], truth, after["routes"]["route_id"])
    assert _learned(endpoint, 51) == 51


def test_a_replica_learns_feedback_another_replica_stored_once(
    lab: Lab, endpoint, models: dict[str, str]
) -> None:
    """Feedback stored by someone else (here written to the store as another replica
    would) reaches the policy within the learner's next reads, and neither it nor the
    feedback the replica took itself is counted twice: a later read, which learns one
    more reward, adds exactly one."""
    good, bad = models["serve-lr"], models["serve-dummy"]
    endpoint.bandit([good, bad], policy="thompson")
    _served_with_truth(endpoint, 10, seed=250)  # taken by this replica
    rows, truth = _instances(13, seed=251)
    answer = _post(f"{endpoint.url}/predict", {"instances": rows}).json()
    assert endpoint.flush()
    route_id = endpoint.describe()["routes"]["route_id"]
    ids = answer["request_ids"]
    _store_feedback(lab, ids[:12], truth[:12], route_id)
    assert _learned(endpoint, 22) == 22
    _store_feedback(lab, ids[12:], truth[12:], route_id)
    assert _learned(endpoint, 23) == 23


def test_a_contextual_bandit_learns_from_the_request_features(
    lab: Lab, endpoint, models: dict[str, str]
) -> None:
    """LinUCB chooses from each request's features (read back from the request log for
    the feedback) and learns from every feedback."""
    good, bad = models["serve-lr"], models["serve-dummy"]
    endpoint.bandit([good, bad], policy="linucb", alpha=0.5)
    for round_ in range(4):
        _served_with_truth(endpoint, 10, seed=300 + round_)
    learned = endpoint.describe()["policy_stats"]
    assert sum(stats["pulls"] for stats in learned.values()) == 40


def test_a_discounted_bandit_follows_a_change_of_better_model(
    lab: Lab, endpoint, models: dict[str, str]
) -> None:
    """Rewards favour one model, then the other: discounted Thompson sampling moves the
    traffic to the new better model."""
    a, b = models["serve-lr"], models["serve-tree"]
    endpoint.bandit([a, b], policy="discounted_thompson", reward="reward", gamma=0.9, seed=1)
    rng = random.Random(0)

    def run(rounds: int, better: str) -> Counter:
        seen = Counter()
        for round_ in range(rounds):
            rows, _ = _instances(10, seed=rng.randrange(10**6))
            answer = _post(f"{endpoint.url}/predict", {"instances": rows}).json()
            rewards = [
                {"request_id": rid, "reward": float(rng.random() < (0.9 if m == better else 0.1))}
                for rid, m in zip(answer["request_ids"], answer["models"], strict=True)
            ]
            assert _post(f"{endpoint.url}/feedback", rewards).status_code == 200
            if round_ >= rounds - 5:
                seen.update(answer["models"])
        return seen

    first = run(20, better=a)
    assert first[a] > first[b]
    second = run(25, better=b)
    assert second[b] > second[a]


def test_changing_routes_under_load_drops_no_request(
    lab: Lab, endpoint, models: dict[str, str]
) -> None:
    """While four clients send requests, the routes change five times in the running
    replica (no restart): every request is answered 200 and logged exactly once."""
    a, b = models["serve-lr"], models["serve-tree"]
    endpoint.split({a: 1.0})
    replica = endpoint.describe()["replica_pid"]
    statuses: list[int] = []
    ids: list[str] = []
    stop = threading.Event()
    rows, _ = _instances(1)

    def client() -> None:
        with requests.Session() as session:
            while not stop.is_set():
                reply = session.post(f"{endpoint.url}/predict", json={"instances": rows})
                statuses.append(reply.status_code)
                if reply.status_code == 200:
                    ids.extend(reply.json()["request_ids"])

    threads = [threading.Thread(target=client) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        endpoint.split({a: 0.5, b: 0.5})
        endpoint.bandit([a, b], policy="ucb1")
        endpoint.split({b: 1.0})
        endpoint.canary(a, steps=[0.5, 1.0])
        endpoint.rollback()
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert len(statuses) > 20 and set(statuses) == {200}
    assert endpoint.describe()["replica_pid"] == replica
    assert endpoint.flush()
    assert len(_logged(lab, ids)) == len(ids) == len(set(ids))


def test_open_inference_protocol_v2_from_a_plain_http_client(
    lab: Lab, endpoint, models: dict[str, str]
) -> None:
    """Health, model metadata and inference in both tensor layouts answer as in the v2
    protocol, with the model's predictions."""
    endpoint.split({models["serve-lr"]: 1.0})
    base = endpoint.url.rsplit("/", 1)[0] + "/v2"
    assert requests.get(f"{base}/health/ready", timeout=30).json() == {"ready": True}
    meta = requests.get(f"{base}/models/iris-test", timeout=30).json()
    assert meta["name"] == "iris-test" and [i["name"] for i in meta["inputs"]] == FEATURES
    rows, _ = _instances(5, seed=3)
    expected = _post(f"{endpoint.url}/predict", {"instances": rows}).json()["predictions"]
    one_tensor = {"inputs": [{"name": "input-0", "shape": [5, 4], "datatype": "FP64",
                              "data": rows}]}  # fmt: skip
    per_feature = {
        "id": "abc",
        "inputs": [
            {"name": name, "shape": [5], "datatype": "FP64", "data": [r[i] for r in rows]}
            for i, name in enumerate(FEATURES)
        ],
    }
    for payload in (one_tensor, per_feature):
        reply = _post(f"{base}/models/iris-test/infer", payload)
        assert reply.status_code == 200, reply.text
        assert reply.json()["outputs"][0]["data"] == expected
    assert _post(f"{base}/models/iris-test/infer", per_feature).json()["id"] == "abc"
    assert requests.get(f"{base}/models/nope", timeout=30).status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"instances": [[1.0, 2.0, 3.0]]}, 400, "instances[0]"),
        ({"instances": [{"sepal length (cm)": 1.0}]}, 400, "instances[0]"),
        ({"instances": [[1.0, 2.0, "x", 4.0]]}, 400, "instances[0][2]"),
        ({"rows": []}, 400, "instances"),
        (b"{not json", 400, "body"),
        (b'{"instances": [[NaN, 1.0, 2.0, 3.0]]}', 400, "instances[0][0]"),
        (b"[" + b"1," * (5 * 1024 * 1024) + b"1]", 413, "body"),
    ],
)
def test_bad_input_is_a_4xx_naming_the_field_and_is_logged(
    lab: Lab, endpoint, models: dict[str, str], body: Any, status: int, field: str
) -> None:
    """Wrong count, missing feature, wrong type, wrong payload and malformed JSON each get a
    4xx JSON body naming the field; the refusal is logged; the endpoint keeps serving."""
    endpoint.split({models["serve-lr"]: 1.0})
    before = lab.sql("SELECT count(*) AS n FROM requests WHERE status >= 400").n[0]
    if isinstance(body, bytes):
        reply = requests.post(f"{endpoint.url}/predict", data=body, timeout=30)
    else:
        reply = _post(f"{endpoint.url}/predict", body)
    assert reply.status_code == status
    error = reply.json()
    assert error["field"].startswith(field) and isinstance(error["error"], str) and error["error"]
    assert endpoint.flush()
    assert lab.sql("SELECT count(*) AS n FROM requests WHERE status >= 400").n[0] == before + 1
    rows, _ = _instances(1)
    assert _post(f"{endpoint.url}/predict", {"instances": rows}).status_code == 200


def test_feedback_for_an_unknown_request_is_404_and_repeats_are_stored_once(
    lab: Lab, endpoint, models: dict[str, str]
) -> None:
    """An unknown request id is refused with 404 and nothing is stored; feedback given
    twice is stored once and reported as a duplicate."""
    endpoint.split({models["serve-lr"]: 1.0})
    unknown = _post(f"{endpoint.url}/feedback", {"request_id": "nope", "truth": 1})
    assert unknown.status_code == 404 and "nope" in unknown.json()["error"]
    rows, truth = _instances(3, seed=4)
    ids = _post(f"{endpoint.url}/predict", {"instances": rows}).json()["request_ids"]
    items = [{"request_id": i, "truth": t} for i, t in zip(ids, truth, strict=True)]
    assert _post(f"{endpoint.url}/feedback", items).json() == {"received": 3, "duplicates": []}
    again = lab.feedback("iris-test", pd.DataFrame(items))
    assert again == {"received": 0, "duplicates": sorted(ids)}
    stored = lab.sql(
        "SELECT count(*) AS n FROM feedback WHERE request_id IN (SELECT unnest(?::VARCHAR[]))",
        params=[ids],
    )
    assert stored.n[0] == 3


def test_the_python_api_raises_the_routers_message(lab: Lab, endpoint, models) -> None:
    """A request the router refuses through the Python API raises an EndpointError with
    the message its HTTP body gives, naming the field."""
    endpoint.split({models["serve-lr"]: 1.0})
    with pytest.raises(EndpointError, match=r"^instances\[0\]: expected 4 values"):
        endpoint.predict([[1.0, 2.0, 3.0]])
    with pytest.raises(EndpointError, match="nope"):
        endpoint.feedback([{"request_id": "nope", "reward": 1.0}])


def test_the_python_api_refuses_bad_requests_clearly(
    lab: Lab, endpoint, models: dict[str, str]
) -> None:
    """Unknown endpoints, models, policies and rollout steps are refused with messages
    that say how to fix them; the endpoint's routes are unchanged."""
    before = endpoint.routes
    with pytest.raises(EndpointError, match="Did you mean 'iris-test'"):
        lab.endpoint("iris-tset")
    with pytest.raises(EndpointError, match="nope"):
        endpoint.split({"nope@1": 1.0})
    with pytest.raises(EndpointError, match="must be one of"):
        endpoint.bandit([models["serve-lr"], models["serve-tree"]], policy="thompsen")
    with pytest.raises(EndpointError, match="nothing to advance"):
        endpoint.advance()
    with pytest.raises(EndpointError, match="endpoint name"):
        lab.deploy("Bad_Name", models["serve-lr"])
    with pytest.raises(EndpointError, match="Did you mean 'replicas'"):
        lab.deploy("iris-test", models["serve-lr"], replica=2)
    with pytest.raises(EndpointError, match="'replica_cpus' parameter of deploy"):
        lab.deploy("iris-test", models["serve-lr"], replica_cpus=-1)
    assert endpoint.routes == before


def test_openapi_describes_the_endpoint(lab: Lab, endpoint) -> None:
    """GET /<endpoint>/openapi.json is an OpenAPI 3.1 document with the endpoint's paths."""
    document = requests.get(f"{endpoint.url}/openapi.json", timeout=30).json()
    assert document["openapi"].startswith("3.1")
    assert {"/iris-test/predict", "/iris-test/feedback"} <= set(document["paths"])


def test_traffic_counts_requests_per_model(lab: Lab, endpoint) -> None:
    """The traffic table counts the served requests per model version."""
    assert endpoint.flush()
    counts = endpoint.traffic(every="1h")
    served = lab.sql(
        "SELECT count(*) AS n FROM requests WHERE endpoint = 'iris-test' AND status = 200"
    ).n[0]
    assert counts.to_numpy().sum() == served
    assert "Traffic share of iris-test" in endpoint.view(every="1h")._repr_html_()


def test_a_lab_with_a_token_serves_only_requests_that_carry_it(
    lab: Lab, models: dict[str, str]
) -> None:
    """With an auth_token set, a request without the token or with a wrong one gets 401
    and a JSON body naming the header; with the token it is served."""
    settings = dataclasses.replace(lab.settings, auth_token="s3cret")
    ep = deploy(
        "iris-token", models["serve-lr"], store=lab.store, registry=lab.registry,
        settings=settings,
    )  # fmt: skip
    try:
        rows, _ = _instances(1)
        url, body = f"{ep.url}/predict", {"instances": rows}
        missing = requests.post(url, json=body, timeout=30)
        wrong = requests.post(url, json=body, headers={"Authorization": "Bearer x"}, timeout=30)
        right = requests.post(
            url, json=body, headers={"Authorization": "Bearer s3cret"}, timeout=30
        )
        assert (missing.status_code, wrong.status_code, right.status_code) == (401, 401, 200)
        assert missing.json()["field"] == "Authorization"
    finally:
        ep.undeploy()
