"""What a test of a killed router replica waits on: its successor answering."""

from __future__ import annotations

from typing import Any

from mlops_lab import Endpoint
from tests._eventually import eventually


def successor_of(endpoint: Endpoint, victim: int, timeout: float) -> dict[str, Any]:
    """The endpoint's description once a replica other than the process ``victim`` answers."""
    return eventually(
        lambda: (described := endpoint.describe())["replica_pid"] != victim and described,
        timeout=timeout,
        every=1.0,
        what=f"a replica other than {victim} answering",
        ignoring=(Exception,),  # the replica is being replaced
    )
