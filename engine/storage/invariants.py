"""The invariants of docs/design.md as SQL: each query returns the rows that break one.

`check_invariants` reads the events alone (I1, I5, I6, I7, and C1-C2 of check-in);
`check_answers` holds what clients were told against what was stored (I2, I3). Used by the
tests and by the surge checker; an empty report is the only passing answer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

import asyncpg

from engine.types import EventId

_CHECKS: dict[str, str] = {
    # I1: confirmed and held seats never exceed capacity.
    "I1 oversold": """
        SELECT e.id AS event_id, e.capacity, coalesce(sum(b.quantity), 0) AS taken
        FROM events e LEFT JOIN bookings b ON b.event_id = e.id
                                          AND b.status IN ('confirmed', 'held')
        WHERE e.id = ANY($1::bigint[])
        GROUP BY e.id HAVING coalesce(sum(b.quantity), 0) > e.capacity""",
    # I1: the held counter is the seats of the open holds.
    "I1 held counter": """
        SELECT e.id AS event_id, e.held,
               (SELECT coalesce(sum(quantity), 0) FROM bookings
                 WHERE event_id = e.id AND status = 'held') AS in_holds
        FROM events e WHERE e.id = ANY($1::bigint[])
        AND e.held <> (SELECT coalesce(sum(quantity), 0) FROM bookings
                        WHERE event_id = e.id AND status = 'held')""",
    # I5: no user holds more than the event's per-user limit (confirmed and held seats).
    "I5 over per-user limit": """
        SELECT b.event_id, b.user_id, sum(b.quantity) AS held, e.per_user_limit
        FROM bookings b JOIN events e ON e.id = b.event_id
        WHERE b.status IN ('confirmed', 'held') AND e.per_user_limit IS NOT NULL
          AND e.id = ANY($1::bigint[])
        GROUP BY b.event_id, b.user_id, e.per_user_limit
        HAVING sum(b.quantity) > e.per_user_limit""",
    # I6: tickets = confirmed quantity = the sold counter, per event.
    "I6 tickets/confirmed/sold mismatch": """
        SELECT e.id AS event_id, e.sold,
               (SELECT coalesce(sum(quantity), 0) FROM bookings
                 WHERE event_id = e.id AND status = 'confirmed') AS confirmed,
               (SELECT count(*) FROM tickets WHERE event_id = e.id
                 AND voided_at IS NULL) AS tickets
        FROM events e WHERE e.id = ANY($1::bigint[])
        AND NOT (e.sold = (SELECT coalesce(sum(quantity), 0) FROM bookings
                            WHERE event_id = e.id AND status = 'confirmed')
             AND e.sold = (SELECT count(*) FROM tickets WHERE event_id = e.id
                           AND voided_at IS NULL))""",
    # Valid tickets belong to a confirmed booking of the same event and user, one per seat;
    # a cancelled booking keeps its tickets, every one void.
    "I6 tickets per booking": """
        SELECT b.id AS booking_id, b.status, b.quantity,
               count(t.id) FILTER (WHERE t.voided_at IS NULL) AS tickets
        FROM bookings b LEFT JOIN tickets t ON t.booking_id = b.id
        WHERE b.event_id = ANY($1::bigint[])
        GROUP BY b.id
        HAVING count(t.id) FILTER (WHERE t.voided_at IS NULL)
               <> CASE WHEN b.status = 'confirmed' THEN b.quantity ELSE 0 END""",
    # C1: a ticket checked in at the door is not void (migration 0010 also refuses it).
    "C1 void ticket checked in": """
        SELECT t.id AS ticket_id, t.booking_id, t.checked_in_at, t.voided_at
        FROM tickets t WHERE t.event_id = ANY($1::bigint[])
          AND t.checked_in_at IS NOT NULL AND t.voided_at IS NOT NULL""",
    # C2: a checked-in ticket's booking is confirmed (so it was never cancelled after).
    "C2 checked in, booking not confirmed": """
        SELECT t.id AS ticket_id, b.id AS booking_id, b.status
        FROM tickets t JOIN bookings b ON b.id = t.booking_id
        WHERE t.event_id = ANY($1::bigint[]) AND t.checked_in_at IS NOT NULL
          AND b.status <> 'confirmed'""",
    # I7: one entry per buyer per event: waiting, or served by an open offer, never both
    # and never twice.
    "I7 more than one waiting-list entry": """
        SELECT event_id, user_id, count(*) AS entries FROM (
            SELECT event_id, user_id FROM waitlist_entries
             WHERE status = 'waiting' AND event_id = ANY($1::bigint[])
            UNION ALL
            SELECT event_id, user_id FROM bookings
             WHERE offer AND status = 'held' AND event_id = ANY($1::bigint[])) AS live
        GROUP BY event_id, user_id HAVING count(*) > 1""",
    # I7: an offer is held by its entry's owner, for the entry's seats; an offered entry has
    # its offer.
    "I7 offer without its entry": """
        SELECT b.id AS booking_id, b.user_id, w.user_id AS entry_user, w.status
        FROM bookings b LEFT JOIN waitlist_entries w ON w.id = b.id
        WHERE b.offer AND b.event_id = ANY($1::bigint[])
          AND (w.id IS NULL OR w.status <> 'offered' OR w.user_id <> b.user_id
               OR w.event_id <> b.event_id OR w.quantity <> b.quantity)""",
    "I7 offered entry without its offer": """
        SELECT w.id AS entry_id, w.user_id FROM waitlist_entries w
        LEFT JOIN bookings b ON b.id = w.id
        WHERE w.status = 'offered' AND w.event_id = ANY($1::bigint[])
          AND (b.id IS NULL OR NOT b.offer)""",
}


@dataclass
class InvariantReport:
    """Violations found, by invariant name; `ok` when there are none."""

    violations: dict[str, list[dict[str, object]]] = field(default_factory=dict)
    #: Tickets checked in at the door among the events checked (C1 and C2 hold for each).
    checked_in: int = 0

    @property
    def ok(self) -> bool:
        """True when every invariant holds."""
        return not any(self.violations.values())

    def __str__(self) -> str:
        if self.ok:
            return f"all invariants hold ({self.checked_in} tickets checked in)"
        return "; ".join(f"{k}: {v[:5]}" for k, v in self.violations.items() if v)


async def check_invariants(db: asyncpg.Pool | asyncpg.Connection,
                           event_ids: list[EventId] | None = None) -> InvariantReport:
    """Check I1, I5, I6, I7, C1 and C2 for these events (all events when None), and count
    their tickets checked in."""
    if event_ids is None:
        event_ids = [r["id"] for r in await db.fetch("SELECT id FROM events")]
    report = InvariantReport()
    for name, sql in _CHECKS.items():
        rows = await db.fetch(sql, event_ids)
        report.violations[name] = [dict(r.items()) for r in rows]
    report.checked_in = int(await db.fetchval(
        "SELECT count(*) FROM tickets WHERE event_id = ANY($1::bigint[])"
        " AND checked_in_at IS NOT NULL", event_ids))
    return report


@dataclass
class AnswerReport:
    """Answers the database does not bear out, by booking id; `ok` when there are none."""

    unfinished: list[str] = field(default_factory=list)
    differs: list[str] = field(default_factory=list)
    not_rejected: list[str] = field(default_factory=list)
    done_after_refusal: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every answer is borne out."""
        return not (self.unfinished or self.differs or self.not_rejected
                    or self.done_after_refusal)

    def violations(self) -> list[str]:
        """One line per kind of broken promise (the surge report prints these)."""
        lines = []
        if self.unfinished:
            lines.append(f"I3: {len(self.unfinished)} accepted requests have no outcome")
        if self.differs:
            lines.append(f"I2: {len(self.differs)} confirmed bookings differ in the database,"
                         f" e.g. {self.differs[:3]}")
        if self.not_rejected:
            lines.append(f"I3: {len(self.not_rejected)} refused bookings are not stored"
                         f" rejected, e.g. {self.not_rejected[:3]}")
        if self.done_after_refusal:
            lines.append(f"503: {len(self.done_after_refusal)} bookings exist although their"
                         f" request was told 'not done', e.g. {self.done_after_refusal[:3]}")
        return lines

    def __str__(self) -> str:
        return "; ".join(self.violations()) or "every answer is in the database"


def all_refused(attempts: Iterable[tuple[str | None, int]]) -> list[str]:
    """Of (Idempotency-Key, status) pairs, the keys every attempt of which was answered 503."""
    statuses: dict[str, set[int]] = {}
    for key, status in attempts:
        if key is not None:
            statuses.setdefault(key, set()).add(status)
    return [key for key, seen in statuses.items() if seen == {503}]


async def check_answers(db: asyncpg.Pool | asyncpg.Connection, *,
                        shown: Mapping[str, Iterable[str]], accepted: Collection[str] = (),
                        rejected: Collection[str] = (), cancelled: Collection[str] = (),
                        cancel_unknown: Collection[str] = (),
                        refused: Collection[str] = (), refused_keys: Collection[str] = (),
                        settle_seconds: float = 0.0) -> AnswerReport:
    """Check what clients were told, by booking id, against the database.

    `shown`: each 201 and the ticket codes it showed; `accepted`: each 202; `rejected`: each
    409/422 that carried a booking (decided, so stored); `cancelled`: 201s the client itself
    cancelled since (answered 200); `cancel_unknown`: 201s whose cancellation the client
    asked for without learning its fate (202, no answer). I3: every one of them reaches a
    final outcome, waiting up to `settle_seconds` for the ones still being decided; then I2:
    a 201 is confirmed with exactly the codes shown — cancelled instead when its cancel was
    answered 200, either when that is unknown (a cancel answered 503 was not done: the
    booking stands) — and a refusal is stored rejected. `refused`:
    the booking ids named by 503s ("not done"), `refused_keys`: Idempotency-Keys (unique in
    the whole database, whoever's they are: the check does not know the users) every attempt
    of which was answered 503 — after the same wait, none of them may
    have a booking.
    """
    ids = sorted({*shown, *accepted, *rejected, *cancelled})
    deadline = time.monotonic() + settle_seconds
    while True:
        final = await db.fetchval(
            "SELECT count(*) FROM bookings WHERE id = ANY($1::uuid[])"
            " AND status IN ('confirmed', 'rejected', 'cancelled', 'expired')", ids)
        if final == len(ids) or time.monotonic() >= deadline:
            break
        # The deciding actors may run in other processes: nothing to await but the database.
        await asyncio.sleep(0.2)
    rows = {str(r["id"]): r for r in await db.fetch(
        "SELECT b.id, b.status, array_agg(t.code ORDER BY t.code)"
        " FILTER (WHERE t.id IS NOT NULL) AS codes"
        " FROM bookings b LEFT JOIN tickets t ON t.booking_id = b.id"
        " WHERE b.id = ANY($1::uuid[]) GROUP BY b.id", ids)}
    report = AnswerReport(unfinished=[i for i in ids if i not in rows])
    for booking_id, codes in shown.items():
        row = rows.get(booking_id)
        stands = row is not None and row["status"] == "confirmed" and list(
            row["codes"] or ()) == sorted(codes)
        gone = row is not None and row["status"] == "cancelled"
        if booking_id in cancelled:
            stands = False
        elif booking_id not in cancel_unknown:
            gone = False
        if not (stands or gone):
            report.differs.append(booking_id)
    report.not_rejected = [i for i in rejected if i in rows and rows[i]["status"] != "rejected"]
    if refused:
        report.done_after_refusal = [str(r["id"]) for r in await db.fetch(
            "SELECT id FROM bookings WHERE id = ANY($1::uuid[])", sorted(set(refused)))]
    if refused_keys:
        report.done_after_refusal += [str(r["id"]) for r in await db.fetch(
            "SELECT b.id FROM idempotency_keys k JOIN bookings b ON b.id = k.booking_id"
            " WHERE k.key = ANY($1::text[])", sorted(set(refused_keys)))]
    return report
