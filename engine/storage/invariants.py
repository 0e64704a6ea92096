"""The invariants of docs/design.md as SQL: each query returns the rows that break one.

Used by the tests and by the surge checker; an empty report is the only passing answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import asyncpg

from engine.types import EventId

_CHECKS: dict[str, str] = {
    # I1: confirmed seats never exceed capacity.
    "I1 oversold": """
        SELECT e.id AS event_id, e.capacity, coalesce(sum(b.quantity), 0) AS confirmed
        FROM events e LEFT JOIN bookings b ON b.event_id = e.id AND b.status = 'confirmed'
        WHERE e.id = ANY($1::bigint[])
        GROUP BY e.id HAVING coalesce(sum(b.quantity), 0) > e.capacity""",
    # I5: no user holds more than the event's per-user limit.
    "I5 over per-user limit": """
        SELECT b.event_id, b.user_id, sum(b.quantity) AS held, e.per_user_limit
        FROM bookings b JOIN events e ON e.id = b.event_id
        WHERE b.status = 'confirmed' AND e.per_user_limit IS NOT NULL
          AND e.id = ANY($1::bigint[])
        GROUP BY b.event_id, b.user_id, e.per_user_limit
        HAVING sum(b.quantity) > e.per_user_limit""",
    # I6: tickets = confirmed quantity = the sold counter, per event.
    "I6 tickets/confirmed/sold mismatch": """
        SELECT e.id AS event_id, e.sold,
               (SELECT coalesce(sum(quantity), 0) FROM bookings
                 WHERE event_id = e.id AND status = 'confirmed') AS confirmed,
               (SELECT count(*) FROM tickets WHERE event_id = e.id) AS tickets
        FROM events e WHERE e.id = ANY($1::bigint[])
        AND NOT (e.sold = (SELECT coalesce(sum(quantity), 0) FROM bookings
                            WHERE event_id = e.id AND status = 'confirmed')
             AND e.sold = (SELECT count(*) FROM tickets WHERE event_id = e.id))""",
    # Tickets belong to a confirmed booking of the same event and user, one per seat.
    "I6 tickets per booking": """
        SELECT b.id AS booking_id, b.status, b.quantity, count(t.id) AS tickets
        FROM bookings b LEFT JOIN tickets t ON t.booking_id = b.id
        WHERE b.event_id = ANY($1::bigint[])
        GROUP BY b.id
        HAVING count(t.id) <> CASE WHEN b.status = 'confirmed' THEN b.quantity ELSE 0 END""",
}


@dataclass
class InvariantReport:
    """Violations found, by invariant name; `ok` when there are none."""

    violations: dict[str, list[dict[str, object]]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when every invariant holds."""
        return not any(self.violations.values())

    def __str__(self) -> str:
        if self.ok:
            return "all invariants hold"
        return "; ".join(f"{k}: {v[:5]}" for k, v in self.violations.items() if v)


async def check_invariants(db: asyncpg.Pool | asyncpg.Connection,
                           event_ids: list[EventId] | None = None) -> InvariantReport:
    """Check I1, I5 and I6 for these events (all events when None)."""
    if event_ids is None:
        event_ids = [r["id"] for r in await db.fetch("SELECT id FROM events")]
    report = InvariantReport()
    for name, sql in _CHECKS.items():
        rows = await db.fetch(sql, event_ids)
        report.violations[name] = [dict(r.items()) for r in rows]
    return report
