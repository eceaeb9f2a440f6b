"""HTTP plumbing shared by the router and the gateway: bounded bodies and JSON errors."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from mlops_lab.serve._protocol import RequestError


async def read_body(request: Request, limit: int) -> bytes | RequestError:
    """The body, read up to ``limit`` bytes; a RequestError past it (nothing more is read)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
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


def error_response(error: RequestError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status)


def token_digest(token: str | None) -> str | None:
    """What servers keep of the lab's token: its SHA-256, never the token itself."""
    return None if token is None else hashlib.sha256(token.encode()).hexdigest()


def unauthorized(request: Request, digest: str | None) -> RequestError | None:
    """A 401 unless the request carries ``Authorization: Bearer <token>`` (when one is set)."""
    if digest is None:
        return None
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    given = token_digest(token.strip()) if scheme.lower() == "bearer" else None
    if given is not None and hmac.compare_digest(given, digest):
        return None
    return RequestError(
        401, "unauthorized", "This lab requires its token: send the header "
        "'Authorization: Bearer <token>' with the lab's auth_token.", field="Authorization",
        expected="Bearer <token>", received="a wrong token" if given else "no bearer token",
    )  # fmt: skip
