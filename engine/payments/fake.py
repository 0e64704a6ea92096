"""The built-in `fake` provider: no money, deterministic test tokens, a configurable delay
(1–2 s by default, like the original's simulated payment gateway; tests set 0).

- `tok_ok`: succeeds;
- `tok_declined` (and any unknown token): declined;
- `tok_action`: requires an extra customer step (3-D Secure): the charge's `next_action_url`
  (`action_url`) is the gateway's fake-provider route, where a test or the buyer ends it with
  `complete_action` — succeeded or failed, told by a signed webhook like any late result —
  unless the engine cancelled it first (`cancel`: declined, reason "cancelled"; no webhook,
  since the engine that asked has the answer);
- `tok_timeout`: the charge succeeds but its answer is lost (`ProviderTimeout`) — the worst
  case, found again by `lookup`, and told by a signed `charge.succeeded` webhook when a
  `WebhookTarget` is set (`FAKE_PAYMENT_WEBHOOK_URL`), as a real provider tells it.

Charges and refunds live in this process's memory: it is for demos and tests, never for a
real sale.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from engine.payments.provider import CANCELLED, Charge, ChargeStatus, ProviderTimeout
from engine.payments.webhooks import SIGNATURE_HEADER, EventType, ProviderEvent, sign
from engine.settings import Secret
from engine.types import Clock, Sleeper, utcnow

log = logging.getLogger(__name__)


def _charge_id() -> str:
    return f"ch_{uuid.uuid4().hex[:16]}"

_OUTCOMES = {"tok_ok": ChargeStatus.SUCCEEDED, "tok_timeout": ChargeStatus.SUCCEEDED,
             "tok_action": ChargeStatus.REQUIRES_ACTION}

#: Deliveries of one webhook, at most, while the receiver is away or answers 5xx (1 s, 2 s,
#: 4 s apart); what they miss, the engine's recovery finds by `lookup`.
WEBHOOK_ATTEMPTS = 4


def action_url(idempotency_key: str) -> str:
    """Where the customer completes the step of the charge made with this key: the route
    the gateway serves for the fake provider (gateway/routes/fake_provider.py)."""
    return f"/api/fake-provider/actions/{idempotency_key}/complete"


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    """Where the fake sends its webhooks, and the secret it signs them with."""

    url: str
    secret: Secret


class FakeProvider:
    """An in-memory provider with test tokens."""

    name = "fake"

    def __init__(self, latency: tuple[float, float] = (1.0, 2.0), *,
                 sleeper: Sleeper = asyncio.sleep,
                 rng: Callable[[float, float], float] = random.uniform,
                 clock: Clock = utcnow, webhook: WebhookTarget | None = None) -> None:
        self._latency = latency
        self._sleeper = sleeper
        self._rng = rng
        self._clock = clock
        #: Where lost answers are told (None: nowhere; tests may set it once a server runs).
        self.webhook = webhook
        #: Every webhook delivered, with the status it was answered (`answer`).
        self.webhooks: list[dict[str, Any]] = []
        self._deliveries: set[asyncio.Task[None]] = set()
        #: Charges by idempotency key, and the amount each took (what tests look at).
        self.charges: dict[str, Charge] = {}
        self.amounts: dict[str, int] = {}
        self._currencies: dict[str, str] = {}
        #: Refunds by idempotency key -> the charge id refunded.
        self.refunds: dict[str, str] = {}
        #: Tests set an event here to hold every charge until they set it; `refund_gate`
        #: holds every refund the same way.
        self.gate: asyncio.Event | None = None
        self.refund_gate: asyncio.Event | None = None

    async def _delay(self) -> None:
        low, high = self._latency
        if high > 0:
            await self._sleeper(self._rng(low, high))
        if self.gate is not None:
            await self.gate.wait()

    async def charge(self, *, token: str, amount_cents: int, currency: str,
                     idempotency_key: str) -> Charge:
        """Decide by token; a repeated key is the same charge."""
        known = self.charges.get(idempotency_key)
        if known is not None:
            return known
        await self._delay()
        known = self.charges.get(idempotency_key)  # a concurrent copy finished first
        if known is None:
            status = _OUTCOMES.get(token, ChargeStatus.DECLINED)
            known = Charge(status, _charge_id() if status is ChargeStatus.SUCCEEDED else None,
                           None if status is not ChargeStatus.DECLINED else "card declined",
                           action_url(idempotency_key)
                           if status is ChargeStatus.REQUIRES_ACTION else None)
            self.charges[idempotency_key] = known
            self.amounts[idempotency_key] = amount_cents
            self._currencies[idempotency_key] = currency
            if token == "tok_timeout":
                self._announce(ProviderEvent(f"evt_{uuid.uuid4().hex[:16]}",
                                             EventType.SUCCEEDED, idempotency_key,
                                             known.charge_id, amount_cents, currency))
        if token == "tok_timeout":
            raise ProviderTimeout("the fake provider lost its answer (tok_timeout)")
        return known

    def complete_action(self, idempotency_key: str, succeeded: bool) -> Charge | None:
        """The customer ended the step of this charge: it succeeds (money taken) or fails,
        and the signed webhook tells the engine. None when no charge with this key waits on
        a step (unknown, or ended already)."""
        known = self.charges.get(idempotency_key)
        if known is None or known.status is not ChargeStatus.REQUIRES_ACTION:
            return None
        ended = (Charge(ChargeStatus.SUCCEEDED, _charge_id()) if succeeded
                 else Charge(ChargeStatus.DECLINED, None, "authentication failed"))
        self.charges[idempotency_key] = ended
        self._announce(ProviderEvent(
            f"evt_{uuid.uuid4().hex[:16]}",
            EventType.SUCCEEDED if succeeded else EventType.FAILED, idempotency_key,
            ended.charge_id, self.amounts[idempotency_key], self._currencies[idempotency_key],
            ended.reason))
        return ended

    async def cancel(self, idempotency_key: str) -> Charge | None:
        """Cancel the charge's step if it still waits (its `complete_action` then finds it
        ended); else, or again, the charge as it is. No webhook: the caller has the answer,
        and a `charge.failed` for it would reach the buyer's stream as a decline."""
        known = self.charges.get(idempotency_key)
        if known is None or known.status is not ChargeStatus.REQUIRES_ACTION:
            return known
        cancelled = Charge(ChargeStatus.DECLINED, None, CANCELLED)
        self.charges[idempotency_key] = cancelled
        return cancelled

    async def lookup(self, idempotency_key: str) -> Charge | None:
        """The charge made with this key, if any."""
        return self.charges.get(idempotency_key)

    async def refund(self, *, charge_id: str, amount_cents: int,
                     idempotency_key: str) -> None:
        """Record the refund once per key."""
        if self.refund_gate is not None:
            await self.refund_gate.wait()
        self.refunds.setdefault(idempotency_key, charge_id)

    def _announce(self, event: ProviderEvent) -> None:
        """Send the webhook in the background, as a provider does after the charge."""
        if self.webhook is None:
            return
        task = asyncio.create_task(self._deliver(self.webhook, event))
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    async def _deliver(self, target: WebhookTarget, event: ProviderEvent) -> None:
        body = orjson.dumps(event.to_json())
        for attempt in range(WEBHOOK_ATTEMPTS):
            if attempt:
                await self._sleeper(2.0 ** (attempt - 1))
            # Signed anew each time, as a provider does: the timestamp is the delivery's.
            headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(
                target.secret.reveal(), body, int(self._clock().timestamp()))}
            try:
                async with aiohttp.ClientSession(
                        timeout=aiohttp.ClientTimeout(total=10)) as session, \
                        session.post(target.url, data=body, headers=headers) as answer:
                    status = answer.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.warning("webhook %s to %s: %r", event.id, target.url, exc)
                continue
            self.webhooks.append({**event.to_json(), "answer": status})
            if status < 500 and status != 429:
                return  # taken, or refused for good: sending it again would change nothing
        log.warning("webhook %s to %s given up; the engine's recovery asks instead",
                    event.id, target.url)

    async def delivered(self) -> None:
        """Barrier for tests: every webhook under way has been delivered (or given up)."""
        while self._deliveries:
            await asyncio.gather(*self._deliveries, return_exceptions=True)

    async def close(self) -> None:
        """Drop the deliveries under way (a stopping gateway's own provider)."""
        for task in list(self._deliveries):
            task.cancel()
        await asyncio.gather(*self._deliveries, return_exceptions=True)

    def successful(self) -> list[str]:
        """Ids of the charges that took money."""
        return [c.charge_id for c in self.charges.values()
                if c.status is ChargeStatus.SUCCEEDED and c.charge_id is not None]

    def kept(self) -> list[str]:
        """Ids of the charges that took money and were not refunded."""
        refunded = set(self.refunds.values())
        return [c for c in self.successful() if c not in refunded]
