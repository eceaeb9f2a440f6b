"""Regret, recovery after a change of best arm, and call times of the routing policies.

1. Bernoulli arms in the setting of Chapelle and Li (2011, "An Empirical Evaluation of
   Thompson Sampling"): K = 10 arms, the best at 0.5 and the others at 0.5 - eps, for eps in
   0.1 and 0.02. Cumulative regret of each policy (mean over runs), its ratio to Thompson
   sampling's, and the best arm's share of the traffic. LinUCB sees a constant context, so it
   learns per arm only.
2. Switching: three arms at 0.7 / 0.5 / 0.3 that swap best and worst after 2000 requests;
   how many requests until the new best arm gets the majority of the last 100.
3. Decision time with three arms, as a router sees it: each ``choose`` (propensity included)
   is followed by the ``update`` of its reward, so work that updates set off (a redraw of
   Thompson's bank) shows in the tail of the calls it lands in. Microseconds per call: the
   mean, median and 99th percentile of decisions, and the 99th percentile of updates.
   LinUCB reads four features per request (as for the iris data). Wall-clock time, with
   Python's garbage collector paused as timeit does (its pauses belong to the process, not
   to a policy); on a busy machine, preemption shows in the tails.

    python bench/bandit_regret.py --quick
    python bench/bandit_regret.py --smoke   # seconds: tiny sizes, the same keys

Last line, one JSON object:
    {"regret": {...}, "ratio_to_ts": {...}, "best_arm_share": {...},
     "switch_recovery_requests": {...}, "decision_us": {...}, "decision_p50_us": {...},
     "decision_p99_us": {...}, "update_p99_us": {...}}
Goals: the discounted policies recover within 500 requests; every decision's p99 <= 50 us;
LinUCB's mean decision <= 20 us.
"""

from __future__ import annotations

import gc
import json
import random
import statistics
import time
from collections import deque

from _common import mode

from mlops_lab.routing import POLICIES, Policy, make_policy

LEARNING = sorted(name for name in POLICIES if name != "split")
RECOVERY_WINDOW = 100
# (horizon, runs, decisions timed) per mode.
SIZES = {"full": (100_000, 10, 100_000), "quick": (10_000, 3, 30_000), "smoke": (300, 1, 2_000)}


def main() -> None:
    chosen = mode(__doc__.splitlines()[0], "shorter horizon, fewer runs")
    horizon, runs, decisions = SIZES[chosen]

    regret: dict[str, dict[str, float]] = {}
    share: dict[str, dict[str, float]] = {}
    for name in LEARNING:
        results = {str(eps): _regret(name, eps, horizon, runs) for eps in (0.1, 0.02)}
        regret[name] = {eps: value[0] for eps, value in results.items()}
        share[name] = {eps: value[1] for eps, value in results.items()}
    ratio = {
        name: {
            eps: round(value / max(regret["thompson"][eps], 1e-9), 3) for eps, value in by.items()
        }
        for name, by in regret.items()
    }
    recovery = {
        name: _recovery(name, runs, limit=5000 if horizon > 1000 else 1000) for name in LEARNING
    }
    timings = {name: _timings(name, decisions) for name in LEARNING}
    print(
        json.dumps(
            {
                "regret": regret,
                "ratio_to_ts": ratio,
                "best_arm_share": share,
                "switch_recovery_requests": recovery,
                **{key: {name: t[key] for name, t in timings.items()} for key in _TIMING_KEYS},
                "horizon": horizon,
                "runs": runs,
                "decisions_timed": decisions,
            }
        )
    )


def _make(name: str, seed: int) -> Policy:
    return make_policy(name, seed=seed)


def _context(name: str) -> list[float] | None:
    return [1.0] if name == "linucb" else None


def _regret(name: str, eps: float, horizon: int, runs: int) -> tuple[float, float]:
    """Mean cumulative regret over runs, and the best arm's share of the traffic."""
    arms = [f"arm{i}@1" for i in range(10)]
    means = {arm: 0.5 - eps for arm in arms}
    means[arms[0]] = 0.5
    totals, best = [], 0
    for run in range(runs):
        policy, rng, context = _make(name, run), random.Random(1000 + run), _context(name)
        regret = 0.0
        for _ in range(horizon):
            arm = policy.choose(arms, context).arm
            regret += 0.5 - means[arm]
            best += arm == arms[0]
            policy.update(arm, 1.0 if rng.random() < means[arm] else 0.0, context)
        totals.append(regret)
    return round(statistics.fmean(totals), 1), round(best / (horizon * runs), 3)


def _recovery(name: str, runs: int, before: int = 2000, limit: int = 5000) -> int | None:
    """Median requests after the switch until the new best has most of the last 100; None
    when it never does within ``limit``."""
    arms = ["a@1", "b@1", "c@1"]
    counts = []
    for run in range(runs):
        policy, rng, context = _make(name, run), random.Random(2000 + run), _context(name)
        means = {"a@1": 0.7, "b@1": 0.5, "c@1": 0.3}
        recent: deque[str] = deque(maxlen=RECOVERY_WINDOW)
        found = None
        for step in range(before + limit):
            if step == before:
                means = {"a@1": 0.3, "b@1": 0.5, "c@1": 0.7}
                recent.clear()
            arm = policy.choose(arms, context).arm
            policy.update(arm, 1.0 if rng.random() < means[arm] else 0.0, context)
            recent.append(arm)
            if step >= before and recent.count("c@1") > RECOVERY_WINDOW // 2:
                found = step - before + 1
                break
        counts.append(found)
    if any(count is None for count in counts):
        return None
    return int(statistics.median(count for count in counts if count is not None))


_TIMING_KEYS = ("decision_us", "decision_p50_us", "decision_p99_us", "update_p99_us")


def _timings(name: str, decisions: int) -> dict[str, float]:
    """Microseconds per call of ``choose`` and ``update``, interleaved as in a router."""
    arms = ["a@1", "b@1", "c@1"]
    policy, rng = _make(name, 0), random.Random(3)
    contexts = [_features(name, rng) for _ in range(500 + decisions)]
    for x in contexts[:500]:  # some history, as in a running router
        policy.update(policy.choose(arms, x).arm, float(rng.random() < 0.5), x)
    rewards = [float(rng.random() < 0.5) for _ in range(decisions)]
    chose, learned = [0] * decisions, [0] * decisions
    clock = time.perf_counter_ns
    # As timeit does: the collector's pauses belong to the whole process, not to a policy.
    gc.collect()
    gc.disable()
    try:
        for i, x in enumerate(contexts[500:]):
            start = clock()
            arm = policy.choose(arms, x).arm
            middle = clock()
            policy.update(arm, rewards[i], x)
            chose[i], learned[i] = middle - start, clock() - middle
    finally:
        gc.enable()
    chose.sort()
    learned.sort()
    return {
        "decision_us": round(statistics.fmean(chose) / 1e3, 2),
        "decision_p50_us": round(_quantile(chose, 0.5) / 1e3, 2),
        "decision_p99_us": round(_quantile(chose, 0.99) / 1e3, 2),
        "update_p99_us": round(_quantile(learned, 0.99) / 1e3, 2),
    }


def _features(name: str, rng: random.Random) -> list[float] | None:
    """Four features in the ranges of the iris data for LinUCB; no context for the others."""
    if name != "linucb":
        return None
    return [rng.uniform(4, 8), rng.uniform(2, 4.5), rng.uniform(1, 7), rng.uniform(0, 2.5)]


def _quantile(ordered: list[int], q: float) -> float:
    return ordered[int(q * (len(ordered) - 1))]


if __name__ == "__main__":
    main()
