"""The notebook under test: what a user does to tune a model (connect, register, tune)."""

from __future__ import annotations

from pathlib import Path

import nbformat

NAME = "tune_view.ipynb"
CONFIGS = 18  # enough folds to score that the count of ended trials is seen to grow
TUNE_CELL, LAST_CELL = 2, 3
CELLS = [
    "import mlops_lab\nfrom mlops_lab.demo import churn_frame\n\nlab = mlops_lab.connect()",
    'churn = lab.datasets.register("churn", churn_frame(), target="churned")\nchurn',
    "from sklearn.ensemble import RandomForestClassifier\n\n"
    "forest = lab.tune(\n"
    "    RandomForestClassifier(random_state=0),\n"
    '    {"n_estimators": [20, 40, 60], "max_depth": [3, 6, None], "min_samples_leaf": [1, 5]},\n'
    '    dataset=churn.ref, metric="roc_auc", name="churn-forest",\n'
    ")",
    "forest.best()",
]


def tune_notebook() -> nbformat.NotebookNode:
    """The notebook, with the kernel a new JupyterLab user gets."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {
        "name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python",
    }  # fmt: skip
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    return notebook


def write_tune_notebook(folder: Path) -> str:
    """Write the notebook into ``folder``; return its name."""
    nbformat.write(tune_notebook(), folder / NAME)
    return NAME
