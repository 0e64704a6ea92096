"""After (and during) a surge on paid events: check what the engine promised about holds and
payments (docs/design.md, "Holds and payment").

- `sold + held <= capacity` throughout: sampled from PostgreSQL while the run goes on
  (`HoldSampler`), and the CHECK constraint that holds it at every commit is in place;
- every expired hold was released within 1 s of its deadline (`holdSeconds` + 1 s after it
  was taken): from each expired booking's `decided_at` (the start of the transaction that
  released it), and, independently, no sample ever saw a hold open more than 1 s past it;
- every late payment (money that came after the deadline) was refunded, and every declined
  one left its hold to expire;
- every seat finally sold or free: no hold left open once the last deadline has passed;
- no charge without a ticket or a refund: every attempt in the payments outbox settled, each
  confirmed booking with a price captured by exactly one charge of its amount (a free
  event's waiting-list offer by none), nothing captured for a
  booking that is not confirmed — and, when the provider's own records are at hand (the fake
  provider of an in-process gateway), every charge it took is captured or refunded.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import asyncpg

from engine.payments.fake import FakeProvider
from ops.surge.record import Sample, percentile

#: How often the sampler reads the events (a modest read: one row per event, an indexed count).
SAMPLE_EVERY = 0.1
#: The promise: seats of an expired hold back on sale within this long after its deadline.
RELEASE_WITHIN = 1.0
#: Clock tolerance between the actor that sets a deadline and PostgreSQL's now() (same host).
_CLOCK_SLACK = 0.05

_SAMPLE = """
    SELECT e.id, e.capacity, e.sold, e.held,
           (SELECT count(*) FROM bookings b WHERE b.event_id = e.id AND b.status = 'held'
              AND b.expires_at < now() - make_interval(secs => $2)) AS overdue
    FROM events e WHERE e.id = ANY($1::bigint[])"""


@dataclass
class Sampled:
    """What the sampler saw."""

    samples: int = 0
    #: The most seats sold + held over capacity seen in one sample (<= 0 when all is well).
    worst_excess: int | None = None
    #: The most holds seen open more than RELEASE_WITHIN past their deadline at once.
    overdue: int = 0
    errors: Counter[str] = field(default_factory=Counter)


class HoldSampler:
    """Reads `sold`, `held` and overdue holds of the run's events every SAMPLE_EVERY seconds
    until stopped (`async with`, or start/stop)."""

    def __init__(self, pool: asyncpg.Pool, events: Sequence[int]) -> None:
        self._pool, self._events = pool, list(events)
        self.seen = Sampled()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin sampling."""
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> Sampled:
        """Stop sampling (idempotent); what was seen."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        return self.seen

    async def __aenter__(self) -> HoldSampler:
        self.start()
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    async def _run(self) -> None:
        while True:
            try:
                rows = await self._pool.fetch(_SAMPLE, self._events, RELEASE_WITHIN)
            except (asyncpg.PostgresError, OSError) as exc:  # a missed sample, not a verdict
                self.seen.errors[type(exc).__name__] += 1
            else:
                self.seen.samples += 1
                excess = max(r["sold"] + r["held"] - r["capacity"] for r in rows)
                worst = self.seen.worst_excess
                self.seen.worst_excess = excess if worst is None else max(worst, excess)
                self.seen.overdue = max(self.seen.overdue, sum(r["overdue"] for r in rows))
            await asyncio.sleep(SAMPLE_EVERY)  # the sampling period, not a synchronisation


@dataclass
class HoldReport:
    """The holds and payments of a run, and what broke."""

    holds: int = 0
    paid: int = 0
    expired: int = 0
    declined: int = 0
    late_refunded: int = 0
    #: Late payments the provider answered before the deadline (confirmed: not late after all)
    #: or that reached the gateway after it (refused before any charge): nothing to refund.
    late_not_late: int = 0
    refunds: int = 0
    sold: int = 0
    free: int = 0
    #: Seconds from each expired hold's deadline to the transaction that released it.
    expiry_delays: list[float] = field(default_factory=list)
    sampled: Sampled = field(default_factory=Sampled)
    violations: list[str] = field(default_factory=list)

    def expiry_ms(self, q: float) -> float:
        """The q-th percentile of the expiry delay, in milliseconds."""
        return percentile(self.expiry_delays, q) * 1000

    def to_json(self) -> dict[str, Any]:
        """The machine-readable part of the report."""
        return {
            "holds": self.holds, "paid": self.paid, "expired": self.expired,
            "declined": self.declined, "late_refunded": self.late_refunded,
            "late_not_late": self.late_not_late, "refunds": self.refunds,
            "sold": self.sold, "free": self.free,
            "expiry_delay_p50_ms": round(self.expiry_ms(50), 1),
            "expiry_delay_p99_ms": round(self.expiry_ms(99), 1),
            "expiry_delay_max_ms": round(self.expiry_ms(100), 1),
            "samples": self.sampled.samples, "worst_excess": self.sampled.worst_excess,
        }


async def settle(pool: asyncpg.Pool, events: Sequence[int], settle_seconds: float) -> bool:
    """Wait until no hold of these events is open and every payment attempt has settled,
    at most until the last deadline plus RELEASE_WITHIN plus `settle_seconds`."""
    last = await pool.fetchval(
        "SELECT extract(epoch FROM max(expires_at) - now()) FROM bookings"
        " WHERE event_id = ANY($1::bigint[]) AND status = 'held'", list(events))
    deadline = time.monotonic() + max(float(last or 0), 0) + RELEASE_WITHIN + settle_seconds
    while True:
        open_ = await pool.fetchval(
            "SELECT (SELECT count(*) FROM bookings WHERE event_id = ANY($1::bigint[])"
            "   AND status = 'held')"
            " + (SELECT count(*) FROM payments WHERE event_id = ANY($1::bigint[])"
            "   AND status IN ('charging', 'succeeded'))", list(events))
        if open_ == 0:
            return True
        if time.monotonic() >= deadline:
            return False
        # The actors and the checkout run in other processes: nothing to await but the rows.
        await asyncio.sleep(0.2)


async def check_holds(pool: asyncpg.Pool, events: Sequence[int], samples: Sequence[Sample],
                      sampler: HoldSampler, *, settle_seconds: float,
                      provider: FakeProvider | None = None) -> HoldReport:
    """Wait for the holds to end (sampling on meanwhile), then check every promise above.
    `provider`: the fake provider that served this run, and nothing else, to hold its
    records against the outbox (an in-process gateway's; another process's is out of reach,
    and the outbox is the record)."""
    ids = list(events)
    try:
        settled = await settle(pool, ids, settle_seconds)
    finally:
        sampled = await sampler.stop()
    report = HoldReport(sampled=sampled)
    v = report.violations
    if not settled:
        v.append("holds or payments still open after the last deadline and the settle time")
    seen = report.sampled
    if seen.samples == 0:
        v.append(f"no sample of sold + held was taken during the run ({dict(seen.errors)})")
    elif seen.worst_excess is not None and seen.worst_excess > 0:
        v.append(f"sold + held exceeded capacity by {seen.worst_excess} in a sample")
    if seen.overdue:
        v.append(f"{seen.overdue} holds were seen open more than {RELEASE_WITHIN:g} s past"
                 " their deadline")
    if not await pool.fetchval(
            "SELECT convalidated FROM pg_constraint WHERE conname = 'no_oversell_with_holds'"
            " AND conrelid = 'events'::regclass"):
        v.append("the CHECK no_oversell_with_holds (sold + held <= capacity) is missing")

    rows = {str(r["id"]): r for r in await pool.fetch(
        "SELECT b.id, b.status, b.quantity, b.amount_cents,"
        " extract(epoch FROM b.decided_at - b.expires_at)::float8 AS late_by"
        " FROM bookings b WHERE b.event_id = ANY($1::bigint[]) AND b.expires_at IS NOT NULL",
        ids)}
    report.holds = len(rows)
    by_status = Counter(r["status"] for r in rows.values())
    report.paid, report.expired = by_status["confirmed"], by_status["expired"]
    report.expiry_delays = sorted(max(0.0, r["late_by"]) for r in rows.values()
                                  if r["status"] == "expired")
    late = [i for i, r in rows.items() if r["status"] == "expired"
            and not -_CLOCK_SLACK <= r["late_by"] <= RELEASE_WITHIN]
    if late:
        v.append(f"{len(late)} holds released outside [deadline, deadline +"
                 f" {RELEASE_WITHIN:g} s], e.g. {late[:3]}")
    await _check_payments(pool, ids, rows, samples, report, provider)
    seats = await pool.fetchrow(
        "SELECT coalesce(sum(sold), 0) AS sold, coalesce(sum(held), 0) AS held,"
        " coalesce(sum(capacity - sold - held), 0) AS free FROM events"
        " WHERE id = ANY($1::bigint[])", ids)
    report.sold, report.free = int(seats["sold"]), int(seats["free"])
    if seats["held"]:
        v.append(f"{seats['held']} seats still held at the end: neither sold nor free")
    return report


async def _check_payments(pool: asyncpg.Pool, ids: list[int], rows: dict[str, Any],
                          samples: Sequence[Sample], report: HoldReport,
                          provider: FakeProvider | None) -> None:
    v = report.violations
    attempts = await pool.fetch(
        "SELECT booking_id::text AS booking_id, status, amount_cents, charge_id"
        " FROM payments WHERE event_id = ANY($1::bigint[])", ids)
    of: dict[str, list[Any]] = {}
    for a in attempts:
        of.setdefault(a["booking_id"], []).append(a)
    unsettled = [a["booking_id"] for a in attempts if a["status"] in ("charging", "succeeded")]
    if unsettled:
        v.append(f"{len(unsettled)} charges without a ticket or a refund, e.g. {unsettled[:3]}")
    captured = Counter(a["booking_id"] for a in attempts if a["status"] == "captured")
    # A hold that costs nothing (a free event's waiting-list offer) is taken without a charge.
    wrong = [b for b, r in rows.items() if r["amount_cents"]
             and (r["status"] == "confirmed") != (captured[b] == 1)]
    wrong += [b for b, r in rows.items() if not r["amount_cents"] and captured[b]]
    wrong += [a["booking_id"] for a in attempts if a["status"] == "captured"
              and a["amount_cents"] != rows[a["booking_id"]]["amount_cents"]]
    if wrong:
        v.append(f"{len(wrong)} bookings whose ticket and captured charge do not match one to"
                 f" one (or whose amount differs), e.g. {wrong[:3]}")
    report.refunds = sum(a["status"] == "refunded" for a in attempts)

    for s in samples:
        if s.kind == "late-pay" and s.booking_id:
            status = rows[s.booking_id]["status"] if s.booking_id in rows else None
            refunded = any(a["status"] == "refunded" for a in of.get(s.booking_id, ()))
            if status == "expired" and refunded:
                report.late_refunded += 1
            elif status == "confirmed" or (status == "expired" and not of.get(s.booking_id)):
                report.late_not_late += 1
            else:
                v.append(f"late payment of {s.booking_id} not refunded: booking {status},"
                         f" attempts {[a['status'] for a in of.get(s.booking_id, ())]}")
        elif s.kind == "declined-pay" and s.status == 402:
            report.declined += 1
            if s.booking_id not in rows or rows[s.booking_id]["status"] != "expired":
                v.append(f"declined payment of {s.booking_id}: the hold did not expire")

    if provider is not None:
        # The provider served this run alone: every charge it took is in this outbox.
        recorded = {a["charge_id"] for a in attempts if a["charge_id"] is not None}
        kept = {a["charge_id"] for a in attempts if a["status"] == "captured"}
        given_back = {a["charge_id"] for a in attempts if a["status"] == "refunded"}
        if (set(provider.successful()), set(provider.kept()),
                set(provider.refunds.values())) != (recorded, kept, given_back):
            v.append("the provider's records differ from the payments outbox:"
                     f" {len(provider.successful())} charges taken and"
                     f" {len(provider.refunds)} refunded by the provider; {len(recorded)},"
                     f" {len(kept)} captured and {len(given_back)} refunded in the outbox")
