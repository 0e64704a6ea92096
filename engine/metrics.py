"""Prometheus metrics: one `Metrics` per process, on its own registry (no import-time
globals, so tests and several apps in one process never collide).

Names and labels are part of the operator contract: the Grafana dashboards query them.
Label values are bounded: strategies, outcomes, shard numbers, and at most
`MAX_TRACKED_EVENTS` event ids.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from engine.messages import StockUpdate

if TYPE_CHECKING:  # the store imports nothing of this module; kept out of the import graph
    from engine.domain import EventLedger
    from engine.storage.queue_rooms import RoomWrite
    from engine.storage.shard_store import BatchWrite
    from engine.types import EventId

#: Seats-left gauges exist for this many most recently active events, no more.
MAX_TRACKED_EVENTS = 50

#: The kinds of notification the outbox holds (migrations 0011, 0014), pre-labelled so a
#: dashboard sees zeros before the first email.
NOTIFICATION_KINDS = ("receipt", "expiry", "refund", "warning", "offer")

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    10.0)
_BATCH_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500)
#: A fake provider answers in 1-2 s, a real one in a few hundred milliseconds to tens.
_PAYMENT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 30.0)
#: An expiry is promised within 1 s of its deadline: the buckets resolve that second.
#: Time in a waiting room, from joining to admission: seconds to an hour.
_QUEUE_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0)
_EXPIRY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.0, 5.0)
#: How a payment attempt ended (`ticketwar_payments_total`): money kept with a ticket,
#: given back because the hold was over, or never taken.
PAYMENT_OUTCOMES = ("confirmed", "refunded", "declined", "failed")
#: What a charge's provider call came to (`ticketwar_payment_charge_seconds`).
CHARGE_RESULTS = ("succeeded", "declined", "requires_action", "timeout")
#: Why money was given back (`ticketwar_refunds_total`).
REFUND_REASONS = ("hold_expired", "not_held", "attempt_closed", "buyer_cancelled",
                  "event_cancelled")
#: What became of waiting-list offers (`ticketwar_waitlist_offers_total`): made, then taken
#: (paid, or accepted when free), expired (its seats offered on) or declined (cancelled by
#: the buyer, its seats offered on at once).
OFFER_OUTCOMES = ("made", "taken", "expired", "declined")


class _PerEvent:
    """A gauge labelled by event id for the `MAX_TRACKED_EVENTS` most recently set events
    only: the least recently set is removed beyond that, so the label set stays bounded."""

    def __init__(self, gauge: Gauge) -> None:
        self._gauge = gauge
        self._tracked: OrderedDict[int, None] = OrderedDict()

    def __contains__(self, event_id: int) -> bool:
        return event_id in self._tracked

    def set(self, event_id: int, value: float) -> None:
        """Set the event's value, making it the most recently active."""
        self._tracked[event_id] = None
        self._tracked.move_to_end(event_id)
        self._gauge.labels(str(event_id)).set(value)
        while len(self._tracked) > MAX_TRACKED_EVENTS:
            old, _ = self._tracked.popitem(last=False)
            self._gauge.remove(str(old))


class Metrics:
    """Every metric the engine exports."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.booking_requests = Counter(
            "ticketwar_booking_requests", "Booking requests answered, by strategy and outcome",
            ["strategy", "outcome"], registry=r)
        self.booking_latency = Histogram(
            "ticketwar_booking_duration_seconds", "Time to answer a booking request",
            ["strategy", "outcome"], buckets=_LATENCY_BUCKETS, registry=r)
        self.seats_confirmed = Counter(
            "ticketwar_seats_confirmed", "Seats confirmed", ["strategy"], registry=r)
        self.checkins = Counter(
            "ticketwar_checkins", "Check-ins at the door decided by the shard actors, by "
            "outcome (checked_in, already_checked_in, unknown_ticket, ticket_void)",
            ["outcome"], registry=r)
        self.rate_limited = Counter(
            "ticketwar_rate_limited", "Requests refused by the rate limiter", ["scope"],
            registry=r)
        self.batch_size = Histogram(
            "ticketwar_shard_batch_size", "Commands decided per shard transaction", ["shard"],
            buckets=_BATCH_BUCKETS, registry=r)
        self.commit_seconds = Histogram(
            "ticketwar_shard_commit_seconds", "Duration of a shard batch's transaction",
            ["shard"], buckets=_LATENCY_BUCKETS, registry=r)
        self.mailbox_depth = Gauge(
            "ticketwar_shard_mailbox_depth", "Envelopes waiting in a shard actor's mailbox",
            ["shard"], registry=r)
        self.confirms_in_flight = Gauge(
            "ticketwar_publisher_confirms_in_flight",
            "Published commands awaiting the broker's confirm", registry=r)
        self.confirm_seconds = Histogram(
            "ticketwar_publisher_confirm_seconds",
            "From a command message's publish to the broker's confirm", buckets=_LATENCY_BUCKETS,
            registry=r)
        self.redeliveries = Counter(
            "ticketwar_redeliveries", "Commands delivered again by the broker", registry=r)
        self.dead_letters = Counter(
            "ticketwar_dead_letters", "Commands dead-lettered and answered as rejected",
            registry=r)
        self.fencing_conflicts = Counter(
            "ticketwar_fencing_conflicts",
            "Batches refused because another shard claimed the event", registry=r)
        self.actor_restarts = Counter(
            "ticketwar_actor_restarts", "Shard actors that died and were started again",
            registry=r)
        self.db_retries = Counter(
            "ticketwar_db_retries", "Shard batches retried after a database error", registry=r)
        self.db_statements = Counter(
            "ticketwar_db_statements", "Statements this process sent to PostgreSQL through its"
            " pool (the hot path's target at the gateway: none per booking)", registry=r)
        self.reconnects = Counter(
            "ticketwar_reconnects", "Broker connections re-established", ["role"], registry=r)
        self.session_versions = Gauge(
            "ticketwar_session_versions",
            "Users whose token version is not 0, held in memory by this gateway", registry=r)
        self.sessions_refused = Counter(
            "ticketwar_sessions_refused", "Requests refused because their session was revoked",
            registry=r)
        self.session_feed_reconnects = Counter(
            "ticketwar_session_feed_reconnects",
            "Times the revocation feed (LISTEN connection) was re-established", registry=r)
        self.seats_left = Gauge(
            "ticketwar_event_seats_left", "Seats left, for recently active events",
            ["event_id"], registry=r)
        self.up = Gauge("ticketwar_up", "1 while this process serves", ["role"], registry=r)
        # The broker hop, counted where each message is published or delivered, so that
        # messages per command can be read on both sides (commands_total / messages_total).
        self.amqp_messages = Counter(
            "ticketwar_amqp_messages", "RabbitMQ messages on the booking path, by direction "
            "(published, delivered) and kind (commands, outcomes, stock; pushes: booking updates "
            "relayed between gateway processes)",
            ["direction", "kind"], registry=r)
        self.amqp_commands = Counter(
            "ticketwar_amqp_commands", "Commands carried by RabbitMQ messages, by direction",
            ["direction"], registry=r)
        # Holds and payments (docs/design.md, "Holds and payment"). Hold metrics come from
        # the process running the actors, payment metrics from the gateway's checkout.
        self.holds_open = Gauge(
            "ticketwar_holds_open", "Open holds (held bookings) in a shard actor's memory",
            ["shard"], registry=r)
        self.holds_taken = Counter(
            "ticketwar_holds_taken", "Holds granted on paid events, counted after commit",
            ["shard"], registry=r)
        self.holds_expired = Counter(
            "ticketwar_holds_expired", "Holds that expired unpaid, counted after commit",
            ["shard"], registry=r)
        self.hold_expiry_delay = Histogram(
            "ticketwar_hold_expiry_delay_seconds",
            "From a hold's deadline to the commit that released its seats",
            buckets=_EXPIRY_BUCKETS, registry=r)
        # Waiting rooms (docs/design.md, "Waiting room"), from the process running the actors.
        self.queue_waiting = Gauge(
            "ticketwar_queue_waiting", "Buyers in waiting rooms (in line or pre-queued) in a "
            "shard actor's memory", ["shard"], registry=r)
        self.queue_unused = Gauge(
            "ticketwar_queue_admitted_unused", "Admitted buyers who have neither booked nor "
            "expired, in a shard actor's rooms", ["shard"], registry=r)
        self.queue_admissions = Counter(
            "ticketwar_queue_admissions", "Admissions given by waiting rooms, counted after "
            "commit", ["shard"], registry=r)
        self.queue_wait = Histogram(
            "ticketwar_queue_wait_seconds", "From joining a waiting room to being admitted",
            buckets=_QUEUE_BUCKETS, registry=r)
        self.payments = Counter(
            "ticketwar_payments", "Payment attempts settled, by outcome", ["outcome"],
            registry=r)
        self.charge_seconds = Histogram(
            "ticketwar_payment_charge_seconds",
            "Time the payment provider took to answer a charge, by result", ["result"],
            buckets=_PAYMENT_BUCKETS, registry=r)
        self.refunds = Counter(
            "ticketwar_refunds", "Charges refunded through the provider, by reason",
            ["reason"], registry=r)
        for outcome in PAYMENT_OUTCOMES:
            self.payments.labels(outcome)
        for result in CHARGE_RESULTS:
            self.charge_seconds.labels(result)
        for reason in REFUND_REASONS:
            self.refunds.labels(reason)
        self.notifications = Counter(
            "ticketwar_notifications", "Notification emails the outbox sender finished with, "
            "by kind (receipt, expiry, refund, warning) and outcome (sent; failed: refused "
            "for good or given up; retried: a transient failure, tried again later)",
            ["kind", "outcome"], registry=r)
        # The waiting list (docs/design.md, "Waiting list"), from the process running the
        # actors, counted after commit like the holds.
        self.waitlist_length = Gauge(
            "ticketwar_waitlist_length", "Buyers waiting on the waiting lists of the events "
            "in a shard actor's memory", ["shard"], registry=r)
        self.event_waitlist_length = Gauge(
            "ticketwar_event_waitlist_length",
            "Buyers waiting on an event's waiting list, for recently active lists",
            ["event_id"], registry=r)
        self.waitlist_joins = Counter(
            "ticketwar_waitlist_joins", "Waiting-list entries joined, counted after commit",
            ["shard"], registry=r)
        self.waitlist_offers = Counter(
            "ticketwar_waitlist_offers", "Waiting-list offers, by outcome: made, then taken "
            "(paid or accepted), expired or declined (both offered on)", ["shard", "outcome"],
            registry=r)
        self._seats_left = _PerEvent(self.seats_left)
        self._event_waitlists = _PerEvent(self.event_waitlist_length)
        for kind in NOTIFICATION_KINDS:
            for outcome in ("sent", "failed", "retried"):
                self.notifications.labels(kind, outcome)
        for role in ("gateway", "shards"):
            self.reconnects.labels(role)
        for direction in ("published", "delivered"):
            self.amqp_commands.labels(direction)
            for kind in ("commands", "outcomes", "stock", "rooms", "pushes"):
                self.amqp_messages.labels(direction, kind)

    def observe_seats_left(self, event_id: int, available: int) -> None:
        """Track seats left for an event, evicting the least recently active beyond the cap."""
        self._seats_left.set(event_id, available)

    def observe_stock(self, updates: Sequence[StockUpdate]) -> None:
        """Stock-update handler: track seats left for each updated event."""
        for u in updates:
            self.observe_seats_left(u.event_id, u.available)

    def shard_started(self, shard: str) -> None:
        """A shard actor exists: its hold, waiting-list and waiting-room series start at 0 now, so
        Prometheus sees their first increase (a counter that appears already above 0 has no
        rate until it moves again, and the first expiries of a sale would go unseen on the
        dashboard)."""
        self.holds_taken.labels(shard)
        self.holds_expired.labels(shard)
        self.holds_open.labels(shard).set(0)
        self.waitlist_joins.labels(shard)
        for outcome in OFFER_OUTCOMES:
            self.waitlist_offers.labels(shard, outcome)
        self.waitlist_length.labels(shard).set(0)
        self.queue_admissions.labels(shard)
        self.queue_waiting.labels(shard).set(0)
        self.queue_unused.labels(shard).set(0)

    def observe_rooms(self, shard: str, write: RoomWrite, now: datetime, waiting: int,
                      unused: int) -> None:
        """After a shard batch committed: the admissions it gave (with each buyer's time in
        the room), and who waits or holds an unused admission in the actor's rooms now."""
        admitted = [row for row in write.entries.values() if row[7] == "admitted"]
        if admitted:
            self.queue_admissions.labels(shard).inc(len(admitted))
            for row in admitted:
                self.queue_wait.observe(max(0.0, (now - row[8]).total_seconds()))
        self.queue_waiting.labels(shard).set(waiting)
        self.queue_unused.labels(shard).set(unused)

    def observe_holds(self, shard: str, write: BatchWrite, now: datetime,
                      ledgers: Iterable[EventLedger]) -> None:
        """After a shard batch committed: holds it granted and expired (with how late each
        expiry came by the actor's clock), and the holds the actor now has open."""
        taken = sum(1 for b in write.bookings if b[4] == "held")
        if taken:
            self.holds_taken.labels(shard).inc(taken)
        if write.expired:
            self.holds_expired.labels(shard).inc(len(write.expired))
            for deadline in write.expired_deadlines:
                self.hold_expiry_delay.observe(max(0.0, (now - deadline).total_seconds()))
        self.holds_open.labels(shard).set(sum(len(ledger.holds) for ledger in ledgers))

    def observe_waitlists(self, shard: str, write: BatchWrite,
                          ledgers: Mapping[EventId, EventLedger]) -> None:
        """After a shard batch committed: entries it added, offers it made and ended, and
        how many buyers now wait, on the shard and on each event the batch wrote to (an
        event with nobody waiting gets a series only once it had some)."""
        if write.waitlist.joined:
            self.waitlist_joins.labels(shard).inc(len(write.waitlist.joined))
        if write.waitlist.offered:
            self.waitlist_offers.labels(shard, "made").inc(len(write.waitlist.offered))
        for outcome, n in write.offers_ended.items():
            self.waitlist_offers.labels(shard, outcome).inc(n)
        for event_id in write.events:
            ledger = ledgers.get(event_id)
            if ledger is not None and (ledger.waitlist or event_id in self._event_waitlists):
                self._event_waitlists.set(event_id, len(ledger.waitlist))
        self.waitlist_length.labels(shard).set(
            sum(len(ledger.waitlist) for ledger in ledgers.values()))

    def exposition(self) -> bytes:
        """The Prometheus text format of this registry."""
        return generate_latest(self.registry)
