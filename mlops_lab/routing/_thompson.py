"""Thompson sampling on Beta posteriors, and its discounted variant for changing traffic.

Rewards are in [0, 1]: a correct prediction (1) or not (0), or a business reward scaled to
that range; a fractional reward updates both counts (success r, failure 1 - r).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from mlops_lab.routing._bank import DrawBank
from mlops_lab.routing._base import Decision, Policy, PolicyError

# Joint posterior samples in the bank (each arm's share of wins is within 1.6 points of its
# Thompson probability), and the most updates it takes to redraw all of them.
PROPENSITY_DRAWS = 1000
REFRESH_EVERY = 64
# While posteriors are young and move fast the bank turns over sooner (in a sixteenth of the
# updates so far), but never in fewer updates than this: it bounds the work of one update.
FASTEST_TURNOVER = 8
# The default memory of the discounted variant, in updates per arm that has had feedback.
MEMORY_PER_ARM = 100


class Thompson(Policy):
    """Serve the arm whose draw from its Beta posterior is highest (Thompson sampling).

    The probability of choosing an arm (the propensity logged with each request) has no
    closed form. So the policy keeps a bank of ``PROPENSITY_DRAWS`` joint posterior samples
    and the winning arm of each, and serves each request the winner of one sample picked at
    random: the share of an arm's wins in the bank as it is then is exactly the probability
    with which it is served. A decision draws nothing. Each update redraws the next slice
    of the bank from the new posteriors, so that the whole bank is redrawn within
    ``refresh`` updates (sooner while the posteriors are young, but never in fewer than
    ``FASTEST_TURNOVER``): the work is spread over the updates, a slice each, and a replayed
    batch draws its slices at once (at most the whole bank). The bank is drawn whole only
    for the first decision and when the live arms change.

    Args:
        prior: Beta(prior, prior) before any reward.
        refresh: The most updates it takes to redraw the whole bank.
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
        self.bank_: DrawBank | None = None
        self._numpy = np.random.default_rng(seed)
        self._owed = 0  # columns of the bank that updates since the last refresh have earned

    def params(self) -> dict[str, Any]:
        return {"prior": self.prior, "refresh": self.refresh, **super().params()}

    def _posterior(self, arm: str) -> tuple[float, float]:
        return (
            self.prior + self.successes_.get(arm, 0.0),
            self.prior + self.failures_.get(arm, 0.0),
        )

    def _choose(self, arms: list[str], context: tuple[float, ...] | None) -> Decision:
        bank = self._current_bank(arms)
        arm = bank.winners[self._rng.randrange(bank.size)]
        return Decision(bank.arms[arm], bank.wins[arm] / bank.size)

    def _probabilities(
        self, arms: list[str], context: tuple[float, ...] | None
    ) -> dict[str, float]:
        return self._current_bank(arms).shares()

    def _current_bank(self, arms: list[str]) -> DrawBank:
        bank = self.bank_
        if bank is None or bank.arms != tuple(arms):
            bank = self.bank_ = DrawBank(tuple(arms), PROPENSITY_DRAWS)
            self._redraw(bank, bank.size)
        return bank

    def _redraw(self, bank: DrawBank, columns: int) -> None:
        a, b = np.array([self._posterior(arm) for arm in bank.arms]).T
        bank.redraw(self._numpy, a, b, columns, stamp=self.updates_)

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
        turnover = min(self.refresh, max(FASTEST_TURNOVER, (self.updates_ + 1) // 16))
        self._owed += math.ceil(PROPENSITY_DRAWS / turnover)

    def _settle(self) -> None:
        """Redraw the slices of the bank that the updates since the last call earned."""
        owed, self._owed = self._owed, 0
        if self.bank_ is not None and owed:
            self._redraw(self.bank_, min(owed, self.bank_.size))

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
    changes the posteriors follow (Raj and Kalyani, 2017). All arms share that memory: with
    K arms, an arm served 1/K of the traffic keeps about 1 / ((1 - gamma) K) of its own
    rewards. So by default (``gamma=None``) the memory is ``MEMORY_PER_ARM`` (100) updates
    per arm that has had feedback: gamma = 1 - 1 / (100 K), 0.995 for two arms, 0.999 for
    ten.

    What it trades: a longer memory tells close arms apart (less regret while the best arm
    stays the best), a shorter one follows a change of best arm sooner; forgetting always
    costs some regret when nothing changes, since the posteriors never narrow for good. In
    ``bench/bandit_regret.py`` the default moves traffic to a new best of three arms in
    about 200 requests, and with ten arms sends the best one about three times the share a
    fixed gamma of 0.99 did; a fixed gamma keeps its memory however many arms share it.

    Args:
        gamma: Discount per update, in (0, 1]; 1 is plain Thompson sampling; None for the
            default above.
        prior: Beta(prior, prior) before any reward.
        refresh: The most updates it takes to redraw the whole bank of posterior draws.
        seed: Seed of the posterior draws.

    Example:
        >>> policy = DiscountedThompson(seed=0)
        >>> for arm in ("a@1", "b@2", "c@3"):
        ...     policy.update(arm, 1.0)
        >>> round(policy.discount(), 5)  # 1 - 1 / (100 * 3)
        0.99667
    """

    name = "discounted_thompson"

    def __init__(
        self, gamma: float | None = None, prior: float = 1.0, refresh: int = REFRESH_EVERY,
        seed: int | None = None,
    ) -> None:  # fmt: skip
        super().__init__(prior=prior, refresh=refresh, seed=seed)
        self.gamma = gamma

    def params(self) -> dict[str, Any]:
        return {"gamma": self.gamma, **super().params()}

    def discount(self) -> float:
        """The discount of the next update: ``gamma``, or by default one for the arms seen."""
        if self.gamma is not None:
            return self.gamma
        return 1.0 - 1.0 / (MEMORY_PER_ARM * max(len(self.successes_), 1))

    def _update(self, arm: str, reward: float, context: tuple[float, ...] | None) -> None:
        self.successes_.setdefault(arm, 0.0)
        self.failures_.setdefault(arm, 0.0)
        gamma = self.discount()
        for counts in (self.successes_, self.failures_):
            for key in counts:
                counts[key] *= gamma
        super()._update(arm, reward, context)
