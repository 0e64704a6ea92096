"""An event's cancel survives its shard worker dying at the worst moment: right after the
batch that cancels it commits, before anyone is answered. The refunds it owes are in the
payments outbox, so every paid buyer is refunded exactly once all the same."""

from __future__ import annotations

import pytest

from engine.checkout import Checkout
from engine.payments.fake import FakeProvider
from engine.storage.invariants import check_invariants
from engine.types import Role
from gateway.keys import checkout_key, payments_key
from tests.faults.conftest import FaultStack
from tests.helpers import assert_eventually

pytestmark = [pytest.mark.fault, pytest.mark.slow]

_CRASH = {"FAULT_INJECTION": "crash_after_event_cancel"}


@pytest.mark.stack_env(first_start_env={0: _CRASH, 1: _CRASH})
async def test_kill_9_after_an_event_cancel_commits_still_refunds_every_payer(
        fault_stack: FaultStack) -> None:
    api = await fault_stack.make_api()
    vendor = await api.account(Role.VENDOR)
    event = await api.event(vendor, totalTickets=10, priceCents=1500)
    buyers = await api.accounts(4)
    for buyer in buyers:
        held = await api.book(buyer, event["id"], 2)
        assert held.body["status"] == "held", held.body
        paid = await api.call("POST", f"/api/bookings/{held.body['id']}/pay", buyer,
                              json={"paymentToken": "tok_ok"})
        assert paid.body["status"] == "confirmed", paid.body

    # The owning worker dies after the cancel's commit, before its ack and answer: this
    # request hears 200 from the redelivery's answer, or 202 if that takes longer.
    first = await api.call("POST", f"/api/events/{event['id']}/cancel", vendor)
    assert first.status in (200, 202), first.body

    async def restarted() -> bool:
        return fault_stack.supervisor.restarts >= 1
    await assert_eventually(restarted, timeout=30, message="the worker did not die and return")

    checkout: Checkout = api.app[checkout_key]
    # Another cancel finds the event cancelled and answers it (it refunds what is owed).
    again = await api.call("POST", f"/api/events/{event['id']}/cancel", vendor)
    assert (again.status, again.body["status"]) == (200, "cancelled"), again.body

    async def all_refunded() -> bool:
        await checkout.refund_owed(event_id=event["id"])
        statuses = [r["status"] for r in await api.pool.fetch(
            "SELECT status FROM payments WHERE event_id = $1", event["id"])]
        return statuses == ["refunded"] * len(buyers)
    await assert_eventually(all_refunded, timeout=30, message="a refund was lost")

    provider = api.app[payments_key]
    assert isinstance(provider, FakeProvider)
    assert len(provider.successful()) == len(buyers) and provider.kept() == []
    assert len(provider.refunds) == len(buyers)  # one refund per charge, not two
    sold = await api.pool.fetchval("SELECT sold FROM events WHERE id = $1", event["id"])
    assert sold == 0
    assert (await check_invariants(api.pool, [event["id"]])).ok
