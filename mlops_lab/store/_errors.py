"""Errors raised by the store, each saying what was wrong and how to fix it."""

from __future__ import annotations


class StoreError(Exception):
    """Base class of every error the store raises on purpose."""


class BadDataError(StoreError, ValueError):
    """The store refuses a batch for what it holds: written again as it is, it never will be.

    The whole batch is refused; nothing of it is written. Unlike
    :class:`StoreUnavailableError`, retrying cannot help: write the rows it can take, and set
    aside the ones it refuses (see :mod:`mlops_lab.store._dead_letters`).
    """


class SchemaError(BadDataError):
    """A batch does not fit its table: unknown table or column, wrong type, missing value.

    The whole batch is refused; nothing of it is written.
    """


class ReadOnlyError(StoreError, PermissionError):
    """A statement given to ``sql``/``query`` would change the store."""


class QueryError(StoreError, ValueError):
    """A read-only statement failed in DuckDB (syntax, unknown table, bad parameter)."""


class StoreLockedError(StoreError, RuntimeError):
    """Another process holds the DuckDB file for writing."""


class StoreUnavailableError(StoreError, ConnectionError):
    """The store actor did not answer in time, even after retries."""
