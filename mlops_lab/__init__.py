"""mlops-lab: the machine-learning lifecycle from a notebook, on Ray and DuckDB.

Example:
    >>> import mlops_lab
    >>> lab = mlops_lab.connect()
    >>> lab.sql("SELECT count(*) FROM requests")
"""

from __future__ import annotations

from mlops_lab.config import ConfigError, Settings, describe_settings, load_settings
from mlops_lab.runtime import Lab, LabConnectionError, LabNotRunningError, LabStatus, connect
from mlops_lab.store import (
    QueryError,
    ReadOnlyError,
    SchemaError,
    Store,
    StoreClient,
    StoreError,
    StoreLockedError,
    StoreUnavailableError,
)

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "Lab",
    "LabConnectionError",
    "LabNotRunningError",
    "LabStatus",
    "QueryError",
    "ReadOnlyError",
    "SchemaError",
    "Settings",
    "Store",
    "StoreClient",
    "StoreError",
    "StoreLockedError",
    "StoreUnavailableError",
    "connect",
    "describe_settings",
    "load_ipython_extension",
    "load_settings",
]


def load_ipython_extension(ipython: object) -> None:
    """Register the ``%mlops`` magics (``%load_ext mlops_lab``)."""
    from mlops_lab.magics import MlopsMagics

    ipython.register_magics(MlopsMagics)  # type: ignore[attr-defined]
