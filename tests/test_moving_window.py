"""The rate limiter's moving window: exact counts, O(1) work per hit, memory only for keys
that hit within the window. Pure: the clock is a number the test moves."""

from __future__ import annotations

from gateway.moving_window import MovingWindow


class Clock:
    """Monotonic seconds the test moves."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_at_most_amount_hits_in_any_window() -> None:
    clock = Clock()
    window = MovingWindow(3, 60, now=clock)
    for _ in range(3):  # at 1000, 1001, 1002
        assert window.hit("bot") is None
        clock.t += 1
    clock.t += 7  # 1010
    assert window.hit("bot") == 50  # the first hit leaves the window 60 s after it came
    clock.t += 49.5
    assert window.hit("bot") is not None
    clock.t += 0.5  # 1060: the window has moved past the first hit only
    assert window.hit("bot") is None
    assert window.hit("bot") is not None


def test_keys_are_counted_apart() -> None:
    window = MovingWindow(1, 1, now=Clock())
    assert window.hit("a") is None
    assert window.hit("b") is None
    assert window.hit("a") is not None


def test_a_refused_hit_is_not_counted() -> None:
    clock = Clock()
    window = MovingWindow(2, 1, now=clock)
    window.hit("k"), window.hit("k")
    for _ in range(100):
        assert window.hit("k") is not None
    clock.t += 1.0
    assert window.hit("k") is None and window.hit("k") is None


def test_keys_idle_for_a_whole_window_are_forgotten() -> None:
    """A surge of one-request buyers must not leave a key per buyer behind for good."""
    clock = Clock()
    window = MovingWindow(5, 1, now=clock)
    for n in range(10_000):
        window.hit(f"buyer-{n}")
    assert len(window) == 10_000
    clock.t += 1.5
    window.hit("next")
    assert len(window) == 1


def test_a_busy_key_is_kept_while_older_idle_ones_go() -> None:
    clock = Clock()
    window = MovingWindow(100, 1, now=clock)
    window.hit("regular")
    window.hit("once")
    clock.t += 0.8
    window.hit("regular")  # hit again: now the most recent
    clock.t += 0.5  # "once" is 1.3 s old, "regular" 0.5 s
    window.hit("other")
    assert len(window) == 2  # regular and other
    assert window.hit("regular") is None
