"""Monitoring beside serving: windows over the request log, drift, outliers, live metrics.

A :class:`Monitor` works on one endpoint's requests in the store: it reads what arrived
since its last pass, scores every request for outliers, closes windows by count or by age,
tests each model version's requests in a window against its registered reference sample,
and computes live accuracy (or errors) from feedback as labels arrive.

Example:
    >>> from mlops_lab.monitor import Monitor
    >>> Monitor(lab.store, "churn").run()
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_lab._lazy import lazy_exports

if TYPE_CHECKING:
    from mlops_lab.monitor._errors import MonitorError
    from mlops_lab.monitor._monitor import Monitor, PassReport

_EXPORTS = {
    "Monitor": "mlops_lab.monitor._monitor",
    "MonitorError": "mlops_lab.monitor._errors",
    "PassReport": "mlops_lab.monitor._monitor",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
