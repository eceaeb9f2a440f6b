"""The lab's DuckDB store: schema, migrations, the single writer and its clients."""

from __future__ import annotations

from mlops_lab.store._batch import Batch, TableSpec
from mlops_lab.store._errors import (
    BadDataError,
    QueryError,
    ReadOnlyError,
    SchemaError,
    StoreError,
    StoreLockedError,
    StoreUnavailableError,
)
from mlops_lab.store._store import Store, StoreClient

__all__ = [
    "BadDataError",
    "Batch",
    "QueryError",
    "ReadOnlyError",
    "SchemaError",
    "Store",
    "StoreClient",
    "StoreError",
    "StoreLockedError",
    "StoreUnavailableError",
    "TableSpec",
]
