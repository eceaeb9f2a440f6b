"""A notebook's status line for what the lab starts in the background.

``connect()`` returns before Ray Serve is up; in a notebook this line, shown under the cell
that connected, says what is starting and for how long, and turns to "ready" once all is
up. It is one display with an id that the starting thread updates, so it changes in place
while later cells run.
"""

from __future__ import annotations

import html
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_lab._starting import Step


def in_notebook() -> bool:
    """Whether this process is a notebook kernel (which shows rich displays)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


class StartLine:
    """One line under the connecting cell, redrawn on each change of a step's state."""

    def __init__(self) -> None:
        from IPython.display import display

        self._handle: Any = display(_bundle("mlops-lab: starting"), raw=True, display_id=True)

    def __call__(self, steps: list[Step]) -> None:
        now = time.monotonic()
        if all(step.state == "up" for step in steps):
            text = "mlops-lab: ready (" + ", ".join(s.describe(now) for s in steps) + ")"
        else:
            text = "mlops-lab: " + ", ".join(step.describe(now) for step in steps)
        self._handle.update(_bundle(text), raw=True)


def _bundle(text: str) -> dict[str, str]:
    return {
        "text/plain": text,
        "text/html": f"<div class='mlops-lab-start'><code>{html.escape(text)}</code></div>",
    }
