"""What a person sees of ``lab.tune`` in JupyterLab: the live view, and nothing of the console."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.ui._jupyterlab import JupyterLabServer, NotebookPage, Screens
from tests.ui._notebook import (
    CONFIGS,
    LAST_CELL,
    LONG_CONFIGS,
    LONG_SPACE,
    TUNE_CELL,
    write_tune_notebook,
)

SECONDS = 1000  # Playwright's timeouts are in milliseconds


def ended(counts: range) -> re.Pattern[str]:
    """The view's summary line when as many trials as one of ``counts`` have ended."""
    choices = "|".join(str(count) for count in counts)
    return re.compile(rf"\b(?:{choices})/{CONFIGS} trials ended")


def test_the_tuning_view_is_seen_while_the_search_runs_and_after(
    jupyter_lab: JupyterLabServer, page: Page, screens: Screens
) -> None:
    """While lab.tune runs, its cell shows the view with a Stop button and a count of ended
    trials that grows; once it ends the view shows every trial in a table and a chart, and
    no cell shows a line Ray or Tune wrote to the console."""
    notebook = NotebookPage(page)
    notebook.open(jupyter_lab, write_tune_notebook(jupyter_lab.root))
    screens.take("opened")
    notebook.run_all()

    view = notebook.outputs(TUNE_CELL)
    stop = view.get_by_role("button", name="Stop search")
    summary = view.get_by_text(re.compile(r"trials ended"))
    expect(stop).to_be_visible(timeout=180 * SECONDS)
    expect(stop).to_be_enabled()
    expect(summary).to_have_text(ended(range(1, CONFIGS)), timeout=120 * SECONDS)
    screens.take("running", of=view)
    # More have ended than were seen (all of them, if the search ended meanwhile).
    seen = int(re.search(r"(\d+)/", summary.inner_text()).group(1))  # type: ignore[union-attr]
    grown = range(min(seen + 1, CONFIGS), CONFIGS + 1)
    expect(summary).to_have_text(ended(grown), timeout=120 * SECONDS)
    screens.take("updated", of=view)

    notebook.wait_until_ran(LAST_CELL, timeout_s=120)
    expect(summary).to_have_text(
        re.compile(rf"{CONFIGS}/{CONFIGS} trials ended, best roc_auc 0\.\d{{4}}")
    )
    expect(view.locator("table tbody tr")).to_have_count(CONFIGS)
    expect(view.locator("svg circle")).to_have_count(CONFIGS)
    expect(stop).to_be_disabled()
    expect(notebook.outputs(LAST_CELL)).to_contain_text("churn-forest")
    screens.take("ended", of=view)
    assert notebook.console_lines() == []


def test_the_stop_button_stops_a_search_running_in_the_background(
    jupyter_lab: JupyterLabServer, page: Page, screens: Screens
) -> None:
    """A search started with background=True stops when a person clicks its Stop button:
    the button is disabled and the configurations never scored are listed as cancelled."""
    notebook = NotebookPage(page)
    notebook.open(
        jupyter_lab,
        write_tune_notebook(jupyter_lab.root, "background.ipynb", LONG_SPACE, background=True),
    )
    notebook.run_all()

    view = notebook.outputs(TUNE_CELL)
    stop = view.get_by_role("button", name="Stop search")
    expect(stop).to_be_enabled(timeout=180 * SECONDS)
    notebook.wait_until_ran(TUNE_CELL, timeout_s=60)  # the cell returns; the search goes on
    screens.take("running", of=view)
    stop.click()
    expect(stop).to_be_disabled(timeout=120 * SECONDS)
    expect(view.get_by_role("cell", name="cancelled", exact=True).first).to_be_visible()
    screens.take("stopped", of=view)
    assert notebook.console_lines() == []


def test_an_interrupt_stops_a_search_running_in_the_foreground(
    jupyter_lab: JupyterLabServer, page: Page, screens: Screens
) -> None:
    """A search whose cell still runs (where the kernel reads no click) stops when a person
    interrupts the kernel: the cell ends without an error or a console line, the button is
    disabled and the configurations never scored are listed as cancelled."""
    notebook = NotebookPage(page)
    notebook.open(
        jupyter_lab, write_tune_notebook(jupyter_lab.root, "foreground.ipynb", LONG_SPACE)
    )
    notebook.run_all()

    view = notebook.outputs(TUNE_CELL)
    summary = view.get_by_text(re.compile(r"trials ended"))
    expect(summary).to_have_text(
        re.compile(rf"\b[1-9]\d*/{LONG_CONFIGS} trials ended"), timeout=180 * SECONDS
    )
    notebook.interrupt()
    screens.take("interrupted", of=view)
    notebook.wait_until_ran(LAST_CELL, timeout_s=120)
    expect(view.get_by_role("button", name="Stop search")).to_be_disabled()
    expect(view.get_by_role("cell", name="cancelled", exact=True).first).to_be_visible()
    expect(notebook.cells.nth(TUNE_CELL)).not_to_contain_text("KeyboardInterrupt")
    expect(notebook.outputs(LAST_CELL)).to_contain_text("churn-forest")
    screens.take("stopped", of=view)
    assert notebook.console_lines() == []
