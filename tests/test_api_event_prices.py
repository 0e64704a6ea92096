"""Event prices, currencies and hold times (issue 13): defaults, bounds, edits, the database's
own checks."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from engine.currencies import EXPONENTS
from engine.types import Role
from tests.helpers import Api


async def test_defaults_are_a_free_event_in_euros_with_ten_minute_holds(api: Api) -> None:
    event = await api.event(totalTickets=3)
    assert (event["priceCents"], event["currency"], event["holdSeconds"]) == (0, "EUR", 600)


async def test_price_currency_and_hold_are_created_read_listed_and_edited(api: Api) -> None:
    vendor = await api.account(Role.VENDOR)
    event = await api.event(vendor, totalTickets=3, priceCents=1500, currency="JPY",
                            holdSeconds=10)
    assert (event["priceCents"], event["currency"], event["holdSeconds"]) == (1500, "JPY", 10)
    path = f"/api/events/{event['id']}"
    assert (await api.call("GET", path)).body == event
    listed = (await api.call("GET", "/api/events?limit=1000")).body
    # The list leaves the description out (it is read with one event only).
    without_description = {k: v for k, v in event.items() if k != "description"}
    assert [e for e in listed if e["id"] == event["id"]] == [without_description]
    edited = await api.call("PATCH", path, vendor,
                            json={"priceCents": 2500, "currency": "USD", "holdSeconds": 3600})
    assert edited.status == 200, edited.body
    assert (edited.body["priceCents"], edited.body["currency"],
            edited.body["holdSeconds"]) == (2500, "USD", 3600)


@pytest.mark.parametrize("fields", [
    {"priceCents": -1}, {"priceCents": 1.5}, {"priceCents": "100"},
    {"currency": "XXX"}, {"currency": "eur"}, {"currency": ""}, {"currency": 978},
    {"holdSeconds": 9}, {"holdSeconds": 3601}, {"holdSeconds": None}, {"priceCents": None},
])
async def test_bad_prices_and_holds_are_refused(api: Api, fields: dict[str, Any]) -> None:
    vendor = await api.account(Role.VENDOR)
    reply = await api.call("POST", "/api/events", vendor,
                           json={"name": "x", "totalTickets": 1, **fields})
    assert (reply.status, reply.body["error"]) == (422, "invalid_input"), fields
    event = await api.event(vendor)
    patch = await api.call("PATCH", f"/api/events/{event['id']}", vendor, json=fields)
    assert (patch.status, patch.body["error"]) == (422, "invalid_input"), fields


async def test_the_database_refuses_what_the_api_refuses(api: Api) -> None:
    event = await api.event(totalTickets=1)
    for column, value in (("price_cents", -1), ("currency", "XXX"), ("hold_seconds", 5),
                          ("hold_seconds", 3601)):
        with pytest.raises(asyncpg.CheckViolationError):
            await api.pool.execute(f"UPDATE events SET {column} = $2 WHERE id = $1",
                                   event["id"], value)


def test_currencies_know_their_minor_units() -> None:
    assert (EXPONENTS["EUR"], EXPONENTS["JPY"], EXPONENTS["USD"], EXPONENTS["GBP"],
            EXPONENTS["CHF"]) == (2, 0, 2, 2, 2)


async def test_the_database_takes_every_currency_the_api_takes(api: Api) -> None:
    event = await api.event(totalTickets=1)
    for code in EXPONENTS:
        await api.pool.execute("UPDATE events SET currency = $2 WHERE id = $1", event["id"],
                               code)
