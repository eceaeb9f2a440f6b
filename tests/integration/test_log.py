"""The request log buffer: never blocks, never loses a row, never stores one twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from datetime import UTC
from pathlib import Path

import numpy as np
import pytest
import ray

from mlops_lab import Lab, Store
from mlops_lab.sample_data import request_rows
from mlops_lab.serve import _log
from mlops_lab.serve._log import LogBuffer
from mlops_lab.store._actor import ActorStore, find_store_actor
from tests._eventually import eventually
from tests.integration._log_writer import start_writer, wait_appended


def _rows(n: int, seed: int) -> list[dict]:
    return request_rows(n, endpoint=f"log-{seed}", seed=seed).to_pylist()


def _gone_store(tmp_path: Path) -> Store:
    """A store every write to fails: it is closed."""
    gone = Store(tmp_path / "gone.duckdb")
    gone.close()
    return gone


def _journals(spill: Path) -> list[Path]:
    return sorted(spill.glob("requests-*.journal"))


def _scans_past(buffer: LogBuffer, scans: int) -> None:
    """Wait until ``buffer`` has looked ``scans`` more times for segments of buffers that are
    gone. What was free at the first of those looks was taken then and sent before the next,
    so rows these looks did not send were not free to take."""
    target = buffer.stats().scans + scans
    eventually(
        lambda: buffer.stats().scans >= target,
        what=f"{scans} more scans for segments of buffers that are gone",
    )


def _stored(store, endpoint: str) -> tuple[int, int]:
    row = store.query(
        "SELECT count(*) AS n, count(DISTINCT request_id) AS ids FROM requests WHERE endpoint = ?",
        [endpoint],
    ).to_pylist()[0]
    return row["n"], row["ids"]


def test_rows_from_many_threads_reach_the_store_once(store: Store, tmp_path: Path) -> None:
    """Four threads append 2500 rows each; after a flush every row is stored exactly once,
    and a row appended again (a retry) is not stored twice."""
    buffer = LogBuffer(store, "requests", spill_dir=tmp_path / "spill", batch_rows=300)
    rows = _rows(10_000, seed=1)
    threads = [
        threading.Thread(target=lambda part=rows[i::4]: [buffer.append(r) for r in part])
        for i in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    buffer.append(rows[0])
    assert buffer.flush(timeout=60)
    stats = buffer.close()
    assert (stats.appended, stats.written, stats.in_memory) == (10_001, 10_001, 0)
    assert _stored(store, "log-1") == (10_000, 10_000)


def test_rows_wait_on_disk_while_the_store_is_away(lab: Lab, tmp_path: Path) -> None:
    """The store actor is killed twice while rows pour in: memory stays bounded (rows spill
    to disk), and once the store is back every row is stored exactly once."""
    handle = find_store_actor(lab.settings.namespace)
    buffer = LogBuffer(
        ActorStore(handle, timeout=0.5), "requests", spill_dir=tmp_path / "spill",
        batch_rows=200, flush_every_s=0.05, max_rows_in_memory=400,
    )  # fmt: skip
    rows = _rows(6000, seed=2)
    most_in_memory = most_spilled = 0
    for index, row in enumerate(rows):
        buffer.append(row)
        if index in (500, 2500):
            ray.kill(handle, no_restart=False)
        if index % 50 == 0:
            stats = buffer.stats()
            most_in_memory = max(most_in_memory, stats.in_memory)
            most_spilled = max(most_spilled, stats.spilled_files)
            time.sleep(0.01)
    assert buffer.flush(timeout=120)
    stats = buffer.close()
    assert most_spilled > 0 and most_in_memory <= 400 + 200
    assert stats.written == stats.appended == 6000 and stats.spilled_files == 0
    assert _stored(lab.store, "log-2") == (6000, 6000)


def test_a_new_buffer_sends_what_a_closed_one_left_on_disk(tmp_path: Path) -> None:
    """Closed while its store is gone, a buffer keeps its rows in spill files; a new buffer
    on the same folder sends them once a store is there."""
    path, spill = tmp_path / "lab.duckdb", tmp_path / "spill"
    first = LogBuffer(_gone_store(tmp_path), "requests", spill_dir=spill, flush_every_s=0.05)
    for row in _rows(700, seed=3):
        first.append(row)
    stats = first.close(timeout=1.0)
    assert stats.written == 0 and stats.spilled_files >= 1
    with Store(path) as back:
        second = LogBuffer(back, "requests", spill_dir=spill)
        assert second.flush(timeout=60)
        eventually(lambda: second.stats().recovered >= 700, what="700 rows recovered")
        assert second.close().recovered == 700
        assert _stored(back, "log-3") == (700, 700)
    assert not list(spill.iterdir())


def test_an_arrow_spill_of_an_earlier_buffer_is_sent(store: Store, tmp_path: Path) -> None:
    """Without the journal a closed buffer leaves Arrow spill files; a journaling buffer on
    the same folder sends them."""
    spill = tmp_path / "spill"
    first = LogBuffer(_gone_store(tmp_path), "requests", spill_dir=spill, journal=False)
    for row in _rows(400, seed=9):
        first.append(row)
    assert first.close(timeout=0.2).spilled_files >= 1
    assert list(spill.glob("requests-*.arrow")) and not _journals(spill)
    second = LogBuffer(store, "requests", spill_dir=spill)
    eventually(lambda: second.stats().recovered >= 400, what="400 rows recovered")
    assert second.close().recovered == 400
    assert _stored(store, "log-9") == (400, 400)
    assert not list(spill.iterdir())


def _start_writer(spill: Path, rows: int, seed: int, tmp_path: Path) -> subprocess.Popen[str]:
    errors = tmp_path / f"writer-{seed}.err"
    return start_writer(spill, rows, seed, errors, 4 << 20)  # 4 MiB: 12,000 rows take two


def test_rows_of_a_killed_process_are_sent_once_and_a_live_ones_left_alone(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two processes append rows to journaling buffers whose store is gone, and one of them is
    SIGKILLed: a new buffer on the folder sends each of its rows exactly once and deletes its
    segments, but leaves the segments of the live one alone until that one is killed too."""
    monkeypatch.setattr(_log, "RESCAN_EVERY_S", 0.2)
    spill = tmp_path / "spill"
    killed = _start_writer(spill, 12_000, seed=4, tmp_path=tmp_path)
    alive = _start_writer(spill, 500, seed=5, tmp_path=tmp_path)
    try:
        wait_appended(killed, tmp_path / "writer-4.err")
        wait_appended(alive, tmp_path / "writer-5.err")
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait()
        live = {p: p.read_bytes() for p in spill.glob(f"requests-{alive.pid}-*.journal")}
        assert len(live) == 1 and len(_journals(spill)) == 3  # the killed one rotated once
        buffer = LogBuffer(store, "requests", spill_dir=spill)
        eventually(lambda: buffer.stats().recovered >= 12_000, what="12,000 rows recovered")
        _scans_past(buffer, 3)
        assert buffer.stats().recovered == 12_000
        assert _stored(store, "log-4") == (12_000, 12_000)
        assert _stored(store, "log-5") == (0, 0)
        assert {p: p.read_bytes() for p in _journals(spill)} == live
        os.kill(alive.pid, signal.SIGKILL)
        alive.wait()
        eventually(lambda: buffer.stats().recovered >= 12_500, what="12,500 rows recovered")
        assert buffer.close().recovered == 12_500
    finally:
        for writer in (killed, alive):
            writer.kill()
            writer.wait()
    assert _stored(store, "log-5") == (500, 500)
    assert not list(spill.iterdir())


def test_segments_of_a_live_buffer_in_the_same_process_are_left_alone(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """flock locks belong to an open file, not to a process: a second buffer in the same
    process does not take the segments of a first one while it lives, and takes them once
    it is closed."""
    monkeypatch.setattr(_log, "RESCAN_EVERY_S", 0.1)
    spill = tmp_path / "spill"
    first = LogBuffer(_gone_store(tmp_path), "requests", spill_dir=spill)
    for row in _rows(300, seed=6):
        first.append(row)
    second = LogBuffer(store, "requests", spill_dir=spill)
    _scans_past(second, 3)
    assert second.stats().recovered == 0 and _stored(store, "log-6") == (0, 0)
    stats = first.close(timeout=0.2)
    assert (stats.written, stats.in_memory, stats.spilled_files) == (0, 0, 1)
    eventually(lambda: second.stats().recovered >= 300, what="300 rows recovered")
    assert second.close().recovered == 300
    assert _stored(store, "log-6") == (300, 300)
    assert not list(spill.iterdir())


def test_a_torn_last_line_is_skipped(store: Store, tmp_path: Path) -> None:
    """A kill in the middle of a journal write leaves half a line before the zero bytes at
    the end of a segment: that line is skipped and every whole line before it is sent."""
    spill, rows = tmp_path / "spill", _rows(100, seed=7)
    first = LogBuffer(_gone_store(tmp_path), "requests", spill_dir=spill)
    for row in rows:
        first.append(row)
    first.close(timeout=0.2)
    [segment] = _journals(spill)
    data = segment.read_bytes()
    used = data.index(b"\0")
    last = data.rindex(b"\n", 0, used - 1) + 1
    torn = data[: last + (used - last) // 2]
    segment.write_bytes(torn + bytes(len(data) - len(torn)))
    second = LogBuffer(store, "requests", spill_dir=spill)
    eventually(lambda: not _journals(spill), what="every journal segment sent and deleted")
    assert second.close().recovered == 99
    stored = store.query("SELECT request_id FROM requests WHERE endpoint = 'log-7'")
    assert set(stored.column("request_id").to_pylist()) == {r["request_id"] for r in rows[:-1]}


def test_rows_read_back_from_the_journal_are_stored_as_fresh_ones(
    store: Store, tmp_path: Path
) -> None:
    """Rows with aware and naive datetimes, numpy scalars and dicts and lists for JSON
    columns are stored the same whether written at once or recovered from a journal."""
    rows = _rows(60, seed=8)
    for index, row in enumerate(rows):
        row["time"] = row["time"].replace(tzinfo=UTC) if index % 2 else row["time"]
        row["features"] = json.loads(row["features"])
        row["shadow"] = {"shadow-model@1": index % 2, "note": None}
        row["latency_ms"] = np.float64(row["latency_ms"])
        row["model_version"] = np.int32(row["model_version"])
    store.write({"requests": [{**r, "request_id": r["request_id"] + "-fresh"} for r in rows]})
    spill = tmp_path / "spill"
    first = LogBuffer(_gone_store(tmp_path), "requests", spill_dir=spill)
    for row in rows:
        first.append({**row, "endpoint": "log-8-journal"})
    first.close(timeout=0.2)
    second = LogBuffer(store, "requests", spill_dir=spill)
    eventually(lambda: not _journals(spill), what="every journal segment sent and deleted")
    assert second.close().recovered == 60

    def stored(endpoint: str) -> list[dict]:
        # Alike but for their ids, endpoint and arrival numbers (the store's, as they come).
        sql = "SELECT * EXCLUDE (request_id, endpoint, seq) FROM requests WHERE endpoint = ?"
        return store.query(sql + " ORDER BY request_id", [endpoint]).to_pylist()

    assert stored("log-8-journal") == stored("log-8")
