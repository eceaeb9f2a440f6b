"""What the router costs: the same model bare on Ray Serve, and behind the lab's router.

1. Bare: a minimal Ray Serve deployment holding the model (JSON in, DataFrame, predict,
   JSON out), as one would write it by hand.
2. Router: the same model registered twice and deployed with ``lab.deploy``, with a 50/50
   split between the two versions, input validation against the signature and every
   request logged to the store.
3. Router with logging off (the benchmark's own switch, not a user option), to isolate the
   cost of logging on the tail latency.

Each is driven over HTTP by the same asyncio client (aiohttp) at the same concurrency, one
instance per request, with a warm-up first. Afterwards every request id the router returned
must have exactly one row in the store.

    python bench/serve_overhead.py --quick

Last line, one JSON object:
    {"bare_rps", "router_rps", "rps_ratio", "bare_p50_ms", "router_p50_ms", "added_p50_ms",
     "p99_ratio_logging_on_off", "lost_logs"}
Goals: rps_ratio >= 0.8, added_p50_ms <= 1.0, p99_ratio_logging_on_off <= 1.05, lost_logs 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any

import aiohttp
import pandas as pd
from _common import scratch_lab
from ray import serve
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from starlette.requests import Request

from mlops_lab._warm import cold_runtime_env
from mlops_lab.serve._endpoint import _run, endpoint_config


class Bare:
    """The hand-written baseline: one model, no validation, no routing, no logging."""

    def __init__(self, namespace: str, ref: str) -> None:
        from mlops_lab.registry import Registry
        from mlops_lab.store._actor import ActorStore, find_store_actor

        self.model = Registry(ActorStore(find_store_actor(namespace))).load(ref)
        self.columns = list(self.model.feature_names_in_)

    async def __call__(self, request: Request) -> dict[str, Any]:
        payload = await request.json()
        frame = pd.DataFrame(payload["instances"], columns=self.columns)
        return {"predictions": self.model.predict(frame).tolist()}


async def _drive(url: str, body: dict, seconds: float, concurrency: int) -> dict[str, Any]:
    latencies: list[float] = []
    ids: list[str] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            async with session.post(url, json=body) as reply:
                answer = await reply.json()
                if reply.status != 200:
                    errors += 1
                    continue
            latencies.append((time.perf_counter() - start) * 1000)
            ids.extend(answer.get("request_ids", []))

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        began = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies),
        "p99_ms": latencies[int(0.99 * (len(latencies) - 1))],
        "errors": errors,
        "ids": ids,
    }


def measure(url: str, body: dict, seconds: float, concurrency: int) -> dict[str, Any]:
    asyncio.run(_drive(url, body, min(seconds, 2.0), concurrency))  # warm-up
    return asyncio.run(_drive(url, body, seconds, concurrency))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    seconds = 8.0 if args.quick else 30.0

    X, y = load_iris(return_X_y=True, as_frame=True)
    model = LogisticRegression(max_iter=1000).fit(X, y)
    body = {"instances": [X.iloc[0].tolist()]}
    with scratch_lab(warm_workers=0) as lab:
        first = lab.registry.register("bench", model, reference=X.head(30)).ref
        second = lab.registry.register("bench", model, reference=X.head(30)).ref
        base = f"http://{lab.settings.serve_host}:{lab.settings.serve_port}"

        bare = serve.deployment(
            Bare, name="bare", max_ongoing_requests=32,
            ray_actor_options={"num_cpus": 0, "runtime_env": cold_runtime_env()},
        )  # fmt: skip
        serve.run(bare.bind(lab.settings.namespace, first), name="bare", route_prefix="/bare")
        bare_run = measure(f"{base}/bare", body, seconds, args.concurrency)
        serve.delete("bare")

        endpoint = lab.deploy("bench", first).split({first: 0.5, second: 0.5})
        router_run = measure(f"{endpoint.url}/predict", body, seconds, args.concurrency)
        endpoint.flush()
        ids = router_run["ids"]
        logged = lab.sql(
            "SELECT count(DISTINCT request_id) AS ids, count(*) AS n FROM requests "
            "WHERE request_id IN (SELECT unnest(?::VARCHAR[]))",
            params=[ids],
        ).iloc[0]

        config = endpoint_config(lab.store, "bench")
        _run("bench", {**config, "log": False}, lab.settings)
        quiet_run = measure(f"{endpoint.url}/predict", body, seconds, args.concurrency)
        endpoint.undeploy()

    summary = {
        "bare_rps": round(bare_run["rps"], 1),
        "router_rps": round(router_run["rps"], 1),
        "rps_ratio": round(router_run["rps"] / bare_run["rps"], 3),
        "bare_p50_ms": round(bare_run["p50_ms"], 3),
        "router_p50_ms": round(router_run["p50_ms"], 3),
        "added_p50_ms": round(router_run["p50_ms"] - bare_run["p50_ms"], 3),
        "p99_ratio_logging_on_off": round(router_run["p99_ms"] / quiet_run["p99_ms"], 3),
        "lost_logs": len(set(ids)) - int(logged["ids"]),
        "duplicate_logs": int(logged["n"]) - int(logged["ids"]),
        "router_quiet_rps": round(quiet_run["rps"], 1),
        "router_p99_ms": round(router_run["p99_ms"], 3),
        "router_quiet_p99_ms": round(quiet_run["p99_ms"], 3),
        "errors": bare_run["errors"] + router_run["errors"] + quiet_run["errors"],
        "concurrency": args.concurrency,
        "seconds_per_run": seconds,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
