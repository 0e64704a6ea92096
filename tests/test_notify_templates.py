"""The emails' words, pure: amounts in the currency's minor unit, dates, every code; and the
settings that pick a notifier."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import pytest

from engine.currencies import format_amount
from engine.notify.log import LogNotifier
from engine.notify.registry import create_notifier
from engine.notify.sender import BACKOFF_SECONDS, backoff
from engine.notify.smtp import SmtpNotifier, SmtpServer
from engine.notify.templates import compose, message_id, when
from engine.settings import Secret, Settings, SettingsError
from engine.storage.outbox import Notice

NOW = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)


def _notice(**fields: Any) -> Notice:
    base: dict[str, Any] = dict(
        id=uuid.UUID(int=7), kind="receipt", attempts=0, email="ann@example.com", name="Ann",
        booking_id=uuid.UUID(int=9), booking_status="confirmed", quantity=2,
        event_name="Nachtkonzert", venue="Halle 3",
        starts_at=datetime(2026, 12, 5, 20, 0, tzinfo=UTC), expires_at=None,
        amount_cents=None, currency=None, codes=("AAAA-1111", "BBBB-2222"))
    base.update(fields)
    return Notice(**base)


@pytest.mark.parametrize(("minor", "currency", "text"), [
    (125050, "EUR", "1,250.50 EUR"), (5, "EUR", "0.05 EUR"), (1400, "JPY", "1,400 JPY"),
    (1250, "KWD", "1.250 KWD"), (0, "USD", "0.00 USD")])
def test_amounts_are_written_in_the_currencys_minor_unit(minor: int, currency: str,
                                                         text: str) -> None:
    assert format_amount(minor, currency) == text


def test_a_receipt_names_the_event_its_date_venue_and_every_code() -> None:
    message = compose(_notice(amount_cents=2000, currency="EUR"),
                      mail_from="Ticket War <tickets@tw.example>", now=NOW)
    assert message["Subject"] == "Your tickets for Nachtkonzert"
    assert message["To"] == "Ann <ann@example.com>"
    assert message["Message-ID"] == f"<{uuid.UUID(int=7)}@tw.example>"
    body = message.get_content()
    for text in ("Saturday 5 December 2026, 20:00 UTC", "Halle 3", "AAAA-1111", "BBBB-2222",
                 "Paid:    20.00 EUR", "Your tickets (2)", str(uuid.UUID(int=9))):
        assert text in body, text


def test_an_undated_event_and_an_unnamed_buyer_read_well() -> None:
    body = compose(_notice(name=None, venue=None, starts_at=None), mail_from="t@x.example",
                   now=NOW).get_content()
    assert body.startswith("Hello,\n")
    assert "Date:    to be announced" in body and "Venue:   to be announced" in body
    assert "Paid" not in body  # a free event


def test_an_expiry_and_a_refund_say_what_happened() -> None:
    expired = compose(_notice(kind="expiry", booking_status="expired", quantity=1, codes=(),
                              expires_at=datetime(2026, 12, 2, 0, 30, tzinfo=UTC)),
                      mail_from="t@x.example", now=NOW)
    assert expired["Subject"] == "Your hold for Nachtkonzert has expired"
    assert "the 1 seat held for you" in expired.get_content()
    assert "Wednesday 2 December 2026, 00:30 UTC" in expired.get_content()
    refund = compose(_notice(kind="refund", booking_status="expired", amount_cents=1250,
                             currency="KWD", codes=()), mail_from="t@x.example", now=NOW)
    assert refund["Subject"] == "Refund of 1.250 KWD for Nachtkonzert"
    assert "arrived after your hold" in refund.get_content()
    for reason, words in (("buyer_cancelled", "you cancelled your booking"),
                          ("event_cancelled", "the organizer cancelled the event")):
        cancelled = compose(_notice(kind="refund", booking_status="cancelled",
                                    amount_cents=900, currency="EUR", refund_reason=reason),
                            mail_from="t@x.example", now=NOW)
        assert words in cancelled.get_content()


def test_a_warning_says_when_the_hold_ends_and_that_it_can_be_extended() -> None:
    warning = compose(_notice(kind="warning", booking_status="held", quantity=2, codes=(),
                              expires_at=datetime(2026, 12, 2, 0, 30, tzinfo=UTC)),
                      mail_from="t@x.example", now=NOW)
    assert warning["Subject"] == "Your hold for Nachtkonzert ends soon"
    body = warning.get_content()
    assert "held until Wednesday 2 December 2026, 00:30 UTC" in body
    assert "extend the hold once" in body


def test_an_offer_says_how_many_seats_until_when_and_what_to_do() -> None:
    deadline = datetime(2026, 12, 2, 1, 10, tzinfo=UTC)
    paid = compose(_notice(kind="offer", booking_status="held", codes=(), expires_at=deadline,
                           amount_cents=3000, currency="EUR"), mail_from="t@x.example", now=NOW)
    assert paid["Subject"] == (
        "Seats for Nachtkonzert are yours until Wednesday 2 December 2026, 01:10 UTC")
    body = paid.get_content()
    for text in ("2 seats for Nachtkonzert", "held for you for 30.00 EUR until Wednesday",
                 "To pay for them", "offered to the next buyer waiting"):
        assert text in body, text
    free = compose(_notice(kind="offer", booking_status="held", quantity=1, codes=(),
                           expires_at=deadline), mail_from="t@x.example", now=NOW)
    assert "1 seat for" in free.get_content() and "To accept them" in free.get_content()
    assert "EUR" not in free.get_content()


def _words(kind: str, **fields: Any) -> tuple[str, str]:
    """Subject and body of a notice about a hold of 2 seats ending at 00:30."""
    message = compose(_notice(kind=kind, codes=(), **{
        "booking_status": "expired" if kind == "expiry" else "held",
        "expires_at": datetime(2026, 12, 2, 0, 30, tzinfo=UTC), **fields}),
        mail_from="t@x.example", now=NOW)
    return message["Subject"], message.get_content()


@pytest.mark.parametrize("offer", [False, True])
def test_nothing_free_is_said_to_be_unpaid(offer: bool) -> None:
    # A free event's waiting-list offer (priceCents 0: amount 0) is accepted, not paid for.
    what = "offer" if offer else "hold"
    for amount in (0, None):
        subject, body = _words("expiry", amount_cents=amount,
                               currency="EUR" if amount == 0 else None, offer=offer)
        assert subject == f"Your {what} for Nachtkonzert has expired"
        assert "paid" not in body.lower() and "payment" not in body and "refund" not in body
        assert ("were not taken up by" if offer else "were not claimed by") in body
        assert "Wednesday 2 December 2026, 00:30 UTC" in body
        subject, body = _words("warning", amount_cents=amount, offer=offer)
        assert subject == f"Your {what} for Nachtkonzert ends soon"
        assert "pay" not in body.lower() and "Accept them before then" in body


def test_an_expired_or_ending_offer_says_where_its_seats_go() -> None:
    _, paid = _words("expiry", amount_cents=3000, currency="EUR", offer=True)
    assert "offered to you from the waiting list" in paid
    assert "were not paid for by" in paid and "it is refunded" in paid
    assert "the next buyer waiting" in paid and "gone back on sale" not in paid
    _, held = _words("expiry", amount_cents=3000, currency="EUR")
    assert "were not paid for by" in held and "gone back on sale" in held
    _, ending = _words("warning", amount_cents=3000, currency="EUR", offer=True)
    assert "Pay before then" in ending and "the next buyer waiting" in ending


def test_the_message_id_is_the_notifications_own() -> None:
    assert message_id(uuid.UUID(int=1), "nobody") == f"<{uuid.UUID(int=1)}@ticketwar>"
    assert when(datetime(2027, 1, 1, 9, 5, tzinfo=UTC)) == "Friday 1 January 2027, 09:05 UTC"


def test_backoff_doubles_up_to_its_ceiling() -> None:
    first, most = BACKOFF_SECONDS
    assert [backoff(n) for n in (1, 2, 3)] == [first, 2 * first, 4 * first]
    assert backoff(30) == most


def test_the_notifier_is_log_unless_an_smtp_server_is_named() -> None:
    assert isinstance(create_notifier(Settings()), LogNotifier)
    smtp = create_notifier(Settings(smtp_url=Secret("smtp://u:p%40ss@mail.example:2525")))
    assert isinstance(smtp, SmtpNotifier)
    assert isinstance(create_notifier(Settings(notifier="log",
                                               smtp_url=Secret("smtp://m.example"))),
                      LogNotifier)
    assert SmtpServer.parse("smtp://u:p%40ss@mail.example:2525") == SmtpServer(
        "mail.example", 2525, False, "u", "p@ss")
    assert SmtpServer.parse("smtps://mail.example") == SmtpServer("mail.example", 465, True)
    assert "p@ss" not in repr(Settings(smtp_url=Secret("smtp://u:p%40ss@m.example")))


@pytest.mark.parametrize(("env", "words"), [
    ({"NOTIFIER": "smtp"}, "needs SMTP_URL"), ({"NOTIFIER": "pigeon"}, "not one of"),
    ({"MAIL_FROM": "nobody"}, "not an email address"),
    ({"MAIL_CONNECTIONS": "0"}, "MAIL_CONNECTIONS must be at least 1")])
def test_unusable_notification_settings_are_refused(env: dict[str, str], words: str) -> None:
    with pytest.raises(SettingsError, match=words):
        Settings.from_env(env)


def test_an_smtp_url_that_is_not_one_is_refused() -> None:
    with pytest.raises(SettingsError, match="SMTP_URL"):
        create_notifier(Settings(smtp_url=Secret("http://mail.example")))


class _CountedRendering(EmailMessage):
    """An email that counts how often its body is rendered."""

    def __init__(self) -> None:
        super().__init__()
        self.renders = 0

    def get_content(self, *args: Any, **kwargs: Any) -> Any:
        self.renders += 1
        return super().get_content(*args, **kwargs)


async def test_the_log_notifier_renders_the_body_only_when_debug_is_logged(
        caplog: pytest.LogCaptureFixture) -> None:
    """Rendering the body for a debug line nobody logs cost a gateway CPU per receipt."""
    message = compose(_notice(), mail_from="Tickets <t@example.com>", now=NOW)
    counted = _CountedRendering()
    for name, value in message.items():
        counted[name] = value
    counted.set_content(message.get_content())
    with caplog.at_level(logging.INFO, logger="engine.notify.log"):
        await LogNotifier().send(counted)
    assert counted.renders == 0
    assert "AAAA-1111" not in caplog.text and "email" in caplog.text  # the headers only
    with caplog.at_level(logging.DEBUG, logger="engine.notify.log"):
        await LogNotifier().send(counted)
    assert counted.renders == 1
    assert "AAAA-1111" in caplog.text


def test_a_header_many_emails_share_is_parsed_once() -> None:
    """The From (and an event's subject, the second's Date) are parsed once, not per email:
    parsing headers was most of a receipt's composing CPU in a sale."""
    first = compose(_notice(), mail_from="Tickets <t@example.com>", now=NOW)
    second = compose(_notice(id=uuid.UUID(int=8), name="Bob", email="bob@example.com"),
                     mail_from="Tickets <t@example.com>", now=NOW)
    assert first["From"] is second["From"] and first["Subject"] is second["Subject"]
    assert first["Date"] is second["Date"]
    assert first["To"] != second["To"] and first["Message-ID"] != second["Message-ID"]
    assert type(first["To"]) is type(second["To"])  # not a new header class per email
    assert first["From"].addresses[0].addr_spec == "t@example.com"  # parsed all the same
    fresh = EmailMessage()
    for name in ("From", "To", "Subject", "Date", "Message-ID"):
        fresh[name] = str(first[name])  # parsed anew from text, as before the cache
    fresh.set_content(first.get_content())
    assert fresh.as_bytes() == first.as_bytes()
