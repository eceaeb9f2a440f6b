"""Regret, recovery after a change of best arm, and decision time of the routing policies.

1. Bernoulli arms in the setting of Chapelle and Li (2011, "An Empirical Evaluation of
   Thompson Sampling"): K = 10 arms, the best at 0.5 and the others at 0.5 - eps, for eps in
   0.1 and 0.02. Cumulative regret of each policy (mean over runs) and its ratio to Thompson
   sampling's. LinUCB sees a constant context, so it learns per arm only.
2. Switching: three arms at 0.7 / 0.5 / 0.3 that swap best and worst after 2000 requests;
   how many requests until the new best arm gets the majority of the last 100.
3. Decision time: microseconds per ``choose`` (propensity included) with three arms.

    python bench/bandit_regret.py --quick

Last line, one JSON object:
    {"regret": {...}, "ratio_to_ts": {...}, "switch_recovery_requests": {...},
     "decision_us": {...}}
Goals: the discounted policies recover within 500 requests; decisions <= 20 us.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections import deque

from mlops_lab.routing import POLICIES, Policy, make_policy

LEARNING = sorted(name for name in POLICIES if name != "split")
RECOVERY_WINDOW = 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter horizon, fewer runs")
    args = parser.parse_args()
    horizon, runs = (10_000, 3) if args.quick else (100_000, 10)

    regret = {
        name: {str(eps): _mean_regret(name, eps, horizon, runs) for eps in (0.1, 0.02)}
        for name in LEARNING
    }
    ratio = {
        name: {eps: round(value / regret["thompson"][eps], 3) for eps, value in by_eps.items()}
        for name, by_eps in regret.items()
    }
    recovery = {name: _recovery(name, runs) for name in LEARNING}
    decision = {name: round(_decision_us(name), 2) for name in LEARNING}
    print(
        json.dumps(
            {
                "regret": regret,
                "ratio_to_ts": ratio,
                "switch_recovery_requests": recovery,
                "decision_us": decision,
                "horizon": horizon,
                "runs": runs,
            }
        )
    )


def _make(name: str, seed: int) -> Policy:
    return make_policy(name, seed=seed)


def _context(name: str) -> list[float] | None:
    return [1.0] if name == "linucb" else None


def _mean_regret(name: str, eps: float, horizon: int, runs: int) -> float:
    arms = [f"arm{i}@1" for i in range(10)]
    means = {arm: 0.5 - eps for arm in arms}
    means[arms[0]] = 0.5
    totals = []
    for run in range(runs):
        policy, rng, context = _make(name, run), random.Random(1000 + run), _context(name)
        regret = 0.0
        for _ in range(horizon):
            arm = policy.choose(arms, context).arm
            regret += 0.5 - means[arm]
            policy.update(arm, 1.0 if rng.random() < means[arm] else 0.0, context)
        totals.append(regret)
    return round(statistics.fmean(totals), 1)


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


def _decision_us(name: str, decisions: int = 20_000) -> float:
    arms = ["a@1", "b@1", "c@1"]
    policy, rng, context = _make(name, 0), random.Random(3), _context(name)
    for _ in range(500):  # some history, as in a running router
        arm = policy.choose(arms, context).arm
        policy.update(arm, float(rng.random() < 0.5), context)
    spent = 0.0
    for _ in range(decisions):
        start = time.perf_counter()
        arm = policy.choose(arms, context).arm
        spent += time.perf_counter() - start
        policy.update(arm, float(rng.random() < 0.5), context)
    return 1e6 * spent / decisions


if __name__ == "__main__":
    main()
