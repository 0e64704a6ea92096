"""Prometheus metrics: one `Metrics` per process, on its own registry (no import-time
globals, so tests and several apps in one process never collide).

Names and labels are part of the operator contract: the Grafana dashboards query them.
Label values are bounded: strategies, outcomes, shard numbers, and at most
`MAX_TRACKED_EVENTS` event ids.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from engine.messages import StockUpdate

#: Seats-left gauges exist for this many most recently active events, no more.
MAX_TRACKED_EVENTS = 50

#: The kinds of notification the outbox holds (migration 0011), pre-labelled so a dashboard
#: sees zeros before the first email.
NOTIFICATION_KINDS = ("receipt", "expiry", "refund")

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    10.0)
_BATCH_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500)


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
            "(published, delivered) and kind (commands, outcomes, stock)",
            ["direction", "kind"], registry=r)
        self.amqp_commands = Counter(
            "ticketwar_amqp_commands", "Commands carried by RabbitMQ messages, by direction",
            ["direction"], registry=r)
        self.notifications = Counter(
            "ticketwar_notifications", "Notification emails the outbox sender finished with, "
            "by kind (receipt, expiry, refund) and outcome (sent; failed: refused for good "
            "or given up; retried: a transient failure, tried again later)",
            ["kind", "outcome"], registry=r)
        self._tracked: OrderedDict[int, None] = OrderedDict()
        for kind in NOTIFICATION_KINDS:
            for outcome in ("sent", "failed", "retried"):
                self.notifications.labels(kind, outcome)
        for role in ("gateway", "shards"):
            self.reconnects.labels(role)
        for direction in ("published", "delivered"):
            self.amqp_commands.labels(direction)
            for kind in ("commands", "outcomes", "stock"):
                self.amqp_messages.labels(direction, kind)

    def observe_seats_left(self, event_id: int, available: int) -> None:
        """Track seats left for an event, evicting the least recently active beyond the cap."""
        self._tracked[event_id] = None
        self._tracked.move_to_end(event_id)
        self.seats_left.labels(str(event_id)).set(available)
        while len(self._tracked) > MAX_TRACKED_EVENTS:
            old, _ = self._tracked.popitem(last=False)
            self.seats_left.remove(str(old))

    def observe_stock(self, updates: Sequence[StockUpdate]) -> None:
        """Stock-update handler: track seats left for each updated event."""
        for u in updates:
            self.observe_seats_left(u.event_id, u.available)

    def exposition(self) -> bytes:
        """The Prometheus text format of this registry."""
        return generate_latest(self.registry)
