"""After a surge: read PostgreSQL and check what the engine promised.

- I1, I5, I6 for the scenario's events (engine.storage.invariants);
- every accepted request (201/202, or a decided 409/422) reached exactly one final outcome,
  every 201 is in the database with exactly the tickets the buyer was shown (I2) unless the
  run itself cancelled it, a decided 409/422 is stored rejected, and no booking exists for a
  request answered 503 ("not done") (`check_answers`);
- every retry with the same Idempotency-Key got the first request's booking (I4);
- seats oversold, counted from tickets as well as bookings (`naive` breaks the counter);
- on paid events, the holds and payments (`holds.py`): a hold answered 201 is not a
  confirmation, its payment's 200 is (with the tickets it showed);
- with a waiting list, its order and its offers (`waitlist_check.py`), after the offers'
  holds ended (`holds.py` again: an offer is a hold);
- with a waiting room, its admission order, that nobody booked without an admission or was
  admitted after the sell-out, and that the event sold out (`queue_check.py`), once every
  booking is decided.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg

from engine.payments.fake import FakeProvider
from engine.storage.invariants import all_refused, check_answers, check_invariants
from ops.surge.holds import HoldReport, HoldSampler, check_holds
from ops.surge.queue_check import QueueReport, check_queue
from ops.surge.queue_rush import QueueRun
from ops.surge.record import BOOKING_KINDS, PAY_KINDS, Sample
from ops.surge.waitlist_check import WaitlistReport, check_waitlist
from ops.surge.waitlist_rush import WaitlistRun


@dataclass
class Verdict:
    """What the checker found."""

    confirmed_seats: int
    oversold_seats: int
    violations: list[str] = field(default_factory=list)
    holds: HoldReport | None = None
    waitlist: WaitlistReport | None = None
    queue: QueueReport | None = None
    #: 201s whose booking is not in the database as shown.
    lost: int = 0
    #: Keys answered with more than one booking, plus bookings that sold seats with no key
    #: pinned to them (every surge request carries a key: such a booking was made twice).
    duplicates: int = 0
    #: Accepted requests with no outcome in the database after the settling wait.
    unfinished: int = 0
    #: Requests whose last attempt got no answer at all: the client never learned.
    unanswered: int = 0
    #: Answers other than a 201 that the database contradicts (a refusal sold, a 503 done).
    contradicted: int = 0
    #: Attempts resent at another gateway (failover.py), by the gateway they went to.
    resent_to: dict[int, int] = field(default_factory=dict)
    #: A line per unanswered request (the first few): every attempt it made, in order.
    unanswered_evidence: list[str] = field(default_factory=list)

    @property
    def resent(self) -> int:
        """Attempts resent at another gateway."""
        return sum(self.resent_to.values())

    @property
    def invariants_ok(self) -> bool:
        """True when nothing was violated."""
        return not self.violations

    @property
    def pending(self) -> int:
        """Requests left pending: accepted and never decided, or never answered."""
        return self.unfinished + self.unanswered

    @property
    def clean(self) -> bool:
        """The cluster's verdict: nothing oversold, lost, duplicated, pending or
        contradicted, and no other violation."""
        return not (self.violations or self.oversold_seats or self.lost or self.duplicates
                    or self.pending or self.contradicted)

    def summary(self) -> str:
        """The verdict on one line, each figure named."""
        return (f"{self.oversold_seats} oversold, {self.lost} confirmed lost, "
                f"{self.duplicates} duplicate per key, {self.pending} pending "
                f"({self.unfinished} undecided, {self.unanswered} unanswered), "
                f"{self.contradicted} answers unlike the database; "
                f"{self.confirmed_seats} seats confirmed, {self.resent} resends")


async def check(pool: asyncpg.Pool, events: Sequence[int], samples: Sequence[Sample], *,
                settle_seconds: float = 60.0, holds: HoldSampler | None = None,
                provider: FakeProvider | None = None,
                waitlist: WaitlistRun | None = None,
                queue: QueueRun | None = None) -> Verdict:
    """Check the run; waits (bounded) for 202s to be decided. `holds`: the sampler of a run
    on paid events or with a waiting list, which waits for every hold to end first (see
    `holds.check_holds`); `waitlist`: what the waiting list's phase did; `queue`: what the
    waiting room's buyers did and saw."""
    held = None if holds is None else await check_holds(
        pool, events, samples, holds, settle_seconds=settle_seconds, provider=provider)
    waited = None if waitlist is None else await check_waitlist(pool, events, samples,
                                                                waitlist)
    answered = [s for s in samples if s.booking_id and s.kind in BOOKING_KINDS]
    shown = {s.booking_id: s.confirmed_codes for s in answered
             if s.status == 201 and s.booking_status != "held"}
    shown.update({s.booking_id: s.confirmed_codes for s in samples
                  if s.kind in PAY_KINDS and s.status == 200 and s.booking_id})
    answers = await check_answers(
        pool, shown=shown,
        accepted=[s.booking_id for s in answered if s.status == 202],
        rejected=[s.booking_id for s in answered if s.status in (409, 422)],
        cancelled={s.booking_id for s in samples if s.kind == "cancel" and s.status == 200},
        # A cancel answered 202, or not at all, may have happened; one answered 503 did not.
        cancel_unknown={s.booking_id for s in samples
                        if s.kind == "cancel" and s.status in (0, 202)},
        refused=[s.booking_id for s in answered if s.status == 503],
        refused_keys=all_refused((s.key, s.status) for s in samples
                                 if s.kind in ("book", "retry")),
        settle_seconds=settle_seconds)
    violations = answers.violations()
    room = None if queue is None else await check_queue(pool, events, samples, queue)
    if room is not None:
        violations += [f"waiting room: {v}" for v in room.violations]
    if answers.differs:
        violations += await explain(pool, answers.differs[:5], samples)
    if held is not None:
        violations += [f"holds: {v}" for v in held.violations]
    if waited is not None:
        violations += [f"waiting list: {v}" for v in waited.violations]
        if waitlist is not None and waitlist.timed_out:
            violations.append("waiting list: offers still open when the phase ran out of time")
    by_first: dict[tuple[int, str], str] = {}
    mismatched = 0
    twice: set[str] = set()
    for s in samples:
        if s.kind in ("book", "retry") and s.booking_id and s.status in (201, 202, 409, 422):
            if s.key is None:
                continue
            first = by_first.setdefault((0, s.key), s.booking_id)
            mismatched += first != s.booking_id
            if first != s.booking_id:
                twice.add(s.key)
    if mismatched:
        violations.append(f"I4: {mismatched} retries got a different booking than the first")
    unpinned = int(await pool.fetchval(
        "SELECT count(*) FROM bookings b WHERE b.event_id = ANY($1::bigint[])"
        # A waiting-list offer is the engine's own booking for an entry: it has no key.
        " AND b.status IN ('confirmed', 'cancelled', 'held') AND NOT b.offer AND NOT EXISTS"
        " (SELECT 1 FROM idempotency_keys k WHERE k.booking_id = b.id)", list(events)))
    if unpinned:
        violations.append(f"I4: {unpinned} bookings sold seats with no Idempotency-Key pinned")

    invariants = await check_invariants(pool, list(events))
    for name, rows_ in invariants.violations.items():
        if rows_:
            violations.append(f"{name}: {len(rows_)} (e.g. {rows_[:2]})")
    counts = await pool.fetchrow(
        "SELECT coalesce(sum(b.confirmed), 0) AS confirmed,"
        " coalesce(sum(greatest(b.confirmed, t.tickets) - e.capacity)"
        "   FILTER (WHERE greatest(b.confirmed, t.tickets) > e.capacity), 0) AS oversold"
        " FROM events e"
        " CROSS JOIN LATERAL (SELECT coalesce(sum(quantity), 0) AS confirmed FROM bookings"
        "   WHERE event_id = e.id AND status = 'confirmed') b"
        " CROSS JOIN LATERAL (SELECT count(*) AS tickets FROM tickets"
        "   WHERE event_id = e.id AND voided_at IS NULL) t"
        " WHERE e.id = ANY($1::bigint[])", list(events))
    final = [s for s in samples if s.final and (s.kind in BOOKING_KINDS or s.kind == "cancel")]
    silent = [s for s in final if s.status == 0]
    return Verdict(int(counts["confirmed"]), int(counts["oversold"]), violations, held,
                   waited, room, lost=len(answers.differs), duplicates=len(twice) + unpinned,
                   unfinished=len(answers.unfinished),
                   unanswered=len(silent),
                   contradicted=len(answers.not_rejected) + len(answers.done_after_refusal),
                   resent_to=dict(Counter(s.gateway for s in samples if s.attempt > 0)),
                   unanswered_evidence=[_attempts(s, samples) for s in silent[:5]])


def _attempts(last: Sample, samples: Sequence[Sample]) -> str:
    """The attempts of the request whose last attempt was `last` (same key, or the same
    booking for a cancel), in order: where and when each was sent, how long it took, and
    what came back — what an unanswered request needs to be understood after the run."""
    def same(s: Sample) -> bool:
        if last.key is not None:
            return s.key == last.key
        return s.kind == last.kind and s.booking_id == last.booking_id

    tries = [f"#{s.attempt}@gw{s.gateway} t={s.start_s:.2f}s+{s.latency_ms:.0f}ms -> "
             f"{s.status} {s.error or s.booking_status or ''}".rstrip()
             for s in sorted(samples, key=lambda s: (s.start_s, s.attempt)) if same(s)]
    return f"unanswered {last.kind} key {last.key} booking {last.booking_id}: {tries}"


async def explain(pool: asyncpg.Pool, booking_ids: Sequence[str],
                  samples: Sequence[Sample]) -> list[str]:
    """The evidence for answers the database does not bear out, a line per booking: its
    row (status, reason, when decided, its tickets, its key) and every request the run made
    about it, in order — what a rare failure needs to be understood after the run."""
    rows = {str(r["id"]): r for r in await pool.fetch(
        "SELECT b.id, b.status, b.reason, b.decided_at, k.key,"
        " array_agg(t.code || CASE WHEN t.voided_at IS NULL THEN '' ELSE '(void)' END"
        "   ORDER BY t.code) FILTER (WHERE t.id IS NOT NULL) AS codes"
        " FROM bookings b LEFT JOIN tickets t ON t.booking_id = b.id"
        " LEFT JOIN idempotency_keys k ON k.booking_id = b.id"
        " WHERE b.id = ANY($1::uuid[]) GROUP BY b.id, k.key", list(booking_ids))}
    lines = []
    for booking_id in booking_ids:
        row = rows.get(booking_id)
        stored = ("no row" if row is None else
                  f"{row['status']}/{row['reason']} decided {row['decided_at']}"
                  f" key {row['key']} tickets {list(row['codes'] or ())}")
        keys = {s.key for s in samples if s.booking_id == booking_id and s.key}
        asked = [f"{s.kind}#{s.attempt}@gw{s.gateway} t={s.start_s:.2f}s"
                 f"+{s.latency_ms:.0f}ms -> {s.status} {s.booking_status or s.error or ''}"
                 f" {list(s.confirmed_codes)}{' final' if s.final else ''}"
                 for s in sorted(samples, key=lambda s: s.start_s)
                 if s.booking_id == booking_id or (s.key is not None and s.key in keys)]
        lines.append(f"I2 evidence for {booking_id}: stored {stored}; asked: {asked}")
    return lines
