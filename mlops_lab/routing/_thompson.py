"""Thompson sampling on Beta posteriors, and its discounted variant for changing traffic.

Rewards are in [0, 1]: a correct prediction (1) or not (0), or a business reward scaled to
that range; a fractional reward updates both counts (success r, failure 1 - r).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlops_lab.routing._base import Decision, Policy, PolicyError

# Joint posterior samples drawn at a time (each arm's share of wins is within 1.6 points of
# its Thompson probability), and the most updates a bank may be behind.
PROPENSITY_DRAWS = 1000
REFRESH_EVERY = 64


class Thompson(Policy):
    """Serve the arm whose draw from its Beta posterior is highest (Thompson sampling).

    The probability of choosing an arm (the propensity logged with each request) has no
    closed form. So the policy draws a bank of ``PROPENSITY_DRAWS`` joint posterior samples,
    notes the winning arm of each, and serves each request the winner of one sample picked at
    random: the share of an arm's wins is then exactly the probability with which it is
    served. The bank is redrawn when the live arms change, and after ``refresh`` updates, or
    sooner while the posteriors are young and move fast (after a sixteenth of the updates so
    far).

    Args:
        prior: Beta(prior, prior) before any reward.
        refresh: The most updates after which the bank is redrawn.
        seed: Seed of the posterior draws.

    Example:
        >>> policy = Thompson(seed=0)
        >>> policy.update("b@2", 1.0)
        >>> round(sum(policy.probabilities(["a@1", "b@2"]).values()), 6)
        1.0
    """

    name = "thompson"

    def __init__(
        self, prior: float = 1.0, refresh: int = REFRESH_EVERY, seed: int | None = None
    ) -> None:
        super().__init__(seed)
        self.prior = prior
        self.refresh = refresh
        self.successes_: dict[str, float] = {}
        self.failures_: dict[str, float] = {}
        self._numpy = np.random.default_rng(seed)
        self._bank: tuple[tuple[str, ...], int, list[str], dict[str, float]] | None = None

    def params(self) -> dict[str, Any]:
        return {"prior": self.prior, "refresh": self.refresh, **super().params()}

    def _posterior(self, arm: str) -> tuple[float, float]:
        return (
            self.prior + self.successes_.get(arm, 0.0),
            self.prior + self.failures_.get(arm, 0.0),
        )

    def _choose(self, arms: list[str], context: tuple[float, ...] | None) -> Decision:
        _, _, winners, shares = self._current_bank(arms)
        arm = winners[self._rng.randrange(len(winners))]
        return Decision(arm, shares[arm])

    def _probabilities(
        self, arms: list[str], context: tuple[float, ...] | None
    ) -> dict[str, float]:
        return dict(self._current_bank(arms)[3])

    def _current_bank(
        self, arms: list[str]
    ) -> tuple[tuple[str, ...], int, list[str], dict[str, float]]:
        key = tuple(arms)
        every = max(1, min(self.refresh, self.updates_ // 16))
        bank = self._bank
        if bank is None or bank[0] != key or self.updates_ - bank[1] >= every:
            a, b = np.array([self._posterior(arm) for arm in arms]).T
            draws = self._numpy.beta(a[:, None], b[:, None], size=(len(arms), PROPENSITY_DRAWS))
            best = draws.argmax(axis=0)
            wins = np.bincount(best, minlength=len(arms)) / PROPENSITY_DRAWS
            winners = [arms[i] for i in best.tolist()]
            shares = dict(zip(arms, wins.tolist(), strict=True))
            bank = self._bank = (key, self.updates_, winners, shares)
        return bank

    def _reward(self, reward: float) -> float:
        value = super()._reward(reward)
        if not 0.0 <= value <= 1.0:
            raise PolicyError(
                f"The '{self.name}' policy takes rewards in [0, 1]. Got {reward!r} instead; "
                "scale the reward, or use 'ucb1' or 'epsilon_greedy' for unbounded rewards."
            )
        return value

    def _update(self, arm: str, reward: float, context: tuple[float, ...] | None) -> None:
        self.successes_[arm] = self.successes_.get(arm, 0.0) + reward
        self.failures_[arm] = self.failures_.get(arm, 0.0) + 1.0 - reward

    def stats(self) -> dict[str, dict[str, float]]:
        stats = {}
        for arm in self.successes_:
            a, b = self._posterior(arm)
            pulls = self.successes_[arm] + self.failures_[arm]
            stats[arm] = {"pulls": pulls, "mean_reward": a / (a + b), "alpha": a, "beta": b}
        return stats


class DiscountedThompson(Thompson):
    """Thompson sampling that forgets: every update first multiplies all counts by ``gamma``.

    Old rewards fade with a memory of about 1 / (1 - gamma) updates, so when the best arm
    changes the posteriors follow (Raj and Kalyani, 2017).

    Args:
        gamma: Discount per update, in (0, 1]; 1 is plain Thompson sampling.
        prior: Beta(prior, prior) before any reward.
        refresh: The most updates after which the propensity estimate is redrawn.
        seed: Seed of the posterior draws.
    """

    name = "discounted_thompson"

    def __init__(
        self, gamma: float = 0.99, prior: float = 1.0, refresh: int = REFRESH_EVERY,
        seed: int | None = None,
    ) -> None:  # fmt: skip
        super().__init__(prior=prior, refresh=refresh, seed=seed)
        self.gamma = gamma

    def params(self) -> dict[str, Any]:
        return {"gamma": self.gamma, **super().params()}

    def _update(self, arm: str, reward: float, context: tuple[float, ...] | None) -> None:
        for counts in (self.successes_, self.failures_):
            for key in counts:
                counts[key] *= self.gamma
        super()._update(arm, reward, context)
