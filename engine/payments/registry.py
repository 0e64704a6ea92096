"""The payment provider the settings name (`PAYMENT_PROVIDER`)."""

from __future__ import annotations

import asyncio

from engine.errors import StartupError
from engine.payments.fake import FakeProvider, WebhookTarget
from engine.payments.provider import PaymentProvider
from engine.settings import Settings, parse_latency
from engine.types import Clock, Sleeper, utcnow

#: Providers by name. A real one (Stripe, Adyen, ...) is one more entry.
PROVIDERS = ("fake",)


class PaymentProviderUnset(StartupError):
    """A gateway on a configured database must be told which provider takes the money."""

    code = "payment_provider_unset"


def require_provider(settings: Settings) -> None:
    """`PaymentProviderUnset` unless the settings name a provider (the embedded database
    fills in `fake`, so only a configured one gets here unnamed)."""
    if not settings.payment_provider:
        raise PaymentProviderUnset(
            "PAYMENT_PROVIDER is not set",
            hint=f"Name one ({', '.join(PROVIDERS)}) when DATABASE_URL is set: the fake "
                 "provider is the default only with the embedded database")


def create_provider(settings: Settings, *, clock: Clock = utcnow,
                    sleeper: Sleeper = asyncio.sleep) -> PaymentProvider:
    """The provider `settings.payment_provider` names; `PaymentProviderUnset` when none is."""
    require_provider(settings)
    target = None
    if settings.fake_payment_webhook_url:
        assert settings.payment_webhook_secret is not None  # Settings refuse a URL without
        target = WebhookTarget(settings.fake_payment_webhook_url,
                               settings.payment_webhook_secret)
    return FakeProvider(parse_latency(settings.fake_payment_latency), sleeper=sleeper,
                        clock=clock, webhook=target)
