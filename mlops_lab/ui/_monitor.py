"""The monitor's live view in a notebook: redrawn in place as windows close and alerts change.

Displayed in a notebook, the view is an ipywidgets HTML widget that a background thread
redraws whenever the store holds something new (a window, a recomputed metric, an alert);
elsewhere it is its text. ``stop()`` ends the redraws.
"""

from __future__ import annotations

import threading
from typing import Any

from mlops_lab.monitor._render import Snapshot, render_html, render_text, snapshot
from mlops_lab.store import StoreClient


class MonitorView:
    """An endpoint's drift heatmap, outlier rate, accuracy, business metrics and alerts.

    Example:
        >>> lab.endpoint("churn").monitor.view(every=2)
    """

    def __init__(self, store: StoreClient, endpoint: str, every: float = 2.0) -> None:
        self.store = store
        self.endpoint = endpoint
        self.every = every
        self._stopping = threading.Event()
        self._widget: Any = None

    def snapshot(self) -> Snapshot:
        """What the monitor has found so far."""
        return snapshot(self.store, self.endpoint)

    def stop(self) -> None:
        """Stop redrawing the view; it keeps what it shows."""
        self._stopping.set()

    def __repr__(self) -> str:
        return render_text(self.snapshot())

    def _repr_html_(self) -> str:
        return render_html(self.snapshot())

    def _ipython_display_(self) -> None:
        import ipywidgets as widgets
        from IPython.display import display

        shot = self.snapshot()
        self._widget = widgets.HTML(render_html(shot))
        display(self._widget)
        thread = threading.Thread(target=self._follow, args=(shot.signature,), daemon=True,
                                  name=f"monitor-view-{self.endpoint}")  # fmt: skip
        thread.start()

    def _follow(self, seen: object) -> None:
        """Redraw whenever the results change, until stopped."""
        while not self._stopping.wait(self.every):
            try:
                shot = self.snapshot()
            except Exception:  # the store is away for a moment: try again next time
                continue
            if shot.signature != seen:
                self._widget.value = render_html(shot)
                seen = shot.signature
