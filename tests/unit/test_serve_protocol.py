"""The serving protocol: a body becomes the model's DataFrame, or a 4xx naming the field."""

from __future__ import annotations

import json
import math
import pickle

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mlops_lab import _text
from mlops_lab.protocol import (
    DATATYPES,
    FeedbackItem,
    RequestError,
    feature_datatype,
    infer_response,
    model_metadata,
    openapi,
    parse_feedback,
    parse_infer,
    parse_instances,
    read_json,
    to_json_values,
)

IRIS_NAMES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
IRIS = [{"name": name, "dtype": "float64"} for name in IRIS_NAMES]
MIXED = [
    {"name": "x", "dtype": "float64"},
    {"name": "n", "dtype": "int64"},
    {"name": "flag", "dtype": "bool"},
    {"name": "color", "dtype": "object"},
]
LIMIT = 100


def refused(call, *args, **kwargs) -> RequestError:
    """The RequestError that ``call(*args, **kwargs)`` raises."""
    with pytest.raises(RequestError) as caught:
        call(*args, **kwargs)
    return caught.value


def as_json(value):
    """``value`` as it arrives: through JSON text and back."""
    return json.loads(json.dumps(value))


# Valid JSON values for each dtype, and tables of them.
VALUES = {
    "float64": st.floats(allow_nan=False, allow_infinity=False),
    "float32": st.floats(width=32, allow_nan=False, allow_infinity=False),
    "int64": st.integers(-(2**63), 2**63 - 1),
    "int8": st.integers(-128, 127),
    "uint64": st.integers(0, 2**64 - 1),
    "bool": st.booleans(),
    "object": st.text(max_size=10),
}
NUMERIC = ("float64", "float32", "int64", "int8", "uint64")


@st.composite
def tables(draw, dtypes=tuple(VALUES)):
    """Features (names and dtypes) and rows of valid values for them."""
    names = draw(st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=5, unique=True))
    features = [{"name": name, "dtype": draw(st.sampled_from(dtypes))} for name in names]
    row = st.tuples(*(VALUES[feature["dtype"]] for feature in features)).map(list)
    return features, draw(st.lists(row, min_size=1, max_size=20))


def expected_frame(features, rows) -> pd.DataFrame:
    """The DataFrame the rows stand for, typed as the features declare."""
    return pd.DataFrame(
        {
            feature["name"]: pd.Series([row[j] for row in rows], dtype=feature["dtype"])
            for j, feature in enumerate(features)
        }
    )


# --- round trips ---


@settings(max_examples=80, deadline=None)
@given(table=tables())
def test_rows_as_lists_give_back_the_frame(table) -> None:
    """Rows sent as lists, in feature order, parse to the frame they came from."""
    features, rows = table
    actual = parse_instances(as_json({"instances": rows}), features, max_instances=LIMIT)
    pd.testing.assert_frame_equal(expected_frame(features, rows), actual)


@settings(max_examples=80, deadline=None)
@given(table=tables())
def test_rows_as_objects_give_back_the_frame(table) -> None:
    """Rows sent as objects, keys in any order, parse to the frame in the features' order."""
    features, rows = table
    objects = [{f["name"]: row[j] for j, f in reversed(list(enumerate(features)))} for row in rows]
    actual = parse_instances(as_json({"instances": objects}), features, max_instances=LIMIT)
    pd.testing.assert_frame_equal(expected_frame(features, rows), actual)


@settings(max_examples=60, deadline=None)
@given(table=tables(), nested=st.booleans(), request_id=st.none() | st.text(max_size=5))
def test_a_tensor_per_feature_parses_as_the_instances(table, nested, request_id) -> None:
    """One v2 tensor per feature ([n] flat or [n, 1] nested) gives the instances' frame and
    the request's id."""
    features, rows = table
    tensors = []
    for j, feature in enumerate(features):
        column = [row[j] for row in rows]
        data, shape = ([[v] for v in column], [len(rows), 1]) if nested else (column, [len(rows)])
        datatype = feature_datatype(feature)
        tensors.append(
            {"name": feature["name"], "shape": shape, "datatype": datatype, "data": data}
        )
    payload = as_json({"id": request_id, "inputs": tensors[::-1]})
    frame, actual_id = parse_infer(payload, features, max_instances=LIMIT)
    expected = parse_instances(as_json({"instances": rows}), features, max_instances=LIMIT)
    pd.testing.assert_frame_equal(expected, frame)
    assert request_id == actual_id


@settings(max_examples=60, deadline=None)
@given(table=tables(NUMERIC), nested=st.booleans())
def test_one_matrix_tensor_parses_as_the_instances(table, nested) -> None:
    """One v2 tensor of shape [n, features], flat or nested, gives the instances' frame."""
    features, rows = table
    data = rows if nested else [value for row in rows for value in row]
    tensor = {"name": "input", "shape": [len(rows), len(features)], "datatype": "FP64"}
    frame, _ = parse_infer(
        as_json({"inputs": [{**tensor, "data": data}]}), features, max_instances=LIMIT
    )
    expected = parse_instances(as_json({"instances": rows}), features, max_instances=LIMIT)
    pd.testing.assert_frame_equal(expected, frame)


def test_columns_take_the_declared_dtypes() -> None:
    """Each column is cast to its feature's dtype; a feature of unknown dtype is float64."""
    dtypes = ["float32", "Int64", "uint8", "boolean", "category", "string", "object", None]
    features = [{"name": f"f{j}", "dtype": dtype} for j, dtype in enumerate(dtypes)]
    row = [0.5, 7, 200, True, "red", "text", "free", 3]
    frame = parse_instances({"instances": [row, row]}, features, max_instances=LIMIT)
    expected = [dtype or "float64" for dtype in dtypes]
    assert expected == [str(dtype) for dtype in frame.dtypes]
    assert frame.iloc[0].tolist() == [0.5, 7, 200, True, "red", "text", "free", 3.0]


def test_whole_floats_are_taken_for_integer_features() -> None:
    """2.0 is a whole number: an int64 feature takes it as 2, and keeps 2**63 - 1 exact."""
    features = [{"name": "n", "dtype": "int64"}]
    frame = parse_instances({"instances": [[2.0], [2**63 - 1]]}, features, max_instances=LIMIT)
    assert frame["n"].tolist() == [2, 2**63 - 1]


def test_integer_bounds_are_exact() -> None:
    """The largest int64 and uint64 are taken; one past them is refused as out of range."""
    for dtype, top in (("int64", 2**63 - 1), ("uint64", 2**64 - 1)):
        features = [{"name": "n", "dtype": dtype}]
        frame = parse_instances({"instances": [[top]]}, features, max_instances=1)
        assert frame["n"].tolist() == [top]
        error = refused(parse_instances, {"instances": [[top + 1]]}, features, max_instances=1)
        assert (error.code, error.field) == ("invalid_value", "instances[0][0]")


# --- refusals: status, code and field ---

SEPAL = {"sepal_length": 1.0, "sepal_width": 2.0, "petal_length": 3.0}
TYPO = {**SEPAL, "petal_widht": 4.0}
NAN = {**SEPAL, "petal_width": math.nan}
PETAL_WIDTH = "instances[0].petal_width"
INT8, UINT8, FLOAT32, DATE = (
    [{"name": "v", "dtype": d}] for d in ("int8", "uint8", "float32", "M8[ns]")
)
INSTANCE_ERRORS = [
    # (what is sent, the features, status, code, field)
    ([[1, 2, 3, 4]], IRIS, 400, "invalid_payload", "instances"),
    ({"inputs": [[1, 2, 3, 4]]}, IRIS, 400, "invalid_payload", "instances"),
    ({"instances": {"sepal_length": [1]}}, IRIS, 400, "invalid_payload", "instances"),
    ({"instances": []}, IRIS, 400, "invalid_payload", "instances"),
    ({"instances": [[1, 2, 3, 4]] * (LIMIT + 1)}, IRIS, 413, "too_many_instances", "instances"),
    ({"instances": [1.0, 2.0]}, IRIS, 400, "invalid_payload", "instances[0]"),
    ({"instances": [[1, 2, 3, 4], SEPAL]}, IRIS, 400, "invalid_payload", "instances[1]"),
    ({"instances": [[1, 2, 3, 4], [1, 2, 3]]}, IRIS, 400, "wrong_feature_count", "instances[1]"),
    ({"instances": [TYPO]}, IRIS, 400, "unknown_feature", "instances[0].petal_widht"),
    ({"instances": [SEPAL]}, IRIS, 400, "missing_feature", PETAL_WIDTH),
    ({"instances": [[1, 2, 3, 4], [1, "2", 3, 4]]}, IRIS, 400, "wrong_type", "instances[1][1]"),
    ({"instances": [[1, 2, 3, None]]}, IRIS, 400, "wrong_type", "instances[0][3]"),
    ({"instances": [[1, 2, 3, True]]}, IRIS, 400, "wrong_type", "instances[0][3]"),
    ({"instances": [[1, 2, 3, [4]]]}, IRIS, 400, "wrong_type", "instances[0][3]"),
    ({"instances": [{**SEPAL, "petal_width": {}}]}, IRIS, 400, "wrong_type", PETAL_WIDTH),
    ({"instances": [NAN]}, IRIS, 400, "invalid_value", PETAL_WIDTH),
    ({"instances": [[1, 2, -math.inf, 4]]}, IRIS, 400, "invalid_value", "instances[0][2]"),
    ({"instances": [[1, 2, 3, 10**400]]}, IRIS, 400, "invalid_value", "instances[0][3]"),
    ({"instances": [[0.5, 1.5, True, "red"]]}, MIXED, 400, "wrong_type", "instances[0][1]"),
    ({"instances": [[0.5, 2**63, True, "red"]]}, MIXED, 400, "invalid_value", "instances[0][1]"),
    ({"instances": [[0.5, 1, "true", "red"]]}, MIXED, 400, "wrong_type", "instances[0][2]"),
    ({"instances": [[0.5, 1, 1, "red"]]}, MIXED, 400, "wrong_type", "instances[0][2]"),
    ({"instances": [[0.5, 1, True, None]]}, MIXED, 400, "wrong_type", "instances[0][3]"),
    ({"instances": [[0.5, 1, True, 3]]}, MIXED, 400, "wrong_type", "instances[0][3]"),
    ({"instances": [[300]]}, INT8, 400, "invalid_value", "instances[0][0]"),
    ({"instances": [[-1]]}, UINT8, 400, "invalid_value", "instances[0][0]"),
    ({"instances": [[1e39]]}, FLOAT32, 400, "invalid_value", "instances[0][0]"),
    ({"instances": [["2024-13-45"]]}, DATE, 400, "invalid_value", "instances[0][0]"),
]


@pytest.mark.parametrize(("payload", "features", "status", "code", "field"), INSTANCE_ERRORS)
def test_instances_are_refused_naming_the_field(payload, features, status, code, field) -> None:
    """Each malformed instances body gets its status and code; the message starts with
    the field at fault, which the JSON body names too."""
    error = refused(parse_instances, payload, features, max_instances=LIMIT)
    assert (status, code, field) == (error.status, error.code, error.field)
    assert error.message.startswith(field)
    assert {"error": error.message, "code": code, "field": field} == {
        k: error.body()[k] for k in ("error", "code", "field")
    }


def test_a_wrong_count_says_what_was_expected_and_received() -> None:
    """A row of 3 values for 4 features expects the 4 names and received 3 values."""
    error = refused(parse_instances, {"instances": [[1, 2, 3]]}, IRIS, max_instances=LIMIT)
    assert error.expected == "4 values (sepal_length, sepal_width, petal_length, petal_width)"
    assert error.received == "3 values"


def test_an_unknown_feature_suggests_the_close_one() -> None:
    """A misspelt feature is named, the features are listed, and the close one suggested."""
    payload = {"instances": [{**SEPAL, "petal_widht": 4}]}
    error = refused(parse_instances, payload, IRIS, max_instances=LIMIT)
    assert "features " + ", ".join(IRIS_NAMES) == error.expected
    assert error.received == "'petal_widht'"
    assert "Did you mean 'petal_width'?" in error.message


def test_value_errors_say_expected_and_received() -> None:
    """A string for a float64 feature expects "a number (float64)" and received "the
    string 'abc'"; NaN is not allowed and says so, naming the feature."""
    error = refused(parse_instances, {"instances": [["abc", 2, 3, 4]]}, IRIS, max_instances=9)
    assert (error.expected, error.received) == ("a number (float64)", "the string 'abc'")
    error = refused(parse_instances, {"instances": [[None, 2, 3, 4]]}, IRIS, max_instances=9)
    assert error.received == "null"
    error = refused(parse_instances, {"instances": [[math.nan, 2, 3, 4]]}, IRIS, max_instances=9)
    assert "NaN is not allowed for feature 'sepal_length'" in error.message


TENSOR = {"name": "input", "shape": [2, 4], "datatype": "FP64", "data": [1, 2, 3, 4] * 2}
PER_FEATURE = [
    {"name": name, "shape": [2], "datatype": "FP32", "data": [1.0, 2.0]} for name in IRIS_NAMES
]


def matrix(**changes):
    """A request of one [2, 4] tensor, with ``changes`` to it."""
    return {"inputs": [{**TENSOR, **changes}]}


def per_feature(k, **changes):
    """A request of a tensor per feature, with ``changes`` to tensor ``k``."""
    return {"inputs": [{**t, **changes} if j == k else t for j, t in enumerate(PER_FEATURE)]}


NO_DATA = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64"}]}
INFER_ERRORS = [
    # (what is sent, status, code, field)
    ([TENSOR], 400, "invalid_payload", "inputs"),
    ({"inputs": []}, 400, "invalid_payload", "inputs"),
    ({"id": 3, "inputs": [TENSOR]}, 400, "wrong_type", "id"),
    ({"parameters": [], "inputs": [TENSOR]}, 400, "wrong_type", "parameters"),
    ({"inputs": [3]}, 400, "invalid_payload", "inputs[0]"),
    (matrix(name=None), 400, "wrong_type", "inputs[0].name"),
    (NO_DATA, 400, "missing_field", "inputs[0].data"),
    (matrix(shape=[-2, 4]), 400, "wrong_type", "inputs[0].shape"),
    (matrix(datatype="FLOAT"), 400, "invalid_value", "inputs[0].datatype"),
    (matrix(datatype="BYTES"), 400, "wrong_type", "inputs[0].datatype"),
    (matrix(shape=[2, 3]), 400, "shape_mismatch", "inputs[0].shape"),
    (matrix(shape=[8]), 400, "shape_mismatch", "inputs[0].shape"),
    (matrix(data=[1, 2, 3]), 400, "shape_mismatch", "inputs[0].data"),
    (matrix(data=[[1, 2, 3], [4, 5, 6, 7, 8]]), 400, "shape_mismatch", "inputs[0].data"),
    (matrix(shape=[0, 4], data=[]), 400, "invalid_payload", "inputs[0].shape"),
    (matrix(shape=[LIMIT + 1, 4]), 413, "too_many_instances", "inputs[0].shape"),
    (matrix(data=[1, 2, 3, 4, 5, 6, "7", 8]), 400, "wrong_type", "inputs[0].data[6]"),
    (matrix(data=[[1, 2, 3, 4], [5, 6, None, 8]]), 400, "wrong_type", "inputs[0].data[1][2]"),
    (per_feature(3, name="petal_widht"), 400, "unknown_feature", "inputs[3].name"),
    ({"inputs": PER_FEATURE[:3]}, 400, "missing_feature", "inputs"),
    ({"inputs": [*PER_FEATURE, PER_FEATURE[0]]}, 400, "invalid_payload", "inputs[4].name"),
    (per_feature(2, shape=[1], data=[1]), 400, "shape_mismatch", "inputs[2].shape"),
    (per_feature(3, datatype="BOOL"), 400, "wrong_type", "inputs[3].datatype"),
    (per_feature(1, data=[math.nan, 1]), 400, "invalid_value", "inputs[1].data[0]"),
    (per_feature(1, shape=[2, 1], data=[["a"], [1]]), 400, "wrong_type", "inputs[1].data[0][0]"),
]


@pytest.mark.parametrize(("payload", "status", "code", "field"), INFER_ERRORS)
def test_infer_requests_are_refused_naming_the_field(payload, status, code, field) -> None:
    """Each malformed v2 request gets its status and code; the message starts with the
    field at fault (the tensor, its shape, datatype or the very element of its data)."""
    error = refused(parse_infer, payload, IRIS, max_instances=LIMIT)
    assert (status, code, field) == (error.status, error.code, error.field)
    assert error.message.startswith(field)


# --- read_json ---


def test_read_json_takes_a_body_up_to_the_limit() -> None:
    """A body of exactly max_bytes is decoded; one byte more is a 413 saying the limit,
    the size and how to fix it."""
    body = json.dumps({"instances": [[1, 2]]}).encode()
    assert read_json(body, max_bytes=len(body)) == {"instances": [[1, 2]]}
    error = refused(read_json, body + b" ", max_bytes=len(body))
    assert (error.status, error.code, error.field) == (413, "body_too_large", "body")
    assert f"at most {len(body)} bytes" == error.expected
    assert f"{len(body) + 1} bytes" == error.received
    assert "fewer instances" in error.message


def test_malformed_json_gives_line_and_column() -> None:
    """A JSON syntax error is a 400 naming the line and column where decoding stopped."""
    error = refused(read_json, b'{\n  "instances": [1,,2]\n}', max_bytes=1000)
    assert (error.status, error.code, error.field) == (400, "malformed_json", "body")
    assert "line 2, column 19" in error.message


@pytest.mark.parametrize("body", [b"\xff{}", b"[" * 100_000, b"1" * 5000, b"", b"{'a': 1}"])
def test_undecodable_bodies_are_malformed_json(body) -> None:
    """Bytes that are not UTF-8, nesting too deep, integers too long and empty bodies are
    400 malformed_json, not a server error."""
    error = refused(read_json, body, max_bytes=1_000_000)
    assert (error.status, error.code) == (400, "malformed_json")


def test_nan_and_infinity_tokens_are_read() -> None:
    """NaN and Infinity decode (as Python's json does); feature checks refuse them later."""
    values = read_json(b"[NaN, Infinity, -Infinity]", max_bytes=100)
    assert [True, math.inf, -math.inf] == [math.isnan(values[0]), values[1], values[2]]


# --- feedback ---


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"request_id": "r1", "truth": "setosa"}, [FeedbackItem("r1", "setosa", None, True)]),
        ({"request_id": "r1", "reward": 1}, [FeedbackItem("r1", None, 1.0, False)]),
        ({"request_id": "r1", "truth": None}, [FeedbackItem("r1", None, None, True)]),
        (
            [{"request_id": "r1", "truth": [1, 2]}, {"request_id": "r2", "reward": 0.5}],
            [FeedbackItem("r1", [1, 2], None, True), FeedbackItem("r2", None, 0.5, False)],
        ),
        (
            {"feedback": [{"request_id": "r1", "truth": 0, "reward": -1.5}]},
            [FeedbackItem("r1", 0, -1.5, True)],
        ),
    ],
)
def test_feedback_comes_as_one_item_a_list_or_a_feedback_list(payload, expected) -> None:
    """One object, a list, or {"feedback": [...]}: each item keeps its truth (null too,
    told apart from no truth by has_truth) and its reward as a float."""
    assert expected == parse_feedback(payload, max_items=LIMIT)


MANY = [{"request_id": str(i), "reward": 1} for i in range(LIMIT + 1)]
TWICE = {"feedback": [{"request_id": "r1", "truth": 1}, {"request_id": "r1", "reward": 1}]}
FEEDBACK_ERRORS = [
    # (what is sent, status, code, field)
    (3, 400, "invalid_payload", "body"),
    ([], 400, "invalid_payload", "feedback"),
    ({"feedback": []}, 400, "invalid_payload", "feedback"),
    (MANY, 413, "too_many_items", "feedback"),
    ({"feedback": {"request_id": "r1"}}, 400, "wrong_type", "feedback"),
    (["r1"], 400, "wrong_type", "[0]"),
    ([{"truth": 1}], 400, "missing_field", "[0].request_id"),
    ([{"request_id": 7, "truth": 1}], 400, "wrong_type", "[0].request_id"),
    ([{"request_id": "", "truth": 1}], 400, "missing_field", "[0].request_id"),
    ([{"request_id": "r1"}], 400, "missing_field", "[0].truth"),
    ({"request_id": "r1", "reward": "1"}, 400, "wrong_type", "reward"),
    ({"request_id": "r1", "reward": True}, 400, "wrong_type", "reward"),
    ({"request_id": "r1", "reward": None}, 400, "wrong_type", "reward"),
    ({"request_id": "r1", "reward": math.inf}, 400, "invalid_value", "reward"),
    ({"request_id": "r1", "reward": 10**400}, 400, "invalid_value", "reward"),
    (TWICE, 400, "duplicate_request_id", "feedback[1].request_id"),
]


@pytest.mark.parametrize(("payload", "status", "code", "field"), FEEDBACK_ERRORS)
def test_feedback_is_refused_naming_the_field(payload, status, code, field) -> None:
    """Each malformed feedback body gets its status and code; the message starts with the
    field at fault."""
    error = refused(parse_feedback, payload, max_items=LIMIT)
    assert (status, code, field) == (error.status, error.code, error.field)
    assert error.message.startswith(field)


# --- any JSON at all: parsed or refused, never a crash ---

SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6)
KEYS = ["request_id", "truth", "reward", "instances", "inputs", "feedback", "id", "parameters"]
NAMES = st.sampled_from([f["name"] for f in MIXED] + KEYS + ["name", "shape", "datatype", "data"])
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(NAMES | st.text(max_size=4), inner),
    max_leaves=30,
)
TENSORS = st.fixed_dictionaries(
    {
        "name": NAMES | JSON,
        "shape": st.lists(st.integers(-1, 3), max_size=3) | JSON,
        "datatype": st.sampled_from(DATATYPES) | JSON,
        "data": st.lists(SCALARS | st.lists(SCALARS, max_size=4), max_size=8) | JSON,
    }
)
ROWS = st.lists(st.lists(SCALARS, min_size=3, max_size=5) | st.dictionaries(NAMES, SCALARS))
PAYLOADS = (
    JSON
    | st.builds(lambda rows: {"instances": rows}, ROWS)
    | st.builds(lambda tensors: {"inputs": tensors}, st.lists(TENSORS, max_size=5))
    | st.lists(st.dictionaries(NAMES, JSON, max_size=4), max_size=4)
)


@settings(max_examples=400, deadline=None)
@given(payload=PAYLOADS)
def test_any_json_is_parsed_or_refused_with_a_request_error(payload) -> None:
    """Whatever JSON arrives, every parser returns or raises a 4xx RequestError whose body
    is JSON and whose message starts with its field; nothing else escapes."""
    for parse in (
        lambda: parse_instances(payload, MIXED, max_instances=5),
        lambda: parse_infer(payload, MIXED, max_instances=5),
        lambda: parse_feedback(payload, max_items=5),
    ):
        try:
            parse()
        except RequestError as error:
            assert 400 <= error.status < 500
            assert error.message.startswith(error.field)
            json.dumps(error.body(), allow_nan=False)


# --- responses ---


@pytest.mark.parametrize(
    ("predictions", "shape", "datatype", "data"),
    [
        (np.array([0, 2, 1]), [3], "INT64", [0, 2, 1]),
        (np.array([0.5, np.nan], dtype=np.float32), [2], "FP32", [0.5, None]),
        (np.array(["setosa", "virginica"]), [2], "BYTES", ["setosa", "virginica"]),
        (np.array([True, False]), [2], "BOOL", [True, False]),
        (np.array([[0.25, 0.75], [1.0, 0.0]]), [2, 2], "FP64", [0.25, 0.75, 1.0, 0.0]),
        ([1.5, None], [2], "FP64", [1.5, None]),
        (["a", "b"], [2], "BYTES", ["a", "b"]),
    ],
)
def test_infer_response_has_the_shape_and_datatype_of_the_predictions(
    predictions, shape, datatype, data
) -> None:
    """The v2 response holds one output "predict" of the predictions' shape and v2
    datatype, data flat in row-major order, and the request ids as a parameter."""
    expected = {
        "model_name": "iris",
        "model_version": "3",
        "id": "r9",
        "outputs": [{"name": "predict", "shape": shape, "datatype": datatype, "data": data}],
        "parameters": {"request_ids": ["a", "b"]},
    }
    assert expected == infer_response("iris", "3", "r9", predictions, request_ids=["a", "b"])
    assert "parameters" not in infer_response("iris", "3", "r9", predictions)


@settings(max_examples=60, deadline=None)
@given(values=arrays(np.float64, st.integers(0, 20)) | arrays(np.int32, st.integers(0, 20)))
def test_json_values_are_plain_python_with_none_for_nan(values) -> None:
    """Predictions become Python numbers, None where not finite, and strict JSON."""
    actual = to_json_values(values)
    expected = [None if not math.isfinite(v) else v for v in values.tolist()]
    assert expected == actual
    assert all(type(v) in (int, float, type(None)) for v in actual)
    json.dumps(actual, allow_nan=False)


def test_json_values_of_objects_and_strings() -> None:
    """numpy scalars in object arrays become Python values; strings and bools stay so."""
    assert to_json_values(np.array([np.int64(3), np.nan, "a"], dtype=object)) == [3, None, "a"]
    assert to_json_values(pd.Series(["x", "y"])) == ["x", "y"]
    assert to_json_values([np.bool_(True)]) == [True]


def test_model_metadata_lists_features_as_v2_tensors() -> None:
    """GET /v2/models/<name> lists each feature with its v2 datatype, and the output."""
    features = [*MIXED, {"name": "z", "dtype": None}, {"name": "k", "dtype": "category"}]
    signature = {"task": "classification", "classes": ["a", "b"], "output_dtype": "object"}
    expected = {
        "name": "iris",
        "versions": ["1", "2"],
        "platform": "mlops-lab",
        "inputs": [
            {"name": name, "datatype": datatype, "shape": [-1]}
            for name, datatype in [
                ("x", "FP64"),
                ("n", "INT64"),
                ("flag", "BOOL"),
                ("color", "BYTES"),
                ("z", "FP64"),
                ("k", "BYTES"),
            ]
        ],
        "outputs": [{"name": "predict", "datatype": "BYTES", "shape": [-1]}],
    }
    assert expected == model_metadata("iris", features, signature, ["1", "2"])


@pytest.mark.parametrize(
    ("signature", "datatype"),
    [
        ({"task": "regression", "classes": None, "output_dtype": "float32"}, "FP32"),
        ({"task": "regression", "classes": None, "output_dtype": None}, "FP64"),
        ({"task": "classification", "classes": [0, 1], "output_dtype": None}, "INT64"),
    ],
)
def test_the_output_datatype_comes_from_the_signature(signature, datatype) -> None:
    """The output's datatype is the output dtype's, else the classes', else FP64."""
    assert datatype == model_metadata("m", IRIS, signature, ["1"])["outputs"][0]["datatype"]


def test_request_error_body_omits_what_is_unknown_and_survives_pickling() -> None:
    """The body holds the message as the "error" string and the code beside it, and
    field/expected/received only when given; a pickled error comes back whole."""
    error = RequestError(404, "unknown_request_id", "r1 was never served.", field="request_id")
    assert error.body() == {
        "error": "r1 was never served.",
        "code": "unknown_request_id",
        "field": "request_id",
    }
    copy = pickle.loads(pickle.dumps(error))
    assert (404, error.body(), str(error)) == (copy.status, copy.body(), str(copy))


@given(message=st.text(), received=st.none() | st.text())
def test_request_error_body_is_what_triton_clients_render(message, received) -> None:
    """Any error body is encodable JSON whose "error" is the message as a string, which
    tritonclient's exception shows whole."""
    from tritonclient.utils import InferenceServerException

    body = RequestError(400, "wrong_type", message, field="x", received=received).body()
    decoded = json.loads(json.dumps(body, ensure_ascii=False).encode("utf-8"))
    assert decoded["error"] == _text.encodable(message)
    assert str(InferenceServerException(msg=decoded["error"], status="400")).endswith(
        decoded["error"]
    )


# --- the OpenAPI document ---

FEATURES = [*MIXED, {"name": "k", "dtype": "category"}, {"name": "z", "dtype": None}]
SIGNATURE = {"task": "classification", "classes": ["a", "b"], "output_dtype": "object"}


def test_openapi_describes_every_route() -> None:
    """The document is OpenAPI 3.1, strict JSON, and has every route of the endpoint."""
    document = openapi("iris", FEATURES, SIGNATURE)
    assert document["openapi"].startswith("3.1")
    expected = {
        "/iris/predict": "post",
        "/iris/feedback": "post",
        "/iris/openapi.json": "get",
        "/v2/health/ready": "get",
        "/v2/models/iris": "get",
        "/v2/models/iris/infer": "post",
    }
    assert expected == {path: next(iter(ops)) for path, ops in document["paths"].items()}
    json.dumps(document, allow_nan=False)


def test_openapi_references_all_resolve() -> None:
    """Every $ref in the document points at a schema or response it defines."""
    document = openapi("iris", FEATURES, SIGNATURE)
    refs, stack = set(), [document]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            refs |= {node["$ref"]} if "$ref" in node else set()
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    defined = {
        f"#/components/{group}/{name}"
        for group, members in document["components"].items()
        for name in members
    }
    assert refs and refs <= defined


def test_openapi_examples_parse() -> None:
    """The predict examples (lists and objects) and the infer example parse."""
    document = openapi("iris", FEATURES, SIGNATURE)
    predict = document["paths"]["/iris/predict"]["post"]["requestBody"]["content"]
    examples = [e["value"] for e in predict["application/json"]["examples"].values()]
    frames = [parse_instances(as_json(e), FEATURES, max_instances=1) for e in examples]
    pd.testing.assert_frame_equal(frames[0], frames[1])
    infer = document["paths"]["/v2/models/iris/infer"]["post"]["requestBody"]["content"]
    frame, _ = parse_infer(infer["application/json"]["example"], FEATURES, max_instances=1)
    pd.testing.assert_frame_equal(frames[0], frame)


def test_openapi_gives_each_feature_its_json_type() -> None:
    """An instance as an object has one property per feature, typed as its values must be."""
    schemas = openapi("iris", FEATURES, SIGNATURE)["components"]["schemas"]
    expected = {
        "x": "number",
        "n": "integer",
        "flag": "boolean",
        "color": "string",
        "k": "string",
        "z": "number",
    }
    properties = schemas["InstanceObject"]["properties"]
    assert expected == {name: schema["type"] for name, schema in properties.items()}
    assert schemas["Prediction"]["enum"] == ["a", "b"]
