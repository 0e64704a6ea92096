"""One error tree with stable machine codes; the gateway maps each class to HTTP in one table
(`gateway/errors.py`).

Library errors (asyncpg, aio-pika) are translated into these at the storage and transport
boundaries, so nothing above them catches a driver's exception.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar


class EngineError(Exception):
    """Root of every error the engine raises on purpose."""

    code: ClassVar[str] = "engine_error"

    def __init__(self, message: str | None = None, **details: Any) -> None:
        self.message = message or self.default_message()
        self.details = details
        super().__init__(self.message)

    def default_message(self) -> str:
        """The human text used when none is given."""
        return self.code.replace("_", " ")


# -- 4xx: the caller can fix it -----------------------------------------------------------


class InvalidInput(EngineError):
    """The request is malformed or a field has a wrong type or value."""

    code = "invalid_input"


class MalformedJson(InvalidInput):
    """The body is not JSON."""

    code = "malformed_json"


class UnsupportedMediaType(InvalidInput):
    """The body is not `application/json`."""

    code = "unsupported_media_type"


class BodyTooLarge(InvalidInput):
    """The body exceeds the small size limit."""

    code = "body_too_large"


class InvalidQuantity(InvalidInput):
    """Quantity is not a whole number between 1 and the maximum."""

    code = "invalid_quantity"


class InvalidWaitingRoom(InvalidInput):
    """An event's `waitingRoom` settings are malformed or contradict its sale (a queue
    opening after the sale starts)."""

    code = "invalid_waiting_room"


class WeakPassword(InvalidInput):
    """The password is too short, too long, or too easy to guess; `suggestions` say what
    would do better."""

    code = "weak_password"


class Unauthenticated(EngineError):
    """No valid bearer token."""

    code = "unauthenticated"


class SessionRevoked(Unauthenticated):
    """The token was valid, but its session has ended: signed out, or the account's role or
    password changed, or the account was removed."""

    code = "session_revoked"


class InvalidCredentials(Unauthenticated):
    """Wrong email or password."""

    code = "invalid_credentials"


class Forbidden(EngineError):
    """Signed in, but the role or ownership does not allow this."""

    code = "forbidden"


class NotFound(EngineError):
    """No such thing, or not yours to see."""

    code = "not_found"


class Conflict(EngineError):
    """The request conflicts with the current state."""

    code = "conflict"


class EmailTaken(Conflict):
    """An account with this email exists."""

    code = "email_taken"


class CapacityBelowSold(Conflict):
    """An edit would set capacity below the seats already sold."""

    code = "capacity_below_sold"


class NotCancellable(Conflict):
    """Only a confirmed booking can be cancelled."""

    code = "not_cancellable"


class RefundWindowClosed(NotCancellable):
    """A confirmed booking of a paid event after the event's `refundableUntil` (or of one that
    sets none): cancelling it would owe a refund the organizer does not give."""

    code = "refund_window_closed"


class NotExtendable(Conflict):
    """Only an open hold (or offer) of the caller can be extended."""

    code = "not_extendable"


class AlreadyExtended(NotExtendable):
    """A hold is extended once; this one was already."""

    code = "already_extended"


class PaidNeedsQueued(Conflict):
    """A paid event's booking is a hold that an actor expires: only the `queued` strategy
    runs actors, so `locked` and `naive` refuse paid events."""

    code = "paid_needs_queued"


class WaitlistNeedsQueued(Conflict):
    """Waiting lists are decided by shard actors: `locked` and `naive` have none."""

    code = "waitlist_needs_queued"


class NotPayable(Conflict):
    """Only a held booking can be paid (this one is confirmed, cancelled or rejected)."""

    code = "not_payable"


class HoldExpired(NotPayable):
    """The hold ran out before it was paid: its seats went back on sale."""

    code = "hold_expired"


class UnknownUser(NotFound):
    """No account has this email (door staff are existing accounts)."""

    code = "unknown_user"


class UnknownTicket(NotFound):
    """No ticket of this event has this code (a code of another event is unknown here)."""

    code = "unknown_ticket"


class AlreadyCheckedIn(Conflict):
    """The ticket was checked in before; `checkedInAt` says when, first."""

    code = "already_checked_in"


class TicketVoid(Conflict):
    """The ticket's booking was cancelled or expired: it is kept on record, never valid at
    the door."""

    code = "ticket_void"


class CheckedIn(NotCancellable):
    """A ticket of this booking was checked in at the door: the booking can no longer be
    cancelled."""

    code = "checked_in"


class WaitingRoomNeedsQueued(Conflict):
    """A waiting room under `locked` or `naive`: only an actor keeps the line."""

    code = "waiting_room_needs_queued"


class CheckinNeedsQueued(Conflict):
    """Check-in is decided by the event's shard actor: only the `queued` strategy runs them,
    so `locked` and `naive` refuse it."""

    code = "checkin_needs_queued"


class PaymentDeclined(EngineError):
    """The payment provider refused the charge; the hold stays until it expires."""

    code = "payment_declined"


class ActionNotPending(Conflict):
    """The fake provider's customer step was ended already (succeeded or failed): a step is
    ended once."""

    code = "action_not_pending"


class PaymentMismatch(InvalidInput):
    """A provider's webhook names one of this engine's payment attempts but disagrees with it
    (another amount, currency or charge): refused, and nothing changes."""

    code = "payment_mismatch"


class BadSignature(EngineError):
    """A webhook's `Ticketwar-Signature` is malformed or was not made with the shared secret
    over this very body: refused before the body is read."""

    code = "bad_signature"


class MissingSignature(BadSignature):
    """A webhook came without a `Ticketwar-Signature` header."""

    code = "missing_signature"


class StaleSignature(BadSignature):
    """A webhook's signature is good but its timestamp is more than 300 s from this server's
    clock (either way): refused so that a captured request cannot be replayed later."""

    code = "stale_signature"


class WebhooksDisabled(NotFound):
    """The payment webhook takes nothing: no `PAYMENT_WEBHOOK_SECRET` is set, so no signature
    could be checked."""

    code = "webhooks_disabled"


class IdempotencyMismatch(InvalidInput):
    """The same Idempotency-Key was used with a different request body."""

    code = "idempotency_key_reused"


class MethodNotAllowed(EngineError):
    """The path exists, but not with this method."""

    code = "method_not_allowed"


class RateLimited(EngineError):
    """Too many requests from this user or address."""

    code = "rate_limited"

    def __init__(self, message: str | None = None, *, retry_after: int = 1) -> None:
        super().__init__(message, retry_after=retry_after)
        self.retry_after = retry_after


class RequestTimeout(EngineError):
    """The request's body did not arrive in time (a client that sends it byte by byte)."""

    code = "request_timeout"


# -- booking rejections (also carried as outcome reasons) ---------------------------------


class BookingRejected(EngineError):
    """A booking was refused; `code` is the stored reason. `booking` is the recorded booking
    (as the API shows it) when the refusal was decided by a shard actor, None when the gateway
    refused it before it was ever accepted (nothing was recorded)."""

    def __init__(self, message: str | None = None, *,
                 booking: dict[str, Any] | None = None) -> None:
        super().__init__(message, booking=booking)

    code = "rejected"



class SoldOut(BookingRejected):
    """Not enough seats left."""

    code = "sold_out"


class NotOnSale(BookingRejected):
    """The sale has not started, or the event is closed."""

    code = "not_on_sale"


class LimitExceeded(BookingRejected):
    """This booking would take the user past the event's per-user limit."""

    code = "limit_exceeded"


class EventUnknown(BookingRejected):
    """The shard could not find the event (deleted, or never existed)."""

    code = "event_not_found"


class EventCancelled(BookingRejected):
    """The organizer cancelled the event: nothing of it can be booked, joined or edited."""

    code = "event_cancelled"


class NotSoldOut(BookingRejected):
    """A waiting-list join while the seats asked for are on sale: book them instead."""

    code = "not_sold_out"


class WaitlistClosed(BookingRejected):
    """A waiting-list join on an event whose organizer turned its waiting list off."""

    code = "waitlist_closed"


class NotWaiting(BookingRejected):
    """Leaving a waiting list the buyer is not on."""

    code = "not_waiting"


class QueueNotOpen(BookingRejected):
    """Joining an event's waiting room before its `queueOpensAt`."""

    code = "queue_not_open"


class QueueClosed(BookingRejected):
    """Joining a waiting room that closed: the event sold out."""

    code = "queue_closed"


class NoWaitingRoom(BookingRejected):
    """Joining the waiting room of an event that has none: book it directly."""

    code = "no_waiting_room"


class AdmissionRequired(BookingRejected):
    """Booking an event with a waiting room without an admission from it; `queue_url` says
    where to join."""

    code = "admission_required"

    def __init__(self, message: str | None = None, *, queue_url: str | None = None,
                 booking: dict[str, Any] | None = None) -> None:
        super().__init__(message, booking=booking)
        if queue_url is not None:
            self.details["queue_url"] = queue_url


class AdmissionExpired(AdmissionRequired):
    """Booking with an admission whose window is over: join the room again."""

    code = "admission_expired"


class Lost(BookingRejected):
    """The broker never confirmed the command, and re-sending it kept failing until the
    deadline: recorded as rejected, so a late delivery of it can no longer sell a seat."""

    code = "lost"


class DeadLettered(BookingRejected):
    """The command could not be processed and was dead-lettered."""

    code = "undeliverable"


#: Outcome reason code -> the rejection class that answers it.
REJECTIONS: dict[str, type[BookingRejected]] = {
    cls.code: cls for cls in (SoldOut, NotOnSale, LimitExceeded, EventUnknown, DeadLettered,
                              Lost, NotSoldOut, WaitlistClosed, NotWaiting, QueueNotOpen,
                              QueueClosed, NoWaitingRoom, AdmissionRequired, AdmissionExpired,
                              EventCancelled)
}


def rejection(reason: str, booking: dict[str, Any] | None = None) -> BookingRejected:
    """The error that answers a booking rejected for `reason` (a code of the tree)."""
    return REJECTIONS.get(reason, BookingRejected)(reason.replace("_", " "), booking=booking)


# -- 5xx: try again later ---------------------------------------------------------------


class Unavailable(EngineError):
    """A backing service (broker, database) cannot take the request now."""

    code = "unavailable"

    def __init__(self, message: str | None = None, *, retry_after: int = 2,
                 **details: Any) -> None:
        super().__init__(message, retry_after=retry_after, **details)
        self.retry_after = retry_after


class DatabaseTimeout(Unavailable):
    """The database did not answer a read within DB_REQUEST_TIMEOUT_SECONDS (a cut or
    stalled link); nothing was changed, retry after `Retry-After` seconds."""

    code = "database_timeout"


class OutcomeUnknown(EngineError):
    """The database stopped answering while the change was being committed: it may have
    been made. Read it back — or retry with the same Idempotency-Key — before making it
    again."""

    code = "outcome_unknown"


class Overloaded(Unavailable):
    """The gateway is at one of its caps (open connections, event streams in all or from
    this user or address); retry after `Retry-After` seconds."""

    code = "overloaded"

    def __init__(self, message: str | None = None, *, retry_after: int = 1) -> None:
        super().__init__(message, retry_after=retry_after)


class DeliveryUncertain(EngineError):
    """Commands were handed to the broker, but whether it kept them is unknown (no confirm
    in time, or the link broke while waiting). Not a failure: they may still be decided, so
    the sender answers 202 and re-sends the same booking ids until one is confirmed."""

    code = "delivery_uncertain"


class ShutdownIncomplete(EngineError):
    """A stopping process abandoned work in flight at its deadline."""

    code = "shutdown_incomplete"


class StartupError(Unavailable):
    """The engine cannot start: a service it needs is missing or its address is taken.

    `hint` says how to fix it; entry points print the message and hint as one line.
    """

    code = "startup_failed"

    def __init__(self, message: str, *, hint: str) -> None:
        super().__init__(message)
        self.details["hint"] = self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}. {self.hint}"


class DatabaseUnreachable(StartupError):
    """PostgreSQL does not answer at DATABASE_URL."""

    code = "database_unreachable"


class BrokerUnreachable(StartupError):
    """RabbitMQ does not answer at AMQP_URL."""

    code = "broker_unreachable"


class BrokerPluginMissing(StartupError):
    """RabbitMQ runs without a plugin the engine needs (the consistent-hash exchange)."""

    code = "broker_plugin_missing"


class PortInUse(StartupError):
    """Another process listens on HOST:PORT."""

    code = "port_in_use"


class DuplicateWrite(EngineError):
    """A batch wrote a booking id or ticket code that already exists (a duplicate command
    that was not flagged for checking, or a ticket-code collision); retry after checking."""

    code = "duplicate_write"


class KeyConflict(EngineError):
    """A batch pinned Idempotency-Keys that were already pinned to other bookings (by a
    gateway answering 202, or for an event of another shard); nothing was written. `pins`
    maps (user, key) to the (booking id, event id, quantity) each is pinned to, so the batch
    can be decided again knowing them."""

    code = "idempotency_key_conflict"

    def __init__(self, pins: dict[tuple[int, str], tuple[uuid.UUID, int, int]]) -> None:
        super().__init__(f"{len(pins)} idempotency key(s) already pinned elsewhere")
        self.pins = pins


class PoisonBatch(EngineError):
    """The batch's write broke a constraint no retry can fix (bad data in a command)."""

    code = "poison"


class StaleOwner(EngineError):
    """A shard wrote with an owner epoch that another shard has since replaced."""

    code = "stale_owner"

    def __init__(self, event_ids: set[int]) -> None:
        super().__init__(f"fenced out of events {sorted(event_ids)}")
        self.event_ids = event_ids
