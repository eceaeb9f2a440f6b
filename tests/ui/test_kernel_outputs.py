"""What the kernel sends a notebook for ``lab.tune``: the live view, and nothing of the console.

JupyterLab renders what these messages say; nbclient keeps them as the notebook's outputs
(applying ``clear_output`` as a frontend does) and the final state of every widget.
"""

from __future__ import annotations

from pathlib import Path

from nbclient import NotebookClient

from tests.ui._jupyterlab import CONSOLE_LINES
from tests.ui._notebook import CONFIGS, TUNE_CELL, tune_notebook

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def test_the_tuning_view_stays_in_its_cell_and_ends_with_every_trial(
    lab: object, tmp_path: Path
) -> None:
    """The tune cell's only output is the view (nothing clears it, no console text joins it),
    and the view's last state shows every trial ended; no cell has a Ray or Tune line."""
    notebook = tune_notebook()
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()

    outputs = notebook.cells[TUNE_CELL].outputs
    assert [sorted(out.get("data", {"text": out.get("text")})) for out in outputs] == [
        [WIDGET_VIEW, "text/plain"]
    ]
    states = notebook.metadata["widgets"][WIDGET_STATE]["state"]
    texts = [s["state"].get("value", "") for s in states.values() if s["model_name"] == "HTMLModel"]
    assert [t for t in texts if f"{CONFIGS}/{CONFIGS} trials ended" in t] != []
    streams = [
        line
        for cell in notebook.cells
        for out in cell.get("outputs", [])
        if out.output_type == "stream"
        for line in out.text.splitlines()
        if CONSOLE_LINES.search(line)
    ]
    assert streams == []
