"""What the API answers, as pydantic models: they generate the answer schemas of the OpenAPI
document, and the test client checks every reply of the suite against them (unknown fields
refused), so a field added to an answer without its model fails a test instead of drifting.

The handlers still build their JSON with `to_json()` and orjson: validating an answer on the
hot path would cost every request what one test run proves once.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from engine.types import Role
from gateway.schemas import optional


def _open(schema: dict[str, Any]) -> None:
    # Tests refuse undocumented fields (extra="forbid"), but the document does not promise
    # clients that an answer never gains one: adding a field is a compatible change.
    schema.pop("additionalProperties", None)


class Answer(BaseModel):
    """An answer's object: camelCase on the wire, nothing beyond what is documented."""

    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel,
                              populate_by_name=True, json_schema_extra=_open)


class Ticket(Answer):
    """A ticket of a booking."""

    id: uuid.UUID
    code: str
    void: bool = Field(description=(
        "true for the tickets of a cancelled booking: kept on record, not valid at the door"))


class Error(Answer):
    """Every error answer."""

    error: str = Field(description="stable machine code")
    message: str = Field(description="human text")
    field: str = optional(description="the request field refused, where there is one")
    fields: list[str] = optional(description="the unknown fields sent")
    sold: int = optional(description="`capacity_below_sold`: the seats already sold")
    booking_id: uuid.UUID = optional(description=(
        "`unavailable` on a booking: the id it would have had, which no booking will get"))
    suggestions: list[str] = optional(description=(
        "`weak_password`: what would make the password harder to guess"))
    ticket: Ticket = optional(description="`already_checked_in`, `ticket_void`: the ticket")
    checked_in_at: datetime = optional(description=(
        "`already_checked_in`: when the ticket was checked in, the first time"))
    queue_url: str = optional(description=(
        "`admission_required`, `admission_expired`: where to join the event's waiting room"))


class User(Answer):
    """An account."""

    id: int
    email: str = Field(json_schema_extra={"format": "email"})
    role: Role
    name: str | None


class Token(Answer):
    """A signed-in session."""

    token: str
    expires_in: int = Field(description="seconds")
    user: User


class StreamTicket(Answer):
    """A ticket that opens the caller's event stream (`GET /api/stream?ticket=`)."""

    ticket: str
    expires_in: int = Field(description="seconds")


class WaitingRoom(Answer):
    """An event's waiting room settings."""

    enabled: bool
    admit_per_minute: int | None
    queue_opens_at: datetime | None
    admission_seconds: int
    admit_factor: float = Field(description="admitted-but-unused buyers at most, per seat left")


class Event(Answer):
    """An event with its live seats left."""

    id: int
    name: str
    venue: str | None
    starts_at: datetime | None
    total_tickets: int
    available_tickets: int
    per_user_limit: int | None
    sale_starts_at: datetime | None
    vendor_id: int
    status: Literal["scheduled", "on_sale", "sold_out", "cancelled"]
    price_cents: int = Field(description="per seat, in the currency's minor unit; 0: free")
    currency: str = Field(description="ISO 4217")
    hold_seconds: int = Field(description="how long a paid booking is held for payment")
    checked_in: int = optional(description=(
        "read by its vendor or an admin only: tickets checked in at the door"))
    revenue_cents: int = optional(description=(
        "read by its vendor or an admin only: what its buyers paid and kept paid (captured "
        "payments; refunded ones left out), in the currency's minor unit"))
    organizer: str = optional(description=(
        "`GET /api/events/{event_id}` only: the organizer's display name, when they gave one"))
    waitlist: bool = Field(description=(
        "whether buyers may join its waiting list once sold out"))
    refundable_until: datetime | None = Field(description=(
        "until when a buyer may cancel a confirmed paid booking for a refund; null: never"))
    cancelled_at: datetime | None = Field(description=(
        "when its organizer cancelled it (`status: cancelled`: every booking void, the paid "
        "ones refunded, nothing on sale); null: it stands"))
    waiting_room: WaitingRoom = Field(description=(
        "when enabled, booking needs an admission from `POST /api/events/{id}/queue`"))

    description: str = optional(description=(
        "not in the list (`GET /api/events`), to keep it small: the event's plain-text "
        "description, empty when it has none"))
    bookings: int = optional(description=(
        "`GET /api/events/{event_id}` only, once this gateway has heard one: bookings taken "
        "by the event's owning actor since it loaded the event under `bookingsEpoch`, as "
        "the stream's `stock` frames carry it (a rate is the rise between two; under a new "
        "epoch the count started again at 0)"))
    bookings_epoch: int = optional(description="with `bookings`")


class Refund(Answer):
    """Money given back for a booking."""

    status: Literal["pending", "refunded"] = Field(description=(
        "`pending`: owed and recorded (made by the gateway at once, or by recovery after a "
        "crash); `refunded`: the provider gave it back"))
    amount_cents: int = Field(description="in the currency's minor unit")
    currency: str
    reason: Literal["buyer_cancelled", "event_cancelled", "late_payment"] = Field(description=(
        "why: its buyer cancelled within the refund window, its organizer cancelled the "
        "event, or the payment came after the hold had ended"))
    refunded_at: datetime | None = Field(description="when it was made; null while pending")


class NextAction(Answer):
    """An extra step the payment provider asks of the buyer (3-D Secure)."""

    url: str = Field(description=(
        "where the buyer takes it (the provider's page; with the `fake` provider, its "
        "`POST /api/fake-provider/actions/{attempt_id}/complete` route)"))


class Booking(Answer):
    """A booking and, once confirmed, its tickets."""

    id: uuid.UUID
    event_id: int
    quantity: int
    status: Literal["pending", "confirmed", "rejected", "cancelled", "held", "expired"]
    reason: str = optional(description="why, when rejected")
    tickets: list[Ticket]
    expires_at: datetime = optional(description=(
        "`held`: when the hold ends unless paid (then `expired`, seats back on sale)"))
    warn_at: datetime = optional(description=(
        "`held`: when the engine warns its buyer that `expiresAt` is near (a `booking` "
        "stream event with `warning: true`, and an email) — a minute before it, or halfway "
        "through a hold shorter than two minutes; a client offers more time from then"))
    amount_cents: int = optional(description=(
        "a paid event's booking: the price of its seats, in the currency's minor unit"))
    currency: str = optional(description="with `amountCents`: ISO 4217")
    offer: bool = optional(description=(
        "true: seats offered from the waiting list (the booking's id is the entry's); held "
        "until `expiresAt`, then offered on. Paid with `POST /api/bookings/{id}/pay`, "
        "accepted the same way (no token) when free"))
    extended: bool = optional(description=(
        "`held`: true once its deadline was extended (`POST /api/bookings/{id}/extend`, "
        "once per hold)"))
    refund: Refund = optional(description=(
        "a paid booking cancelled or expired: the money given back, owed or made"))
    payment: Literal["pending", "requires_action"] = optional(description=(
        "`202` to a pay request: `pending`, the provider has not answered yet; "
        "`requires_action`, the provider asks the buyer for an extra step (3-D Secure) at "
        "`nextAction.url`. Either way the result comes on the stream and to a retry with the "
        "same Idempotency-Key"))
    next_action: NextAction = optional(description=(
        "`payment: requires_action`: the step the buyer takes at the provider"))


class Rejection(Error):
    """A booking refused: an error that may carry the booking."""

    booking: Booking | None = Field(None, description=(
        "the rejected booking as recorded; null when the gateway refused it before it was "
        "accepted (nothing recorded)"))


class StaffMember(Answer):
    """An account with check-in rights for one event (its role unchanged)."""

    event_id: int
    user_id: int
    email: str = Field(json_schema_extra={"format": "email"})
    name: str | None
    granted_at: datetime


class CheckIn(Answer):
    """A ticket checked in at the door, now."""

    ticket: Ticket
    checked_in_at: datetime
class WaitlistEntry(Answer):
    """A place on an event's waiting list, or the offer it became."""

    id: uuid.UUID = Field(description="the entry; once offered, also its booking's id")
    event_id: int
    quantity: int
    status: Literal["waiting", "offered", "left", "pending"]
    position: int | None = Field(description="`waiting`: 1 is the next to be offered seats")
    expires_at: datetime = optional(description="`offered`: when the offer passes on")


class QueueEntry(Answer):
    """A place in an event's waiting room."""

    queue_id: uuid.UUID
    event_id: int
    status: Literal["prequeue", "waiting", "admitted", "used", "expired", "closed",
                    "pending"] = Field(description=(
        "`prequeue` before the sale opens (shuffled then), `waiting` in line, `admitted` "
        "(book before `admissionExpiresAt`), `used` (booked), `expired` (join again: back "
        "of the line), `closed` (sold out); `pending`: not decided within the wait"))
    position: int | None = Field(description="`waiting`: 1 is the next to be admitted")
    estimated_wait_seconds: int | None = Field(description=(
        "`waiting`: at the room's recent admission rate; null while unknown"))
    prequeued: int = optional(description="`prequeue`: how many are in the pre-queue")
    admission_expires_at: datetime = optional(description="`admitted`: the end of the window")
    waitlist_url: str = optional(description=(
        "`closed` by the sell-out, when the event keeps a waiting list: where to join it "
        "(`POST`, seats that come back are offered to it in turn); never after a cancel"))
    refresh_after_seconds: int = Field(description=(
        "ask again no sooner (the stream pushes changes that matter). It grows with what "
        "cannot change soon, so a room's polls stay bounded whatever its crowd: 2 s at the "
        "front of the line, longer further back (position / 50, up to 300 s); in the "
        "pre-queue its size / 250 (10–300 s), and just after the opening when that comes "
        "first, spread over its size / 1,000 seconds"))


class QueueView(Answer):
    """An event's waiting room as its organizer watches it (from the gateway's copy)."""

    event_id: int
    opened: bool = Field(description="the sale has opened: the pre-queue took its places")
    closed: bool = Field(description="sold out (no hold open) or cancelled: nobody waits")
    prequeued: int = Field(description="in the pre-queue, before the opening")
    waiting: int = Field(description="in line, not yet admitted")
    admitted_unused: int = Field(description=(
        "admitted buyers who have neither booked nor expired; never more than seats left "
        "times `admitFactor`"))
    admitted_last_minute: int = Field(description=(
        "admissions given in the last 60 s, as this gateway heard them (counted from when it "
        "first read the room, if that is later): the admission rate"))
    seats_left: int = Field(description="neither sold nor held, as last broadcast")


class MyTicket(Answer):
    """One of the caller's tickets."""

    id: uuid.UUID
    code: str
    event_id: int
    event_name: str
    booking_id: uuid.UUID
    created_at: datetime


class MyBooking(Answer):
    """One of the caller's bookings, with what a ticket prints of its event."""

    id: uuid.UUID
    event_id: int
    event_name: str
    venue: str | None
    starts_at: datetime | None
    quantity: int
    status: Literal["confirmed", "cancelled", "held", "expired", "pending"]
    created_at: datetime
    tickets: list[Ticket] = Field(description="void ones too (a cancelled booking's)")
    expires_at: datetime = optional(description=(
        "`held`: when the hold ends unless paid, as in `GET /api/bookings/{booking_id}`"))
    warn_at: datetime = optional(description=(
        "`held`: when its buyer is warned, as in `GET /api/bookings/{booking_id}`"))
    amount_cents: int = optional(description=(
        "a paid event's booking: the price of its seats, in the currency's minor unit"))
    currency: str = optional(description="with `amountCents`: ISO 4217")


class Config(Answer):
    """How this engine is set up, as far as a client needs to know."""

    payment_provider: str = Field(description=(
        "the provider that charges paid bookings; `fake`: test tokens, no money moves"))


class WebhookReceipt(Answer):
    """A provider event taken in (or seen before)."""

    event_id: str
    duplicate: bool = Field(description=(
        "the event id was taken before: nothing was done again"))
    payment: Literal["charging", "declined", "requires_action", "failed", "succeeded",
                     "captured", "refunding", "refunded"] | None = Field(description=(
        "the payment attempt the event named, as it is now: `captured` (the booking is "
        "confirmed), `refunded` (the money came after the hold ended, and went back), "
        "`declined`, `succeeded` (its actor has not confirmed yet: recovery sends it "
        "again)...; null when it named none of this engine's (ignored)"))


class FakeActionResult(Answer):
    """What the fake provider's customer step came to."""

    status: Literal["succeeded", "declined"] = Field(description=(
        "the charge at the fake provider now; the engine hears it by the signed webhook "
        "(`FAKE_PAYMENT_WEBHOOK_URL`), or by recovery's lookup"))


#: Every answer model, by the name the document gives its schema.
ANSWERS: dict[str, type[Answer]] = {m.__name__: m for m in (
    Error, Rejection, User, Token, StreamTicket, Event, Ticket, Refund, Booking, MyTicket,
    MyBooking, StaffMember, CheckIn, WaitlistEntry, Config, WaitingRoom, QueueEntry,
    WebhookReceipt, QueueView, NextAction, FakeActionResult)}
