"""What happened to each request, and the statistics drawn from it."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

#: Sample kinds that are booking requests: what the statistics and the progress count.
BOOKING_KINDS = frozenset({"book", "retry", "bot"})
#: Sample kinds of a hold's payment: paid in time, with a declined token, or so late that the
#: money comes after the deadline.
PAY_KINDS = ("pay", "declined-pay", "late-pay")


@dataclass(frozen=True, slots=True)
class Sample:
    """One request: what it was, when it was due, how long it took, how it ended."""

    kind: str            # "book", "retry", "cancel", "bot"; a hold's payment: "pay",
                         # "declined-pay", "late-pay" (see load.py)
    status: int          # HTTP status; 0 for a connection error
    start_s: float       # when it was due, seconds since the run started
    latency_ms: float    # from when it was due (open model: no coordinated omission)
    booking_id: str | None = None
    quantity: int = 0
    error: str | None = None
    confirmed_codes: tuple[str, ...] = ()
    key: str | None = None  # the Idempotency-Key sent
    booking_status: str | None = None  # the booking's status in the answer ("held", ...)
    gateway: int = 0  # which of the run's gateways it was sent to (failover.py)
    attempt: int = 0  # 0 for the request itself, n for its n-th resend (failover.py)
    final: bool = True  # the request's last attempt: its answer is what the client kept


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by the nearest-rank method; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Stats:
    """The numbers a report shows."""

    requests: int
    statuses: Counter[int]
    errors: Counter[str]
    duration_s: float
    throughput_rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    confirmed_p99_ms: float
    local_rejections: int = 0
    timeline: list[tuple[float, int, float, float]] = field(default_factory=list)
    selling: SellingPhase | None = None


@dataclass(frozen=True)
class SellingPhase:
    """From the first confirmed booking to the last: the part of a surge that sells.

    Times are when the answers arrived, in seconds since the run started. On a hot event the
    last 201 is the sell-out; after it every answer is a rejection, which the overall
    throughput mixes in — this is the rate at which seats were actually sold.
    """

    start_s: float
    end_s: float
    seats: int
    bookings: int

    @property
    def seats_per_s(self) -> float:
        """Seats confirmed per second over the phase."""
        span = self.end_s - self.start_s
        return self.seats / span if span > 0 else 0.0

    @property
    def bookings_per_s(self) -> float:
        """Bookings confirmed per second over the phase."""
        span = self.end_s - self.start_s
        return self.bookings / span if span > 0 else 0.0


def selling_phase(samples: Sequence[Sample]) -> SellingPhase | None:
    """The selling phase of a run, None when nothing was confirmed."""
    confirmed = [s for s in samples if s.status == 201 and s.kind in BOOKING_KINDS]
    if not confirmed:
        return None
    answered = [s.start_s + s.latency_ms / 1000 for s in confirmed]
    # A replayed key answers 201 again for the same booking: count each booking once.
    quantity = {s.booking_id: s.quantity for s in confirmed}
    return SellingPhase(min(answered), max(answered), sum(quantity.values()), len(quantity))


def summarize(samples: Sequence[Sample], duration_s: float, bucket_s: float = 0.1) -> Stats:
    """Counts, throughput and latency percentiles; a timeline of (t, answered, p50, p99)."""
    answered = [s for s in samples if s.kind in BOOKING_KINDS]
    latencies = [s.latency_ms for s in answered]
    confirmed = [s.latency_ms for s in answered if s.status == 201]
    buckets: dict[int, list[float]] = {}
    for s in answered:
        buckets.setdefault(int((s.start_s + s.latency_ms / 1000) / bucket_s), []).append(
            s.latency_ms)
    timeline = [(b * bucket_s, len(v), percentile(v, 50), percentile(v, 99))
                for b, v in sorted(buckets.items())]
    return Stats(
        requests=len(answered), statuses=Counter(s.status for s in answered),
        errors=Counter(s.error for s in answered if s.error),
        duration_s=duration_s,
        throughput_rps=len(answered) / duration_s if duration_s > 0 else 0.0,
        p50_ms=percentile(latencies, 50), p95_ms=percentile(latencies, 95),
        p99_ms=percentile(latencies, 99), confirmed_p99_ms=percentile(confirmed, 99),
        # A 409 that carries no booking was answered by the gateway's stock view: no hop.
        local_rejections=sum(s.status == 409 and s.booking_id is None for s in answered),
        timeline=timeline, selling=selling_phase(samples))
