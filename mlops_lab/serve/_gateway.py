"""The Open Inference Protocol gateway: the ``/v2`` paths, for every endpoint.

KServe and Triton clients call ``/v2/models/<endpoint>/...``; the gateway hands each such
request's body and headers to the endpoint's router, which checks and answers it, and
answers the server's own paths (``/v2``, ``/v2/health/...``) itself. It runs in the lab's
shared application (``_shared.py``), which also holds the shared endpoints' routers.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from ray import serve
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mlops_lab import __version__
from mlops_lab.protocol import RequestError
from mlops_lab.serve._http import error_response, read_body, request_headers, unauthorized

log = logging.getLogger(__name__)

# The lab's shared application: the gateway and the shared endpoints (see _shared.py).
GATEWAY_APP = "mlops_lab"
# The gateway reads a body before the router checks it; this bounds what it will read.
_GATEWAY_MAX_BODY = 64 * 1024 * 1024


def code_version(init_args: tuple[str, ...]) -> str:
    """A fixed code version for a deployment made with ``init_args`` by this lab's version.

    With one, a ``serve.run`` that changes only the ``user_config`` reconfigures the running
    replicas in place. Without one, Serve gives every ``serve.run`` a random version and
    replaces the replicas, which takes seconds and restarts what they learned. Serve 2.60
    takes no version argument; a deployment's ``_version`` attribute is what its client reads.
    """
    digest = hashlib.sha256("\0".join((__version__, *init_args)).encode()).hexdigest()
    return f"{__version__}-{digest[:12]}"


class Gateway:
    """The Open Inference Protocol (v2) paths, handed to each endpoint's router.

    The gateway checks the lab's token only on its own paths; ``/v2/models/<endpoint>/...``
    go to the endpoint's router with the raw body and the request's headers (a plain dict,
    names in lower case): the router checks the endpoint's current token and reads the
    binary tensor data's ``Inference-Header-Content-Length``.

    Args:
        auth: The SHA-256 of the lab's token, or None on loopback without one; ``reconfigure``
            replaces it with the lab's current one.
    """

    def __init__(self, auth: str | None = None) -> None:
        self.auth = auth

    def reconfigure(self, config: dict[str, Any]) -> None:
        """Take the lab's current token digest (``{"auth": ...}``, Serve's user_config)."""
        self.auth = config.get("auth")

    async def __call__(self, request: Request) -> Response:
        """Answer ``/v2``, ``/v2/health/{live,ready}`` and ``/v2/models/<endpoint>/...``."""
        parts = [part for part in request.url.path.split("/") if part][1:]
        try:
            refused = unauthorized(request.headers, self.auth)
            names_a_model = len(parts) >= 2 and parts[0] == "models"
            if refused is not None and not names_a_model:  # a model's router checks its own
                raise refused
            if request.method == "GET" and parts in ([], ["health", "live"], ["health", "ready"]):
                return JSONResponse(_server(parts))
            if len(parts) >= 2 and parts[0] == "models":
                return await self._model(request, parts[1], parts[2:])
            raise RequestError(
                404, "not_found", f"No route {request.method} {request.url.path}. The v2 "
                "protocol answers GET /v2/health/ready, GET /v2/models/<endpoint> and "
                "POST /v2/models/<endpoint>/infer.",
            )  # fmt: skip
        except RequestError as error:
            return error_response(error)
        except Exception:  # the router is away (restarted, redeployed) or failed: still JSON
            log.exception("The v2 request %s %s failed", request.method, request.url.path)
            return error_response(
                RequestError(
                    503,
                    "unavailable",
                    "The endpoint could not answer this request just now "
                    "(its router is restarting or failed); retry in a moment.",
                )
            )

    async def _model(self, request: Request, endpoint: str, rest: list[str]) -> Response:
        version = None
        if len(rest) >= 2 and rest[0] == "versions":  # the router checks that it is served
            version, rest = rest[1], rest[2:]
        headers = request_headers(request)
        if request.method == "GET" and rest in ([], ["ready"]):
            answer = await self._ask(endpoint, "metadata", headers, version=version)
            if rest == ["ready"] and answer["status"] == 200:
                answer = {"status": 200, "name": endpoint, "ready": True}
        elif request.method == "POST" and rest == ["infer"]:
            body = await read_body(request, _GATEWAY_MAX_BODY)
            if isinstance(body, RequestError):
                raise body
            answer = await self._ask(endpoint, "infer", body, headers, version=version)
        else:
            raise RequestError(
                404, "not_found", f"No route {request.method} {request.url.path}; use GET "
                f"/v2/models/{endpoint} or POST /v2/models/{endpoint}/infer.",
            )  # fmt: skip
        return _reply(answer)

    async def _ask(self, endpoint: str, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call ``method`` of the endpoint's router, through its application's handle."""
        return await getattr(_router(endpoint), method).remote(*args, **kwargs)


def _reply(answer: dict[str, Any]) -> Response:
    """A router's answer as a response: its JSON, or its ``content`` with its ``headers``."""
    status = answer.pop("status")
    if "content" in answer:
        return Response(answer["content"], status_code=status, headers=answer["headers"])
    return JSONResponse(answer, status_code=status)


def _server(parts: list[str]) -> dict[str, Any]:
    if parts == ["health", "live"]:
        return {"live": True}
    if parts == ["health", "ready"]:
        return {"ready": True}
    return {"name": "mlops-lab", "version": __version__, "extensions": ["binary_tensor_data"]}


def _router(endpoint: str) -> Any:
    """The handle of the endpoint's router; a 404 for any other name, the gateway's own too."""
    try:
        handle = serve.get_app_handle(endpoint)
    except Exception:  # Serve raises a plain exception for an unknown application
        handle = None
    # Every endpoint's ingress is its router (run_router); any other application is not one.
    if handle is None or handle.deployment_name != "router":
        raise RequestError(
            404, "unknown_endpoint", f"No endpoint is named {endpoint!r}. List "
            "the endpoints with lab.endpoints() or `%mlops endpoints`.", field="model_name",
            received=repr(endpoint),
        )  # fmt: skip
    return handle
