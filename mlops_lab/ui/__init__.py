"""Faces of the lab that a person looks at: live notebook views (ipywidgets).

Only this package imports ipywidgets (and, later, Panel); the data they show comes from the
rest of the lab.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_lab._lazy import lazy_exports

if TYPE_CHECKING:
    from mlops_lab.ui._monitor import MonitorView

_EXPORTS = {"MonitorView": "mlops_lab.ui._monitor"}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
