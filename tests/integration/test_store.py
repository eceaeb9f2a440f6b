"""The in-process Store: migrations, idempotent batched writes, refusals that change nothing."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from mlops_lab.sample_data import request_rows
from mlops_lab.store import (
    QueryError,
    ReadOnlyError,
    SchemaError,
    Store,
    StoreError,
    StoreLockedError,
)
from mlops_lab.store._migrations import MIGRATIONS

NOW = datetime(2026, 3, 1, 9, 30)
LIFECYCLE_TABLES = {
    "alerts", "datasets", "dead_letters", "endpoints", "events", "experiments", "explanations",
    "feedback", "model_aliases", "models", "monitor_results", "monitor_state", "monitor_windows",
    "outlier_scores",
    "requests", "route_changes", "trial_results", "trials",
}  # fmt: skip


def test_a_new_store_has_every_lifecycle_table_at_the_latest_version(store: Store) -> None:
    """Opening creates the schema through the migrations and records them."""
    assert set(store.counts()) == LIFECYCLE_TABLES
    applied = store.sql("SELECT version, name FROM schema_migrations ORDER BY version")
    assert applied["version"].tolist() == [m.version for m in MIGRATIONS]
    assert store.schema_version == MIGRATIONS[-1].version


def test_reopening_applies_nothing_twice_and_keeps_rows(tmp_path: Path) -> None:
    """A second open finds the schema current and the rows in place."""
    with Store(tmp_path / "lab.duckdb") as first:
        first.append("requests", request_rows(10))
    with Store(tmp_path / "lab.duckdb") as second:
        assert second.counts()["requests"] == 10
        assert len(second.sql("SELECT * FROM schema_migrations")) == len(MIGRATIONS)


def _store_at(path: Path, version: int) -> duckdb.DuckDBPyConnection:
    """A DuckDB file holding the schema of the first ``version`` migrations."""
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, "
        "name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
    )
    for migration in MIGRATIONS[:version]:
        con.execute(migration.sql)
        con.execute("INSERT INTO schema_migrations VALUES (?, ?, now()::TIMESTAMP)",
                    [migration.version, migration.name])  # fmt: skip
    return con


def test_feedback_stored_before_migration_5_gains_its_requests_routes(tmp_path: Path) -> None:
    """Migration 5 gives every stored feedback row the endpoint and routes of its request;
    feedback on a request the log does not hold keeps them empty, and no row is lost."""
    path = tmp_path / "old.duckdb"
    with _store_at(path, 4) as con:
        con.execute("INSERT INTO requests (request_id, endpoint, time, status, route_id) "
                    "VALUES ('r1', 'churn', ?, 200, 'route-a')", [NOW])  # fmt: skip
        con.execute("INSERT INTO feedback (feedback_id, request_id, time, reward) VALUES "
                    "('r1', 'r1', ?, 1.0), ('r2', 'r2', ?, 0.0)", [NOW, NOW])  # fmt: skip
    with Store(path) as store:
        assert store.schema_version == MIGRATIONS[-1].version
        rows = store.sql(
            "SELECT feedback_id, endpoint, route_id, reward FROM feedback ORDER BY feedback_id"
        )
    assert rows.to_dict("records") == [
        {"feedback_id": "r1", "endpoint": "churn", "route_id": "route-a", "reward": 1.0},
        {"feedback_id": "r2", "endpoint": None, "route_id": None, "reward": 0.0},
    ]


def test_rows_stored_before_migration_6_get_arrival_numbers_before_new_ones(
    tmp_path: Path,
) -> None:
    """Migration 6 numbers the requests and feedback already stored; rows written after it
    get higher numbers."""
    path = tmp_path / "old.duckdb"
    with _store_at(path, 5) as con:
        con.execute(
            "INSERT INTO requests (request_id, endpoint, time, status) "
            "VALUES ('r1', 'churn', ?, 200), ('r2', 'churn', ?, 200)",
            [NOW, NOW],
        )
        con.execute("INSERT INTO feedback (feedback_id, request_id, time, reward) "
                    "VALUES ('f1', 'r1', ?, 1.0)", [NOW])  # fmt: skip
    with Store(path) as store:
        store.append("requests", request_rows(1))
        store.append("feedback", [{"feedback_id": "f2", "request_id": "r2", "time": NOW}])
        requests = store.sql("SELECT seq FROM requests ORDER BY seq")["seq"].tolist()
        feedback = store.sql("SELECT feedback_id, seq FROM feedback ORDER BY seq")
    assert requests == [1, 2, 3]
    assert feedback.to_dict("records") == [{"feedback_id": "f1", "seq": 1},
                                           {"feedback_id": "f2", "seq": 2}]  # fmt: skip


def test_the_store_numbers_requests_in_the_order_they_arrive(store: Store) -> None:
    """Each request row gets the next arrival number, whatever its time; a retried batch
    takes no number for the rows already stored."""
    late = request_rows(3, seed=9)  # their times sort after the next batch's
    early = request_rows(4, seed=1)
    store.append("requests", late)
    store.append("requests", early)
    store.append("requests", early)
    arrived = store.sql("SELECT request_id, seq FROM requests ORDER BY seq")
    assert arrived["request_id"].tolist() == [
        *late.column("request_id").to_pylist(),
        *early.column("request_id").to_pylist(),
    ]
    assert arrived["seq"].is_monotonic_increasing and arrived["seq"].is_unique


def test_a_batch_cannot_set_the_arrival_number(store: Store) -> None:
    """The arrival number is the store's: a batch that gives one is refused, naming it."""
    rows = request_rows(2).append_column("seq", [[1, 2]])
    with pytest.raises(SchemaError, match="'seq' of table 'requests' is numbered by the store"):
        store.append("requests", rows)
    assert store.counts()["requests"] == 0


def test_a_retried_batch_inserts_nothing_twice(store: Store) -> None:
    """Appending the same batch again (a lost acknowledgement) adds no row."""
    batch = request_rows(500, seed=7)
    assert store.append("requests", batch) == 500
    assert store.append("requests", batch) == 0
    assert store.append("requests", request_rows(600, seed=7)) == 100
    counts = store.sql("SELECT count(*) AS n, count(DISTINCT request_id) AS ids FROM requests")
    assert counts.to_dict("records") == [{"n": 600, "ids": 600}]


def test_a_retried_write_to_several_tables_adds_the_rest_once(store: Store) -> None:
    """A write whose batch is partly stored is redone whole: new rows once, old ones skipped."""
    store.append("requests", request_rows(10, seed=3))
    alias = {"name": "iris", "alias": "champion", "version": 1, "updated_at": NOW}
    written = store.write({"requests": request_rows(25, seed=3), "model_aliases": [alias]})
    assert written == {"requests": 15, "model_aliases": 1}
    assert store.counts()["requests"] == 25
    assert store.counts()["model_aliases"] == 1


def test_rows_of_changing_things_are_replaced(store: Store) -> None:
    """An alias written again with the same key moves; it is not duplicated."""
    alias = {"name": "iris", "alias": "champion", "version": 1, "updated_at": NOW}
    store.append("model_aliases", [alias])
    store.append("model_aliases", [{**alias, "version": 2}])
    assert store.sql("SELECT version FROM model_aliases")["version"].tolist() == [2]


def test_a_wrong_typed_column_refuses_every_batch_of_the_write(store: Store) -> None:
    """One bad column in one table refuses the whole write, all tables included."""
    store.append("requests", request_rows(5, seed=1))
    event = {"event_id": "e1", "time": NOW, "kind": "deploy"}
    bad = request_rows(5, seed=2).to_pandas().assign(latency_ms="slow")
    with pytest.raises(SchemaError, match="Column 'latency_ms' of table 'requests'"):
        store.write({"events": [event], "requests": bad})
    assert store.counts()["requests"] == 5
    assert store.counts()["events"] == 0


def test_invalid_json_text_is_refused_naming_the_column(store: Store) -> None:
    """Text that is not JSON in a JSON column is refused and named; nothing is written."""
    bad = request_rows(3, seed=3).to_pandas()
    bad.loc[1, "features"] = "{not json"
    with pytest.raises(SchemaError, match="Column 'features' .* 1 value"):
        store.append("requests", bad)
    assert store.counts()["requests"] == 0


def test_an_unknown_table_is_named(store: Store) -> None:
    """Writing to a table that does not exist lists the ones that do."""
    with pytest.raises(SchemaError, match="no table 'request'. Tables: alerts"):
        store.append("request", request_rows(1))


def test_writes_through_sql_are_refused_and_change_nothing(store: Store) -> None:
    """DROP, DELETE and a data-modifying CTE are refused; the file's rows stay."""
    store.append("requests", request_rows(20))
    before = _digest(store)
    for statement in (
        "DROP TABLE requests",
        "DELETE FROM requests",
        "WITH d AS (DELETE FROM requests RETURNING *) SELECT count(*) FROM d",
    ):
        with pytest.raises(ReadOnlyError):
            store.sql(statement)
    assert _digest(store) == before


def test_queries_take_parameters(store: Store) -> None:
    """Values travel as parameters, positional or named."""
    store.append("requests", request_rows(10, endpoint="a"))
    store.append("requests", request_rows(4, endpoint="b", seed=1))
    assert store.sql("SELECT count(*) AS n FROM requests WHERE endpoint = ?", ["b"]).n[0] == 4
    named = store.sql("SELECT count(*) AS n FROM requests WHERE endpoint = $e", {"e": "a"})
    assert named.n[0] == 10


def test_a_failing_query_says_why(store: Store) -> None:
    """DuckDB's own message reaches the caller."""
    with pytest.raises(QueryError, match="nope"):
        store.sql("SELECT * FROM nope")


def test_a_read_only_store_reads_and_refuses_writes(tmp_path: Path) -> None:
    """Several read-only opens may read; a write through one is refused."""
    path = tmp_path / "lab.duckdb"
    with Store(path) as writer:
        writer.append("requests", request_rows(3))
    with Store(path, read_only=True) as reader, Store(path, read_only=True) as other:
        assert reader.counts()["requests"] == other.counts()["requests"] == 3
        with pytest.raises(StoreError, match="opened read-only"):
            reader.append("requests", request_rows(1, seed=9))


def test_a_missing_file_is_not_created_for_reading(tmp_path: Path) -> None:
    """Reading a path with no store says so instead of creating an empty one."""
    with pytest.raises(StoreError, match="No store at"):
        Store(tmp_path / "absent.duckdb", read_only=True)
    assert not (tmp_path / "absent.duckdb").exists()


def test_a_file_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    """A schema version this code does not know is refused, untouched."""
    path = tmp_path / "lab.duckdb"
    Store(path).close()
    with duckdb.connect(str(path)) as con:
        con.execute("INSERT INTO schema_migrations VALUES (999, 'future', now()::TIMESTAMP)")
    with pytest.raises(StoreError, match="schema version 999, newer"):
        Store(path)


def test_a_file_held_by_another_process_is_reported(tmp_path: Path) -> None:
    """A second writer process gets a clear error naming how to reach the store."""
    import subprocess
    import sys

    path = tmp_path / "lab.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         f"import duckdb, time; c = duckdb.connect({str(path)!r}); print('ok', flush=True); "
         "time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ok"
        with pytest.raises(StoreLockedError, match="mlops_lab.connect"):
            Store(path, lock_timeout=0.5)
    finally:
        holder.kill()
        holder.wait()


def _digest(store: Store) -> str:
    rows = store.sql("SELECT * FROM requests ORDER BY request_id").to_csv()
    return hashlib.sha256(rows.encode()).hexdigest()
