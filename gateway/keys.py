"""Typed application keys: every resource the gateway shares, in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncpg
from aiohttp import web

from engine.auth import Principal, TokenIssuer
from engine.metrics import Metrics
from engine.runtime import ShardRuntime
from engine.service import BookingService
from engine.settings import Settings
from engine.transport.base import Transport

if TYPE_CHECKING:  # ratelimit reads principal_key from here
    from gateway.ratelimit import RateLimits
    from gateway.stream import StreamHub

settings_key = web.AppKey("settings", Settings)
pool_key = web.AppKey("pool", asyncpg.Pool)
issuer_key = web.AppKey("issuer", TokenIssuer)
runtime_key = web.AppKey("runtime", ShardRuntime)
transport_key = web.AppKey("transport", Transport)
service_key = web.AppKey("service", BookingService)
metrics_key = web.AppKey("metrics", Metrics)
limits_key: web.AppKey[RateLimits] = web.AppKey("limits")

#: Set by the auth middleware for a request with a valid bearer token.
principal_key = web.RequestKey("principal", Principal)
stream_hub_key: web.AppKey[StreamHub] = web.AppKey("stream_hub")
