"""Webhooks: how a provider tells the engine, later, what became of a charge whose answer was
lost (or that ended after the request stopped waiting), shaped as the real ones do it (Stripe's
`Stripe-Signature`).

The provider POSTs the event's JSON with a header

    Ticketwar-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + the raw body>

made with a secret both sides hold (`PAYMENT_WEBHOOK_SECRET`). The receiver checks it over the
bytes it got, before it parses them: a good signature proves the provider wrote this very
body, and the timestamp within `SIGNATURE_TOLERANCE_SECONDS` of the receiver's clock keeps a
captured request from being replayed later (a replay within the window names an event id
already taken: a no-op). Several `v1` entries may be sent, as during a secret's rotation;
one good one is enough.

Both sides live here: the fake provider signs with `sign`, the gateway checks with `verify`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from engine.errors import BadSignature, MissingSignature, StaleSignature

#: The header that carries the signature.
SIGNATURE_HEADER = "Ticketwar-Signature"
#: How far a signature's timestamp may be from the receiver's clock, either way (Stripe's
#: default): wide enough for a provider's queue and clock skew, narrow enough that a stolen
#: request is soon worthless.
SIGNATURE_TOLERANCE_SECONDS = 300

#: How long a taken event id is remembered: far longer than a provider goes on delivering
#: one (Stripe retries for three days), after which its id is not seen again.
WEBHOOK_RETENTION_DAYS = 30

_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")


class EventType(StrEnum):
    """What a webhook reports about a charge."""

    #: Money was taken (the charge's id names it).
    SUCCEEDED = "charge.succeeded"
    #: The charge was refused: no money moved.
    FAILED = "charge.failed"
    #: The charge's money was given back.
    REFUNDED = "charge.refunded"


@dataclass(frozen=True, slots=True)
class ProviderEvent:
    """One webhook event, as the provider sent it."""

    #: The provider's id of the event: each is taken once, however often it is delivered.
    id: str
    type: EventType
    #: The idempotency key the engine charged with (its payment attempt's id).
    idempotency_key: str
    #: The provider's id of the charge (a succeeded or refunded one has one).
    charge_id: str | None
    amount_cents: int
    currency: str
    #: The provider's words for a decline.
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The event's JSON body (camelCase, as the gateway's schema reads it)."""
        body: dict[str, Any] = {"id": self.id, "type": self.type.value,
                                "idempotencyKey": self.idempotency_key,
                                "chargeId": self.charge_id, "amountCents": self.amount_cents,
                                "currency": self.currency}
        if self.reason is not None:
            body["reason"] = self.reason
        return body


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body,
                    hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The `Ticketwar-Signature` value for this body sent at `timestamp` (unix seconds)."""
    return f"t={timestamp},v1={_digest(secret, timestamp, body)}"


def verify(secret: str, header: str | None, body: bytes, *, now: float,
           tolerance: float = SIGNATURE_TOLERANCE_SECONDS) -> int:
    """The signed timestamp if `header` signs `body` with `secret` within `tolerance` seconds
    of `now`; `MissingSignature`, `BadSignature` (malformed, or made otherwise) or
    `StaleSignature` if not. The signature is checked before the time, so a forged request
    learns nothing of the window."""
    if not header:
        raise MissingSignature(f"send the {SIGNATURE_HEADER} header")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isascii() and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and _HEX_DIGEST.fullmatch(value):
            candidates.append(value)
    if timestamp is None or not candidates:
        raise BadSignature(f"{SIGNATURE_HEADER} must be t=<unix seconds>,v1=<hex sha256>")
    expected = _digest(secret, timestamp, body)
    # Every candidate is compared in constant time, so the time taken tells nothing of how
    # much of a guess was right.
    if not any([hmac.compare_digest(expected, c) for c in candidates]):
        raise BadSignature("the signature does not match the body")
    if abs(now - timestamp) > tolerance:
        raise StaleSignature(f"the signature is from {int(now - timestamp)} s away from now; "
                             f"at most {tolerance:g} s is taken")
    return timestamp
