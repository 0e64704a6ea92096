"""Transports carry booking commands to shard actors and outcomes back.

Each transport implements both halves of `engine.transport.base` in its own module or
package: `Transport` for the gateway, `Outlet` for the shard actors (`inproc.py`, `amqp/`).
`registry.create_transport` picks one by name and imports it lazily, so the in-process
default never imports aio-pika.
"""
