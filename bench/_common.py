"""What the benchmarks share: a lab of their own, on free ports in a scratch folder."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlops_lab
from mlops_lab._net import free_port_block


@contextmanager
def scratch_lab(**settings: Any) -> Iterator[mlops_lab.Lab]:
    """A lab started for one benchmark and stopped after it, whatever happens."""
    with tempfile.TemporaryDirectory(prefix="mlops-bench-") as folder:
        lab = mlops_lab.connect(
            home=Path(folder) / ".mlops_lab",
            ray_port=free_port_block(3),
            serve_port=free_port_block(1),
            **settings,
        )
        try:
            yield lab
        finally:
            lab.shutdown()
