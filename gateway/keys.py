"""Typed application keys: every resource the gateway shares, in one place."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg
from aiohttp import web

from engine.auth import Principal, TokenIssuer
from engine.checkin import CheckinDesk
from engine.checkout import Checkout
from engine.metrics import Metrics
from engine.notifications import Notifications
from engine.notify.notifier import Notifier
from engine.notify.sender import OutboxSender
from engine.payment_webhooks import PaymentWebhooks
from engine.payments.provider import PaymentProvider
from engine.service import BookingService
from engine.sessions import SessionView
from engine.settings import Settings
from engine.storage.session_feed import SessionFeed
from engine.stream_tickets import StreamTickets
from engine.transport.base import Transport
from engine.types import Clock, Sleeper
from gateway.health import HealthProbe
from gateway.stream import StreamHub

settings_key = web.AppKey("settings", Settings)
#: Who takes the money for paid events, and the checkout that uses it.
payments_key = web.AppKey("payments", PaymentProvider)
checkout_key = web.AppKey("checkout", Checkout)
#: The provider's signed events about charges (`POST /api/payments/webhook`).
payment_webhooks_key = web.AppKey("payment_webhooks", PaymentWebhooks)
#: Door staff and check-in.
checkin_key = web.AppKey("checkin", CheckinDesk)
#: How emails leave, and the sender that drains the outbox through it (process 0 only).
notifier_key = web.AppKey("notifier", Notifier)
outbox_sender_key = web.AppKey("outbox_sender", OutboxSender)
#: The clock and sleeper hold deadlines and payment checks run on (tests move them).
clock_key = web.AppKey("clock", tuple[Clock, Sleeper])
pool_key = web.AppKey("pool", asyncpg.Pool)
issuer_key = web.AppKey("issuer", TokenIssuer)
stream_tickets_key = web.AppKey("stream_tickets", StreamTickets)
transport_key = web.AppKey("transport", Transport)
notifications_key = web.AppKey("notifications", Notifications)
service_key = web.AppKey("service", BookingService)
metrics_key = web.AppKey("metrics", Metrics)
stream_hub_key = web.AppKey("stream_hub", StreamHub)
health_probe_key = web.AppKey("health_probe", HealthProbe)
#: Counts one login attempt against an email; raises `RateLimited` over the limit.
LoginEmailLimit = Callable[[str], Awaitable[None]]
login_email_limit_key: web.AppKey[LoginEmailLimit] = web.AppKey("login_email_limit")
sessions_key = web.AppKey("sessions", SessionView)
session_feed_key = web.AppKey("session_feed", SessionFeed)

#: Set by the auth middleware for a request with a valid bearer token.
principal_key = web.RequestKey("principal", Principal)
