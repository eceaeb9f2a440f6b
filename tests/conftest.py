"""Shared fixtures: a lab runtime of the tests' own, on free ports in a temporary home."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from mlops_lab._net import free_port_block

# Tests assert behaviour, not time: on a busy machine an example must not fail for being slow.
settings.register_profile("lab", deadline=None)
settings.load_profile("lab")


def lab_environment(home: Path) -> dict[str, str]:
    """Settings (as environment variables) of a fresh lab of the tests' own."""
    ray_port = free_port_block(3)
    return {
        "MLOPS_LAB_HOME": str(home),
        "MLOPS_LAB_RAY_PORT": str(ray_port),
        "MLOPS_LAB_SERVE_PORT": str(free_port_block(1)),
    }


def run_python(code: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    """Run code in a new Python process with the lab's settings in its environment.

    Such a process runs no search: it starts no trial workers ahead unless ``env`` says so.
    """
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "MLOPS_LAB_WARM_WORKERS": "0", **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_cli(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the ``mlops-lab`` command."""
    return subprocess.run(
        [sys.executable, "-m", "mlops_lab.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="session")
def lab_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The environment of the session's lab, also set in this process for the magics."""
    env = lab_environment(tmp_path_factory.mktemp("session-lab") / ".mlops_lab")
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    yield env
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def lab(lab_env: dict[str, str]) -> Iterator[object]:
    """A running lab shared by the integration tests of one session."""
    import mlops_lab

    lab = mlops_lab.connect()
    yield lab
    lab.shutdown()
