"""An event's `waitingRoom` settings (issue 14): off by default, set as a whole, validated
with one stable code."""

from __future__ import annotations

from typing import Any

import pytest

from engine.types import Role
from tests.helpers import Api


async def test_the_room_is_off_by_default_and_set_as_a_whole(api: Api) -> None:
    event = await api.event()
    assert event["waitingRoom"] == {"enabled": False, "admitPerMinute": None,
                                    "queueOpensAt": None, "admissionSeconds": 300,
                                    "admitFactor": 2}
    vendor = await api.account(Role.VENDOR)
    room = await api.event(vendor, saleStartsAt="2030-01-01T10:00:00Z", waitingRoom={
        "enabled": True, "admitPerMinute": 600, "queueOpensAt": "2030-01-01T09:00:00Z",
        "admitFactor": 1.5})
    assert room["waitingRoom"] == {"enabled": True, "admitPerMinute": 600,
                                   "queueOpensAt": "2030-01-01T09:00:00Z",
                                   "admissionSeconds": 300, "admitFactor": 1.5}
    patched = await api.call("PATCH", f"/api/events/{room['id']}", vendor,
                             json={"waitingRoom": {"enabled": True, "admissionSeconds": 60}})
    assert patched.status == 200, patched.body
    assert patched.body["waitingRoom"] == {"enabled": True, "admitPerMinute": None,
                                           "queueOpensAt": None, "admissionSeconds": 60,
                                           "admitFactor": 2}
    read = await api.call("GET", f"/api/events/{room['id']}")
    assert read.body["waitingRoom"] == patched.body["waitingRoom"]


@pytest.mark.parametrize("room", [
    {"admitPerMinute": 10},  # enabled is required
    {"enabled": "yes"},
    {"enabled": True, "admitPerMinute": 0},
    {"enabled": True, "admitPerMinute": 1.5},
    {"enabled": True, "admissionSeconds": 29},
    {"enabled": True, "admissionSeconds": 3601},
    {"enabled": True, "queueOpensAt": "tomorrow"},
    {"enabled": True, "admitFactor": 0.9},  # fewer admitted than seats: the last one stuck
    {"enabled": True, "admitFactor": 10.5},
    {"enabled": True, "admitFactor": "2"},
    {"enabled": True, "admitFactor": True},
    {"enabled": True, "admitFactor": None},
    {"enabled": True, "queueOpensAt": "2030-01-01T12:00:00Z"},  # after the sale starts
    {"enabled": True, "surprise": 1},
    None,
])
async def test_bad_settings_are_refused_with_one_code(api: Api, room: Any) -> None:
    vendor = await api.account(Role.VENDOR)
    body = {"name": "x", "totalTickets": 5, "saleStartsAt": "2030-01-01T10:00:00Z",
            "waitingRoom": room}
    reply = await api.call("POST", "/api/events", vendor, json=body)
    assert (reply.status, reply.body["error"]) == (422, "invalid_waiting_room"), reply.body


async def test_moving_the_sale_before_the_queue_opens_is_refused(api: Api) -> None:
    vendor = await api.account(Role.VENDOR)
    event = await api.event(vendor, saleStartsAt="2030-01-01T10:00:00Z", waitingRoom={
        "enabled": True, "queueOpensAt": "2030-01-01T09:00:00Z"})
    reply = await api.call("PATCH", f"/api/events/{event['id']}", vendor,
                           json={"saleStartsAt": "2030-01-01T08:00:00Z"})
    assert (reply.status, reply.body["error"]) == (422, "invalid_waiting_room"), reply.body
