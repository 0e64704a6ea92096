"""The emails people get: a subject and a plain-text body per kind of notification, and the
message composed around them. Pure: the clock is passed in, nothing is read here.

Every kind is one function from a `Notice` to (subject, body), listed in `TEMPLATES`; a new
kind (the waiting list's offers) is one more function there and one more value allowed by
the outbox's CHECK (migration 0011)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from email import policy
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr
from functools import lru_cache

from engine.currencies import format_amount
from engine.storage.outbox import Notice

_FOOTER = "\n\n-- \nTicket War · booking {booking}\n"


def when(moment: datetime | None) -> str:
    """A date people read: `Saturday 5 December 2026, 20:00 UTC`."""
    if moment is None:
        return "to be announced"
    utc = moment.astimezone(UTC)
    return f"{utc:%A} {utc.day} {utc:%B %Y, %H:%M} UTC"


def _greeting(notice: Notice) -> str:
    return f"Hello {notice.name}," if notice.name else "Hello,"


def _seats(quantity: int) -> str:
    return "1 seat" if quantity == 1 else f"{quantity} seats"


def receipt(notice: Notice) -> tuple[str, str]:
    """A booking confirmed: where and when, what was paid, and every ticket code."""
    lines = [_greeting(notice), "",
             f"your booking for {notice.event_name} is confirmed.", "",
             f"  Event:   {notice.event_name}",
             f"  Date:    {when(notice.starts_at)}",
             f"  Venue:   {notice.venue or 'to be announced'}"]
    if notice.amount_cents and notice.currency:
        lines.append(f"  Paid:    {format_amount(notice.amount_cents, notice.currency)}")
    lines += ["", f"Your tickets ({len(notice.codes)}):", ""]
    lines += [f"    {code}" for code in notice.codes]
    lines += ["", "Show a code at the door: each one lets one person in, once."]
    return f"Your tickets for {notice.event_name}", "\n".join(lines)


def _free(notice: Notice) -> bool:
    """Nothing to pay: a free event's waiting-list offer (amount 0) is accepted, not paid."""
    return not notice.amount_cents


def _what(notice: Notice) -> str:
    return "offer" if notice.offer else "hold"


def _held(notice: Notice) -> str:
    """`the 2 seats held for you for <event> (<date>)`, or offered to them for an offer."""
    whose = "offered to you from the waiting list" if notice.offer else "held for you"
    return (f"the {_seats(notice.quantity)} {whose} for {notice.event_name} "
            f"({when(notice.starts_at)})")


def expiry(notice: Notice) -> tuple[str, str]:
    """A hold not paid in time, or an offer not taken up (a free one is not "unpaid"): its
    seats went back on sale, or to the next buyer waiting."""
    missed = ("were not paid for" if not _free(notice)
              else "were not taken up" if notice.offer else "were not claimed")
    gone = ("have been offered to the next buyer waiting" if notice.offer
            else "have gone back on sale")
    lines = [_greeting(notice), "",
             f"{_held(notice)} {missed} by {when(notice.expires_at)}, so they {gone}. "
             "No tickets were issued."]
    if not _free(notice):
        lines += ["", "If a payment of yours went through after that time, it is refunded; a "
                  "separate email confirms the refund."]
    lines += ["", "You can book again while seats are left."]
    return f"Your {_what(notice)} for {notice.event_name} has expired", "\n".join(lines)


def warning(notice: Notice) -> tuple[str, str]:
    """A hold's or offer's deadline is near: pay (accept, when free), or ask once for more
    time (WCAG 2.2.1)."""
    take = "Accept them" if _free(notice) else "Pay"
    then = ("are offered to the next buyer waiting (back on sale if nobody is)" if notice.offer
            else "go back on sale")
    body = "\n".join([
        _greeting(notice), "",
        f"{_held(notice)} are held until {when(notice.expires_at)}.", "",
        f"{take} before then to get your tickets. If you need more time, the booking page "
        f"lets you extend the {_what(notice)} once.", "",
        f"After that time the seats {then}."])
    return f"Your {_what(notice)} for {notice.event_name} ends soon", body


def refund(notice: Notice) -> tuple[str, str]:
    """Money given back, in the currency's own format."""
    amount = (format_amount(notice.amount_cents, notice.currency)
              if notice.amount_cents is not None and notice.currency else "your payment")
    why = {"event_cancelled": "the organizer cancelled the event, and with it your tickets",
           "buyer_cancelled": "you cancelled your booking, and its tickets are void"}.get(
        notice.refund_reason or "") or {
        "expired": f"it arrived after your {_what(notice)} on the seats had expired, so no "
                   "tickets were issued",
        "cancelled": "the booking was cancelled"}.get(
        notice.booking_status, f"the booking is {notice.booking_status}")
    body = "\n".join([
        _greeting(notice), "",
        f"we have refunded {amount} for {notice.event_name}: {why}.", "",
        "Depending on your bank, it may take a few days to appear on your statement."])
    return f"Refund of {amount} for {notice.event_name}", body


def offer(notice: Notice) -> tuple[str, str]:
    """Seats returned to a sold-out event, offered to a buyer on its waiting list: how many,
    at what price, until when; unused, they go to the next in line."""
    price = (f" for {format_amount(notice.amount_cents, notice.currency)}"
             if notice.amount_cents and notice.currency else "")
    take = "pay for them" if price else "accept them"
    body = "\n".join([
        _greeting(notice), "",
        f"{_seats(notice.quantity)} for {notice.event_name} ({when(notice.starts_at)}) came "
        f"back, and you were next on the waiting list: they are held for you{price} until "
        f"{when(notice.expires_at)}.", "",
        f"To {take}, open your tickets page in Ticket War before then. If you do nothing, "
        "the offer ends and the seats are offered to the next buyer waiting."])
    return f"Seats for {notice.event_name} are yours until {when(notice.expires_at)}", body


#: Kind -> its template (the kinds the outbox's CHECK allows, migrations 0011, 0014, 0015).
TEMPLATES: dict[str, Callable[[Notice], tuple[str, str]]] = {
    "receipt": receipt, "expiry": expiry, "refund": refund, "warning": warning,
    "offer": offer}


def message_id(notice_id: uuid.UUID, mail_from: str) -> str:
    """The Message-ID of a notification's email, the same on every attempt: a resend after
    a crash is recognisable as the same message (by the reader's mail program too)."""
    _, at, domain = parseaddr(mail_from)[1].rpartition("@")
    return f"<{notice_id}@{domain if at and domain else 'ticketwar'}>"


class _Registry(HeaderRegistry):
    """The standard header registry, with each header class made once: the standard one
    makes a new class (`type(...)`) for every header it parses, a quarter of the time an
    email took to compose (profiled)."""

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        made = self._classes.get(key)
        if made is None:
            made = self._classes[key] = super().__getitem__(name)
        return made


#: The default policy (what `EmailMessage()` uses), with the registry above: the bytes of a
#: message are the same.
POLICY = policy.default.clone(header_factory=_Registry())


@lru_cache(maxsize=256)
def _parsed(name: str, value: str) -> BaseHeader:
    """A header parsed once for every email that carries the same one — the sender's From,
    an event's subject, the second's Date. Parsing is most of what composing costs (an
    address header ~0.1 ms; one receipt ~0.46 ms in all), paid per email in a sale's
    first seconds; a parsed header is an immutable str, stored as it is by the message."""
    return POLICY.header_factory(name, value)  # type: ignore[no-any-return]


def compose(notice: Notice, *, mail_from: str, now: datetime) -> EmailMessage:
    """The email of a notice addressed to its buyer (`notice.email` must be set)."""
    assert notice.email is not None
    subject, body = TEMPLATES[notice.kind](notice)
    message = EmailMessage(policy=POLICY)
    message["From"] = _parsed("From", mail_from)
    message["To"] = formataddr((notice.name or "", notice.email))
    message["Subject"] = _parsed("Subject", subject)
    message["Date"] = _parsed("Date", format_datetime(now.astimezone(UTC)))
    message["Message-ID"] = message_id(notice.id, mail_from)
    message.set_content(body + _FOOTER.format(booking=notice.booking_id))
    return message
