-- Provider events taken in through the signed webhook (docs/design.md, "Holds and payment"):
-- one row per event id, written before the event is acted on, so a delivery the provider
-- repeats (its retries, or a replay within the signature's window) finds its id taken and
-- does nothing. An event whose handling failed for want of a backing service is removed
-- again so the provider's retry is handled; one lost to a crash stays taken, and recovery's
-- poll of the provider settles its attempt instead.
CREATE TABLE payment_webhooks (
    provider    text NOT NULL,
    event_id    text NOT NULL CHECK (length(event_id) BETWEEN 1 AND 200),
    type        text NOT NULL CHECK (type IN ('charge.succeeded', 'charge.failed',
                                              'charge.refunded')),
    -- The attempt it named; NULL for a charge this engine never made (another system's).
    payment_id  uuid REFERENCES payments (id),
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, event_id)
);
-- What the checkout's recovery deletes once no provider would deliver an event again.
CREATE INDEX payment_webhooks_received ON payment_webhooks (received_at);
