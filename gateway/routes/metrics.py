"""`GET /metrics`: Prometheus text format, for the addresses METRICS_ALLOWED lists.

The metrics say how busy the engine is and where it hurts; that is for operators, not for
whoever finds the port. The default allows loopback and the private networks, where
Prometheus runs beside the gateway (and where docker-compose's network lives).
"""

from __future__ import annotations

from ipaddress import ip_address, ip_network

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from engine.errors import Forbidden
from gateway.errors import error_middleware
from gateway.keys import metrics_key, settings_key
from gateway.ratelimit import Handler, client_address


def metrics_endpoint(allowed: frozenset[str]) -> Handler:
    """The handler, serving only callers inside `allowed` (addresses or CIDR networks)."""
    networks = [ip_network(entry, strict=False) for entry in allowed]

    async def metrics(request: web.Request) -> web.Response:
        """Prometheus text format for this gateway (and its in-process shard actors)."""
        address = client_address(request, request.app[settings_key].trusted_proxies)
        try:
            caller = ip_address(address)
        except ValueError:
            caller = None
        if caller is None or not any(caller in net for net in networks):
            raise Forbidden("metrics are not served to this address (METRICS_ALLOWED)")
        return web.Response(body=request.app[metrics_key].exposition(),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    return metrics


def metrics_app(app: web.Application) -> web.Application:
    """An app serving only `GET /metrics` for `app`'s metrics, under the same allow-list:
    what a gateway process serves on its own metrics port."""
    alone = web.Application(middlewares=[error_middleware])  # a refusal answers 403
    alone[settings_key] = settings = app[settings_key]
    alone[metrics_key] = app[metrics_key]
    alone.router.add_get("/metrics", metrics_endpoint(settings.metrics_allowed))
    return alone
