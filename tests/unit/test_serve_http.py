"""The HTTP plumbing: the token check, bounded bodies and JSON answers that cannot fail."""

from __future__ import annotations

import asyncio
import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.requests import Request

from mlops_lab.serve._http import (
    json_response,
    read_body,
    request_headers,
    token_digest,
    unauthorized,
)

TEXT = st.lists(  # st.text leaves lone surrogates out
    st.characters(min_codepoint=0, max_codepoint=0x10FFFF)
    | st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
).map("".join)


def _request(*headers: tuple[bytes, bytes], body: bytes = b"") -> Request:
    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {"type": "http", "method": "POST", "path": "/x", "headers": list(headers)}
    return Request(scope, receive)


def test_without_a_token_every_request_passes() -> None:
    """A lab without an auth_token checks nothing."""
    assert unauthorized(_request().headers, None) is None
    assert unauthorized(None, None) is None


def test_only_the_right_bearer_token_passes() -> None:
    """The right token passes; a missing, wrong or non-bearer one is a 401 naming the header."""
    digest = token_digest("s3cret")
    assert unauthorized(_request((b"authorization", b"Bearer s3cret")).headers, digest) is None
    for headers in [(), ((b"authorization", b"Bearer nope"),), ((b"authorization", b"s3cret"),)]:
        refused = unauthorized(_request(*headers).headers, digest)
        assert refused is not None and refused.status == 401
        assert refused.body()["field"] == "Authorization"


def test_the_headers_a_gateway_forwards_are_checked_alike() -> None:
    """The plain dict of lower-case names passed with a handle call is checked as the
    request's own headers are; no dict at all is a request without the header."""
    digest = token_digest("s3cret")
    request = _request((b"Authorization", b"Bearer s3cret"), (b"X-Other", b"1"))
    forwarded = request_headers(request)
    assert forwarded == {"authorization": "Bearer s3cret", "x-other": "1"}
    assert unauthorized(forwarded, digest) is None
    for refused in ({}, {"Authorization": "Bearer s3cret"}, None, "Bearer s3cret", {"x": 1}):
        error = unauthorized(refused, digest)  # type: ignore[arg-type]
        assert error is not None and error.status == 401


@given(value=TEXT | st.none() | st.integers())
def test_no_authorization_value_raises(value) -> None:
    """Whatever the header holds (lone surrogates too), the check answers: pass or 401."""
    refused = unauthorized({"authorization": value}, token_digest("s3cret"))
    assert refused is None or refused.status == 401


def test_servers_keep_a_digest_not_the_token() -> None:
    """The digest is the token's SHA-256 in hex, and differs from the token."""
    digest = token_digest("s3cret")
    assert digest is not None and len(digest) == 64 and "s3cret" not in digest


def test_an_odd_content_length_is_read_as_no_length() -> None:
    """Digits int() cannot read, or too many of them, do not fail the read: the body is
    read up to the limit, and a declared size above it is a 413."""
    for declared in ["\u00b2", "\u0663", "9" * 5000, "-1", "1e3", " 12"]:
        request = _request((b"content-length", declared.encode("latin-1", "replace")), body=b"{}")
        assert asyncio.run(read_body(request, 100)) == b"{}"
    too_large = asyncio.run(read_body(_request((b"content-length", b"101")), 100))
    assert getattr(too_large, "status", None) == 413


@settings(max_examples=200)
@given(
    content=st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
        max_leaves=20,
    )
)
def test_a_json_response_renders_any_content(content) -> None:
    """NaN, infinities and lone surrogates render: as null and as their escape."""
    body = json.loads(json_response({"value": content}, 200).body)
    assert "value" in body
    if isinstance(content, float) and not math.isfinite(content):
        assert body == {"value": None}
