"""Routing policies whose every call is cheap: Thompson's bank redrawn a slice per update,
LinUCB's inverse kept by rank-one updates, and the discounted memory sized by the arms."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate
from scipy import stats as distributions

from mlops_lab.routing import Event, make_policy
from mlops_lab.routing._bank import DrawBank
from mlops_lab.routing._thompson import FASTEST_TURNOVER, MEMORY_PER_ARM, PROPENSITY_DRAWS

ARMS = ["a@1", "b@1", "c@1", "d@1"]
THOMPSONS = ["thompson", "discounted_thompson"]

# One step of a router's life: a decision, an update, or a batch of feedback replayed.
steps = st.one_of(
    st.tuples(st.just("choose"), st.just(0)),
    st.tuples(st.just("update"), st.integers(0, len(ARMS) - 1)),
    st.tuples(st.just("replay"), st.integers(1, 150)),
)


def _reward(rng: random.Random, arm: str) -> float:
    return float(rng.random() < 0.2 + 0.2 * ARMS.index(arm))


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from(THOMPSONS),
    history=st.lists(steps, min_size=1, max_size=40),
    live=st.lists(st.sampled_from(ARMS), min_size=1, max_size=4, unique=True),
    seed=st.integers(0, 9),
)
def test_every_propensity_is_the_share_of_the_bank_its_arm_wins(name, history, live, seed):
    """Whatever decisions and feedback came before, each decision's arm is the winner of one
    of the bank's draws, its propensity is the share of the draws that arm wins in the bank
    as it is then, and the shares over the live arms sum to 1."""
    policy, rng = make_policy(name, seed=seed), random.Random(seed)
    for kind, value in [*history, ("choose", 0)]:
        if kind == "choose":
            decision = policy.choose(live)
            bank = policy.bank_
            wins = Counter(bank.arms[i] for i in bank.winners.tolist())
            assert decision.arm in wins
            assert wins[decision.arm] / PROPENSITY_DRAWS == decision.propensity
            assert {arm: wins[arm] / PROPENSITY_DRAWS for arm in live} == policy.probabilities(live)
            assert sum(bank.wins) == PROPENSITY_DRAWS
        elif kind == "update":
            policy.update(ARMS[value], _reward(rng, ARMS[value]))
        else:
            played = [rng.choice(live) for _ in range(value)]
            policy.replay(Event(arm, _reward(rng, arm)) for arm in played)


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from(THOMPSONS),
    refresh=st.integers(1, 12) | st.integers(13, 200),
    history=st.lists(steps, min_size=1, max_size=60),
    seed=st.integers(0, 9),
)
def test_no_draw_in_the_bank_is_older_than_refresh_updates(name, refresh, history, seed):
    """Updates redraw the bank a slice at a time, yet every draw in it was made within the
    last ``refresh`` updates (or since the bank was made), whether feedback came one by one
    or in replayed batches."""
    policy = make_policy(name, refresh=refresh, seed=seed)
    rng = random.Random(seed)
    for kind, value in history:
        if kind == "choose":
            policy.choose(ARMS)
        elif kind == "update":
            policy.update(ARMS[value], _reward(rng, ARMS[value]))
        else:
            policy.replay(Event(arm, _reward(rng, arm)) for arm in rng.choices(ARMS, k=value))
        if policy.bank_ is not None:
            assert policy.bank_.drawn_at.min() > policy.updates_ - refresh


@settings(max_examples=30, deadline=None)
@given(
    name=st.sampled_from(THOMPSONS),
    refresh=st.integers(1, 12) | st.integers(13, 200),
    history=st.lists(st.sampled_from(["choose", "update"]), max_size=80),
    seed=st.integers(0, 9),
)
def test_a_decision_draws_nothing_and_an_update_redraws_a_slice(name, refresh, history, seed):
    """Once the bank is drawn, a decision redraws none of it and an update redraws at most
    an eighth of it (a ``refresh``-th if that is more): the work either may do while the
    router holds its lock is bounded."""
    policy, rng = make_policy(name, refresh=refresh, seed=seed), random.Random(seed)
    policy.choose(ARMS)
    most = -(-PROPENSITY_DRAWS // min(refresh, FASTEST_TURNOVER))
    for kind in history:
        drawn_at, winners = policy.bank_.drawn_at.copy(), policy.bank_.winners.copy()
        if kind == "choose":
            policy.choose(ARMS)
            assert (drawn_at == policy.bank_.drawn_at).all()
            assert (winners == policy.bank_.winners).all()
        else:
            arm = rng.choice(ARMS)
            policy.update(arm, _reward(rng, arm))
            assert 0 < (drawn_at != policy.bank_.drawn_at).sum() <= most


posteriors = st.lists(st.tuples(st.floats(0.2, 50.0), st.floats(0.2, 50.0)), min_size=1, max_size=5)


@settings(max_examples=60, deadline=None)
@given(
    posterior=posteriors,
    cursor=st.integers(0, 99),
    pieces=st.lists(st.integers(1, 100), min_size=1, max_size=12),
    seed=st.integers(0, 2**32),
)
def test_a_bank_redrawn_in_slices_holds_the_draws_of_a_whole_redraw(
    posterior, cursor, pieces, seed
):
    """Redrawn slice by slice from the same posteriors, all the way round from wherever the
    cursor stood, a bank holds exactly the draws of one whole redraw from the same random
    state: the same winners (turned round by the cursor) and the same wins."""
    a, b = np.array(posterior).T
    arms = tuple(f"m@{i}" for i in range(len(posterior)))
    whole = DrawBank(arms, 100)
    whole.redraw(np.random.default_rng(seed), a, b, 100, stamp=0)

    sliced = DrawBank(arms, 100)
    sliced.redraw(np.random.default_rng(seed + 1), a + 1, b, 100, stamp=0)  # other draws
    sliced.redraw(np.random.default_rng(seed + 2), a, b + 1, cursor, stamp=0)
    rng, left = np.random.default_rng(seed), 100
    for piece in [*pieces, 100]:
        sliced.redraw(rng, a, b, min(piece, left), stamp=1)
        left -= min(piece, left)

    assert cursor == sliced.cursor
    assert whole.winners.tolist() == np.roll(sliced.winners, -cursor).tolist()
    assert whole.wins == sliced.wins
    assert whole.wins == np.bincount(whole.winners, minlength=len(arms)).tolist()


@settings(max_examples=20, deadline=None)
@given(
    first=st.tuples(st.floats(0.5, 40.0), st.floats(0.5, 40.0)),
    second=st.tuples(st.floats(0.5, 40.0), st.floats(0.5, 40.0)),
    pieces=st.integers(1, 64),
)
def test_a_bank_turned_over_in_slices_serves_the_thompson_probabilities(first, second, pieces):
    """Once every slice has been redrawn from the current posteriors, the shares of the
    bank are the Thompson probabilities (P(X1 > X2) of the two Beta posteriors) within the
    sampling error of 1000 draws."""
    x1, x2 = distributions.beta(*first), distributions.beta(*second)
    exact, _ = integrate.quad(lambda t: x1.pdf(t) * x2.cdf(t), 0.0, 1.0, limit=200)
    bank = DrawBank(("one@1", "two@1"), PROPENSITY_DRAWS)
    rng = np.random.default_rng(7)
    a, b = np.array([first[0], second[0]]), np.array([first[1], second[1]])
    for _ in range(-(-PROPENSITY_DRAWS // pieces)):
        bank.redraw(rng, a, b, pieces, stamp=0)
    # 1000 draws: a standard error of at most 0.016; five of them.
    assert bank.shares()["one@1"] == pytest.approx(exact, abs=0.08)


contexts = st.lists(st.floats(-10.0, 10.0), min_size=3, max_size=3)


@settings(max_examples=40, deadline=None)
@given(
    feedback=st.lists(
        st.tuples(st.sampled_from(ARMS[:2]), st.floats(-5.0, 5.0), contexts), max_size=40
    ),
    alpha=st.floats(0.0, 3.0),
)
def test_linucb_keeps_the_inverse_of_its_design_matrix(feedback, alpha):
    """After any feedback, each arm's inverse (kept by Sherman-Morrison rank-one updates)
    and theta equal the direct inverse of A = I + sum x x^T and the solution of A theta = b,
    and decisions made from the kept arrays are those of a policy rebuilt by replay."""
    policy = make_policy("linucb", alpha=alpha, seed=0)
    policy.choose(ARMS[:2], [0.0, 0.0, 0.0])  # the live arms' arrays exist before updates
    for arm, reward, x in feedback:
        policy.update(arm, reward, x)
    for arm in {arm for arm, _, _ in feedback}:
        rows = np.array([[*x, 1.0] for served, _, x in feedback if served == arm])
        rewards = np.array([r for served, r, _ in feedback if served == arm])
        design = np.eye(4) + rows.T @ rows
        np.testing.assert_allclose(policy.inverse_[arm], np.linalg.inv(design), atol=1e-9)
        np.testing.assert_allclose(
            policy.theta_[arm], np.linalg.solve(design, rows.T @ rewards), atol=1e-7
        )
    rebuilt = make_policy("linucb", alpha=alpha, seed=0)
    rebuilt.replay(Event(arm, reward, tuple(x)) for arm, reward, x in feedback)
    for x in ([0.0, 0.0, 0.0], [1.0, -2.0, 0.5], [-3.0, 4.0, 9.0]):
        assert rebuilt.probabilities(ARMS[:2], x) == policy.probabilities(ARMS[:2], x)


@pytest.mark.parametrize("arms", [2, 3, 10])
def test_the_default_discount_remembers_a_hundred_updates_per_arm(arms) -> None:
    """By default the discounted policy's memory, 1 / (1 - gamma), is 100 updates per arm
    that has had feedback; a gamma given is kept whatever the arms."""
    default, fixed = (
        make_policy("discounted_thompson"),
        make_policy("discounted_thompson", gamma=0.9),
    )
    for policy in (default, fixed):
        for i in range(arms):
            policy.update(f"m@{i}", 1.0)
    assert 1.0 / (1.0 - default.discount()) == pytest.approx(MEMORY_PER_ARM * arms)
    assert fixed.discount() == 0.9


def test_with_ten_arms_the_default_discount_still_finds_the_best() -> None:
    """With ten arms (the best at 0.5, the others at 0.4) the default discount sends the
    best arm far more than the tenth of traffic that a fixed gamma of 0.99 leaves it."""
    arms = [f"m{i}@1" for i in range(10)]
    late = {}
    for params in ({}, {"gamma": 0.99}):
        policy, rng = make_policy("discounted_thompson", seed=0, **params), random.Random(0)
        chosen = []
        for _ in range(4000):
            arm = policy.choose(arms).arm
            policy.update(arm, float(rng.random() < (0.5 if arm == arms[0] else 0.4)))
            chosen.append(arm)
        late[str(params)] = Counter(chosen[-1000:])[arms[0]]
    assert late["{}"] > 400
    assert late["{'gamma': 0.99}"] < 250
