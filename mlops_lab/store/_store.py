"""The one writer of the lab's DuckDB file."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from mlops_lab._text import encodable
from mlops_lab.store._batch import Batch, TableSpec, conform, to_arrow
from mlops_lab.store._errors import (
    BadDataError,
    QueryError,
    SchemaError,
    StoreError,
    StoreLockedError,
)
from mlops_lab.store._feedback import answered_by, feedback_rows, logged_requests
from mlops_lab.store._migrations import MIGRATIONS, MUTABLE_TABLES
from mlops_lab.store._readonly import check_read_only

Params = list[Any] | tuple[Any, ...] | Mapping[str, Any] | None


class StoreClient:
    """What every way of reaching the store offers (in process, or through the lab).

    Subclasses provide :meth:`write`, :meth:`query`, :meth:`counts`, :meth:`info` and
    :meth:`add_feedback`; the conveniences below are built on those.
    """

    def write(self, batches: Mapping[str, Batch]) -> dict[str, int]:
        """Write batches to several tables in one transaction, all or nothing."""
        raise NotImplementedError

    def query(self, sql: str, params: Params = None) -> pa.Table:
        """Run one read-only statement and return an Arrow table."""
        raise NotImplementedError

    def counts(self) -> dict[str, int]:
        """Rows in each lifecycle table."""
        raise NotImplementedError

    def info(self) -> dict[str, Any]:
        """Where the store is and which schema version it holds."""
        raise NotImplementedError

    def add_feedback(
        self, endpoint: str, items: Sequence[Mapping[str, Any]], source: str
    ) -> dict[str, Any]:
        """Store feedback on requests ``endpoint`` answered, each request's once, in one step."""
        raise NotImplementedError

    def append(self, table: str, data: Batch) -> int:
        """Append one batch to ``table``; return how many of its rows were new.

        Example:
            >>> store.append("events", [{"event_id": "e1", "time": now, "kind": "demo"}])
            1
        """
        return self.write({table: data})[table]

    def sql(self, sql: str, params: Params = None) -> pd.DataFrame:
        """Run one read-only statement and return a DataFrame.

        Example:
            >>> store.sql("SELECT count(*) AS n FROM requests WHERE endpoint = ?", ["iris"])
        """
        return self.query(sql, params).to_pandas()


class Store(StoreClient):
    """The lab's DuckDB store, opened in this process.

    While a lab runs, its store actor owns the file and everything else reaches it
    through ``lab.store``; open a ``Store`` directly to analyse a file no lab holds.

    Args:
        path: The DuckDB file; created (with its folder) when missing.
        read_only: Open for reading only; several processes may then read together.
        lock_timeout: Seconds to wait for another process to release the file.

    Example:
        >>> with Store(".mlops_lab/lab.duckdb", read_only=True) as store:
        ...     store.sql("SELECT count(*) FROM requests")
    """

    def __init__(
        self, path: str | Path, *, read_only: bool = False, lock_timeout: float = 0.0
    ) -> None:
        self.path = Path(path).absolute()
        self.read_only = read_only
        self._con = _connect(self.path, read_only, lock_timeout)
        self._write_lock = threading.Lock()
        try:
            self.schema_version = _migrate(self._con, read_only, self.path)
            self._specs = _load_specs(self._con)
        except BaseException:
            self._con.close()
            raise

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the file; acknowledged writes are already durable."""
        with self._write_lock:
            self._con.close()

    @property
    def specs(self) -> dict[str, TableSpec]:
        """The shape of every table a batch can be written to."""
        return dict(self._specs)

    def write(self, batches: Mapping[str, Batch]) -> dict[str, int]:
        """Write batches to several tables in one transaction, all or nothing.

        Every batch is checked first; a batch that does not fit its table is refused
        with a :class:`SchemaError` naming the column, and nothing is written; so is one
        whose values the store cannot hold (a :class:`BadDataError`). Rows whose
        primary key is already stored are skipped in append-only tables (so a retried
        batch never duplicates) and replace the stored row in the tables of things
        whose state changes (trials, aliases, endpoints, ...).

        Returns:
            For each table, how many rows were inserted or replaced.
        """
        self._refuse_read_only()
        ready = {name: conform(to_arrow(data), self._spec(name)) for name, data in batches.items()}
        with self._write_lock:
            return self._write_ready(ready)

    def add_feedback(
        self, endpoint: str, items: Sequence[Mapping[str, Any]], source: str
    ) -> dict[str, Any]:
        """Store feedback on requests ``endpoint`` answered, each request's once, in one step.

        The requests are looked up and the feedback written under the writer's lock, so the
        check for a repeat cannot race another write. Nothing is written unless every request
        is logged as answered (status 200) by ``endpoint``; the caller tells why from the
        rows returned.

        Args:
            endpoint: The endpoint the feedback was given to.
            items: ``{"request_id", "truth" (JSON text or None), "reward"}`` each, one per
                request.
            source: Where the feedback came from ("http", "api", ...).

        Returns:
            ``{"stored", "time", "requests"}``: whether the feedback was written, the time it
            was given, and the log row of each request found (its endpoint, status, arm,
            prediction, features, route id, and whether it had feedback before).
        """
        self._refuse_read_only()
        ids = [item["request_id"] for item in items]
        now = datetime.now(UTC).replace(tzinfo=None)
        with self._write_lock:
            requests = logged_requests(self._con, ids) if ids else {}
            stored = answered_by(endpoint, requests, ids)
            if stored:
                rows = feedback_rows(items, requests, now, source)
                if rows:
                    self._write_ready({"feedback": conform(to_arrow(rows), self._spec("feedback"))})
        return {"stored": stored, "time": now, "requests": requests}

    def query(self, sql: str, params: Params = None) -> pa.Table:
        """Run one read-only statement and return an Arrow table.

        Raises:
            ReadOnlyError: the statement would change the store.
            QueryError: DuckDB could not run it (syntax, unknown column, parameters).
        """
        cursor = self._con.cursor()
        try:
            check_read_only(sql, cursor)
            # A transaction that is always rolled back: a read leaves nothing behind.
            cursor.begin()
            try:
                return cursor.sql(sql, params=params).to_arrow_table()
            except duckdb.Error as exc:
                raise QueryError(f"The query failed: {exc}") from None
            finally:
                cursor.rollback()
        finally:
            cursor.close()

    def counts(self) -> dict[str, int]:
        """Rows in each lifecycle table."""
        parts = [f"SELECT '{name}' AS t, count(*) AS n FROM {name}" for name in self._specs]
        with self._con.cursor() as cursor:
            rows = cursor.sql(" UNION ALL ".join(parts)).fetchall()
        return dict(sorted(rows))

    def info(self) -> dict[str, Any]:
        """Where the store is and which schema version it holds."""
        return {
            "path": str(self.path),
            "schema_version": self.schema_version,
            "read_only": self.read_only,
        }

    def _refuse_read_only(self) -> None:
        if self.read_only:
            raise StoreError(f"The store {self.path} was opened read-only; it cannot be written.")

    def _write_ready(self, ready: dict[str, pa.Table]) -> dict[str, int]:
        """Write checked batches in one transaction; the caller holds the writer's lock."""
        for name, table in ready.items():
            self._con.register(f"_batch_{name}", table)
        try:
            return self._insert_all(ready)
        finally:
            for name in ready:
                self._con.unregister(f"_batch_{name}")

    def _spec(self, table: str) -> TableSpec:
        try:
            return self._specs[table]
        except KeyError:
            raise SchemaError(
                f"The store has no table '{table}'. Tables: {', '.join(sorted(self._specs))}."
            ) from None

    def _insert_all(self, ready: dict[str, pa.Table]) -> dict[str, int]:
        try:
            return self._transaction(ready, skip_stored=False)
        except duckdb.ConstraintException:
            pass
        # Some rows of an append-only table are stored already: a retried batch. Skipping
        # stored keys costs twice as much as a plain insert, so it is done only then.
        try:
            return self._transaction(ready, skip_stored=True)
        except duckdb.ConstraintException as exc:  # not a stored key: a rule the rows break
            raise BadDataError(
                f"The batch breaks a constraint of its table: {encodable(str(exc))}. "
                "Give each row a value in every column that needs one."
            ) from None

    def _transaction(self, ready: dict[str, pa.Table], skip_stored: bool) -> dict[str, int]:
        self._con.begin()
        try:
            written = {
                name: self._insert(name, table, skip_stored) for name, table in ready.items()
            }
            self._con.commit()
        except BaseException:
            self._con.rollback()
            raise
        return written

    def _insert(self, name: str, table: pa.Table, skip_stored: bool) -> int:
        if table.num_rows == 0:
            return 0
        if self._specs[name].mutable:
            verb = "INSERT OR REPLACE"
        else:
            verb = "INSERT OR IGNORE" if skip_stored else "INSERT"
        try:
            # By name: a column the batch leaves out (the arrival number) takes its default.
            insert = f"{verb} INTO {name} BY NAME SELECT * FROM _batch_{name}"
            row = self._con.execute(insert).fetchone()
        except duckdb.ConversionException as exc:
            raise _refuse_json(self._con, self._specs[name], table, exc) from None
        except (duckdb.DataError, duckdb.InvalidInputException) as exc:  # e.g. out of range
            raise BadDataError(
                f"The batch for table '{name}' holds values DuckDB cannot store: "
                f"{encodable(str(exc))}. Convert them to the types of the table's columns."
            ) from None
        return int(row[0]) if row else 0


def _refuse_json(
    con: duckdb.DuckDBPyConnection, spec: TableSpec, table: pa.Table, exc: duckdb.Error
) -> SchemaError:
    """The refusal of a batch whose JSON text DuckDB cannot read, naming its rows.

    DuckDB's message names neither the column nor the rows; naming the rows lets a writer set
    those alone aside.
    """
    refused: dict[int, str] = {}
    counts: dict[str, int] = {}
    with con.cursor() as cursor:  # a cursor, not a new database: that takes tens of ms
        cursor.register("_refused", table.append_column("_at", pa.array(range(len(table)))))
        for column in sorted(spec.json_columns):
            found = cursor.execute(
                f'SELECT _at, "{column}" FROM _refused WHERE NOT json_valid("{column}")'
            ).fetchall()
            counts[column] = len(found)
            for at, text in found:
                refused.setdefault(
                    at,
                    f"Column '{column}' of table '{spec.name}' holds JSON, but this row's value "
                    f"is not JSON text DuckDB can read: {encodable(text)[:200]!r}. Pass dicts or "
                    "lists, or valid JSON text (a lone surrogate's escape, \\udXXX, is not).",
                )
    detail = encodable(str(exc))
    if not refused:
        return SchemaError(f"The batch for table '{spec.name}' could not be stored: {detail}")
    column, count = next((c, n) for c, n in counts.items() if n)
    return SchemaError(
        f"Column '{column}' of table '{spec.name}' holds JSON, but {count} value(s) in the "
        f"batch are not valid JSON text ({detail}). Pass dicts or lists, or valid JSON text.",
        refused,
    )


def _connect(path: Path, read_only: bool, lock_timeout: float) -> duckdb.DuckDBPyConnection:
    if read_only and not path.exists():
        raise StoreError(f"No store at {path}. Check the path, or start a lab to create one.")
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + lock_timeout
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise StoreError(f"The store {path} could not be opened: {exc}") from None
            if time.monotonic() >= deadline:
                raise StoreLockedError(
                    f"The store {path} is held by another process ({exc}). While a lab "
                    "runs, reach its store through mlops_lab.connect().store; to open the "
                    "file directly, stop the lab first with `mlops-lab down`."
                ) from None
            time.sleep(0.2)


def _migrate(con: duckdb.DuckDBPyConnection, read_only: bool, path: Path) -> int:
    latest = MIGRATIONS[-1].version
    has_table = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'schema_migrations'"
    ).fetchone()
    current = 0
    if has_table and has_table[0]:
        row = con.execute("SELECT max(version) FROM schema_migrations").fetchone()
        current = int(row[0]) if row and row[0] is not None else 0
    if current > latest:
        raise StoreError(
            f"The store {path} has schema version {current}, newer than this mlops-lab "
            f"knows ({latest}). Upgrade mlops-lab to read it."
        )
    if current < latest and read_only:
        raise StoreError(
            f"The store {path} has schema version {current}; this mlops-lab needs {latest}. "
            "Open it once for writing (Store(path)) to migrate it."
        )
    for migration in MIGRATIONS[current:]:
        con.begin()
        con.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
        )
        con.execute(migration.sql)
        con.execute(
            "INSERT INTO schema_migrations VALUES (?, ?, ?)",
            [migration.version, migration.name, datetime.now(UTC).replace(tzinfo=None)],
        )
        con.commit()
    return latest


def _load_specs(con: duckdb.DuckDBPyConnection) -> dict[str, TableSpec]:
    columns = con.execute(
        "SELECT c.table_name, c.column_name, c.is_nullable, c.data_type, c.column_default "
        "FROM duckdb_columns() c JOIN duckdb_tables() t USING (table_oid) "
        "WHERE NOT t.internal AND t.schema_name = 'main' "
        "AND t.table_name != 'schema_migrations' ORDER BY c.table_name, c.column_index"
    ).fetchall()
    keys = dict(
        con.execute(
            "SELECT table_name, constraint_column_names FROM duckdb_constraints() "
            "WHERE schema_name = 'main' AND constraint_type = 'PRIMARY KEY'"
        ).fetchall()
    )
    specs = {}
    for table in sorted({row[0] for row in columns}):
        rows = [row for row in columns if row[0] == table]
        arrival = next((row[1] for row in rows if str(row[4]).startswith("nextval(")), None)
        kept = f"* EXCLUDE ({arrival})" if arrival else "*"
        specs[table] = TableSpec(
            name=table,
            schema=con.sql(f"SELECT {kept} FROM {table} LIMIT 0").to_arrow_table().schema,
            required=frozenset(row[1] for row in rows if not row[2]),
            json_columns=frozenset(row[1] for row in rows if row[3] == "JSON"),
            primary_key=tuple(keys.get(table, ())),
            mutable=table in MUTABLE_TABLES,
            arrival=arrival,
        )
    return specs
