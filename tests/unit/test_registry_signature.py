"""The registry's pure parts: names and references, signatures, samples, JSON-safe values."""

from __future__ import annotations

import functools
import json
import math
from datetime import datetime

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from mlops_lab._json import json_or_repr
from mlops_lab.registry import ModelVersion, RegistryError
from mlops_lab.registry._metadata import check_metrics, model_params
from mlops_lab.registry._names import check_alias, check_name, parse_dataset, parse_ref
from mlops_lab.registry._signature import (
    default_background,
    from_parquet,
    infer_signature,
    parse_sample,
    parse_samples,
    to_parquet,
)

FRAME = pd.DataFrame(
    {
        "age": [23, 45, 31, 60, 52, 38],
        "income": [1.5, 3.2, 2.1, 4.0, 3.3, 2.7],
        "score": [0.1, 0.9, 0.4, 0.8, 0.7, 0.2],
    }
)
LABELS = np.array(["no", "yes", "no", "yes", "yes", "no"])


@functools.cache
def named_classifier() -> LogisticRegression:
    return LogisticRegression().fit(FRAME, LABELS)


@functools.cache
def unnamed_regressor() -> LinearRegression:
    return LinearRegression().fit(FRAME.to_numpy(), FRAME["score"].to_numpy())


@pytest.mark.parametrize(
    ("ref", "expected"),
    [("iris", ("iris", None)), ("iris@3", ("iris", 3)), ("iris@champion", ("iris", "champion"))],
)
def test_references_name_a_model_and_optionally_a_version_or_alias(ref, expected) -> None:
    """'name', 'name@3' and 'name@alias' split into name and selector."""
    assert expected == parse_ref(ref, "load")


@pytest.mark.parametrize("ref", ["", "@3", "iris@", "iris@a@b", "ir is", "iris@cham pion", None])
def test_malformed_references_are_refused(ref) -> None:
    """A reference with an empty part, a second '@' or whitespace is refused."""
    with pytest.raises(RegistryError, match="'ref' parameter of load"):
        parse_ref(ref, "load")


@given(st.integers())
def test_an_alias_that_reads_as_a_number_is_refused(number: int) -> None:
    """Any integer, signed or not, is refused as an alias: it would be read as a version."""
    with pytest.raises(RegistryError, match="would be read as version"):
        check_alias(str(number), "set_alias")
    assert check_alias(f"v{abs(number)}", "set_alias") == f"v{abs(number)}"


@given(st.text(min_size=1).filter(lambda text: any(char.isspace() for char in text)))
def test_a_name_with_whitespace_is_refused(name: str) -> None:
    """Whitespace anywhere in a name is refused."""
    with pytest.raises(RegistryError, match="without '@' or whitespace"):
        check_name(name, "name", "register")


@pytest.mark.parametrize(
    ("dataset", "expected"),
    [
        ("iris@abc123def456", ("iris", "abc123def456")),
        ("iris", ("iris", None)),
        (None, (None, None)),
    ],
)
def test_dataset_references_split_into_name_and_version(dataset, expected) -> None:
    """A dataset reference is stored as its name and version."""
    assert expected == parse_dataset(dataset)


NESTED = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text()
    | st.builds(np.float32, st.floats(width=32))
    | st.builds(np.int64, st.integers(-(2**63), 2**63 - 1))
    | st.builds(datetime.fromtimestamp, st.integers(0, 2**31))
    | st.just(np.log1p),
    lambda children: (
        st.lists(children, max_size=4)
        | st.tuples(children, children)
        | st.dictionaries(st.text() | st.integers(), children, max_size=4)
        | st.builds(np.array, st.lists(st.floats(), max_size=4))
    ),
    max_leaves=12,
)


@given(NESTED)
def test_json_or_repr_values_are_strict_json_and_stable(value: object) -> None:
    """Anything becomes strict JSON (no NaN), and making it safe again changes nothing."""
    safe = json_or_repr(value)
    assert json.loads(json.dumps(safe, allow_nan=False)) == safe
    assert json_or_repr(safe) == safe


def test_json_or_repr_keeps_what_json_can_hold_and_reprs_the_rest() -> None:
    """Numpy numbers become Python numbers; estimators and NaN become text."""
    value = {"C": np.float64(0.5), "steps": ("scale", None), "est": SVC(), "nan": math.nan}
    assert json_or_repr(value) == {"C": 0.5, "steps": ["scale", None], "est": "SVC()", "nan": "nan"}


def test_default_params_are_the_models_own_made_json_or_repr() -> None:
    """Without params, a Pipeline's shallow parameters are stored, steps as text."""
    pipeline = make_pipeline(StandardScaler(), LogisticRegression())
    params = model_params(pipeline, None)
    assert params["steps"] == [
        ["standardscaler", "StandardScaler()"],
        ["logisticregression", "LogisticRegression()"],
    ]
    assert model_params(pipeline, {"C": np.float32(2)}) == {"C": 2.0}


def test_metrics_become_floats_and_non_numbers_are_refused_by_name() -> None:
    """Numpy and Python numbers are accepted; text, booleans and NaN are not."""
    assert check_metrics({"acc": np.float32(0.5), "n": np.int64(3)}) == {"acc": 0.5, "n": 3.0}
    for bad in ("high", True, math.inf, None):
        with pytest.raises(RegistryError, match="metric 'auc' passed to register"):
            check_metrics({"acc": 0.9, "auc": bad})


def test_the_signature_of_a_classifier_names_features_classes_and_methods() -> None:
    """Feature names and dtypes come from the reference; classes from the model."""
    signature = infer_signature(named_classifier(), FRAME)
    assert signature == {
        "inputs": [
            {"name": "age", "dtype": "int64"},
            {"name": "income", "dtype": "float64"},
            {"name": "score", "dtype": "float64"},
        ],
        "task": "classification",
        "classes": ["no", "yes"],
        "output_dtype": "<U3",
        "methods": ["predict", "predict_proba", "decision_function"],
    }


def test_the_signature_of_a_model_without_names_or_reference_uses_positions() -> None:
    """Features known only by count are named x0, x1, ... with unknown dtypes."""
    signature = infer_signature(unnamed_regressor(), None)
    assert signature["inputs"] == [{"name": f"x{i}", "dtype": None} for i in range(3)]
    assert (signature["task"], signature["classes"], signature["output_dtype"]) == (
        "regression", None, None,
    )  # fmt: skip
    assert signature["methods"] == ["predict"]


def test_predict_proba_is_listed_only_when_the_model_offers_it() -> None:
    """An SVC without probability estimates has no predict_proba in its signature."""
    without = SVC().fit(FRAME, LABELS)
    assert "predict_proba" not in infer_signature(without, None)["methods"]
    assert (
        "predict_proba"
        in infer_signature(SVC(probability=True).fit(FRAME, LABELS), None)["methods"]
    )


@given(st.permutations(["age", "income", "score", "extra"]))
def test_a_sample_frame_is_put_in_the_models_feature_order(columns: list[str]) -> None:
    """Whatever the column order, the sample comes back in fit order, extras dropped."""
    sample = FRAME.assign(extra="x")[columns]
    pd.testing.assert_frame_equal(parse_sample(sample, named_classifier(), "reference"), FRAME)


def test_an_array_sample_takes_the_models_names_or_positions() -> None:
    """A 2-D array is named by the model's features, or x0.. when it has none."""
    array = FRAME.to_numpy()
    assert list(parse_sample(array, named_classifier(), "reference").columns) == list(FRAME)
    assert list(parse_sample(array, unnamed_regressor(), "reference").columns) == ["x0", "x1", "x2"]


@pytest.mark.parametrize(
    ("sample", "message"),
    [
        (FRAME[["age", "score"]], r"lacks the model's features \['income'\]"),
        (FRAME.to_numpy()[:, :2], "has 2 columns; the model was fitted on 3"),
        (FRAME["age"].to_numpy(), r"2-D array \(rows x features\). Got ndarray of shape \(6,\)"),
        (FRAME.head(0), "has no rows"),
    ],
)
def test_a_sample_that_does_not_fit_the_model_is_refused(sample: object, message: str) -> None:
    """Missing features, a wrong count, a 1-D array and an empty sample are refused."""
    with pytest.raises(RegistryError, match=message):
        parse_sample(sample, named_classifier(), "reference")


def test_a_frame_with_duplicate_names_is_refused() -> None:
    """Two columns with one name cannot be told apart; the name is given."""
    with pytest.raises(RegistryError, match=r"duplicate column names \['age'\]"):
        parse_sample(pd.concat([FRAME, FRAME[["age"]]], axis=1), named_classifier(), "reference")


@given(st.integers(1, 300))
def test_the_default_background_is_a_seeded_sample_of_the_reference(rows: int) -> None:
    """Up to 100 distinct reference rows, in reference order, the same every time."""
    reference = pd.DataFrame({"i": np.arange(rows)})
    background = default_background(reference)
    assert len(background) == min(rows, 100)
    assert background["i"].is_monotonic_increasing and background["i"].is_unique
    pd.testing.assert_frame_equal(background, default_background(reference))


def test_no_reference_means_no_background_unless_given() -> None:
    """Without reference or background both stay empty; a given background is kept."""
    assert parse_samples(named_classifier(), None, None) == (None, None)
    reference, background = parse_samples(named_classifier(), None, FRAME.head(2))
    assert reference is None
    pd.testing.assert_frame_equal(background, FRAME.head(2))


def test_samples_round_trip_through_parquet() -> None:
    """Integers, floats, text, booleans and timestamps come back as they went in."""
    frame = FRAME.assign(
        label=LABELS, flag=LABELS == "yes", when=pd.date_range("2026-01-01", periods=6)
    )
    data = to_parquet(frame, "reference")
    assert data is not None
    pd.testing.assert_frame_equal(from_parquet(data), frame)
    assert to_parquet(None, "reference") is None


def test_a_sample_parquet_cannot_hold_is_refused() -> None:
    """A column mixing numbers and text is refused with advice."""
    with pytest.raises(RegistryError, match="cannot be stored as Parquet"):
        to_parquet(pd.DataFrame({"mixed": [1, "a"]}), "reference")


def test_a_model_version_shows_its_facts_as_text_and_escaped_html() -> None:
    """The text and HTML views carry the same facts; HTML escapes user text."""
    version = ModelVersion(
        name="iris", version=3, created_at=datetime(2026, 3, 1, 9, 30), flavor="skops",
        signature={"task": "classification", "inputs": [{"name": "x0", "dtype": "float64"}]},
        metrics={"accuracy": 0.96667}, params={}, description="<b>best</b>",
        aliases=("champion",), untrusted_types=("sklearn.tree._tree.Tree",),
    )  # fmt: skip
    text = str(version)
    assert (
        text.splitlines()[0] == "iris@3 (skops, classification), registered 2026-03-01 09:30:00 UTC"
    )
    assert "  metrics: accuracy=0.9667" in text
    assert "registry.load('iris@3', trusted=['sklearn.tree._tree.Tree'])" in text
    html = version._repr_html_()
    assert "&lt;b&gt;best&lt;/b&gt;" in html and "<b>best</b>" not in html
    assert "champion" in html
