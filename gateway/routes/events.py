"""`/api/events`: list, read, create (VENDOR/ADMIN), edit (its vendor or ADMIN)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from engine.errors import InvalidInput
from engine.storage import events
from engine.storage.database import translate_db_errors
from engine.storage.users import User
from engine.types import Role, utcnow
from gateway.auth import require_role
from gateway.keys import pool_key, service_key
from gateway.responses import json_response
from gateway.validation import Field, path_int, read_json

#: The largest event a single row holds; a bigger sale is several events.
MAX_CAPACITY = 10_000_000

EVENT_FIELDS = {
    "name": Field(str, min=1, max=200),
    "venue": Field(str, nullable=True, max=200),
    "startsAt": Field(datetime, nullable=True),
    "saleStartsAt": Field(datetime, nullable=True),
    "totalTickets": Field(int, min=0, max=MAX_CAPACITY),
    "perUserLimit": Field(int, nullable=True, min=1, max=1000),
}


def _columns(body: dict[str, Any]) -> dict[str, Any]:
    return {events.EDITABLE[k]: v for k, v in body.items()}


async def list_events(request: web.Request) -> web.Response:
    """All events with live seats left."""
    limit = _query_int(request, "limit", 200, 1, 1000)
    offset = _query_int(request, "offset", 0, 0, 10**9)
    async with translate_db_errors():
        rows = await events.list_events(request.app[pool_key], limit=limit, offset=offset)
    now = utcnow()
    return json_response([e.to_json(now) for e in rows])


async def get_event(request: web.Request) -> web.Response:
    """One event."""
    async with translate_db_errors():
        event = await events.get_event(request.app[pool_key], path_int(request, "event_id"))
    return json_response(event.to_json(utcnow()))


async def create_event(request: web.Request) -> web.Response:
    """A vendor creates an event and sets its stock."""
    principal = require_role(request, Role.VENDOR, Role.ADMIN)
    body = await read_json(request, EVENT_FIELDS)
    for required in ("name", "totalTickets"):
        if required not in body:
            raise InvalidInput(f"{required} is required", field=required)
    vendor = User(principal.user_id, principal.email, principal.role)
    async with translate_db_errors():
        event = await events.create_event(request.app[pool_key], vendor, _columns(body))
    return json_response(event.to_json(utcnow()), 201,
                         {"Location": f"/api/events/{event.id}"})


async def update_event(request: web.Request) -> web.Response:
    """Its vendor (or an admin) edits an event; capacity never below what is sold."""
    principal = require_role(request, Role.VENDOR, Role.ADMIN)
    event_id = path_int(request, "event_id")
    body = await read_json(request, EVENT_FIELDS)
    editor = User(principal.user_id, principal.email, principal.role)
    async with translate_db_errors():
        event = await events.update_event(request.app[pool_key], event_id, editor,
                                          _columns(body))
    await request.app[service_key].event_edited(event)
    return json_response(event.to_json(utcnow()))


def _query_int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise InvalidInput(f"{name} must be a whole number from {low} to {high}", field=name)
    return int(raw)
