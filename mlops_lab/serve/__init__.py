"""Serving: endpoints on Ray Serve, the router in front of model versions, the request log.

The public names are the endpoint handle, its error and its traffic view. The rest (the
deploy driver, the router, the gateway, the request log) lives in private modules, which
the lab imports by their paths. Names are imported on first use, so that importing one
module of this package (the request log's journal, say) does not load Ray Serve.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_lab._lazy import lazy_exports

if TYPE_CHECKING:
    from mlops_lab.serve._endpoint import Endpoint
    from mlops_lab.serve._errors import EndpointError
    from mlops_lab.serve._views import TrafficView

_EXPORTS = {
    "Endpoint": "mlops_lab.serve._endpoint",
    "EndpointError": "mlops_lab.serve._errors",
    "TrafficView": "mlops_lab.serve._views",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
