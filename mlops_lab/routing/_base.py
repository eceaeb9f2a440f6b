"""What every routing policy shares: decisions, feedback events, live arms and replay."""

from __future__ import annotations

import math
import random
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from mlops_lab.errors import LabError

Context = Sequence[float] | None


class PolicyError(LabError, ValueError):
    """A policy was asked for something it cannot do; the message says how to fix it."""


@dataclass(frozen=True)
class Decision:
    """The arm chosen for one request, and the probability with which it was chosen."""

    arm: str
    propensity: float


@dataclass(frozen=True)
class Event:
    """Feedback on one routed request: the arm that served it and the reward it earned.

    A policy's sufficient statistics are a function of its events in order, so replaying the
    events kept in the store rebuilds what a policy had learned.
    """

    arm: str
    reward: float
    context: tuple[float, ...] | None = None


class Policy(ABC):
    """Chooses an arm (a model version) for each request and learns from rewards.

    Args:
        seed: Seed of the policy's random draws, for reproducible simulations.
    """

    #: Name under which :func:`~mlops_lab.routing.make_policy` knows the policy.
    name = ""
    #: Whether the policy reads request features (it then needs a context to choose).
    contextual = False

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed
        self._rng = random.Random(seed)
        self.updates_ = 0

    def choose(self, arms: Sequence[str], context: Context = None) -> Decision:
        """Pick one of the live ``arms`` for a request.

        Raises:
            PolicyError: no live arm, or a contextual policy without a context.
        """
        live = check_arms(arms)
        return self._choose(live, self._context(context))

    def probabilities(self, arms: Sequence[str], context: Context = None) -> dict[str, float]:
        """The probability of choosing each live arm now (they sum to 1)."""
        live = check_arms(arms)
        return self._probabilities(live, self._context(context))

    def update(self, arm: str, reward: float, context: Context = None) -> None:
        """Learn from the reward earned by a request that ``arm`` served."""
        try:
            self._learn(arm, reward, context)
        finally:
            self._settle()

    def replay(self, events: Iterable[Event]) -> None:
        """Apply past feedback in order, as after a restart or in a new router replica.

        The same as updating with each event in turn, but for the work the updates set off
        (redrawing Thompson's bank), which is done once for the whole batch.
        """
        try:
            for event in events:
                self._learn(event.arm, event.reward, event.context)
        finally:
            self._settle()

    def _learn(self, arm: str, reward: float, context: Context) -> None:
        self._update(arm, self._reward(reward), self._context(context, needed=False))
        self.updates_ += 1

    def _settle(self) -> None:  # noqa: B027 - a hook: most policies have nothing to finish
        """Finish what a batch of updates set off; nothing for most policies."""

    @abstractmethod
    def stats(self) -> dict[str, dict[str, float]]:
        """What the policy knows of each arm it has seen (pulls, mean reward, ...)."""

    @abstractmethod
    def _choose(self, arms: list[str], context: tuple[float, ...] | None) -> Decision: ...

    @abstractmethod
    def _probabilities(
        self, arms: list[str], context: tuple[float, ...] | None
    ) -> dict[str, float]: ...

    @abstractmethod
    def _update(self, arm: str, reward: float, context: tuple[float, ...] | None) -> None: ...

    def _reward(self, reward: float) -> float:
        value = float(reward)
        if not math.isfinite(value):
            raise PolicyError(f"A reward must be a finite number. Got {reward!r} instead.")
        return value

    def _context(self, context: Context, needed: bool = True) -> tuple[float, ...] | None:
        if context is None:
            if self.contextual and needed:
                raise PolicyError(
                    f"The '{self.name}' policy chooses from request features: pass the "
                    "request's features as the context."
                )
            return None
        return tuple(map(float, context))

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({params})"

    def params(self) -> dict[str, Any]:
        """The parameters the policy was made with."""
        return {"seed": self.seed}


class Counts:
    """Pulls and reward sums per arm, and what policies report of them."""

    def __init__(self) -> None:
        self.pulls: dict[str, float] = {}
        self.sums: dict[str, float] = {}

    def add(self, arm: str, reward: float, weight: float = 1.0) -> None:
        self.pulls[arm] = self.pulls.get(arm, 0.0) + weight
        self.sums[arm] = self.sums.get(arm, 0.0) + weight * reward

    def mean(self, arm: str) -> float:
        pulls = self.pulls.get(arm, 0.0)
        return self.sums[arm] / pulls if pulls > 0 else 0.0

    def stats(self) -> dict[str, dict[str, float]]:
        return {arm: {"pulls": n, "mean_reward": self.mean(arm)} for arm, n in self.pulls.items()}


def check_arms(arms: Sequence[str]) -> list[str]:
    """The live arms as a list: at least one, no duplicates."""
    live = list(arms)
    if not live:
        raise PolicyError("There is no live arm to route to: deploy a model version first.")
    if len(set(live)) != len(live):
        raise PolicyError(f"Each arm may appear once. Got {live!r} instead.")
    return live


def greedy(arms: list[str], value: dict[str, float]) -> list[str]:
    """The arms of highest value (several when tied)."""
    best = max(value[arm] for arm in arms)
    return [arm for arm in arms if value[arm] == best]


def uniform_among(arms: list[str], chosen: list[str]) -> dict[str, float]:
    """Probabilities spread evenly over ``chosen``, zero for the other ``arms``."""
    share = 1.0 / len(chosen)
    return {arm: share if arm in chosen else 0.0 for arm in arms}
