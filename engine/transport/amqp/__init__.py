"""The RabbitMQ transport, both halves: the gateway side publishes commands and receives
outcomes (`AmqpTransport`), the shard side consumes shard queues into the actors and is
their `Outlet` (`AmqpShardConsumer`); `topology` names and declares what they share."""

from engine.transport.amqp.consumer import AmqpShardConsumer
from engine.transport.amqp.errors import BROKER_ERRORS
from engine.transport.amqp.publisher import AmqpTransport
from engine.transport.amqp.topology import Names

__all__ = ["BROKER_ERRORS", "AmqpShardConsumer", "AmqpTransport", "Names"]
