"""The reward of one piece of feedback, by the endpoint's rule.

The one rule by which bandits learn, and by which live accuracy and the evaluation of
routing policies from the log count.
"""

from __future__ import annotations

import math
from typing import Any

# How an endpoint turns feedback into a reward: the truth against the prediction, or the
# reward sent with the feedback (a business metric).
REWARDS = ("accuracy", "reward")


def reward_of(rule: str, prediction: Any, truth: Any = None, reward: Any = None) -> float | None:
    """The reward a prediction earned by ``rule``, or None if the feedback has none to give.

    ``"accuracy"``: 1.0 when the truth equals the prediction (numbers by value, so 2 equals
    2.0; anything else also by its text), 0.0 when not, None without a truth. ``"reward"``:
    the feedback's reward as a float, None without a finite one.

    Example:
        >>> reward_of("accuracy", prediction=2, truth=2.0), reward_of("reward", "a", reward=3)
        (1.0, 3.0)
    """
    if rule == "reward":
        if reward is None or not math.isfinite(reward):
            return None
        return float(reward)
    if truth is None:
        return None
    return 1.0 if same_value(truth, prediction) else 0.0


def same_value(truth: Any, prediction: Any) -> bool:
    """Whether a truth equals a prediction: as values, as numbers, or as text.

    Example:
        >>> same_value(1, 1.0), same_value("1", 1), same_value(2**70, 1.0)
        (True, True, False)
    """
    if truth == prediction:
        return True
    numbers = (int, float)
    if isinstance(truth, numbers) and isinstance(prediction, numbers):
        try:
            return math.isclose(float(truth), float(prediction))
        except OverflowError:  # a whole number beyond float64 equals no prediction
            return False
    return str(truth) == str(prediction)
