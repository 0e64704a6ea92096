"""Typed application keys: every resource the gateway shares, in one place."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from engine.auth import Principal, TokenIssuer
from engine.metrics import Metrics
from engine.notifications import Notifications
from engine.service import BookingService
from engine.sessions import SessionView
from engine.settings import Settings
from engine.storage.session_feed import SessionFeed
from engine.transport.base import Transport
from gateway.stream import StreamHub

settings_key = web.AppKey("settings", Settings)
pool_key = web.AppKey("pool", asyncpg.Pool)
issuer_key = web.AppKey("issuer", TokenIssuer)
transport_key = web.AppKey("transport", Transport)
notifications_key = web.AppKey("notifications", Notifications)
service_key = web.AppKey("service", BookingService)
metrics_key = web.AppKey("metrics", Metrics)
stream_hub_key = web.AppKey("stream_hub", StreamHub)
sessions_key = web.AppKey("sessions", SessionView)
session_feed_key = web.AppKey("session_feed", SessionFeed)

#: Set by the auth middleware for a request with a valid bearer token.
principal_key = web.RequestKey("principal", Principal)
