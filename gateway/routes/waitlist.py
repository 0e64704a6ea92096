"""The waiting list of a sold-out event: join, leave (`/api/events/{id}/waitlist`), and the
caller's entries (`/api/me/waitlist`). Joins and leaves are decided by the event's actor."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from engine.errors import rejection
from engine.messages import Outcome
from engine.storage import waitlist
from engine.storage.database import translate_db_errors
from engine.storage.waitlist import WaitlistEntry
from engine.strategies import Pending
from engine.types import BookingStatus
from gateway.auth import require_user
from gateway.keys import pool_key, service_key
from gateway.responses import json_response
from gateway.schemas import EventPath, WaitlistInput
from gateway.validation import path_params, read_json

#: What an actor's answer says of the entry, by the answer's status.
_ENTRY_STATUS = {BookingStatus.WAITING: "waiting", BookingStatus.HELD: "offered",
                 BookingStatus.LEFT: "left"}


def entry_json(result: Outcome | Pending) -> dict[str, Any]:
    """The API's waiting-list entry for an actor's answer (or a pending one)."""
    if isinstance(result, Pending):
        return {"id": str(result.booking_id), "eventId": result.event_id,
                "quantity": result.quantity, "status": BookingStatus.PENDING.value,
                "position": None}
    return WaitlistEntry(result.booking_id, result.event_id, result.quantity,
                         _ENTRY_STATUS.get(result.status, result.status.value),
                         result.position,
                         result.expires_at if result.status is BookingStatus.HELD else None
                         ).to_json()


def _answer(result: Outcome | Pending) -> web.Response:
    if isinstance(result, Pending):
        return json_response(entry_json(result), 202, {"Location": "/api/me/waitlist"})
    if result.status is BookingStatus.REJECTED and result.reason:
        raise rejection(result.reason)
    # A new entry is named by the request's own id; any other answer is the entry that was.
    created = result.status is BookingStatus.WAITING and result.answers == result.booking_id
    return json_response(entry_json(result), 201 if created else 200)


async def join(request: web.Request) -> web.Response:
    """Join a sold-out event's waiting list: 201 new, 200 joined already, 409 otherwise."""
    principal = require_user(request)
    event_id = path_params(request, EventPath).event_id
    body = await read_json(request, WaitlistInput, empty_ok=True)
    return _answer(await request.app[service_key].join_waitlist(
        principal.user_id, event_id, body.quantity))


async def leave(request: web.Request) -> web.Response:
    """Leave an event's waiting list: 200 left, 404 not waiting."""
    principal = require_user(request)
    event_id = path_params(request, EventPath).event_id
    return _answer(await request.app[service_key].leave_waitlist(principal.user_id,
                                                                 event_id))


async def mine(request: web.Request) -> web.Response:
    """The caller's waiting-list entries (waiting, or offered and open), with positions."""
    principal = require_user(request)
    async with translate_db_errors(read=True):
        rows = await waitlist.user_entries(request.app[pool_key], principal.user_id)
    return json_response([e.to_json() for e in rows])
