"""Decide whether a SQL statement only reads, before the store runs it."""

from __future__ import annotations

import json
from typing import Any

import duckdb

from mlops_lab.store._errors import QueryError, ReadOnlyError

_ACCEPTED = "SELECT, WITH ... SELECT, FROM, DESCRIBE, SHOW or SUMMARIZE"


def check_read_only(sql: str, con: duckdb.DuckDBPyConnection) -> None:
    """Refuse anything but a single statement that reads.

    A data-modifying ``WITH`` clause (``WITH d AS (DELETE ... RETURNING *) SELECT ...``)
    parses as a SELECT, so the parse tree is searched for writes as well.

    Raises:
        QueryError: the text is not one parseable statement.
        ReadOnlyError: the statement would change the store.
    """
    if not isinstance(sql, str) or not sql.strip():
        raise QueryError(f"A query must be a non-empty SQL string. Got {sql!r} instead.")
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryError(f"The query could not be parsed: {exc}") from None
    if len(statements) != 1:
        raise QueryError(
            f"Give one statement at a time; the query holds {len(statements)}. "
            "Split it and run each part on its own."
        )
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        raise ReadOnlyError(_refusal(kind.name))
    tree = con.execute("SELECT json_serialize_sql($1)", [sql]).fetchone()
    writes = sorted(_writing_nodes(json.loads(tree[0]))) if tree else []
    if writes:
        raise ReadOnlyError(_refusal(writes[0].removesuffix("_QUERY_NODE")))


def _refusal(kind: str) -> str:
    return (
        f"The store accepts only read-only queries ({_ACCEPTED}); this {kind} "
        "statement was not run. Records change only through the lab's API "
        "(for example Store.append), which validates every batch."
    )


def _writing_nodes(tree: Any) -> set[str]:
    found: set[str] = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            kind = node.get("type")
            if isinstance(kind, str) and kind.endswith("_QUERY_NODE"):
                found.add(kind)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found
