"""An endpoint's routes and the rollout steps that change them (split, canary, shadow, bandit).

Pure data: each step checks its arguments and returns new :class:`Routes`; the router turns
routes into a policy, and every change gets a new ``route_id`` so that logged requests and
their feedback can be traced to the routes that served them.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from mlops_lab.errors import parameter_error
from mlops_lab.routing._base import Policy, PolicyError
from mlops_lab.routing._make import make_policy
from mlops_lab.routing._reward import REWARDS


@dataclass(frozen=True)
class Canary:
    """A candidate taking a growing share of traffic from a baseline, step by step."""

    candidate: str
    baseline: str
    steps: tuple[float, ...]
    step: int = 0

    @property
    def share(self) -> float:
        """The candidate's share of traffic at the current step."""
        return self.steps[self.step]


@dataclass(frozen=True)
class Routes:
    """How an endpoint routes its requests.

    Attributes:
        arms: The model versions ("name@version") that may serve a request.
        policy: "split" (fixed weights) or a bandit policy name.
        params: The policy's parameters (``weights`` for a split).
        reward: What a bandit learns from: "accuracy" (truth equals prediction) or "reward".
        shadow: Model versions that see every request; their outputs are logged only.
        canary: The canary in progress, if any.
        route_id: Identifies these routes in the request log.
    """

    arms: tuple[str, ...]
    policy: str = "split"
    params: Mapping[str, Any] = field(default_factory=dict)
    reward: str = "accuracy"
    shadow: tuple[str, ...] = ()
    canary: Canary | None = None
    route_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])

    @property
    def models(self) -> tuple[str, ...]:
        """Every model version the routes use: the arms, then the shadows."""
        return self.arms + tuple(arm for arm in self.shadow if arm not in self.arms)

    @property
    def is_bandit(self) -> bool:
        """Whether the routes learn from feedback."""
        return self.policy != "split"

    def make_policy(self) -> Policy:
        """A fresh policy for these routes."""
        return make_policy(self.policy, **self.params)

    def to_json(self) -> dict[str, Any]:
        """The routes as JSON-ready values (stored with the endpoint, sent to the router)."""
        canary = None
        if self.canary is not None:
            canary = {**self.canary.__dict__, "steps": list(self.canary.steps)}
        return {
            "arms": list(self.arms),
            "policy": self.policy,
            "params": dict(self.params),
            "reward": self.reward,
            "shadow": list(self.shadow),
            "canary": canary,
            "route_id": self.route_id,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Routes:
        """Routes from :meth:`to_json` values."""
        canary = data.get("canary")
        return cls(
            arms=tuple(data["arms"]),
            policy=data["policy"],
            params=dict(data["params"]),
            reward=data["reward"],
            shadow=tuple(data["shadow"]),
            canary=None
            if canary is None
            else Canary(**{**canary, "steps": tuple(canary["steps"])}),
            route_id=data["route_id"],
        )


def single(arm: str) -> Routes:
    """All traffic to one model version."""
    return Routes(arms=(arm,), params={"weights": {arm: 1.0}})


def split(current: Routes, weights: Mapping[str, float]) -> Routes:
    """A fixed split of traffic by weight (an A/B test); ends a canary or a bandit.

    Example:
        >>> split(single("a@1"), {"a@1": 0.9, "b@2": 0.1}).params["weights"]
        {'a@1': 0.9, 'b@2': 0.1}
    """
    weights = {str(arm): weight for arm, weight in dict(weights).items()}
    make_policy("split", weights=weights)  # checks the weights
    return _changed(current, arms=tuple(weights), policy="split", params={"weights": weights})


def start_canary(current: Routes, candidate: str, steps: Sequence[float]) -> Routes:
    """Send ``steps[0]`` of traffic to ``candidate``, the rest to the one serving model.

    Raises:
        PolicyError: the endpoint is not served by exactly one model, the candidate is that
            model, or the steps are not increasing shares in (0, 1].
    """
    if len(current.arms) != 1 or current.is_bandit:
        raise PolicyError(
            f"A canary starts from one serving model; the endpoint now routes between "
            f"{list(current.arms)} with '{current.policy}'. Promote or split to one model "
            "first, e.g. ep.split({'name@1': 1.0})."
        )
    baseline = current.arms[0]
    if candidate == baseline:
        raise PolicyError(
            f"The canary candidate {candidate!r} already serves all traffic. "
            "Canary a different model version, e.g. ep.canary('name@2')."
        )
    shares = _check_steps(steps)
    canary = Canary(candidate=candidate, baseline=baseline, steps=shares)
    return _canary_step(current, canary)


def advance(current: Routes) -> Routes:
    """Move the canary to its next step.

    Raises:
        PolicyError: no canary runs, or it is at its last step (promote it).
    """
    canary = _running_canary(current, "advance")
    if canary.step + 1 >= len(canary.steps):
        raise PolicyError(
            f"The canary of {canary.candidate!r} is at its last step ({canary.share:.0%}). "
            "Call promote() to make it the only model, or rollback()."
        )
    return _canary_step(current, replace(canary, step=canary.step + 1))


def rollback(current: Routes) -> Routes:
    """Stop the canary: all traffic back to the baseline."""
    canary = _running_canary(current, "rollback")
    return _changed(single(canary.baseline), shadow=current.shadow)


def promote(current: Routes) -> Routes:
    """End the canary: all traffic to the candidate."""
    canary = _running_canary(current, "promote")
    return _changed(single(canary.candidate), shadow=current.shadow)


def shadow(current: Routes, arms: Sequence[str]) -> Routes:
    """Let ``arms`` see every request (outputs logged, never returned); () stops shadowing.

    Raises:
        PolicyError: a shadow is also an arm that serves traffic.
    """
    serving = [arm for arm in arms if arm in current.arms]
    if serving:
        raise PolicyError(
            f"{serving} already serve traffic on this endpoint and cannot also shadow it. "
            f"Shadow a model version that is not among {list(current.arms)}."
        )
    return replace(current, shadow=tuple(dict.fromkeys(arms)))


def bandit(
    current: Routes, arms: Sequence[str], policy: str, reward: str, params: Mapping[str, Any]
) -> Routes:
    """Let a bandit policy route between ``arms``, learning from feedback; ends a canary.

    Raises:
        PolicyError: fewer than two arms, an unknown policy, parameter or reward.
    """
    arms = tuple(dict.fromkeys(arms))
    if len(arms) < 2:
        raise PolicyError(
            f"A bandit needs at least two model versions to choose from. Got {list(arms)}."
        )
    if policy == "split":
        raise PolicyError("For a fixed split call split({...}) instead of bandit().")
    if reward not in REWARDS:
        must = f"be one of {list(REWARDS)}"
        raise PolicyError(parameter_error("reward", "bandit()", must, repr(reward)))
    make_policy(policy, **params)  # checks the name and parameters
    return _changed(current, arms=arms, policy=policy, params=dict(params), reward=reward)


def _changed(current: Routes, **changes: Any) -> Routes:
    """New routes (a new route_id); shadows that now serve traffic stop shadowing."""
    routes = replace(current, canary=None, route_id=uuid.uuid4().hex[:16], **changes)
    return replace(routes, shadow=tuple(arm for arm in routes.shadow if arm not in routes.arms))


def _canary_step(current: Routes, canary: Canary) -> Routes:
    weights = {canary.baseline: 1.0 - canary.share, canary.candidate: canary.share}
    routes = _changed(current, arms=tuple(weights), policy="split", params={"weights": weights})
    return replace(routes, canary=canary)


def _running_canary(current: Routes, step: str) -> Canary:
    if current.canary is None:
        raise PolicyError(
            f"No canary runs on this endpoint, so there is nothing to {step}. Start one with "
            "ep.canary('name@2', steps=[0.05, 0.25, 0.5, 1.0])."
        )
    return current.canary


def _check_steps(steps: Sequence[float]) -> tuple[float, ...]:
    values = list(steps) if isinstance(steps, list | tuple) else None
    ok = bool(values) and all(
        # The range first: math.isfinite() overflows on ints too large for a float.
        not isinstance(s, bool) and isinstance(s, int | float) and 0 < s <= 1 and math.isfinite(s)
        for s in values or ()
    )
    if not ok or values != sorted(set(values or [])):
        must = "be a list of increasing traffic shares in (0, 1], such as [0.05, 0.25, 0.5, 1.0]"
        raise PolicyError(parameter_error("steps", "canary()", must, repr(steps)))
    return tuple(float(s) for s in values or ())
