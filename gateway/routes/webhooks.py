"""`POST /api/payments/webhook`: the payment provider's signed events about charges. No bearer
token: the signature over the raw body (engine/payments/webhooks.py) is the credential, and it
is checked before the body is parsed."""

from __future__ import annotations

from aiohttp import web

from engine.errors import WebhooksDisabled
from engine.payments.webhooks import SIGNATURE_HEADER, verify
from gateway.keys import clock_key, notifications_key, payment_webhooks_key, settings_key
from gateway.responses import json_response
from gateway.schemas import WebhookInput
from gateway.validation import parse_json, read_body


async def webhook(request: web.Request) -> web.Response:
    """Take a provider event: 200 (taken, or seen before), 400 a missing, bad or stale
    signature, 404 when no PAYMENT_WEBHOOK_SECRET is set, 422 a malformed event or one that
    contradicts the attempt it names, 503 not done (the provider delivers it again)."""
    app = request.app
    secret = app[settings_key].payment_webhook_secret
    if secret is None:
        raise WebhooksDisabled("payment webhooks are off: PAYMENT_WEBHOOK_SECRET is not set")
    raw = await read_body(request)
    clock, _ = app[clock_key]
    verify(secret.reveal(), request.headers.get(SIGNATURE_HEADER), raw,
           now=clock().timestamp())
    receipt = await app[payment_webhooks_key].take(parse_json(raw, WebhookInput).to_event())
    if receipt.declined is not None:
        # The buyer waited on a pay answered 202: the hold stays, and may be paid again.
        # Told as any outcome that came back here, so it reaches the buyer's streams on
        # every gateway process, not only this one's.
        app[notifications_key].outcome(receipt.declined)
    return json_response({"eventId": receipt.event_id, "duplicate": receipt.duplicate,
                          "payment": None if receipt.payment is None
                          else receipt.payment.status})
