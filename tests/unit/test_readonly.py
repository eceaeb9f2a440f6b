"""Only single read-only statements reach the store."""

from __future__ import annotations

import duckdb
import pytest

from mlops_lab.store import QueryError, ReadOnlyError
from mlops_lab.store._readonly import check_read_only


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1",
        "select count(*) from requests where endpoint = ?",
        "WITH a AS (SELECT 1 AS x) SELECT * FROM a",
        "FROM requests",
        "DESCRIBE requests",
        "SHOW TABLES",
        "SUMMARIZE requests",
        "SELECT 'DELETE FROM requests' AS text_that_looks_like_a_write",
    ],
)
def test_reads_are_accepted(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Statements that only read pass the check."""
    check_read_only(sql, con)


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("DROP TABLE requests", "DROP"),
        ("DELETE FROM requests", "DELETE"),
        ("UPDATE requests SET status = 500", "UPDATE"),
        ("INSERT INTO requests VALUES ('x')", "INSERT"),
        ("CREATE TABLE x AS SELECT 1", "CREATE"),
        ("COPY requests TO 'out.csv'", "COPY"),
        ("ATTACH 'other.duckdb'", "ATTACH"),
        ("SET threads = 1", "SET"),
        ("PRAGMA force_checkpoint", "PRAGMA"),
        ("WITH d AS (DELETE FROM requests RETURNING *) SELECT * FROM d", "DELETE"),
        ("WITH u AS (UPDATE requests SET status = 1 RETURNING *) SELECT 1", "UPDATE"),
    ],
)
def test_writes_are_refused_with_their_kind(
    con: duckdb.DuckDBPyConnection, sql: str, kind: str
) -> None:
    """Anything that would change the store is refused, naming the statement kind."""
    with pytest.raises(ReadOnlyError, match=f"this {kind} statement was not run"):
        check_read_only(sql, con)


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT 1; SELECT 2", "one statement at a time"),
        ("SELEC 1", "could not be parsed"),
        ("   ", "non-empty SQL string"),
    ],
)
def test_malformed_queries_are_explained(
    con: duckdb.DuckDBPyConnection, sql: str, message: str
) -> None:
    """Several statements, bad syntax and blanks get errors saying so."""
    with pytest.raises(QueryError, match=message):
        check_read_only(sql, con)
