"""The waiting room: join (`POST /api/events/{id}/queue`), an entry's place
(`GET /api/queue/{queueId}`) and the organizer's view (`GET /api/events/{id}/queue`). Joins
are decided by the event's actor; places and the view are read from this gateway's copy of
the room (engine/room_view.py), not the database."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from engine.errors import rejection
from engine.messages import Outcome, QueuePlace
from engine.queue_refresh import refresh_after
from engine.room_view import Room, RoomSummary
from engine.service import waitlist_url
from engine.strategies import Pending
from engine.types import BookingStatus
from gateway.auth import require_user
from gateway.keys import service_key
from gateway.responses import json_response
from gateway.schemas import EventPath, QueuePath
from gateway.validation import path_params


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def place_json(queue_id: Any, event_id: int, place: QueuePlace, *,
               waitlist: bool = False, opens_in: float | None = None) -> dict[str, Any]:
    """The API's waiting-room entry; a `closed` one of a room that offers the event's
    waiting list says where to join it. `opens_in` (seconds to the sale's opening, when
    known) brings a pre-queued client back just after the shuffle."""
    refresh = refresh_after(place.status, position=place.position,
                            wait=place.estimated_wait_seconds, prequeued=place.prequeued,
                            opens_in=opens_in)
    body: dict[str, Any] = {
        "queueId": str(queue_id), "eventId": event_id, "status": place.status,
        "position": place.position, "estimatedWaitSeconds": place.estimated_wait_seconds,
        "refreshAfterSeconds": refresh}
    if place.prequeued is not None:
        body["prequeued"] = place.prequeued
    if place.admission_expires_at is not None:
        body["admissionExpiresAt"] = _iso(place.admission_expires_at)
    if waitlist and place.status == "closed":
        body["waitlistUrl"] = waitlist_url(event_id)
    return body


def room_place(room: Room, queue_id: Any) -> QueuePlace:
    """Where an entry of a room stands, from this gateway's copy."""
    entry = room.entries[queue_id]
    return QueuePlace(entry.status, room.position(entry),
                      room.prequeued if entry.status == "prequeue" else None,
                      room.estimated_wait(entry),
                      entry.admission_expires_at if entry.status == "admitted" else None)


def room_json(room: Room, queue_id: Any, opens_in: float | None = None) -> dict[str, Any]:
    """The API's entry of a room, from this gateway's copy (a GET's answer, a push)."""
    return place_json(queue_id, room.event_id, room_place(room, queue_id),
                      waitlist=room.waitlist, opens_in=opens_in)


def _answer(result: Outcome | Pending, opens_in: float | None) -> web.Response:
    if isinstance(result, Pending):
        # Joining again is how to learn the outcome: the actor decides an account's joins
        # in order, so the next one answers the entry this one made (200) or its refusal —
        # and is a new join if this one was never delivered. `/api/queue/{queueId}` would
        # name nothing in those cases (the account's entry has another id, or none).
        body = place_json(result.booking_id, result.event_id, QueuePlace("pending"))
        return json_response(body, 202, {"Location": f"/api/events/{result.event_id}/queue"})
    if result.status is BookingStatus.REJECTED and result.reason:
        raise rejection(result.reason)
    assert result.queue is not None
    created = result.answers == result.booking_id  # named by this request's own id
    return json_response(place_json(result.booking_id, result.event_id, result.queue,
                                    opens_in=opens_in), 201 if created else 200)


async def join(request: web.Request) -> web.Response:
    """Join an event's waiting room: 201 new, 200 the account's active entry, 409 when it
    is not open (`queue_not_open`), closed (`queue_closed`) or there is none."""
    principal = require_user(request)
    event_id = path_params(request, EventPath).event_id
    service = request.app[service_key]
    result = await service.join_queue(principal.user_id, event_id)
    return _answer(result, await service.sale_opens_in(event_id))


def summary_json(summary: RoomSummary) -> dict[str, Any]:
    """The API's organizer view of a waiting room."""
    return {"eventId": summary.event_id, "opened": summary.opened, "closed": summary.closed,
            "prequeued": summary.prequeued, "waiting": summary.waiting,
            "admittedUnused": summary.unused,
            "admittedLastMinute": summary.admitted_last_minute,
            "seatsLeft": summary.seats_left}


async def watch(request: web.Request) -> web.Response:
    """The event's waiting room as its vendor or an admin watches it: the line, the
    admissions, the seats left (403 for others, 409 `no_waiting_room`)."""
    principal = require_user(request)
    event_id = path_params(request, EventPath).event_id
    return json_response(summary_json(
        await request.app[service_key].room_summary(principal, event_id)))


async def entry(request: web.Request) -> web.Response:
    """An entry's status, position and estimated wait, to its owner."""
    principal = require_user(request)
    queue_id = path_params(request, QueuePath).queue_id
    service = request.app[service_key]
    room, _ = await service.queue_entry(principal.user_id, queue_id)
    return json_response(room_json(room, queue_id, await service.sale_opens_in(room.event_id)))
