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
  holds ended (`holds.py` again: an offer is a hold).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg

from engine.payments.fake import FakeProvider
from engine.storage.invariants import all_refused, check_answers, check_invariants
from ops.surge.holds import HoldReport, HoldSampler, check_holds
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

    @property
    def invariants_ok(self) -> bool:
        """True when nothing was violated."""
        return not self.violations


async def check(pool: asyncpg.Pool, events: Sequence[int], samples: Sequence[Sample], *,
                settle_seconds: float = 60.0, holds: HoldSampler | None = None,
                provider: FakeProvider | None = None,
                waitlist: WaitlistRun | None = None) -> Verdict:
    """Check the run; waits (bounded) for 202s to be decided. `holds`: the sampler of a run
    on paid events or with a waiting list, which waits for every hold to end first (see
    `holds.check_holds`); `waitlist`: what the waiting list's phase did."""
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
    if held is not None:
        violations += [f"holds: {v}" for v in held.violations]
    if waited is not None:
        violations += [f"waiting list: {v}" for v in waited.violations]
        if waitlist is not None and waitlist.timed_out:
            violations.append("waiting list: offers still open when the phase ran out of time")
    by_first: dict[tuple[int, str], str] = {}
    mismatched = 0
    for s in samples:
        if s.kind in ("book", "retry") and s.booking_id and s.status in (201, 202, 409, 422):
            if s.key is None:
                continue
            first = by_first.setdefault((0, s.key), s.booking_id)
            mismatched += first != s.booking_id
    if mismatched:
        violations.append(f"I4: {mismatched} retries got a different booking than the first")

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
    return Verdict(int(counts["confirmed"]), int(counts["oversold"]), violations, held,
                   waited)
