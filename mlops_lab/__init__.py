"""mlops-lab: the machine-learning lifecycle from a notebook, on Ray and DuckDB.

Example:
    >>> import mlops_lab
    >>> lab = mlops_lab.connect()
    >>> lab.sql("SELECT count(*) FROM requests")
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_lab._lazy import lazy_exports

if TYPE_CHECKING:
    from mlops_lab._connect import connect
    from mlops_lab.config import ConfigError, Settings, describe_settings, load_settings
    from mlops_lab.data import DatasetError, Datasets, DatasetVersion
    from mlops_lab.errors import LabError
    from mlops_lab.registry import ModelVersion, Registry, RegistryError, UntrustedArtifactError
    from mlops_lab.runtime import Lab, LabConnectionError, LabNotRunningError, LabStatus
    from mlops_lab.serve import Endpoint, EndpointError, TrafficView
    from mlops_lab.store import (
        BadDataError,
        QueryError,
        ReadOnlyError,
        SchemaError,
        Store,
        StoreClient,
        StoreError,
        StoreLockedError,
        StoreUnavailableError,
    )
    from mlops_lab.train import Trial, TuneError, TuneRun

__version__ = "0.1.0"

_EXPORTS = {
    "BadDataError": "mlops_lab.store",
    "ConfigError": "mlops_lab.config",
    "DatasetError": "mlops_lab.data",
    "DatasetVersion": "mlops_lab.data",
    "Datasets": "mlops_lab.data",
    "Endpoint": "mlops_lab.serve",
    "EndpointError": "mlops_lab.serve",
    "Lab": "mlops_lab.runtime",
    "LabConnectionError": "mlops_lab.runtime",
    "LabError": "mlops_lab.errors",
    "LabNotRunningError": "mlops_lab.runtime",
    "LabStatus": "mlops_lab.runtime",
    "ModelVersion": "mlops_lab.registry",
    "QueryError": "mlops_lab.store",
    "ReadOnlyError": "mlops_lab.store",
    "Registry": "mlops_lab.registry",
    "RegistryError": "mlops_lab.registry",
    "SchemaError": "mlops_lab.store",
    "Settings": "mlops_lab.config",
    "Store": "mlops_lab.store",
    "StoreClient": "mlops_lab.store",
    "StoreError": "mlops_lab.store",
    "StoreLockedError": "mlops_lab.store",
    "StoreUnavailableError": "mlops_lab.store",
    "TrafficView": "mlops_lab.serve",
    "Trial": "mlops_lab.train",
    "TuneError": "mlops_lab.train",
    "TuneRun": "mlops_lab.train",
    "UntrustedArtifactError": "mlops_lab.registry",
    "connect": "mlops_lab._connect",
    "describe_settings": "mlops_lab.config",
    "load_settings": "mlops_lab.config",
}

__all__ = sorted([*_EXPORTS, "load_ipython_extension"])

__getattr__, _ = lazy_exports(__name__, _EXPORTS)


def __dir__() -> list[str]:
    """The public names, the magics' loader among them."""
    return list(__all__)


def load_ipython_extension(ipython: object) -> None:
    """Register the ``%mlops`` magics (``%load_ext mlops_lab``)."""
    from mlops_lab.magics import MlopsMagics

    ipython.register_magics(MlopsMagics)  # type: ignore[attr-defined]
