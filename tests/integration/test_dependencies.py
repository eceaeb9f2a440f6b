"""The whole dependency set imports together in one process."""

from __future__ import annotations

import subprocess
import sys


def test_every_dependency_imports_in_one_process() -> None:
    """ray.tune, ray.serve, alibi_detect, alibi, panel, duckdb and skops.io resolve together
    (alibi needs numpy < 2, which bounds pyarrow and keeps ray.tune importable)."""
    code = (
        "import ray.tune, ray.serve, alibi_detect, alibi, panel, duckdb, skops.io\n"
        "import numpy, pyarrow, sklearn, ipywidgets, jupyterlab\n"
        "from alibi_detect.cd import KSDrift\n"
        "from alibi.explainers import AnchorTabular\n"
        "assert int(numpy.__version__.split('.')[0]) < 2, numpy.__version__\n"
        "print('ok', numpy.__version__, pyarrow.__version__, ray.__version__)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("ok ")
