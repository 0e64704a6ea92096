"""Errors to HTTP, in one middleware and one table: every error class of the engine's tree,
and so every booking rejection reason, gets its status here and nowhere else."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from engine.errors import (
    AdmissionRequired,
    BadSignature,
    BodyTooLarge,
    BookingRejected,
    Conflict,
    EngineError,
    EventUnknown,
    Forbidden,
    InvalidInput,
    LimitExceeded,
    MalformedJson,
    MethodNotAllowed,
    NotFound,
    NotWaiting,
    OutcomeUnknown,
    Overloaded,
    PaymentDeclined,
    RateLimited,
    RequestTimeout,
    Unauthenticated,
    Unavailable,
    UnsupportedMediaType,
)
from gateway.responses import error_response

log = logging.getLogger(__name__)

#: HTTP status per error class; an error takes the entry of its nearest listed ancestor.
#: Anything not listed (a bug, a broken batch) is a 500.
HTTP_STATUS: dict[type[EngineError], int] = {
    InvalidInput: 422,
    MalformedJson: 400,
    UnsupportedMediaType: 415,
    BodyTooLarge: 413,
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    MethodNotAllowed: 405,
    Conflict: 409,
    RateLimited: 429,
    RequestTimeout: 408,
    BookingRejected: 409,  # sold_out, not_on_sale, undeliverable
    LimitExceeded: 422,
    EventUnknown: 404,
    NotWaiting: 404,
    AdmissionRequired: 403,  # and admission_expired
    Unavailable: 503,
    OutcomeUnknown: 504,  # not 503: that one promises nothing was done
    PaymentDeclined: 402,
    BadSignature: 400,  # and missing_signature, stale_signature
}


def status_for(error_class: type[EngineError]) -> int:
    """The status that answers errors of this class."""
    for cls in error_class.__mro__:
        status = HTTP_STATUS.get(cls)
        if status is not None:
            return status
    return 500


def _from_aiohttp(exc: web.HTTPException) -> EngineError | None:
    """aiohttp's own refusals (no route, wrong method, body over client_max_size) as errors
    of the tree, so they answer in the same shape; None for the rest."""
    if isinstance(exc, web.HTTPNotFound):
        return NotFound(exc.reason)
    if isinstance(exc, web.HTTPMethodNotAllowed):
        return MethodNotAllowed(exc.reason)
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return BodyTooLarge(exc.reason)
    return None


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _answer(request: web.Request, exc: EngineError,
            headers: dict[str, str] | None = None) -> web.Response:
    status = status_for(type(exc))
    headers = dict(headers or {})
    if isinstance(exc, RateLimited | Unavailable):
        headers["Retry-After"] = str(exc.retry_after)
    if status >= 500 and not isinstance(exc, Overloaded):  # shedding load is not news
        log.warning("%s %s: %s", request.method, request.path, exc.message)
    details = {_camel(k): v for k, v in exc.details.items() if k != "retry_after"}
    return error_response(status, exc.code, exc.message, headers, **details)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer every failure as `{"error", "message", ...details}`; never a bare 500 for bad
    input."""
    try:
        return await handler(request)
    except EngineError as exc:
        return _answer(request, exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        error = _from_aiohttp(exc)
        if error is not None:
            allow = exc.headers.get("Allow")
            return _answer(request, error, {"Allow": allow} if allow else None)
        return error_response(exc.status, "http_error", exc.reason)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", "something went wrong on our side")
