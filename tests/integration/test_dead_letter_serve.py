"""A live endpoint keeps logging after poison requests: every request after them is stored,
and their own rows are stored (text escaped) or set aside with the reason, never lost.

Two real poisons: a JSON key that is a lone UTF-16 surrogate (its refusal row names the key),
and a model whose class label holds one (labels read from JSON data can): the router writes
that prediction as JSON text with the surrogate's escape, which DuckDB refuses as JSON.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
import requests
from sklearn.tree import DecisionTreeClassifier

from mlops_lab import Endpoint, Lab
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
    """The endpoint's log once it holds ``rows`` rows (stored or set aside), or at timeout."""
    deadline = time.monotonic() + timeout
    while True:
        stored, letters = _log_of(lab, endpoint)
        if len(stored) + len(letters) >= rows or time.monotonic() > deadline:
            return stored, letters
        time.sleep(0.5)


def _check_poison_rows(stored: list[dict], letters: list[dict], times: int) -> None:
    """Each poison request's row is stored with its text escaped, or set aside with a reason."""
    key_rows = [r for r in stored if r["status"] >= 400 and "\\ud800" in (r["error"] or "")]
    key_letters = [x for x in letters if "label" not in x["row_text"]]
    assert len(key_rows) + len(key_letters) == times
    label_rows = [r for r in stored if "label" in (r["prediction"] or "")]
    label_letters = [x for x in letters if "label" in x["row_text"]]
    assert len(label_rows) + len(label_letters) == times
    for letter in letters:
        assert letter["table_name"] == "requests" and letter["reason"]
    for row in label_rows:
        assert "\\\\ud800" in row["prediction"]  # the escape's text, not a lone surrogate


def test_after_poison_requests_the_next_100_are_stored(lab: Lab, endpoint: Endpoint) -> None:
    """After both poisons, 100 ordinary requests are all stored, and each poison request's
    row is stored with its text escaped or set aside in dead_letters with its reason."""
    url = f"{endpoint.url}/predict"
    _send_poison(url)
    ids = _send_ordinary(url, 100)
    assert endpoint.flush(timeout=60)
    stored, letters = _wait_logged(lab, "poison-test", 102)
    assert {r["request_id"] for r in stored} >= set(ids)
    assert len(stored) + len(letters) == 102
    _check_poison_rows(stored, letters, times=1)
    assert letters, "the label's row is one the store refuses: it must be a dead letter"
    assert "Column 'prediction' of table 'requests' holds JSON" in letters[0]["reason"]
    assert lab.status().dead_letters >= 1


def test_a_killed_replica_holding_poison_in_its_journal_blocks_nothing(
    lab: Lab, endpoint: Endpoint
) -> None:
    """Poison requests, then the router replica is SIGKILLed before its next flush: its
    successor takes the journal over, and with 100 more requests every row is accounted
    for (stored, or set aside with its reason)."""
    url = f"{endpoint.url}/predict"
    before_stored, before_letters = _log_of(lab, "poison-test")
    victim = endpoint.describe()["replica_pid"]
    _send_poison(url)
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if endpoint.describe()["replica_pid"] != victim:
                break
        except Exception:  # the replica is being replaced
            pass
        time.sleep(1.0)
    ids = _send_ordinary(url, 100)
    expected = len(before_stored) + len(before_letters) + 102
    stored, letters = _wait_logged(lab, "poison-test", expected)
    assert {r["request_id"] for r in stored} >= set(ids)
    assert len(stored) + len(letters) == expected
    _check_poison_rows(stored, letters, times=2)
