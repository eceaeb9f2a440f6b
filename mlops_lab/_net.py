"""Find free local ports, for labs started side by side (tests, benchmarks)."""

from __future__ import annotations

import socket


def free_port_block(size: int = 1) -> int:
    """The first of ``size`` consecutive TCP ports that are free on every interface now."""
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = int(probe.getsockname()[1])
        if base + size < 65000 and all(_free(base + offset) for offset in range(size)):
            return base
    raise RuntimeError(f"No block of {size} free ports was found.")


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True
