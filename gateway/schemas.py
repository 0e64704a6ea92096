"""What the API accepts: request bodies, path, query and header parameters, as pydantic models.

The same models validate every request (`gateway/validation.py`) and generate the schemas and
parameters of the OpenAPI document (`gateway/openapi.py`), so the docs cannot drift from the
checks. Field names are snake_case here and camelCase on the wire.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel

from engine.auth import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from engine.currencies import DEFAULT_CURRENCY, EXPONENTS
from engine.errors import InvalidInput, InvalidQuantity, InvalidWaitingRoom
from engine.payments.webhooks import EventType, ProviderEvent
from gateway.fields import (
    MAX_DESCRIPTION,
    NO_CONTROL,
    Description,
    Email,
    EventName,
    Id,
    Key,
    Label,
    PersonName,
    Refusal,
    When,
    integral,
    whole,
)

#: The largest event a single row holds; a bigger sale is several events.
MAX_CAPACITY = 10_000_000
#: The largest per-user limit a vendor may set.
MAX_PER_USER_LIMIT = 1000
#: The highest price per seat, in minor units (a billion euros).
MAX_PRICE_CENTS = 100_000_000_000
#: Bounds and default of an event's hold time, in seconds.
MIN_HOLD_SECONDS, MAX_HOLD_SECONDS, DEFAULT_HOLD_SECONDS = 10, 3600, 600
#: A ceiling for any quantity; the configured `MAX_QUANTITY` is checked by the engine.
MAX_QUANTITY_CEILING = 2**31 - 1


def _currency(value: str) -> str:
    if value not in EXPONENTS:
        raise ValueError(f"must be one of the ISO 4217 codes {', '.join(sorted(EXPONENTS))}")
    return value


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def optional(**constraints: Any) -> Any:
    """A field that may be left out but, when sent, may not be null (a PATCH field)."""
    return Field(default=None, json_schema_extra=_no_default, **constraints)


class Body(BaseModel):
    """A JSON request body: strict JSON types (no "10" for 10, no `true` for 1), unknown
    fields refused so no client can assign what it should not (a `role`, a `sold` counter)."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True,
                              alias_generator=to_camel, populate_by_name=True)


class Params(BaseModel):
    """Path, query or header parameters: text converted by the field types; others ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)


# -- bodies ---------------------------------------------------------------------------------


class Register(Body):
    """A new USER account."""

    email: Annotated[Email, Field(json_schema_extra={"format": "email"})]
    password: Annotated[str, Field(max_length=MAX_PASSWORD_LENGTH, description=(
        f"at least {MIN_PASSWORD_LENGTH} characters (`weak_password` otherwise)"))]
    name: PersonName | None = None


class Login(Body):
    """Credentials."""

    email: Email
    password: Annotated[str, Field(max_length=MAX_PASSWORD_LENGTH)]


Capacity = Annotated[int, Field(ge=0, le=MAX_CAPACITY), BeforeValidator(integral)]
PerUserLimit = Annotated[int, Field(ge=1, le=MAX_PER_USER_LIMIT), BeforeValidator(integral)]
PriceCents = Annotated[int, Field(ge=0, le=MAX_PRICE_CENTS, description=(
    "per seat, in the currency's minor unit (cents for EUR, yen for JPY); 0 is a free event, "
    "confirmed at once; above 0 a booking is held until paid")), BeforeValidator(integral)]
Currency = Annotated[str, Field(pattern="^[A-Z]{3}$", description=(
    f"ISO 4217 code, one of {', '.join(sorted(EXPONENTS))}")), AfterValidator(_currency)]
HoldSeconds = Annotated[int, Field(ge=MIN_HOLD_SECONDS, le=MAX_HOLD_SECONDS, description=(
    "how long a booking of a paid event keeps its seats while the buyer pays")),
    BeforeValidator(integral)]


Waitlist = Annotated[bool, Field(description=(
    "whether buyers may join a waiting list once it is sold out, and be offered returned "
    "seats in order"))]


#: Bounds and default of an admission's window, and the highest admission rate, per minute.
MIN_ADMISSION_SECONDS, MAX_ADMISSION_SECONDS, DEFAULT_ADMISSION_SECONDS = 30, 3600, 300
MAX_ADMIT_PER_MINUTE = 1_000_000
#: Bounds and default of the admitted-but-unused buyers per seat left (migration 0018).
MIN_ADMIT_FACTOR, MAX_ADMIT_FACTOR, DEFAULT_ADMIT_FACTOR = 1.0, 10.0, 2.0


class WaitingRoomInput(Body):
    """An event's waiting room, set as a whole (fields left out take their defaults)."""

    enabled: Annotated[bool, Field(description=(
        "buyers must queue and be admitted before they may book"))]
    admit_per_minute: Annotated[int, Field(ge=1, le=MAX_ADMIT_PER_MINUTE, description=(
        "admissions per minute at most; left out, the room admits as fast as bookings are "
        "decided, never more admitted-but-unused buyers than seats left times "
        "`admitFactor`")), BeforeValidator(integral)] | None = None
    queue_opens_at: Annotated[When, Field(description=(
        "when joining opens (`queue_not_open` before); joins before `saleStartsAt` form "
        "the pre-queue, shuffled at the opening; not after `saleStartsAt`"))] | None = None
    admission_seconds: Annotated[int, Field(
        ge=MIN_ADMISSION_SECONDS, le=MAX_ADMISSION_SECONDS,
        description="how long an admitted buyer may book"),
        BeforeValidator(integral)] = DEFAULT_ADMISSION_SECONDS
    admit_factor: Annotated[float, Field(
        ge=MIN_ADMIT_FACTOR, le=MAX_ADMIT_FACTOR, allow_inf_nan=False, description=(
            "admitted-but-unused buyers at most, per seat left: higher keeps a sale busy "
            "when many admitted buyers never book, lower sends fewer to a sell-out they "
            "will miss; at least 1, so the last seats are always offered"))
    ] = DEFAULT_ADMIT_FACTOR


RoomField = Annotated[WaitingRoomInput, Refusal(InvalidWaitingRoom), Field(description=(
    "a fair waiting room in front of the sale (off unless set); `invalid_waiting_room` "
    "when malformed"))]


RefundableUntil = Annotated[When, Field(description=(
    "until when (exclusive) a buyer may cancel a confirmed paid booking and be refunded in "
    "full; null (the default): paid bookings are not cancellable by their buyers (`409 "
    "refund_window_closed`). Free events' bookings are cancellable whatever it says"))]
EventDescription = Annotated[Description, Field(description=(
    f"plain text, at most {MAX_DESCRIPTION} characters; line breaks are kept (CRLF and CR "
    "are stored as LF), other control characters refused; shown as text, never as markup. "
    "The whole body still counts against `MAX_BODY_BYTES` (16384 by default, room for 5000 "
    "characters of up to three UTF-8 bytes each)"))]


class EventInput(Body):
    """A new event."""

    name: EventName
    description: EventDescription = ""
    venue: Label | None = None
    starts_at: When | None = None
    sale_starts_at: When | None = None
    total_tickets: Capacity
    per_user_limit: PerUserLimit | None = None
    price_cents: PriceCents = 0
    currency: Currency = DEFAULT_CURRENCY
    hold_seconds: HoldSeconds = DEFAULT_HOLD_SECONDS
    waitlist: Waitlist = True
    refundable_until: RefundableUntil | None = None
    waiting_room: RoomField = optional()


class EventPatch(Body):
    """An edit: only the fields sent change."""

    name: EventName = optional()
    description: EventDescription = optional()
    venue: Label | None = None
    starts_at: When | None = None
    sale_starts_at: When | None = None
    total_tickets: Capacity = optional(description="never below the seats sold")
    per_user_limit: PerUserLimit | None = None
    price_cents: PriceCents = optional()
    currency: Currency = optional()
    hold_seconds: HoldSeconds = optional()
    waitlist: Waitlist = optional()
    refundable_until: RefundableUntil | None = None
    waiting_room: RoomField = optional()


class BookInput(Body):
    """A booking request; the body may be left out (one seat)."""

    quantity: Annotated[int, Field(ge=1, le=MAX_QUANTITY_CEILING, description=(
        "at most `MAX_QUANTITY` (a setting, 10 by default)")),
        BeforeValidator(integral), Refusal(InvalidQuantity)] = 1


class WaitlistInput(BookInput):
    """A waiting-list join: the seats wanted, bounded like a booking's (one if left out)."""


class PayInput(Body):
    """Payment for a held booking."""

    payment_token: Annotated[str, Field(min_length=1, max_length=200, pattern=NO_CONTROL,
                                        description=(
        "the provider's token for the buyer's card; the fake provider takes `tok_ok`, "
        "`tok_declined`, `tok_timeout`, `tok_action`. Left out (or the whole body) only to "
        "accept a free event's waiting-list offer, which costs nothing"))] = optional()


ProviderText = Annotated[str, Field(min_length=1, max_length=200, pattern=NO_CONTROL)]


class FakeActionInput(Body):
    """How the buyer ended the fake provider's customer step (3-D Secure)."""

    outcome: Annotated[Literal["succeeded", "failed"], Field(description=(
        "`succeeded`: the money is taken (`charge.succeeded`); `failed`: refused "
        "(`charge.failed`)"))]


class ActionPath(Params):
    """`{attempt_id}`: the payment attempt (the provider's idempotency key)."""

    attempt_id: uuid.UUID


class WebhookInput(Body):
    """A provider's event about a charge (`POST /api/payments/webhook`), signed."""

    id: Annotated[ProviderText, Field(description=(
        "the provider's id of the event: each is taken once, however often delivered"))]
    type: Annotated[EventType, Field(description=(
        "`charge.succeeded` (money taken), `charge.failed` (refused: no money moved), "
        "`charge.refunded` (given back)"))]
    idempotency_key: Annotated[ProviderText, Field(description=(
        "the key the engine charged with: its payment attempt's id"))]
    charge_id: Annotated[ProviderText, Field(description=(
        "the provider's id of the charge; required with `charge.succeeded` and "
        "`charge.refunded`"))] | None = None
    amount_cents: Annotated[int, Field(ge=0, le=2**63 - 1, description=(
        "in the currency's minor unit: must be the attempt's (`payment_mismatch`)"))]
    currency: Annotated[str, Field(pattern="^[A-Z]{3}$", description=(
        "ISO 4217: must be the attempt's (`payment_mismatch`)"))]
    reason: Annotated[str, Field(max_length=500, pattern=NO_CONTROL, description=(
        "`charge.failed`: the provider's words for the decline"))] | None = None

    def to_event(self) -> ProviderEvent:
        """The engine's event; `InvalidInput` when a charge that moved money names none."""
        if self.type is not EventType.FAILED and self.charge_id is None:
            raise InvalidInput(f"chargeId: is required with {self.type}", field="chargeId")
        return ProviderEvent(self.id, self.type, self.idempotency_key, self.charge_id,
                             self.amount_cents, self.currency, self.reason)


class StaffInput(Body):
    """An account to make door staff of an event."""

    email: Annotated[Email, Field(json_schema_extra={"format": "email"}, description=(
        "an existing account's (`unknown_user` otherwise); its role does not change"))]


class CheckinInput(Body):
    """A ticket presented at the door."""

    code: Annotated[str, Field(min_length=1, max_length=64, pattern=NO_CONTROL,
                               description="the ticket's code, e.g. `TW-7KQ2M-X9D4P`")]


# -- parameters -----------------------------------------------------------------------------


class EventPath(Params):
    """`{event_id}`."""

    event_id: Id


class StaffPath(Params):
    """`{event_id}` and `{user_id}`."""

    event_id: Id
    user_id: Id


class QueuePath(Params):
    """`{queue_id}`."""

    queue_id: uuid.UUID


class BookingPath(Params):
    """`{booking_id}`."""

    booking_id: uuid.UUID


class EventPage(Params):
    """`GET /api/events?limit=&offset=`."""

    limit: Annotated[int, Field(ge=1, le=1000), BeforeValidator(whole)] = 200
    offset: Annotated[int, Field(ge=0, le=10**9), BeforeValidator(whole)] = 0


class BookHeaders(Params):
    """Headers of a booking request."""

    idempotency_key: Key | None = Field(None, alias="Idempotency-Key", description=(
        "retries with the same key get the first outcome"))


class EventHeaders(Params):
    """Headers of an event's creation."""

    idempotency_key: Key | None = Field(None, alias="Idempotency-Key", description=(
        "a retry with the same key gets the event the first request created (one event "
        "per key and vendor); the same key with other fields is refused"))
