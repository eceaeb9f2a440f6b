"""Policies that rank arms by an index of their mean reward.

Epsilon-greedy, UCB1, and sliding-window UCB for traffic whose best arm changes.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from mlops_lab.routing._base import Counts, Decision, Policy, greedy, uniform_among


class EpsilonGreedy(Policy):
    """Explore a random arm with probability ``epsilon``, else serve the best mean reward.

    Args:
        epsilon: Share of requests routed at random, in [0, 1].
        seed: Seed of the random draws.

    Example:
        >>> policy = EpsilonGreedy(epsilon=0.1, seed=0)
        >>> policy.choose(["a@1", "b@2"]).arm in {"a@1", "b@2"}
        True
    """

    name = "epsilon_greedy"

    def __init__(self, epsilon: float = 0.1, seed: int | None = None) -> None:
        super().__init__(seed)
        self.epsilon = epsilon
        self.counts_ = Counts()

    def params(self) -> dict[str, Any]:
        return {"epsilon": self.epsilon, **super().params()}

    def _values(self, arms: list[str]) -> dict[str, float]:
        return {arm: self.counts_.mean(arm) for arm in arms}

    def _choose(self, arms: list[str], context: tuple[float, ...] | None) -> Decision:
        best = greedy(arms, self._values(arms))
        if self._rng.random() < self.epsilon:
            arm = arms[self._rng.randrange(len(arms))]
        else:
            arm = best[self._rng.randrange(len(best))]
        explore = self.epsilon / len(arms)
        return Decision(arm, explore + (1 - self.epsilon) / len(best) if arm in best else explore)

    def _probabilities(
        self, arms: list[str], context: tuple[float, ...] | None
    ) -> dict[str, float]:
        exploit = uniform_among(arms, greedy(arms, self._values(arms)))
        return {a: self.epsilon / len(arms) + (1 - self.epsilon) * exploit[a] for a in arms}

    def _update(self, arm: str, reward: float, context: tuple[float, ...] | None) -> None:
        self.counts_.add(arm, reward)

    def stats(self) -> dict[str, dict[str, float]]:
        return self.counts_.stats()


class UCB1(Policy):
    """Serve the arm of highest upper confidence bound: mean + sqrt(2 ln t / n).

    Arms never tried come first. Deterministic but for ties, which are broken at random.

    Args:
        seed: Seed of the tie-breaking draws.
    """

    name = "ucb1"

    def __init__(self, seed: int | None = None) -> None:
        super().__init__(seed)
        self.counts_ = Counts()

    def _total(self, arms: list[str]) -> float:
        return sum(self.counts_.pulls.get(arm, 0.0) for arm in arms)

    def _index(self, arm: str, total: float) -> float:
        pulls = self.counts_.pulls.get(arm, 0.0)
        if pulls <= 0:
            return math.inf
        return self.counts_.mean(arm) + math.sqrt(2 * math.log(max(total, 1.0)) / pulls)

    def _best(self, arms: list[str]) -> list[str]:
        total = self._total(arms)
        return greedy(arms, {arm: self._index(arm, total) for arm in arms})

    def _choose(self, arms: list[str], context: tuple[float, ...] | None) -> Decision:
        best = self._best(arms)
        return Decision(best[self._rng.randrange(len(best))], 1.0 / len(best))

    def _probabilities(
        self, arms: list[str], context: tuple[float, ...] | None
    ) -> dict[str, float]:
        return uniform_among(arms, self._best(arms))

    def _update(self, arm: str, reward: float, context: tuple[float, ...] | None) -> None:
        self.counts_.add(arm, reward)

    def stats(self) -> dict[str, dict[str, float]]:
        return self.counts_.stats()


class SlidingWindowUCB(UCB1):
    """UCB over the last ``window`` rewards only, so that it follows a change of best arm.

    The bound is mean + ``c`` * sqrt(ln(min(t, window)) / n), with t, n and the mean counted
    in the window (Garivier and Moulines, 2011).

    Args:
        window: How many of the latest rewards count.
        c: Width of the confidence bound.
        seed: Seed of the tie-breaking draws.
    """

    name = "sliding_window_ucb"

    def __init__(self, window: int = 500, c: float = 1.0, seed: int | None = None) -> None:
        super().__init__(seed)
        self.window = window
        self.c = c
        self._events: deque[tuple[str, float]] = deque()

    def params(self) -> dict[str, Any]:
        return {"window": self.window, "c": self.c, **super().params()}

    def _index(self, arm: str, total: float) -> float:
        pulls = self.counts_.pulls.get(arm, 0.0)
        if pulls <= 0:
            return math.inf
        bound = math.sqrt(math.log(max(min(total, self.window), 1.0)) / pulls)
        return self.counts_.mean(arm) + self.c * bound

    def _update(self, arm: str, reward: float, context: tuple[float, ...] | None) -> None:
        self._events.append((arm, reward))
        self.counts_.add(arm, reward)
        if len(self._events) > self.window:
            old_arm, old_reward = self._events.popleft()
            self.counts_.add(old_arm, old_reward, weight=-1.0)
            if self.counts_.pulls[old_arm] <= 0:
                del self.counts_.pulls[old_arm], self.counts_.sums[old_arm]
