"""A lab attaches to an existing multi-node Ray cluster and leaves it running."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from mlops_lab._net import free_port_block
from mlops_lab.store import Store


def test_a_lab_on_a_two_node_cluster(tmp_path: Path) -> None:
    """On a cluster named by address, the store actor sits on the head node, rows round-trip,
    and shutting the lab down stops the lab's actors but not the cluster."""
    home = tmp_path / ".mlops_lab"
    result = subprocess.run(
        [sys.executable, "-m", "tests.integration._cluster_check", str(home),
         str(free_port_block(1))],
        capture_output=True, text=True, timeout=600,
        env={k: v for k, v in os.environ.items() if not k.startswith("MLOPS_LAB_")},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {
        "runtime": "cluster",
        "nodes": 2,
        "store_on_head": True,
        "added": 40,
        "stored": 40,
        "cluster_alive_after_shutdown": 2,
    }
    with Store(home / "lab.duckdb", read_only=True) as store:
        assert store.counts()["requests"] == 40
