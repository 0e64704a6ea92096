"""Errors to HTTP, in one middleware: engine errors carry their status and stable code."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from engine.errors import EngineError, RateLimited, Unavailable
from gateway.responses import error_response

log = logging.getLogger(__name__)

_HTTP_CODES = {400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 413: "body_too_large", 415: "unsupported_media_type"}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer every failure as `{"error", "message"}`; never a bare 500 for bad input."""
    try:
        return await handler(request)
    except EngineError as exc:
        headers = {}
        if isinstance(exc, RateLimited | Unavailable):
            headers["Retry-After"] = str(exc.retry_after)
        if exc.status >= 500:
            log.warning("%s %s: %s", request.method, request.path, exc.message)
        details = {_camel(k): v for k, v in exc.details.items() if k != "retry_after"}
        return error_response(exc.status, exc.code, exc.message, headers, **details)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, "http_error")
        allow = exc.headers.get("Allow")
        return error_response(exc.status, code, exc.reason, {"Allow": allow} if allow else None)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", "something went wrong on our side")
