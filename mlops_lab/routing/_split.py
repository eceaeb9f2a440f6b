"""A fixed split of traffic by weight: A/B tests and the steps of a canary."""

from __future__ import annotations

import bisect
from itertools import accumulate
from typing import Any

from mlops_lab.routing._base import Counts, Decision, Policy, PolicyError


class WeightedSplit(Policy):
    """Route each request to an arm with probability proportional to its weight.

    Weights of arms that are not live are ignored; the others are renormalised. Rewards are
    recorded (for the views) but do not move the split.

    Args:
        weights: Weight per arm, each >= 0, at least one > 0.
        seed: Seed of the draws.

    Example:
        >>> split = WeightedSplit({"a@1": 0.9, "b@2": 0.1}, seed=0)
        >>> split.probabilities(["a@1", "b@2"])
        {'a@1': 0.9, 'b@2': 0.1}
    """

    name = "split"

    def __init__(self, weights: dict[str, float], seed: int | None = None) -> None:
        super().__init__(seed)
        self.weights = weights
        self.counts_ = Counts()

    def params(self) -> dict[str, Any]:
        return {"weights": self.weights, **super().params()}

    def _probabilities(
        self, arms: list[str], context: tuple[float, ...] | None
    ) -> dict[str, float]:
        weights = {arm: float(self.weights.get(arm, 0.0)) for arm in arms}
        total = sum(weights.values())
        if total <= 0:
            raise PolicyError(
                f"No live arm has a weight: the split is {self.weights!r} and the live arms "
                f"are {arms!r}. Give a live arm a weight above 0."
            )
        return {arm: weight / total for arm, weight in weights.items()}

    def _choose(self, arms: list[str], context: tuple[float, ...] | None) -> Decision:
        shares = self._probabilities(arms, context)
        bounds = list(accumulate(shares[arm] for arm in arms))
        index = min(bisect.bisect_right(bounds, self._rng.random() * bounds[-1]), len(arms) - 1)
        while shares[arms[index]] == 0.0:  # rounding can land on a zero-width share
            index -= 1
        return Decision(arms[index], shares[arms[index]])

    def _update(self, arm: str, reward: float, context: tuple[float, ...] | None) -> None:
        self.counts_.add(arm, reward)

    def stats(self) -> dict[str, dict[str, float]]:
        stats = self.counts_.stats()
        for arm, known in stats.items():
            known["weight"] = float(self.weights.get(arm, 0.0))
        return stats
