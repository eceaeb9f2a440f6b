"""HTTP plumbing shared by the router and the gateway: bounded bodies, JSON answers, tokens."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from mlops_lab._json import strict_json
from mlops_lab._text import encodable
from mlops_lab.protocol import RequestError

# A Content-Length of more digits than this is no size a client can send.
_MAX_LENGTH_DIGITS = 20


async def read_body(request: Request, limit: int) -> bytes | RequestError:
    """The body, read up to ``limit`` bytes; a RequestError past it (nothing more is read)."""
    declared = request.headers.get("content-length", "")
    # isdigit() alone takes '²' and Arabic digits, which int() refuses.
    readable = declared.isascii() and declared.isdigit() and len(declared) <= _MAX_LENGTH_DIGITS
    if readable and int(declared) > limit:
        return too_large(int(declared), limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return too_large(size, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def too_large(size: int, limit: int) -> RequestError:
    return RequestError(
        413,
        "body_too_large",
        f"The request body has {size} bytes or more; at most {limit} are accepted. "
        "Send fewer instances per request.",
        field="body",
        expected=f"at most {limit} bytes",
        received=f"{size} bytes",
    )


def no_route(method: str, path: str, routes: dict[tuple[str, str], Any]) -> RequestError:
    path = encodable(path)
    prefix = path.split("/")[1] if path.count("/") else ""
    known = [f"{m} /{prefix}{p}" for m, p in routes]
    same_path = [m for m, p in routes if f"/{prefix}{p}" == path]
    if same_path:
        return RequestError(
            405,
            "method_not_allowed",
            f"{method} is not allowed on {path}; use {same_path[0]}.",
            expected=same_path[0],
            received=method,
        )
    return RequestError(
        404, "not_found", f"No route {method} {path}. This endpoint answers: {', '.join(known)}."
    )


def json_response(content: Any, status: int = 200) -> JSONResponse:
    """``content`` as a JSON response that cannot fail to render.

    Starlette refuses NaN and text UTF-8 cannot hold; such content is sent with null for
    every non-finite number and every lone surrogate escaped (see ``strict_json``).
    """
    try:
        return JSONResponse(content, status_code=status)
    except ValueError:  # NaN or infinity, or a lone surrogate (UnicodeEncodeError)
        return JSONResponse(strict_json(content), status_code=status)


def error_response(error: RequestError) -> JSONResponse:
    return json_response(error.body(), error.status)


def request_headers(request: Request) -> dict[str, str]:
    """The request's headers as a plain dict with lower-case names, for a handle call."""
    return {name.lower(): value for name, value in request.headers.items()}


def token_digest(token: str | None) -> str | None:
    """What servers keep of the lab's token: its SHA-256, never the token itself."""
    return None if token is None else hashlib.sha256(encodable(token).encode()).hexdigest()


def unauthorized(headers: Mapping[str, str] | None, digest: str | None) -> RequestError | None:
    """A 401 unless ``headers`` carry ``authorization: Bearer <token>`` (when one is set).

    ``headers`` are a request's headers, or the plain dict of lower-case names that the
    gateway passes with a handle call; None is a request without headers.
    """
    if digest is None:
        return None
    value = headers.get("authorization") if isinstance(headers, Mapping) else None
    scheme, _, token = (value if isinstance(value, str) else "").partition(" ")
    given = token_digest(token.strip()) if scheme.lower() == "bearer" else None
    if given is not None and hmac.compare_digest(given, digest):
        return None
    return RequestError(
        401, "unauthorized", "This endpoint requires the lab's token: send the header "
        "'Authorization: Bearer <token>' with the lab's auth_token.", field="Authorization",
        expected="Bearer <token>", received="a wrong token" if given else "no bearer token",
    )  # fmt: skip
