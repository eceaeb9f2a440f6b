"""Serving: endpoints on Ray Serve, the router in front of model versions, the request log."""

from __future__ import annotations

from mlops_lab.serve._endpoint import (
    Endpoint,
    EndpointError,
    deploy,
    endpoint_config,
    list_endpoints,
)
from mlops_lab.serve._log import LogBuffer, LogStats
from mlops_lab.serve._views import TrafficView

__all__ = [
    "Endpoint",
    "EndpointError",
    "LogBuffer",
    "LogStats",
    "TrafficView",
    "deploy",
    "endpoint_config",
    "list_endpoints",
]
