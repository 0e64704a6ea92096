"""Booking: `POST /api/events/{id}/book`, `GET /api/bookings/{id}`, cancel, extend, pay, my
tickets and my bookings."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from aiohttp import web

from engine.checkout import ActionRequired, PaymentPending
from engine.errors import EngineError, rejection
from engine.messages import Outcome
from engine.storage import bookings
from engine.storage.database import translate_db_errors
from engine.storage.payments import Refund
from engine.strategies import Pending
from engine.types import BookingStatus
from gateway.auth import require_user
from gateway.keys import checkout_key, metrics_key, pool_key, service_key
from gateway.responses import json_response
from gateway.schemas import BookHeaders, BookingPath, BookInput, EventPath, PayInput
from gateway.validation import header_params, path_params, read_json


def _instant(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _refund_json(refund: Refund) -> dict[str, Any]:
    return {"status": refund.status, "amountCents": refund.amount_cents,
            "currency": refund.currency, "reason": refund.reason,
            "refundedAt": None if refund.refunded_at is None
            else _instant(refund.refunded_at)}


def _refundable(result: Outcome | Pending) -> bool:
    """Whether a booking may have money given back: a paid one that ended without a ticket."""
    return (isinstance(result, Outcome) and bool(result.amount_cents)
            and result.status in (BookingStatus.CANCELLED, BookingStatus.EXPIRED))


async def _with_refund(request: web.Request, result: Outcome | Pending) -> dict[str, Any]:
    """The booking object, with its refund when it has one (one read, off the hot path)."""
    body = booking_json(result)
    if _refundable(result):
        refund = await request.app[checkout_key].refund_of(result.booking_id)
        if refund is not None:
            body["refund"] = _refund_json(refund)
    return body


def booking_json(result: Outcome | Pending) -> dict[str, Any]:
    """The API's booking object."""
    if isinstance(result, Pending):
        return {"id": str(result.booking_id), "eventId": result.event_id,
                "quantity": result.quantity, "status": BookingStatus.PENDING.value,
                "tickets": []}
    body: dict[str, Any] = {
        "id": str(result.booking_id), "eventId": result.event_id, "quantity": result.quantity,
        "status": result.status.value,
        "tickets": [{"id": str(t.id), "code": t.code, "void": t.void}
                    for t in result.tickets]}
    if result.reason:
        body["reason"] = result.reason
    if result.expires_at is not None and result.status is BookingStatus.HELD:
        body["expiresAt"] = _instant(result.expires_at)
        if result.warn_at is not None:
            body["warnAt"] = _instant(result.warn_at)
    if result.amount_cents is not None:
        body["amountCents"] = result.amount_cents
        body["currency"] = result.currency
    if result.offer:
        body["offer"] = True
    if result.extended and result.status is BookingStatus.HELD:
        body["extended"] = True
    return body


def _answer(result: Outcome | Pending, *, created: int) -> web.Response:
    if isinstance(result, Pending):
        return json_response(booking_json(result), 202,
                             {"Location": f"/api/bookings/{result.booking_id}"})
    if result.status is BookingStatus.REJECTED and result.reason:
        # Answered by the error middleware, in the same shape as a refusal at the gateway.
        raise rejection(result.reason, booking_json(result))
    return json_response(booking_json(result), created)


async def book(request: web.Request) -> web.Response:
    """Book seats: 201 confirmed, 202 pending, 409 sold out, 422 over the limit."""
    started = time.perf_counter()
    label = "error"
    metrics = request.app[metrics_key]
    strategy = request.app[service_key].strategy.value
    try:
        result = await _book(request)
        label = _label(result)
        if isinstance(result, Outcome) and result.status is BookingStatus.CONFIRMED:
            metrics.seats_confirmed.labels(strategy).inc(result.quantity)
        return _answer(result, created=201)
    except EngineError as exc:
        label = exc.code  # bounded: the codes of the error tree
        raise
    finally:
        metrics.booking_requests.labels(strategy, label).inc()
        metrics.booking_latency.labels(strategy, label).observe(time.perf_counter() - started)


def _label(result: Outcome | Pending) -> str:
    if isinstance(result, Pending):
        return "pending"
    return result.reason or result.status.value


async def _book(request: web.Request) -> Outcome | Pending:
    principal = require_user(request)
    event_id = path_params(request, EventPath).event_id
    body = await read_json(request, BookInput, empty_ok=True)
    key = header_params(request, BookHeaders).idempotency_key
    return await request.app[service_key].book(principal.user_id, event_id, body.quantity,
                                               key)


async def get_booking(request: web.Request) -> web.Response:
    """A booking, to its owner only."""
    principal = require_user(request)
    booking_id = path_params(request, BookingPath).booking_id
    result = await request.app[service_key].booking(principal.user_id, booking_id)
    return json_response(await _with_refund(request, result))


async def cancel_booking(request: web.Request) -> web.Response:
    """Cancel a confirmed or held booking; its seats go back on sale, and a paid one's money
    back to its buyer (within the event's refund window; else 409 refund_window_closed)."""
    principal = require_user(request)
    booking_id = path_params(request, BookingPath).booking_id
    result = await request.app[service_key].cancel(principal.user_id, booking_id)
    if isinstance(result, Pending):
        return _answer(result, created=200)
    if _refundable(result):
        # Owed in the outbox since the actor's commit; made now, in the background (and a
        # bank step the hold left waiting is cancelled at the provider: no money for it).
        request.app[checkout_key].after_cancel(booking_id=booking_id)
    return json_response(await _with_refund(request, result))


async def extend_booking(request: web.Request) -> web.Response:
    """More time on a held booking, once: 200 with its new `expiresAt`."""
    principal = require_user(request)
    booking_id = path_params(request, BookingPath).booking_id
    result = await request.app[service_key].extend(principal.user_id, booking_id)
    return _answer(result, created=200)


async def pay_booking(request: web.Request) -> web.Response:
    """Pay a held booking: 200 confirmed, 202 payment pending or at the customer's step, 402
    declined, 409 expired."""
    principal = require_user(request)
    booking_id = path_params(request, BookingPath).booking_id
    body = await read_json(request, PayInput, empty_ok=True)
    key = header_params(request, BookHeaders).idempotency_key
    result = await request.app[checkout_key].pay(principal.user_id, booking_id,
                                                 body.payment_token, key)
    location = {"Location": f"/api/bookings/{booking_id}"}
    if isinstance(result, PaymentPending):
        return json_response({**booking_json(result.booking), "payment": "pending"}, 202,
                             location)
    if isinstance(result, ActionRequired):
        return json_response({**booking_json(result.booking), "payment": "requires_action",
                              "nextAction": {"url": result.url}}, 202, location)
    return json_response(booking_json(result))


async def my_tickets(request: web.Request) -> web.Response:
    """The caller's tickets, newest first."""
    principal = require_user(request)
    async with translate_db_errors(read=True):
        rows = await bookings.user_tickets(request.app[pool_key], principal.user_id)
    return json_response([t.to_json() for t in rows])


async def my_bookings(request: web.Request) -> web.Response:
    """The caller's bookings, newest first, cancelled ones with their tickets void."""
    principal = require_user(request)
    async with translate_db_errors(read=True):
        rows = await bookings.user_bookings(request.app[pool_key], principal.user_id)
    return json_response([b.to_json() for b in rows])
