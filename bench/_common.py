"""What the benchmarks share: a lab of their own, on free ports in a scratch folder."""

from __future__ import annotations

import argparse
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


def mode(description: str, quick: str) -> str:
    """The mode the command line asks for: "smoke", "quick" or "full" (no flag)."""
    parser = argparse.ArgumentParser(description=description)
    modes = parser.add_mutually_exclusive_group()
    modes.add_argument("--quick", action="store_true", help=quick)
    modes.add_argument("--smoke", action="store_true", help="seconds: tiny sizes, same keys")
    args = parser.parse_args()
    return "smoke" if args.smoke else "quick" if args.quick else "full"
