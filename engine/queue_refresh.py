"""How soon a waiting-room client should ask for its place again (`refreshAfterSeconds`),
chosen so that the polls a room draws stay bounded whatever the size of its crowd.

A client that does as told polls 1/r times a second, so a room draws the sum of 1/r over
its entries. A fixed r makes that grow with the crowd: 50,000 buyers told "10 s" are 5,000
polls a second, more than a gateway beside everything else on a small machine can serve —
and most of them are asking about a place that cannot have changed. So r grows with what
cannot change soon:

- **In line** at position p with an estimated wait w: r = max(w / 10, p / FRONT_POLLS),
  between 2 s and MAX_SECONDS. The front polls every 2 s; further back r grows with p, so the
  line draws about FRONT_POLLS × (2 + ln(W / (2 × FRONT_POLLS))) polls a second for W in
  line (≈ 410 for 50,000) instead of the W / 30 a fixed 30 s cap drew. Past
  MAX_SECONDS × FRONT_POLLS in line (15,000) each further entry adds 1 / MAX_SECONDS: a
  buyer far back still hears of the closing within five minutes without the stream.
- **In the pre-queue** of n people (nobody has a place until the shuffle):
  r = n / PREQUEUE_POLLS, between 10 s and MAX_SECONDS, so the whole pre-queue draws at most
  PREQUEUE_POLLS a second. A client whose next ask would come after the opening is asked back
  just after it instead, each at a random moment of the n / OPENING_POLLS seconds that follow,
  so the shuffled line is learnt at once but in a burst of at most OPENING_POLLS a second
  rather than all in the same instant.
- Admitted, a join still being decided, and finished entries: fixed (an admitted buyer is
  about to book; a finished one has nothing left to ask).

The stream pushes every status change and position band as it happens; these are only how
often a client that does not listen (or missed a push) looks again.
"""

from __future__ import annotations

import math
import random

#: Polls a second the line draws per e-fold of its length (see the module docstring).
FRONT_POLLS = 50
#: Polls a second the whole pre-queue draws before the opening, at most.
PREQUEUE_POLLS = 250
#: Polls a second of the burst just after the opening, at most.
OPENING_POLLS = 1000
#: Bounds, in seconds.
MIN_WAITING, MIN_PREQUEUE, MAX_SECONDS = 2, 10, 300
#: Fixed answers by status: admitted (booking soon), pending (a join being decided), and
#: everything finished.
ADMITTED, PENDING, FINISHED = 10, 2, 60


def _within(value: float, low: float, high: float) -> int:
    return math.ceil(max(low, min(high, value)))


def refresh_after(status: str, *, position: int | None = None, wait: int | None = None,
                  prequeued: int | None = None, opens_in: float | None = None,
                  rng: random.Random | None = None) -> int:
    """Seconds before a client with an entry of this `status` asks again: `position` and
    `wait` (estimated, in seconds) of one in line; `prequeued`, the pre-queue's size, and
    `opens_in`, seconds until the sale opens (None when not known), of one in it."""
    if status == "waiting":
        by_wait = (wait if wait is not None else 50) / 10
        return _within(max(by_wait, (position or 1) / FRONT_POLLS), MIN_WAITING, MAX_SECONDS)
    if status == "prequeue":
        crowd = max(prequeued or 0, 1)
        every = _within(crowd / PREQUEUE_POLLS, MIN_PREQUEUE, MAX_SECONDS)
        if opens_in is None or opens_in >= every:
            return every
        # The shuffle is due within this wait: come back just after it, spread out.
        spread = (rng or random).uniform(0, crowd / OPENING_POLLS)
        return math.ceil(max(opens_in, 0) + 1 + spread)
    if status == "admitted":
        return ADMITTED
    if status == "pending":
        return PENDING
    return FINISHED
