"""Show a search live: ipywidgets in a notebook, a progress bar in a terminal."""

from __future__ import annotations

import sys
import threading
import time

from mlops_lab.train._recorder import TrialRecorder
from mlops_lab.train._render import render_html, summary
from mlops_lab.train._run import TuneRun

REFRESH_S = 0.5
# The kernel reads a click only when no cell runs (see _run._stop_on_interrupt).
STOP_TIP = "Stop the search. While its cell still runs, interrupt the kernel instead (■)."


def attach_progress(run: TuneRun) -> None:
    """Subscribe the right live view for where this process runs."""
    if _in_notebook():
        _NotebookView(run).attach()
    elif sys.stderr.isatty():
        _TerminalBar(run).attach()


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


class _Throttled:
    """Redraw at most every REFRESH_S seconds, and always once the search has ended."""

    def __init__(self, run: TuneRun) -> None:
        self.run = run
        self._last = 0.0
        self._lock = threading.Lock()

    def attach(self) -> None:
        self.show()
        self.run.recorder.subscribe(self._maybe_draw)

    def _maybe_draw(self, recorder: TrialRecorder) -> None:
        with self._lock:
            if _ended(recorder) or time.monotonic() - self._last >= REFRESH_S:
                self._last = time.monotonic()
                self.draw(recorder)

    def show(self) -> None:
        raise NotImplementedError

    def draw(self, recorder: TrialRecorder) -> None:
        raise NotImplementedError


def _ended(recorder: TrialRecorder) -> bool:
    return all(t.status != "pending" and t.status != "running" for t in recorder.trials)


class _NotebookView(_Throttled):
    """A Stop button over the trials table and chart, updated in place.

    One widget, shown once in the cell that starts the search; every redraw changes the
    widget's value, which reaches the page as a widget message from whichever thread sends
    it, while the cell runs or after. Tune must not clear the cell's output (see
    ``_run._NoConsole``).
    """

    def show(self) -> None:
        import ipywidgets as widgets
        from IPython.display import display

        metric = self.run.request.metric
        self.body = widgets.HTML(render_html(self.run.recorder, metric))
        self.stop = widgets.Button(
            description="Stop search", button_style="warning", icon="stop", tooltip=STOP_TIP
        )
        self.stop.on_click(lambda _: self.run.stop())
        display(widgets.VBox([self.stop, self.body]))

    def draw(self, recorder: TrialRecorder) -> None:
        self.body.value = render_html(recorder, self.run.request.metric)
        if _ended(recorder):
            self.stop.disabled = True


class _TerminalBar(_Throttled):
    """One line on stderr: a bar, the trials ended, the best score."""

    def show(self) -> None:
        self.draw(self.run.recorder)

    def draw(self, recorder: TrialRecorder) -> None:
        trials = recorder.trials
        ended = sum(t.status not in ("pending", "running") for t in trials)
        filled = int(30 * ended / max(len(trials), 1))
        line = (
            f"\r[{'#' * filled}{'.' * (30 - filled)}] {summary(recorder, self.run.request.metric)}"
        )
        sys.stderr.write(line + ("\n" if ended == len(trials) else ""))
        sys.stderr.flush()
