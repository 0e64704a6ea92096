"""PostgreSQL access: connection and migrations, repositories, the shard actors' batch store."""

from engine.storage.database import TRANSIENT_DB_ERRORS, create_pool, translate_db_errors

__all__ = ["TRANSIENT_DB_ERRORS", "create_pool", "translate_db_errors"]
