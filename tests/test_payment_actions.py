"""The provider's extra customer step (3-D Secure), completed as real providers do it (issue
13): a pay that needs it answers `202 payment: requires_action` with the step's `nextAction`,
the hold and the attempt stay open, and the step's end comes back as a signed webhook (or to
recovery's lookup) and is settled by the checkout's own race rules — confirmed while the hold
is open, refunded once it is over, declined (the hold stays) when the customer fails it."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from engine.payments.fake import FakeProvider, WebhookTarget
from engine.payments.provider import ProviderTimeout
from engine.settings import Secret
from engine.storage.invariants import check_invariants
from engine.types import Role
from tests.clock import FakeClock
from tests.factories import Account
from tests.helpers import Api, Reply
from tests.test_payments import _checkout, _held, _pay, _payment_rows
from tests.test_webhooks import ROUTE, SECRET


async def _hooked(make_api: Any, clock: FakeClock,
                  provider: FakeProvider | None = None) -> tuple[Api, FakeProvider]:
    """A gateway whose fake provider (this one, or a plain fake) sends its signed webhooks to
    the gateway itself."""
    provider = provider or FakeProvider((0, 0), clock=clock.now)
    api: Api = await make_api(payment_webhook_secret=Secret(SECRET), payments=provider)
    provider.webhook = WebhookTarget(str(api.client.make_url(ROUTE)), Secret(SECRET))
    return api, provider


async def _needs_action(api: Api) -> tuple[dict[str, Any], Account, dict[str, Any], str]:
    """A held booking paid with `tok_action`: the step's URL, the attempt open."""
    event, buyer, booking = await _held(api, hold_seconds=30)
    reply = await _pay(api, buyer, booking, "tok_action", key="3ds")
    assert reply.status == 202, reply.body
    assert (reply.body["status"], reply.body["payment"]) == ("held", "requires_action")
    return event, buyer, booking, reply.body["nextAction"]["url"]


async def _complete(api: Api, url: str, outcome: str) -> Reply:
    """The customer finishing the step at the (fake) provider."""
    return await api.call("POST", url, json={"outcome": outcome})


async def _close(api: Api, url: str | None, booking: dict[str, Any]) -> None:
    """End the step (failed) and let recovery hear it, so no open attempt is left for the
    recovery of later tests to find."""
    if url is not None:
        assert (await _complete(api, url, "failed")).status == 200
    await _checkout(api).recover(0)
    assert await _payment_rows(api, booking) == ["declined"]


async def test_a_step_asked_for_is_answered_202_with_its_url_and_keeps_the_attempt(
        api: Api) -> None:
    event, buyer, booking, url = await _needs_action(api)
    assert url.startswith("/api/fake-provider/actions/") and url.endswith("/complete")
    # The same key, or a pay without any (it cannot be told from a retry of the first),
    # answers the same step: the attempt is still in flight, so no second charge is made
    # while the customer is at it. (A new key is another card: see the tests of switching.)
    for key in ("3ds", None):
        again = await _pay(api, buyer, booking, "tok_ok", key=key)
        assert (again.status, again.body["payment"], again.body["nextAction"]["url"]) == (
            202, "requires_action", url), again.body
    assert await _payment_rows(api, booking) == ["requires_action"]
    held = await api.call("GET", f"/api/bookings/{booking['id']}", buyer)
    assert held.body["status"] == "held"
    assert (await check_invariants(api.pool, [event["id"]])).ok
    await _close(api, url, booking)


async def _ended_by_webhook(make_api: Any, clock: FakeClock, outcome: str) -> tuple[
        Api, FakeProvider, dict[str, Any], Account, dict[str, Any]]:
    """A step asked for and ended with `outcome` at the fake, its webhook taken."""
    api, provider = await _hooked(make_api, clock)
    event, buyer, booking, url = await _needs_action(api)
    done = await _complete(api, url, outcome)
    charge = "succeeded" if outcome == "succeeded" else "declined"
    assert (done.status, done.body["status"]) == (200, charge), done.body
    await provider.delivered()
    [sent] = provider.webhooks
    assert (sent["type"], sent["answer"]) == (
        "charge.succeeded" if outcome == "succeeded" else "charge.failed", 200)
    return api, provider, event, buyer, booking


async def test_completing_the_step_confirms_the_booking_by_webhook(
        make_api: Any, clock: FakeClock) -> None:
    api, provider, event, buyer, booking = await _ended_by_webhook(make_api, clock,
                                                                   "succeeded")
    reread = await api.call("GET", f"/api/bookings/{booking['id']}", buyer)
    assert (reread.body["status"], len(reread.body["tickets"])) == ("confirmed", 1)
    assert await _payment_rows(api, booking) == ["captured"]
    again = await _pay(api, buyer, booking, "tok_action", key="3ds")  # the key's answer
    assert (again.status, again.body["status"]) == (200, "confirmed")
    assert provider.kept() == provider.successful() and len(provider.successful()) == 1
    assert (await check_invariants(api.pool, [event["id"]])).ok


async def test_failing_the_step_declines_the_attempt_and_the_hold_stays(
        make_api: Any, clock: FakeClock) -> None:
    api, _, event, buyer, booking = await _ended_by_webhook(make_api, clock, "failed")
    assert await _payment_rows(api, booking) == ["declined"]
    held = await api.call("GET", f"/api/bookings/{booking['id']}", buyer)
    assert held.body["status"] == "held"
    replay = await _pay(api, buyer, booking, "tok_ok", key="3ds")
    assert (replay.status, replay.body["error"]) == (402, "payment_declined")
    assert (await _pay(api, buyer, booking, "tok_ok")).status == 200  # another card
    assert (await check_invariants(api.pool, [event["id"]])).ok


async def test_completing_the_step_after_the_hold_expired_is_refunded(
        make_api: Any, clock: FakeClock) -> None:
    api, provider = await _hooked(make_api, clock)
    event, buyer, booking, url = await _needs_action(api)
    clock.advance(31)
    await api.drain()  # the hold expired: its seat is back on sale
    # Finished at the provider before anything in the engine cancelled the step: the money
    # goes back, never into a ticket.
    assert (await _complete(api, url, "succeeded")).status == 200
    await provider.delivered()
    reread = await api.call("GET", f"/api/bookings/{booking['id']}", buyer)
    assert (reread.body["status"], reread.body["tickets"]) == ("expired", [])
    assert reread.body["refund"]["reason"] == "late_payment"
    assert await _payment_rows(api, booking) == ["refunded"]
    assert len(provider.successful()) == 1 and provider.kept() == []
    assert (await check_invariants(api.pool, [event["id"]])).ok


async def test_without_webhooks_recovery_settles_the_completed_step(api: Api) -> None:
    event, buyer, booking, url = await _needs_action(api)
    await _checkout(api).recover(0)  # still at the customer: left open
    assert await _payment_rows(api, booking) == ["requires_action"]
    assert (await _complete(api, url, "succeeded")).status == 200
    assert await _payment_rows(api, booking) == ["requires_action"]  # nobody told the engine
    await _checkout(api).recover(0)
    reread = await api.call("GET", f"/api/bookings/{booking['id']}", buyer)
    assert (reread.body["status"], len(reread.body["tickets"])) == ("confirmed", 1)
    assert await _payment_rows(api, booking) == ["captured"]
    assert (await check_invariants(api.pool, [event["id"]])).ok


@pytest.mark.parametrize("outcome", ["succeeded", "failed"])
async def test_a_retry_after_the_step_settles_it_at_once(api: Api, outcome: str) -> None:
    # No webhook: the buyer comes back from the bank's page and the page asks again with the
    # same key. The provider's lookup has the step's end, and the retry acts on it as the
    # first answer would have — not "pending" until recovery's next round a minute later.
    event, buyer, booking, url = await _needs_action(api)
    assert (await _complete(api, url, outcome)).status == 200
    again = await _pay(api, buyer, booking, "tok_action", key="3ds")
    if outcome == "succeeded":
        assert (again.status, again.body["status"], len(again.body["tickets"])) == (
            200, "confirmed", 1), again.body
        assert await _payment_rows(api, booking) == ["captured"]
    else:
        assert (again.status, again.body["error"]) == (402, "payment_declined"), again.body
        assert await _payment_rows(api, booking) == ["declined"]
        held = await api.call("GET", f"/api/bookings/{booking['id']}", buyer)
        assert held.body["status"] == "held"  # the hold stays for another card
    assert (await check_invariants(api.pool, [event["id"]])).ok


@pytest.mark.parametrize(("path", "body", "status", "code"), [
    ("/api/fake-provider/actions/nope/complete", {"outcome": "succeeded"}, 404, "not_found"),
    (None, {"outcome": "maybe"}, 422, "invalid_input"),
    (None, {}, 422, "invalid_input"),
])
async def test_the_fake_step_refuses_bad_calls(api: Api, path: str | None,
                                               body: dict[str, Any], status: int,
                                               code: str) -> None:
    _, _, booking, url = await _needs_action(api)
    reply = await api.call("POST", path or url, json=body)
    assert (reply.status, reply.body["error"]) == (status, code), reply.body
    assert await _payment_rows(api, booking) == ["requires_action"]
    await _close(api, url, booking)


async def test_a_step_is_completed_once(api: Api) -> None:
    _, _, booking, url = await _needs_action(api)
    assert (await _complete(api, url, "failed")).status == 200
    twice = await _complete(api, url, "succeeded")
    assert (twice.status, twice.body["error"]) == (409, "action_not_pending")
    await _close(api, None, booking)


class _LookupLost(FakeProvider):
    """A fake whose lookups go unanswered (the provider's API away for a moment)."""

    async def lookup(self, idempotency_key: str) -> Any:
        """Never answers in time."""
        raise ProviderTimeout("lookup lost")


async def test_a_step_the_provider_cannot_be_asked_about_is_answered_pending(
        make_api: Any) -> None:
    api: Api = await make_api(payments=_LookupLost((0, 0)))
    _, buyer, booking, _ = await _needs_action(api)
    again = await _pay(api, buyer, booking, "tok_action", key="3ds")  # back from the bank
    assert (again.status, again.body["payment"]) == (202, "pending"), again.body
    await api.pool.execute(  # leave nothing open for the recovery of later tests
        "UPDATE payments SET status = 'declined' WHERE booking_id = $1",
        uuid.UUID(booking["id"]))


# -- switching cards, and steps whose hold ended: cancelled at the provider ---------------------


async def _no_money(provider: FakeProvider) -> None:
    """Every webhook under way delivered, and no money ever taken nor given back."""
    await provider.delivered()
    assert (provider.successful(), provider.refunds) == ([], {})


async def _refused(api: Api, url: str) -> None:
    """The step at `url` cannot be finished any more: it was cancelled at the provider."""
    late = await _complete(api, url, "succeeded")
    assert (late.status, late.body["error"]) == (409, "action_not_pending"), late.body


@pytest.mark.parametrize(("token", "status", "rows"), [
    ("tok_ok", 200, ["declined", "captured"]),
    ("tok_declined", 402, ["declined", "declined"]),
    ("tok_action", 202, ["declined", "requires_action"]),
])
async def test_another_card_mid_step_cancels_the_step_and_charges_the_new_card_once(
        make_api: Any, clock: FakeClock, token: str, status: int, rows: list[str]) -> None:
    api, provider = await _hooked(make_api, clock)
    event, buyer, booking, url = await _needs_action(api)
    switched = await _pay(api, buyer, booking, token, key="card-2")  # a new key: a new card
    assert switched.status == status, switched.body
    assert await _payment_rows(api, booking) == rows
    [old_key, new_key] = provider.charges
    assert provider.charges[old_key].reason == "cancelled"
    await _refused(api, url)  # the old step is over at the provider: no money can come
    await provider.delivered()
    assert await _payment_rows(api, booking) == rows
    assert provider.refunds == {}
    if token == "tok_ok":
        assert provider.successful() == [provider.charges[new_key].charge_id]
        assert (switched.body["status"], len(switched.body["tickets"])) == ("confirmed", 1)
    else:
        assert provider.successful() == []
        held = await api.call("GET", f"/api/bookings/{booking['id']}", buyer)
        assert held.body["status"] == "held"
    if token == "tok_action":  # the new card's own step, another one than the old
        assert switched.body["nextAction"]["url"] not in (None, url)
        assert (await _complete(api, switched.body["nextAction"]["url"], "failed")).status == 200
        await provider.delivered()
        assert await _payment_rows(api, booking) == ["declined", "declined"]
    assert (await check_invariants(api.pool, [event["id"]])).ok


class _HeldCancel(FakeProvider):
    """A fake whose cancels wait, once asked (`asked`), until the test lets them through."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.asked = asyncio.Event()
        self.release = asyncio.Event()

    async def cancel(self, idempotency_key: str) -> Any:
        """Cancel once released (the request on its way while the buyer ends the step)."""
        self.asked.set()
        await self.release.wait()
        return await super().cancel(idempotency_key)


@pytest.mark.parametrize("told", [False, True], ids=["untold", "webhook_first"])
async def test_another_card_racing_a_step_that_succeeded_settles_that_step_and_no_more(
        make_api: Any, clock: FakeClock, told: bool) -> None:
    api, provider = await _hooked(make_api, clock, _HeldCancel((0, 0), clock=clock.now))
    assert isinstance(provider, _HeldCancel)
    event, buyer, booking, url = await _needs_action(api)
    switch = asyncio.create_task(_pay(api, buyer, booking, "tok_ok", key="card-2"))
    await provider.asked.wait()
    # The buyer confirms at the bank while the cancel is on its way: the success stands.
    if not told:
        provider.webhook = None  # the engine hears it only from the cancel's answer
    assert (await _complete(api, url, "succeeded")).status == 200
    await provider.delivered()
    assert await _payment_rows(api, booking) == (["captured"] if told else ["requires_action"])
    provider.release.set()
    switched = await switch
    assert (switched.status, switched.body["status"], len(switched.body["tickets"])) == (
        200, "confirmed", 1), switched.body
    assert await _payment_rows(api, booking) == ["captured"]  # no attempt for the new card
    assert len(provider.charges) == 1 and len(provider.successful()) == 1
    assert provider.kept() == provider.successful()
    assert (await check_invariants(api.pool, [event["id"]])).ok


class _CancelLost(FakeProvider):
    """A fake that loses the answer to its first cancel, the cancel taken there or not."""

    def __init__(self, *args: Any, took: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._took, self.lost = took, 0

    async def cancel(self, idempotency_key: str) -> Any:
        """The first answer never comes; later ones do."""
        if self.lost:
            return await super().cancel(idempotency_key)
        self.lost += 1
        if self._took:
            await super().cancel(idempotency_key)
        raise ProviderTimeout("the cancel's answer was lost")


@pytest.mark.parametrize("took", [False, True], ids=["not_taken", "taken"])
async def test_a_switch_whose_cancel_is_unanswered_charges_nothing_until_it_is_known(
        make_api: Any, took: bool) -> None:
    provider = _CancelLost((0, 0), took=took)
    api: Api = await make_api(payments=provider)
    event, buyer, booking, url = await _needs_action(api)
    lost = await _pay(api, buyer, booking, "tok_ok", key="card-2")
    # Whether the old step may still bring money is not known: no new charge yet.
    assert (lost.status, lost.body["payment"]) == (202, "pending"), lost.body
    assert await _payment_rows(api, booking) == ["requires_action"]
    assert len(provider.charges) == 1 and provider.successful() == []
    # The same request again asks the cancel again (idempotent at the provider), now heard.
    again = await _pay(api, buyer, booking, "tok_ok", key="card-2")
    assert (again.status, again.body["status"]) == (200, "confirmed"), again.body
    assert await _payment_rows(api, booking) == ["declined", "captured"]
    await _refused(api, url)
    assert len(provider.successful()) == 1 and provider.refunds == {}
    assert (await check_invariants(api.pool, [event["id"]])).ok


@pytest.mark.parametrize("by", ["recovery", "retry"])
async def test_a_step_still_waiting_when_the_hold_expired_is_cancelled_at_the_provider(
        make_api: Any, clock: FakeClock, by: str) -> None:
    api, provider = await _hooked(make_api, clock)
    event, buyer, booking, url = await _needs_action(api)
    clock.advance(31)
    await api.drain()  # the hold expired while the buyer was at the bank
    if by == "recovery":
        await _checkout(api).recover(0)
    else:  # the buyer back from the bank's page, too late: the same pay again
        again = await _pay(api, buyer, booking, "tok_action", key="3ds")
        assert (again.status, again.body["error"]) == (409, "hold_expired"), again.body
    assert await _payment_rows(api, booking) == ["declined"]
    await _refused(api, url)  # so no charge is made that would have to be refunded
    await _no_money(provider)
    reread = await api.call("GET", f"/api/bookings/{booking['id']}", buyer)
    assert reread.body["status"] == "expired" and "refund" not in reread.body
    assert (await check_invariants(api.pool, [event["id"]])).ok


@pytest.mark.parametrize("who", ["buyer", "organizer"])
async def test_a_hold_cancelled_during_its_step_cancels_the_step_at_once(
        make_api: Any, clock: FakeClock, who: str) -> None:
    api, provider = await _hooked(make_api, clock)
    event, buyer, booking, url = await _needs_action(api)
    path, by = ((f"/api/bookings/{booking['id']}/cancel", buyer) if who == "buyer" else
                (f"/api/events/{event['id']}/cancel", await api.account(Role.ADMIN)))
    assert (await api.call("POST", path, by)).status == 200
    await _checkout(api).settled()  # what the cancel started in the background
    assert await _payment_rows(api, booking) == ["declined"]
    await _refused(api, url)
    await _no_money(provider)
    assert (await check_invariants(api.pool, [event["id"]])).ok


@pytest.mark.parametrize("took", [False, True], ids=["not_taken", "taken"])
async def test_recovery_whose_cancel_is_unanswered_closes_the_step_by_what_it_came_to(
        make_api: Any, clock: FakeClock, took: bool) -> None:
    provider = _CancelLost((0, 0), took=took, clock=clock.now)
    api, _ = await _hooked(make_api, clock, provider)
    event, buyer, booking, url = await _needs_action(api)
    clock.advance(31)
    await api.drain()
    await _checkout(api).recover(0)
    # Not known whether the step is over at the provider: the row waits for the next round.
    assert await _payment_rows(api, booking) == ["requires_action"]
    if took:
        await _refused(api, url)
        await _checkout(api).recover(0)  # the provider's lookup: cancelled, no money moved
        assert await _payment_rows(api, booking) == ["declined"]
        await _no_money(provider)
    else:  # finished at the bank meanwhile: the money goes back by the late-payment rule
        assert (await _complete(api, url, "succeeded")).status == 200
        await provider.delivered()
        assert await _payment_rows(api, booking) == ["refunded"]
        assert len(provider.successful()) == 1 and provider.kept() == []
    assert (await check_invariants(api.pool, [event["id"]])).ok
