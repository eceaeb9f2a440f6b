"""The kernel drift tests, run in the environment that has PyTorch (``.venv-torch``).

In the main environment, asking for a kernel test is refused with how to install PyTorch,
and the options stay as they were.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlops_lab.monitor import Monitor, MonitorError
from mlops_lab.store import Store
from tests.integration.test_monitor import deploy

ROOT = Path(__file__).resolve().parents[2]
TORCH_PYTHON = ROOT / ".venv-torch" / "bin" / "python"


def test_mmd_and_lsdd_run_where_torch_is_installed() -> None:
    """`kernel_checks.py` passes in the torch environment, every test of it run."""
    assert TORCH_PYTHON.exists(), "make test makes .venv-torch; run `make .venv-torch/.installed`"
    done = subprocess.run(
        [str(TORCH_PYTHON), "-m", "pytest", "-q", "-p", "no:cacheprovider",
         str(Path(__file__).with_name("kernel_checks.py"))],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "2 passed" in done.stdout, done.stdout[-3000:]


@pytest.mark.skipif("torch" in sys.modules, reason="the main environment has no torch")
def test_a_kernel_test_without_torch_is_refused_with_how_to_install_it(store: Store) -> None:
    deploy(store)
    monitor = Monitor(store, "churn")
    monitor(window_rows=500)
    with pytest.raises(MonitorError, match=r"needs PyTorch.*mlops-lab\[torch\]"):
        monitor(window_rows=100, multivariate_test="mmd")
    assert monitor.settings["window_rows"] == 500
