"""Reports: a table on the terminal and JSON for machines (the HTML page: chart.py)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from engine.errors import PaidNeedsQueued, WaitingRoomNeedsQueued
from ops.surge.checker import Verdict
from ops.surge.cpu import COMPONENTS, CpuShare
from ops.surge.holds import HoldReport
from ops.surge.queue_check import QueueReport
from ops.surge.record import SellingPhase, Stats
from ops.surge.waitlist_check import WaitlistReport

STATUSES = (200, 201, 202, 409, 422, 429, 503)


@dataclass
class RunResult:
    """One scenario run against one strategy."""

    scenario: str
    strategy: str
    stats: Stats
    verdict: Verdict
    cpu: CpuShare | None = None
    #: Why the gateway refused the scenario outright (`paid_needs_queued`: a strategy
    #: without actors cannot expire a hold; `waiting_room_needs_queued`: nor keep a line),
    #: or None.
    refused: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The machine-readable report row."""
        s, v = self.stats, self.verdict
        return {
            "scenario": self.scenario, "strategy": self.strategy, "requests": s.requests,
            "confirmed_seats": v.confirmed_seats, "oversold_seats": v.oversold_seats,
            "throughput_rps": round(s.throughput_rps, 1), "p50_ms": round(s.p50_ms, 2),
            "p95_ms": round(s.p95_ms, 2), "p99_ms": round(s.p99_ms, 2),
            "confirmed_p99_ms": round(s.confirmed_p99_ms, 2),
            "local_rejections": s.local_rejections,
            "duration_s": round(s.duration_s, 2),
            "statuses": {str(k): n for k, n in sorted(s.statuses.items())},
            "invariants_ok": v.invariants_ok, "violations": v.violations,
            "cpu": self.cpu.to_json() if self.cpu is not None else None,
            "selling": _selling_json(s),
            "refused": self.refused,
            "holds": _holds_json(self),
            "waitlist": v.waitlist.to_json() if v.waitlist is not None else None,
            "queue": v.queue.to_json() if v.queue is not None else None,
            # (answered at s, answers, p50 ms, p99 ms) per 0.1 s: where in the run it was slow
            "timeline": [[round(t, 2), n, round(p50, 1), round(p99, 1)]
                         for t, n, p50, p99 in s.timeline],
        }


def _holds_json(r: RunResult) -> dict[str, Any] | None:
    holds = r.verdict.holds
    if holds is None:
        return None
    selling = r.stats.selling
    # On a paid event a 201 is a hold: the selling phase is the phase of holds taken.
    return {**holds.to_json(),
            "holds_per_s": round(selling.bookings_per_s, 1) if selling is not None else None}


def _selling_json(s: Stats) -> dict[str, Any] | None:
    if s.selling is None:
        return None
    p = s.selling
    return {"first_201_s": round(p.start_s, 3), "last_201_s": round(p.end_s, 3),
            "duration_s": round(p.end_s - p.start_s, 3),
            "seats": p.seats, "bookings": p.bookings,
            "seats_per_s": round(p.seats_per_s, 1), "bookings_per_s": round(p.bookings_per_s, 1)}


def _selling_rows(results: Sequence[RunResult]) -> list[tuple[str, list[str]]]:
    def each(show: Callable[[SellingPhase], str]) -> list[str]:
        return [show(r.stats.selling) if r.stats.selling is not None else "–" for r in results]

    return [("selling: seats/s", each(lambda p: f"{p.seats_per_s:,.0f}")),
            ("selling: bookings/s", each(lambda p: f"{p.bookings_per_s:,.0f}")),
            ("last 201 at s", each(lambda p: f"{p.end_s:.2f}"))]


def table_rows(results: Sequence[RunResult]) -> list[tuple[str, list[str]]]:
    """The report's rows: a name and one formatted value per run (the terminal table and
    the HTML page show the same)."""
    return [
        ("requests", [f"{r.stats.requests:,}" for r in results]),
        ("seats confirmed", [f"{r.verdict.confirmed_seats:,}" for r in results]),
        ("seats oversold", [f"{r.verdict.oversold_seats:,}" for r in results]),
        *[(str(code), [f"{r.stats.statuses.get(code, 0):,}" for r in results])
          for code in STATUSES],
        ("other/errors", [f"{sum(n for c, n in r.stats.statuses.items() if c not in STATUSES):,}"
                          for r in results]),
        ("throughput req/s", [f"{r.stats.throughput_rps:,.0f}" for r in results]),
        ("p50 ms", [f"{r.stats.p50_ms:.1f}" for r in results]),
        ("p95 ms", [f"{r.stats.p95_ms:.1f}" for r in results]),
        ("p99 ms", [f"{r.stats.p99_ms:.1f}" for r in results]),
        ("p99 ms (201 only)", [f"{r.stats.confirmed_p99_ms:.1f}" for r in results]),
        ("409 answered locally", [f"{r.stats.local_rejections:,}" for r in results]),
        *_selling_rows(results),
        *_hold_rows(results),
        *_waitlist_rows(results),
        *_queue_rows(results),
        ("invariants", ["OK" if r.verdict.invariants_ok else "VIOLATED" for r in results]),
        *_cpu_rows(results),
    ]


def _hold_rows(results: Sequence[RunResult]) -> list[tuple[str, list[str]]]:
    if all(r.verdict.holds is None for r in results):
        return []

    def each(show: Callable[[RunResult, HoldReport], str]) -> list[str]:
        return [show(r, r.verdict.holds) if r.verdict.holds is not None else "–"
                for r in results]

    return [
        ("holds taken", each(lambda _, h: f"{h.holds:,}")),
        ("holds taken/s", each(lambda r, _: "–" if r.stats.selling is None
                               else f"{r.stats.selling.bookings_per_s:,.0f}")),
        ("holds paid", each(lambda _, h: f"{h.paid:,}")),
        ("holds expired", each(lambda _, h: f"{h.expired:,}")),
        ("payments declined", each(lambda _, h: f"{h.declined:,}")),
        ("late payments refunded", each(lambda _, h: f"{h.late_refunded:,}")),
        ("expiry delay p50 ms", each(lambda _, h: f"{h.expiry_ms(50):.0f}")),
        ("expiry delay p99 ms", each(lambda _, h: f"{h.expiry_ms(99):.0f}")),
        ("expiry delay max ms", each(lambda _, h: f"{h.expiry_ms(100):.0f}")),
        ("seats sold / free", each(lambda _, h: f"{h.sold:,} / {h.free:,}")),
        ("sold+held samples", each(lambda _, h: f"{h.sampled.samples:,}")),
    ]


def _waitlist_rows(results: Sequence[RunResult]) -> list[tuple[str, list[str]]]:
    if all(r.verdict.waitlist is None for r in results):
        return []

    def each(show: Callable[[WaitlistReport], str]) -> list[str]:
        return [show(r.verdict.waitlist) if r.verdict.waitlist is not None else "–"
                for r in results]

    def p50_p99(w: WaitlistReport, expiry: bool) -> str:
        return (f"{w.reaction_ms(50, expiry=expiry):.0f} /"
                f" {w.reaction_ms(99, expiry=expiry):.0f}")

    return [
        ("waitlist joined", each(lambda w: f"{w.joined:,}")),
        ("joins/s", each(lambda w: f"{w.joins_per_s:,.0f}")),
        ("offers made", each(lambda w: f"{w.offers:,}")),
        ("offers taken / expired", each(lambda w: f"{w.taken:,} / {w.expired:,}")),
        ("offers/s (all / cancel burst)",
         each(lambda w: f"{w.offers_per_s:,.1f} / {w.burst_offers_per_s:,.0f}")),
        ("cancel -> offer p50 / p99 ms", each(lambda w: p50_p99(w, False))),
        ("expiry -> offer p50 / p99 ms", each(lambda w: p50_p99(w, True))),
        ("still waiting", each(lambda w: f"{w.waiting:,}")),
    ]


def _queue_rows(results: Sequence[RunResult]) -> list[tuple[str, list[str]]]:
    if all(r.verdict.queue is None for r in results):
        return []

    def each(show: Callable[[QueueReport], str]) -> list[str]:
        return [show(r.verdict.queue) if r.verdict.queue is not None else "–" for r in results]

    def p50_p99(q: QueueReport, channel: str) -> str:
        if not q.updates[channel]:
            return "–"
        return f"{q.update_ms(50, channel):,.0f} / {q.update_ms(99, channel):,.0f}"

    return [
        ("room joined (pre-queued)", each(lambda q: f"{q.joined:,} ({q.prequeued:,})")),
        ("joins/s absorbed / offered",
         each(lambda q: f"{q.joins_per_s:,.0f} / {q.offered_joins_per_s:,.0f}")),
        ("join p99 ms", each(lambda q: f"{q.join_p99_ms:,.0f}")),
        ("polls (p99 ms)", each(lambda q: f"{q.polls:,} ({q.poll_p99_ms:,.0f})")),
        ("update p50 / p99 ms, polled", each(lambda q: p50_p99(q, "poll"))),
        ("update p50 / p99 ms, pushed", each(lambda q: p50_p99(q, "stream"))),
        ("admitted / used", each(lambda q: f"{q.admitted:,} / {q.used:,}")),
        ("opening -> sell-out s", each(lambda q: "not sold out" if q.sellout_s is None
                                       else f"{q.sellout_s:.2f}")),
        ("admitted after sell-out", each(lambda q: f"{q.admitted_after_sellout:,}")),
        ("out of turn: tried / 403", each(lambda q: f"{q.sneaks:,} / {q.sneaks_refused:,}")),
        ("admitted from 1st half", each(lambda q: "–" if q.early_share is None
                                        else f"{q.early_share:.0%}")),
        ("still waiting at the end", each(lambda q: f"{q.unfinished:,}")),
    ]


#: What the table says of a strategy that refused a scenario outright (not a failure).
_REFUSED = {
    PaidNeedsQueued.code: "refused the scenario's paid events (409 paid_needs_queued): holds"
                          " need the queued strategy's actors to expire them; not a failure",
    WaitingRoomNeedsQueued.code: "keeps no waiting room (409 waiting_room_needs_queued for"
                                 " every join): the line lives in the queued strategy's"
                                 " actors; not a failure",
}


def table(results: Sequence[RunResult]) -> str:
    """Results side by side, one column per strategy."""
    rows = table_rows(results)
    heads = [r.strategy for r in results]
    width = max(len(h) for h, _ in rows)
    cols = [max(len(h), *(len(v[i]) for _, v in rows)) for i, h in enumerate(heads)]
    lines = [f"{results[0].scenario:<{width}}  " + "  ".join(
        h.rjust(c) for h, c in zip(heads, cols, strict=True))]
    lines.append("-" * len(lines[0]))
    for name, values in rows:
        lines.append(f"{name:<{width}}  " + "  ".join(
            v.rjust(c) for v, c in zip(values, cols, strict=True)))
    for r in results:
        if r.refused is not None:
            lines.append(f"- {r.strategy}: {_REFUSED.get(r.refused, r.refused)}")
        waited = r.verdict.waitlist
        if waited is not None and waited.refusals.get("waitlist_needs_queued"):
            lines.append(f"- {r.strategy}: keeps no waiting list (409 waitlist_needs_queued for"
                         f" {waited.refusals['waitlist_needs_queued']:,} joins): the list lives"
                         " in the queued strategy's actors; not a failure")
        for violation in r.verdict.violations:
            lines.append(f"! {r.strategy}: {violation}")
    return "\n".join(lines)


def _cpu_rows(results: Sequence[RunResult]) -> list[tuple[str, list[str]]]:
    if all(r.cpu is None for r in results):
        return []

    def each(show: Callable[[CpuShare], str]) -> list[str]:
        return [show(r.cpu) if r.cpu is not None else "–" for r in results]

    return [
        ("generator processes", each(lambda c: str(c.generator_processes))),
        ("generator CPU ms/req", each(lambda c: _ms(c.per_request_ms(c.generator_s)))),
        ("server CPU ms/req", each(lambda c: _ms(c.per_request_ms(c.server_s)))),
        ("services CPU ms/req", each(lambda c: _ms(c.per_request_ms(c.services_s)))),
        ("  of which gw / wk / pg / mq", each(_by_component)),
        ("generator CPU share", each(lambda c: "–" if c.generator_share is None
                                     else f"{c.generator_share:.0%}")),
    ]


def _by_component(cpu: CpuShare) -> str:
    """CPU ms per request of gateway, workers, PostgreSQL and RabbitMQ, `–` where unknown."""
    return " / ".join(_ms(cpu.per_request_ms(cpu.components.get(name)))
                      for name in COMPONENTS)


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"
