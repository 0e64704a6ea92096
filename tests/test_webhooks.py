"""Signed webhooks for late payment results (issue 13): `POST /api/payments/webhook`, the
provider's word on a charge whose answer was lost, authenticated by an HMAC signature over the
raw body, each event taken once, and settled by the checkout's own race rules — a success on
a hold still open confirms it, one after the hold ended is refunded."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
import uuid
from typing import Any

import orjson
import pytest

from engine.payments.fake import FakeProvider, WebhookTarget
from engine.settings import Secret, Settings, SettingsError
from engine.storage.invariants import check_invariants
from engine.types import Role
from gateway.keys import metrics_key
from tests.clock import FakeClock
from tests.factories import Account
from tests.helpers import Api, Reply
from tests.test_payments import _checkout, _held, _pay, _payment_rows, _provider
from tests.test_stream import _next_events

SECRET = "whsec_" + "k" * 40
ROUTE = "/api/payments/webhook"


def _signature(body: bytes, at: float, secret: str = SECRET) -> str:
    """The header as a provider writes it, computed here from the wire format itself (not
    with the engine's own signer, which would agree with any mistake of its verifier)."""
    stamp = int(at)
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256)
    return f"t={stamp},v1={digest.hexdigest()}"


async def post_webhook(api: Api, event: dict[str, Any] | bytes, *, at: float | None = None,
                       secret: str = SECRET, signature: str | None = None,
                       signed: bool = True) -> Reply:
    """POST an event to the webhook as the provider does: signed now (or `at`) with
    `secret`, or with the `signature` given, or unsigned."""
    body = event if isinstance(event, bytes) else orjson.dumps(event)
    headers = {"Content-Type": "application/json"}
    if signed:
        headers["Ticketwar-Signature"] = signature or _signature(
            body, time.time() if at is None else at, secret)
    return await api.call("POST", ROUTE, data=body, headers=headers)


async def _attempt(api: Api, booking: dict[str, Any]) -> dict[str, Any]:
    row = await api.pool.fetchrow(
        "SELECT id, amount_cents, currency FROM payments WHERE booking_id = $1"
        " ORDER BY created_at DESC LIMIT 1", uuid.UUID(booking["id"]))
    return dict(row)


def webhook_event(attempt: dict[str, Any], kind: str = "charge.succeeded",
                  charge_id: str | None = "ch_late", **changes: Any) -> dict[str, Any]:
    """A provider event about this payment attempt (a `payments` row's id and money)."""
    return {"id": f"evt_{uuid.uuid4().hex[:12]}", "type": kind,
            "idempotencyKey": str(attempt["id"]), "chargeId": charge_id,
            "amountCents": attempt["amount_cents"], "currency": attempt["currency"], **changes}


async def _lost(api: Api, hold_seconds: int = 60) -> tuple[
        dict[str, Any], Account, dict[str, Any], dict[str, Any]]:
    """A held booking paid with `tok_timeout`: charged at the provider, the answer lost, the
    attempt still `charging` (what a webhook settles)."""
    event, buyer, booking = await _held(api, hold_seconds=hold_seconds)
    lost = await _pay(api, buyer, booking, "tok_timeout", key="lost")
    assert (lost.status, lost.body["payment"]) == (202, "pending")
    attempt = await _attempt(api, booking)
    assert await _payment_rows(api, booking) == ["charging"]
    return event, buyer, booking, attempt


async def _booking_frame(stream: Any) -> dict[str, Any]:
    """The next `booking` frame of a stream (stock frames pass by meanwhile)."""
    async with asyncio.timeout(5):
        while True:
            [(kind, frame)] = await _next_events(stream, 1)
            if kind == "booking":
                return frame


def _charge_of(api: Api, attempt: dict[str, Any]) -> str:
    charge_id = _provider(api).charges[str(attempt["id"])].charge_id
    assert charge_id is not None
    return charge_id


@pytest.fixture
async def hooked(make_api: Any) -> Api:
    """A gateway that takes webhooks signed with SECRET."""
    api: Api = await make_api(payment_webhook_secret=Secret(SECRET))
    return api


@pytest.mark.both_transports
async def test_a_signed_late_success_confirms_the_pending_payment(make_api: Any) -> None:
    api: Api = await make_api(payment_webhook_secret=Secret(SECRET))
    event, buyer, booking, attempt = await _lost(api)
    ticket = (await api.call("POST", "/api/stream/ticket", buyer)).body["ticket"]
    async with api.client.get(f"/api/stream?ticket={ticket}") as stream:
        assert (await stream.content.readline()).startswith(b"retry:")
        hook = webhook_event(attempt, charge_id=_charge_of(api, attempt))
        reply = await post_webhook(api, hook)
        assert (reply.status, reply.body) == (200, {
            "eventId": hook["id"], "duplicate": False, "payment": "captured"})
        frame = await _booking_frame(stream)
    assert (frame["id"], frame["status"]) == (booking["id"], "confirmed")  # the buyer hears it
    reread = await api.call("GET", f"/api/bookings/{booking['id']}", buyer)
    assert reread.body["status"] == "confirmed" and len(reread.body["tickets"]) == 1
    assert await _payment_rows(api, booking) == ["captured"]
    # The buyer's retry with the lost request's key now answers the result.
    assert (await _pay(api, buyer, booking, "tok_timeout", key="lost")).status == 200
    assert (await check_invariants(api.pool, [event["id"]])).ok


async def test_a_late_success_after_the_hold_expired_is_refunded(
        hooked: Api, clock: FakeClock) -> None:
    api = hooked
    event, buyer, booking, attempt = await _lost(api, hold_seconds=30)
    clock.advance(31)
    await api.drain()  # the seats went back on sale
    reply = await post_webhook(api, webhook_event(attempt, charge_id=_charge_of(api, attempt)),
                        at=clock.now().timestamp())
    assert (reply.status, reply.body["payment"]) == (200, "refunded")
    reread = await api.call("GET", f"/api/bookings/{booking['id']}", buyer)
    assert (reread.body["status"], reread.body["tickets"]) == ("expired", [])
    assert reread.body["refund"]["reason"] == "late_payment"
    provider = _provider(api)
    assert len(provider.successful()) == 1 and provider.kept() == []
    assert (await check_invariants(api.pool, [event["id"]])).ok


async def test_a_late_decline_marks_the_attempt_declined(hooked: Api) -> None:
    api = hooked
    event, buyer, booking = await _held(api)
    attempt_id = uuid.uuid4()  # a charge the provider is still deciding (its answer lost)
    await api.pool.execute(
        "INSERT INTO payments (id, booking_id, user_id, event_id, amount_cents, currency,"
        " provider, status) VALUES ($1, $2, $3, $4, 700, 'JPY', 'fake', 'charging')",
        attempt_id, uuid.UUID(booking["id"]), buyer.id, event["id"])
    attempt = {"id": attempt_id, "amount_cents": 700, "currency": "JPY"}
    ticket = (await api.call("POST", "/api/stream/ticket", buyer)).body["ticket"]
    async with api.client.get(f"/api/stream?ticket={ticket}") as stream:
        assert (await stream.content.readline()).startswith(b"retry:")
        reply = await post_webhook(api, webhook_event(attempt, "charge.failed", None,
                                        reason="insufficient funds"))
        assert (reply.status, reply.body["payment"]) == (200, "declined")
        frame = await _booking_frame(stream)
    assert (frame["id"], frame["status"], frame["reason"]) == (
        booking["id"], "held", "payment_declined")
    assert await _payment_rows(api, booking) == ["declined"]
    held = await api.call("GET", f"/api/bookings/{booking['id']}", buyer)
    assert held.body["status"] == "held"
    assert (await _pay(api, buyer, booking)).status == 200  # free to pay again
    assert (await check_invariants(api.pool, [event["id"]])).ok


async def test_money_for_an_attempt_already_closed_is_refunded(hooked: Api) -> None:
    api = hooked
    event, buyer, booking = await _held(api)
    declined = await _pay(api, buyer, booking, "tok_declined")  # the provider said no
    assert (declined.status, declined.body["error"]) == (402, "payment_declined")
    closed = await _attempt(api, booking)
    assert (await _pay(api, buyer, booking)).status == 200  # paid with another card
    # The provider's late word contradicts its first (the money came after all): it must not
    # be kept, as the booking has its one successful charge already.
    reply = await post_webhook(api, webhook_event(closed, charge_id="ch_3ds_late"))
    assert (reply.status, reply.body["payment"]) == (200, "refunded")
    assert await _payment_rows(api, booking) == ["refunded", "captured"]
    assert _provider(api).refunds == {f"refund-{closed['id']}": "ch_3ds_late"}
    reread = await api.call("GET", f"/api/bookings/{booking['id']}", buyer)
    assert (reread.body["status"], len(reread.body["tickets"])) == ("confirmed", 1)
    assert (await check_invariants(api.pool, [event["id"]])).ok


async def test_bad_stale_or_missing_signatures_are_refused(
        hooked: Api, clock: FakeClock) -> None:
    api = hooked
    _, _, booking, attempt = await _lost(api)
    hook = webhook_event(attempt, charge_id=_charge_of(api, attempt))
    body = orjson.dumps(hook)
    now = clock.now().timestamp()
    refusals = {
        "missing_signature": await post_webhook(api, body, signed=False),
        "bad_signature": await post_webhook(api, body, secret="whsec_" + "x" * 40),
        "stale_signature": await post_webhook(api, body, at=now - 301),
    }
    for code, reply in refusals.items():
        assert (reply.status, reply.body["error"]) == (400, code), reply.body
    ahead = await post_webhook(api, body, at=now + 301)  # from the future: a clock to distrust
    assert (ahead.status, ahead.body["error"]) == (400, "stale_signature")
    tampered = orjson.dumps({**hook, "amountCents": 1})
    good_for_the_original = _signature(body, now)
    for header in (good_for_the_original, "garbage", "t=abc,v1=00", f"t={int(now)}",
                   "v1=" + "0" * 64):
        reply = await post_webhook(api, tampered, signature=header)
        assert (reply.status, reply.body["error"]) == (400, "bad_signature"), header
    # A signature from the edge of the window is still good; nothing above changed a thing.
    assert await _payment_rows(api, booking) == ["charging"]
    late_but_in_time = await post_webhook(api, body, at=now - 299)
    assert (late_but_in_time.status, late_but_in_time.body["payment"]) == (200, "captured")


async def test_a_replayed_event_is_a_no_op(hooked: Api) -> None:
    api = hooked
    event, buyer, booking, attempt = await _lost(api)
    hook = webhook_event(attempt, charge_id=_charge_of(api, attempt))
    assert (await post_webhook(api, hook)).body["duplicate"] is False
    settled = api.app[metrics_key].payments.labels("confirmed")._value.get()
    for _ in range(2):  # the provider's retry, re-signed: the event id was taken already
        again = await post_webhook(api, hook)
        assert (again.status, again.body) == (200, {
            "eventId": hook["id"], "duplicate": True, "payment": "captured"})
    assert api.app[metrics_key].payments.labels("confirmed")._value.get() == settled
    assert await api.pool.fetchval(
        "SELECT count(*) FROM payment_webhooks WHERE event_id = $1", hook["id"]) == 1
    assert await _payment_rows(api, booking) == ["captured"]
    assert (await check_invariants(api.pool, [event["id"]])).ok


async def test_a_mismatched_amount_or_charge_is_refused(hooked: Api) -> None:
    api = hooked
    _, _, booking, attempt = await _lost(api)
    charge_id = _charge_of(api, attempt)
    hook = webhook_event(attempt, charge_id=charge_id)
    for wrong in ({"amountCents": attempt["amount_cents"] + 1}, {"currency": "EUR"}):
        reply = await post_webhook(api, {**hook, **wrong})
        assert (reply.status, reply.body["error"]) == (422, "payment_mismatch"), wrong
    assert await _payment_rows(api, booking) == ["charging"]
    # A refused event is not taken: the right one under the same id still settles it.
    assert (await post_webhook(api, hook)).body["payment"] == "captured"
    other = await post_webhook(api, webhook_event(attempt, charge_id="ch_someone_else"))
    assert (other.status, other.body["error"]) == (422, "payment_mismatch")
    assert await _payment_rows(api, booking) == ["captured"]


async def test_malformed_events_are_refused(hooked: Api) -> None:
    api = hooked
    _, _, _, attempt = await _lost(api)
    hook = webhook_event(attempt, charge_id=_charge_of(api, attempt))
    cases = {
        b"not json": (400, "malformed_json"),
        orjson.dumps({**hook, "type": "charge.exploded"}): (422, "invalid_input"),
        orjson.dumps({k: v for k, v in hook.items() if k != "amountCents"}):
            (422, "invalid_input"),
        orjson.dumps({**hook, "chargeId": None}): (422, "invalid_input"),
        orjson.dumps({**hook, "extra": 1}): (422, "invalid_input"),
    }
    for body, (status, code) in cases.items():
        reply = await post_webhook(api, body)
        assert (reply.status, reply.body["error"]) == (status, code), body
    # A key this engine never gave out (another system's charge) is taken and ignored.
    unknown = await post_webhook(api, {**hook, "id": "evt_other", "idempotencyKey": "order-17"})
    assert (unknown.status, unknown.body["payment"]) == (200, None)
    # None of it was taken: the event itself still settles the attempt (and leaves nothing
    # for the recovery of later tests to find).
    assert (await post_webhook(api, hook)).body["payment"] == "captured"


async def test_the_webhook_is_off_without_a_secret(api: Api) -> None:
    reply = await post_webhook(api, {"id": "evt_1"})
    assert (reply.status, reply.body["error"]) == (404, "webhooks_disabled")


async def test_a_refund_the_provider_reports_settles_the_refund_owed(make_api: Any) -> None:
    api: Api = await make_api(payment_webhook_secret=Secret(SECRET),
                              payments=FakeProvider((0, 0)))
    vendor = await api.account(Role.VENDOR)
    event = await api.event(vendor, totalTickets=3, priceCents=900, currency="EUR")
    buyer = await api.account()
    held = await api.book(buyer, event["id"], 1)
    assert (await _pay(api, buyer, held.body)).body["status"] == "confirmed"
    provider = _provider(api)
    provider.refund_gate = gate = asyncio.Event()  # the refund call waits at the provider
    assert (await api.call("POST", f"/api/events/{event['id']}/cancel", vendor)).status == 200
    assert await _payment_rows(api, held.body) == ["refunding"]
    attempt = await _attempt(api, held.body)
    [charge_id] = provider.successful()
    reply = await post_webhook(api, webhook_event(attempt, "charge.refunded", charge_id))
    assert (reply.status, reply.body["payment"]) == (200, "refunded")
    counted = api.app[metrics_key].refunds.labels("event_cancelled")._value.get()
    gate.set()  # the refunder's own call comes back: the row is refunded once, counted once
    await _checkout(api).settled()
    assert await _payment_rows(api, held.body) == ["refunded"]
    assert api.app[metrics_key].refunds.labels("event_cancelled")._value.get() == counted


@pytest.mark.both_transports
async def test_the_fake_provider_sends_its_lost_answers_by_webhook(make_api: Any) -> None:
    provider = FakeProvider((0, 0))
    api: Api = await make_api(payment_webhook_secret=Secret(SECRET), payments=provider)
    # The test server's address is known once it runs: point the fake's webhooks at it.
    provider.webhook = WebhookTarget(str(api.client.make_url(ROUTE)), Secret(SECRET))
    event, buyer, booking = await _held(api)
    ticket = (await api.call("POST", "/api/stream/ticket", buyer)).body["ticket"]
    async with api.client.get(f"/api/stream?ticket={ticket}") as stream:
        assert (await stream.content.readline()).startswith(b"retry:")
        lost = await _pay(api, buyer, booking, "tok_timeout")
        assert (lost.status, lost.body["payment"]) == (202, "pending")
        await provider.delivered()
        frame = await _booking_frame(stream)
    assert (frame["id"], frame["status"]) == (booking["id"], "confirmed")
    [sent] = provider.webhooks
    assert (sent["type"], sent["answer"]) == ("charge.succeeded", 200)
    assert await _payment_rows(api, booking) == ["captured"]
    assert (await check_invariants(api.pool, [event["id"]])).ok


def test_webhook_settings(make_settings: Any) -> None:
    settings = make_settings(payment_webhook_secret=Secret(SECRET))
    assert SECRET not in repr(settings)
    env = {"PAYMENT_WEBHOOK_SECRET": SECRET,
           "FAKE_PAYMENT_WEBHOOK_URL": "http://127.0.0.1:8080/api/payments/webhook"}
    read = Settings.from_env(env)
    assert read.payment_webhook_secret == Secret(SECRET)
    assert read.fake_payment_webhook_url == env["FAKE_PAYMENT_WEBHOOK_URL"]
    with pytest.raises(SettingsError, match="32 bytes"):
        Settings.from_env({"PAYMENT_WEBHOOK_SECRET": "short"})
    with pytest.raises(SettingsError, match="PAYMENT_WEBHOOK_SECRET"):
        Settings.from_env({"FAKE_PAYMENT_WEBHOOK_URL": env["FAKE_PAYMENT_WEBHOOK_URL"]})
    with pytest.raises(SettingsError, match="http"):
        Settings.from_env({**env, "FAKE_PAYMENT_WEBHOOK_URL": "ftp://example/hook"})
