"""What a provider's webhook event does (the gateway checked its signature already): the
provider's late word on a charge, settled by the checkout's own paths so that every race rule
of engine/checkout.py holds for it too.

- Each event id is taken once (`payment_webhooks`, written before the event is acted on): a
  repeated delivery answers what the attempt came to and does nothing.
- An event must agree with the attempt it names (its idempotency key is the attempt's id):
  another amount, currency or charge is refused (`payment_mismatch`) and not taken, so the
  provider's correct delivery under that id is still handled.
- `charge.succeeded`: `Checkout.conclude`, as recovery does with the provider's lookup — the
  actor confirms the booking if its hold is open, else the money is refunded (and money for
  an attempt already closed is refunded too: a booking takes one successful charge).
- `charge.failed`: the attempt in flight (or at the customer's step) becomes `declined`; the
  hold stays, and its buyer is told on the stream.
- `charge.refunded`: a refund owed (`refunding`) is recorded as made.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from dataclasses import dataclass, replace

import asyncpg

from engine.checkout import Checkout
from engine.errors import EngineError, PaymentMismatch, Unavailable
from engine.messages import Outcome
from engine.payments.provider import Charge, ChargeStatus
from engine.payments.webhooks import EventType, ProviderEvent
from engine.storage import bookings, payments, webhooks
from engine.storage.database import translate_db_errors
from engine.storage.payments import Payment

log = logging.getLogger(__name__)

#: Attempts whose end is recorded for good: a late word about the charge changes nothing.
_SETTLED = ("captured", "refunding", "refunded")


@dataclass(frozen=True, slots=True)
class Receipt:
    """What one delivery of an event came to."""

    event_id: str
    #: The event id was taken before: nothing was done again.
    duplicate: bool
    #: The attempt the event named, as it is now; None if it named none of this engine's.
    payment: Payment | None
    #: The held booking whose attempt in flight this event declined (its buyer is told).
    declined: Outcome | None = None


class PaymentWebhooks:
    """Takes provider events in, each once."""

    def __init__(self, pool: asyncpg.Pool, checkout: Checkout, provider: str) -> None:
        self._pool, self._checkout, self._provider = pool, checkout, provider

    async def take(self, event: ProviderEvent) -> Receipt:
        """Act on a (signature-checked) event once; `PaymentMismatch` if it contradicts the
        attempt it names, `Unavailable` (not taken: the provider delivers it again) when a
        backing service failed on the way."""
        payment = await self._named(event)
        if payment is not None:
            try:
                _check_agrees(payment, event)
            except PaymentMismatch as exc:  # the provider and the engine disagree on money
                log.warning("webhook %s on payment %s refused: %s", event.id, payment.id,
                            exc.message)
                raise
        async with translate_db_errors():
            first = await webhooks.take(self._pool, self._provider, event.id, event.type.value,
                                        None if payment is None else payment.id)
        if payment is None:
            if first:
                log.info("webhook %s names no payment of this engine (%s): ignored", event.id,
                         event.idempotency_key)
            return Receipt(event.id, not first, None)
        if not first:
            return Receipt(event.id, True, await self._now(payment))
        try:
            await self._apply(payment, event)
        except Unavailable:
            # Not done: let the provider's next delivery of it be handled. If even this
            # fails, the event stays taken and recovery's poll settles the attempt.
            with contextlib.suppress(EngineError):
                async with translate_db_errors():
                    await webhooks.release(self._pool, self._provider, event.id)
            raise
        except EngineError as exc:  # what a payer would be answered (declined, expired...)
            log.info("webhook %s on payment %s: %s", event.id, payment.id, exc.code)
        after = await self._now(payment)
        declined = None
        if payment.status in ("charging", "requires_action") and after.status == "declined":
            async with translate_db_errors():
                held = await bookings.get_outcome(self._pool, payment.booking_id)
            if held is not None:
                declined = replace(held, reason="payment_declined")
        return Receipt(event.id, False, after, declined)

    async def _named(self, event: ProviderEvent) -> Payment | None:
        try:
            payment_id = uuid.UUID(event.idempotency_key)
        except ValueError:
            return None  # not a key this engine charges with
        async with translate_db_errors():
            return await payments.get(self._pool, payment_id)

    async def _now(self, payment: Payment) -> Payment:
        async with translate_db_errors():
            now = await payments.get(self._pool, payment.id)
        assert now is not None  # attempts are never deleted
        return now

    async def _apply(self, payment: Payment, event: ProviderEvent) -> None:
        if event.type is EventType.REFUNDED:
            if payment.status == "refunding":
                await self._checkout.refund_made(payment)
            elif payment.status != "refunded":
                log.warning("charge %s of payment %s was refunded at the provider, not by this "
                            "engine: its booking is left as it is", event.charge_id, payment.id)
            return
        if payment.status in _SETTLED:
            return
        charge = (Charge(ChargeStatus.SUCCEEDED, event.charge_id)
                  if event.type is EventType.SUCCEEDED
                  else Charge(ChargeStatus.DECLINED, None, event.reason))
        await self._checkout.conclude(payment, charge)


def _check_agrees(payment: Payment, event: ProviderEvent) -> None:
    """`PaymentMismatch` unless the event's money is the attempt's (and, once the attempt
    names its charge, the event's charge is that one)."""
    if (event.amount_cents, event.currency) != (payment.amount_cents, payment.currency):
        raise PaymentMismatch(
            f"the event says {event.amount_cents} {event.currency}; the attempt is of "
            f"{payment.amount_cents} {payment.currency}", field="amountCents")
    if (event.type is not EventType.FAILED and payment.charge_id is not None
            and event.charge_id != payment.charge_id):
        raise PaymentMismatch("the event names another charge than the attempt's",
                              field="chargeId")
