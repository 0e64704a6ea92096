"""After a surge with a waiting list: check what the engine promised about it (docs/design.md,
"Waiting list"), from PostgreSQL once every offer has ended.

- every join answered 201 is an entry, and every entry of the run's events was answered so
  (or not answered at all);
- offers went to the list in join order: no offer was made while an earlier entry whose
  quantity fits it was still waiting (the first entry whose quantity fits the seats);
- every offer ended: taken (confirmed), or expired or declined and passed on — in the very
  transaction that ended it, an offer was made on the event, unless no waiting entry fitted;
- every seat finally sold or free, and no seat left free while an entry that fits waits.

(`sold + held <= capacity` throughout is the hold sampler's, `holds.py`.) Offers are timed
by their transactions: an offer's booking is created in the transaction that returned its
seats (its `created_at`, PostgreSQL's `now()`, is that transaction's start), so from each
return — a cancel as its request was sent, an unused offer at its deadline — to the offer
made for it is the engine's reaction, the request's hop included for a cancel.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from ops.surge.record import Sample, percentile
from ops.surge.waitlist_rush import WaitlistRun

_ENTRIES = """
    SELECT w.id::text AS id, w.event_id, w.quantity, w.seq, w.status, w.joined_at,
           w.updated_at, b.status AS offer_status, b.created_at AS offered_at,
           b.decided_at AS ended_at, b.expires_at
    FROM waitlist_entries w LEFT JOIN bookings b ON b.id = w.id AND b.offer
    WHERE w.event_id = ANY($1::bigint[])
    ORDER BY w.event_id, w.seq"""
_CANCELS = """
    SELECT id::text AS id, event_id, decided_at FROM bookings
    WHERE id = ANY($1::uuid[]) AND status = 'cancelled'"""
_SEATS = "SELECT id, capacity - sold - held AS free FROM events WHERE id = ANY($1::bigint[])"


@dataclass
class WaitlistReport:
    """The waiting list of a run, and what broke."""

    joined: int = 0
    joins_refused: int = 0
    #: The refused joins' error codes (`waitlist_needs_queued`: a strategy without actors).
    refusals: Counter[str] = field(default_factory=Counter)
    #: Joins answered 201 per second, from the first answer to the last.
    joins_per_s: float = 0.0
    offers: int = 0
    taken: int = 0
    expired: int = 0
    declined: int = 0
    waiting: int = 0
    #: Offers made per second, from the first to the last (expiry rounds included).
    offers_per_s: float = 0.0
    #: Offers made per second by the transactions that also decided cancels (the burst of
    #: returns), from the first such to the last.
    burst_offers_per_s: float = 0.0
    #: Seconds from each cancel's request (as sent) to the offer made for its seats.
    cancel_to_offer: list[float] = field(default_factory=list)
    #: Seconds from each unused offer's deadline to the offer that passed its seats on.
    expiry_to_offer: list[float] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)

    def reaction_ms(self, q: float, *, expiry: bool = False) -> float:
        """The q-th percentile of cancel -> offer (or expiry -> offer), in milliseconds."""
        return percentile(self.expiry_to_offer if expiry else self.cancel_to_offer, q) * 1000

    def to_json(self) -> dict[str, Any]:
        """The machine-readable part of the report."""
        return {"joined": self.joined, "joins_refused": self.joins_refused,
                "joins_per_s": round(self.joins_per_s, 1),
                "offers": self.offers, "taken": self.taken, "expired": self.expired,
                "declined": self.declined, "waiting": self.waiting,
                "offers_per_s": round(self.offers_per_s, 1),
                "burst_offers_per_s": round(self.burst_offers_per_s, 1),
                "cancel_to_offer_p50_ms": round(self.reaction_ms(50), 1),
                "cancel_to_offer_p99_ms": round(self.reaction_ms(99), 1),
                "expiry_to_offer_p50_ms": round(self.reaction_ms(50, expiry=True), 1),
                "expiry_to_offer_p99_ms": round(self.reaction_ms(99, expiry=True), 1)}


def _t(value: datetime | None) -> float:
    return math.inf if value is None else value.timestamp()


async def check_waitlist(pool: asyncpg.Pool, events: Sequence[int], samples: Sequence[Sample],
                         run: WaitlistRun) -> WaitlistReport:
    """Check the run's waiting lists (after `holds.settle`: no offer open any more)."""
    ids = list(events)
    rows = await pool.fetch(_ENTRIES, ids)
    report = WaitlistReport(waiting=sum(r["status"] == "waiting" for r in rows))
    v = report.violations
    joins = [s for s in samples if s.kind == "join"]
    answered = {s.booking_id for s in joins if s.status == 201}
    report.joined = len(answered)
    report.refusals = Counter(s.error or str(s.status) for s in joins
                              if s.status not in (0, 201, 202))
    report.joins_refused = sum(report.refusals.values())
    answers = [s.start_s + s.latency_ms / 1000 for s in joins if s.status == 201]
    if len(answers) > 1 and max(answers) > min(answers):
        report.joins_per_s = len(answers) / (max(answers) - min(answers))
    unsure = {s.booking_id for s in joins if s.status in (0, 202)}
    stored = {r["id"] for r in rows}
    if answered - stored:
        v.append(f"{len(answered - stored)} joins answered 201 have no entry")
    if stored - answered - unsure:
        v.append(f"{len(stored - answered - unsure)} entries no join of the run was answered"
                 " with")
    offers = [r for r in rows if r["status"] == "offered"]
    ended = Counter(r["offer_status"] for r in offers)
    report.offers, report.taken = len(offers), ended["confirmed"]
    report.expired, report.declined = ended["expired"], ended["cancelled"]
    open_ = [r["id"] for r in offers if r["offer_status"] not in ("confirmed", "expired",
                                                                   "cancelled")]
    if open_:
        v.append(f"{len(open_)} offers neither taken nor expired (or without their booking),"
                 f" e.g. {open_[:3]}")
    if offers:
        times = [_t(r["offered_at"]) for r in offers]
        span = max(times) - min(times)
        report.offers_per_s = len(offers) / span if span > 0 else 0.0
    _check_order(rows, v)
    _check_passed_on(rows, v)
    for r in await pool.fetch(_SEATS, ids):
        fits = [w["quantity"] for w in rows
                if w["event_id"] == r["id"] and w["status"] == "waiting"]
        if r["free"] > 0 and fits and min(fits) <= r["free"]:
            v.append(f"event {r['id']}: {r['free']} seats free while an entry for"
                     f" {min(fits)} waits")
    cancels = await pool.fetch(_CANCELS, list(run.cancels_sent))
    report.cancel_to_offer, report.expiry_to_offer = _reactions(rows, cancels, run)
    burst = {(c["event_id"], c["decided_at"]) for c in cancels}
    in_burst = [_t(r["offered_at"]) for r in offers
                if (r["event_id"], r["offered_at"]) in burst]
    if len(in_burst) > 1 and max(in_burst) > min(in_burst):
        report.burst_offers_per_s = len(in_burst) / (max(in_burst) - min(in_burst))
    return report


def _check_order(rows: Sequence[Any], v: list[str]) -> None:
    """No offer while an earlier entry that fits it still waited: sweeping each event's
    entries in join order, the latest time an earlier entry of each quantity stopped
    waiting (offered or left; never: infinity) must not come after an offer's."""
    skipped: list[str] = []
    latest: dict[tuple[int, int], float] = {}
    for r in rows:
        event, served = r["event_id"], _t(r["updated_at"] if r["status"] != "waiting" else None)
        if r["status"] == "offered":
            if any(t > served for (e, q), t in latest.items()
                   if e == event and q <= r["quantity"]):
                skipped.append(r["id"])
        key = (event, r["quantity"])
        latest[key] = max(latest.get(key, -math.inf), served)
    if skipped:
        v.append(f"{len(skipped)} offers made while an earlier entry that fits waited,"
                 f" e.g. {skipped[:3]}")


def _check_passed_on(rows: Sequence[Any], v: list[str]) -> None:
    """Each offer that expired or was declined was offered on in the transaction that ended
    it, unless no entry then waiting fitted its seats."""
    made = {(r["event_id"], r["offered_at"]) for r in rows if r["status"] == "offered"}
    lost = []
    for x in rows:
        if x["offer_status"] not in ("expired", "cancelled"):
            continue
        event, t = x["event_id"], x["ended_at"]
        if (event, t) in made:
            continue
        waiting = [w["id"] for w in rows if w["event_id"] == event
                   and w["quantity"] <= x["quantity"] and w["joined_at"] < t
                   and _t(w["updated_at"] if w["status"] != "waiting" else None) > _t(t)]
        if waiting:
            lost.append(x["id"])
    if lost:
        v.append(f"{len(lost)} offers ended without passing on to a waiting entry that fits,"
                 f" e.g. {lost[:3]}")


def _reactions(rows: Sequence[Any], cancels: Sequence[Any],
               run: WaitlistRun) -> tuple[list[float], list[float]]:
    """Seconds from each return to its offer, cancels and expiries apart: in each
    transaction the returns (in the order they came) are paired with the offers it made (in
    join order)."""
    returns: dict[tuple[int, datetime], list[tuple[float, bool]]] = {}
    for c in cancels:
        returns.setdefault((c["event_id"], c["decided_at"]), []).append(
            (run.cancels_sent[c["id"]], False))
    for x in rows:
        if x["offer_status"] == "expired":
            returns.setdefault((x["event_id"], x["ended_at"]), []).append(
                (x["expires_at"].timestamp(), True))
    offered: dict[tuple[int, datetime], list[float]] = {}
    for r in rows:  # in join order
        if r["status"] == "offered":
            offered.setdefault((r["event_id"], r["offered_at"]), []).append(
                r["offered_at"].timestamp())
    by_cancel, by_expiry = [], []
    for key, times in offered.items():
        for (moment, expiry), at in zip(sorted(returns.get(key, ())), times, strict=False):
            (by_expiry if expiry else by_cancel).append(max(0.0, at - moment))
    return sorted(by_cancel), sorted(by_expiry)
