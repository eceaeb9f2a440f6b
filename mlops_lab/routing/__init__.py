"""Routing policies: which model version serves a request, and how sure the choice was.

Pure Python (no Ray): each policy chooses an arm for a request (with the probability it
chose it, logged as the propensity) and learns from rewards; replaying past feedback from
the store rebuilds what it learned, in a restarted router or in another replica.
"""

from __future__ import annotations

from mlops_lab.routing._base import Decision, Event, Policy, PolicyError
from mlops_lab.routing._index import UCB1, EpsilonGreedy, SlidingWindowUCB
from mlops_lab.routing._linear import LinUCB
from mlops_lab.routing._make import POLICIES, make_policy
from mlops_lab.routing._reward import REWARDS, reward_of, same_value
from mlops_lab.routing._split import WeightedSplit
from mlops_lab.routing._thompson import DiscountedThompson, Thompson

__all__ = [
    "POLICIES",
    "REWARDS",
    "UCB1",
    "Decision",
    "DiscountedThompson",
    "EpsilonGreedy",
    "Event",
    "LinUCB",
    "Policy",
    "PolicyError",
    "SlidingWindowUCB",
    "Thompson",
    "WeightedSplit",
    "make_policy",
    "reward_of",
    "same_value",
]
