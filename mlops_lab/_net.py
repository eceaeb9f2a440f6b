"""Find free local ports, for labs started side by side (tests, benchmarks)."""

from __future__ import annotations

import socket


def free_port_block(size: int = 1) -> int:
    """The first of ``size`` consecutive TCP ports that are free on every interface now."""
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = int(probe.getsockname()[1])
        if base + size < 65000 and all(port_free(base + offset) for offset in range(size)):
            return base
    raise RuntimeError(f"No block of {size} free ports was found.")


def port_free(port: int, *, reuse_address: bool = False) -> bool:
    """Whether TCP ``port`` is free on every interface now.

    With ``reuse_address``, a port held only by closed connections (TIME_WAIT) counts as
    free, as it does for a server that sets SO_REUSEADDR (Ray's GCS does).
    """
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, int(reuse_address))
        try:
            probe.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True
