"""The notebook under test: what a user does to tune a model (connect, register, tune)."""

from __future__ import annotations

from pathlib import Path

import nbformat

NAME = "tune_view.ipynb"
CONFIGS = 18  # enough folds to score that the count of ended trials is seen to grow
TUNE_CELL, LAST_CELL = 2, 3
SPACE = '{"n_estimators": [20, 40, 60], "max_depth": [3, 6, None], "min_samples_leaf": [1, 5]}'
# Forests large enough that the search still runs when a person gets to its Stop button.
LONG_CONFIGS = 12
LONG_SPACE = '{"n_estimators": [150, 300], "max_depth": [None, 12], "min_samples_leaf": [1, 2, 4]}'


def cells(space: str = SPACE, background: bool = False) -> list[str]:
    """Connect, register a dataset, tune (and, in the foreground, look at the best trial)."""
    tune = (
        "from sklearn.ensemble import RandomForestClassifier\n\n"
        "forest = lab.tune(\n"
        "    RandomForestClassifier(random_state=0),\n"
        f"    {space},\n"
        '    dataset=churn.ref, metric="roc_auc", name="churn-forest",\n'
        + ("    background=True,\n" if background else "")
        + ")"
    )
    return [
        "import mlops_lab\nfrom mlops_lab.sample_data import churn_frame\n\n"
        "lab = mlops_lab.connect()",
        'churn = lab.datasets.register("churn", churn_frame(), target="churned")\nchurn',
        tune,
        *([] if background else ["forest.best()"]),
    ]


def tune_notebook(space: str = SPACE, background: bool = False) -> nbformat.NotebookNode:
    """The notebook, with the kernel a new JupyterLab user gets."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {
        "name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python",
    }  # fmt: skip
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells(space, background)]
    return notebook


def write_tune_notebook(
    folder: Path, name: str = NAME, space: str = SPACE, background: bool = False
) -> str:
    """Write the notebook into ``folder``; return its name."""
    nbformat.write(tune_notebook(space, background), folder / name)
    return name
