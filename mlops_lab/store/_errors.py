"""Errors raised by the store, each saying what was wrong and how to fix it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlops_lab.errors import LabError


class StoreError(LabError):
    """Base class of every error the store raises on purpose."""


class BadDataError(StoreError, ValueError):
    """The store refuses a batch for what it holds: written again as it is, it never will be.

    The whole batch is refused; nothing of it is written. Unlike
    :class:`StoreUnavailableError`, retrying cannot help: write the rows it can take, and set
    aside the ones it refuses (see :mod:`mlops_lab.store._dead_letters`).

    Args:
        message: What was wrong and how to fix it.
        refused: When the store could tell which rows it refuses (in a write to one table):
            their positions in the batch, each with the reason. Empty when it could not.
    """

    def __init__(self, message: str, refused: Mapping[int, str] | None = None) -> None:
        super().__init__(message)
        self.refused = dict(refused or {})

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt with the positions when it crosses a process boundary (the store actor).
        return (type(self), (str(self), self.refused))


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
