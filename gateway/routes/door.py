"""The door: `/api/events/{id}/staff` (grant, list, revoke door staff) and
`/api/events/{id}/checkin`."""

from __future__ import annotations

from aiohttp import web

from engine.types import Role
from gateway.auth import require_role, require_user
from gateway.keys import checkin_key
from gateway.responses import json_response
from gateway.schemas import CheckinInput, EventPath, StaffInput, StaffPath
from gateway.validation import path_params, read_json


async def grant_staff(request: web.Request) -> web.Response:
    """Its vendor (or an admin) lets an account check tickets in for this event: 201, or 200
    when it was staff already."""
    principal = require_role(request, Role.VENDOR, Role.ADMIN)
    event_id = path_params(request, EventPath).event_id
    body = await read_json(request, StaffInput)
    member, created = await request.app[checkin_key].grant(principal, event_id, body.email)
    return json_response(member.to_json(), 201 if created else 200)


async def list_staff(request: web.Request) -> web.Response:
    """The event's door staff."""
    principal = require_role(request, Role.VENDOR, Role.ADMIN)
    event_id = path_params(request, EventPath).event_id
    members = await request.app[checkin_key].staff(principal, event_id)
    return json_response([m.to_json() for m in members])


async def revoke_staff(request: web.Request) -> web.Response:
    """Take an account's check-in rights for the event away."""
    principal = require_role(request, Role.VENDOR, Role.ADMIN)
    path = path_params(request, StaffPath)
    await request.app[checkin_key].revoke(principal, path.event_id, path.user_id)
    return web.Response(status=204)


async def check_in(request: web.Request) -> web.Response:
    """Check a ticket in: 200 the first time; 409 already checked in (with when) or void,
    404 unknown."""
    principal = require_user(request)
    event_id = path_params(request, EventPath).event_id
    body = await read_json(request, CheckinInput)
    done = await request.app[checkin_key].check_in(principal, event_id, body.code)
    return json_response(done.to_json())
