"""The request log's rows: one builder, every column of the table, served and refused alike."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from mlops_lab.protocol import RequestError
from mlops_lab.routing import Decision
from mlops_lab.routing._rollout import bandit, single
from mlops_lab.serve._models import Served
from mlops_lab.serve._replica import Active
from mlops_lab.serve._rows import new_request_id, refused_row, served_rows
from mlops_lab.store import Store

INPUTS = [{"name": "x", "dtype": "float64"}, {"name": "y", "dtype": "float64"}]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "lab.duckdb") as opened:
        yield opened


def served(ref: str) -> Served:
    name, version = ref.split("@")
    return Served(ref, name, int(version), None, INPUTS, {"inputs": INPUTS})


def make_active() -> Active:
    routes = bandit(single("m@1"), ["m@1", "m@2"], "epsilon_greedy", "accuracy", {})
    models = {arm: served(arm) for arm in routes.arms}
    return Active.of(routes, routes.make_policy(), models)


ACTIVE = make_active()


def two_served_rows() -> list[dict]:
    frame = pd.DataFrame({"x": [1.0, 2.0], "y": [3.0, 4.0]})
    decisions = [Decision("m@1", 0.9), Decision("m@2", 0.1)]
    return served_rows(
        "iris", ACTIVE, frame, decisions, ["id-1", "id-2"], ["a", 2.5],
        {"m@3": ["s1", "s2"]}, 12.5,
    )  # fmt: skip


def refused(body: object = b'{"instances": oops}') -> dict:
    error = RequestError(400, "invalid_json", "The body is not JSON.")
    return refused_row("iris", ACTIVE, error, body, 3.0)


def columns(store: Store) -> list[str]:
    """The columns a row gives: every column but the arrival number the store assigns."""
    return store.specs["requests"].schema.names


def test_every_row_has_exactly_the_columns_of_the_requests_table(store: Store) -> None:
    """A served row and a refused row each name every column of ``requests`` that a batch
    gives (all but the store's arrival number), and no other."""
    for row in [*two_served_rows(), refused()]:
        assert sorted(columns(store)) == sorted(row)


def test_served_and_refused_rows_are_stored_as_they_are(store: Store) -> None:
    """The store takes both kinds of row in one batch, and reads each back by its id."""
    rows = [*two_served_rows(), refused()]
    assert store.write({"requests": rows}) == {"requests": 3}
    back = store.query("SELECT request_id, status, arm FROM requests ORDER BY status").to_pylist()
    assert [(r["request_id"], r["status"], r["arm"]) for r in rows] == [
        (r["request_id"], r["status"], r["arm"]) for r in back
    ]


def test_a_served_row_names_its_model_arm_propensity_prediction_and_shadows() -> None:
    """Each instance's row carries the choice that served it and what every shadow said."""
    first, second = two_served_rows()
    assert {
        "request_id": "id-2", "endpoint": "iris", "model": "m", "model_version": 2,
        "arm": "m@2", "propensity": 0.1, "policy": "epsilon_greedy", "features": {"x": 2.0,
        "y": 4.0}, "prediction": "2.5", "latency_ms": 12.5, "status": 200, "error": None,
        "shadow": {"m@3": "s2"}, "route_id": ACTIVE.routes.route_id,
    } == {key: value for key, value in second.items() if key != "time"}  # fmt: skip
    assert json.loads(first["prediction"]) == "a"
    assert first["time"] == second["time"]


def test_a_served_row_without_shadows_has_none() -> None:
    """No shadow routes: the shadow column is null, not an empty object."""
    frame = pd.DataFrame({"x": [1.0], "y": [3.0]})
    rows = served_rows("iris", ACTIVE, frame, [Decision("m@1", 1.0)], ["id"], [1], {}, 1.0)
    assert rows[0]["shadow"] is None


def test_a_refused_row_has_the_error_and_the_body_but_no_model() -> None:
    """A refusal logs its status, code and message and the start of the body it got."""
    row = refused()
    assert row["status"] == 400
    assert row["error"] == "invalid_json: The body is not JSON."
    assert row["features"] == {"body": '{"instances": oops}'}
    unserved = ("model", "model_version", "arm", "propensity", "prediction", "shadow")
    assert {key: None for key in unserved} == {key: row[key] for key in unserved}
    assert (row["policy"], row["route_id"]) == ("epsilon_greedy", ACTIVE.routes.route_id)


def test_a_request_refused_before_any_routes_has_no_policy_or_route() -> None:
    """Before the first routes arrive a refused row still has every column, routes null."""
    error = RequestError(503, "not_ready", "No routes yet.")
    row = refused_row("iris", None, error, {"instances": []}, 1.0)
    assert (row["policy"], row["route_id"], row["status"]) == (None, None, 503)
    assert row["features"] == {"body": "{'instances': []}"}


def test_request_ids_are_unique_and_begin_with_their_time() -> None:
    """Ids sort by their millisecond prefix, which is never older than an earlier id's."""
    ids = [new_request_id() for _ in range(100)]
    assert len(set(ids)) == 100
    assert [i[:11] for i in ids] == sorted(i[:11] for i in ids)
