"""Rollout steps: routes survive JSON, canaries walk their steps, shadows and bandits behave,
and every refusal says what was wrong and how to fix it."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from mlops_lab.routing import POLICIES, REWARDS, PolicyError
from mlops_lab.routing._rollout import (
    Canary,
    Routes,
    advance,
    bandit,
    promote,
    rollback,
    shadow,
    single,
    split,
    start_canary,
)

BASELINE, CANDIDATE, THIRD, FOURTH = "churn@1", "churn@2", "churn@3", "churn@4"
BANDITS = sorted(name for name in POLICIES if name != "split")

arm_names = st.from_regex(r"[a-z][a-z0-9_]{0,11}@[1-9][0-9]{0,2}", fullmatch=True)
route_ids = st.from_regex(r"[0-9a-f]{16}", fullmatch=True)
shares = st.floats(min_value=0.0, max_value=1.0, exclude_min=True)
valid_steps = st.lists(shares, min_size=1, max_size=6, unique=True).map(sorted)
weight_values = st.floats(min_value=0.0, max_value=1e6) | st.integers(0, 10**6)
valid_weights = st.dictionaries(arm_names, weight_values, min_size=1, max_size=5).filter(
    lambda weights: sum(weights.values()) > 0
)
seeds = st.none() | st.integers(0, 2**32)
positive = st.floats(min_value=0.0, max_value=1e6, exclude_min=True)
non_negative = st.floats(min_value=0.0, max_value=1e6)
counts = st.integers(1, 10**6)
# Valid parameters of each bandit policy: any subset of them may be given.
bandit_params = {
    "epsilon_greedy": {"epsilon": st.floats(0.0, 1.0), "seed": seeds},
    "ucb1": {"seed": seeds},
    "thompson": {"prior": positive, "refresh": counts, "seed": seeds},
    "discounted_thompson": {
        "gamma": st.floats(0.0, 1.0, exclude_min=True),
        "prior": positive,
        "refresh": counts,
        "seed": seeds,
    },
    "sliding_window_ucb": {"window": counts, "c": non_negative, "seed": seeds},
    "linucb": {"alpha": non_negative, "seed": seeds},
}
assert sorted(bandit_params) == BANDITS


@st.composite
def policies_with_params(draw) -> tuple[str, dict]:
    """A bandit policy's name and valid parameters for it."""
    name = draw(st.sampled_from(BANDITS))
    return name, draw(st.fixed_dictionaries({}, optional=bandit_params[name]))


@st.composite
def any_routes(draw) -> Routes:
    """Routes of any kind (split, bandit or canary), with shadows among the other models."""
    models = draw(st.lists(arm_names, min_size=2, max_size=8, unique=True))
    kind = draw(st.sampled_from(["split", "bandit", "canary"]))
    canary, reward = None, draw(st.sampled_from(REWARDS))
    if kind == "canary":
        steps = tuple(draw(valid_steps))
        canary = Canary(models[1], models[0], steps, draw(st.integers(0, len(steps) - 1)))
        arms, policy = (models[0], models[1]), "split"
        params: dict = {"weights": {models[0]: 1.0 - canary.share, models[1]: canary.share}}
    elif kind == "bandit":
        arms = tuple(models[: draw(st.integers(2, len(models)))])
        policy, params = draw(policies_with_params())
    else:
        arms, policy = tuple(models[: draw(st.integers(1, len(models)))]), "split"
        params = {"weights": {arm: draw(weight_values) for arm in arms}}
    others = [model for model in models if model not in arms]
    return Routes(
        arms=arms,
        policy=policy,
        params=params,
        reward=reward,
        shadow=tuple(draw(st.lists(st.sampled_from(others), unique=True))) if others else (),
        canary=canary,
        route_id=draw(route_ids),
    )


def _canary_at(step: int, steps: list[float] | None = None) -> Routes:
    """A canary of CANDIDATE from BASELINE at ``step``, with THIRD shadowing."""
    routes = start_canary(shadow(single(BASELINE), [THIRD]), CANDIDATE, steps or [0.1, 0.5, 1.0])
    for _ in range(step):
        routes = advance(routes)
    return routes


def _bandit() -> Routes:
    return bandit(single(BASELINE), [BASELINE, CANDIDATE], "thompson", "accuracy", {})


# --- JSON -------------------------------------------------------------------------------


@given(routes=any_routes())
def test_routes_survive_a_json_round_trip(routes) -> None:
    """to_json() gives values json.dumps can write, and from_json() of them (written and
    read back) gives equal routes: arms, weights, policy, params, shadows, canary, route_id."""
    data = routes.to_json()
    assert data == json.loads(json.dumps(data))
    assert routes == Routes.from_json(json.loads(json.dumps(data)))


def test_to_json_names_every_field() -> None:
    """to_json() writes the canary as a plain dict, its steps as a list."""
    routes = _canary_at(1)
    expected = {
        "arms": [BASELINE, CANDIDATE],
        "policy": "split",
        "params": {"weights": {BASELINE: 0.5, CANDIDATE: 0.5}},
        "reward": "accuracy",
        "shadow": [THIRD],
        "canary": {
            "candidate": CANDIDATE,
            "baseline": BASELINE,
            "steps": [0.1, 0.5, 1.0],
            "step": 1,
        },
        "route_id": routes.route_id,
    }
    assert expected == routes.to_json()


# --- Canary -----------------------------------------------------------------------------


@given(steps=valid_steps)
def test_a_canary_walks_its_steps_then_must_be_promoted(steps) -> None:
    """At each step the candidate gets the step's share and the baseline the rest, each step
    has a new route_id, the shadow keeps shadowing; advancing past the last step is refused."""
    routes = shadow(single(BASELINE), [THIRD])
    route_ids = [routes.route_id]
    for index, share in enumerate(steps):
        routes = start_canary(routes, CANDIDATE, steps) if index == 0 else advance(routes)
        route_ids.append(routes.route_id)
        assert {BASELINE: 1.0 - share, CANDIDATE: share} == routes.params["weights"]
        assert Canary(CANDIDATE, BASELINE, tuple(steps), index) == routes.canary
        assert share == routes.canary.share
        expected = (BASELINE, CANDIDATE), False, (THIRD,)
        assert expected == (routes.arms, routes.is_bandit, routes.shadow)
    assert len(route_ids) == len(set(route_ids))
    with pytest.raises(PolicyError, match=r"last step .*promote\(\)"):
        advance(routes)


@pytest.mark.parametrize(("end", "serving"), [(rollback, BASELINE), (promote, CANDIDATE)])
@given(steps=valid_steps, data=st.data())
def test_rollback_and_promote_end_the_canary_at_any_step(end, serving, steps, data) -> None:
    """Rollback leaves the baseline alone, promote the candidate alone, at any step: the
    canary ends, the routes get a new route_id and the shadow keeps shadowing."""
    routes = _canary_at(data.draw(st.integers(0, len(steps) - 1)), steps)
    ended = end(routes)
    expected = (serving,), {"weights": {serving: 1.0}}, "split", None, (THIRD,)
    assert expected == (ended.arms, ended.params, ended.policy, ended.canary, ended.shadow)
    assert routes.route_id != ended.route_id
    with pytest.raises(PolicyError, match="No canary runs"):
        advance(ended)


@pytest.mark.parametrize("step", [advance, rollback, promote])
@pytest.mark.parametrize("current", [single(BASELINE), _bandit()], ids=["single", "bandit"])
def test_canary_steps_need_a_running_canary(step, current) -> None:
    """advance(), rollback() and promote() are refused when no canary runs."""
    with pytest.raises(PolicyError, match=f"nothing to {step.__name__}"):
        step(current)


@pytest.mark.parametrize(
    "current",
    [
        split(single(BASELINE), {BASELINE: 0.5, CANDIDATE: 0.5}),
        _bandit(),
        Routes(arms=(BASELINE,), policy="thompson"),
        _canary_at(0),
    ],
    ids=["split", "bandit", "one-armed bandit", "canary"],
)
def test_a_canary_starts_only_from_one_serving_model(current) -> None:
    """A canary is refused when the endpoint routes between several models or by a bandit."""
    with pytest.raises(PolicyError, match="A canary starts from one serving model"):
        start_canary(current, FOURTH, [0.5, 1.0])


def test_the_candidate_must_differ_from_the_baseline() -> None:
    """A canary of the model that already serves all traffic is refused."""
    with pytest.raises(PolicyError, match="already serves all traffic"):
        start_canary(single(BASELINE), BASELINE, [0.5, 1.0])


@given(steps=st.one_of(valid_steps, valid_steps.map(tuple), st.just([1]), st.just([0.5, 1])))
def test_increasing_shares_in_0_1_are_valid_steps(steps) -> None:
    """Steps given as a list or tuple of increasing shares in (0, 1] are kept as floats."""
    canary = start_canary(single(BASELINE), CANDIDATE, steps).canary
    assert tuple(float(s) for s in steps) == canary.steps
    assert (0, float(steps[0])) == (canary.step, canary.share)


bad_shares = st.one_of(
    st.floats(max_value=0.0),
    st.floats(min_value=1.0, exclude_min=True),
    st.just(math.nan),
    st.integers().filter(lambda n: n != 1),
    st.sampled_from([10**400, -(10**400)]),  # too large for a float
    st.booleans(),
    st.text(max_size=5),
    st.none(),
)


@st.composite
def bad_steps(draw):
    """Steps a canary must refuse: empty, not increasing, a bad share, or not a list."""
    kind = draw(st.sampled_from(["empty", "decreasing", "repeated", "bad share", "not a list"]))
    if kind == "empty":
        return draw(st.sampled_from([[], ()]))
    if kind == "not a list":
        return draw(st.sampled_from(["0.5", 0.5, None, {0.5}, {0.5: 1.0}]))
    steps = draw(st.lists(shares, min_size=2, max_size=6, unique=True).map(sorted))
    if kind == "decreasing":
        return steps[::-1]
    at = draw(st.integers(0, len(steps) - 1))
    if kind == "repeated":
        return [*steps[:at], steps[at], *steps[at:]]
    return [*steps[:at], draw(bad_shares), *steps[at:]]


@given(steps=bad_steps())
@example(steps=[0.5, 10**400])
def test_bad_steps_are_refused(steps) -> None:
    """Empty steps, steps not strictly increasing, shares outside (0, 1], bools, strings and
    steps that are not a list (and ints too large for a float) are refused with a PolicyError
    showing a valid example."""
    with pytest.raises(PolicyError, match=r"'steps' parameter of canary\(\)") as refused:
        start_canary(single(BASELINE), CANDIDATE, steps)
    assert "[0.05, 0.25, 0.5, 1.0]" in str(refused.value)


# --- Split ------------------------------------------------------------------------------


@given(weights=valid_weights)
def test_a_split_routes_by_its_weights(weights) -> None:
    """A split serves exactly the weighted arms, and its policy's shares follow the weights."""
    routes = split(single(BASELINE), weights)
    expected = tuple(weights), {"weights": weights}, "split", False, None
    assert expected == (routes.arms, routes.params, routes.policy, routes.is_bandit, routes.canary)
    total = sum(weights.values())
    shares = {arm: pytest.approx(weight / total) for arm, weight in weights.items()}
    assert shares == routes.make_policy().probabilities(list(routes.arms))


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({BASELINE: 0.9, CANDIDATE: -0.1}, "must be a number from 0 to"),
        ({BASELINE: 0, CANDIDATE: 0.0}, "At least one weight must be above 0"),
        ({BASELINE: "0.9"}, "must be a number from 0 to"),
        ({BASELINE: None}, "must be a number from 0 to"),
        ({BASELINE: True}, "must be a number from 0 to"),
        ({BASELINE: math.nan}, "must be a number from 0 to"),
        ({BASELINE: math.inf}, "must be a number from 0 to"),
        ({}, "A split needs weights per arm"),
    ],
    ids=["negative", "all zero", "string", "None", "bool", "nan", "inf", "empty"],
)
def test_bad_weights_are_refused(weights, message) -> None:
    """Negative, all-zero, missing or non-numeric weights are refused."""
    with pytest.raises(PolicyError, match=message):
        split(single(BASELINE), weights)


@pytest.mark.parametrize("current", [_canary_at(1), _bandit()], ids=["canary", "bandit"])
def test_a_split_ends_a_canary_or_a_bandit(current) -> None:
    """A split after a canary or a bandit is a plain split with a new route_id."""
    routes = split(current, {BASELINE: 0.7, FOURTH: 0.3})
    expected = "split", False, None, {"weights": {BASELINE: 0.7, FOURTH: 0.3}}
    assert expected == (routes.policy, routes.is_bandit, routes.canary, routes.params)
    assert current.route_id != routes.route_id


# --- Shadow -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "current",
    [single(BASELINE), split(single(BASELINE), {BASELINE: 0.0, CANDIDATE: 1.0}), _bandit()],
    ids=["single", "split", "bandit"],
)
def test_a_serving_arm_cannot_also_shadow(current) -> None:
    """Shadowing a model version that serves traffic (even at weight 0) is refused, naming it."""
    for arm in current.arms:
        with pytest.raises(PolicyError, match="already serve traffic") as refused:
            shadow(current, [FOURTH, arm])
        assert f"[{arm!r}]" in str(refused.value)


@pytest.mark.parametrize("current", [single(BASELINE), _bandit(), _canary_at(1)])
def test_shadowing_keeps_the_routes_and_their_route_id(current) -> None:
    """shadow() changes only the shadows (deduplicated, in order): the route_id stays, so a
    bandit keeps what it learned and a canary keeps its step; () stops shadowing."""
    shadowed = shadow(current, [FOURTH, "churn@5", FOURTH])
    shadows = (FOURTH, "churn@5")
    assert shadows == shadowed.shadow
    assert (*current.arms, *shadows) == shadowed.models
    assert replace(current, shadow=()) == shadow(shadowed, [])
    assert current.route_id == shadowed.route_id


@pytest.mark.parametrize(
    "serve",
    [
        lambda r: split(r, {BASELINE: 0.5, CANDIDATE: 0.5}),
        lambda r: bandit(r, [BASELINE, CANDIDATE], "ucb1", "reward", {}),
        lambda r: start_canary(r, CANDIDATE, [0.5, 1.0]),
    ],
    ids=["split", "bandit", "canary"],
)
def test_a_shadow_that_starts_serving_stops_shadowing(serve) -> None:
    """A shadow made an arm by split, bandit or canary stops shadowing; other shadows stay."""
    routes = serve(shadow(single(BASELINE), [CANDIDATE, THIRD]))
    expected = (BASELINE, CANDIDATE), (THIRD,), (BASELINE, CANDIDATE, THIRD)
    assert expected == (routes.arms, routes.shadow, routes.models)


# --- Bandit -----------------------------------------------------------------------------


def test_a_bandit_routes_between_distinct_arms_and_ends_a_canary() -> None:
    """bandit() keeps each arm once, in order, with its policy, params and reward, ends a
    canary and gets a new route_id."""
    current = _canary_at(1)
    routes = bandit(current, [CANDIDATE, FOURTH, CANDIDATE], "thompson", "reward", {"prior": 2})
    expected = (CANDIDATE, FOURTH), "thompson", {"prior": 2}, "reward"
    assert expected == (routes.arms, routes.policy, routes.params, routes.reward)
    expected_state = True, None, (THIRD,)
    assert expected_state == (routes.is_bandit, routes.canary, routes.shadow)
    assert current.route_id != routes.route_id


@given(policy=policies_with_params(), reward=st.sampled_from(REWARDS))
def test_make_policy_builds_the_named_policy_with_its_params(policy, reward) -> None:
    """make_policy() of bandit routes is a fresh policy of the named kind with the params."""
    name, params = policy
    routes = bandit(single(BASELINE), [BASELINE, CANDIDATE], name, reward, params)
    made = routes.make_policy()
    assert POLICIES[name] is type(made)
    assert params == {key: made.params()[key] for key in params}
    assert made.updates_ == 0  # fresh: it has learned nothing yet
    assert made is not routes.make_policy()


@pytest.mark.parametrize("arms", [[], [BASELINE], [BASELINE, BASELINE]])
def test_a_bandit_needs_two_distinct_arms(arms) -> None:
    """A bandit between fewer than two distinct model versions is refused."""
    with pytest.raises(PolicyError, match="at least two model versions"):
        bandit(single(BASELINE), arms, "thompson", "accuracy", {})


@pytest.mark.parametrize(
    ("policy", "reward", "params", "message"),
    [
        ("split", "accuracy", {}, r"call split\(\{\.\.\.\}\) instead of bandit\(\)"),
        ("thompsen", "accuracy", {}, "Did you mean 'thompson'"),
        ("thompson", "accuracy", {"prio": 2.0}, "Did you mean 'prior'"),
        ("epsilon_greedy", "accuracy", {"epsilon": 1.5}, r"must be in \[0.0, 1.0\]"),
        ("thompson", "accurcy", {}, r"'reward' parameter of bandit\(\) must be one of"),
    ],
    ids=["split", "unknown policy", "unknown param", "param out of range", "unknown reward"],
)
def test_bad_bandits_are_refused(policy, reward, params, message) -> None:
    """A bandit named "split", an unknown policy, parameter or reward, or a parameter out of
    range is refused."""
    with pytest.raises(PolicyError, match=message):
        bandit(single(BASELINE), [BASELINE, CANDIDATE], policy, reward, params)


# --- Messages ---------------------------------------------------------------------------

REFUSALS = {
    "canary from a split": (
        lambda: start_canary(split(single(BASELINE), {BASELINE: 1, CANDIDATE: 1}), THIRD, [1]),
        ["one serving model", f"{[BASELINE, CANDIDATE]}", "'split'", "split to one model"],
    ),
    "canary from a bandit": (
        lambda: start_canary(_bandit(), THIRD, [1]),
        ["one serving model", "'thompson'", "Promote or split to one model", "ep.split("],
    ),
    "canary of the baseline": (
        lambda: start_canary(single(BASELINE), BASELINE, [1]),
        [repr(BASELINE), "already serves all traffic", "different model version"],
    ),
    "bad steps": (
        lambda: start_canary(single(BASELINE), CANDIDATE, [0.5, 0.2]),
        ["'steps'", "increasing", "(0, 1]", "[0.05, 0.25, 0.5, 1.0]", "Got [0.5, 0.2]"],
    ),
    "advance past the last step": (
        lambda: advance(_canary_at(2)),
        [repr(CANDIDATE), "last step (100%)", "promote()", "rollback()"],
    ),
    "promote without a canary": (
        lambda: promote(single(BASELINE)),
        ["No canary runs", "nothing to promote", "ep.canary('name@2', steps="],
    ),
    "negative weight": (
        lambda: split(single(BASELINE), {BASELINE: 1.0, CANDIDATE: -0.1}),
        [repr(CANDIDATE), "must be a number from 0 to", "Got -0.1"],
    ),
    "all weights zero": (
        lambda: split(single(BASELINE), {BASELINE: 0.0}),
        ["At least one weight must be above 0", "Got {"],
    ),
    "shadow a serving arm": (
        lambda: shadow(single(BASELINE), [BASELINE]),
        [f"{[BASELINE]}", "already serve traffic", "Shadow a model version that is not among"],
    ),
    "bandit of one arm": (
        lambda: bandit(single(BASELINE), [BASELINE], "thompson", "accuracy", {}),
        ["needs at least two model versions", f"Got {[BASELINE]}"],
    ),
    "bandit named split": (
        lambda: bandit(single(BASELINE), [BASELINE, CANDIDATE], "split", "accuracy", {}),
        ["fixed split", "split({...})", "instead of bandit()"],
    ),
    "unknown policy": (
        lambda: bandit(single(BASELINE), [BASELINE, CANDIDATE], "thompsen", "accuracy", {}),
        ["'policy' parameter must be one of", "Got 'thompsen'", "Did you mean 'thompson'?"],
    ),
    "unknown parameter": (
        lambda: bandit(single(BASELINE), [BASELINE, CANDIDATE], "thompson", "accuracy", {"a": 1}),
        ["'thompson' policy takes the parameters", "'prior'", "Got 'a'"],
    ),
    "unknown reward": (
        lambda: bandit(single(BASELINE), [BASELINE, CANDIDATE], "thompson", "accurcy", {}),
        ["'reward' parameter of bandit()", f"{list(REWARDS)}", "Got 'accurcy'"],
    ),
}


@pytest.mark.parametrize(("refusal", "keywords"), REFUSALS.values(), ids=list(REFUSALS))
def test_each_refusal_says_what_was_wrong_and_how_to_fix_it(refusal, keywords) -> None:
    """Each PolicyError names what it received, what was expected and how to fix it."""
    with pytest.raises(PolicyError) as refused:
        refusal()
    message = str(refused.value)
    missing = [keyword for keyword in keywords if keyword not in message]
    assert not missing, message
