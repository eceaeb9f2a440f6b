"""The pure packages load none of the lab's heavy or outside-facing dependencies.

Each is imported in a fresh interpreter, so that nothing another test imported hides what
the package itself loads.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PURE = ["mlops_lab.routing", "mlops_lab.protocol", "mlops_lab.stats", "mlops_lab._options"]
FORBIDDEN = ["ray", "duckdb", "starlette", "IPython", "panel", "ipywidgets"]


@pytest.mark.parametrize("package", PURE)
def test_a_pure_package_imports_no_runtime_web_notebook_or_ui_library(package: str) -> None:
    """Importing the package (and the lab's top-level package, which it needs) and every
    name of its ``__all__`` leaves every forbidden library out of ``sys.modules``."""
    probe = (
        f"import importlib, json, sys; p = importlib.import_module({package!r}); "
        "assert all(getattr(p, name) is not None for name in p.__all__); "
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    modules = set(json.loads(loaded.stdout.splitlines()[-1]))
    assert not modules & set(FORBIDDEN), f"{package} loads {sorted(modules & set(FORBIDDEN))}"


def test_the_serve_package_loads_ray_serve_only_when_a_name_is_used() -> None:
    """``import mlops_lab.serve`` alone loads neither Ray nor DuckDB (its names are lazy)."""
    probe = "import sys, mlops_lab.serve; print(sorted({'ray', 'duckdb'} & set(sys.modules)))"
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert loaded.stdout.strip().splitlines()[-1] == "[]"
