"""The actor runtime: shard actors with mailboxes and group-committed batches."""

from engine.runtime.actor import ShardActor, ShardStore
from engine.runtime.runtime import ShardRuntime

__all__ = ["ShardActor", "ShardRuntime", "ShardStore"]
