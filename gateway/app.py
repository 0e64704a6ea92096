"""The gateway's app factory: `create_app(settings)`. Nothing is created at import time.

Each resource is one cleanup_ctx generator, set up in order and torn down in reverse:
pool → the notifications' outbox sender (process 0 only) → session view (with its
revocation feed) → transport (in-process: with the shard actors behind it) + booking
service. On shutdown aiohttp first stops taking requests, then
the transport decides what it accepted and closes, then the feed and the pool close. Who
hears what — waiting requests, the stock view, the SSE hub, the metrics — is wired here and
nowhere else (`_wire`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta

from aiohttp import web

from engine.auth import TokenIssuer
from engine.checkin import CheckinDesk
from engine.checkout import Checkout
from engine.messages import Outcome
from engine.metrics import Metrics
from engine.notifications import Notifications
from engine.notify.registry import create_notifier
from engine.notify.sender import OutboxSender
from engine.payment_webhooks import PaymentWebhooks
from engine.payments.fake import FakeProvider
from engine.payments.provider import PaymentProvider
from engine.payments.registry import create_provider
from engine.process_share import share, sharing_processes
from engine.service import BookingService
from engine.sessions import SessionView
from engine.settings import Settings
from engine.storage import create_pool
from engine.storage.session_feed import SessionFeed
from engine.storage.shard_store import PgShardStore
from engine.strategies.queued import QueuedBooker
from engine.stream_tickets import StreamTickets
from engine.transport.registry import create_transport
from engine.types import Clock, Sleeper, utcnow
from gateway import openapi, webui
from gateway.auth import auth_middleware
from gateway.deadlines import body_deadline, db_read_deadline
from gateway.errors import error_middleware
from gateway.headers import add_security_headers
from gateway.health import HealthProbe
from gateway.keys import (
    checkin_key,
    checkout_key,
    clock_key,
    health_probe_key,
    issuer_key,
    login_email_limit_key,
    metrics_key,
    notifications_key,
    notifier_key,
    outbox_sender_key,
    payment_webhooks_key,
    payments_key,
    pool_key,
    service_key,
    session_feed_key,
    sessions_key,
    settings_key,
    stream_hub_key,
    stream_tickets_key,
    transport_key,
)
from gateway.queue_feed import QueueFeed
from gateway.ratelimit import Handler, KeyBy, RateLimits
from gateway.routes import (
    accounts,
    bench,
    bookings,
    config,
    door,
    events,
    fake_provider,
    health,
    queue,
    stream,
    waitlist,
    webhooks,
)
from gateway.routes.metrics import metrics_endpoint
from gateway.shedding import shed_when_full
from gateway.stream import StreamCaps, StreamHub, streamed

log = logging.getLogger(__name__)


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[settings_key]
    # DB_POOL_MAX is the host's: each of N gateway processes opens its share, so N of
    # them do not open N times the connections (past max_connections on many cores).
    pool = await create_pool(replace(settings, db_pool_max=share(
        settings.db_pool_max, sharing_processes(settings))),
        on_statement=app[metrics_key].db_statements.inc)
    app[pool_key] = pool
    yield
    await pool.close()


async def _outbox(app: web.Application) -> AsyncIterator[None]:
    # One sender per host is enough: process 0 of `ticketwar run` runs it. More would be
    # safe (each row is locked while it is sent), only wasteful; several hosts run one each.
    # Set up after the pool and before the engine, so it stops after the engine decided
    # what it had accepted, and before the pool closes.
    settings = app[settings_key]
    if settings.gateway_process_index != 0:
        yield
        return
    assert settings.database_url is not None  # create_pool refused to start without one
    clock, sleeper = app[clock_key]
    sender = OutboxSender(settings.database_url.reveal(), app[notifier_key],
                          mail_from=settings.mail_from, metrics=app[metrics_key],
                          clock=clock, sleeper=sleeper,
                          stop_deadline_seconds=settings.shutdown_deadline_seconds,
                          retention=timedelta(days=settings.notification_retention_days),
                          workers=settings.mail_connections)
    app[outbox_sender_key] = sender
    await sender.start()
    yield
    await sender.stop()


async def _sessions(app: web.Application) -> AsyncIterator[None]:
    settings, metrics = app[settings_key], app[metrics_key]
    view = SessionView(metrics=metrics)
    assert settings.database_url is not None  # create_pool refused to start without one
    feed = SessionFeed(settings.database_url.reveal(), view, metrics)
    app[sessions_key], app[session_feed_key] = view, feed
    await feed.start()
    yield
    await feed.stop()


async def _engine(app: web.Application) -> AsyncIterator[None]:
    settings, notifications = app[settings_key], app[notifications_key]
    clock, sleeper = app[clock_key]
    transport = create_transport(settings, notifications, metrics=app[metrics_key],
                                 store=PgShardStore(app[pool_key]), clock=clock,
                                 sleeper=sleeper)
    app[transport_key] = transport
    # Every strategy gets the transport: `queued` decides through it, and all of them
    # broadcast an organizer's edit on it.
    service = BookingService(settings, app[pool_key], transport,
                             notifications, clock=clock)
    app[service_key] = service
    booker = service.booker
    checkout = Checkout(app[pool_key], app[payments_key],
                        booker.confirm_payment if isinstance(booker, QueuedBooker) else None,
                        clock=clock, sleeper=sleeper,
                        wait_seconds=settings.payment_wait_seconds, metrics=app[metrics_key])
    app[checkout_key] = checkout
    app[payment_webhooks_key] = PaymentWebhooks(app[pool_key], checkout, app[payments_key].name)
    app[checkin_key] = CheckinDesk(
        app[pool_key], service.event,
        booker.check_in if isinstance(booker, QueuedBooker) else None)
    _wire(app)
    await transport.start()
    await checkout.start()
    yield
    await checkout.stop()
    await service.stop()
    await transport.stop()


def _wire(app: web.Application) -> None:
    """Connect what the gateway learns to everything that listens: the one place it is done.

    Outcomes and stock arrive from the transport (queued) or from the service itself
    (`locked`, `naive`, which decide inline); both announce them on the notifications.
    """
    notifications, service = app[notifications_key], app[service_key]
    hub, metrics = app[stream_hub_key], app[metrics_key]
    transport = app[transport_key]

    def outcome(outcome: Outcome) -> None:
        answered = service.resolve(outcome)  # wakes the request waiting for it
        hub.outcome(outcome)
        if not answered and streamed(outcome):
            # Its owner's stream may be open on another gateway process: tell them all.
            transport.relay([outcome])

    def pushed(outcome: Outcome) -> None:
        # Relayed by another process, or addressed to a reply queue of this one that is gone
        # (the transport reconnected meanwhile): a request here may still be waiting for it.
        service.resolve(outcome)
        hub.outcome(outcome)

    notifications.on_outcome(outcome)
    notifications.on_pushed(pushed)
    notifications.on_stock(service.stock.update)  # sold-out answers without a hop
    notifications.on_stale(service.stock.forget_all)  # ...never from a view that missed some
    notifications.on_stock(hub.stock)
    notifications.on_stock(metrics.observe_stock)
    notifications.on_rooms(service.rooms.apply)  # the admission check at booking
    notifications.on_stale(service.rooms.forget_all)
    feed = QueueFeed(hub, service.rooms, app[clock_key][0])  # `queue` stream events
    service.rooms.on_change(feed.changed)
    notifications.on_rooms(feed.swept)  # after the view applied them


async def _close_streams(app: web.Application) -> None:
    app[stream_hub_key].close()


async def _close_provider(app: web.Application) -> None:
    await app[payments_key].close()


def create_app(settings: Settings, *, clock: Clock = utcnow,
               sleeper: Sleeper = asyncio.sleep,
               payments: PaymentProvider | None = None) -> web.Application:
    """Build the gateway for these settings; `clock` and `sleeper` drive hold deadlines and
    payment checks (tests move them); `payments` replaces the provider the settings name
    (tests share one between gateways). `PaymentProviderUnset` when none is named."""
    settings = settings.with_jwt_secret()
    provider = payments or create_provider(settings, clock=clock, sleeper=sleeper)
    app = web.Application(middlewares=[error_middleware,
                                       shed_when_full,  # before the body, token, schema
                                       body_deadline(settings.body_timeout_seconds),
                                       db_read_deadline(settings.db_request_timeout_seconds),
                                       auth_middleware],
                          client_max_size=settings.max_body_bytes)
    app[settings_key] = settings
    app[clock_key] = (clock, sleeper)
    app[payments_key] = provider
    app[notifier_key] = create_notifier(settings)  # a bad SMTP_URL fails here, at start
    app[issuer_key] = TokenIssuer(settings)
    app[stream_tickets_key] = StreamTickets(settings)
    metrics = Metrics()
    metrics.up.labels("gateway").set(1)
    app[metrics_key] = metrics
    limits = RateLimits(settings.trusted_proxies, metrics,
                        processes=sharing_processes(settings))
    app[login_email_limit_key] = limits.counter(settings.rate_limit_auth, "login-email")
    app[notifications_key] = Notifications()
    app[stream_hub_key] = StreamHub(StreamCaps(settings.max_streams,
                                               settings.max_streams_per_user,
                                               settings.max_streams_per_address))
    app.cleanup_ctx.extend([_database, _outbox, _sessions, _engine])
    app.on_response_prepare.append(add_security_headers)
    # Open event streams would hold shutdown for its whole timeout: end them first.
    app.on_shutdown.append(_close_streams)
    if payments is None:  # its own provider stops with it; a shared one is its owner's
        app.on_cleanup.append(_close_provider)

    def limited(handler: Handler, limit: str, scope: str, by: KeyBy = KeyBy.CALLER) -> Handler:
        return limits.wrap(handler, limit, scope, by)

    auth_limit, book_limit = settings.rate_limit_auth, settings.rate_limit_booking
    default = settings.rate_limit_default
    # Password guesses and new accounts count per address whatever token is sent.
    register = limited(accounts.register, settings.rate_limit_register, "register-hourly",
                       KeyBy.ADDRESS)
    app.router.add_post("/api/auth/register",
                        limited(register, auth_limit, "register", KeyBy.ADDRESS))
    app.router.add_post("/api/auth/login",
                        limited(accounts.login, auth_limit, "login", KeyBy.ADDRESS))
    app.router.add_post("/api/auth/logout", limited(accounts.logout, default, "write"))
    app.router.add_post("/api/auth/logout-all",
                        limited(accounts.logout_all, default, "write"))
    app.router.add_get("/api/events", limited(events.list_events, default, "read"))
    app.router.add_post("/api/events", limited(events.create_event, default, "write"))
    app.router.add_get("/api/events/{event_id}", limited(events.get_event, default, "read"))
    app.router.add_patch("/api/events/{event_id}",
                         limited(events.update_event, default, "write"))
    app.router.add_post("/api/events/{event_id}/cancel",
                        limited(events.cancel_event, default, "write"))
    app.router.add_post("/api/events/{event_id}/book",
                        limited(bookings.book, book_limit, "book"))
    app.router.add_get("/api/bookings/{booking_id}",
                       limited(bookings.get_booking, default, "read"))
    app.router.add_post("/api/bookings/{booking_id}/cancel",
                        limited(bookings.cancel_booking, book_limit, "book"))
    app.router.add_post("/api/bookings/{booking_id}/extend",
                        limited(bookings.extend_booking, book_limit, "book"))
    app.router.add_post("/api/bookings/{booking_id}/pay",
                        limited(bookings.pay_booking, book_limit, "book"))
    app.router.add_post("/api/events/{event_id}/staff",
                        limited(door.grant_staff, default, "write"))
    app.router.add_get("/api/events/{event_id}/staff", limited(door.list_staff, default, "read"))
    app.router.add_delete("/api/events/{event_id}/staff/{user_id}",
                          limited(door.revoke_staff, default, "write"))
    app.router.add_post("/api/events/{event_id}/checkin",
                        limited(door.check_in, default, "write"))
    app.router.add_get("/api/me/tickets", limited(bookings.my_tickets, default, "read"))
    app.router.add_get("/api/me/bookings", limited(bookings.my_bookings, default, "read"))
    app.router.add_post("/api/events/{event_id}/waitlist",
                        limited(waitlist.join, book_limit, "book"))
    app.router.add_delete("/api/events/{event_id}/waitlist",
                          limited(waitlist.leave, book_limit, "book"))
    app.router.add_get("/api/me/waitlist", limited(waitlist.mine, default, "read"))
    # Joins count per address too: one machine cannot hold many accounts' places cheaply.
    app.router.add_post("/api/events/{event_id}/queue", limited(
        limited(queue.join, book_limit, "queue"), book_limit, "queue-address", KeyBy.ADDRESS))
    app.router.add_get("/api/queue/{queue_id}", limited(queue.entry, default, "read"))
    # Signed by the provider, not signed in: counted per address, like other anonymous calls.
    app.router.add_post("/api/payments/webhook",
                        limited(webhooks.webhook, default, "webhook", KeyBy.ADDRESS))
    if isinstance(app[payments_key], FakeProvider):
        # The fake provider's customer step (3-D Secure): a real provider hosts its own.
        app.router.add_post("/api/fake-provider/actions/{attempt_id}/complete", limited(
            fake_provider.complete_action, default, "write", KeyBy.ADDRESS))
    app.router.add_get("/api/events/{event_id}/queue", limited(queue.watch, default, "read"))
    app.router.add_get("/api/config", limited(config.config, default, "read", KeyBy.ADDRESS))
    app[health_probe_key] = HealthProbe(settings.health_cache_seconds)
    app.router.add_get("/api/health", limited(health.health, default, "health", KeyBy.ADDRESS))
    app.router.add_get("/api/stream", limited(stream.stream, default, "stream"))
    app.router.add_post("/api/stream/ticket", limited(stream.stream_ticket, default, "read"))
    if settings.bench_endpoints:
        app.router.add_post("/api/bench/book/{event_id}",
                            limited(bench.noop_book, book_limit, "book"))
    openapi.add_routes(app)
    app.router.add_get("/metrics", metrics_endpoint(settings.metrics_allowed))
    webui.add_routes(app, settings.webui_dir)
    return app
