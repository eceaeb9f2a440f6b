"""A live endpoint keeps logging after poison requests: every request after them is stored,
and so are their own rows, with their text escaped.

Two real poisons: a JSON key that is a lone UTF-16 surrogate (its refusal row names the key),
and a model whose class label holds one (labels read from JSON data can), which once made a
prediction DuckDB refuses as JSON. Rows the store refuses all the same are set aside as dead
letters: tests/integration/test_dead_letter.py sends such rows through the same buffer.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
import requests
from sklearn.tree import DecisionTreeClassifier

from mlops_lab import Endpoint, Lab
from tests._eventually import eventually
from tests.integration._replicas import successor_of
from tests.integration.test_dead_letter import _letters

TREE = ["sklearn.tree._tree.Tree"]
KEY_POISON = b'{"instances": [{"\\ud800": 1.0}]}'  # the key as JSON sends it: an escape
LABEL_POISON = {"instances": [[1.0]]}  # predicted "label \ud800"
ORDINARY = {"instances": [[0.0]]}  # predicted "ok"


@pytest.fixture(scope="module")
def endpoint(lab: Lab) -> Iterator[Endpoint]:
    """An endpoint whose model says "ok" below 0.5 and a label with a lone surrogate above."""
    x = pd.DataFrame({"x": [0.0, 1.0] * 15})
    labels = ["ok" if value < 0.5 else "label \ud800" for value in x["x"]]
    model = DecisionTreeClassifier(random_state=0).fit(x, labels)
    ref = lab.registry.register("poison-tree", model, reference=x, trusted=TREE).ref
    ep = lab.deploy("poison-test", ref, trusted=TREE)
    yield ep
    ep.undeploy()


def _send_poison(url: str) -> None:
    """Both poisons; the answers are not checked here (the router's are another matter)."""
    headers = {"Content-Type": "application/json"}
    requests.post(url, data=KEY_POISON, headers=headers, timeout=60)
    requests.post(url, json=LABEL_POISON, timeout=60)


def _send_ordinary(url: str, n: int) -> list[str]:
    ids = []
    with requests.Session() as session:
        for _ in range(n):
            reply = session.post(url, json=ORDINARY, timeout=60)
            assert reply.status_code == 200, reply.text
            ids.extend(reply.json()["request_ids"])
    return ids


def _log_of(lab: Lab, endpoint: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The endpoint's stored rows, and its rows set aside as dead letters."""
    stored = lab.store.query(
        "SELECT request_id, status, error, prediction FROM requests WHERE endpoint = ?",
        [endpoint],
    ).to_pylist()
    return stored, _letters(lab.store, endpoint)


def _wait_logged(lab: Lab, endpoint: str, rows: int, timeout: float = 120.0) -> tuple[list, list]:
    """The endpoint's log once it holds ``rows`` rows (stored or set aside)."""

    def logged() -> tuple[list, list] | None:
        stored, letters = _log_of(lab, endpoint)
        return (stored, letters) if len(stored) + len(letters) >= rows else None

    return eventually(
        logged, timeout=timeout, every=0.5, what=f"{rows} rows of {endpoint} stored or set aside"
    )


def _journals_taken_over(endpoint: Endpoint) -> bool:
    """Whether the replica has looked for the journals of replicas that are gone, and sent
    every row of those it took (stored or set aside)."""
    log = endpoint.describe()["log"]
    return log["scans"] >= 1 and log["spilled_files"] == 0


def _poison_counts(stored: list[dict]) -> tuple[int, int]:
    """How many rows of each poison are stored: the key's refusals, the label's answers."""
    key_rows = [r for r in stored if r["status"] >= 400 and "\\ud800" in (r["error"] or "")]
    label_rows = [r for r in stored if "label" in (r["prediction"] or "")]
    for row in label_rows:
        assert "\\\\ud800" in row["prediction"]  # the escape's text, not a lone surrogate
    return len(key_rows), len(label_rows)


def test_after_poison_requests_the_next_100_are_stored(lab: Lab, endpoint: Endpoint) -> None:
    """After both poisons, 100 ordinary requests are all stored, and so are the poison
    requests' own rows, their text escaped; none is set aside."""
    url = f"{endpoint.url}/predict"
    before_stored, _ = _log_of(lab, "poison-test")
    before = _poison_counts(before_stored)
    _send_poison(url)
    ids = _send_ordinary(url, 100)
    assert endpoint.flush(timeout=60)
    stored, letters = _wait_logged(lab, "poison-test", len(before_stored) + 102)
    assert {r["request_id"] for r in stored} >= set(ids)
    assert (len(stored), letters) == (len(before_stored) + 102, [])
    assert _poison_counts(stored) == (before[0] + 1, before[1] + 1)


def test_a_label_no_text_can_hold_is_answered_and_takes_feedback(
    lab: Lab, endpoint: Endpoint
) -> None:
    """The label with a lone surrogate is answered with its escape, and the request it
    answered is one the endpoint knows: feedback on its id is taken."""
    reply = requests.post(f"{endpoint.url}/predict", json=LABEL_POISON, timeout=60)
    assert reply.status_code == 200, reply.text
    assert reply.json()["predictions"] == ["label \\ud800"]
    request_id = reply.json()["request_ids"][0]
    assert endpoint.flush(timeout=60)
    feedback = requests.post(
        f"{endpoint.url}/feedback", json={"request_id": request_id, "truth": "ok"}, timeout=60
    )
    assert feedback.status_code == 200, feedback.text


def test_a_killed_replica_holding_poison_in_its_journal_blocks_nothing(
    lab: Lab, endpoint: Endpoint
) -> None:
    """Poison requests, then the router replica is SIGKILLed before its next flush: its
    successor takes the journal over, and with 100 more requests every row is accounted
    for (stored, or set aside with its reason)."""
    url = f"{endpoint.url}/predict"
    before_stored, before_letters = _log_of(lab, "poison-test")
    before = _poison_counts(before_stored)
    victim = endpoint.describe()["replica_pid"]
    _send_poison(url)
    os.kill(victim, signal.SIGKILL)
    successor_of(endpoint, victim, timeout=180)
    ids = _send_ordinary(url, 100)
    assert endpoint.flush(timeout=60)
    eventually(
        lambda: _journals_taken_over(endpoint),
        timeout=120,
        what="the killed replica's journal sent",
    )
    expected = len(before_stored) + len(before_letters) + 102
    stored, letters = _log_of(lab, "poison-test")
    assert {r["request_id"] for r in stored} >= set(ids)
    assert len(stored) + len(letters) == expected
    assert _poison_counts(stored) == (before[0] + 1, before[1] + 1)
