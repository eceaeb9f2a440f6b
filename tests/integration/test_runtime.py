"""The lab runtime: processes attach to one runtime and share its store actor."""

from __future__ import annotations

import json
import threading

import pytest
import ray

from mlops_lab import Lab, ReadOnlyError, SchemaError
from mlops_lab.sample_data import request_rows
from mlops_lab.store._actor import STORE_ACTOR_NAME, STORE_NICENESS
from tests._eventually import eventually
from tests.conftest import run_python


def test_status_reports_runtime_store_and_no_endpoints(lab: Lab, lab_env: dict[str, str]) -> None:
    """status() names the local runtime, the store file and an empty endpoint list."""
    status = lab.status()
    assert status.runtime == "local"
    assert status.store_path.startswith(lab_env["MLOPS_LAB_HOME"])
    assert status.endpoints == []
    assert status.serve_url.endswith(f":{lab_env['MLOPS_LAB_SERVE_PORT']}")
    assert "endpoints: none yet" in str(status)


def test_ray_token_authentication_is_on(lab: Lab, lab_env: dict[str, str]) -> None:
    """A process holding a wrong token cannot attach to the lab's Ray."""
    result = run_python(
        "import ray; ray.init(address='127.0.0.1:" + lab_env["MLOPS_LAB_RAY_PORT"] + "')",
        {**lab_env, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "not-the-token"},
        timeout=120,
    )
    assert result.returncode != 0


def test_two_processes_share_one_runtime_and_its_data(lab: Lab, lab_env: dict[str, str]) -> None:
    """Rows written here are seen by another process, and rows written there are seen here."""
    lab.store.append("requests", request_rows(25, endpoint="shared", seed=100))
    code = (
        "import json, mlops_lab\n"
        "from mlops_lab.sample_data import request_rows\n"
        "lab = mlops_lab.connect(start=False)\n"
        "query = \"SELECT count(*) AS n FROM requests WHERE endpoint = 'shared'\"\n"
        "seen = int(lab.sql(query).n[0])\n"
        "added = lab.store.append('requests', request_rows(5, endpoint='shared', seed=101))\n"
        "print(json.dumps({'seen': seen, 'added': added, 'address': lab.status().ray_address}))\n"
    )
    result = run_python(code, lab_env)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"seen": 25, "added": 5, "address": lab.status().ray_address}
    assert lab.sql("SELECT count(*) AS n FROM requests WHERE endpoint = 'shared'").n[0] == 30


def test_a_new_process_finds_the_running_runtime(lab: Lab, lab_env: dict[str, str]) -> None:
    """A process started after the writer has exited attaches and reads its rows."""
    writer = run_python(
        "import mlops_lab\nfrom mlops_lab.sample_data import request_rows\n"
        "lab = mlops_lab.connect(start=False)\n"
        "lab.store.append('requests', request_rows(7, endpoint='left-behind', seed=200))\n",
        lab_env,
    )
    assert writer.returncode == 0, writer.stderr[-3000:]
    reader = run_python(
        "import mlops_lab\nlab = mlops_lab.connect(start=False)\n"
        "query = \"SELECT count(*) AS n FROM requests WHERE endpoint = 'left-behind'\"\n"
        "print(lab.sql(query).n[0])",
        lab_env,
    )
    assert reader.returncode == 0, reader.stderr[-3000:]
    assert reader.stdout.strip().splitlines()[-1] == "7"


def test_writes_through_sql_are_refused_by_the_actor(lab: Lab) -> None:
    """The store actor refuses a DROP with the same error as the in-process store."""
    before = lab.store.counts()
    with pytest.raises(ReadOnlyError, match="DROP statement was not run"):
        lab.sql("DROP TABLE requests")
    assert lab.store.counts() == before


def test_a_bad_batch_through_the_actor_names_the_column(lab: Lab) -> None:
    """A wrong-typed column is refused whole, and the error class survives the hop."""
    before = lab.store.counts()["requests"]
    bad = request_rows(4, endpoint="bad", seed=300).to_pandas().assign(status="ok")
    with pytest.raises(SchemaError, match="Column 'status' of table 'requests'"):
        lab.store.append("requests", bad)
    assert lab.store.counts()["requests"] == before


def test_killing_the_store_actor_under_load_loses_and_duplicates_nothing(lab: Lab) -> None:
    """With 10 writers appending, the store actor is killed; Ray restarts it, and
    afterwards the stored rows are exactly the acknowledged ones, without duplicates."""
    writers, batches, size = 10, 12, 50
    acknowledged: list[list[str]] = [[] for _ in range(writers)]
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            for batch in range(batches):
                rows = request_rows(size, endpoint="chaos", seed=10_000 + worker * 100 + batch)
                lab.store.append("requests", rows)
                acknowledged[worker].extend(rows.column("request_id").to_pylist())
        except BaseException as exc:  # reported below, never swallowed
            errors.append(exc)

    pid_before = lab.store.info()["pid"]
    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    eventually(
        lambda: sum(map(len, acknowledged)) >= writers * size * 2,
        timeout=120,
        what=f"{writers * size * 2} rows acknowledged",
    )
    ray.kill(ray.get_actor(STORE_ACTOR_NAME, namespace=lab.settings.namespace), no_restart=False)
    for thread in threads:
        thread.join(timeout=300)

    assert errors == []
    acked = {request_id for ids in acknowledged for request_id in ids}
    stored = lab.sql("SELECT request_id FROM requests WHERE endpoint = 'chaos'")
    assert len(acked) == writers * batches * size
    assert len(stored) == stored.request_id.nunique()
    assert set(stored.request_id) == acked
    restarted = lab.store.info()
    assert restarted["pid"] != pid_before
    assert restarted["niceness"] == STORE_NICENESS  # requests served go before its writes
