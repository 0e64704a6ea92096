"""After a surge: read PostgreSQL and check what the engine promised.

- I1, I5, I6 for the scenario's events (engine.storage.invariants);
- every accepted request (201/202, or a decided 409/422) reached exactly one final outcome,
  every 201 is in the database with exactly the tickets the buyer was shown (I2) unless the
  run itself cancelled it, a decided 409/422 is stored rejected, and no booking exists for a
  request answered 503 ("not done") (`check_answers`);
- every retry with the same Idempotency-Key got the first request's booking (I4);
- seats oversold, counted from tickets as well as bookings (`naive` breaks the counter).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg

from engine.storage.invariants import all_refused, check_answers, check_invariants
from ops.surge.record import Sample


@dataclass
class Verdict:
    """What the checker found."""

    confirmed_seats: int
    oversold_seats: int
    violations: list[str] = field(default_factory=list)

    @property
    def invariants_ok(self) -> bool:
        """True when nothing was violated."""
        return not self.violations


async def check(pool: asyncpg.Pool, events: Sequence[int], samples: Sequence[Sample], *,
                settle_seconds: float = 60.0) -> Verdict:
    """Check the run; waits (bounded) for 202s to be decided."""
    answered = [s for s in samples if s.booking_id and s.kind != "cancel"]
    answers = await check_answers(
        pool, shown={s.booking_id: s.confirmed_codes for s in answered if s.status == 201},
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

    report = await check_invariants(pool, list(events))
    for name, rows_ in report.violations.items():
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
    return Verdict(int(counts["confirmed"]), int(counts["oversold"]), violations)
