"""`refreshAfterSeconds` keeps a waiting room's polls bounded whatever its crowd (issue 14):
a full-size queue-rush (50,000 buyers told "10 s" in the pre-queue, "30 s" at most in line)
drew 3,000 polls a second and refused joins at the door. Here the rule's sums: what a room
of each size draws from clients that do as told."""

from __future__ import annotations

import math
import random

import pytest

from engine.queue_refresh import (
    FRONT_POLLS,
    MAX_SECONDS,
    OPENING_POLLS,
    PREQUEUE_POLLS,
    refresh_after,
)

#: The admission rate of the full-size run (bookings decided per second), for the waits.
RATE = 150


def _line_polls(length: int) -> float:
    """Polls a second a line of `length` draws."""
    return sum(1 / refresh_after("waiting", position=p, wait=math.ceil(p / RATE))
               for p in range(1, length + 1))


def _log_bound(length: int) -> float:
    return FRONT_POLLS * (2 + math.log(length / (2 * FRONT_POLLS)))


@pytest.mark.parametrize("length", [1_000, 10_000, 50_000, 200_000])
def test_a_line_draws_polls_that_grow_with_the_log_of_its_length(length: int) -> None:
    # Up to MAX_SECONDS × FRONT_POLLS in line (15,000), with the log; past it every entry
    # asks each MAX_SECONDS, so that a buyer far back still hears of the closing in time.
    capped = MAX_SECONDS * FRONT_POLLS
    bound = _log_bound(min(length, capped)) + max(0, length - capped) / MAX_SECONDS
    assert _line_polls(length) <= bound
    if length >= 10_000:  # the old rule (at most 30 s) drew a poll per 30 s from the back
        assert _line_polls(length) < length / 30


def test_the_front_of_the_line_still_asks_every_two_seconds() -> None:
    assert [refresh_after("waiting", position=p, wait=math.ceil(p / RATE))
            for p in (1, 50, 100)] == [2, 2, 2]
    assert refresh_after("waiting", position=1000, wait=7) == 20
    assert refresh_after("waiting", position=10**7, wait=10**5) == MAX_SECONDS
    assert refresh_after("waiting", position=3, wait=None) == 5  # no rate known yet


@pytest.mark.parametrize("crowd", [100, 2_500, 50_000, 75_000])
def test_a_pre_queue_draws_at_most_its_budget_before_the_opening(crowd: int) -> None:
    every = refresh_after("prequeue", prequeued=crowd, opens_in=3_600)
    assert crowd / every <= max(PREQUEUE_POLLS, crowd / 10)
    assert every >= 10


def test_the_pre_queue_comes_back_just_after_the_opening_spread_out() -> None:
    rng = random.Random(7)
    crowd, opens_in = 50_000, 30.0
    asks = [refresh_after("prequeue", prequeued=crowd, opens_in=opens_in, rng=rng)
            for _ in range(crowd)]
    spread = crowd / OPENING_POLLS
    assert min(asks) >= opens_in + 1
    assert max(asks) <= math.ceil(opens_in + 1 + spread)
    # No second of the burst takes more than its share (a uniform spread, with slack).
    per_second = max(asks.count(s) for s in set(asks))
    assert per_second <= 1.3 * OPENING_POLLS
    # A small room's pre-queue comes back at the opening itself, give or take a second.
    assert refresh_after("prequeue", prequeued=3, opens_in=4.2, rng=rng) in (6, 7)
    # The opening passed but the shuffle is not heard yet: soon, still spread.
    assert 1 <= refresh_after("prequeue", prequeued=3, opens_in=-2, rng=rng) <= 2


def test_other_statuses_have_fixed_answers() -> None:
    assert [refresh_after(s) for s in ("admitted", "pending", "used", "closed", "expired")] == [
        10, 2, 60, 60, 60]
