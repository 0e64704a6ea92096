"""After a surge through a waiting room: check what the engine promised about it
(docs/design.md, "Waiting room"), from PostgreSQL and the buyers' traces.

- the admission order follows the rules — the pre-queue in its stored seed's order, then
  first in, first out, nobody twice, every used admission backed by a booking: the very
  checks of `ticketwar queue audit` (`ops/queue_audit.py`), per event;
- every join answered is an entry, and every entry of the run's events was a join answered;
- nobody booked without an admission: no account holds more accepted bookings of an event
  than admissions it used there, and no booking out of turn (a sneak) was accepted unless
  its buyer had been admitted before sending it;
- nobody was admitted after the sell-out, and the room closed at it;
- every seat sold: the event sold out (that no seat was sold twice is the main checker's).

Times. An admission is given at `admission_expires_at - admissionSeconds` (the actor's
clock); the sell-out is the `decided_at` of the last confirmed booking (PostgreSQL's `now()`
in the transaction that sold the last seat, which starts after the actor decided its batch:
an admission of any later batch is later than it); the closing is the room's `closed_at`
(the same transaction). A **status update** is a change of an entry's status whose moment
is known — the opening (`prequeue` → `waiting`, due at `saleStartsAt`), the admission, the
closing — and its latency is from that moment to when the buyer first saw the new status
(the client's wall clock; same host), by the channel that told it: its next poll, or its
stream.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from engine.storage.queue_rooms import audit_record
from ops.queue_audit import problems
from ops.surge.queue_rush import QueueRun
from ops.surge.record import Sample, percentile

_EVENTS = """
    SELECT e.id, e.capacity, e.sold, e.sale_starts_at, e.admission_seconds,
           r.closed_at,
           (SELECT max(b.decided_at) FROM bookings b
            WHERE b.event_id = e.id AND b.status = 'confirmed') AS last_sale
    FROM events e LEFT JOIN queue_rooms r ON r.event_id = e.id
    WHERE e.id = ANY($1::bigint[]) ORDER BY e.id"""
_ENTRIES = """
    SELECT id::text AS id, event_id, user_id, join_no, prequeued, status, admit_no,
           admission_expires_at
    FROM queue_entries WHERE event_id = ANY($1::bigint[]) ORDER BY event_id, join_no"""
#: Accepted bookings beyond the admissions their account used at the event.
_UNADMITTED = """
    SELECT coalesce(sum(b.n - (SELECT count(*) FROM queue_entries q
                               WHERE q.event_id = b.event_id AND q.user_id = b.user_id
                               AND q.status = 'used')), 0)
    FROM (SELECT event_id, user_id, count(*) AS n FROM bookings
          WHERE event_id = ANY($1::bigint[]) AND status <> 'rejected'
          GROUP BY event_id, user_id) b
    WHERE b.n > (SELECT count(*) FROM queue_entries q WHERE q.event_id = b.event_id
                 AND q.user_id = b.user_id AND q.status = 'used')"""
#: The channels a buyer learns a change by.
CHANNELS = ("poll", "stream")


@dataclass
class QueueReport:
    """The waiting room of a run, and what broke."""

    buyers: int = 0
    joined: int = 0
    #: Joins refused, by error code (`waiting_room_needs_queued`: a strategy without actors).
    joins_refused: Counter[str] = field(default_factory=Counter)
    #: Joins answered 201 per second, from the first answer to the last: what the room
    #: absorbed of the rate the crowd sent them at (`offered_joins_per_s`, from the first
    #: sent to the last).
    joins_per_s: float = 0.0
    offered_joins_per_s: float = 0.0
    join_p99_ms: float = 0.0
    prequeued: int = 0
    later: int = 0
    admitted: int = 0
    used: int = 0
    admitted_after_sellout: int = 0
    #: Seconds from the opening (`saleStartsAt`) to the sell-out; None if not sold out.
    sellout_s: float | None = None
    polls: int = 0
    poll_p99_ms: float = 0.0
    pushes: int = 0
    #: Seconds from each status change to its buyer seeing it, by channel.
    updates: dict[str, list[float]] = field(
        default_factory=lambda: {c: [] for c in CHANNELS})
    sneaks: int = 0
    sneaks_refused: int = 0
    #: Sneaks accepted because their buyer had been admitted just before sending them.
    sneaks_admitted_first: int = 0
    #: Of the admitted pre-queued entries, the share that joined in the first half of the
    #: pre-queue: about a half when arriving early gave no advantage.
    early_share: float | None = None
    unfinished: int = 0
    violations: list[str] = field(default_factory=list)

    def update_ms(self, q: float, channel: str) -> float:
        """The q-th percentile of a status update's latency by `channel`, in milliseconds."""
        return percentile(self.updates[channel], q) * 1000

    def to_json(self) -> dict[str, Any]:
        """The machine-readable part of the report."""
        return {"buyers": self.buyers, "joined": self.joined,
                "joins_refused": dict(self.joins_refused),
                "joins_per_s": round(self.joins_per_s, 1),
                "offered_joins_per_s": round(self.offered_joins_per_s, 1),
                "join_p99_ms": round(self.join_p99_ms, 1),
                "prequeued": self.prequeued, "later": self.later,
                "admitted": self.admitted, "used": self.used,
                "admitted_after_sellout": self.admitted_after_sellout,
                "sellout_s": None if self.sellout_s is None else round(self.sellout_s, 3),
                "polls": self.polls, "poll_p99_ms": round(self.poll_p99_ms, 1),
                "pushes": self.pushes,
                "updates": {c: len(v) for c, v in self.updates.items()},
                "update_p50_ms": {c: round(self.update_ms(50, c), 1) for c in CHANNELS},
                "update_p99_ms": {c: round(self.update_ms(99, c), 1) for c in CHANNELS},
                "sneaks": self.sneaks, "sneaks_refused": self.sneaks_refused,
                "sneaks_admitted_first": self.sneaks_admitted_first,
                "early_share": None if self.early_share is None else round(
                    self.early_share, 3),
                "unfinished": self.unfinished}


def _rate(answers: Sequence[float]) -> float:
    """Answers per second from the first to the last."""
    span = max(answers) - min(answers) if answers else 0.0
    return len(answers) / span if span > 0 else 0.0


async def check_queue(pool: asyncpg.Pool, events: Sequence[int], samples: Sequence[Sample],
                      run: QueueRun) -> QueueReport:
    """Check the run's waiting rooms (after the main checker's settling: nothing pending)."""
    ids = list(events)
    rooms = await pool.fetch(_EVENTS, ids)
    entries = await pool.fetch(_ENTRIES, ids)
    report = QueueReport(buyers=run.buyers, pushes=run.pushes, unfinished=run.unfinished)
    v = report.violations
    _joins(report, samples, run, entries)
    for room in rooms:
        record = await audit_record(pool, room["id"])
        if record is None:
            v.append(f"event {room['id']}: nobody joined its waiting room")
            continue
        v += [f"event {room['id']}: {p}" for p in problems(record)]
    admitted_at = {r["id"]: r["admission_expires_at"] - timedelta(
        seconds=next(e["admission_seconds"] for e in rooms if e["id"] == r["event_id"]))
        for r in entries if r["admit_no"] is not None and r["admission_expires_at"]}
    report.admitted, report.used = len(admitted_at), sum(r["status"] == "used" for r in entries)
    _sell_out(report, rooms, entries, admitted_at)
    unadmitted = int(await pool.fetchval(_UNADMITTED, ids))
    if unadmitted:
        v.append(f"{unadmitted} bookings by accounts without a used admission")
    _sneaks(report, run, admitted_at)
    _updates(report, run, rooms, entries, admitted_at)
    report.early_share = _early_share(entries)
    refused = [t for t in run.traces if t.poll_refused is not None]
    if refused:
        v.append(f"{len(refused)} buyers were refused their place, e.g."
                 f" {[t.poll_refused for t in refused[:3]]}")
    return report


def _joins(report: QueueReport, samples: Sequence[Sample], run: QueueRun,
           entries: Sequence[Any]) -> None:
    joins = [s for s in samples if s.kind == "queue-join"]
    answered = [s.start_s + s.latency_ms / 1000 for s in joins if s.status == 201]
    report.joins_per_s = _rate(answered)
    report.join_p99_ms = percentile([s.latency_ms for s in joins if s.status == 201], 99)
    # Sent per second from the first to the last (retries after a 429 or 503 included):
    # the rate the crowd offered, over the same kind of span as the answers'.
    report.offered_joins_per_s = _rate([s.start_s for s in joins])
    polls = [s for s in samples if s.kind == "queue-poll"]
    report.polls = len(polls)
    report.poll_p99_ms = percentile([s.latency_ms for s in polls if s.status == 200], 99)
    report.joins_refused = Counter(t.join_error or str(t.join_status) for t in run.traces
                                   if t.join_status not in (200, 201, 202))
    joined = {t.queue_id for t in run.traces if t.queue_id is not None}
    report.joined = len(joined)
    stored = {r["id"] for r in entries}
    report.prequeued = sum(r["prequeued"] for r in entries)
    report.later = len(entries) - report.prequeued
    if joined - stored:
        report.violations.append(f"{len(joined - stored)} joins answered have no entry")
    # An account whose join went unanswered or pending, then was refused (the room closed
    # meanwhile), may hold an entry it never heard of: that is no lost answer.
    unsure = {t.user_id for t in run.traces if t.join_unsure and t.queue_id is None}
    unheard = {r["id"] for r in entries if r["id"] not in joined and r["user_id"] not in unsure}
    if unheard:
        report.violations.append(f"{len(unheard)} entries no join of the run was"
                                 " answered with")


def _sell_out(report: QueueReport, rooms: Sequence[Any], entries: Sequence[Any],
              admitted_at: dict[str, datetime]) -> None:
    """Sold out, closed at it, nobody admitted after it; the time it took."""
    v, took = report.violations, []
    for room in rooms:
        if room["sold"] < room["capacity"] or room["last_sale"] is None:
            v.append(f"event {room['id']} did not sell out: "
                     f"{room['capacity'] - room['sold']} of {room['capacity']} seats left")
            continue
        sold_out = room["last_sale"]
        took.append((sold_out - room["sale_starts_at"]).total_seconds())
        if room["closed_at"] is None:
            v.append(f"event {room['id']}: its room did not close at the sell-out")
        late = [r["id"] for r in entries if r["event_id"] == room["id"]
                and r["id"] in admitted_at and admitted_at[r["id"]] > sold_out]
        report.admitted_after_sellout += len(late)
        if late:
            v.append(f"event {room['id']}: {len(late)} admissions given after the sell-out,"
                     f" e.g. {late[:3]}")
    report.sellout_s = max(took) if took and len(took) == len(rooms) else None


def _sneaks(report: QueueReport, run: QueueRun, admitted_at: dict[str, datetime]) -> None:
    """Bookings out of turn: refused, or accepted only for a buyer admitted before."""
    out_of_turn = []
    for t in run.traces:
        if t.sneak_answer is None or t.sneaked_at is None:
            continue
        report.sneaks += 1
        status, error = t.sneak_answer
        if status == 403 and error == "admission_required":
            report.sneaks_refused += 1
        elif status in (201, 202):
            given = admitted_at.get(t.queue_id or "")
            if given is not None and given.timestamp() <= t.sneaked_at:
                report.sneaks_admitted_first += 1
            else:
                out_of_turn.append(t.index)
    if out_of_turn:
        report.violations.append(f"{len(out_of_turn)} bookings out of turn were accepted"
                                 " without an admission given before them")


def _updates(report: QueueReport, run: QueueRun, rooms: Sequence[Any],
             entries: Sequence[Any], admitted_at: dict[str, datetime]) -> None:
    """Each status change a buyer saw, from the moment it was made."""
    by_id = {r["id"]: r for r in entries}
    by_event = {r["id"]: r for r in rooms}
    for t in run.traces:
        entry = by_id.get(t.queue_id or "")
        if entry is None:
            continue
        room = by_event[entry["event_id"]]
        for status, at, channel in t.seen:
            made: datetime | None = None
            if status == "waiting" and entry["prequeued"]:
                made = room["sale_starts_at"]
            elif status == "admitted":
                made = admitted_at.get(entry["id"])
            elif status == "closed":
                made = room["closed_at"]
            if made is not None:
                report.updates[channel].append(max(0.0, at - made.timestamp()))


def _early_share(entries: Sequence[Any]) -> float | None:
    """Of the admitted pre-queued entries, the share from the first half of the pre-queue
    (per event, in join order)."""
    halves: list[bool] = []
    for event in {r["event_id"] for r in entries}:
        pre = [r for r in entries if r["event_id"] == event and r["prequeued"]]
        halves += [k < len(pre) / 2 for k, r in enumerate(pre) if r["admit_no"] is not None]
    return sum(halves) / len(halves) if halves else None
