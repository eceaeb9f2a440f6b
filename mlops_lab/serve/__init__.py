"""Serving: endpoints on Ray Serve, the router in front of model versions, the request log.

Names are imported on first use, so that importing one module of this package (the request
log's journal, say) does not load Ray Serve.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_lab._lazy import lazy_exports

if TYPE_CHECKING:
    from mlops_lab.serve._deploy import endpoint_config, list_endpoints
    from mlops_lab.serve._endpoint import Endpoint, deploy
    from mlops_lab.serve._errors import EndpointError
    from mlops_lab.serve._log import LogBuffer, LogStats
    from mlops_lab.serve._views import TrafficView

_EXPORTS = {
    "Endpoint": "mlops_lab.serve._endpoint",
    "EndpointError": "mlops_lab.serve._errors",
    "LogBuffer": "mlops_lab.serve._log",
    "LogStats": "mlops_lab.serve._log",
    "TrafficView": "mlops_lab.serve._views",
    "deploy": "mlops_lab.serve._endpoint",
    "endpoint_config": "mlops_lab.serve._deploy",
    "list_endpoints": "mlops_lab.serve._deploy",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
