"""What the router costs: the same model bare on Ray Serve, and behind the lab's router.

1. Bare: a minimal Ray Serve deployment holding the model (JSON in, DataFrame, predict,
   JSON out), as one would write it by hand.
2. Router: the same model registered twice and deployed with ``lab.deploy``, with a 50/50
   split between the two versions, input validation against the signature and every
   request logged to the store.
3. The same router with logging off (the benchmark's own switch, not a user option), to
   isolate the cost of logging on the tail latency. Logging is switched off and on in place
   between slices, so that 2 and 3 are the same replica process; requests sent while it was
   off must have no row (``quiet_logged``: 0), which shows each switch took effect in time.
4. A second endpoint on the same two versions routed by Thompson sampling under feedback
   (``ep.bandit([...], policy="thompson", reward="reward")``): while the load runs, the
   requests answered more than 1.5 s of its load earlier (their rows are then in the store)
   get a reward by request id, ``POST /<ep>/feedback`` twice a second, so the policy is
   updated while it decides. ``bandit_p99_ratio`` is its p99 under load over the split
   router's (2), both logging; ``bandit_updates`` counts the rewards its policy learned from.

Each is driven over HTTP by the same asyncio client (aiohttp), one instance per request,
with a warm-up first, twice: at ``--concurrency`` clients (8) for throughput, where every
core is busy and latency is mostly queueing, and at one client for latency (p50, p99), where
nothing queues and the difference is the time the router adds to a request. The p99 ratio
of logging on to off is taken under load, where the background writes compete with
requests. The targets take turns in short slices (2 s with ``--quick``; 60 rounds
under load, 6 alone), so that the machine's changes of speed, which here move throughput by
up to 30% within a minute, fall on all of them alike. Each slice is followed by a short pause,
and the order of the turns changes from round to round so that each target follows every
other one equally often: the writes a logging slice leaves in flight do not fall on the
target after it.
Afterwards every request id the router returned must have exactly one row in the store.

The p99 under load is the 1% tail of a few thousand latencies, so one stall of the machine
in one slice can move it by several percent. Beside the pooled ratio the benchmark gives the
median over rounds of the per-round ratio, which one such stall cannot move; and with
``--calibrate`` both router slices log, so the two ratios show the spread of the measurement
itself (where there is nothing to find, they should be 1). A slice's p99 varies from slice
to slice by a log-standard-deviation of about 0.16 here; the 60 rounds of ``--quick`` (about
16 minutes in all) bring each ratio's standard error to about 2%, below the 5% it is judged
on.

    python bench/serve_overhead.py --quick
    python bench/serve_overhead.py --quick --calibrate
    python bench/serve_overhead.py --smoke   # a lab and a few short slices: the same keys

Last line, one JSON object:
    {"bare_rps", "router_rps", "rps_ratio", "bare_p50_ms", "router_p50_ms", "added_p50_ms",
     "p99_ratio_logging_on_off", "lost_logs", "bandit_p99_ratio", "bandit_updates"}
Goals: rps_ratio >= 0.8, added_p50_ms <= 1.0, p99_ratio_logging_on_off <= 1.05, lost_logs 0,
bandit_p99_ratio <= 1.05 (bandit_updates > 0).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pandas as pd
from _common import scratch_lab
from ray import serve
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from starlette.requests import Request
from starlette.responses import JSONResponse

from mlops_lab._warm import cold_runtime_env
from mlops_lab.serve._deploy import endpoint_config, run_endpoint

# Idle time after each slice, so that a slice's last writes mostly land in the pause (the
# request log writes once a second: the rest are spread by the balanced order).
PAUSE_S = 0.5
# Idle time after the benchmark's own switch of logging: Serve hands the replica its copy of
# the change a few hundred ms after the lab has handed it over, and that work is the
# switch's, not the next slice's.
SWITCH_SETTLE_S = 0.5


class Bare:
    """The hand-written baseline: one model, no validation, no routing, no logging."""

    def __init__(self, namespace: str, ref: str) -> None:
        from mlops_lab.registry import Registry
        from mlops_lab.store._actor import ActorStore, find_store_actor

        self.model = Registry(ActorStore(find_store_actor(namespace))).load(ref)
        self.columns = list(self.model.feature_names_in_)

    async def __call__(self, request: Request) -> JSONResponse:
        payload = await request.json()
        frame = pd.DataFrame(payload["instances"], columns=self.columns)
        return JSONResponse({"predictions": self.model.predict(frame).tolist()})


class Feedback:
    """Rewards for a bandit's answers, sent by request id in batches while the load runs.

    A request gets its reward once the bandit has been under load for ``delay_s`` since it
    was answered (its row is in the store by then), so feedback is neither refused nor kept
    waiting; the first model earns more often than the second, so the bandit has something
    to learn. The delay is counted on a clock that runs only during the bandit's own slices:
    the requests answered near the end of one slice are rewarded through the first
    ``delay_s`` of the next, at the rate they came in, as in one unbroken run, rather than
    in one batch as the slice begins.
    """

    def __init__(self, url: str, best: str, delay_s: float = 1.5, every_s: float = 0.5) -> None:
        self.url, self.best, self.delay_s, self.every_s = url, best, delay_s, every_s
        self.waiting: deque[tuple[float, str, str]] = deque()  # (answered at, id, model)
        self.rng = random.Random(0)
        self.sent = self.refused = 0
        self._loaded_s = 0.0  # the bandit's time under load before the current slice
        self._slice_began = time.perf_counter()

    def _clock(self) -> float:
        """Seconds the bandit has been under load, over all its slices so far."""
        return self._loaded_s + time.perf_counter() - self._slice_began

    def answered(self, answer: dict[str, Any]) -> None:
        now = self._clock()
        for request_id, model in zip(answer["request_ids"], answer["models"], strict=True):
            self.waiting.append((now, request_id, model))

    async def run(self, session: aiohttp.ClientSession, deadline: float) -> None:
        """Until ``deadline``, every ``every_s``, reward the requests answered long enough
        ago on the bandit's clock."""
        while True:
            await self._send_due(session)
            if time.perf_counter() + self.every_s >= deadline:
                return
            await asyncio.sleep(self.every_s)

    def resume(self) -> None:
        """Start the bandit's clock: one of its slices begins."""
        self._slice_began = time.perf_counter()

    def pause(self) -> None:
        """Stop the bandit's clock: its slice has ended, its last answers are in."""
        self._loaded_s = self._clock()

    async def _send_due(self, session: aiohttp.ClientSession) -> None:
        cutoff, items = self._clock() - self.delay_s, []
        while self.waiting and self.waiting[0][0] <= cutoff:
            _, request_id, model = self.waiting.popleft()
            chance = 0.6 if model == self.best else 0.4
            items.append({"request_id": request_id, "reward": float(self.rng.random() < chance)})
        if not items:
            return
        async with session.post(self.url, json=items) as reply:
            await reply.read()
            if reply.status == 200:
                self.sent += len(items)
            else:
                self.refused += len(items)


async def _drive(
    session: aiohttp.ClientSession, url: str, body: dict, seconds: float, concurrency: int,
    feedback: tuple[Feedback, aiohttp.ClientSession] | None = None,
) -> dict[str, Any]:  # fmt: skip
    latencies: list[float] = []
    ids: list[str] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def client() -> None:
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
            if feedback is not None:
                feedback[0].answered(answer)

    began = time.perf_counter()
    rewards = [] if feedback is None else [feedback[0].run(feedback[1], deadline)]
    if feedback is not None:
        feedback[0].resume()
    await asyncio.gather(*(client() for _ in range(concurrency)), *rewards)
    if feedback is not None:
        feedback[0].pause()
    elapsed = time.perf_counter() - began
    return {"latencies": latencies, "elapsed": elapsed, "errors": errors, "ids": ids}


@dataclass(frozen=True)
class Target:
    """Where to send requests, and what to do before a slice of them (a change of config)."""

    url: str
    before: Callable[[], None] | None = None
    feedback: Feedback | None = None


async def measure(targets: dict[str, Target], body: dict, rounds: dict[str, int],
                  seconds: float, concurrency: int,
                  warm_up_s: float = 2.0) -> dict[str, dict[str, Any]]:  # fmt: skip
    """Each target under load and alone, interleaved in short slices round by round (each
    target with its own open connections), so that a drift of the machine's speed during
    the run falls on every target alike."""
    sessions = {
        name: aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency))
        for name in targets
    }
    rewarding = aiohttp.ClientSession()  # feedback on connections of its own

    async def slice_(name: str, seconds: float, clients: int) -> dict[str, Any]:
        target = targets[name]
        if target.before is not None:
            await asyncio.to_thread(target.before)
        feedback = None if target.feedback is None else (target.feedback, rewarding)
        return await _drive(sessions[name], target.url, body, seconds, clients, feedback)

    try:
        for name in targets:
            await slice_(name, warm_up_s, concurrency)
        runs: dict[str, dict[str, list]] = {
            name: {"loaded": [], "alone": []} for name in targets
        }  # fmt: skip
        orders = _balanced_orders(list(targets))
        for mode, clients in (("loaded", concurrency), ("alone", 1)):
            for round_ in range(rounds[mode]):
                for name in orders[round_ % len(orders)]:
                    runs[name][mode].append(await slice_(name, seconds, clients))
                    await asyncio.sleep(PAUSE_S)
    finally:
        for session in [*sessions.values(), rewarding]:
            await session.close()
    return {name: _pooled(parts) for name, parts in runs.items()}


def _balanced_orders(names: list[str]) -> list[list[str]]:
    """Orders of the targets in which each one follows every other one equally often: the
    rows of a balanced Latin square (a Williams design; with an odd count, their mirror
    images too). What one slice leaves behind (writes still in flight) is then spread
    evenly, rather than always landing on the same target. (Rotations alone would not do:
    with four targets, each would follow only two of the others.)"""
    count = len(names)
    first, low, high = [0], 1, count - 1
    while low <= high:
        first.append(low)
        low += 1
        if low <= high:
            first.append(high)
            high -= 1
    rows = [[names[(i + j) % count] for j in first] for i in range(count)]
    return rows if count % 2 == 0 else rows + [row[::-1] for row in rows]


def _pooled(parts: dict[str, list]) -> dict[str, Any]:
    loaded, alone = parts["loaded"], parts["alone"]
    under_load = sorted(x for run in loaded for x in run["latencies"])
    by_itself = sorted(x for run in alone for x in run["latencies"])
    return {
        "rps": sum(len(run["latencies"]) for run in loaded) / sum(r["elapsed"] for r in loaded),
        "p50_ms": statistics.median(by_itself),
        "p99_alone_ms": _p99(by_itself),
        "p50_loaded_ms": statistics.median(under_load),
        "p99_ms": _p99(under_load),
        "p99_by_round_ms": [_p99(sorted(run["latencies"])) for run in loaded],
        "errors": sum(run["errors"] for run in loaded + alone),
        "ids": [i for run in loaded + alone for i in run["ids"]],
    }


def _median_ratio(on: dict[str, Any], off: dict[str, Any]) -> float:
    rounds = zip(on["p99_by_round_ms"], off["p99_by_round_ms"], strict=True)
    return statistics.median(a / b for a, b in rounds)


def _bandit_figures(
    bandit: dict[str, Any], split: dict[str, Any], rewards: Feedback,
    learned: dict[str, dict[str, float]],
) -> dict[str, Any]:  # fmt: skip
    """Thompson sampling under feedback against the split router, both logging."""
    return {
        "bandit_p99_ratio": round(bandit["p99_ms"] / split["p99_ms"], 3),
        "bandit_p99_ratio_median_of_rounds": round(_median_ratio(bandit, split), 3),
        "bandit_p99_ms": round(bandit["p99_ms"], 3),
        "bandit_rps": round(bandit["rps"], 1),
        "bandit_p50_ms": round(bandit["p50_ms"], 3),
        "bandit_feedback_sent": rewards.sent,
        "bandit_feedback_refused": rewards.refused,
        # The rewards the replica's policy learned from (its arms' pulls).
        "bandit_updates": int(sum(arm["pulls"] for arm in learned.values())),
    }


def _p99(values: list[float]) -> float:
    return values[int(0.99 * (len(values) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="shorter runs")
    mode.add_argument("--smoke", action="store_true", help="a few short slices: same keys")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--calibrate", action="store_true",
        help="log in both router slices: the logging on/off ratios then show the spread of "
             "the measurement itself, with nothing to find",
    )  # fmt: skip
    args = parser.parse_args()
    # The tail under load needs the most slices; a median alone, the fewest.
    seconds = 2.0 if args.quick else 3.0
    rounds = {"loaded": 60, "alone": 6} if args.quick else {"loaded": 120, "alone": 18}
    if args.smoke:  # what the figures would be made of, once, in seconds: not figures
        seconds, rounds = 0.5, {"loaded": 1, "alone": 1}

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
        endpoint = lab.deploy("bench", first).split({first: 0.5, second: 0.5})
        bandit = lab.deploy("bench-bandit", first).bandit(
            [first, second], policy="thompson", reward="reward", seed=0
        )
        rewards = Feedback(f"{bandit.url}/feedback", best=first)
        config = endpoint_config(lab.store, "bench")
        logging_on = [True]

        def log(on: bool) -> Callable[[], None]:
            """Turn the router's logging on or off; the same replica takes the change."""

            def change() -> None:
                if logging_on[0] != on:
                    run_endpoint("bench", {**config, "log": on}, lab.settings, may_move=False)
                    logging_on[0] = on
                    time.sleep(SWITCH_SETTLE_S)

            return change

        runs = asyncio.run(measure(
            {"bare": Target(f"{base}/bare"),
             "router": Target(f"{endpoint.url}/predict", log(True)),
             "quiet": Target(f"{endpoint.url}/predict", log(args.calibrate)),
             "bandit": Target(f"{bandit.url}/predict", feedback=rewards)},
            body, rounds, seconds, args.concurrency, warm_up_s=0.5 if args.smoke else 2.0,
        ))  # fmt: skip
        bare_run, router_run, quiet_run = runs["bare"], runs["router"], runs["quiet"]
        learned = bandit.describe()["policy_stats"]
        endpoint.flush()
        ids = router_run["ids"]
        logged = lab.sql(
            "SELECT count(DISTINCT request_id) AS ids, count(*) AS n FROM requests "
            "WHERE request_id IN (SELECT unnest(?::VARCHAR[]))",
            params=[ids],
        ).iloc[0]
        # Requests sent while logging was off must have no row: the change took effect.
        quiet_logged = lab.sql(
            "SELECT count(*) AS n FROM requests WHERE request_id IN (SELECT unnest(?::VARCHAR[]))",
            params=[quiet_run["ids"]],
        ).n.iloc[0]

    summary = {
        "bare_rps": round(bare_run["rps"], 1),
        "router_rps": round(router_run["rps"], 1),
        "rps_ratio": round(router_run["rps"] / bare_run["rps"], 3),
        "bare_p50_ms": round(bare_run["p50_ms"], 3),
        "router_p50_ms": round(router_run["p50_ms"], 3),
        "added_p50_ms": round(router_run["p50_ms"] - bare_run["p50_ms"], 3),
        "p99_ratio_logging_on_off": round(router_run["p99_ms"] / quiet_run["p99_ms"], 3),
        # The same ratio round by round (a round: one slice of each), and its median, which
        # one stall in one slice cannot move.
        "p99_ratio_median_of_rounds": round(_median_ratio(router_run, quiet_run), 3),
        "lost_logs": len(set(ids)) - int(logged["ids"]),
        "duplicate_logs": int(logged["n"]) - int(logged["ids"]),
        "quiet_logged": int(quiet_logged),
        "router_quiet_rps": round(quiet_run["rps"], 1),
        "bare_p50_loaded_ms": round(bare_run["p50_loaded_ms"], 3),
        "router_p50_loaded_ms": round(router_run["p50_loaded_ms"], 3),
        "router_p99_ms": round(router_run["p99_ms"], 3),
        "router_quiet_p99_ms": round(quiet_run["p99_ms"], 3),
        "bare_p99_alone_ms": round(bare_run["p99_alone_ms"], 3),
        "router_p99_alone_ms": round(router_run["p99_alone_ms"], 3),
        # With one client (nothing queues): the tail that logging's own work adds.
        "p99_ratio_alone_logging_on_off": round(
            router_run["p99_alone_ms"] / quiet_run["p99_alone_ms"], 3
        ),
        **_bandit_figures(runs["bandit"], router_run, rewards, learned),
        "errors": sum(run["errors"] for run in runs.values()),
        "concurrency": args.concurrency,
        "rounds": rounds,
        "seconds_per_run": seconds,
        "calibrate": args.calibrate,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
