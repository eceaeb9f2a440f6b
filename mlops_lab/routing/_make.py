"""Make a policy by name, checking its parameters before anything is routed."""

from __future__ import annotations

import difflib
import inspect
import math
from typing import Any

from mlops_lab.errors import parameter_error
from mlops_lab.routing._base import Policy, PolicyError
from mlops_lab.routing._index import UCB1, EpsilonGreedy, SlidingWindowUCB
from mlops_lab.routing._linear import LinUCB
from mlops_lab.routing._split import WeightedSplit
from mlops_lab.routing._thompson import DiscountedThompson, Thompson

POLICIES: dict[str, type[Policy]] = {
    cls.name: cls
    for cls in (
        EpsilonGreedy,
        UCB1,
        Thompson,
        DiscountedThompson,
        SlidingWindowUCB,
        LinUCB,
        WeightedSplit,
    )
}

# Each numeric parameter: (lowest, highest, whether the lowest is allowed).
_RANGES: dict[str, tuple[float, float, bool]] = {
    "epsilon": (0.0, 1.0, True),
    "gamma": (0.0, 1.0, False),
    "prior": (0.0, math.inf, False),
    "alpha": (0.0, math.inf, True),
    "c": (0.0, math.inf, True),
    "window": (1, math.inf, True),
    "refresh": (1, math.inf, True),
}

# Parameters that None leaves to the policy's default (which depends on what it learns).
_DEFAULT_WHEN_NONE = frozenset({"gamma"})


def make_policy(name: str, **params: Any) -> Policy:
    """The policy called ``name``, made with ``params``.

    Args:
        name: One of ``epsilon_greedy``, ``ucb1``, ``thompson``, ``discounted_thompson``,
            ``sliding_window_ucb``, ``linucb`` or ``split``.
        **params: The policy's parameters (``epsilon``, ``gamma``, ``window``, ``alpha``, ...).

    Raises:
        PolicyError: an unknown policy or parameter, or a value out of range.

    Example:
        >>> make_policy("discounted_thompson", gamma=0.98, seed=1)
        DiscountedThompson(gamma=0.98, prior=1.0, refresh=64, seed=1)
    """
    if name not in POLICIES:
        must = f"be one of {sorted(POLICIES)}"
        hint = _did_you_mean(name, POLICIES)
        raise PolicyError(parameter_error("policy", "", must, repr(name)) + hint)
    cls = POLICIES[name]
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    for param, value in params.items():
        if param not in accepted:
            raise PolicyError(
                f"The '{name}' policy takes the parameters {accepted}. Got {param!r} instead."
                + _did_you_mean(param, accepted)
            )
        _check_value(name, param, value)
    return cls(**params)


def _check_value(policy: str, param: str, value: Any) -> None:
    if param == "weights":
        _check_weights(value)
        return
    if param == "seed":
        if value is not None and not isinstance(value, int):
            raise PolicyError(parameter_error("seed", "", "be an integer", repr(value)))
        return
    if value is None and param in _DEFAULT_WHEN_NONE:
        return
    low, high, low_allowed = _RANGES[param]
    integer = param in ("window", "refresh")
    kind = int if integer else (int, float)
    # An int too large for a float would make math.isfinite raise: only floats are checked.
    if (
        isinstance(value, bool)
        or not isinstance(value, kind)
        or (isinstance(value, float) and not math.isfinite(value))
    ):
        must = f"be {'an integer' if integer else 'a number'}"
        raise PolicyError(parameter_error(param, f"the '{policy}' policy", must, repr(value)))
    if value < low or (value == low and not low_allowed) or value > high:
        must = f"be in {'[' if low_allowed else '('}{low}, {high}]"
        raise PolicyError(parameter_error(param, f"the '{policy}' policy", must, repr(value)))


# Weights are relative; past this they could not be added up as floats.
_MAX_WEIGHT = 1e12


def _check_weights(weights: Any) -> None:
    if not isinstance(weights, dict) or not weights:
        raise PolicyError(
            "A split needs weights per arm, such as {'churn@1': 0.9, 'churn@2': 0.1}. "
            f"Got {weights!r} instead."
        )
    for arm, weight in weights.items():
        number = isinstance(weight, int | float) and not isinstance(weight, bool)
        if not (number and 0 <= weight <= _MAX_WEIGHT):  # NaN fails the comparison too
            raise PolicyError(
                f"The weight of {arm!r} must be a number from 0 to {_MAX_WEIGHT:g}. "
                f"Got {weight!r} instead."
            )
    if sum(weights.values()) <= 0:
        raise PolicyError(f"At least one weight must be above 0. Got {weights!r} instead.")


def _did_you_mean(word: str, options: Any) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""
