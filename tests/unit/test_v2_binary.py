"""The binary tensor data extension of the Open Inference Protocol, against Triton's client.

Requests are built and responses read with ``tritonclient``'s own helpers, as its users'
calls build and read them; ours parse and answer.
"""

from __future__ import annotations

import json
import math
import struct

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from tritonclient.http import InferenceServerClient, InferInput, InferRequestedOutput
from tritonclient.utils import np_to_triton_dtype

from mlops_lab.protocol import (
    HEADER,
    RequestError,
    binary_outputs,
    decode_tensor,
    encode_response,
    encode_tensor,
    infer_response,
    not_served,
    parse_infer,
    served_version,
    split_body,
)
from tests.unit.test_serve_protocol import MIXED

IRIS = [{"name": name, "dtype": "float64"} for name in ("sl", "sw", "pl", "pw")]
LIMIT = 1000
MAX_BYTES = 1_000_000


def triton_request(inputs, outputs=None, request_id="") -> tuple[bytes, dict[str, str]]:
    """The body and headers tritonclient sends for ``inputs`` (as its infer() does)."""
    body, json_size = InferenceServerClient.generate_request_body(
        inputs, outputs=outputs, request_id=request_id
    )
    return body, {} if json_size is None else {HEADER: str(json_size)}


def tensor(name, array, binary=True) -> InferInput:
    """A tritonclient input holding ``array``."""
    made = InferInput(name, list(array.shape), np_to_triton_dtype(array.dtype))
    return made.set_data_from_numpy(array, binary_data=binary)


def parse(body, headers, features=IRIS):
    """Our reading of a request: the frame and the id."""
    payload, data = split_body(body, headers, max_bytes=MAX_BYTES)
    return parse_infer(payload, features, max_instances=LIMIT, binary=data)


def refused(call, *args, **kwargs) -> RequestError:
    """The RequestError that ``call(*args, **kwargs)`` raises."""
    with pytest.raises(RequestError) as caught:
        call(*args, **kwargs)
    return caught.value


FINITE = st.floats(allow_nan=False, allow_infinity=False, width=64)
MATRICES = st.integers(1, 20).flatmap(lambda n: arrays(np.float64, (n, 4), elements=FINITE))


# --- requests ---


@settings(max_examples=60, deadline=None)
@given(matrix=MATRICES, dtype=st.sampled_from([np.float64, np.float32, np.float16]))
def test_a_binary_matrix_parses_as_its_json_form(matrix, dtype) -> None:
    """tritonclient's default call (binary data) and its JSON call give the same frame,
    the values of the array."""
    with np.errstate(over="ignore"):
        array = matrix.astype(dtype)
    if not np.isfinite(array).all():  # narrowing overflowed: such values are refused
        return
    frame, _ = parse(*triton_request([tensor("input-0", array)]))
    as_json, _ = parse(*triton_request([tensor("input-0", array, binary=False)]))
    pd.testing.assert_frame_equal(as_json, frame)
    np.testing.assert_array_equal(array.astype(np.float64), frame.to_numpy())


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 8),
    data=st.data(),
    binary=st.lists(st.booleans(), min_size=4, max_size=4),
)
def test_tensors_per_feature_of_every_datatype_parse_binary_or_json(n, data, binary) -> None:
    """One tensor per feature, each sent as binary data or in the JSON at random, FP32,
    INT64, BOOL and BYTES (any text, 4-byte length-prefixed), parse as the values sent."""
    x = data.draw(arrays(np.float32, n, elements=st.floats(-1e6, 1e6, width=32)))
    k = data.draw(arrays(np.int64, n))
    flag = data.draw(arrays(np.bool_, n))
    color = np.array(data.draw(st.lists(st.text(), min_size=n, max_size=n)), dtype=object)
    if any("\ud800" <= c <= "\udfff" for text in color for c in text):
        return  # text that UTF-8 cannot encode cannot be sent in either form
    color_bytes = np.array([text.encode("utf-8") for text in color], dtype=object)
    inputs = [
        tensor(name, array, binary=flag_)
        for name, array, flag_ in zip(
            ["x", "n", "flag", "color"], [x, k, flag, color_bytes], binary, strict=True
        )
    ]
    frame, request_id = parse(*triton_request(inputs, request_id="r7"), features=MIXED)
    assert request_id == "r7"
    assert frame["x"].tolist() == x.astype(np.float64).tolist()
    assert frame["n"].tolist() == k.tolist()
    assert frame["flag"].tolist() == flag.tolist()
    assert frame["color"].tolist() == list(color)


def test_a_body_without_the_header_is_all_json() -> None:
    """Without Inference-Header-Content-Length the whole body is the JSON object."""
    body = json.dumps({"inputs": [{"name": "i", "shape": [1, 4], "datatype": "FP64",
                                   "data": [1, 2, 3, 4]}]}).encode()  # fmt: skip
    frame, _ = parse(body, {})
    assert frame.to_numpy().tolist() == [[1.0, 2.0, 3.0, 4.0]]


def binary_request(*tensors, header=None, tail=None):
    """A body of ``tensors`` (JSON objects) whose binary data follows: ``tail`` or the
    concatenation of each tensor's ``"raw"``; the header gives the JSON's length."""
    raws = [t.pop("raw", b"") for t in tensors]
    head = json.dumps({"inputs": list(tensors)}).encode()
    body = head + (b"".join(raws) if tail is None else tail)
    return body, {HEADER: str(len(head)) if header is None else header}


def fp64(shape, values, size=None):
    raw = struct.pack(f"<{len(values)}d", *values)
    params = {"binary_data_size": len(raw) if size is None else size}
    return {"name": "i", "shape": shape, "datatype": "FP64", "parameters": params, "raw": raw}


def strings(values, raw=None):
    if raw is None:
        raw = b"".join(struct.pack("<I", len(v)) + v for v in values)
    params = {"binary_data_size": len(raw)}
    return {"name": "color", "shape": [len(values)], "datatype": "BYTES", "parameters": params,
            "raw": raw}  # fmt: skip


def per_feature_with(color):
    """The MIXED features, 'color' as given, the others as JSON."""
    rest = [
        {"name": "x", "shape": [1], "datatype": "FP64", "data": [0.5]},
        {"name": "n", "shape": [1], "datatype": "INT64", "data": [3]},
        {"name": "flag", "shape": [1], "datatype": "BOOL", "data": [True]},
    ]
    return (*rest, color)


MALFORMED = [
    # (body and headers, status, code, field)
    (binary_request(fp64([1, 4], [1, 2, 3, 4]), header="12x"), 400, "invalid_header",
     "Inference-Header-Content-Length"),
    (binary_request(fp64([1, 4], [1, 2, 3, 4]), header="-3"), 400, "invalid_header",
     "Inference-Header-Content-Length"),
    (binary_request(fp64([1, 4], [1, 2, 3, 4]), header="99999"), 400, "invalid_header",
     "Inference-Header-Content-Length"),
    (binary_request(fp64([1, 4], [1, 2, 3, 4]), header="10"), 400, "malformed_json", "body"),
    (binary_request(fp64([1, 4], [1, 2, 3, 4], size=40)), 400, "binary_size_mismatch",
     "inputs[0].parameters.binary_data_size"),
    (binary_request(fp64([1, 4], [1, 2, 3, 4], size=24)), 400, "binary_size_mismatch", "body"),
    (binary_request(fp64([1, 4], [1, 2, 3, 4]), tail=b"\0" * 40), 400, "binary_size_mismatch",
     "body"),
    (binary_request(fp64([1, 4], [1, 2, 3]), tail=b"\0" * 24), 400, "binary_size_mismatch",
     "inputs[0].parameters.binary_data_size"),
    (binary_request(fp64([1, 4], [1, 2, 3, 4], size=-8)), 400, "wrong_type",
     "inputs[0].parameters.binary_data_size"),
    (binary_request(fp64([1, 4], [1, 2, 3, 4], size=True)), 400, "wrong_type",
     "inputs[0].parameters.binary_data_size"),
    (binary_request({**fp64([1, 4], [1, 2, 3, 4]), "data": [1, 2, 3, 4]}), 400,
     "invalid_payload", "inputs[0].data"),
    (binary_request({**fp64([1, 4], [1, 2, 3, 4]), "datatype": "FP32"}), 400,
     "binary_size_mismatch", "inputs[0].parameters.binary_data_size"),
    (binary_request({**fp64([1, 4], [1, 2, 3, 4]), "datatype": "FP99"}), 400, "invalid_value",
     "inputs[0].datatype"),
    (binary_request(fp64([1, 4], [1, 2, math.nan, 4])), 400, "invalid_value",
     "inputs[0].data[2]"),
    (binary_request(*per_feature_with(strings([b"ab"], raw=b"\x05\0\0\0ab"))), 400,
     "binary_size_mismatch", "inputs[3].data[0]"),
    (binary_request(*per_feature_with(strings([b"ab"], raw=b"\x02\0"))), 400,
     "binary_size_mismatch", "inputs[3].data[0]"),
    (binary_request(*per_feature_with(strings([b"\xff"]))), 400, "invalid_value",
     "inputs[3].data[0]"),
    (binary_request(*per_feature_with({**strings([b"a", b"b"]), "shape": [1]})), 400,
     "shape_mismatch", "inputs[3].data"),
]  # fmt: skip


@pytest.mark.parametrize(("request_", "status", "code", "field"), MALFORMED)
def test_malformed_binary_data_is_refused_naming_what_was_wrong(
    request_, status, code, field
) -> None:
    """A header that is not a length within the body, sizes that do not add up to the data
    after the JSON, a size that does not fit the shape and datatype, and BYTES elements
    whose lengths overrun or are not UTF-8 are 4xx errors naming the field."""
    features = MIXED if b'"color"' in request_[0] else IRIS
    error = refused(parse, *request_, features=features)
    assert (status, code, field) == (error.status, error.code, error.field)
    assert error.message.startswith(field)


def test_bool_bytes_other_than_0_and_1_are_refused() -> None:
    """A BOOL is the byte 0 or 1; another byte is refused naming its element."""
    error = refused(decode_tensor, bytes([1, 0, 2]), "BOOL", (3,), "inputs[2]")
    assert (error.code, error.field) == ("invalid_value", "inputs[2].data[2]")


@settings(max_examples=300, deadline=None)
@given(
    head=st.binary(max_size=200)
    | st.just(
        b'{"inputs": [{"name": "i", "shape": [1, 4], '
        b'"datatype": "FP64", "parameters": '
        b'{"binary_data_size": 32}}]}'
    ),
    tail=st.binary(max_size=64),
    header=st.none() | st.text(max_size=6) | st.integers(-5, 300).map(str),
)
def test_any_body_and_header_is_parsed_or_refused_with_a_request_error(head, tail, header):
    """Whatever bytes and header arrive, the body is parsed or refused with a 4xx whose
    JSON body is encodable; nothing else escapes."""
    headers = {} if header is None else {HEADER: header}
    for features in (IRIS, MIXED):
        try:
            parse(head + tail, headers, features)
        except RequestError as error:
            assert 400 <= error.status < 500
            json.dumps(error.body(), ensure_ascii=False).encode("utf-8")


# --- responses ---

PREDICTIONS = (
    arrays(np.float64, st.integers(1, 20))
    | arrays(np.float32, st.integers(1, 20))
    | arrays(np.int64, st.integers(1, 20))
    | arrays(np.bool_, st.integers(1, 20))
    | st.lists(st.text(), min_size=1, max_size=20).map(lambda v: np.array(v, dtype=object))
)


@settings(max_examples=100, deadline=None)
@given(predictions=PREDICTIONS, binary=st.booleans())
def test_responses_read_back_through_tritonclient(predictions, binary) -> None:
    """A response read by tritonclient holds the predictions, in binary data or in the
    JSON; a NaN or infinite one is missing in both (null in JSON, NaN in binary data), as
    /predict has it."""
    response = infer_response("iris", "iris@1", "r1", predictions, request_ids=["a"])
    body, headers = encode_response(response, {"predict"} if binary else set())
    length = headers.get(HEADER)
    expected_type = "application/octet-stream" if binary else "application/json"
    assert headers["content-type"] == expected_type
    result = InferenceServerClient.parse_response_body(
        body, header_length=None if length is None else int(length)
    )
    got = result.as_numpy("predict")
    if predictions.dtype == object:
        got = [v.decode("utf-8") if isinstance(v, bytes) else v for v in got]
        assert got == [_text_as_sent(v) for v in predictions]
    elif predictions.dtype.kind == "f":  # a non-finite prediction is missing, as in /predict
        np.testing.assert_array_equal(np.where(np.isfinite(predictions), predictions, np.nan), got)
    else:
        np.testing.assert_array_equal(predictions, got)
    assert result.get_response()["model_version"] == "iris@1"


def _text_as_sent(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def test_an_output_binary_data_cannot_hold_is_sent_as_json() -> None:
    """An integer output with a missing value is sent in the JSON even when asked for as
    binary data; the others are sent as binary data."""
    assert encode_tensor([1, None], "INT64") is None
    assert encode_tensor(["a", None], "BYTES") is None
    output = {"name": "predict", "shape": [2], "datatype": "INT64", "data": [1, None]}
    body, headers = encode_response({"outputs": [output]}, {"predict"})
    assert HEADER not in headers and json.loads(body)["outputs"] == [output]


@pytest.mark.parametrize(
    ("outputs", "parameters", "expected"),
    [
        (None, None, set()),
        (None, {"binary_data_output": True}, {"predict"}),
        ([], {"binary_data_output": True}, {"predict"}),
        ([InferRequestedOutput("predict")], None, {"predict"}),
        ([InferRequestedOutput("predict", binary_data=False)], None, set()),
        (
            [InferRequestedOutput("predict", binary_data=False)],
            {"binary_data_output": True},
            set(),
        ),
        ([{"name": "predict"}], {"binary_data_output": True}, {"predict"}),
    ],
)
def test_outputs_are_binary_as_the_request_asks(outputs, parameters, expected) -> None:
    """An output's own binary_data decides, else the request's binary_data_output, else
    JSON; tritonclient asks for binary data by default."""
    payload = {"inputs": []}
    if outputs is not None:
        payload["outputs"] = [o if isinstance(o, dict) else o._get_tensor() for o in outputs]
    if parameters is not None:
        payload["parameters"] = parameters
    assert expected == binary_outputs(payload)


def test_tritonclients_default_call_asks_for_binary_outputs() -> None:
    """tritonclient's default call (no outputs named) asks for every output as binary."""
    body, headers = triton_request([tensor("input-0", np.zeros((1, 4)))])
    payload, _ = split_body(body, headers, max_bytes=MAX_BYTES)
    assert {"predict"} == binary_outputs(payload)


@pytest.mark.parametrize(
    ("payload", "code", "field"),
    [
        ({"outputs": [{"name": "proba"}]}, "unknown_output", "outputs[0].name"),
        ({"outputs": [{"name": ["predict"]}]}, "unknown_output", "outputs[0].name"),
        ({"outputs": ["predict"]}, "wrong_type", "outputs[0]"),
        ({"outputs": {"name": "predict"}}, "wrong_type", "outputs"),
        (
            {"outputs": [{"name": "predict", "parameters": []}]},
            "wrong_type",
            "outputs[0].parameters",
        ),
        (
            {"outputs": [{"name": "predict", "parameters": {"binary_data": 1}}]},
            "wrong_type",
            "outputs[0].parameters.binary_data",
        ),
        (
            {"parameters": {"binary_data_output": "yes"}},
            "wrong_type",
            "parameters.binary_data_output",
        ),
    ],
)
def test_requested_outputs_are_refused_naming_the_field(payload, code, field) -> None:
    """An unknown output, or a flag that is not true or false, is a 400 naming it."""
    error = refused(binary_outputs, payload)
    assert (400, code, field) == (error.status, error.code, error.field)
    assert error.message.startswith(field)


# --- versions ---


@given(arms=st.lists(st.sampled_from(["a@1", "b@2", "c@3"]), min_size=1))
def test_the_response_names_the_version_that_served_most_instances(arms) -> None:
    """The response's model_version is a served version: the one of all instances when
    they went to one, else the most frequent, the first listed on a tie."""
    served = ["a@1", "b@2", "c@3"]
    version = served_version(arms, served)
    assert version in served
    assert arms.count(version) == max(arms.count(arm) for arm in served)
    assert all(arms.count(arm) < arms.count(version) for arm in served[: served.index(version)])


def test_a_version_not_served_is_a_404_naming_the_served_ones() -> None:
    """A version that is not served is a 404 on model_version listing those that are."""
    error = not_served("999", ["iris@1", "iris@2"])
    assert (error.status, error.code, error.field) == (404, "unknown_version", "model_version")
    assert "'iris@1', 'iris@2'" in error.message and "'999'" in error.message
