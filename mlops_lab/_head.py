"""The lab's own ``ray start --head``: ``python -m mlops_lab._head start --port=N``.

`ray start` imports Ray's whole command line (the autoscaler's, the jobs' and the state
API's modules) before it starts anything: about 2 s of one core, where Ray's node API alone
imports in 0.5 s. This starts the same processes through that API, as `ray start --head`
without ``--block`` does: the GCS, the raylet and its two agents are left running when this
process exits, in its session (the caller starts it as a session's leader).

It starts only what the lab uses: no dashboard, no autoscaler monitor (the node's resources
are fixed), no log monitor (drivers attach with ``log_to_driver=False``), no Ray Client
server unless one is asked for (the lab's drivers attach through the GCS) and no API
server. Without the dashboard, Ray's node would still start the dashboard's process for its
usage-statistics module alone (usage statistics are off) and wait until it has imported its
web stack and answered, before it starts the raylet. Each of these is a Python process
importing Ray.

A failed start prints Ray's error and exits with 1, as `ray start` does; Ray's processes
that did start are left to the caller to stop.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

# `ray start`'s defaults for the ports a worker may listen on.
_WORKER_PORTS = (10002, 19999)


def start(port: int, num_cpus: int | None, client_port: int | None = None) -> str:
    """Start a head whose GCS listens on ``port``; return its address.

    The dashboard agent listens on ``port + 2``. A Ray Client server starts only when
    ``client_port`` is given.
    """
    # Read by Ray's node as it starts; the lab's caller sets it too.
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    from ray._private.authentication.authentication_token_setup import (
        ensure_token_if_auth_enabled,
        maybe_enable_token_auth_if_token_available,
    )
    from ray._private.node import Node
    from ray._private.parameter import RayParams
    from ray._private.services import get_node_ip_address
    from ray._private.utils import write_ray_address

    params = RayParams(
        node_ip_address=get_node_ip_address(),
        gcs_server_port=port,
        min_worker_port=_WORKER_PORTS[0],
        max_worker_port=_WORKER_PORTS[1],
        ray_client_server_port=client_port,
        dashboard_agent_listen_port=port + 2,
        num_cpus=num_cpus,
        resources={},
        labels={},
        include_dashboard=False,
        no_monitor=True,
        include_log_monitor=False,  # type: ignore[arg-type]  # a bool, as `ray start` gives
    )
    maybe_enable_token_auth_if_token_available()
    ensure_token_if_auth_enabled(None, create_token_if_missing=False)
    Node.start_api_server = _no_api_server  # type: ignore[method-assign,assignment]
    node = Node(params, head=True, shutdown_at_exit=False, spawn_reaper=False)
    # Where `ray status` and ray.init(address="auto") on this machine look for a cluster.
    write_ray_address(node.address, None)
    return str(node.address)


def _no_api_server(node: Any, *, include_dashboard: bool | None, raise_on_failure: bool) -> None:
    node._webui_url = ""  # what Ray records when it has no dashboard to show


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m mlops_lab._head", description=__doc__)
    parser.add_argument("command", choices=["start"])
    parser.add_argument("--port", type=int, required=True, help="the GCS's port")
    parser.add_argument("--num-cpus", type=int, help="the CPUs the head offers (all if unset)")
    parser.add_argument("--ray-client-server-port", type=int, help="a Ray Client server's")
    args = parser.parse_args()
    address = start(args.port, args.num_cpus, args.ray_client_server_port)
    print(f"Ray head started at {address}.", flush=True)


if __name__ == "__main__":
    main()
