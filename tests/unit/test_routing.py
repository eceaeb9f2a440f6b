"""Routing policies: valid propensities, only live arms, convergence, replay, clear errors."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlops_lab.routing import POLICIES, Event, PolicyError, make_policy

ARMS = [f"m@{i}" for i in range(6)]
CONTEXT_FREE = sorted(name for name in POLICIES if name not in ("linucb", "split"))


def _policy(name: str, seed: int = 0):
    if name == "split":
        return make_policy(name, weights={arm: 1.0 + i for i, arm in enumerate(ARMS)}, seed=seed)
    return make_policy(name, seed=seed)


def _context(name: str, rng: random.Random) -> list[float] | None:
    return [rng.uniform(-1, 1), rng.uniform(-1, 1)] if name == "linucb" else None


history = st.lists(
    st.tuples(st.sampled_from(ARMS), st.floats(min_value=0.0, max_value=1.0)), max_size=60
)
live_arms = st.lists(st.sampled_from(ARMS), min_size=1, max_size=6, unique=True)


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from(sorted(POLICIES)), events=history, live=live_arms, seed=st.integers(0, 9)
)
def test_propensities_are_probabilities_over_live_arms(name, events, live, seed) -> None:
    """After any feedback, the probabilities over the live arms are in [0, 1] and sum to 1,
    the chosen arm is live, and its propensity is above 0 and matches its probability."""
    policy, rng = _policy(name, seed), random.Random(seed)
    for arm, reward in events:
        policy.update(arm, reward, _context(name, rng))
    context = _context(name, rng)
    shares = policy.probabilities(live, context)
    assert set(shares) == set(live)
    assert all(0.0 <= p <= 1.0 for p in shares.values())
    assert sum(shares.values()) == pytest.approx(1.0)
    decision = policy.choose(live, context)
    assert decision.arm in live
    assert 0.0 < decision.propensity <= 1.0
    assert decision.propensity == pytest.approx(shares[decision.arm])


def _simulate(policy, means, steps, rng, switch_at=None, switched=None):
    """Bernoulli rewards; returns the arms chosen, in order."""
    chosen = []
    for step in range(steps):
        if switch_at is not None and step == switch_at:
            means = switched
        arm = policy.choose(list(means)).arm
        policy.update(arm, 1.0 if rng.random() < means[arm] else 0.0)
        chosen.append(arm)
    return chosen


@pytest.mark.parametrize("name", CONTEXT_FREE)
def test_each_policy_converges_to_the_best_arm(name) -> None:
    """With Bernoulli rewards 0.3 / 0.5 / 0.7, most of the late traffic goes to the best."""
    means = {"a@1": 0.3, "b@1": 0.5, "c@1": 0.7}
    chosen = _simulate(make_policy(name, seed=1), means, 3000, random.Random(1))
    late = Counter(chosen[-1000:])
    assert late["c@1"] > 700, late


@pytest.mark.parametrize("name", ["discounted_thompson", "sliding_window_ucb"])
def test_a_forgetting_policy_follows_a_new_best_arm(name) -> None:
    """When the best arm changes, a discounted or windowed policy moves the traffic to the
    new best within 500 requests."""
    before = {"a@1": 0.7, "b@1": 0.5, "c@1": 0.3}
    after = {"a@1": 0.3, "b@1": 0.5, "c@1": 0.7}
    chosen = _simulate(make_policy(name, seed=2), before, 3000, random.Random(2), 2000, after)
    assert Counter(chosen[1500:2000])["a@1"] > 300
    assert Counter(chosen[2500:])["c@1"] > 300


def test_linucb_learns_which_arm_suits_which_request() -> None:
    """The better arm depends on the sign of the first feature; LinUCB learns both halves."""
    policy, rng = make_policy("linucb", alpha=0.3, seed=3), random.Random(3)
    correct = []
    for _ in range(3000):
        x = [rng.uniform(-1, 1), rng.uniform(-1, 1)]
        best = "pos@1" if x[0] > 0 else "neg@1"
        arm = policy.choose(["pos@1", "neg@1"], x).arm
        policy.update(arm, 1.0 if rng.random() < (0.8 if arm == best else 0.2) else 0.0, x)
        correct.append(arm == best)
    assert sum(correct[-1000:]) > 850


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_replaying_feedback_rebuilds_what_was_learned(name) -> None:
    """A policy rebuilt from the events of another knows what it knew."""
    rng = random.Random(4)
    events = [
        Event(rng.choice(ARMS[:3]), float(rng.random() < 0.5), _context_tuple(name, rng))
        for _ in range(200)
    ]
    learned, rebuilt = _policy(name), _policy(name)
    for event in events:
        learned.update(event.arm, event.reward, event.context)
    rebuilt.replay(events)
    assert rebuilt.stats() == learned.stats()
    context = _context(name, rng)
    assert rebuilt.probabilities(ARMS[:3], context) == learned.probabilities(ARMS[:3], context)


def _context_tuple(name: str, rng: random.Random) -> tuple[float, ...] | None:
    context = _context(name, rng)
    return tuple(context) if context else None


def test_a_split_follows_its_weights_over_live_arms() -> None:
    """A 90/10 split sends about 10% to the canary; an arm that is not live gets nothing."""
    split = make_policy("split", weights={"a@1": 0.9, "b@2": 0.1, "c@3": 5.0}, seed=5)
    counts = Counter(split.choose(["a@1", "b@2"]).arm for _ in range(20000))
    assert counts["b@2"] / 20000 == pytest.approx(0.1, abs=0.01)
    assert "c@3" not in counts


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("thomson", {}, "must be one of .* Did you mean 'thompson'"),
        ("epsilon_greedy", {"epsilon": 1.5}, r"'epsilon' parameter .* must be in \[0.0, 1.0\]"),
        ("discounted_thompson", {"gamma": 0.0}, r"'gamma' .* must be in \(0.0, 1.0\]"),
        ("sliding_window_ucb", {"window": 0}, r"'window' .* must be in \[1, inf\]"),
        ("sliding_window_ucb", {"window": 2.5}, "'window' .* must be an integer"),
        ("ucb1", {"epsilon": 0.1}, "takes the parameters"),
        ("split", {"weights": {"a@1": -1}}, "weight of 'a@1' must be a number from 0 to"),
        ("split", {"weights": {"a@1": 0}}, "At least one weight must be above 0"),
    ],
)
def test_bad_parameters_are_refused_clearly(name, params, message) -> None:
    """Each mistake names the parameter, what was expected and what was received."""
    with pytest.raises(PolicyError, match=message):
        make_policy(name, **params)


def test_bad_requests_and_rewards_are_refused_clearly() -> None:
    """No live arm, a missing context, a changed feature count, a reward out of range."""
    with pytest.raises(PolicyError, match="no live arm"):
        make_policy("ucb1").choose([])
    with pytest.raises(PolicyError, match="pass the request's features"):
        make_policy("linucb").choose(["a@1"])
    linucb = make_policy("linucb")
    linucb.update("a@1", 1.0, [0.1, 0.2])
    with pytest.raises(PolicyError, match="learned from 2 features per request. Got 3"):
        linucb.choose(["a@1"], [0.1, 0.2, 0.3])
    with pytest.raises(PolicyError, match=r"rewards in \[0, 1\]. Got 2.0"):
        make_policy("thompson").update("a@1", 2.0)
    with pytest.raises(PolicyError, match="finite number"):
        make_policy("ucb1").update("a@1", float("nan"))
