"""The monitor beside serving, on a real lab: Ray, Serve, the store actor and alibi-detect.

Requests go through the endpoint; the monitor actor's own loop (not the test) closes the
windows, scores the requests and opens the alerts.
"""

from __future__ import annotations

import json

import pytest
import ray
from sklearn.linear_model import LogisticRegression

from mlops_lab import Lab
from mlops_lab.monitor._actor import PREFIX, find_monitor
from tests._eventually import eventually
from tests.integration._monitoring import frame

ENDPOINT = "monitored"


@pytest.fixture(scope="module")
def endpoint(lab: Lab):
    train = frame(2000, seed=1)
    model = LogisticRegression().fit(train, (train["x0"] > train["x1"]).astype(int))
    ref = lab.registry.register("monitored-lr", model, reference=frame(1000, seed=2)).ref
    ep = lab.deploy(ENDPOINT, ref)
    yield ep
    ep.undeploy()


def closed(lab: Lab) -> list[str]:
    rows = lab.sql("SELECT window_id FROM monitor_windows WHERE endpoint = ? ORDER BY first_seq",
                   params=[ENDPOINT])  # fmt: skip
    return rows["window_id"].tolist()


def logged_rows(lab: Lab) -> int:
    rows = lab.sql("SELECT count(*) AS n FROM requests WHERE endpoint = ?", params=[ENDPOINT])
    return int(rows["n"][0])


def test_the_monitor_beside_serving_names_a_shifted_feature_and_scores_every_request(
    lab: Lab, endpoint
) -> None:
    """The actor's loop closes the windows as traffic comes: an unshifted window opens no
    alert, a window whose x2 moved opens one naming x2, and every request has a score."""
    endpoint.monitor(window_rows=200, every=1.0, alerts=["drift"])
    assert find_monitor(ENDPOINT, lab.settings.namespace) is not None
    endpoint.predict(frame(200, seed=3))
    eventually(lambda: len(closed(lab)) == 1, timeout=180, what="the first window closed")
    assert lab.sql("SELECT * FROM alerts WHERE endpoint = ?", params=[ENDPOINT]).empty
    endpoint.predict(frame(200, seed=4, shift={"x2": 1.0}))
    eventually(lambda: len(closed(lab)) == 2, timeout=120, what="the second window closed")
    (alert,) = lab.sql("SELECT * FROM alerts WHERE endpoint = ?", params=[ENDPOINT]).to_dict(
        "records"
    )
    assert json.loads(alert["details"])["features"] == ["x2"]
    scored = lab.sql(
        "SELECT count(*) AS n FROM requests r JOIN outlier_scores s USING (request_id) "
        "WHERE r.endpoint = ?", params=[ENDPOINT])["n"][0]  # fmt: skip
    assert scored == 400
    drift = lab.monitoring(ENDPOINT, "drift")
    assert drift.pivot(index="window_id", columns="feature", values="value").shape == (2, 4)
    assert endpoint.monitor.health()["failures"] == 0


def test_a_monitor_killed_mid_pass_comes_back_and_counts_no_window_twice(
    lab: Lab, endpoint
) -> None:
    """Killed while a pass runs, the actor is restarted by Ray, carries on from the cursor
    the last committed pass left, loads its fitted detector, and each window has its
    results once."""
    endpoint.monitor(window_rows=200, every=1.0, alerts=["drift"])
    before = len(closed(lab))
    kept = lab.sql("SELECT updated_at FROM monitor_state WHERE key LIKE 'outliers:%'")
    logged = logged_rows(lab)
    endpoint.predict(frame(2000, seed=5))
    eventually(lambda: logged_rows(lab) == logged + 2000, timeout=60, what="the rows logged")
    actor = ray.get_actor(PREFIX + ENDPOINT, namespace=lab.settings.namespace)

    def in_pass_over_new_rows() -> bool:
        return bool(ray.get(actor.health.remote()).get("in_pass")) and len(closed(lab)) == before

    eventually(in_pass_over_new_rows, timeout=120, every=0.05, what="a pass under way")
    ray.kill(actor, no_restart=False)
    eventually(lambda: len(closed(lab)) == before + 10, timeout=240, what="ten more windows")
    assert endpoint.monitor.health()["starts"] >= 2
    counts = lab.sql(
        "SELECT window_id, count(*) AS n FROM monitor_results WHERE endpoint = ? "
        "AND metric = 'rows' GROUP BY window_id", params=[ENDPOINT])  # fmt: skip
    assert set(counts["n"]) == {1} and len(counts) == before + 10
    bounds = lab.sql("SELECT first_seq, last_seq FROM monitor_windows WHERE endpoint = ? "
                     "ORDER BY first_seq", params=[ENDPOINT])  # fmt: skip
    starts, ends = bounds["first_seq"].to_numpy(), bounds["last_seq"].to_numpy()
    assert (starts[1:] > ends[:-1]).all()
    again = lab.sql("SELECT updated_at FROM monitor_state WHERE key LIKE 'outliers:%'")
    assert kept.to_dict("records") == again.to_dict("records")


def test_a_pass_asked_for_runs_in_the_actor_and_undeploy_stops_the_monitor(lab: Lab) -> None:
    """``run()`` on a running monitor is a pass of the actor's; undeploying the endpoint
    stops its monitor, and its results stay."""
    train = frame(500, seed=6)
    model = LogisticRegression().fit(train, (train["x0"] > 0).astype(int))
    ref = lab.registry.register("monitored-short", model, reference=frame(300, seed=7)).ref
    ep = lab.deploy("monitored-short", ref)
    ep.monitor(window_rows=50, every=60.0)
    ep.predict(frame(50, seed=8))
    ep.flush()
    (window,) = ep.monitor.run().windows
    assert window.startswith("monitored-short:")
    ep.undeploy()
    assert find_monitor("monitored-short", lab.settings.namespace) is None
    assert not lab.monitoring("monitored-short").empty
