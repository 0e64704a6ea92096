"""How a surge's clients behave in front of several gateways, as real ones do behind a
load balancer that lost a backend: each buyer has a home gateway, and a request that failed
or got no answer is sent again — with the same Idempotency-Key — at the next gateway.

What counts as failed: no answer at all (the connection refused, reset or silent past the
attempt's timeout) or a 502/503/504. A 503 means "not done, retry" (docs/api.md); a silent
gateway may or may not have passed the request on, which is exactly why the retry carries
the same key. Other answers (201, 202, 409, 422, 429, even a 500) are final: a client does
not resend a decision, and a 500 is a defect the report must show, not hide.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Answers a client sends again at another gateway; 0 is "no answer".
RESENT_STATUSES = frozenset({0, 502, 503, 504})


@dataclass(frozen=True)
class Failover:
    """The clients' retry policy over several gateways."""

    #: Attempts per request, the first included.
    attempts: int = 12
    #: A request still unanswered after this long is given up at that gateway. Longer than
    #: the gateway's own wait for a decision (BOOKING_WAIT_SECONDS, 5 s by default), after
    #: which a live gateway answers 202: only a gateway that is away stays silent this long.
    attempt_seconds: float = 10.0
    #: A connection not established in this long is a gateway that is away.
    connect_seconds: float = 3.0
    #: The first pause before a resend; doubled each time, never above `max_pause_seconds`.
    first_pause_seconds: float = 0.2
    max_pause_seconds: float = 2.0
    #: No resend starts this long after the request was first due.
    budget_seconds: float = 60.0

    def resends(self, status: int, attempt: int, elapsed_s: float) -> bool:
        """Whether the `attempt`-th try (from 0), answered `status`, is sent again."""
        return (status in RESENT_STATUSES and attempt + 1 < self.attempts
                and elapsed_s < self.budget_seconds)

    def pause(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before the resend that follows the `attempt`-th try: the
        gateway's Retry-After when it gave one, else a doubling backoff; capped either way
        (the next gateway may well be fine)."""
        backoff = self.first_pause_seconds * 2 ** attempt
        return min(retry_after if retry_after is not None else backoff, self.max_pause_seconds)


def gateway_for(home: int, attempt: int, gateways: int) -> int:
    """The gateway the `attempt`-th try of a buyer with home gateway `home` goes to: home
    first, then each other in turn."""
    return (home + attempt) % gateways


def retry_after(value: str | None) -> float | None:
    """A Retry-After header's seconds (the delta form; the engine sends no dates)."""
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
