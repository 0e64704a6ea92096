"""`POST /api/fake-provider/actions/{attempt_id}/complete`: the fake provider's page for the
customer step it asks of `tok_action` charges (3-D Secure), served by the gateway only when
the fake provider takes the money. It ends the step at the fake — as the buyer does at a real
provider's page — and the fake then tells the engine by its signed webhook
(`FAKE_PAYMENT_WEBHOOK_URL`), or recovery's lookup finds it: the engine's own paths settle the
booking, never this route."""

from __future__ import annotations

from aiohttp import web

from engine.errors import ActionNotPending, NotFound
from engine.payments.fake import FakeProvider
from gateway.keys import payments_key
from gateway.responses import json_response
from gateway.schemas import ActionPath, FakeActionInput
from gateway.validation import path_params, read_json


async def complete_action(request: web.Request) -> web.Response:
    """End the step: 200 with the charge's status at the fake, 404 no such charge, 409 its
    step ended already (or was cancelled), 422 a bad outcome."""
    provider = request.app[payments_key]
    assert isinstance(provider, FakeProvider)  # the route exists only for the fake
    attempt = str(path_params(request, ActionPath).attempt_id)
    body = await read_json(request, FakeActionInput)
    if attempt not in provider.charges:
        raise NotFound("no such charge at the fake provider")
    ended = provider.complete_action(attempt, body.outcome == "succeeded")
    if ended is None:
        raise ActionNotPending("this charge's customer step has ended already (or was "
                               "cancelled)")
    return json_response({"status": ended.status.value})
