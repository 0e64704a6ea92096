"""Wire messages between gateways and shard actors: versioned JSON (orjson), never pickle.

Every message is `{"v": 1, "type": ..., ...}`; a gateway coalesces the commands for one
routing key (a virtual bucket of events, so possibly several events) into one `batch` message.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeAlias

import orjson

from engine.types import BookingId, BookingStatus, EventId, UserId

WIRE_VERSION = 1


class WireError(ValueError):
    """A message body that is not a valid message of this version."""


@dataclass(frozen=True, slots=True)
class BookCommand:
    """Ask the event's actor to sell `quantity` seats to `user_id`."""

    booking_id: BookingId
    event_id: EventId
    user_id: UserId
    quantity: int
    reply_to: str
    #: Set when a retried key re-sends a booking that may already have been decided: the
    #: actor looks its id up in the DB first. (Redeliveries are flagged by the broker on the
    #: envelope instead, see `Envelope.redelivered`.)
    check_existing: bool = False
    #: The client's Idempotency-Key, if it sent one: the actor pins it to this booking in the
    #: batch that decides it, and answers a later command with the same key from memory.
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class CancelCommand:
    """Ask the event's actor to cancel a confirmed booking and put its seats back on sale.
    Its answer names `cancel_id` (`answers`): another answer for the same booking (a late
    copy of its booking command answered again, an expiry) must not be taken for it."""

    booking_id: BookingId
    event_id: EventId
    user_id: UserId
    reply_to: str
    #: The request's own id; None from a sender that names none (its answer is then any
    #: outcome of the booking, as before the id existed).
    cancel_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class PayCommand:
    """The provider took the money for a held booking: confirm it if it is still held. The
    answer decides what happens to the charge (anything but `confirmed` is refunded)."""

    booking_id: BookingId
    event_id: EventId
    user_id: UserId
    payment_id: uuid.UUID
    reply_to: str


@dataclass(frozen=True, slots=True)
class EventCancelCommand:
    """The organizer cancels the whole event (the gateway checked who may): its actor voids
    every booking, releases holds and offers and closes the waiting list, in order with the
    event's other commands. `booking_id` names only this request (its answer's waiter)."""

    booking_id: BookingId
    event_id: EventId
    user_id: UserId
    reply_to: str


@dataclass(frozen=True, slots=True)
class ExtendCommand:
    """Ask the event's actor for more time on a held booking (once per hold), decided in
    order with its deadline. Its answer names `extension_id` (`answers`): a warning or an
    expiry of the same booking must not be taken for it."""

    booking_id: BookingId
    event_id: EventId
    user_id: UserId
    extension_id: uuid.UUID
    reply_to: str


#: The booking id of a command that concerns no booking.
NO_BOOKING = uuid.UUID(int=0)


@dataclass(frozen=True, slots=True)
class WakeCommand:
    """Look at an event's hold deadlines now: sent by the actor's own timers, and to an
    event's owner so that it claims the event and arms them (a restarted worker)."""

    event_id: EventId
    booking_id: BookingId = NO_BOOKING
    user_id: UserId = 0
    reply_to: str = ""
    #: The event was edited (capacity, waiting list): reload it from the database first, so
    #: that seats a raised capacity returned are offered to the waiting list at once.
    edited: bool = False


@dataclass(frozen=True, slots=True)
class CheckinCommand:
    """Check a ticket in at the event's door, by its code: decided by the event's actor, in
    order with its cancels. `checkin_id` names this attempt: its answer is addressed to it,
    and a redelivery of it is recognised in the ticket's record."""

    checkin_id: uuid.UUID
    event_id: EventId
    user_id: UserId
    code: str
    reply_to: str

    @property
    def booking_id(self) -> BookingId:
        """What its answer is addressed to (an Outcome's `booking_id`): this attempt."""
        return self.checkin_id


@dataclass(frozen=True, slots=True)
class JoinCommand:
    """Ask a sold-out event's actor to put `user_id` on its waiting list for `quantity`
    seats. `booking_id` names the entry if it is new (and the request's waiter either way)."""

    booking_id: BookingId
    event_id: EventId
    user_id: UserId
    quantity: int
    reply_to: str


@dataclass(frozen=True, slots=True)
class LeaveCommand:
    """Ask the event's actor to take `user_id` off its waiting list. `booking_id` names only
    the request (its waiter); the answer names the entry."""

    booking_id: BookingId
    event_id: EventId
    user_id: UserId
    reply_to: str


#: The commands of the waiting list, decided in one place of the actor.
WaitlistCommand: TypeAlias = JoinCommand | LeaveCommand


@dataclass(frozen=True, slots=True)
class QueueCommand:
    """Ask the event's actor to put `user_id` in its waiting room. `booking_id` names the
    entry if it is new (and the request's waiter either way)."""

    booking_id: BookingId
    event_id: EventId
    user_id: UserId
    reply_to: str


Command: TypeAlias = (BookCommand | CancelCommand | PayCommand | WakeCommand | CheckinCommand
                      | JoinCommand | LeaveCommand | EventCancelCommand | ExtendCommand
                      | QueueCommand)


@dataclass(frozen=True, slots=True)
class TicketInfo:
    """One seat of a confirmed booking."""

    id: uuid.UUID
    code: str
    #: A cancelled booking's ticket: kept on record, never valid at the door.
    void: bool = False


def void_tickets(tickets: Iterable[TicketInfo]) -> tuple[TicketInfo, ...]:
    """These tickets marked void, ordered by code (as every read returns them)."""
    return tuple(sorted((TicketInfo(t.id, t.code, True) for t in tickets),
                        key=lambda t: t.code))


@dataclass(frozen=True, slots=True)
class CheckinResult:
    """What a check-in's outcome adds: when the ticket was checked in (first), if it was."""

    checked_in_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class QueuePlace:
    """What an answer to a waiting-room join adds: where the entry stands."""

    status: str
    position: int | None = None
    #: Before the opening: how many are in the pre-queue.
    prequeued: int | None = None
    estimated_wait_seconds: int | None = None
    admission_expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """The final word on a booking (or on a cancellation of it)."""

    booking_id: BookingId
    event_id: EventId
    user_id: UserId
    status: BookingStatus
    quantity: int
    reason: str | None = None
    tickets: tuple[TicketInfo, ...] = ()
    reply_to: str = ""
    #: The id of the request this outcome answers when it is not the booking's own: a
    #: replay (same Idempotency-Key) of another booking, a payment, an extension, a
    #: cancellation, a join. Its waiter is registered under this id.
    answers: BookingId | None = None
    #: A paid event's booking: when its hold ends, and what it costs (minor units).
    expires_at: datetime | None = None
    amount_cents: int | None = None
    currency: str | None = None
    #: Set on the answer to a check-in (its `booking_id` is the attempt's id, its ticket in
    #: `tickets`): it concerns the scanner's request only, never a booking's owner.
    checkin: CheckinResult | None = None
    #: A held booking that is a waiting-list offer (its id is the entry's).
    offer: bool = False
    #: An answer to a waiting-list join or leave, not a booking's outcome: `booking_id` is the
    #: entry, `status` is `waiting` (with `position`), `left`, `held` (its open offer), or
    #: `rejected` with the reason.
    waitlist: bool = False
    position: int | None = None
    #: A held booking whose deadline is near (pushed to its owner, with `expires_at`): it
    #: may be extended once.
    warning: bool = False
    #: A held booking whose deadline was extended already (it is extended once).
    extended: bool = False
    #: An answer to an extension request (`answers` is its id): the hold with its new
    #: `expires_at`, or the refusal; it concerns that request only.
    extension: bool = False
    #: An answer to an organizer's cancel of the whole event (`booking_id` names the request,
    #: `quantity` the seats it released); it concerns that request only.
    event_cancel: bool = False
    #: Set on the answer to a waiting-room join (`booking_id` is the entry).
    queue: QueuePlace | None = None
    #: A hold's: when its buyer is warned that `expires_at` is near, and offered more time
    #: (`domain.warn_lead`: a minute ahead, or halfway through a shorter hold).
    warn_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class StockUpdate:
    """An event's seats left, pushed to every gateway after each batch."""

    event_id: EventId
    available: int
    #: The owning actor's count of bookings taken since it loaded the event, and the owner
    #: epoch it loaded it under (`EventLedger.booked`, `.epoch`); None from other sources
    #: (an edit, a per-request strategy), which know seats left only.
    booked: tuple[int, int] | None = None


def _command_dict(cmd: Command) -> dict[str, Any]:
    if isinstance(cmd, BookCommand):
        return {"type": "book", "bookingId": str(cmd.booking_id), "eventId": cmd.event_id,
                "userId": cmd.user_id, "quantity": cmd.quantity, "replyTo": cmd.reply_to,
                "checkExisting": cmd.check_existing, "key": cmd.idempotency_key}
    if isinstance(cmd, PayCommand):
        return {"type": "pay", "bookingId": str(cmd.booking_id), "eventId": cmd.event_id,
                "userId": cmd.user_id, "paymentId": str(cmd.payment_id),
                "replyTo": cmd.reply_to}
    if isinstance(cmd, WakeCommand):
        return {"type": "wake", "eventId": cmd.event_id, "edited": cmd.edited}
    if isinstance(cmd, CheckinCommand):
        return {"type": "checkin", "checkinId": str(cmd.checkin_id), "eventId": cmd.event_id,
                "userId": cmd.user_id, "code": cmd.code, "replyTo": cmd.reply_to}
    if isinstance(cmd, JoinCommand):
        return {"type": "join", "bookingId": str(cmd.booking_id), "eventId": cmd.event_id,
                "userId": cmd.user_id, "quantity": cmd.quantity, "replyTo": cmd.reply_to}
    if isinstance(cmd, QueueCommand):
        return {"type": "queue", "bookingId": str(cmd.booking_id), "eventId": cmd.event_id,
                "userId": cmd.user_id, "replyTo": cmd.reply_to}
    if isinstance(cmd, ExtendCommand):
        return {"type": "extend", "bookingId": str(cmd.booking_id), "eventId": cmd.event_id,
                "userId": cmd.user_id, "extensionId": str(cmd.extension_id),
                "replyTo": cmd.reply_to}
    if isinstance(cmd, EventCancelCommand):
        return {"type": "cancel_event", "bookingId": str(cmd.booking_id),
                "eventId": cmd.event_id, "userId": cmd.user_id, "replyTo": cmd.reply_to}
    if isinstance(cmd, LeaveCommand):
        return {"type": "leave", "bookingId": str(cmd.booking_id), "eventId": cmd.event_id,
                "userId": cmd.user_id, "replyTo": cmd.reply_to}
    return {"type": "cancel", "bookingId": str(cmd.booking_id), "eventId": cmd.event_id,
            "userId": cmd.user_id, "replyTo": cmd.reply_to,
            "cancelId": None if cmd.cancel_id is None else str(cmd.cancel_id)}


def _command_from(d: dict[str, Any]) -> Command:
    kind = d.get("type")
    try:
        if kind == "book":
            quantity = _quantity(d)
            key = d.get("key")
            if key is not None and not isinstance(key, str):
                raise WireError(f"bad key {key!r}")
            return BookCommand(uuid.UUID(d["bookingId"]), int(d["eventId"]), int(d["userId"]),
                               quantity, str(d["replyTo"]), bool(d.get("checkExisting")), key)
        if kind == "cancel":
            cancel_id = d.get("cancelId")
            return CancelCommand(uuid.UUID(d["bookingId"]), int(d["eventId"]),
                                 int(d["userId"]), str(d["replyTo"]),
                                 None if cancel_id is None else uuid.UUID(cancel_id))
        if kind == "pay":
            return PayCommand(uuid.UUID(d["bookingId"]), int(d["eventId"]), int(d["userId"]),
                              uuid.UUID(d["paymentId"]), str(d["replyTo"]))
        if kind == "wake":
            return WakeCommand(int(d["eventId"]), edited=bool(d.get("edited")))
        if kind == "checkin":
            if not isinstance(d["code"], str):
                raise WireError(f"bad code {d['code']!r}")
            return CheckinCommand(uuid.UUID(d["checkinId"]), int(d["eventId"]),
                                  int(d["userId"]), d["code"], str(d["replyTo"]))
        if kind == "join":
            return JoinCommand(uuid.UUID(d["bookingId"]), int(d["eventId"]), int(d["userId"]),
                               _quantity(d), str(d["replyTo"]))
        if kind == "queue":
            return QueueCommand(uuid.UUID(d["bookingId"]), int(d["eventId"]),
                                int(d["userId"]), str(d["replyTo"]))
        if kind == "leave":
            return LeaveCommand(uuid.UUID(d["bookingId"]), int(d["eventId"]),
                                int(d["userId"]), str(d["replyTo"]))
        if kind == "extend":
            return ExtendCommand(uuid.UUID(d["bookingId"]), int(d["eventId"]),
                                 int(d["userId"]), uuid.UUID(d["extensionId"]),
                                 str(d["replyTo"]))
        if kind == "cancel_event":
            return EventCancelCommand(uuid.UUID(d["bookingId"]), int(d["eventId"]),
                                      int(d["userId"]), str(d["replyTo"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise WireError(f"bad {kind} command: {exc}") from exc
    raise WireError(f"unknown command type {kind!r}")


def _quantity(d: dict[str, Any]) -> int:
    quantity = d["quantity"]
    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
        raise WireError(f"bad quantity {quantity!r}")
    return quantity


def encode_commands(commands: list[Command]) -> bytes:
    """One message body carrying one or more commands, of one event or several (in order)."""
    return orjson.dumps({"v": WIRE_VERSION, "type": "batch",
                         "items": [_command_dict(c) for c in commands]})


def decode_commands(body: bytes) -> list[Command]:
    """The commands of a message body; raises WireError on anything malformed."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise WireError(f"not JSON: {exc}") from exc
    if not isinstance(data, dict) or data.get("v") != WIRE_VERSION:
        raise WireError("missing or unsupported version")
    if data.get("type") != "batch" or not isinstance(data.get("items"), list):
        raise WireError("not a command batch")
    items = data["items"]
    if not items or not all(isinstance(item, dict) for item in items):
        raise WireError("empty batch or an item that is not an object")
    return [_command_from(item) for item in items]


def outcome_to_dict(o: Outcome) -> dict[str, Any]:
    """Outcome as a JSON-ready dict (wire and API share field names)."""
    return {"bookingId": str(o.booking_id), "eventId": o.event_id, "userId": o.user_id,
            "status": o.status.value, "quantity": o.quantity, "reason": o.reason,
            "tickets": [{"id": str(t.id), "code": t.code, "void": t.void}
                        for t in o.tickets],
            "replyTo": o.reply_to,
            "answers": None if o.answers is None else str(o.answers),
            "expiresAt": None if o.expires_at is None else o.expires_at.isoformat(),
            "warnAt": _when(o.warn_at), "amountCents": o.amount_cents, "currency": o.currency,
            "offer": o.offer, "waitlist": o.waitlist, "position": o.position,
            **({"eventCancel": True} if o.event_cancel else {}),
            **({"warning": True} if o.warning else {}),
            **({"extension": True} if o.extension else {}),
            **({"extended": True} if o.extended else {}),
            **({} if o.checkin is None else {"checkin": _checkin_dict(o.checkin)}),
            **({} if o.queue is None else {"queue": _place_dict(o.queue)})}


def _place_dict(p: QueuePlace) -> dict[str, Any]:
    return {"status": p.status, "position": p.position, "prequeued": p.prequeued,
            "wait": p.estimated_wait_seconds, "expiresAt": _when(p.admission_expires_at)}


def _place_from(d: dict[str, Any] | None) -> QueuePlace | None:
    if d is None:
        return None
    expires = d.get("expiresAt")
    return QueuePlace(str(d["status"]), d.get("position"), d.get("prequeued"), d.get("wait"),
                      None if expires is None else datetime.fromisoformat(expires))


def _when(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _checkin_dict(c: CheckinResult) -> dict[str, Any]:
    return {"checkedInAt": None if c.checked_in_at is None else c.checked_in_at.isoformat()}


def _checkin_from(d: dict[str, Any] | None) -> CheckinResult | None:
    if d is None:
        return None
    at = d.get("checkedInAt")
    return CheckinResult(None if at is None else datetime.fromisoformat(at))


def outcome_from_dict(d: dict[str, Any]) -> Outcome:
    """Inverse of `outcome_to_dict`."""
    return Outcome(uuid.UUID(d["bookingId"]), int(d["eventId"]), int(d["userId"]),
                   BookingStatus(d["status"]), int(d["quantity"]), d.get("reason"),
                   tuple(TicketInfo(uuid.UUID(t["id"]), t["code"], bool(t.get("void")))
                         for t in d["tickets"]),
                   d.get("replyTo", ""),
                   None if d.get("answers") is None else uuid.UUID(d["answers"]),
                   None if d.get("expiresAt") is None
                   else datetime.fromisoformat(d["expiresAt"]),
                   d.get("amountCents"), d.get("currency"), _checkin_from(d.get("checkin")),
                   bool(d.get("offer")), bool(d.get("waitlist")), d.get("position"),
                   bool(d.get("warning")), bool(d.get("extended")), bool(d.get("extension")),
                   bool(d.get("eventCancel")), queue=_place_from(d.get("queue")),
                   warn_at=None if d.get("warnAt") is None
                   else datetime.fromisoformat(d["warnAt"]))


def encode_outcomes(outcomes: list[Outcome]) -> bytes:
    """A reply message carrying outcomes for one gateway."""
    return orjson.dumps({"v": WIRE_VERSION, "type": "outcomes",
                         "items": [outcome_to_dict(o) for o in outcomes]})


def decode_outcomes(body: bytes) -> list[Outcome]:
    """Inverse of `encode_outcomes`."""
    data = orjson.loads(body)
    if data.get("v") != WIRE_VERSION or data.get("type") != "outcomes":
        raise WireError("not an outcomes message")
    return [outcome_from_dict(i) for i in data["items"]]


def encode_stock(updates: list[StockUpdate]) -> bytes:
    """A stock broadcast after a batch."""
    # Booking counts ride in a key of their own: a reader that predates them ignores it.
    return orjson.dumps({"v": WIRE_VERSION, "type": "stock",
                         "items": [[u.event_id, u.available] for u in updates],
                         "booked": [[u.event_id, *u.booked] for u in updates if u.booked]})


def decode_stock(body: bytes) -> list[StockUpdate]:
    """Inverse of `encode_stock`."""
    data = orjson.loads(body)
    if data.get("v") != WIRE_VERSION or data.get("type") != "stock":
        raise WireError("not a stock message")
    booked = {int(e): (int(n), int(epoch)) for e, n, epoch in data.get("booked", ())}
    return [StockUpdate(int(e), int(a), booked.get(int(e))) for e, a in data["items"]]


@dataclass(frozen=True, slots=True)
class RoomEntry:
    """One waiting-room entry as a batch left it."""

    queue_id: uuid.UUID
    user_id: UserId
    status: str
    seq: int | None
    admission_expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class RoomUpdate:
    """What one batch changed in an event's waiting room, broadcast to every gateway (so
    that the admission check at booking and a buyer's position cost no database read).
    `version` counts the room's changes: a gateway that loaded the room at version v skips
    updates up to v, and reloads when it finds one missing."""

    event_id: EventId
    version: int
    head: int
    waiting: int
    prequeued: int
    opened: bool
    closed: bool
    #: Admissions per second the estimates use.
    rate: float
    entries: tuple[RoomEntry, ...] = ()
    #: Closed by a sell-out on an event whose waiting list is open: its closed entries are
    #: offered that list (never after a cancel, nor with the list turned off).
    waitlist: bool = False
    #: Admitted buyers who have neither booked nor expired, and admissions given so far
    #: (the organizer's view: a gateway derives the admission rate from the latter's rise).
    unused: int = 0
    admitted: int = 0


def encode_rooms(updates: list[RoomUpdate]) -> bytes:
    """A waiting-room broadcast after a batch (on the stock fanout, its own type)."""
    return orjson.dumps({"v": WIRE_VERSION, "type": "rooms", "items": [
        {"eventId": u.event_id, "version": u.version, "head": u.head, "waiting": u.waiting,
         "prequeued": u.prequeued, "opened": u.opened, "closed": u.closed, "rate": u.rate,
         "waitlist": u.waitlist, "unused": u.unused, "admitted": u.admitted,
         "entries": [[str(e.queue_id), e.user_id, e.status, e.seq,
                      _when(e.admission_expires_at)] for e in u.entries]}
        for u in updates]})


def decode_rooms(data: dict[str, Any]) -> list[RoomUpdate]:
    """The updates of a decoded `rooms` message."""
    return [RoomUpdate(int(u["eventId"]), int(u["version"]), int(u["head"]),
                       int(u["waiting"]), int(u["prequeued"]), bool(u["opened"]),
                       bool(u["closed"]), float(u["rate"]), tuple(
                           RoomEntry(uuid.UUID(q), int(user), str(status), seq,
                                     None if at is None else datetime.fromisoformat(at))
                           for q, user, status, seq, at in u["entries"]),
                       bool(u.get("waitlist", False)), int(u.get("unused", 0)),
                       int(u.get("admitted", 0)))
            for u in data["items"]]


def encode_pushes(outcomes: list[Outcome], origin: str) -> bytes:
    """Booking updates relayed by the gateway process `origin` to every other one, for their
    owners' streams (on the stock fanout, its own type)."""
    return orjson.dumps({"v": WIRE_VERSION, "type": "pushes", "origin": origin,
                         "items": [outcome_to_dict(o) for o in outcomes]})


@dataclass(frozen=True, slots=True)
class Broadcast:
    """One message of the stock fanout: seats left, waiting-room changes, or booking updates
    another gateway process relayed (`origin` names it)."""

    stock: list[StockUpdate] = field(default_factory=list)
    rooms: list[RoomUpdate] = field(default_factory=list)
    pushes: list[Outcome] = field(default_factory=list)
    origin: str | None = None


def decode_broadcast(body: bytes) -> Broadcast:
    """A message of the stock fanout; `WireError` (or `ValueError`, `KeyError`) if malformed."""
    data = orjson.loads(body)
    if not isinstance(data, dict) or data.get("v") != WIRE_VERSION:
        raise WireError("missing or unsupported version")
    if data.get("type") == "rooms":
        return Broadcast(rooms=decode_rooms(data))
    if data.get("type") == "pushes":
        return Broadcast(pushes=[outcome_from_dict(i) for i in data["items"]],
                         origin=str(data["origin"]))
    if data.get("type") == "outcomes":
        # Outcomes the replies exchange could not route (its alternate is this fanout):
        # updates for every process's streams, like a relay from nobody.
        return Broadcast(pushes=decode_outcomes(body))
    return Broadcast(stock=decode_stock(body))
