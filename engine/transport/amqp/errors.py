"""The broker errors both halves of the RabbitMQ transport treat as transient."""

from __future__ import annotations

import aio_pika
import aiormq

#: Errors that mean "the broker cannot take this now" (publish, ack, reject, cancel).
#: Deliberately not RuntimeError or Exception: anything else is a bug and must surface.
BROKER_ERRORS: tuple[type[BaseException], ...] = (
    aiormq.exceptions.AMQPError,  # DeliveryError (nack), PublishError (return), closed, ...
    # A RuntimeError subclass, not an AMQPError: raised when a channel's transport is gone.
    aiormq.exceptions.ChannelInvalidStateError,
    aio_pika.exceptions.AMQPException,
    ConnectionError,
    OSError,
    TimeoutError,
)
