"""%mlops in a real IPython shell: one API call per subcommand, UsageError for mistakes."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from mlops_lab import Lab, LabStatus


@pytest.fixture(scope="module")
def shell(lab: Lab) -> Iterator[InteractiveShell]:
    ipython = InteractiveShell.instance()
    ipython.run_line_magic("load_ext", "mlops_lab")
    yield ipython


def test_status_returns_the_labs_status(shell: InteractiveShell, lab: Lab) -> None:
    """%mlops status is lab.status(), shown as the cell's value."""
    status = shell.run_line_magic("mlops", "status")
    assert isinstance(status, LabStatus)
    assert status.store_path == lab.status().store_path


def test_sql_line_and_cell_return_dataframes(shell: InteractiveShell) -> None:
    """The query reaches DuckDB verbatim, quotes included, from a line or a cell."""
    line = shell.run_line_magic("mlops", "sql SELECT 'it''s' AS quoted, 2 AS n")
    cell = shell.run_cell_magic("mlops", "sql", "SELECT 3 AS n\nUNION ALL SELECT 4")
    assert isinstance(line, pd.DataFrame)
    assert line.to_dict("records") == [{"quoted": "it's", "n": 2}]
    assert cell.n.tolist() == [3, 4]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("sql DROP TABLE requests", "DROP statement was not run"),
        ("sql", "needs a query"),
        ("sql SELECT * FROM nowhere", "nowhere"),
        ("status now", "takes no arguments"),
        ("deploy iris", "invalid choice: 'deploy'"),
        ("", "the following arguments are required"),
    ],
)
def test_mistakes_raise_usage_errors(shell: InteractiveShell, line: str, message: str) -> None:
    """User mistakes raise UsageError (shown without a traceback) saying what was wrong."""
    with pytest.raises(UsageError, match=message):
        shell.run_line_magic("mlops", line)


def test_help_shows_usage(shell: InteractiveShell) -> None:
    """%mlops? shows the subcommands and an example."""
    doc = shell.find_line_magic("mlops").__doc__
    assert "%mlops status" in doc and "%mlops sql SELECT" in doc
    assert "%mlops {status,sql}" in doc
