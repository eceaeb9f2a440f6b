"""Attach a lab to a two-node Ray cluster and report what it saw, as one JSON line.

Run as ``python -m tests.integration._cluster_check HOME SERVE_PORT``; the cluster is made
with ``ray.cluster_utils.Cluster`` in this process, as a stand-in for a real one.
"""

from __future__ import annotations

import json
import sys

import ray
from ray.cluster_utils import Cluster

import mlops_lab
from mlops_lab._ray import require_token_auth
from mlops_lab.sample_data import request_rows


def main(home: str, serve_port: int) -> None:
    require_token_auth()  # the cluster's nodes start with the token, like a real cluster's
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    try:
        lab = mlops_lab.connect(ray_address=cluster.address, home=home, serve_port=serve_port)
        status = lab.status()
        heads = [n for n in ray.nodes() if "node:__internal_head__" in n["Resources"]]
        head_id = heads[0]["NodeID"]
        added = lab.store.append("requests", request_rows(40, endpoint="cluster"))
        stored = int(lab.sql("SELECT count(*) AS n FROM requests").n[0])
        report = {
            "runtime": status.runtime,
            "nodes": status.nodes,
            "store_on_head": lab.store.info()["node_id"] == head_id,
            "added": added,
            "stored": stored,
        }
        lab.shutdown()
        ray.init(address=cluster.address)
        report["cluster_alive_after_shutdown"] = len([n for n in ray.nodes() if n["Alive"]])
        ray.shutdown()
    finally:
        cluster.shutdown()
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
