"""The shortest path through the engine: a buyer books and sees tickets."""

import pytest

from engine.types import Role
from tests.helpers import Api


@pytest.mark.both_transports
async def test_book_and_see_tickets(api: Api) -> None:
    event = await api.event(totalTickets=5)
    buyer = await api.account(Role.USER)
    reply = await api.book(buyer, event["id"], 2)
    assert reply.status == 201, reply.body
    assert reply.body["status"] == "confirmed"
    assert len(reply.body["tickets"]) == 2
    tickets = await api.call("GET", "/api/me/tickets", buyer)
    assert {t["code"] for t in tickets.body} == {t["code"] for t in reply.body["tickets"]}
    detail = await api.call("GET", f"/api/events/{event['id']}")
    assert detail.body["availableTickets"] == 3
