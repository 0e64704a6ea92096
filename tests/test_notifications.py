"""Notifications (issue 13, part 4): the outbox rows written by triggers in the decision's own
transaction, and the sender that drains them — over a real SMTP server on localhost
(aiosmtpd, tests/mail_server.py) and real PostgreSQL: receipts, expiries and refunds, a
server that says 4xx then 250, one that says 5xx, a sender killed between the server's 250
and its own commit, and two senders on one outbox."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import asyncpg
import pytest

from engine.checkout import Checkout
from engine.metrics import Metrics
from engine.notify.sender import OutboxSender, backoff
from engine.notify.smtp import SmtpNotifier, SmtpServer
from engine.payments.fake import FakeProvider
from engine.settings import Secret
from engine.types import Role, Strategy
from gateway.keys import checkout_key, metrics_key, outbox_sender_key, payments_key
from tests.clock import CLOCK, FakeClock
from tests.conftest import TEST_DATABASE_URL
from tests.factories import Account
from tests.helpers import Api, assert_eventually
from tests.mail_server import MailServer, running_mail_server

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: The From of the tests' own senders (the gateways' is the default, at localhost).
MAIL_FROM = "Tickets <tickets@test.example>"


@pytest.fixture
def mail() -> Iterator[MailServer]:
    """A real SMTP server for this test."""
    with running_mail_server() as server:
        yield server


async def _mailing_api(make_api: Any, mail: MailServer, **overrides: Any) -> Api:
    api: Api = await make_api(smtp_url=Secret(mail.url), **overrides)
    return api


async def _rows(pool: asyncpg.Pool, booking_id: str) -> list[asyncpg.Record]:
    return list(await pool.fetch(
        "SELECT id, kind, attempts, sent_at, failed_at, error, due_at FROM notifications"
        " WHERE booking_id = $1 ORDER BY created_at, kind", uuid.UUID(booking_id)))


async def _one_email(mail: MailServer, buyer: Account, what: str) -> EmailMessage:
    async def arrived() -> bool:
        return bool(mail.to(buyer.email))
    await assert_eventually(arrived, message=f"no {what} email reached the server")
    [message] = mail.to(buyer.email)
    return message


async def _sent(pool: asyncpg.Pool, booking_id: str, kind: str) -> asyncpg.Record:
    """The booking's notification of this kind once it is marked sent."""
    async def marked() -> bool:
        return any(r["kind"] == kind and r["sent_at"] is not None
                   for r in await _rows(pool, booking_id))
    await assert_eventually(marked, message=f"the {kind} was never marked sent")
    [row] = [r for r in await _rows(pool, booking_id) if r["kind"] == kind]
    return row


def _body(message: EmailMessage) -> str:
    return str(message.get_content())


def _sender(mail: MailServer) -> OutboxSender:
    """A sender of the test's own, beside any gateway's."""
    return OutboxSender(TEST_DATABASE_URL, SmtpNotifier(SmtpServer.parse(mail.url)),
                        mail_from=MAIL_FROM, clock=CLOCK.now,
                        sleeper=CLOCK.sleep)


# -- receipts ----------------------------------------------------------------------------

@pytest.mark.both_transports
async def test_a_confirmed_booking_sends_exactly_one_receipt_with_its_codes(
        make_api: Any, mail: MailServer) -> None:
    api = await _mailing_api(make_api, mail)
    event = await api.event(name="Nachtkonzert", venue="Halle 3", totalTickets=5,
                            startsAt="2026-12-05T20:00:00Z")
    buyer = await api.account()
    booked = await api.book(buyer, event["id"], 2)
    assert booked.status == 201, booked.body
    codes = sorted(t["code"] for t in booked.body["tickets"])
    message = await _one_email(mail, buyer, "receipt")
    row = await _sent(api.pool, booked.body["id"], "receipt")
    assert message["Subject"] == "Your tickets for Nachtkonzert"
    assert message["Message-ID"] == f"<{row['id']}@localhost>"
    body = _body(message)
    for text in ("Nachtkonzert", "Saturday 5 December 2026, 20:00 UTC", "Halle 3", *codes):
        assert text in body, (text, body)
    # Nothing more to send for it: one row, one email, however often the outbox is drained.
    assert await api.app[outbox_sender_key].drain() == 0
    assert len(mail.to(buyer.email)) == 1
    assert [r["kind"] for r in await _rows(api.pool, booked.body["id"])] == ["receipt"]
    metrics: Metrics = api.app[metrics_key]
    assert metrics.notifications.labels("receipt", "sent")._value.get() >= 1


async def test_the_locked_strategy_sends_its_receipt_too(make_api: Any,
                                                         mail: MailServer) -> None:
    api = await _mailing_api(make_api, mail, booking_strategy=Strategy.LOCKED)
    event = await api.event(totalTickets=3)
    buyer = await api.account()
    booked = await api.book(buyer, event["id"], 1)
    message = await _one_email(mail, buyer, "receipt")
    assert booked.body["tickets"][0]["code"] in _body(message)


async def test_a_paid_hold_sends_a_receipt_with_the_amount(make_api: Any,
                                                           mail: MailServer) -> None:
    api = await _mailing_api(make_api, mail)
    event = await api.event(name="Oper", totalTickets=3, priceCents=125050, currency="EUR")
    buyer = await api.account()
    held = await api.book(buyer, event["id"], 2)
    assert held.body["status"] == "held"
    paid = await api.call("POST", f"/api/bookings/{held.body['id']}/pay", buyer,
                          json={"paymentToken": "tok_ok"})
    assert paid.status == 200, paid.body
    body = _body(await _one_email(mail, buyer, "receipt"))
    assert "2,501.00 EUR" in body, body  # 2 x 1,250.50
    for ticket in paid.body["tickets"]:
        assert ticket["code"] in body


async def test_a_rolled_back_decision_leaves_no_notification(api: Api) -> None:
    event = await api.event(totalTickets=3)
    buyer = await api.account()
    booking_id = uuid.uuid4()
    async with api.pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        await conn.execute("INSERT INTO bookings (id, event_id, user_id, quantity, status)"
                           " VALUES ($1, $2, $3, 1, 'confirmed')", booking_id, event["id"],
                           buyer.id)
        assert await conn.fetchval("SELECT count(*) FROM notifications WHERE booking_id = $1",
                                   booking_id) == 1  # written in the same transaction...
        await transaction.rollback()
    assert await _rows(api.pool, str(booking_id)) == []  # ...and gone with it


# -- expiries and refunds ----------------------------------------------------------------

@pytest.mark.both_transports
async def test_an_expired_hold_sends_an_expiry_notice(make_api: Any, mail: MailServer,
                                                      clock: FakeClock) -> None:
    api = await _mailing_api(make_api, mail)
    event = await api.event(name="Jazz", totalTickets=2, priceCents=500, holdSeconds=30)
    buyer = await api.account()
    held = await api.book(buyer, event["id"], 2)
    clock.advance(31)
    await api.drain()
    message = await _one_email(mail, buyer, "expiry")
    assert message["Subject"] == "Your hold for Jazz has expired"
    assert "2 seats" in _body(message)
    assert [r["kind"] for r in await _rows(api.pool, held.body["id"])] == ["expiry"]


async def test_a_late_payment_refunded_sends_a_refund_notice(make_api: Any, mail: MailServer,
                                                             clock: FakeClock) -> None:
    api = await _mailing_api(make_api, mail, payment_wait_seconds=0.05)
    event = await api.event(name="Kabuki", totalTickets=2, priceCents=700, currency="JPY",
                            holdSeconds=30)
    buyer = await api.account()
    held = await api.book(buyer, event["id"], 2)
    provider = api.app[payments_key]
    assert isinstance(provider, FakeProvider)
    provider.gate = gate = asyncio.Event()
    pending = await api.call("POST", f"/api/bookings/{held.body['id']}/pay", buyer,
                             json={"paymentToken": "tok_ok"})
    assert pending.status == 202
    clock.advance(31)
    await api.drain()  # expired first...
    gate.set()         # ...then the money comes, and goes back
    checkout: Checkout = api.app[checkout_key]
    await checkout.settled()
    await _sent(api.pool, held.body["id"], "refund")
    await _sent(api.pool, held.body["id"], "expiry")
    [refund] = [m for m in mail.to(buyer.email) if m["Subject"].startswith("Refund")]
    assert refund["Subject"] == "Refund of 1,400 JPY for Kabuki"
    assert "after your hold on the seats had expired" in _body(refund)
    assert len(mail.to(buyer.email)) == 2  # the expiry, and the refund


async def test_an_event_cancelled_sends_each_payer_a_refund_notice(
        make_api: Any, mail: MailServer) -> None:
    api = await _mailing_api(make_api, mail)
    vendor = await api.account(Role.VENDOR)
    event = await api.event(vendor, name="Opera", totalTickets=2, priceCents=4000)
    buyer = await api.account()
    held = await api.book(buyer, event["id"], 1)
    paid = await api.call("POST", f"/api/bookings/{held.body['id']}/pay", buyer,
                          json={"paymentToken": "tok_ok"})
    assert paid.body["status"] == "confirmed"
    assert (await api.call("POST", f"/api/events/{event['id']}/cancel", vendor)).status == 200
    checkout: Checkout = api.app[checkout_key]
    await checkout.settled()
    await _sent(api.pool, held.body["id"], "refund")
    [refund] = [m for m in mail.to(buyer.email) if m["Subject"].startswith("Refund")]
    assert refund["Subject"] == "Refund of 40.00 EUR for Opera"
    assert "the organizer cancelled the event" in _body(refund)


async def test_a_waiting_list_offer_is_emailed_once(make_api: Any, mail: MailServer) -> None:
    api = await _mailing_api(make_api, mail)
    event = await api.event(name="Zugabe", totalTickets=1)
    holder, waiter = await api.accounts(2)
    booked = await api.book(holder, event["id"], 1)
    assert booked.status == 201, booked.body
    joined = await api.call("POST", f"/api/events/{event['id']}/waitlist", waiter,
                            json={"quantity": 1})
    assert joined.status == 201, joined.body
    cancelled = await api.call("POST", f"/api/bookings/{booked.body['id']}/cancel", holder)
    assert cancelled.status == 200, cancelled.body
    message = await _one_email(mail, waiter, "offer")
    assert message["Subject"].startswith("Seats for Zugabe are yours until"), message["Subject"]
    assert "next on the waiting list" in _body(message)
    [offer] = await api.pool.fetch(
        "SELECT booking_id FROM notifications WHERE kind = 'offer' AND booking_id IN"
        " (SELECT id FROM bookings WHERE user_id = $1)", waiter.id)
    assert await api.pool.fetchval("SELECT offer FROM bookings WHERE id = $1",
                                   offer["booking_id"])


async def test_a_free_offer_not_taken_up_is_not_called_unpaid(
        make_api: Any, mail: MailServer, clock: FakeClock) -> None:
    api = await _mailing_api(make_api, mail)
    event = await api.event(name="Zugabe", totalTickets=1, holdSeconds=120)
    holder, waiter = await api.accounts(2)
    booked = await api.book(holder, event["id"], 1)
    assert (await api.call("POST", f"/api/events/{event['id']}/waitlist", waiter,
                           json={"quantity": 1})).status == 201
    assert (await api.call("POST", f"/api/bookings/{booked.body['id']}/cancel",
                           holder)).status == 200
    await api.drain()
    [offer] = (await api.call("GET", "/api/me/bookings", waiter)).body
    clock.advance(121)  # the offer runs out, nobody took it up
    await api.drain()
    await _sent(api.pool, offer["id"], "expiry")
    [expiry] = [m for m in mail.to(waiter.email) if m["Subject"].endswith("has expired")]
    assert expiry["Subject"] == "Your offer for Zugabe has expired"
    assert "were not taken up by" in _body(expiry) and "paid" not in _body(expiry)


async def test_a_backlog_is_sent_a_batch_per_transaction_not_one_per_email(
        make_api: Any, mail: MailServer) -> None:
    """A sale's receipts pile up faster than one transaction per email drains them
    (four round trips each, the claim's join run once per row): the sender claims a batch,
    sends it and records every outcome in one transaction."""
    api: Api = await make_api(gateway_process_index=1)  # no sender of the gateway's own
    event = await api.event(totalTickets=40)
    buyers = await api.accounts(30)
    booked = [await api.book(buyer, event["id"], 1) for buyer in buyers]
    statements = 0

    def counted() -> None:
        nonlocal statements
        statements += 1
    sender = OutboxSender(TEST_DATABASE_URL, SmtpNotifier(SmtpServer.parse(mail.url)),
                          mail_from=MAIL_FROM, clock=CLOCK.now, sleeper=CLOCK.sleep,
                          workers=1, batch=10, on_statement=counted)
    await sender.start()  # its first round sends the backlog
    try:
        rows = [await _sent(api.pool, reply.body["id"], "receipt") for reply in booked]
    finally:
        await sender.stop()
    # Three batches of ten (BEGIN, claim, record, COMMIT), the claim that finds nothing
    # left, the first round's prune and its look for the next due row, and asyncpg's
    # one-time look-up of the record's array types: not four statements per email.
    assert statements <= 3 * 4 + 3 + 2 + 3, f"{statements} statements for 30 emails"
    for buyer, row in zip(buyers, rows, strict=True):
        [message] = mail.to(buyer.email)
        assert message["Message-ID"] == f"<{row['id']}@test.example>"
        assert row["attempts"] == 1

# -- retention ---------------------------------------------------------------------------

async def test_settled_notifications_are_deleted_after_their_retention(
        make_api: Any, mail: MailServer, clock: FakeClock) -> None:
    api = await _mailing_api(make_api, mail)
    event = await api.event(totalTickets=5)
    old_buyer, recent_buyer = await api.accounts(2)
    old = (await api.book(old_buyer, event["id"], 1)).body["id"]
    old_row = await _sent(api.pool, old, "receipt")
    clock.advance(20 * 86400)
    recent = (await api.book(recent_buyer, event["id"], 1)).body["id"]
    recent_row = await _sent(api.pool, recent, "receipt")
    # A row never sent, however old, is not the sender's to delete: it is still owed.
    owed = uuid.uuid4()
    await api.pool.execute(
        "INSERT INTO notifications (id, kind, booking_id, created_at, due_at)"
        " VALUES ($1, 'receipt', $2, $3, $4)", owed, uuid.UUID(recent),
        clock.now() - timedelta(days=90), clock.now() + timedelta(days=900))
    clock.advance(15 * 86400)  # the first receipt is 35 days old, the second 15

    await api.app[outbox_sender_key].prune()

    left = {r["id"] for r in await api.pool.fetch(
        "SELECT id FROM notifications WHERE id = ANY($1::uuid[])",
        [old_row["id"], recent_row["id"], owed])}
    assert left == {recent_row["id"], owed}


# -- failures ----------------------------------------------------------------------------

async def _refused_once(make_api: Any, mail: MailServer,
                        reply: str) -> tuple[Api, Account, Any, asyncpg.Record]:
    """A booking whose receipt the server answered once with `reply`; its outbox row after
    that attempt was recorded."""
    api = await _mailing_api(make_api, mail)
    event = await api.event(totalTickets=2)
    buyer = await api.account()
    mail.refuse(buyer.email, reply)
    booked = await api.book(buyer, event["id"], 1)

    async def recorded() -> bool:
        return any(r["attempts"] == 1 for r in await _rows(api.pool, booked.body["id"]))
    await assert_eventually(recorded, message=f"the {reply!r} was never recorded")
    [row] = await _rows(api.pool, booked.body["id"])
    return api, buyer, booked, row

async def test_a_4xx_is_retried_after_its_backoff_and_sent_once(
        make_api: Any, mail: MailServer, clock: FakeClock) -> None:
    api, buyer, booked, row = await _refused_once(make_api, mail, "451 4.3.0 Try again later")
    assert (row["sent_at"], row["failed_at"]) == (None, None)
    assert row["error"] == "451 4.3.0 Try again later"
    assert mail.to(buyer.email) == []
    clock.advance(backoff(1) + 1)  # the retry falls due: the sender's sleep ends with it
    message = await _one_email(mail, buyer, "receipt")
    row = await _sent(api.pool, booked.body["id"], "receipt")
    assert message["Message-ID"] == f"<{row['id']}@localhost>"
    assert row["attempts"] == 2
    assert await api.app[outbox_sender_key].drain() == 0
    assert len(mail.to(buyer.email)) == 1
    assert api.app[metrics_key].notifications.labels("receipt", "retried")._value.get() >= 1


async def test_a_5xx_marks_the_notification_failed_with_the_reason(
        make_api: Any, mail: MailServer) -> None:
    api, buyer, _, row = await _refused_once(make_api, mail, "550 5.1.1 Mailbox unavailable")
    assert row["failed_at"] is not None
    assert (row["sent_at"], row["error"], row["attempts"]) == (
        None, "550 5.1.1 Mailbox unavailable", 1)
    assert mail.to(buyer.email) == []
    assert mail.refused == [(buyer.email, "550 5.1.1 Mailbox unavailable")]
    assert api.app[metrics_key].notifications.labels("receipt", "failed")._value.get() == 1


async def _kill_the_sender_while_it_sends_to(mail: MailServer, buyer: Account,
                                             tmp_path: Any) -> None:
    """Run a sender as a process of its own and SIGKILL it while the server holds the
    buyer's message unanswered: the sender cannot have marked it (nor the rest of its
    batch)."""
    accepted, release = mail.hold(buyer.email)
    # One batch at a time: with two, both claim at once and may split the rows under test
    # between them, the other batch still sending (or already committed) when the kill comes.
    env = {**os.environ, "DATABASE_URL": TEST_DATABASE_URL, "SMTP_URL": mail.url,
           "MAIL_FROM": MAIL_FROM, "DATA_DIR": str(tmp_path), "LOG_LEVEL": "WARNING",
           "MAIL_CONNECTIONS": "1"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "engine.notify", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        assert await asyncio.to_thread(accepted.wait, 30), "the sender never sent"
        process.send_signal(signal.SIGKILL)
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
    assert process.returncode == -signal.SIGKILL
    release.set()
    mail.hold(buyer.email)[1].set()  # the next copy is answered at once


async def _only_these_are_due(pool: asyncpg.Pool, booked: list[Any]) -> None:
    """Put off every other unsent row by a day: earlier tests of the session leave receipts
    owed, and a sender's batch (up to 20 rows, oldest first) would take those first — so
    the rows under test could fall into two batches, one committed before the kill."""
    await pool.execute(
        "UPDATE notifications SET due_at = now() + interval '1 day'"
        " WHERE sent_at IS NULL AND failed_at IS NULL AND NOT booking_id = ANY($1::uuid[])",
        [uuid.UUID(reply.body["id"]) for reply in booked])


async def _send_what_is_owed(mail: MailServer) -> None:
    sender = _sender(mail)
    await sender.start()
    try:
        await sender.drain()
    finally:
        await sender.stop()


async def test_a_sender_killed_before_marking_resends_with_the_same_message_id(
        make_api: Any, mail: MailServer, tmp_path: Any) -> None:
    # A gateway without a sender of its own (not process 0): the sender is a process we kill.
    api: Api = await make_api(gateway_process_index=1)
    event = await api.event(totalTickets=2)
    buyer = await api.account()
    booked = await api.book(buyer, event["id"], 1)
    await _only_these_are_due(api.pool, [booked])
    await _kill_the_sender_while_it_sends_to(mail, buyer, tmp_path)
    [first] = mail.to(buyer.email)
    [row] = await _rows(api.pool, booked.body["id"])
    assert row["sent_at"] is None  # the kill came between the server's 250 and the commit
    await _send_what_is_owed(mail)
    first_copy, second_copy = mail.to(buyer.email)
    assert first_copy is first
    # At least once, and the duplicate says what it is: the same Message-ID.
    assert first["Message-ID"] == second_copy["Message-ID"]
    assert _body(first) == _body(second_copy)
    assert (await _sent(api.pool, booked.body["id"], "receipt"))["attempts"] == 1
    assert first["Message-ID"] == f"<{row['id']}@test.example>"


async def test_a_sender_killed_mid_batch_resends_that_batch_each_with_its_message_id(
        make_api: Any, mail: MailServer, tmp_path: Any) -> None:
    """The price of one transaction per batch: the emails of the batch the server had
    already accepted are sent again — no more than the batch, each copy recognisable."""
    api: Api = await make_api(gateway_process_index=1)
    event = await api.event(totalTickets=5)
    buyers = await api.accounts(3)
    booked = [await api.book(buyer, event["id"], 1) for buyer in buyers]
    await _only_these_are_due(api.pool, booked)
    # The third receipt of the batch hangs: the first two were accepted, none is marked.
    await _kill_the_sender_while_it_sends_to(mail, buyers[2], tmp_path)
    assert [len(mail.to(b.email)) for b in buyers] == [1, 1, 1]
    for reply in booked:
        [row] = await _rows(api.pool, reply.body["id"])
        assert row["sent_at"] is None
    await _send_what_is_owed(mail)
    for buyer, reply in zip(buyers, booked, strict=True):
        first, again = mail.to(buyer.email)
        row = await _sent(api.pool, reply.body["id"], "receipt")
        assert first["Message-ID"] == again["Message-ID"] == f"<{row['id']}@test.example>"
        assert row["attempts"] == 1


async def test_two_senders_never_send_a_row_at_the_same_time(make_api: Any,
                                                             mail: MailServer) -> None:
    api: Api = await make_api(gateway_process_index=1, smtp_url=Secret(mail.url))
    event = await api.event(totalTickets=10)
    buyers = await api.accounts(8)
    accepted, release = mail.hold(buyers[0].email)
    booked = [await api.book(buyers[0], event["id"], 1)]
    first = _sender(mail)
    second = _sender(mail)
    await first.start()
    try:
        # The first sender is in the middle of the first buyer's email, its row locked.
        assert await asyncio.to_thread(accepted.wait, 30), "the first sender never sent"
        booked += [await api.book(b, event["id"], 1) for b in buyers[1:]]
        await second.start()
        await second.drain()  # sends everything else it can, never the row in hand
        assert len(mail.to(buyers[0].email)) == 1
        for buyer in buyers[1:]:
            await _one_email(mail, buyer, "receipt")
        release.set()
        await _sent(api.pool, booked[0].body["id"], "receipt")
    finally:
        release.set()
        await second.stop()
        await first.stop()
    for buyer, reply in zip(buyers, booked, strict=True):
        [message] = mail.to(buyer.email)
        row = await _sent(api.pool, reply.body["id"], "receipt")
        assert message["Message-ID"] == f"<{row['id']}@test.example>"
        assert row["attempts"] == 1
