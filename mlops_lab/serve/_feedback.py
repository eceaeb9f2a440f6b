"""Feedback by request id: checked, stored once, and learned from by every router replica.

The store is where replicas meet: feedback is written there, once per request (a request's
feedback id is its request id), the replica that took it learns from it at once, and every
replica reads new feedback for its routes every second, so all of them, and any replica
started later, learn the same. A new bandit replays all feedback on its routes in order.

Feedback costs the serving process little, as it arrives in batches while predictions are
served: the store looks the requests up and writes their feedback in one call, so the
replica converts no rows and makes one round trip; a server waits for that call in a thread,
and learns on its event loop, where nothing waits for the thread's turn at the interpreter.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mlops_lab._text import encodable
from mlops_lab.protocol import FeedbackItem, RequestError
from mlops_lab.routing import Event, reward_of
from mlops_lab.serve._replica import Active, Replica
from mlops_lab.store import BadDataError, StoreError, StoreUnavailableError

log = logging.getLogger(__name__)

# Policies whose rewards must lie in [0, 1] (Beta posteriors).
_UNIT_REWARD = frozenset({"thompson", "discounted_thompson"})
# Feedback may commit out of time order across replicas: look this far back for stragglers.
_LOOKBACK = timedelta(seconds=60)
# How long feedback for a request not yet in the store waits for the request's log row.
_WAIT_FOR_REQUESTS_S = 2.0

# The feedback on a replica's routes since a time, read from the feedback table alone.
_WINDOW_SQL = "FROM feedback WHERE endpoint = ? AND route_id = ? AND time >= ?"
# The window holds a minute of feedback, which the replica would otherwise decode every
# second. So it first counts the window: when it holds as many as the replica has applied
# since then (a replica alone learns from all the feedback it took), nothing is new. Else
# the ids are read, and then the rows only of those not applied yet.
_COUNT_SQL = f"SELECT count(*) AS n {_WINDOW_SQL}"
_IDS_SQL = f"SELECT feedback_id {_WINDOW_SQL}"
_EVENTS_SQL = """
SELECT f.feedback_id, f.time, f.truth, f.reward, r.arm, r.prediction, r.features
FROM feedback f JOIN requests r USING (request_id)
WHERE f.endpoint = $1 AND f.route_id = $2 AND f.time >= $3 {only}
ORDER BY f.time, f.feedback_id
"""
_ALL_EVENTS_SQL = _EVENTS_SQL.format(only="")
_NEW_EVENTS_SQL = _EVENTS_SQL.format(
    only="AND r.request_id BETWEEN $4 AND $5 AND list_contains($6::VARCHAR[], f.feedback_id)"
)


def take_feedback(
    replica: Replica, learner: Learner, items: list[FeedbackItem], source: str
) -> dict[str, Any]:
    """Store feedback on requests this endpoint served, once each, and learn from it.

    ``learner`` (the replica's) learns at once from the feedback on the routes served now.
    A server runs the two steps apart: :func:`store_feedback` off its event loop (it waits
    for the store), then :func:`learn_feedback` on it.

    Raises:
        RequestError: 404 for request ids the endpoint never served, 400 for feedback on a
            refused request or a reward the policy cannot take, 503 while the store is away
            or when it fails to take the feedback.
    """
    return learn_feedback(learner, items, store_feedback(replica, items, source))


def store_feedback(replica: Replica, items: list[FeedbackItem], source: str) -> Stored:
    """Check feedback and store it, once per request.

    The step of :func:`take_feedback` that waits for the store.

    Raises:
        RequestError: as :func:`take_feedback`.
    """
    active = replica.active
    if active is not None:
        _check_rewards(active, items)
    given = [
        {
            "request_id": item.request_id,
            "truth": json.dumps(item.truth) if item.has_truth else None,
            "reward": item.reward,
        }
        for item in items
    ]
    try:
        return Stored(active, _store(replica, given, source))
    except StoreUnavailableError as exc:
        raise RequestError(
            503, "store_unavailable", f"The lab's store is away ({encodable(str(exc))}). Send "
            "the feedback again in a moment: repeated feedback is stored once.",
        ) from None  # fmt: skip
    except BadDataError as exc:  # a value the checks let through that the store never takes
        raise RequestError(
            422, "unstorable_feedback", f"The store cannot keep this feedback "
            f"({encodable(str(exc))[:500]}). Sending it again will not help: change the value.",
        ) from None  # fmt: skip
    except StoreError as exc:  # the items were checked: the fault is the store's, not theirs
        log.exception("The store refused feedback for %s", replica.endpoint)
        raise RequestError(
            503, "store_error", f"The lab's store could not take the feedback "
            f"({type(exc).__name__}: {encodable(str(exc))[:500]}). Send it again in a moment; "
            "the lab's log says more.",
        ) from None  # fmt: skip


def learn_feedback(learner: Learner, items: list[FeedbackItem], stored: Stored) -> dict[str, Any]:
    """Learn from feedback just stored.

    The step of :func:`take_feedback` that waits for nothing.

    Returns:
        The answer to give the sender: ``{"received": n, "duplicates": [...]}``.
    """
    requests = stored.taken["requests"]
    duplicates = sorted(i.request_id for i in items if requests[i.request_id]["has_feedback"])
    fresh = [item for item in items if not requests[item.request_id]["has_feedback"]]
    active = stored.active
    if active is not None:
        now = stored.taken["time"]
        events = [
            (item.request_id, now, item.truth, item.reward, requests[item.request_id])
            for item in fresh
            if requests[item.request_id]["route_id"] == active.routes.route_id
        ]
        learner.apply(active, events)
    return {"received": len(fresh), "duplicates": duplicates}


@dataclass(frozen=True)
class Stored:
    """Feedback the store took, and the routes served when it was given."""

    active: Active | None
    taken: dict[str, Any]  # what StoreClient.add_feedback returned


def _check_rewards(active: Active, items: list[FeedbackItem]) -> None:
    if active.routes.policy not in _UNIT_REWARD:
        return
    for index, item in enumerate(items):
        if item.reward is not None and not 0.0 <= item.reward <= 1.0:
            raise RequestError(
                400, "invalid_value", f"The '{active.routes.policy}' policy learns from rewards "
                "in [0, 1]; scale the reward into that range.", field=f"[{index}].reward",
                expected="a number in [0, 1]", received=repr(item.reward),
            )  # fmt: skip


def _store(replica: Replica, given: list[dict[str, Any]], source: str) -> dict[str, Any]:
    """Store ``given``, waiting briefly for request rows still in some replica's buffer."""
    ids = [item["request_id"] for item in given]
    deadline = time.monotonic() + _WAIT_FOR_REQUESTS_S
    flushed = False
    while True:
        taken = replica.store.add_feedback(replica.endpoint, given, source)
        found = taken["requests"]
        if taken["stored"] or all(i in found for i in ids) or time.monotonic() >= deadline:
            break
        if flushed:  # this replica's rows are stored: the rest may be in another's buffer
            time.sleep(0.1)
        replica.log.flush(timeout=0.5)
        flushed = True
    if not taken["stored"]:
        raise _refusal(replica.endpoint, ids, found)
    return taken


def _refusal(endpoint: str, ids: list[str], found: dict[str, dict[str, Any]]) -> RequestError:
    """Why the store took none of the feedback: a request not this endpoint's, or refused."""
    others = [i for i in ids if i not in found or found[i]["endpoint"] != endpoint]
    if others:
        return RequestError(
            404, "unknown_request_id", f"The endpoint '{endpoint}' served no request "
            f"with the id {others[0]!r}" + (f" (nor {len(others) - 1} more)" if len(others) > 1
            else "") + ". Use the ids from the 'request_ids' of a prediction.",
            field="request_id", expected="an id from a prediction's request_ids",
            received=repr(others[0]),
        )  # fmt: skip
    refused = next(i for i in ids if found[i]["status"] != 200)
    return RequestError(
        400, "refused_request", f"The request {refused!r} was refused "
        f"({found[refused]['status']}), so it has no prediction to give feedback on.",
        field="request_id", received=repr(refused),
    )  # fmt: skip


class Learner:
    """Keeps a replica's bandit up to date with the feedback in the store.

    Args:
        replica: The replica's state: its endpoint, store, routes and policy lock.
        every_s: Seconds between reads of new feedback.
    """

    def __init__(self, replica: Replica, every_s: float = 1.0) -> None:
        self.replica = replica
        self.every_s = every_s
        self._lock = threading.Lock()
        self._route = ""
        self._since = datetime.min
        self._applied: dict[str, datetime] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start_routes(self, active: Active) -> None:
        """Forget the old routes and replay the feedback already stored for the new ones."""
        with self._lock:
            self._route = active.routes.route_id
            self._since = datetime.min
            self._applied = {}
        if active.routes.is_bandit:
            try:
                self.catch_up(active)
            except Exception as exc:  # the thread catches up once the store answers
                log.warning("Feedback for %s could not be replayed yet: %s", self._route, exc)
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, daemon=True, name="learner")
            self._thread.start()

    def catch_up(self, active: Active) -> None:
        """Learn from feedback stored since the last read (all of it for new routes)."""
        since = self._since - _LOOKBACK if self._since > datetime.min else datetime.min
        store = self.replica.store
        window = [self.replica.endpoint, active.routes.route_id, since]
        if since == datetime.min:  # a first read: every row of the window
            rows = store.query(_ALL_EVENTS_SQL, window).to_pylist()
        else:
            stored = store.query(_COUNT_SQL, window).column("n")[0].as_py()
            with self._lock:
                applied = sum(1 for when in self._applied.values() if when >= since)
            if stored == applied:
                return
            ids = store.query(_IDS_SQL, window).column("feedback_id").to_pylist()
            with self._lock:
                new = [feedback_id for feedback_id in ids if feedback_id not in self._applied]
            if not new:
                return
            bounds = [min(new), max(new), new]  # a feedback id is its request id
            rows = store.query(_NEW_EVENTS_SQL, [*window, *bounds]).to_pylist()
        self.apply(
            active,
            [
                (row["feedback_id"], row["time"], _loads(row["truth"]), row["reward"], row)
                for row in rows
            ],
        )

    def apply(self, active: Active, events: Iterable[tuple[str, datetime, Any, Any, dict]]) -> None:
        """Update the policy with feedback not applied yet: (id, time, truth, reward, request)."""
        learned: list[Event] = []
        with self._lock:
            if active.routes.route_id != self._route:
                return
            for feedback_id, when, truth, reward, request in events:
                if feedback_id in self._applied:
                    continue
                self._applied[feedback_id] = when
                self._since = max(self._since, when)
                prediction = _loads(request["prediction"])
                value = reward_of(active.routes.reward, prediction, truth, reward)
                if value is not None:
                    learned.append(Event(request["arm"], value, _context(active, request)))
            self._forget_old()
        if learned and active.routes.is_bandit:
            with self.replica.lock:
                active.policy.replay(learned)

    def stop(self) -> None:
        """Stop reading feedback."""
        self._stop.set()

    def _forget_old(self) -> None:
        # Only past 10,000 ids: _since is then a real time (before any feedback it is
        # datetime.min, which has no time before it).
        if len(self._applied) > 10_000:
            cutoff = self._since - 2 * _LOOKBACK
            self._applied = {k: t for k, t in self._applied.items() if t >= cutoff}

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            active = self.replica.active
            if active is None or not active.routes.is_bandit:
                continue
            try:
                self.catch_up(active)
            except Exception as exc:  # the store is away: try again next time
                log.warning("New feedback could not be read: %s", exc)


def _context(active: Active, request: dict[str, Any]) -> tuple[float, ...] | None:
    if not active.policy.contextual:
        return None
    features = _loads(request["features"])
    return tuple(float(features[name]) for name in active.contexts)


def _loads(text: Any) -> Any:
    return json.loads(text) if isinstance(text, str) else text
