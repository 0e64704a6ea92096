"""Hostile input over HTTP: every refusal a 4xx with a stable code, nothing stored that a
reader cannot read back (issue findings "one date kills the event list" and "500s on bad
input")."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from engine.types import Role
from tests.helpers import Api


def _digits(number: int, zero: str) -> str:
    """`number` written with another script's digits (`zero` is that script's 0)."""
    return "".join(chr(ord(zero) + int(d)) for d in str(number))


async def _event_count(api: Api) -> int:
    return int(await api.pool.fetchval("SELECT count(*) FROM events"))


async def test_a_date_outside_the_window_is_refused_and_never_stored(api: Api) -> None:
    vendor = await api.account(Role.VENDOR)
    before = await _event_count(api)
    for field, value in (("saleStartsAt", "0001-01-01T00:00:00Z"),
                         ("startsAt", "9999-12-31T23:59:59-14:00"),
                         ("startsAt", "1999-12-31T23:59:59Z"),
                         ("saleStartsAt", "2101-01-01T00:00:00Z"),
                         ("startsAt", "2000-01-01T00:00:00+14:00")):  # 1999 in UTC
        reply = await api.call("POST", "/api/events", vendor,
                               json={"name": "x", "totalTickets": 5, field: value})
        assert (reply.status, reply.body["error"]) == (422, "invalid_input"), value
        assert reply.body["field"] == field
    assert await _event_count(api) == before
    edge = await api.event(vendor, startsAt="2000-01-01T00:00:00Z",
                           saleStartsAt="2100-12-31T23:59:59-00:00")
    assert edge["saleStartsAt"] == "2100-12-31T23:59:59Z"
    patched = await api.call("PATCH", f"/api/events/{edge['id']}", vendor,
                             json={"saleStartsAt": "0001-01-01T00:00:00Z"})
    assert (patched.status, patched.body["error"]) == (422, "invalid_input")
    listing = await api.call("GET", "/api/events?limit=1000")
    assert listing.status == 200
    assert any(e["id"] == edge["id"] for e in listing.body)


async def test_ids_and_numbers_are_ascii_and_bounded(api: Api) -> None:
    vendor = await api.account(Role.VENDOR)  # may edit and book: only the path can fail
    event = await api.event(vendor)
    for digits in ("%C2%B2", quote(_digits(event["id"], "\u0660")),
                   quote(_digits(event["id"], "\uff10")), "+1", "1_0", "%201",
                   str(2**63), "0" * 30 + "1"):
        for method, suffix in (("GET", ""), ("PATCH", ""), ("POST", "/book")):
            reply = await api.call(method, f"/api/events/{digits}{suffix}", vendor,
                                   json={} if method != "GET" else None)
            assert (reply.status, reply.body["error"]) == (404, "not_found"), (method, digits)
    for uuid in ("%EF%BC%91" * 32, "{" + "0" * 32 + "}", "not-a-uuid"):
        reply = await api.call("GET", f"/api/bookings/{uuid}", vendor)
        assert (reply.status, reply.body["error"]) == (404, "not_found"), uuid
    for query in ("limit=" + "9" * 5000, "limit=%EF%BC%91", "limit=1_0", "offset=-1",
                  "offset=" + "9" * 30, "limit=%D9%A2"):
        reply = await api.call("GET", f"/api/events?{query}")
        assert (reply.status, reply.body["error"]) == (422, "invalid_input"), query[:20]


async def test_no_control_characters_and_text_is_normalised(api: Api) -> None:
    vendor = await api.account(Role.VENDOR)
    before = await _event_count(api)
    for body in ({"name": "a\u0000b", "totalTickets": 1},
                 {"name": "ok", "venue": "Hall\u0000", "totalTickets": 1},
                 {"name": "line\nbreak", "totalTickets": 1},
                 {"name": "bell\u0007", "totalTickets": 1},
                 {"name": "c1\u0085c", "totalTickets": 1},
                 {"name": "x" * 201, "totalTickets": 1}):
        reply = await api.call("POST", "/api/events", vendor, json=body)
        assert (reply.status, reply.body["error"]) == (422, "invalid_input"), body
    assert await _event_count(api) == before
    # "e" + COMBINING ACUTE is stored as the one precomposed character, so two spellings of
    # the same name are the same text.
    made = await api.event(vendor, name="  Cafe\u0301  ", venue="Ve\u0301nue")
    assert (made["name"], made["venue"]) == ("Caf\u00e9", "V\u00e9nue")
    accounts: list[tuple[str, dict[str, Any]]] = [
        ("/api/auth/register", {"email": "nul\u0000@example.com", "password": "long enough"}),
        ("/api/auth/register", {"email": "a@example.com", "password": "long enough",
                                "name": "Eve\u0000"}),
        ("/api/auth/login", {"email": "nul\u0000@example.com", "password": "long enough"}),
    ]
    for path, body in accounts:
        reply = await api.call("POST", path, json=body)
        assert (reply.status, reply.body["error"]) == (422, "invalid_input"), body


async def test_headers_are_read_whatever_their_case(api: Api) -> None:
    event = await api.event()
    buyer = await api.account()
    path = f"/api/events/{event['id']}/book"
    for name in ("Idempotency-Key", "idempotency-key", "IDEMPOTENCY-KEY"):
        reply = await api.call("POST", path, buyer, json={}, headers={name: "k" * 201})
        assert (reply.status, reply.body["error"]) == (422, "invalid_input"), name
