"""The built-in `fake` provider: no money, deterministic test tokens, a configurable delay
(1–2 s by default, like the original's simulated payment gateway; tests set 0).

- `tok_ok`: succeeds;
- `tok_declined` (and any unknown token): declined;
- `tok_action`: requires an extra customer step (3-D Secure), which the fake never completes;
- `tok_timeout`: the charge succeeds but its answer is lost (`ProviderTimeout`) — the worst
  case, found again by `lookup`.

Charges and refunds live in this process's memory: it is for demos and tests, never for a
real sale.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable

from engine.payments.provider import Charge, ChargeStatus, ProviderTimeout
from engine.types import Sleeper

_OUTCOMES = {"tok_ok": ChargeStatus.SUCCEEDED, "tok_timeout": ChargeStatus.SUCCEEDED,
             "tok_action": ChargeStatus.REQUIRES_ACTION}


class FakeProvider:
    """An in-memory provider with test tokens."""

    name = "fake"

    def __init__(self, latency: tuple[float, float] = (1.0, 2.0), *,
                 sleeper: Sleeper = asyncio.sleep,
                 rng: Callable[[float, float], float] = random.uniform) -> None:
        self._latency = latency
        self._sleeper = sleeper
        self._rng = rng
        #: Charges by idempotency key, and the amount each took (what tests look at).
        self.charges: dict[str, Charge] = {}
        self.amounts: dict[str, int] = {}
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
            known = Charge(status, f"ch_{uuid.uuid4().hex[:16]}"
                           if status is ChargeStatus.SUCCEEDED else None,
                           None if status is not ChargeStatus.DECLINED else "card declined")
            self.charges[idempotency_key] = known
            self.amounts[idempotency_key] = amount_cents
        if token == "tok_timeout":
            raise ProviderTimeout("the fake provider lost its answer (tok_timeout)")
        return known

    async def lookup(self, idempotency_key: str) -> Charge | None:
        """The charge made with this key, if any."""
        return self.charges.get(idempotency_key)

    async def refund(self, *, charge_id: str, amount_cents: int,
                     idempotency_key: str) -> None:
        """Record the refund once per key."""
        if self.refund_gate is not None:
            await self.refund_gate.wait()
        self.refunds.setdefault(idempotency_key, charge_id)

    def successful(self) -> list[str]:
        """Ids of the charges that took money."""
        return [c.charge_id for c in self.charges.values()
                if c.status is ChargeStatus.SUCCEEDED and c.charge_id is not None]

    def kept(self) -> list[str]:
        """Ids of the charges that took money and were not refunded."""
        refunded = set(self.refunds.values())
        return [c for c in self.successful() if c not in refunded]
