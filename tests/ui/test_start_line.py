"""What a person sees while the lab starts in the background: a line that turns to ready."""

from __future__ import annotations

import re

import nbformat
from playwright.sync_api import Page, expect

from tests.ui._jupyterlab import JupyterLabServer, NotebookPage, Screens

SECONDS = 1000  # Playwright's timeouts are in milliseconds


def test_the_connecting_cell_shows_what_starts_until_all_is_up(
    jupyter_lab: JupyterLabServer, page: Page, screens: Screens
) -> None:
    """Under the cell that connects, one line says how far Serve and the shared router are and
    turns to "ready" once both are up, in place (one line, not one per change); the status
    table says the same."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {
        "name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python",
    }  # fmt: skip
    notebook.cells = [
        nbformat.v4.new_code_cell("import mlops_lab\n\nlab = mlops_lab.connect()"),
        nbformat.v4.new_code_cell("lab.wait_started()\nlab.status()"),
    ]
    nbformat.write(notebook, jupyter_lab.root / "start_line.ipynb")
    cells = NotebookPage(page)
    cells.open(jupyter_lab, "start_line.ipynb")
    cells.run_all()

    line = cells.outputs(0)
    expect(line).to_have_count(1, timeout=120 * SECONDS)
    expect(line).to_have_text(
        re.compile(r"mlops-lab: ready \(Serve up \(\d+\.\d s\), shared router up \(\d+\.\d s\)\)"),
        timeout=120 * SECONDS,
    )
    cells.wait_until_ran(1, timeout_s=120)
    status = cells.outputs(1)
    expect(status.locator("tr", has_text="started")).to_contain_text("Serve up")
    expect(line).to_have_count(1)
    screens.take("ready", of=status)
