"""Paying for a held booking: charge through the provider outside the actor, then let the
actor decide, in order with the hold's expiry, whether the payment confirms the booking.

The race rules (docs/design.md, "Holds and payment"):

- The actor alone decides confirm vs expired. A charge that succeeds after the hold ended
  (expired, or cancelled) is refunded, never turned into a ticket for a seat that went back
  on sale.
- At most one successful charge per booking, whatever keys are sent: an attempt is recorded
  `charging` before the provider is asked, and a unique index lets only one attempt be in
  flight or paid per booking. A declined attempt frees the booking for another.
- No charge without a ticket or a refund, across crashes: the outbox row is written before
  the charge and names it (its id is the provider's idempotency key); recovery asks the
  provider what became of every unsettled row and finishes the job (confirm, or refund).
- A provider's late word (recovery's lookup, or a signed webhook: engine/payment_webhooks.py)
  is settled by `conclude`, the path a charge's own answer takes, so it obeys every rule above.
- A charge that needs an extra customer step (3-D Secure) stays open as `requires_action`,
  in flight like `charging` (no second charge meanwhile), and its pay is answered with the
  provider's step (`ActionRequired`); the step's end comes back as a late word like any other.
- A waiting step is cancelled at the provider before anything else may happen in its place:
  a pay with another key (another card) cancels it before the new charge, and a hold that
  ended (recovery, a retry, the cancel of the booking or its event) has it cancelled before
  its row closes. The provider decides the race: a cancel taken means no money can come
  (`declined`); a step that succeeded first is settled as any late success (confirmed while
  the hold is open, refunded once it is not), and nothing else is charged. A cancel not
  answered leaves the row open and charges nothing new: the same pay, or recovery, asks again.
- A cancel that owes money back (a buyer within the refund window, an organizer cancelling
  the event) turns the payment `refunding` in the actor's batch that cancels: the refund is
  made after the commit, here or by any gateway's recovery, never lost to a crash between.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg

from engine.errors import (
    EngineError,
    HoldExpired,
    InvalidInput,
    NotFound,
    NotPayable,
    PaidNeedsQueued,
    PaymentDeclined,
)
from engine.messages import Outcome
from engine.metrics import Metrics
from engine.payments.provider import Charge, ChargeStatus, PaymentProvider, ProviderTimeout
from engine.payments.webhooks import WEBHOOK_RETENTION_DAYS
from engine.storage import bookings, payments, webhooks
from engine.storage.database import translate_db_errors
from engine.storage.payments import Payment
from engine.types import BookingId, BookingStatus, Clock, EventId, Sleeper, UserId

log = logging.getLogger(__name__)

#: Recovery settles attempts untouched this long (longer than any provider call takes, so a
#: live request's attempt is left to the request), and looks every RECOVER_EVERY seconds.
RECOVER_AFTER = 60.0
RECOVER_EVERY = 30.0

#: Attempts that ended without money. Money that comes for one anyway (recovery closed it
#: while the provider still worked on it; a provider's late word contradicting its first) is
#: refunded, never confirmed: the buyer may have paid with another attempt meanwhile, and a
#: booking takes one successful charge.
_CLOSED = ("failed", "declined")

#: Attempts the provider may still be deciding: what recovery asks it about by key.
_ASKED = ("charging", "requires_action")

#: Sends a paid hold's confirmation to its actor: (booking, event, user, payment) -> the
#: actor's answer, None if not within the wait.
Confirm = Callable[[BookingId, EventId, UserId, uuid.UUID], Awaitable[Outcome | None]]


@dataclass(frozen=True, slots=True)
class PaymentPending:
    """The provider (or the actor) has not answered within the wait: `202`, and the result
    comes on the owner's stream and to a retry with the same Idempotency-Key."""

    booking: Outcome


@dataclass(frozen=True, slots=True)
class ActionRequired:
    """The provider asks the buyer for an extra step (3-D Secure) at `url`: `202`, the hold
    and the attempt stay open, and the step's end comes like any late result (the owner's
    stream, a retry with the same Idempotency-Key)."""

    booking: Outcome
    url: str


#: What a pay comes to when it is not refused.
PayResult = Outcome | PaymentPending | ActionRequired


class Checkout:
    """`pay` for requests, `recover` for what a crash or a lost answer left unsettled."""

    def __init__(self, pool: asyncpg.Pool, provider: PaymentProvider, confirm: Confirm | None,
                 *, clock: Clock, sleeper: Sleeper, wait_seconds: float,
                 metrics: Metrics | None = None) -> None:
        self._pool, self._provider, self._confirm = pool, provider, confirm
        self._metrics = metrics or Metrics()
        self._clock, self._sleeper, self._wait = clock, sleeper, wait_seconds
        self._charges: set[asyncio.Task[PayResult]] = set()
        self._refunding: set[asyncio.Task[int]] = set()
        self._recovery: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Recover in the background: at once, then every RECOVER_EVERY seconds."""
        self._recovery = asyncio.create_task(self._recover_forever())

    async def stop(self) -> None:
        """Stop recovering and abandon charges in flight: their rows stay unsettled, and the
        next recovery (here or in another gateway) finishes them."""
        tasks = [*self._charges, *self._refunding,
                 *([self._recovery] if self._recovery else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def settled(self) -> None:
        """Barrier for tests: every charge, and everything `after_cancel` started here, has
        finished."""
        await asyncio.gather(*self._charges, *self._refunding, return_exceptions=True)

    async def _recover_forever(self) -> None:
        while True:
            try:
                await self.recover(RECOVER_AFTER)
                await self.refund_owed(older_than_seconds=RECOVER_AFTER)
                async with translate_db_errors():
                    await webhooks.forget_older_than(self._pool, WEBHOOK_RETENTION_DAYS)
            except EngineError as exc:  # the database away: next round
                log.warning("payment recovery: %s", exc.message)
            await self._sleeper(RECOVER_EVERY)

    # -- paying ----------------------------------------------------------------------------

    async def pay(self, user_id: UserId, booking_id: BookingId, token: str | None,
                  key: str | None) -> PayResult:
        """Pay a held booking of this user: the confirmed booking, PaymentPending, or the
        provider's customer step (ActionRequired). While an attempt waits on its step, a pay
        with another key is another card: the step is cancelled first (`_switch_from`). A
        free hold (a free event's waiting-list offer) is accepted with no token and no
        charge."""
        async with translate_db_errors():
            booking = await bookings.get_outcome(self._pool, booking_id)
            if booking is None or booking.user_id != user_id:
                raise NotFound("no such booking")
            earlier = None if key is None else await payments.by_key(self._pool, booking_id,
                                                                      key)
        if earlier is not None:
            return await self._replay(earlier, booking)
        if booking.amount_cents == 0:
            return await self._accept_free(booking)
        self._check_payable(booking)
        if self._confirm is None:
            raise PaidNeedsQueued("holds are paid only with the queued strategy")
        if token is None:
            raise InvalidInput("a paid hold needs a paymentToken", field="paymentToken")
        payment = await self._begin(booking, key)
        if payment is None:
            # Another attempt is in flight or paid: never a second charge. Its result comes
            # on the stream, or to a retry; one at the customer's step is answered with it,
            # unless this is another card (a new key), for which that step is cancelled.
            async with translate_db_errors():
                live = await payments.live(self._pool, booking_id)
            if live is None or live.status != "requires_action":
                return PaymentPending(booking)
            if key is None or key == live.client_key:
                # A pay without a key cannot be told from a retry of the first: the step.
                return await self._action_of(live, booking)
            switched = await self._switch_from(live, booking)
            if switched is not None:
                return switched
            payment = await self._begin(booking, key)
            if payment is None:  # another pay took the freed booking first
                return PaymentPending(booking)
        task = asyncio.create_task(self._charge(payment, token, booking))
        self._charges.add(task)
        task.add_done_callback(self._charge_done)
        try:
            return await asyncio.wait_for(asyncio.shield(task), self._wait)
        except TimeoutError:
            return PaymentPending(booking)

    async def _begin(self, booking: Outcome, key: str | None) -> Payment | None:
        """Record an attempt to pay this held booking (`charging`, before any charge); None
        when another is in flight or paid."""
        assert booking.amount_cents is not None and booking.currency is not None
        async with translate_db_errors():
            return await payments.begin(
                self._pool, uuid.uuid4(), booking.booking_id, booking.user_id,
                booking.event_id, booking.amount_cents, booking.currency,
                self._provider.name, key)

    async def _switch_from(self, live: Payment, booking: Outcome) -> PayResult | None:
        """Another card while the booking's attempt waits on its customer step: the step is
        cancelled at the provider first, so it can never take money as well. None once it
        is over with no money to come (cancelled, or failed there meanwhile): the new card
        may be charged. A step that succeeded first is settled instead — by the rules of
        any late success, no second charge — and answers. A cancel not answered is
        `PaymentPending` with nothing charged: the step may still bring money, and the same
        pay again (its key made no attempt) asks the provider again."""
        try:
            charge = await self._end_step(live)
        except ProviderTimeout as exc:
            log.warning("payment %s: its step not cancelled for another card: %s", live.id,
                        exc)
            return PaymentPending(booking)
        if charge is None or charge.status is ChargeStatus.DECLINED:
            return None
        if charge.status is ChargeStatus.REQUIRES_ACTION:  # the provider kept it: the step
            return (PaymentPending(booking) if charge.next_action_url is None
                    else ActionRequired(booking, charge.next_action_url))
        result = await self._after_charge(live, charge, booking)
        if not isinstance(result, PaymentPending):
            return result
        # Settled elsewhere meanwhile (its webhook): answer what it came to, as its own key
        # would be answered.
        async with translate_db_errors():
            now = await payments.get(self._pool, live.id)
            booking_now = await bookings.get_outcome(self._pool, live.booking_id)
        assert now is not None and booking_now is not None  # never deleted; the foreign key
        return await self._replay(now, booking_now)

    async def _end_step(self, payment: Payment) -> Charge | None:
        """Cancel an attempt's customer step at the provider, and close its row if that
        leaves no money to come: `declined` (cancelled, or failed there first) or `failed`
        (the provider never got it). Returns the provider's answer; a success (the step
        ended first) is the caller's to settle. `ProviderTimeout`: the row stays open."""
        charge = await self._provider.cancel(str(payment.id))
        if charge is None or charge.status is ChargeStatus.DECLINED:
            after = "failed" if charge is None else "declined"
            async with translate_db_errors():
                if await payments.move(self._pool, payment.id, "requires_action", after):
                    self._settled(after)
        return charge

    async def _accept_free(self, booking: Outcome) -> PayResult:
        """A hold that costs nothing: no provider, no outbox (no money can be owed either
        way); the actor confirms it if it is still open. Accepting it again answers it."""
        if booking.status is BookingStatus.CONFIRMED:
            return booking
        self._check_payable(booking)
        if self._confirm is None:
            raise PaidNeedsQueued("holds are accepted only with the queued strategy")
        outcome = await self._confirm(booking.booking_id, booking.event_id, booking.user_id,
                                      uuid.uuid4())
        if outcome is None:
            return PaymentPending(booking)
        if outcome.status is BookingStatus.CONFIRMED:
            return outcome
        if outcome.status is BookingStatus.EXPIRED:
            raise HoldExpired("the offer expired before it was accepted")
        raise NotPayable(f"only a held booking can be accepted; this one is {outcome.status}")

    def _charge_done(self, task: asyncio.Task[PayResult]) -> None:
        self._charges.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            if not isinstance(exc, EngineError):
                log.error("payment task failed: %r", exc)

    def _check_payable(self, booking: Outcome) -> None:
        if booking.status is BookingStatus.EXPIRED:
            raise HoldExpired("the hold expired before it was paid")
        if booking.status is not BookingStatus.HELD:
            raise NotPayable(f"only a held booking can be paid; this one is {booking.status}")
        if booking.expires_at is not None and booking.expires_at <= self._clock():
            # Its actor expires it (in order): no charge for a hold that is over.
            raise HoldExpired("the hold expired before it was paid")

    async def _replay(self, earlier: Payment, booking: Outcome) -> PayResult:
        """A retry with the same Idempotency-Key: the first attempt's result, no new charge."""
        if earlier.status in ("charging", "succeeded"):
            return PaymentPending(booking)
        if earlier.status == "captured":
            return booking
        if earlier.status == "requires_action":
            return await self._action_of(earlier, booking)
        if earlier.status in ("declined", "failed"):
            raise PaymentDeclined("the payment was declined")
        raise (HoldExpired("the hold expired before it was paid; the charge was refunded")
               if booking.status is BookingStatus.EXPIRED else
               NotPayable("the booking was no longer held; the charge was refunded"))

    async def _action_of(self, payment: Payment, booking: Outcome) -> PayResult:
        """The step an open `requires_action` attempt waits on, as the provider has it. Once
        the step has ended there, its end is settled here and now, by the same race rules as
        a charge's first answer (the buyer is back from the bank's page and asks again; a
        webhook or recovery that settles it meanwhile finds the row moved). Not answered, or
        not known there: `PaymentPending`, the result comes on the stream and to a retry.
        A hold over while its step waits has the step cancelled (`_close_over`)."""
        if booking.status is not BookingStatus.HELD:
            return await self._close_over(payment, booking)
        try:
            charge = await self._provider.lookup(str(payment.id))
        except ProviderTimeout as exc:
            log.warning("payment %s: its step not looked up: %s", payment.id, exc)
            return PaymentPending(booking)
        if charge is None:
            return PaymentPending(booking)
        if charge.status is ChargeStatus.REQUIRES_ACTION:
            if charge.next_action_url is None:
                return PaymentPending(booking)
            return ActionRequired(booking, charge.next_action_url)
        return await self._after_charge(payment, charge, booking)

    async def _charge(self, payment: Payment, token: str,
                      booking: Outcome) -> PayResult:
        started = time.perf_counter()
        try:
            charge = await self._provider.charge(
                token=token, amount_cents=payment.amount_cents, currency=payment.currency,
                idempotency_key=str(payment.id))
        except ProviderTimeout as exc:
            self._observe_charge("timeout", started)
            log.warning("payment %s: %s; recovery will ask again", payment.id, exc)
            return PaymentPending(booking)
        self._observe_charge(charge.status.value, started)
        return await self._after_charge(payment, charge, booking)

    def _observe_charge(self, result: str, started: float) -> None:
        self._metrics.charge_seconds.labels(result).observe(time.perf_counter() - started)

    def _settled(self, outcome: str, refund_reason: str | None = None) -> None:
        """Count an attempt that reached its end here (once: after the row moved)."""
        self._metrics.payments.labels(outcome).inc()
        if refund_reason is not None:
            self._metrics.refunds.labels(refund_reason).inc()

    async def _after_charge(self, payment: Payment, charge: Charge,
                            booking: Outcome) -> PayResult:
        # Only an open attempt moves on; a closed one's row stays (the moves below miss).
        before = "requires_action" if payment.status == "requires_action" else "charging"
        if charge.status is ChargeStatus.REQUIRES_ACTION:
            async with translate_db_errors():
                still = before == "requires_action" or await payments.move(
                    self._pool, payment.id, "charging", "requires_action")
            if not still or charge.next_action_url is None:
                return PaymentPending(booking)  # moved on elsewhere: that process settles it
            return ActionRequired(booking, charge.next_action_url)
        if charge.status is not ChargeStatus.SUCCEEDED:
            async with translate_db_errors():
                if await payments.move(self._pool, payment.id, before, "declined"):
                    self._settled("declined")
            raise PaymentDeclined(charge.reason or "the payment was declined")
        assert charge.charge_id is not None
        async with translate_db_errors():
            moved = await payments.move(self._pool, payment.id, before, "succeeded",
                                        charge.charge_id)
        if not moved:
            async with translate_db_errors():
                now = await payments.status(self._pool, payment.id)
            if now in _CLOSED:
                # The attempt was closed while the provider still worked on it: the money
                # came anyway, and nothing will use it. Refund first, record after: a crash
                # between repeats an idempotent refund.
                await self._refund(payment, charge.charge_id)
                async with translate_db_errors():
                    if await payments.move(self._pool, payment.id, now, "refunded",
                                           charge.charge_id):
                        self._settled("refunded", "attempt_closed")
                raise NotPayable("the payment came after its attempt was closed; refunded")
            return PaymentPending(booking)  # moved on elsewhere: that process settles it
        return await self._settle(payment, charge.charge_id, booking)

    async def _refund(self, payment: Payment, charge_id: str) -> None:
        await self._provider.refund(charge_id=charge_id, amount_cents=payment.amount_cents,
                                    idempotency_key=f"refund-{payment.id}")

    async def _settle(self, payment: Payment, charge_id: str,
                      booking: Outcome) -> PayResult:
        """Money was taken: the actor confirms the booking with it, or it is refunded."""
        assert self._confirm is not None
        outcome = await self._confirm(payment.booking_id, payment.event_id, payment.user_id,
                                      payment.id)
        if outcome is None:
            return PaymentPending(booking)  # recovery sends it again; the actor decides once
        if outcome.status is BookingStatus.CONFIRMED:
            async with translate_db_errors():
                if await payments.move(self._pool, payment.id, "succeeded", "captured"):
                    self._settled("confirmed")
            return outcome
        await self._refund(payment, charge_id)
        async with translate_db_errors():
            if await payments.move(self._pool, payment.id, "succeeded", "refunded"):
                self._settled("refunded", "hold_expired"
                              if outcome.status is BookingStatus.EXPIRED else "not_held")
        log.info("payment %s of booking %s refunded: the booking is %s", payment.id,
                 payment.booking_id, outcome.status)
        if outcome.status is BookingStatus.EXPIRED:
            raise HoldExpired("the hold expired before the payment came; it was refunded")
        raise NotPayable("the booking was no longer held; the payment was refunded")

    # -- refunds owed by cancels -------------------------------------------------------------

    def after_cancel(self, *, booking_id: BookingId | None = None,
                     event_id: EventId | None = None) -> None:
        """What a cancel just committed (of a booking, or of a whole event) leaves to the
        provider, now, in the background (the answer does not wait on the provider): the
        customer steps its holds left waiting are cancelled there, so they can no longer
        take money, and the refunds it owes are made. What this misses (a crash, a provider
        away) recovery does later: the `requires_action` and `refunding` rows are the
        outbox."""
        task = asyncio.create_task(self._after_cancel(booking_id, event_id))
        self._refunding.add(task)
        task.add_done_callback(self._refund_done)

    async def _after_cancel(self, booking_id: BookingId | None,
                            event_id: EventId | None) -> int:
        async with translate_db_errors():
            waiting = await payments.waiting(self._pool, booking_id=booking_id,
                                             event_id=event_id)
        for payment in waiting:
            try:
                await self._close_if_over(payment)
            except EngineError as exc:  # what a payer would be told (expired, refunded...)
                log.info("payment %s closed after a cancel: %s", payment.id, exc.code)
        return await self.refund_owed(booking_id=booking_id, event_id=event_id)

    def _refund_done(self, task: asyncio.Task[int]) -> None:
        self._refunding.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            log.log(logging.WARNING if isinstance(exc, EngineError) else logging.ERROR,
                    "what a cancel left is left to recovery: %r", exc)

    async def refund_owed(self, *, booking_id: BookingId | None = None,
                          event_id: EventId | None = None,
                          older_than_seconds: float = 0.0) -> int:
        """Give back every refund owed (of this booking, this event, or all untouched this
        long): the provider first, the record after, so a crash between repeats an idempotent
        refund. Returns how many were owed."""
        async with translate_db_errors():
            owed = await payments.refunds_owed(self._pool, booking_id=booking_id,
                                               event_id=event_id,
                                               older_than_seconds=older_than_seconds)
        for payment in owed:
            assert payment.charge_id is not None  # the CHECK: money moved
            try:
                await self._refund(payment, payment.charge_id)
            except ProviderTimeout as exc:
                log.warning("refund of payment %s: %s; recovery asks again", payment.id, exc)
                continue
            await self.refund_made(payment)
        return len(owed)

    async def refund_made(self, payment: Payment) -> None:
        """Record a refund owed as made, once the provider said so (its answer to the refund,
        or a `charge.refunded` webhook): whichever comes first moves the row and counts it."""
        async with translate_db_errors():
            if await payments.move(self._pool, payment.id, "refunding", "refunded"):
                assert payment.refund_reason is not None  # the CHECK: owed says why
                self._metrics.refunds.labels(payment.refund_reason).inc()

    async def refund_of(self, booking_id: BookingId) -> payments.Refund | None:
        """The booking's refund as its owner reads it (`GET /api/bookings/{id}`)."""
        async with translate_db_errors():
            return await payments.refund_of(self._pool, booking_id)

    # -- recovery --------------------------------------------------------------------------

    async def recover(self, older_than_seconds: float = RECOVER_AFTER) -> int:
        """Settle every attempt left unsettled this long (a crash, a lost answer): ask the
        provider about those still `charging` or at the customer's step, then confirm or
        refund those that took money. Returns how many were looked at."""
        async with translate_db_errors():
            open_rows = await payments.unsettled(self._pool, older_than_seconds)
        for payment in open_rows:
            try:
                if payment.status in _ASKED:
                    charge = await self._provider.lookup(str(payment.id))
                    if charge is None:  # the provider never got it: no money moved
                        async with translate_db_errors():
                            if await payments.move(self._pool, payment.id, payment.status,
                                                   "failed"):
                                self._settled("failed")
                        continue
                    if (charge.status is ChargeStatus.REQUIRES_ACTION
                            and payment.status == "requires_action"):
                        await self._close_if_over(payment)
                        continue
                else:
                    assert payment.charge_id is not None  # the CHECK: money moved
                    charge = Charge(ChargeStatus.SUCCEEDED, payment.charge_id)
                await self.conclude(payment, charge)
            except EngineError as exc:
                log.info("payment %s recovered: %s", payment.id, exc.code)
        return len(open_rows)

    async def _close_if_over(self, payment: Payment) -> None:
        """An attempt whose customer step is still undone: left to the customer while its
        hold is open, closed by `_close_over` once the hold is over."""
        async with translate_db_errors():
            booking = await bookings.get_outcome(self._pool, payment.booking_id)
        assert booking is not None  # the foreign key
        if booking.status is not BookingStatus.HELD:
            await self._close_over(payment, booking)

    async def _close_over(self, payment: Payment, booking: Outcome) -> PayResult:
        """The customer step of an attempt whose hold is over (expired, cancelled): nothing
        could confirm it any more. It is cancelled at the provider first, so the buyer
        cannot finish it and pay for nothing, and the row closes on the provider's word
        (cancelled, or failed there): then no money can come, and the answer is the one a
        pay of the hold gets now (`HoldExpired` / `NotPayable`). A success found instead is
        settled as any late one (refunded: the hold is over). Unanswered: the row stays for
        recovery's next round (`PaymentPending`)."""
        try:
            charge = await self._end_step(payment)
        except ProviderTimeout as exc:
            log.warning("payment %s: its step not cancelled: %s; recovery asks again",
                        payment.id, exc)
            return PaymentPending(booking)
        if charge is not None and charge.status is ChargeStatus.SUCCEEDED:
            return await self._after_charge(payment, charge, booking)
        if charge is not None and charge.status is ChargeStatus.REQUIRES_ACTION:
            # A provider that would not cancel it: closed all the same, as nothing can
            # confirm it; money the step brings later is refunded as for any closed attempt.
            log.warning("payment %s: the provider kept its step after a cancel", payment.id)
            async with translate_db_errors():
                if await payments.move(self._pool, payment.id, "requires_action", "declined"):
                    self._settled("declined")
        if booking.status is BookingStatus.EXPIRED:
            raise HoldExpired("the hold expired before it was paid")
        raise NotPayable(f"only a held booking can be paid; this one is {booking.status}")

    async def conclude(self, payment: Payment, charge: Charge) -> PayResult:
        """Settle an attempt with the provider's word on it, come late (recovery's lookup, a
        signed webhook), by the path a charge's own answer takes: money taken confirms the
        booking through its actor while the hold is open and is refunded once it is not (or
        once the attempt was closed); a refusal closes the attempt (`PaymentDeclined`), as
        does a customer step failed; a step asked for keeps it open (`ActionRequired`). An
        attempt whose money is recorded already (`succeeded`) has its confirmation sent
        again: the actor decides a booking once. A settled attempt stays as it is."""
        async with translate_db_errors():
            booking = await bookings.get_outcome(self._pool, payment.booking_id)
        assert booking is not None  # the foreign key
        if payment.status == "succeeded" and payment.charge_id is not None:
            return await self._settle(payment, payment.charge_id, booking)
        return await self._after_charge(payment, charge, booking)
