"""The pure statistics: drift tests hold their level, intervals hold their coverage."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import false_discovery_control

from mlops_lab.stats import (
    StatsError,
    adjust,
    categorical_drift,
    expected_accuracy,
    feature_drift,
    mean_absolute_error,
    numeric_drift,
    proportion,
    proportion_below,
    root_mean_squared_error,
)

P_VALUES = st.lists(st.floats(0, 1) | st.just(float("nan")), min_size=1, max_size=30)


@given(P_VALUES)
def test_bonferroni_multiplies_by_the_tests_counted_and_keeps_nan(p_values: list[float]) -> None:
    """Each tested p-value is multiplied by the number of tested features, capped at 1."""
    tested = [p for p in p_values if not math.isnan(p)]
    adjusted = adjust(p_values, "bonferroni")
    for raw, fixed in zip(p_values, adjusted, strict=True):
        if math.isnan(raw):
            assert math.isnan(fixed)
        else:
            assert fixed == pytest.approx(min(raw * len(tested), 1.0))


@given(P_VALUES)
def test_fdr_is_benjamini_hochberg(p_values: list[float]) -> None:
    """The FDR correction gives scipy's Benjamini-Hochberg adjustment on the tested values."""
    tested = [p for p in p_values if not math.isnan(p)]
    adjusted = [p for p in adjust(p_values, "fdr") if not math.isnan(p)]
    if tested:
        assert adjusted == pytest.approx(list(false_discovery_control(tested, method="bh")))


def test_a_correction_that_does_not_exist_is_named() -> None:
    """An unknown correction is refused with the ones there are."""
    with pytest.raises(StatsError, match="bonferroni"):
        adjust([0.1], "holm")


def test_per_feature_drift_holds_its_family_level_without_drift() -> None:
    """Over 300 windows of 20 unshifted features, Bonferroni keeps the share of windows
    with any feature flagged at most alpha (plus the simulation's own error)."""
    rng = np.random.default_rng(7)
    names = [f"x{i}" for i in range(20)]
    kinds = dict.fromkeys(names, "numeric")
    reference = {name: rng.normal(size=1000) for name in names}
    alarms = 0
    for _ in range(300):
        window = {name: rng.normal(size=200) for name in names}
        results = feature_drift(reference, window, kinds, alpha=0.05, min_effect=0.0)
        alarms += any(result.drifted for result in results)
    assert alarms / 300 <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / 300)


def test_a_shifted_feature_is_named_and_only_it() -> None:
    """A half-standard-deviation shift in one feature of ten is flagged; the rest are not."""
    rng = np.random.default_rng(3)
    names = [f"x{i}" for i in range(10)]
    reference = {name: rng.normal(size=2000) for name in names}
    window = {name: rng.normal(size=1000) for name in names}
    window["x4"] = window["x4"] + 0.5
    results = feature_drift(reference, window, dict.fromkeys(names, "numeric"))
    assert [result.feature for result in results if result.drifted] == ["x4"]


def test_a_trivial_shift_on_a_large_window_is_significant_but_not_drift() -> None:
    """With 100,000 rows a 0.03 sd shift is significant, yet below the minimum effect."""
    rng = np.random.default_rng(5)
    reference = {"x": rng.normal(size=100_000)}
    window = {"x": rng.normal(0.03, size=100_000)}
    (result,) = feature_drift(reference, window, {"x": "numeric"}, min_effect=0.1)
    assert result.p_adjusted < 0.05
    assert not result.drifted
    assert result.distance == pytest.approx(0.03, abs=0.01)


@pytest.mark.parametrize("test", ["ks", "cvm"])
def test_numeric_tests_leave_out_missing_values(test: str) -> None:
    """NaN and None are not values: the test runs on what is left and counts it."""
    result = numeric_drift("x", [0.0, 1.0, 2.0, float("nan")], [0.5, None, 1.5, 2.5], test)
    assert result.rows == 3
    assert 0 <= result.p_value <= 1


def test_a_feature_with_too_few_values_is_not_tested() -> None:
    """One value cannot be tested: the p-value is NaN and the correction does not count it."""
    rng = np.random.default_rng(1)
    reference = {"x": rng.normal(size=100), "y": rng.normal(size=100)}
    window = {"x": [float("nan")] * 5, "y": rng.normal(3, size=50)}
    x, y = feature_drift(reference, window, {"x": "numeric", "y": "numeric"})
    assert math.isnan(x.p_value) and not x.drifted
    assert y.drifted
    assert y.p_adjusted == pytest.approx(y.p_value)


def test_a_category_the_reference_never_had_counts_as_moved_mass() -> None:
    """A new category is a shift: significant, with a Jensen-Shannon distance above zero."""
    result = categorical_drift("c", ["a", "b"] * 100, ["a", "b", "new"] * 100)
    assert result.p_value < 1e-6
    assert 0.2 < result.distance < 1.0


def test_the_same_categories_in_the_same_shares_have_no_distance() -> None:
    """Equal frequencies give a distance of zero and a p-value of one."""
    result = categorical_drift("c", ["a", "b", "b"] * 10, ["b", "a", "b"] * 20)
    assert result.distance == pytest.approx(0.0, abs=1e-9)
    assert result.p_value == pytest.approx(1.0)


def test_an_unknown_feature_kind_or_bad_level_is_refused() -> None:
    """A kind other than numeric or categorical, and a level outside (0, 1), are named."""
    with pytest.raises(StatsError, match="'numeric' or 'categorical'"):
        feature_drift({"x": [1.0]}, {"x": [1.0]}, {"x": "text"})
    with pytest.raises(StatsError, match="'alpha' level"):
        feature_drift({"x": [1.0]}, {"x": [1.0]}, {"x": "numeric"}, alpha=5)


def test_wilson_interval_covers_the_true_accuracy_at_its_level() -> None:
    """Over 4,000 windows of 60 labels at a true accuracy of 0.9, the 95 % interval holds
    the truth in at least 93 % of them."""
    rng = np.random.default_rng(11)
    covered = sum(proportion(int(rng.binomial(60, 0.9)), 60).covers(0.9) for _ in range(4000))
    assert covered / 4000 >= 0.93


def test_expected_accuracy_covers_the_realised_accuracy_of_a_calibrated_model() -> None:
    """When each prediction is right with the probability the model gave it, the estimate
    made before labels covers the accuracy the labels then show, at about its level."""
    rng = np.random.default_rng(13)
    covered = 0
    for _ in range(2000):
        confidences = rng.uniform(0.5, 1.0, size=300)
        realised = float((rng.uniform(size=300) < confidences).mean())
        covered += expected_accuracy(confidences).covers(realised)
    assert 0.93 <= covered / 2000 <= 0.97


def test_errors_give_mae_and_rmse_with_intervals_around_them() -> None:
    """MAE and RMSE are the familiar values, each inside its own interval."""
    errors = np.array([1.0, -2.0, 3.0, -4.0, 0.5])
    mae = mean_absolute_error(errors)
    rmse = root_mean_squared_error(errors)
    assert mae.value == pytest.approx(np.abs(errors).mean())
    assert rmse.value == pytest.approx(math.sqrt((errors**2).mean()))
    assert mae.low < mae.value < mae.high
    assert rmse.low < rmse.value < rmse.high
    assert mae.n == rmse.n == 5


def test_no_data_is_nan_not_an_error() -> None:
    """A window without labels has an estimate of NaN on no observations."""
    for estimate in (proportion(0, 0), mean_absolute_error([]), expected_accuracy([])):
        assert estimate.n == 0 and math.isnan(estimate.value)


def test_accuracy_below_the_reference_is_significant_only_when_it_is() -> None:
    """70 of 100 against 0.9 is significantly below; 88 of 100 is not."""
    assert proportion_below(70, 100, 0.9) < 0.001
    assert proportion_below(88, 100, 0.9) > 0.2


def test_probabilities_outside_zero_and_one_are_refused() -> None:
    """A confidence of 1.2 is not a probability."""
    with pytest.raises(StatsError, match=r"outside \[0, 1\]"):
        expected_accuracy([0.5, 1.2])
