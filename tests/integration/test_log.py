"""The request log buffer: never blocks, never loses a row, never stores one twice."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import ray

from mlops_lab import Lab, Store
from mlops_lab.demo import request_rows
from mlops_lab.serve import LogBuffer
from mlops_lab.store._actor import ActorStore, find_store_actor


def _rows(n: int, seed: int) -> list[dict]:
    return request_rows(n, endpoint=f"log-{seed}", seed=seed).to_pylist()


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
    gone = Store(path)
    gone.close()
    first = LogBuffer(gone, "requests", spill_dir=spill, flush_every_s=0.05)
    for row in _rows(700, seed=3):
        first.append(row)
    stats = first.close(timeout=1.0)
    assert stats.written == 0 and stats.spilled_files >= 1
    with Store(path) as back:
        second = LogBuffer(back, "requests", spill_dir=spill)
        assert second.flush(timeout=60)
        deadline = time.monotonic() + 30
        while second.stats().recovered < 700 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert second.close().recovered == 700
        assert _stored(back, "log-3") == (700, 700)
    assert not list(spill.iterdir())
