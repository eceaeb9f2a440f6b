"""The reward rule: what a piece of feedback is worth, the same for every reader of it."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlops_lab.routing import reward_of, same_value

JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text()


@pytest.mark.parametrize(
    ("truth", "prediction", "expected"),
    [
        (2, 2, 1.0),
        (2, 2.0, 1.0),  # JSON gives back whole numbers as either
        ("setosa", "setosa", 1.0),
        ("1", 1, 1.0),  # a label sent as text equals the number it spells
        (1, 0, 0.0),
        ("a", "b", 0.0),
        (2**70, 1.0, 0.0),  # beyond float64: equal to no prediction, and no error
        ([1, 2], [1, 2], 1.0),
    ],
)
def test_accuracy_is_one_when_the_truth_equals_the_prediction(
    truth: object, prediction: object, expected: float
) -> None:
    """The accuracy rule: 1.0 for a truth equal to the prediction, 0.0 otherwise."""
    assert reward_of("accuracy", prediction, truth=truth) == expected


def test_feedback_without_what_the_rule_reads_gives_no_reward() -> None:
    """No truth for accuracy, no finite reward for reward: None, which no policy learns."""
    assert reward_of("accuracy", 1, truth=None, reward=1.0) is None
    assert reward_of("reward", 1, truth=1, reward=None) is None
    assert reward_of("reward", 1, reward=math.nan) is None
    assert reward_of("reward", 1, reward=math.inf) is None


@given(reward=st.floats(allow_nan=False, allow_infinity=False), truth=JSON_SCALARS)
def test_the_reward_rule_takes_the_reward_and_ignores_the_truth(
    reward: float, truth: object
) -> None:
    """By the reward rule a finite reward is the reward, whatever the truth says."""
    assert reward_of("reward", "anything", truth=truth, reward=reward) == reward


@given(truth=JSON_SCALARS, prediction=JSON_SCALARS)
def test_a_truth_equals_a_prediction_exactly_when_the_prediction_equals_it(
    truth: object, prediction: object
) -> None:
    """Equality of truth and prediction does not depend on which is which."""
    assert same_value(truth, prediction) == same_value(prediction, truth)
