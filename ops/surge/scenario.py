"""Scenario files (TOML). Every key, with its default:

    name = "hot-event"           # shown in reports
    [events]
    count = 1                    # events created for the run
    seats = 1000                 # seats per event
    per_user_limit = 4           # omit for no limit
    price_cents = 0              # > 0: a paid event, whose bookings are held until paid
    currency = "EUR"
    hold_seconds = 600           # how long a hold lasts (10 to 3600; paid events only)
    [buyers]
    count = 20000                # buyers created in bulk (SQL + minted tokens)
    [load]
    requests = 20000             # booking requests in all (bots and retries excluded)
    mode = "rate"                # "rate": open model at `rate` req/s; "concurrency": closed
    rate = 2000                  # arrivals per second (mode = "rate")
    concurrency = 200            # workers (mode = "concurrency")
    quantity = 1                 # seats per request
    max_seconds = 120            # hard stop
    connections_per_address = 0  # open connections per source address at most (0: no
                                 # bound); a bound models the pool of a load balancer
                                 # in front of the gateways, which reuses its connections
    [behaviour]
    retry_fraction = 0.0         # share of requests sent again with the same Idempotency-Key
    cancel_fraction = 0.0        # share of confirmed bookings cancelled during the run
    over_limit_fraction = 0.0    # share of requests asking per_user_limit + 1 seats
    bots = 0                     # accounts hammering as fast as they can
    bot_requests = 0             # requests per bot
    [payment]                    # paid events only: what the holders do, by share of holds
    abandon_fraction = 0.0       # never pay: the hold expires
    declined_fraction = 0.0      # pay with tok_declined: 402, the hold stays until it expires
    late_fraction = 0.0          # pay with tok_ok late_lead_seconds before the deadline, so
                                 # the money comes after it (the fake provider's latency,
                                 # FAKE_PAYMENT_LATENCY, must exceed the lead): refunded
    late_lead_seconds = 0.5
    think_seconds = 1.0          # everyone else pays with tok_ok after up to this long
    [waitlist]                   # free events only: a crowd waits for returned seats
    joiners = 0                  # buyers who join the waiting list once the sale is over
    large_fraction = 0.0         # share of joiners asking for 2 seats (the rest for 1)
    cancel_fraction = 0.0        # share of ticket holders who cancel once the list is full
    abandon_fraction = 0.0       # share of offers never taken: they expire and pass on
    think_seconds = 1.0          # everyone else takes their offer after up to this long
    [queue]                      # free events only: a waiting room in front of the sale
    prequeue_seconds = 0.0       # > 0: the events have a waiting room opening this long
                                 # before the sale, and every buyer joins it (queue_rush.py):
                                 # the pre-queue's buyers spread over the window
    late_fraction = 0.0          # share of buyers joining after the opening instead (first
    late_seconds = 10.0          # in, first out behind the pre-queue), over this long
    sneak_fraction = 0.0         # share of buyers who try to book once while waiting, out of
                                 # turn: 403 admission_required
    listeners = 0                # buyers who also listen on GET /api/stream (the rest poll)
    admission_seconds = 300      # waitingRoom.admissionSeconds (30 to 3600)
    admit_per_minute = 0         # waitingRoom.admitPerMinute; 0: left out (as fast as sold)
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any


class ScenarioError(ValueError):
    """A scenario file that cannot be run, with the reason."""


@dataclass(frozen=True)
class Events:
    """What to sell."""

    count: int = 1
    seats: int = 1000
    per_user_limit: int | None = None
    price_cents: int = 0
    currency: str = "EUR"
    hold_seconds: int | None = None

    @property
    def paid(self) -> bool:
        """Whether its bookings are held until paid."""
        return self.price_cents > 0

    def api_fields(self) -> dict[str, object]:
        """What `POST /api/events` is sent besides the name and the seats."""
        body: dict[str, object] = {}
        if self.per_user_limit is not None:
            body["perUserLimit"] = self.per_user_limit
        if self.paid:
            body.update(priceCents=self.price_cents, currency=self.currency)
        if self.hold_seconds is not None:  # a free event's waiting-list offers last as long
            body["holdSeconds"] = self.hold_seconds
        return body


@dataclass(frozen=True)
class Buyers:
    """Who buys."""

    count: int = 1000


@dataclass(frozen=True)
class Load:
    """How hard, and for how long at most."""

    requests: int = 1000
    mode: str = "rate"
    rate: float = 1000.0
    concurrency: int = 200
    quantity: int = 1
    max_seconds: float = 120.0
    connections_per_address: int = 0


@dataclass(frozen=True)
class Behaviour:
    """What the buyers do besides booking once."""

    retry_fraction: float = 0.0
    cancel_fraction: float = 0.0
    over_limit_fraction: float = 0.0
    bots: int = 0
    bot_requests: int = 0


@dataclass(frozen=True)
class Payment:
    """What holders of paid events do, by share of the holds granted (the rest pay in time)."""

    abandon_fraction: float = 0.0
    declined_fraction: float = 0.0
    late_fraction: float = 0.0
    late_lead_seconds: float = 0.5
    think_seconds: float = 1.0


@dataclass(frozen=True)
class Waitlist:
    """The crowd that waits once the events are sold out (`waitlist.py`): joiners, the ticket
    holders who then cancel, and what the waiting buyers do with the offers they get."""

    joiners: int = 0
    large_fraction: float = 0.0
    cancel_fraction: float = 0.0
    abandon_fraction: float = 0.0
    think_seconds: float = 1.0


@dataclass(frozen=True)
class Queue:
    """A waiting room in front of the sale (`queue_rush.py`): who joins when, who listens on
    the stream, who tries to book out of turn, and the room's settings. Off unless
    `prequeue_seconds` > 0; the booking requests are then the admitted buyers' (and the
    sneaks'), and `load.requests` is only the scale `--requests` is measured against."""

    prequeue_seconds: float = 0.0
    late_fraction: float = 0.0
    late_seconds: float = 10.0
    sneak_fraction: float = 0.0
    listeners: int = 0
    admission_seconds: int = 300
    admit_per_minute: int = 0

    @property
    def enabled(self) -> bool:
        """Whether the events have a waiting room."""
        return self.prequeue_seconds > 0

    def api_fields(self, opens_at: datetime) -> dict[str, object]:
        """What `POST /api/events` is sent for a room whose queue opens at `opens_at`."""
        room: dict[str, object] = {"enabled": True, "queueOpensAt": opens_at.isoformat(),
                                   "admissionSeconds": self.admission_seconds}
        if self.admit_per_minute:
            room["admitPerMinute"] = self.admit_per_minute
        starts = opens_at + timedelta(seconds=self.prequeue_seconds)
        return {"saleStartsAt": starts.isoformat(), "waitingRoom": room}


#: The shortest pre-queue a scaled scenario keeps: the crowd's joins and the first polls
#: must fit before the opening however small the crowd.
MIN_PREQUEUE_SECONDS = 5.0
MIN_LATE_SECONDS = 1.0


@dataclass(frozen=True)
class Scenario:
    """A whole scenario."""

    name: str
    events: Events
    buyers: Buyers
    load: Load
    behaviour: Behaviour
    payment: Payment = Payment()
    waitlist: Waitlist = Waitlist()
    queue: Queue = Queue()


def _section(cls: type, data: Any, where: str) -> Any:
    if data is None:
        return cls()
    if not isinstance(data, dict):
        raise ScenarioError(f"[{where}] must be a table")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ScenarioError(f"[{where}] has unknown key(s): {', '.join(unknown)}")
    for key, value in data.items():
        kind = _KINDS[str(known[key].type)]
        if isinstance(value, bool) or not isinstance(value, kind):
            raise ScenarioError(f"[{where}] {key} = {value!r} is not a {kind[0].__name__}"
                                if kind[0] is str else
                                f"[{where}] {key} = {value!r} is not a number")
    return cls(**data)


_KINDS: dict[str, tuple[type, ...]] = {"int": (int,), "int | None": (int,),
                                       "float": (int, float), "str": (str,)}


def parse(data: dict[str, Any], default_name: str = "scenario") -> Scenario:
    """Validate a parsed TOML document."""
    unknown = sorted(set(data) - {"name", "events", "buyers", "load", "behaviour",
                                  "payment", "waitlist", "queue"})
    if unknown:
        raise ScenarioError(f"unknown section(s): {', '.join(unknown)}")
    scenario = Scenario(
        name=str(data.get("name", default_name)),
        events=_section(Events, data.get("events"), "events"),
        buyers=_section(Buyers, data.get("buyers"), "buyers"),
        load=_section(Load, data.get("load"), "load"),
        behaviour=_section(Behaviour, data.get("behaviour"), "behaviour"),
        payment=_section(Payment, data.get("payment"), "payment"),
        waitlist=_section(Waitlist, data.get("waitlist"), "waitlist"),
        queue=_section(Queue, data.get("queue"), "queue"),
    )
    _check(scenario)
    return scenario


def _check(s: Scenario) -> None:
    problems = []
    if s.events.count < 1 or s.events.seats < 0:
        problems.append("events.count must be >= 1 and events.seats >= 0")
    if s.buyers.count < 1:
        problems.append("buyers.count must be >= 1")
    if s.load.mode not in ("rate", "concurrency"):
        problems.append('load.mode must be "rate" or "concurrency"')
    if s.load.requests < 0 or s.load.rate <= 0 or s.load.concurrency < 1:
        problems.append("load.requests >= 0, load.rate > 0 and load.concurrency >= 1")
    for name in ("retry_fraction", "cancel_fraction", "over_limit_fraction"):
        if not 0 <= getattr(s.behaviour, name) <= 1:
            problems.append(f"behaviour.{name} must be between 0 and 1")
    if s.behaviour.over_limit_fraction and s.events.per_user_limit is None:
        problems.append("behaviour.over_limit_fraction needs events.per_user_limit")
    pay = s.payment
    shares = (pay.abandon_fraction, pay.declined_fraction, pay.late_fraction)
    if not all(0 <= f <= 1 for f in shares) or sum(shares) > 1:
        problems.append("payment fractions must be between 0 and 1 and add up to 1 at most")
    if pay.late_lead_seconds < 0 or pay.think_seconds < 0:
        problems.append("payment.late_lead_seconds and payment.think_seconds must be >= 0")
    if s.events.price_cents < 0:
        problems.append("events.price_cents must be >= 0")
    if pay != Payment() and not s.events.paid:
        problems.append("[payment] needs a paid event (events.price_cents > 0)")
    w = s.waitlist
    if w.joiners < 0 or w.think_seconds < 0:
        problems.append("waitlist.joiners and waitlist.think_seconds must be >= 0")
    for name in ("large_fraction", "cancel_fraction", "abandon_fraction"):
        if not 0 <= getattr(w, name) <= 1:
            problems.append(f"waitlist.{name} must be between 0 and 1")
    if w != Waitlist() and s.events.paid:
        # A paid sale's holders are played by [payment]; its cancels would be refunds.
        problems.append("[waitlist] needs a free event (events.price_cents = 0)")
    problems += _queue_problems(s)
    if problems:
        raise ScenarioError("; ".join(problems))


def _queue_problems(s: Scenario) -> list[str]:
    q = s.queue
    if q == Queue():
        return []
    if not q.enabled:
        return ["[queue] needs queue.prequeue_seconds > 0 (the waiting room's pre-queue)"]
    problems = []
    for name in ("late_fraction", "sneak_fraction"):
        if not 0 <= getattr(q, name) <= 1:
            problems.append(f"queue.{name} must be between 0 and 1")
    if q.late_seconds <= 0:
        problems.append("queue.late_seconds must be > 0")
    if not 30 <= q.admission_seconds <= 3600:
        problems.append("queue.admission_seconds must be between 30 and 3600")
    if q.admit_per_minute < 0:
        problems.append("queue.admit_per_minute must be >= 0 (0: not set)")
    if not 0 <= q.listeners <= s.buyers.count:
        problems.append("queue.listeners must be between 0 and buyers.count")
    if s.events.paid:
        problems.append("[queue] needs a free event (events.price_cents = 0)")
    if s.waitlist != Waitlist():
        problems.append("[queue] and [waitlist] are not played together")
    if s.behaviour != Behaviour():
        # Every admitted buyer books once; retries, cancels and bots are other scenarios'.
        problems.append("[queue] takes no [behaviour]: each admitted buyer books once")
    return problems


def scaled(s: Scenario, requests: int) -> Scenario:
    """The scenario with `requests` booking requests, keeping its shape: buyers, seats, bot
    requests and waiting-list joiners shrink (or grow) in proportion, so a hot event still
    sells out; the number of events, per-user limit and behaviour stay as written (setting
    up 200 events is part of what many-events exercises). A waiting room's windows and
    listeners shrink in proportion too (its crowd joins at the same rate), its pre-queue to
    `MIN_PREQUEUE_SECONDS` at the least."""
    if requests < 1:
        raise ScenarioError("requests must be >= 1")
    f = requests / max(s.load.requests, 1)
    q = s.queue
    if q.enabled:  # the crowd joins at the same rate: its windows shrink with it
        q = replace(q, prequeue_seconds=max(MIN_PREQUEUE_SECONDS, q.prequeue_seconds * f),
                    late_seconds=max(MIN_LATE_SECONDS, q.late_seconds * f),
                    listeners=math.ceil(q.listeners * f))
    return replace(
        s, load=replace(s.load, requests=requests),
        buyers=replace(s.buyers, count=max(1, math.ceil(s.buyers.count * f))),
        events=replace(s.events, seats=max(1, round(s.events.seats * f))),
        behaviour=replace(s.behaviour, bot_requests=math.ceil(s.behaviour.bot_requests * f)),
        waitlist=replace(s.waitlist, joiners=math.ceil(s.waitlist.joiners * f)), queue=q)


def load(path: Path) -> Scenario:
    """Read and validate a scenario file."""
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ScenarioError(f"{path}: no such file") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from exc
    try:
        return parse(data, path.stem)
    except (ScenarioError, TypeError) as exc:
        raise ScenarioError(f"{path}: {exc}") from exc
