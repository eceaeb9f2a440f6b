r"""Hostile bodies against the pure protocol: parsed or refused with a 4xx, and every
answer, message and value encodable as UTF-8 strict JSON.

JSON can escape a lone UTF-16 surrogate (``"\ud800"``), which Python decodes into a string
that no response, error message or log row can hold; bodies here carry them often.
"""

from __future__ import annotations

import functools
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlops_lab._json import strict_json
from mlops_lab.protocol import (
    RequestError,
    parse_feedback,
    parse_infer,
    parse_instances,
    read_json,
    to_json_values,
)

FEATURES = [
    {"name": "x", "dtype": "float64"},
    {"name": "n", "dtype": "int64"},
    {"name": "flag", "dtype": "bool"},
    {"name": "color", "dtype": "object"},
]
CHARACTERS = st.characters(min_codepoint=0, max_codepoint=0x10FFFF) | st.characters(
    min_codepoint=0xD800, max_codepoint=0xDFFF
)  # the second makes lone surrogates common, not one in hundreds
TEXT = st.lists(CHARACTERS, max_size=8).map("".join)  # st.text drops surrogates
NUMBERS = st.integers() | st.integers(-(10**400), 10**400) | st.floats()
SCALARS = st.none() | st.booleans() | NUMBERS | TEXT
KEYS = TEXT | st.sampled_from(["x", "n", "flag", "color", "request_id", "truth", "reward"])
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(KEYS, inner, max_size=5),
    max_leaves=25,
)
TENSORS = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["x", "n", "flag", "color", "m"]) | JSON,
        "shape": st.lists(st.integers(-1, 3) | st.integers(), max_size=3) | JSON,
        "datatype": st.sampled_from(["FP64", "INT64", "BOOL", "BYTES"]) | JSON,
        "data": st.lists(SCALARS | st.lists(SCALARS, max_size=4), max_size=8) | JSON,
    }
)
PAYLOADS = (
    JSON
    | st.builds(lambda rows: {"instances": rows}, st.lists(JSON | st.dictionaries(KEYS, JSON)))
    | st.builds(lambda t, i: {"inputs": t, "id": i}, st.lists(TENSORS, max_size=4), TEXT | JSON)
    | st.lists(st.dictionaries(KEYS, JSON, max_size=4), max_size=4)
)


def strict(value) -> bytes:
    """``value`` as a response writes it: UTF-8 JSON without NaN (raises otherwise)."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")


@settings(max_examples=300, deadline=None)
@given(payload=PAYLOADS)
def test_what_read_json_gives_every_parser_answers_in_strict_utf8(payload) -> None:
    """A body as a client writes it (surrogates escaped) reads into encodable values; every
    parser then returns or raises a 4xx whose body is strict UTF-8 JSON naming its field."""
    value = read_json(json.dumps(payload).encode(), max_bytes=10**7)
    json.dumps(value, ensure_ascii=False).encode("utf-8")
    for parse in (
        lambda: parse_instances(value, FEATURES, max_instances=5),
        lambda: parse_infer(value, FEATURES, max_instances=5),
        lambda: parse_feedback(value, max_items=5),
    ):
        try:
            parsed = parse()
        except RequestError as error:
            assert 400 <= error.status < 500
            assert error.message.startswith(error.field)
            strict(error.body())
        else:
            if isinstance(parsed, list):  # feedback: truths and ids the store can keep
                strict([[item.request_id, item.truth] for item in parsed])


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=64) | TEXT.map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_any_bytes_are_read_or_refused_as_malformed(body) -> None:
    """Bytes that are not UTF-8 JSON (surrogates encoded as bytes included) are a 400."""
    try:
        value = read_json(body, max_bytes=10**6)
    except RequestError as error:
        assert (error.status, error.code) == (400, "malformed_json")
        strict(error.body())
    else:
        json.dumps(value, ensure_ascii=False).encode("utf-8")


def test_a_lone_surrogate_key_is_refused_in_encodable_words() -> None:
    r"""The key "\ud800" names the feature as the text \ud800 in the field and message."""
    payload = read_json(b'{"instances": [{"\\ud800": 1.0}]}', max_bytes=1000)
    with pytest.raises(RequestError) as caught:
        parse_instances(payload, FEATURES, max_instances=5)
    assert caught.value.field == "instances[0].\\ud800"
    strict(caught.value.body())


def test_valid_surrogate_pairs_read_as_the_character() -> None:
    """An escaped pair is one character, kept as it was sent."""
    assert read_json(b'["\\ud83d\\ude00", "\\\\ud800"]', max_bytes=100) == ["\U0001f600", "\\ud800"]


@pytest.mark.parametrize(
    ("truth", "received"),
    [
        (math.nan, "NaN or Infinity"),
        ([1, {"a": -math.inf}], "NaN or Infinity"),
        (functools.reduce(lambda inner, _: [inner], range(5000), 1), "nested too deeply"),
    ],
)
def test_a_truth_that_json_cannot_hold_is_refused(truth, received) -> None:
    """NaN, infinities and nesting too deep to write are a 400 naming the truth."""
    with pytest.raises(RequestError) as caught:
        items = [{"request_id": "a", "reward": 1}, {"request_id": "r", "truth": truth}]
        parse_feedback(items, max_items=5)
    assert (caught.value.status, caught.value.field) == (400, "[1].truth")
    assert received in caught.value.message


def test_predictions_of_objects_are_strict_json() -> None:
    """Object predictions holding containers with NaN or surrogates become strict JSON."""
    predictions = np.empty(2, dtype=object)
    predictions[:] = [{"p": [np.float64("nan"), 1.0]}, ("\ud800", np.int64(2))]
    assert to_json_values(predictions) == [{"p": [None, 1.0]}, ["\\ud800", 2]]
    strict(to_json_values(predictions))


@given(value=JSON)
def test_strict_json_makes_anything_strict(value) -> None:
    """Every JSON value, NaN and surrogates included, writes as strict UTF-8 JSON."""
    strict(strict_json(value))
