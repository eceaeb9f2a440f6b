"""LinUCB: a contextual policy whose reward model per arm is linear in the request features."""

from __future__ import annotations

from typing import Any

import numpy as np

from mlops_lab.routing._base import (
    Counts,
    Decision,
    Policy,
    PolicyError,
    uniform_among,
)


class LinUCB(Policy):
    """Serve the arm of highest upper bound of a ridge regression of reward on features.

    Each arm keeps A = I + sum x x^T and b = sum r x over the requests it served (with a
    constant feature appended); its bound for features x is theta . x + alpha sqrt(x A^-1 x)
    with theta = A^-1 b (Li, Chu, Langford and Schapire, 2010, "disjoint" model). A^-1 is
    kept up to date by the Sherman-Morrison formula.

    Args:
        alpha: Width of the confidence bound.
        seed: Seed of the tie-breaking draws.

    Example:
        >>> policy = LinUCB(alpha=0.5, seed=0)
        >>> policy.update("a@1", 0.0, context=[0.2, 1.5])
        >>> policy.choose(["a@1", "b@2"], context=[0.2, 1.5]).arm
        'b@2'
    """

    name = "linucb"
    contextual = True

    def __init__(self, alpha: float = 1.0, seed: int | None = None) -> None:
        super().__init__(seed)
        self.alpha = alpha
        self.dimension_: int | None = None
        self.inverse_: dict[str, np.ndarray] = {}
        self.b_: dict[str, np.ndarray] = {}
        self.theta_: dict[str, np.ndarray] = {}
        self._stack: tuple[tuple[str, ...], np.ndarray, np.ndarray] | None = None
        self.counts_ = Counts()

    def params(self) -> dict[str, Any]:
        return {"alpha": self.alpha, **super().params()}

    def _features(self, context: tuple[float, ...] | None) -> np.ndarray:
        assert context is not None
        if self.dimension_ is None:
            self.dimension_ = len(context)
        elif len(context) != self.dimension_:
            raise PolicyError(
                f"The '{self.name}' policy learned from {self.dimension_} features per request. "
                f"Got {len(context)} instead; send the same features as before."
            )
        return np.array((*context, 1.0))

    def _bounds(self, arms: list[str], x: np.ndarray) -> list[float]:
        """Each live arm's upper bound for features ``x``, in the order of ``arms``.

        A few calls on the live arms' stacked arrays: numpy's cost per call, not the arms or
        the features, sets the time (plain Python floats win only for one feature).
        """
        inverses, thetas = self._stacked(tuple(arms), len(x))
        bounds = thetas @ x + self.alpha * np.sqrt((inverses @ x) @ x)
        return bounds.tolist()

    def _best(self, arms: list[str], context: tuple[float, ...] | None) -> list[str]:
        bounds = self._bounds(arms, self._features(context))
        top = max(bounds)
        return [arm for arm, bound in zip(arms, bounds, strict=True) if bound == top]

    def _stacked(self, arms: tuple[str, ...], size: int) -> tuple[np.ndarray, np.ndarray]:
        """A^-1 and theta of the live arms as arrays (an arm never served: I and 0)."""
        if self._stack is None or self._stack[0] != arms:
            eye, zero = np.eye(size), np.zeros(size)
            inverses = np.stack([self.inverse_.get(arm, eye) for arm in arms])
            thetas = np.stack([self.theta_.get(arm, zero) for arm in arms])
            self._stack = (arms, inverses, thetas)
        return self._stack[1], self._stack[2]

    def _choose(self, arms: list[str], context: tuple[float, ...] | None) -> Decision:
        best = self._best(arms, context)
        if len(best) == 1:
            return Decision(best[0], 1.0)
        return Decision(best[self._rng.randrange(len(best))], 1.0 / len(best))

    def _probabilities(
        self, arms: list[str], context: tuple[float, ...] | None
    ) -> dict[str, float]:
        return uniform_among(arms, self._best(arms, context))

    def _update(self, arm: str, reward: float, context: tuple[float, ...] | None) -> None:
        if context is None:
            raise PolicyError(
                f"The '{self.name}' policy learns from request features: feedback must come "
                "with the features of the request it rewards."
            )
        x = self._features(context)
        inverse = self.inverse_.get(arm)
        if inverse is None:
            inverse = np.eye(len(x))
            self.b_[arm] = np.zeros(len(x))
        ax = inverse @ x
        self.inverse_[arm] = inverse - np.outer(ax, ax) / (1.0 + x @ ax)
        self.b_[arm] = self.b_[arm] + reward * x
        self.theta_[arm] = self.inverse_[arm] @ self.b_[arm]
        if self._stack is not None and arm in self._stack[0]:  # keep the live arms' arrays
            row = self._stack[0].index(arm)
            self._stack[1][row], self._stack[2][row] = self.inverse_[arm], self.theta_[arm]
        self.counts_.add(arm, reward)

    def stats(self) -> dict[str, dict[str, float]]:
        return self.counts_.stats()
