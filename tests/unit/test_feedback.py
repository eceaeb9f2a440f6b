"""Feedback and learning on a replica's state, against an in-process store (no Ray, no router)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

from mlops_lab.protocol import FeedbackItem, RequestError, parse_feedback
from mlops_lab.routing import Decision
from mlops_lab.routing._rollout import Routes, bandit, single
from mlops_lab.serve._feedback import Learner, take_feedback
from mlops_lab.serve._log import LogBuffer
from mlops_lab.serve._models import Served
from mlops_lab.serve._replica import Active, Replica
from mlops_lab.serve._rows import refused_row, served_rows
from mlops_lab.store import Store

INPUTS = [{"name": "x", "dtype": "float64"}]
ROUTES = bandit(single("m@1"), ["m@1", "m@2"], "epsilon_greedy", "accuracy", {"epsilon": 0.0})


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "lab.duckdb") as opened:
        yield opened


def start_replica(store: Store, spill_dir: Path, routes: Routes = ROUTES) -> Replica:
    """A replica serving ``routes`` with a fresh policy, its learner started."""
    models = {
        arm: Served(arm, *arm.split("@")[:1], int(arm.split("@")[1]), None, INPUTS, {})
        for arm in routes.arms
    }
    replica = Replica("iris", store, LogBuffer(store, "requests", spill_dir=spill_dir))
    replica.active = Active.of(routes, routes.make_policy(), models)
    return replica


@pytest.fixture
def replica(store: Store, tmp_path: Path) -> Iterator[Replica]:
    replica = start_replica(store, tmp_path / "spill")
    yield replica
    replica.log.close(timeout=5.0)


@pytest.fixture
def learner(replica: Replica) -> Iterator[Learner]:
    learner = Learner(replica, every_s=3600.0)  # reads only when a test asks it to
    assert replica.active is not None
    learner.start_routes(replica.active)
    yield learner
    learner.stop()


def serve(replica: Replica, arms: list[str], predictions: list[object]) -> list[str]:
    """Log one request per arm, predicted as given; the request ids."""
    assert replica.active is not None
    ids = [f"{i:011x}{'0' * 16}" for i in range(1, len(arms) + 1)]
    frame = pd.DataFrame({"x": [float(i) for i in range(len(arms))]})
    decisions = [Decision(arm, 0.5) for arm in arms]
    rows = served_rows("iris", replica.active, frame, decisions, ids, predictions, {}, 1.0)
    replica.store.write({"requests": rows})
    return ids


def feedback(payload: object) -> list[FeedbackItem]:
    """Feedback items as an HTTP body or the Python API would give them."""
    return parse_feedback(payload, max_items=100)


def pulls(replica: Replica) -> dict[str, float]:
    assert replica.active is not None
    return {arm: s["pulls"] for arm, s in replica.active.policy.stats().items()}


def test_feedback_is_stored_once_and_learned_at_once(replica: Replica, learner: Learner) -> None:
    """Two truths are stored and teach the policy; sent again they are duplicates."""
    ids = serve(replica, ["m@1", "m@2"], ["a", "b"])
    items = feedback([{"request_id": ids[0], "truth": "a"}, {"request_id": ids[1], "truth": "x"}])
    assert take_feedback(replica, learner, items, "api") == {"received": 2, "duplicates": []}
    assert pulls(replica) == {"m@1": 1.0, "m@2": 1.0}
    assert replica.active is not None
    means = {arm: s["mean_reward"] for arm, s in replica.active.policy.stats().items()}
    assert means == {"m@1": 1.0, "m@2": 0.0}
    again = take_feedback(replica, learner, items, "api")
    assert {"received": 0, "duplicates": sorted(ids)} == again
    assert pulls(replica) == {"m@1": 1.0, "m@2": 1.0}
    assert replica.store.query("SELECT count(*) AS n FROM feedback").column("n")[0].as_py() == 2


def test_feedback_rows_carry_their_requests_endpoint_and_routes(
    replica: Replica, learner: Learner
) -> None:
    """A stored feedback row names the endpoint and route id of the request it is about."""
    (request_id,) = serve(replica, ["m@1"], [1])
    take_feedback(replica, learner, feedback({"request_id": request_id, "reward": 0.5}), "api")
    row = replica.store.query("SELECT * FROM feedback").to_pylist()[0]
    expected = ("iris", ROUTES.route_id, request_id, "api", 0.5)
    assert expected == (
        row["endpoint"],
        row["route_id"],
        row["feedback_id"],
        row["source"],
        row["reward"],
    )


def test_feedback_on_a_request_never_served_is_a_404(replica: Replica, learner: Learner) -> None:
    """An id the endpoint did not serve is refused, naming the id; nothing is stored."""
    serve(replica, ["m@1"], [1])
    items = feedback({"request_id": "0" * 27, "truth": 1})
    with pytest.raises(RequestError) as raised:
        take_feedback(replica, learner, items, "api")
    assert (raised.value.status, raised.value.code) == (404, "unknown_request_id")
    assert repr("0" * 27) in raised.value.message
    assert replica.store.query("SELECT count(*) AS n FROM feedback").column("n")[0].as_py() == 0


def test_feedback_on_a_refused_request_is_a_400(replica: Replica, learner: Learner) -> None:
    """A refused request has no prediction to give feedback on."""
    error = RequestError(400, "invalid_json", "Not JSON.")
    row = refused_row("iris", replica.active, error, b"{", 1.0)
    replica.store.write({"requests": [row]})
    items = feedback({"request_id": row["request_id"], "truth": 1})
    with pytest.raises(RequestError) as raised:
        take_feedback(replica, learner, items, "api")
    assert (raised.value.status, raised.value.code) == (400, "refused_request")


def test_another_replica_learns_what_one_replica_took(
    store: Store, tmp_path: Path, replica: Replica, learner: Learner
) -> None:
    """A replica started later replays the stored feedback; a later read adds only the new."""
    ids = serve(replica, ["m@1", "m@2", "m@1"], ["a", "a", "a"])
    first = feedback([{"request_id": i, "truth": "a"} for i in ids[:2]])
    take_feedback(replica, learner, first, "api")
    other = start_replica(store, tmp_path / "other-spill")
    other_learner = Learner(other, every_s=3600.0)
    try:
        assert other.active is not None
        other_learner.start_routes(other.active)
        assert pulls(other) == {"m@1": 1.0, "m@2": 1.0}
        take_feedback(replica, learner, feedback({"request_id": ids[2], "truth": "a"}), "api")
        other_learner.catch_up(other.active)
        assert pulls(other) == {"m@1": 2.0, "m@2": 1.0}
        other_learner.catch_up(other.active)  # nothing new: nothing learned twice
        assert pulls(other) == {"m@1": 2.0, "m@2": 1.0}
    finally:
        other_learner.stop()
        other.log.close(timeout=5.0)


def test_a_repeat_reaching_a_replica_that_never_learned_is_a_duplicate(
    store: Store, tmp_path: Path
) -> None:
    """Feedback another replica stored, sent again to a fresh replica of a split, is a
    duplicate (not a failure), though this replica has applied no feedback yet."""
    split = single("m@1")
    taker = start_replica(store, tmp_path / "taker", split)
    fresh = start_replica(store, tmp_path / "fresh", split)
    learners = [Learner(taker, every_s=3600.0), Learner(fresh, every_s=3600.0)]
    try:
        for replica, learner in zip([taker, fresh], learners, strict=True):
            assert replica.active is not None
            learner.start_routes(replica.active)
        (request_id,) = serve(taker, ["m@1"], [1])
        items = feedback({"request_id": request_id, "truth": 1})
        assert take_feedback(taker, learners[0], items, "api")["received"] == 1
        answer = take_feedback(fresh, learners[1], items, "api")
        assert answer == {"received": 0, "duplicates": [request_id]}
    finally:
        for replica, learner in zip([taker, fresh], learners, strict=True):
            learner.stop()
            replica.log.close(timeout=5.0)


def test_a_batch_with_one_id_the_endpoint_never_served_stores_none_of_it(
    replica: Replica, learner: Learner
) -> None:
    """Feedback is taken whole or not at all: one unknown id refuses the batch, and the
    policy learns nothing from the ids that were known."""
    (known,) = serve(replica, ["m@1"], ["a"])
    items = feedback([{"request_id": known, "truth": "a"}, {"request_id": "f" * 27, "truth": 1}])
    with pytest.raises(RequestError) as raised:
        take_feedback(replica, learner, items, "api")
    assert (raised.value.status, raised.value.code) == (404, "unknown_request_id")
    assert replica.store.query("SELECT count(*) AS n FROM feedback").column("n")[0].as_py() == 0
    assert pulls(replica) == {}


def test_the_same_feedback_given_at_once_on_many_threads_is_received_once(
    replica: Replica, learner: Learner
) -> None:
    """The check for a repeat and the write are one step: of feedback given at the same time
    by several callers, one is received and every other reports the duplicates."""
    ids = serve(replica, ["m@1", "m@2"] * 4, ["a"] * 8)
    items = feedback([{"request_id": i, "truth": "a"} for i in ids])
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: take_feedback(replica, learner, items, "api"), range(6)))
    assert sorted(answer["received"] for answer in answers) == [0, 0, 0, 0, 0, 8]
    assert sum(answer["duplicates"] == sorted(ids) for answer in answers) == 5
    assert pulls(replica) == {"m@1": 4.0, "m@2": 4.0}


def test_feedback_for_a_request_still_in_the_log_buffer_waits_for_its_row(
    store: Store, tmp_path: Path
) -> None:
    """A request answered but not yet sent to the store is found: the feedback has the log
    send it (here the log would otherwise hold it for an hour)."""
    replica = start_replica(store, tmp_path / "spill")
    replica.log.close(timeout=5.0)
    replica.log = LogBuffer(store, "requests", spill_dir=tmp_path / "held", flush_every_s=3600)
    learner = Learner(replica, every_s=3600.0)
    assert replica.active is not None
    learner.start_routes(replica.active)
    try:
        request_id = f"{7:011x}{'0' * 16}"
        (row,) = served_rows(
            "iris", replica.active, pd.DataFrame({"x": [1.0]}), [Decision("m@1", 1.0)],
            [request_id], ["a"], {}, 1.0,
        )  # fmt: skip
        replica.log.append(row)
        items = feedback({"request_id": request_id, "truth": "a"})
        assert take_feedback(replica, learner, items, "api") == {"received": 1, "duplicates": []}
        assert pulls(replica) == {"m@1": 1.0}
    finally:
        learner.stop()
        replica.log.close(timeout=5.0)
