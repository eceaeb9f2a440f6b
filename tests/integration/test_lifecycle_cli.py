"""The runtime's life from the command line, and a crash of the whole Ray head."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from mlops_lab._ray import group_running, session_processes
from mlops_lab.sample_data import request_rows
from mlops_lab.store import Store
from tests._eventually import eventually
from tests.conftest import lab_environment, run_cli
from tests.integration._writer import BATCH_ROWS


def test_up_status_sql_down(tmp_path: Path) -> None:
    """`up` starts a runtime in its own process group, `status` and `sql` read it, `down`
    stops every process of it and the store file stays readable."""
    env = lab_environment(tmp_path / ".mlops_lab")
    up = run_cli("up", env=env)
    assert up.returncode == 0, up.stderr[-3000:]
    assert "local runtime" in up.stdout
    head = json.loads((tmp_path / ".mlops_lab" / "runtime.json").read_text())
    assert head["pgid"] != os.getpgid(0)

    status = run_cli("status", env=env)
    assert status.returncode == 0 and "endpoints: none yet" in status.stdout
    sql = run_cli("sql", "SELECT count(*) AS n FROM requests", "--format", "json", env=env)
    assert json.loads(sql.stdout) == [{"n": 0}]
    refused = run_cli("sql", "DELETE FROM requests", env=env)
    assert refused.returncode == 2 and "DELETE statement was not run" in refused.stderr

    down = run_cli("down", env=env)
    assert down.returncode == 0, down.stderr[-3000:]
    assert not group_running(head["pgid"])
    assert not session_processes(head["pgid"]), "a worker outlived the head"
    assert not (tmp_path / ".mlops_lab" / "runtime.json").exists()

    assert run_cli("status", env=env).returncode == 1
    offline = run_cli("sql", "SELECT count(*) AS n FROM requests", "--format", "csv", env=env)
    assert offline.returncode == 0 and offline.stdout.split() == ["n", "0"]


def test_kill_9_of_the_ray_head_keeps_every_acknowledged_row(tmp_path: Path) -> None:
    """The head's whole process group is SIGKILLed while a writer appends; the DuckDB file
    then opens with Store and holds every batch the store acknowledged."""
    env = lab_environment(tmp_path / ".mlops_lab")
    assert run_cli("up", env=env).returncode == 0
    head = json.loads((tmp_path / ".mlops_lab" / "runtime.json").read_text())
    acks = tmp_path / "acks.txt"
    writer = subprocess.Popen(
        [sys.executable, "-m", "tests.integration._writer", str(acks)],
        env={**os.environ, **env, "MLOPS_LAB_WARM_WORKERS": "0"},
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_acks(acks, at_least=20)
        os.killpg(head["pgid"], signal.SIGKILL)
    finally:
        time.sleep(0.5)
        writer.kill()
        writer.wait()
    eventually(
        lambda: not group_running(head["pgid"]),
        timeout=60,
        every=0.2,
        what="every process of the killed head's group gone",
    )

    seeds = [int(line) for line in acks.read_text().split()]
    expected = {rid for s in seeds for rid in _ids(s)}
    with Store(head["store_path"], lock_timeout=30) as store:
        stored = set(store.sql("SELECT request_id FROM requests").request_id)
    assert len(seeds) >= 20
    assert expected <= stored
    # At most the batch in flight at the kill may be stored without its acknowledgement.
    assert len(stored - expected) <= BATCH_ROWS


def _ids(seed: int) -> list[str]:
    return request_rows(BATCH_ROWS, endpoint="crash", seed=seed).column("request_id").to_pylist()


def _wait_for_acks(path: Path, at_least: int, timeout: float = 180) -> None:
    eventually(
        lambda: path.exists() and len(path.read_text().split()) >= at_least,
        timeout=timeout,
        every=0.1,
        what=f"the writer acknowledging {at_least} batches",
    )
