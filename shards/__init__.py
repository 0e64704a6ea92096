"""Shard worker processes: consume shard queues and run the shard actors."""
