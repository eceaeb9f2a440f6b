r"""Hostile requests on a live endpoint: every answer is a JSON body below 500, and the log goes on.

Bodies are drawn by Hypothesis: JSON of arbitrary strings (lone UTF-16 surrogates written
as ``\ud800`` escapes included), keys and nesting, NaN and huge numbers, deep nesting, and
raw bytes that are not UTF-8, sent over real HTTP to a real Ray Serve endpoint.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression

from mlops_lab import Lab

X, Y = load_iris(return_X_y=True, as_frame=True)
FEATURES = list(X.columns)
ROW = X.iloc[0].tolist()
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def hostile(lab: Lab):
    """An iris endpoint without a token."""
    ref = lab.registry.register("hostile-lr", LogisticRegression(max_iter=1000).fit(X, Y)).ref
    ep = lab.deploy("hostile", ref)
    yield ep
    ep.undeploy()


@pytest.fixture(scope="module")
def served(hostile) -> list[str]:
    """Ids of requests the endpoint served, in the store (for feedback that finds them)."""
    answer = requests.post(f"{hostile.url}/predict", json={"instances": [ROW] * 8}, timeout=60)
    assert answer.status_code == 200
    assert hostile.flush()
    return answer.json()["request_ids"]


def _send(url: str, body: bytes, headers: dict[str, str] | None = None) -> requests.Response:
    """POST raw bytes; the answer must be below 500 with a JSON body."""
    sent = {"Content-Type": "application/json", **(headers or {})}
    reply = requests.post(url, data=body, headers=sent, timeout=60)
    assert reply.status_code < 500, (body[:300], reply.status_code, reply.text[:500])
    reply.json()  # raises unless the body is JSON
    return reply


def _v2(ep: Any) -> str:
    return f"{ep.url.rsplit('/', 1)[0]}/v2/models/{ep.name}/infer"


# --- strategies: any text, any JSON, the three routes' bodies ---

CHARACTERS = st.characters(min_codepoint=0, max_codepoint=0x10FFFF) | st.characters(
    min_codepoint=0xD800, max_codepoint=0xDFFF
)  # the second makes lone surrogates common, not one in hundreds
TEXT = st.lists(CHARACTERS, max_size=12).map("".join)  # st.text drops surrogates
NUMBERS = (
    st.integers()
    | st.integers(-(10**400), 10**400)
    | st.floats()
    | st.sampled_from([1e308, -1e308, 2**63, 2**64])
)
SCALARS = st.none() | st.booleans() | NUMBERS | TEXT
KEYS = TEXT | st.sampled_from(FEATURES)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(KEYS, inner, max_size=5),
    max_leaves=25,
)
FINITE = st.floats(-10, 10)
INSTANCE = st.one_of(
    st.dictionaries(KEYS, FINITE | NUMBERS, min_size=1, max_size=5),
    st.fixed_dictionaries(
        {name: FINITE | NUMBERS | JSON for name in FEATURES}, optional={"x": JSON}
    ),
    st.lists(FINITE | NUMBERS | JSON, min_size=3, max_size=5),
    JSON,
)
INSTANCES = st.builds(lambda rows: {"instances": rows}, st.lists(INSTANCE, min_size=1, max_size=3))
TENSOR = st.fixed_dictionaries(
    {
        "name": st.sampled_from([*FEATURES, "x"]) | JSON,
        "shape": st.lists(st.integers(-2, 4) | st.integers(), max_size=3) | JSON,
        "datatype": st.sampled_from(["FP64", "FP32", "INT64", "BOOL", "BYTES"]) | JSON,
        "data": st.lists(NUMBERS | st.lists(NUMBERS, max_size=4), max_size=8) | JSON,
    },
    optional={"parameters": JSON},
)


def _matrix(rows: int) -> st.SearchStrategy[dict[str, Any]]:
    """A tensor of all features, of values the model takes most often."""
    values = st.lists(FINITE, min_size=4 * rows, max_size=4 * rows) | st.lists(
        FINITE | NUMBERS | JSON, min_size=4 * rows, max_size=4 * rows
    )
    return st.fixed_dictionaries(
        {
            "name": st.just("x") | TEXT,
            "shape": st.just([rows, 4]),
            "datatype": st.sampled_from(["FP64", "FP32", "INT64"]),
            "data": values,
        }
    )


MATRIX = st.integers(1, 3).flatmap(_matrix)


def _deep(depth: int, leaf: Any) -> Any:
    for _ in range(depth):
        leaf = [leaf]
    return leaf


DEEP = st.builds(_deep, st.integers(1, 3000), SCALARS)


def _encoded(payload: Any) -> bytes:
    """JSON text as a client sends it: lone surrogates escaped, NaN as Python writes it."""
    try:
        return json.dumps(payload).encode()
    except RecursionError:  # deeper than this process can write: the nesting by hand
        return b"[" * 3000 + b"]" * 3000


RAW = (
    st.binary(max_size=64)
    | st.builds(lambda junk: b'{"instances": [["' + junk + b'"]]}', st.binary(max_size=16))
    | st.sampled_from([b"", b"[" * 100_000, b"1" * 5000, b'{"instances": [[1e999, 1, 1, 1]]}'])
)


def _bodies(likely: st.SearchStrategy[Any], *others: st.SearchStrategy[Any]) -> st.SearchStrategy:
    """Bodies of the route's own shape most often, then others, any JSON, raw bytes."""
    payloads = st.one_of(likely, likely, likely, *others, JSON, DEEP)
    return st.one_of(payloads.map(_encoded), payloads.map(_encoded), RAW)


def predict_bodies() -> st.SearchStrategy[bytes]:
    return _bodies(INSTANCES, st.builds(lambda deep: {"instances": [deep]}, DEEP))


def feedback_bodies(fresh: str) -> st.SearchStrategy[bytes]:
    """Feedback on ``fresh`` most often, a served request without feedback yet, so that the
    truth goes to the store; an unknown id waits for its row, which takes seconds."""
    ids = st.one_of(st.just(fresh), st.just(fresh), st.just(fresh), TEXT, JSON)
    truth = st.fixed_dictionaries(
        {"request_id": ids, "truth": JSON | DEEP}, optional={"reward": FINITE | NUMBERS}
    )
    item = st.fixed_dictionaries(
        {"request_id": ids}, optional={"truth": JSON | DEEP, "reward": NUMBERS | JSON}
    )
    feedback = st.builds(lambda f: {"feedback": f}, st.lists(item, max_size=3) | JSON)
    return _bodies(truth, item, st.lists(item, max_size=3), feedback)


def infer_bodies() -> st.SearchStrategy[bytes]:
    served = st.fixed_dictionaries({"id": TEXT, "inputs": st.tuples(MATRIX).map(list)})
    inputs = st.one_of(st.tuples(MATRIX).map(list), st.lists(TENSOR, max_size=5), JSON)
    payload = st.fixed_dictionaries({"inputs": inputs}, optional={"id": JSON, "parameters": JSON})
    return _bodies(served, payload)


# --- the routes, fuzzed ---


@FUZZ
@given(data=st.data())
def test_no_predict_body_gets_a_5xx(hostile, data) -> None:
    """POST /<ep>/predict answers any body below 500 with a JSON body."""
    _send(f"{hostile.url}/predict", data.draw(predict_bodies()))


@FUZZ
@given(data=st.data())
def test_no_feedback_body_gets_a_5xx(hostile, data) -> None:
    """POST /<ep>/feedback answers any body below 500 with a JSON body."""
    fresh = _send(f"{hostile.url}/predict", json.dumps({"instances": [ROW]}).encode())
    _send(f"{hostile.url}/feedback", data.draw(feedback_bodies(fresh.json()["request_ids"][0])))


@FUZZ
@given(data=st.data())
def test_no_infer_body_gets_a_5xx(hostile, data) -> None:
    """POST /v2/models/<ep>/infer answers any body below 500 with a JSON body."""
    _send(_v2(hostile), data.draw(infer_bodies()))


# --- what an attacker tried first, one by one ---


def test_a_lone_surrogate_key_is_refused_and_its_row_is_stored(lab: Lab, hostile) -> None:
    r"""A feature key "\ud800" is a 400 naming the instance; the refused request's row,
    which quotes the key, reaches the store, and so do the requests after it."""
    reply = _send(f"{hostile.url}/predict", b'{"instances": [{"\\ud800": 1.0}]}')
    assert reply.status_code == 400 and "instances[0]" in reply.text
    served = _send(f"{hostile.url}/predict", json.dumps({"instances": [ROW]}).encode())
    assert hostile.flush(timeout=60)
    rows = lab.sql(
        "SELECT status, error FROM requests WHERE endpoint = 'hostile' AND error LIKE ?",
        ["%\\ud800%"],
    )
    assert 400 in rows.status.tolist()
    assert lab.sql(
        "SELECT count(*) AS n FROM requests WHERE request_id = ?",
        [served.json()["request_ids"][0]],
    ).n[0] == 1  # fmt: skip


def test_lone_surrogates_in_feedback_are_answered(hostile, served) -> None:
    r"""A request id "\ud800" is a 404; a truth "\ud800" on a served request is stored."""
    unknown = _send(f"{hostile.url}/feedback", b'{"request_id": "\\ud800", "truth": 1}')
    assert unknown.status_code == 404 and "request_id" in unknown.text
    rid = served[-1]
    body = f'{{"request_id": "{rid}", "truth": "\\ud800"}}'.encode()
    assert _send(f"{hostile.url}/feedback", body).status_code == 200


@pytest.mark.parametrize("truth", [b"NaN", b"Infinity", b"-1e999", b'[1, {"a": NaN}]'])
def test_a_truth_json_cannot_hold_is_refused(hostile, served, truth) -> None:
    """NaN and infinities, which JSON has not, are a 400 naming the truth."""
    body = b'{"request_id": "' + served[0].encode() + b'", "truth": ' + truth + b"}"
    reply = _send(f"{hostile.url}/feedback", body)
    assert reply.status_code == 400 and "truth" in reply.text


def test_a_lone_surrogate_infer_id_is_echoed_escaped(hostile) -> None:
    r"""A v2 id "\ud800" is served, and comes back as the text \ud800."""
    tensor = {"name": "x", "shape": [1, 4], "datatype": "FP64", "data": ROW}
    body = json.dumps({"id": "\ud800", "inputs": [tensor]}).encode()
    reply = _send(_v2(hostile), body)
    assert (reply.status_code, reply.json()["id"]) == (200, "\\ud800")


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer \xff\xfe"},
        {"Authorization": "Basic Zm9vOmJhcg=="},
        {"Authorization": "Bearer"},
        {"Content-Type": "text/plain; charset=\xff"},
        {"Accept": "application/x-nothing"},
        {"X-Odd": "\xe9\xff\xa0" * 100},  # control characters: the HTTP server's own 400
    ],
)
def test_odd_headers_are_answered(hostile, headers) -> None:
    """Odd header values change nothing for an endpoint without a token."""
    body = json.dumps({"instances": [ROW]}).encode()
    assert _send(f"{hostile.url}/predict", body, headers).status_code == 200
    assert _send(_v2(hostile), b"{}", headers).status_code == 400


@pytest.mark.parametrize("path", ["/predict/x", "/%ff%fe", "/\u00e9", "/openapi.json/..", "/%00"])
def test_odd_paths_are_answered(hostile, path) -> None:
    """Paths the endpoint does not serve are a JSON 4xx."""
    for method in ("GET", "POST", "PUT"):
        reply = requests.request(method, hostile.url + path, timeout=60)
        assert reply.status_code < 500 and isinstance(reply.json(), dict)


def test_a_regressor_that_predicts_nan_answers_null(lab: Lab) -> None:
    """A NaN prediction is null in /predict and in v2 infer, and its log row holds JSON null."""
    model = LinearRegression().fit(X, Y)
    model.intercept_ = np.nan  # a fitted regressor whose every prediction is NaN
    ref = lab.registry.register("hostile-nan", model).ref
    ep = lab.deploy("hostile-nan", ref)
    try:
        reply = _send(f"{ep.url}/predict", json.dumps({"instances": [ROW]}).encode())
        assert (reply.status_code, reply.json()["predictions"]) == (200, [None])
        tensor = {"name": "x", "shape": [1, 4], "datatype": "FP64", "data": ROW}
        infer = _send(_v2(ep), json.dumps({"inputs": [tensor]}).encode())
        assert (infer.status_code, infer.json()["outputs"][0]["data"]) == (200, [None])
        assert ep.flush(timeout=60)
        logged = lab.sql(
            "SELECT prediction FROM requests WHERE request_id = ?",
            [reply.json()["request_ids"][0]],
        )
        assert logged.prediction.tolist() == ["null"]
    finally:
        ep.undeploy()


def test_after_the_fuzzing_every_row_is_stored(hostile) -> None:
    """The log has taken every row of the requests above, refused ones included."""
    assert hostile.flush(timeout=60)
    log = hostile.describe()["log"]
    assert (log["appended"], 0) == (log["written"], log["in_memory"])
