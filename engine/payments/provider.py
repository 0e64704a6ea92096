"""What the engine needs from a payment provider, shaped like the real ones (Stripe, Adyen,
Mollie): a charge carries an idempotency key (a repeated charge with it is the same charge),
may need an extra customer step (`requires_action`, e.g. 3-D Secure) that can be cancelled
while it waits, can be looked up by that key when its answer was lost, and can be refunded
(idempotently too). What a provider tells later, unasked, comes as a signed webhook
(`engine/payments/webhooks.py`)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class ChargeStatus(StrEnum):
    """How a charge ended."""

    SUCCEEDED = "succeeded"
    #: No money moved, and none will: refused, a customer step failed, or cancelled
    #: (`reason` CANCELLED).
    DECLINED = "declined"
    #: The customer must do something first (3-D Secure); no money has moved yet.
    REQUIRES_ACTION = "requires_action"


#: The `reason` of a charge cancelled at its customer step (`PaymentProvider.cancel`). A
#: cancelled charge is `DECLINED`: to the engine it is an attempt that ended without money,
#: as a failed step is, and every rule for those holds for it unchanged.
CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Charge:
    """A provider's answer to a charge."""

    status: ChargeStatus
    #: The provider's id of a successful charge (what a refund names).
    charge_id: str | None = None
    #: The provider's words for a decline.
    reason: str | None = None
    #: `requires_action`: where the customer takes the extra step (the provider's page).
    next_action_url: str | None = None


class ProviderTimeout(Exception):
    """The provider did not answer: the charge may or may not have happened. Never read as
    "declined": the attempt stays open until `lookup` says what became of it."""


class PaymentProvider(Protocol):
    """A payment provider. Every call is idempotent on its key."""

    #: Recorded with each payment (`payments.provider`).
    name: str

    async def charge(self, *, token: str, amount_cents: int, currency: str,
                     idempotency_key: str) -> Charge:
        """Take `amount_cents` (minor units of `currency`) with the buyer's payment token;
        `ProviderTimeout` when no answer came."""

    async def lookup(self, idempotency_key: str) -> Charge | None:
        """What the charge made with this key came to (`requires_action` while the customer's
        step is not done); None if the provider never got it."""

    async def cancel(self, idempotency_key: str) -> Charge | None:
        """Cancel the charge made with this key while it waits on its customer step (as
        Stripe cancels a PaymentIntent in `requires_action`), so the step can no longer take
        money. Returns what the charge is after the call: `DECLINED` (reason CANCELLED) once
        cancelled, or its real end when the step had ended first (a success stands: the
        cancel lost the race); None if the provider never got it. Repeating it is harmless;
        `ProviderTimeout` when no answer came (the cancel may or may not have been made)."""

    async def refund(self, *, charge_id: str, amount_cents: int,
                     idempotency_key: str) -> None:
        """Give a successful charge's money back; repeating it with the key is harmless."""

    async def close(self) -> None:
        """Let go of what the provider holds (connections, work under way): the gateway that
        made it is stopping."""
