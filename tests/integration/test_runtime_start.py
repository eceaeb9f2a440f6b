"""Starting the local head: a port in use is named, and a busy machine still gets a lab."""

from __future__ import annotations

import multiprocessing
import socket
import time
from pathlib import Path

import pytest

import mlops_lab
from mlops_lab._net import free_port_block
from mlops_lab._ray import RuntimeStartError, start_failure
from tests.conftest import lab_environment, run_python


def test_a_port_in_use_is_named_before_ray_starts(tmp_path: Path) -> None:
    """A start on a port another process listens on says which port and how to pick another."""
    port = free_port_block(3)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port + 1))
        holder.listen()
        with pytest.raises(RuntimeStartError, match=f"{port + 1}.*MLOPS_LAB_RAY_PORT"):
            mlops_lab.connect(home=str(tmp_path / ".mlops_lab"), ray_port=port)
    assert not (tmp_path / ".mlops_lab" / "ray-start.log").exists()


def test_a_start_timed_out_by_a_busy_machine_says_so() -> None:
    """Ray's startup time-out is reported as a busy machine, not as a port conflict."""
    output = "Exception: The current node timed out during startup. This could happen..."
    message = start_failure(1, output, Path("ray-start.log"), attempts=3)
    assert "too busy" in message
    assert "3 times" in message
    assert "port" not in message.split("\n")[0].lower()


def _burn(until: float) -> None:
    while time.monotonic() < until:
        pass


def test_a_lab_starts_while_every_core_is_busy(tmp_path: Path) -> None:
    """With twice as many busy processes as cores, connect() still returns a working lab."""
    env = lab_environment(tmp_path / ".mlops_lab")
    until = time.monotonic() + 240
    burners = [
        multiprocessing.Process(target=_burn, args=(until,), daemon=True)
        for _ in range(2 * (multiprocessing.cpu_count() or 1))
    ]
    for burner in burners:
        burner.start()
    try:
        result = run_python(
            "import mlops_lab\nlab = mlops_lab.connect()\n"
            "print(int(lab.sql('SELECT 41 + 1 AS n').n[0]))\nlab.shutdown()\n",
            env,
            timeout=600,
        )
    finally:
        for burner in burners:
            burner.terminate()
            burner.join()
    assert result.returncode == 0, result.stderr[-3000:]
    assert "42" in result.stdout.splitlines()
