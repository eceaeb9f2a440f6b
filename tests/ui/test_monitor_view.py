"""What a person sees of the monitor in JupyterLab: notebooks/03_monitor.ipynb, run from
the menu, shows the live view with the drift heatmap, accuracy with its interval and the open
alerts."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import nbformat
from playwright.sync_api import Page, expect

from tests.ui._jupyterlab import JupyterLabServer, NotebookPage, Screens

SECONDS = 1000  # Playwright's timeouts are in milliseconds
NOTEBOOK = Path(__file__).parents[2] / "notebooks" / "03_monitor.ipynb"


def code_cell(source_start: str) -> int:
    """The index, among the notebook's code cells, of the one whose source starts so."""
    cells = [c for c in nbformat.read(NOTEBOOK, as_version=4).cells if c.cell_type == "code"]
    return next(i for i, cell in enumerate(cells) if cell.source.startswith(source_start))


def test_the_monitor_view_shows_drift_accuracy_and_alerts_as_windows_close(
    jupyter_lab: JupyterLabServer, page: Page, screens: Screens
) -> None:
    """Run All: the view cell first says no window has closed, then (redrawn in place, while
    later cells run) shows a heatmap row per window with monthly_charges marked drifted,
    accuracy with an interval, and the open drift and accuracy alerts; every cell runs."""
    shutil.copy(NOTEBOOK, jupyter_lab.root / NOTEBOOK.name)
    notebook = NotebookPage(page)
    notebook.open(jupyter_lab, NOTEBOOK.name)
    notebook.run_all()

    view = notebook.outputs(code_cell("view = ep.monitor.view"))
    expect(view.get_by_text(re.compile("Monitor of churn-watch"))).to_be_visible(
        timeout=300 * SECONDS
    )
    screens.take("started", of=view)
    heatmap = view.locator("table.mlops-heatmap")
    expect(heatmap).to_be_visible(timeout=300 * SECONDS)
    expect(heatmap.locator("thead")).to_contain_text("monthly_charges")
    expect(heatmap.locator("td", has_text="●").first).to_be_visible(timeout=120 * SECONDS)
    screens.take("drift", of=heatmap)

    last = notebook.cells.count() - 1
    notebook.wait_until_ran(last, timeout_s=600)
    estimate = view.locator("td.mlops-estimate", has_text=re.compile(r"\[0\.\d{3}, 0\.\d{3}\]"))
    expect(estimate.first).to_be_visible(timeout=60 * SECONDS)
    alerts = view.locator("li.mlops-alert")
    expect(alerts.filter(has_text="features ['monthly_charges'] drifted").first).to_be_visible()
    expect(alerts.filter(has_text="below its reference").first).to_be_visible()
    screens.take("accuracy-and-alerts", of=alerts)
    assert not [text for text in notebook.outputs().all_inner_texts() if "Traceback" in text]
