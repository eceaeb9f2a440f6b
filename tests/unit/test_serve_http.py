"""The token check of the HTTP servers: only the right bearer token passes."""

from __future__ import annotations

from starlette.requests import Request

from mlops_lab.serve._http import token_digest, unauthorized


def _request(*headers: tuple[bytes, bytes]) -> Request:
    return Request({"type": "http", "method": "POST", "path": "/x", "headers": list(headers)})


def test_without_a_token_every_request_passes() -> None:
    """A lab without an auth_token checks nothing."""
    assert unauthorized(_request(), None) is None


def test_only_the_right_bearer_token_passes() -> None:
    """The right token passes; a missing, wrong or non-bearer one is a 401 naming the header."""
    digest = token_digest("s3cret")
    assert unauthorized(_request((b"authorization", b"Bearer s3cret")), digest) is None
    for headers in [(), ((b"authorization", b"Bearer nope"),), ((b"authorization", b"s3cret"),)]:
        refused = unauthorized(_request(*headers), digest)
        assert refused is not None and refused.status == 401
        assert refused.body()["field"] == "Authorization"


def test_servers_keep_a_digest_not_the_token() -> None:
    """The digest is the token's SHA-256 in hex, and differs from the token."""
    digest = token_digest("s3cret")
    assert digest is not None and len(digest) == 64 and "s3cret" not in digest
