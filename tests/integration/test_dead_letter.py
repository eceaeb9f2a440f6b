"""A row the store refuses never holds up the request log: it is set aside as a dead letter
with the reason, and every other row is stored, whoever sends it."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from mlops_lab import Lab, Store
from mlops_lab.serve import _log
from mlops_lab.serve._journal import close_segment, create_segment
from mlops_lab.serve._log import LogBuffer
from mlops_lab.store import BadDataError, SchemaError, StoreClient
from mlops_lab.store._actor import ActorStore, find_store_actor
from mlops_lab.store._lines import RowLines, encode_row
from tests._eventually import eventually
from tests.integration._log_writer import poison_rows, start_writer, wait_appended
from tests.integration.test_log import _gone_store, _journals, _rows, _stored


def _letters(store: StoreClient, endpoint: str) -> list[dict[str, Any]]:
    """The dead letters of rows for ``endpoint``."""
    return store.query(
        "SELECT table_name, reason, row_text FROM dead_letters WHERE row_text LIKE ?",
        [f'%"endpoint":"{endpoint}"%'],
    ).to_pylist()


def _filed(spill: Path) -> list[dict[str, Any]]:
    """The letters in the dead-letter file of the requests table."""
    lines = (spill / "dead-letters-requests.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def _error_of(store: StoreClient, request_id: str) -> str:
    sql = "SELECT error FROM requests WHERE request_id = ?"
    return store.query(sql, [request_id]).column("error")[0].as_py()


def _poison_then_rows(store: StoreClient, spill: Path, seed: int) -> tuple[Any, list[dict]]:
    """A buffer takes the two poison rows, then 100 ordinary ones; its stats once flushed."""
    refused, escaped = poison_rows(f"log-{seed}", seed)
    rows = _rows(100, seed=seed)
    buffer = LogBuffer(store, "requests", spill_dir=spill, batch_rows=64, flush_every_s=0.05)
    for row in [refused, escaped, *rows]:
        buffer.append(row)
    assert buffer.flush(timeout=60)
    return buffer.close(), [refused, escaped, *rows]


@pytest.mark.parametrize("where", ["in_process", "actor"])
def test_a_refused_row_is_set_aside_and_the_next_100_are_stored(
    where: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Given a row the store refuses as bad data (in this process, or in the store actor),
    the buffer sets it aside in dead_letters with the reason, stores the row whose text had
    a lone surrogate (escaped), and stores all 100 rows appended after them."""
    if where == "actor":
        namespace = request.getfixturevalue("lab").settings.namespace
        store: StoreClient = ActorStore(find_store_actor(namespace), timeout=5.0)
    else:
        store = request.getfixturevalue("store")
    seed = 20 if where == "actor" else 21
    stats, rows = _poison_then_rows(store, tmp_path / "spill", seed)
    assert (stats.appended, stats.written, stats.dead_lettered) == (102, 101, 1)
    assert _stored(store, f"log-{seed}") == (101, 101)
    assert _error_of(store, rows[1]["request_id"]) == "unknown_feature: '\\ud800'"
    [letter] = _letters(store, f"log-{seed}")
    assert letter["table_name"] == "requests"
    assert "Column 'prediction' of table 'requests' holds JSON" in letter["reason"]
    assert json.loads(letter["row_text"])[0]["request_id"] == rows[0]["request_id"]
    assert not list((tmp_path / "spill").iterdir())


def test_bad_data_crosses_the_actor_boundary_as_its_own_class(lab: Lab) -> None:
    """The store actor's refusal reaches the caller as BadDataError (a SchemaError here) naming
    the row it refuses, and a letter written twice is stored once."""
    refused, _ = poison_rows("log-22", 22)
    good = _rows(2, seed=22)
    lines = RowLines(b"".join(encode_row(row) for row in [good[0], refused, good[1]]))
    with pytest.raises(SchemaError, match="1 value.* not valid JSON text") as caught:
        lab.store.write({"requests": lines})
    assert isinstance(caught.value, BadDataError)
    assert list(caught.value.refused) == [1]
    assert "Column 'prediction' of table 'requests' holds JSON" in caught.value.refused[1]
    letter = {"letter_id": "l-22", "time": refused["time"], "table_name": "requests",
              "reason": "r", "row_text": "t"}  # fmt: skip
    assert [lab.store.append("dead_letters", [letter]) for _ in range(2)] == [1, 0]


def test_letters_the_store_refuses_too_go_to_a_file_beside_the_journal(tmp_path: Path) -> None:
    """When even the dead_letters table refuses a letter (here: it was dropped), the letter
    goes to the dead-letter file in spill_dir with both reasons, and the other rows are stored."""
    path, spill = tmp_path / "lab.duckdb", tmp_path / "spill"
    Store(path).close()
    with duckdb.connect(str(path)) as con:
        con.execute("DROP TABLE dead_letters")
    with Store(path) as store:
        stats, rows = _poison_then_rows(store, spill, seed=23)
        assert (stats.written, stats.dead_lettered) == (101, 1)
        assert _stored(store, "log-23") == (101, 101)
    [letter] = _filed(spill)
    assert json.loads(letter["row_text"])[0]["request_id"] == rows[0]["request_id"]
    assert "Column 'prediction' of table 'requests' holds JSON" in letter["reason"]
    assert "no table 'dead_letters'" in letter["filed_because"]


def test_a_killed_process_holding_a_refused_row_in_its_journal_is_drained(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process whose journal holds a row the store refuses is SIGKILLed: a new buffer takes
    its segment over, sets that row aside, stores every other row once and deletes the
    segment."""
    monkeypatch.setattr(_log, "RESCAN_EVERY_S", 0.2)
    spill, errors = tmp_path / "spill", tmp_path / "writer-24.err"
    writer = start_writer(spill, 3000, 24, errors, 1 << 20, poison=True)
    try:
        wait_appended(writer, errors)
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
    finally:
        writer.kill()
        writer.wait()
    assert _journals(spill)
    buffer = LogBuffer(store, "requests", spill_dir=spill)
    eventually(lambda: not _journals(spill), timeout=60, what="every journal segment sent")
    stats = buffer.close()
    assert (stats.recovered, stats.dead_lettered) == (3001, 1)
    assert _stored(store, "log-24") == (3001, 3001)
    refused, escaped = poison_rows("log-24", 24)
    assert _error_of(store, escaped["request_id"]) == "unknown_feature: '\\ud800'"
    [letter] = _letters(store, "log-24")
    assert json.loads(letter["row_text"])[0]["request_id"] == refused["request_id"]
    assert not list(spill.iterdir())


def test_a_journal_of_an_earlier_version_with_a_lone_surrogate_is_drained(
    store: Store, tmp_path: Path
) -> None:
    """A segment left by a version that wrote lone surrogates as JSON escapes (which blocked
    the buffer taking it over) is sent whole, the surrogates escaped."""
    spill, rows = tmp_path / "spill", _rows(50, seed=25)
    rows[7]["error"] = "unknown_feature: '\ud800'"
    spill.mkdir()
    segment = create_segment(spill / "requests-1-old-000001.journal", 1 << 20)
    for row in rows:
        segment.append(json.dumps([row, {"time": "t"}], default=str).encode() + b"\n")
    close_segment(segment)  # its owner is gone
    buffer = LogBuffer(store, "requests", spill_dir=spill)
    eventually(lambda: not _journals(spill), timeout=60, what="every journal segment sent")
    assert buffer.close().recovered == 50
    assert _stored(store, "log-25") == (50, 50)
    assert _error_of(store, rows[7]["request_id"]) == "unknown_feature: '\\ud800'"


def test_status_counts_the_dead_letters(lab: Lab) -> None:
    """lab.status() reports how many rows are set aside, from the store's dead_letters."""
    before = lab.status().dead_letters
    refused, _ = poison_rows("log-26", 26)
    letter = {"letter_id": "l-26", "time": refused["time"], "table_name": "requests",
              "reason": "r", "row_text": "t"}  # fmt: skip
    lab.store.append("dead_letters", [letter])
    status = lab.status()
    assert status.dead_letters == before + 1
    assert f"dead letters: {before + 1}" in str(status)


def test_a_spilling_buffer_sets_aside_rows_arrow_or_the_store_cannot_hold(
    store: Store, tmp_path: Path
) -> None:
    """Without the journal, rows spilled while the store is away are split into files Arrow
    can hold: a row not even Arrow can hold goes to the dead-letter file at once, a row the
    store refuses goes to dead_letters once it is back, and every other row is stored."""
    spill, rows = tmp_path / "spill", _rows(300, seed=27)
    rows[5]["model_version"] = 2**70  # no Arrow integer holds it
    rows[250]["status"] = "teapot"  # a column of text in its own file; the store wants numbers
    first = LogBuffer(_gone_store(tmp_path), "requests", spill_dir=spill, journal=False)
    for row in rows:
        first.append(row)
    stats = first.close(timeout=0.2)
    assert (stats.written, stats.dead_lettered) == (0, 1) and stats.spilled_files >= 2
    [filed] = _filed(spill)
    assert json.loads(filed["row_text"])[0]["request_id"] == rows[5]["request_id"]
    assert "could not be converted to Arrow" in filed["reason"]
    second = LogBuffer(store, "requests", spill_dir=spill)
    eventually(lambda: not list(spill.glob("*.arrow")), what="every Arrow spill file sent")
    stats = second.close()
    assert (stats.recovered, stats.dead_lettered) == (298, 1)
    assert _stored(store, "log-27") == (298, 298)
    [letter] = _letters(store, "log-27")
    assert json.loads(letter["row_text"])[0]["request_id"] == rows[250]["request_id"]
    assert "Column 'status' of table 'requests' holds integers" in letter["reason"]
