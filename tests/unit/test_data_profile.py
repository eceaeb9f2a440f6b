"""Schemas and profiles say what each column holds, in strict JSON."""

from __future__ import annotations

import json

import hypothesis.strategies as st
import numpy as np
import pandas as pd
from hypothesis import given

from mlops_lab._json import canonical_json
from mlops_lab.data._codec import reference_sample
from mlops_lab.data._profile import profile_column, profile_of, schema_of


def test_the_schema_gives_dtype_kind_and_target_per_column() -> None:
    """Every column is listed in order with its dtype and kind; the target is marked."""
    frame = pd.DataFrame({"x": [1.0], "flag": [True], "y": pd.Categorical(["a"])})
    assert schema_of(frame, "y") == {
        "columns": [
            {"name": "x", "dtype": "float64", "kind": "numeric", "target": False},
            {"name": "flag", "dtype": "bool", "kind": "boolean", "target": False},
            {"name": "y", "dtype": "category", "kind": "categorical", "target": True},
        ],
        "target": "y",
    }


def test_a_numeric_profile_has_moments_extremes_and_quantiles() -> None:
    """Count, nulls, mean, sample std, min, max and the 5/25/50/75/95% quantiles."""
    column = pd.Series([float(v) for v in range(101)] + [None])
    assert profile_column(column) == {
        "kind": "numeric",
        "count": 101,
        "nulls": 1,
        "mean": 50.0,
        "std": float(np.std(np.arange(101), ddof=1)),
        "min": 0.0,
        "max": 100.0,
        "quantiles": {"5%": 5.0, "25%": 25.0, "50%": 50.0, "75%": 75.0, "95%": 95.0},
    }


def test_a_categorical_profile_has_distinct_count_and_top_ten() -> None:
    """The ten most frequent values with their counts, ties broken by the value's text."""
    values = [f"v{i:02d}" for i in range(12) for _ in range(12 - i)] + [None, None]
    stats = profile_column(pd.Series(values).sample(frac=1, random_state=3))
    assert (stats["count"], stats["nulls"], stats["distinct"]) == (78, 2, 12)
    assert stats["top"][:2] == [{"value": "v00", "count": 12}, {"value": "v01", "count": 11}]
    assert [t["value"] for t in stats["top"]] == [f"v{i:02d}" for i in range(10)]
    tie = profile_column(pd.Series(["b", "a"], dtype="category"))["top"]
    assert tie == [{"value": "a", "count": 1}, {"value": "b", "count": 1}]


def test_booleans_and_datetimes_have_profiles_of_their_kind() -> None:
    """Booleans count their values; datetimes give their first and last moment."""
    flags = profile_column(pd.Series([True, True, False]))
    assert flags["top"] == [{"value": True, "count": 2}, {"value": False, "count": 1}]
    times = profile_column(pd.Series(pd.to_datetime(["2026-01-02", None, "2026-01-01"])))
    assert (times["min"], times["max"], times["nulls"]) == (
        "2026-01-01T00:00:00", "2026-01-02T00:00:00", 1,
    )  # fmt: skip


def test_columns_without_values_profile_to_nulls() -> None:
    """A column of nothing but nulls has counts and no statistics, not NaN."""
    stats = profile_column(pd.Series([np.nan, np.nan]))
    assert stats["count"] == 0 and stats["nulls"] == 2
    assert stats["mean"] is None and stats["quantiles"] is None
    assert profile_column(pd.Series([None], dtype=object))["distinct"] == 0


@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=50))
def test_every_profile_is_strict_json(values: list[float]) -> None:
    """NaN and infinities never reach the stored JSON (DuckDB refuses them)."""
    text = canonical_json(profile_of(pd.DataFrame({"x": values, "s": [str(v) for v in values]})))
    assert json.loads(text)["x"]["count"] == sum(not np.isnan(v) for v in values)


def test_the_reference_sample_is_seeded_bounded_and_in_data_order() -> None:
    """At most 1,000 rows, the same rows every time, kept in their original order."""
    frame = pd.DataFrame({"i": range(5000)})
    first, second = reference_sample(frame), reference_sample(frame)
    assert len(first) == 1000
    assert first.equals(second)
    assert first["i"].is_monotonic_increasing
    assert reference_sample(frame.head(10)).equals(frame.head(10))
