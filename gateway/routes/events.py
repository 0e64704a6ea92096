"""`/api/events`: list, read, create (VENDOR/ADMIN), edit and cancel (its vendor or ADMIN)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from engine.storage import events, payments
from engine.storage.database import translate_db_errors
from engine.storage.users import User
from engine.types import Role, utcnow
from gateway.auth import require_role, require_user
from gateway.keys import (
    checkin_key,
    checkout_key,
    pool_key,
    principal_key,
    service_key,
    stream_hub_key,
)
from gateway.responses import json_response
from gateway.schemas import EventHeaders, EventInput, EventPage, EventPatch, EventPath
from gateway.validation import header_params, path_params, query_params, read_json


def _columns(body: EventInput | EventPatch) -> dict[str, Any]:
    """The columns the fields sent set (a PATCH changes only those)."""
    sent = body.model_dump(by_alias=True, exclude_unset=True)
    room = sent.pop("waitingRoom", None)
    columns = {events.EDITABLE[k]: v for k, v in sent.items()}
    if room is not None and body.waiting_room is not None:
        # Set as a whole: what it leaves out takes its default.
        full = body.waiting_room.model_dump(by_alias=True)
        columns.update({events.ROOM_COLUMNS[k]: v for k, v in full.items()})
    return columns


async def list_events(request: web.Request) -> web.Response:
    """All events with live seats left."""
    page = query_params(request, EventPage)
    async with translate_db_errors(read=True):
        rows = await events.list_events(request.app[pool_key], limit=page.limit,
                                        offset=page.offset)
    now = utcnow()
    return json_response([e.to_json(now) for e in rows])


async def get_event(request: web.Request) -> web.Response:
    """One event, with its organizer's name and description (the event page shows them; the
    list does not) and the stream's latest booking count (the organizer's chart starts from
    it); its vendor and admins also see how many tickets were checked in and the revenue."""
    event_id = path_params(request, EventPath).event_id
    async with translate_db_errors(read=True):
        event = await events.get_event(request.app[pool_key], event_id)
        organizer = await events.organizer_name(request.app[pool_key], event_id)
    body = event.to_json(utcnow())
    if organizer is not None:
        body["organizer"] = organizer
    booked = request.app[stream_hub_key].booked(event_id)
    if booked is not None:  # from memory: the count the stream's frames carry on from
        body["bookings"], body["bookingsEpoch"] = booked
    checked_in = await request.app[checkin_key].checked_in(request.get(principal_key), event)
    if checked_in is not None:  # its vendor or an admin: the organizer's totals
        body["checkedIn"] = checked_in
        async with translate_db_errors(read=True):
            body["revenueCents"] = await payments.revenue(request.app[pool_key], event_id)
    return json_response(body)


async def create_event(request: web.Request) -> web.Response:
    """A vendor creates an event and sets its stock; with an Idempotency-Key, once."""
    principal = require_role(request, Role.VENDOR, Role.ADMIN)
    body = await read_json(request, EventInput)
    key = header_params(request, EventHeaders).idempotency_key
    vendor = User(principal.user_id, principal.email, principal.role)
    async with translate_db_errors():
        event = await events.create_event(request.app[pool_key], vendor, _columns(body), key)
    return json_response(event.to_json(utcnow()), 201,
                         {"Location": f"/api/events/{event.id}"})


async def update_event(request: web.Request) -> web.Response:
    """Its vendor (or an admin) edits an event; capacity never below what is sold."""
    principal = require_role(request, Role.VENDOR, Role.ADMIN)
    event_id = path_params(request, EventPath).event_id
    body = await read_json(request, EventPatch)
    editor = User(principal.user_id, principal.email, principal.role)
    async with translate_db_errors():
        event = await events.update_event(request.app[pool_key], event_id, editor,
                                          _columns(body))
    await request.app[service_key].event_edited(event)
    return json_response(event.to_json(utcnow()))


async def cancel_event(request: web.Request) -> web.Response:
    """Its vendor (or an admin) cancels the whole event: 200 with the event `cancelled`, its
    bookings void and the paid ones being refunded; 202 if its actor has not answered yet."""
    principal = require_user(request)
    event_id = path_params(request, EventPath).event_id
    event = await request.app[service_key].cancel_event(principal, event_id)
    if event is None:
        return json_response({"id": event_id, "status": "pending"}, 202,
                             {"Location": f"/api/events/{event_id}"})
    # The refunds the cancel owes are in the outbox already; made now, in the background,
    # and the bank steps its holds left waiting are cancelled at the provider.
    request.app[checkout_key].after_cancel(event_id=event_id)
    return json_response(event.to_json(utcnow()))
