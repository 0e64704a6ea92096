"""Test data made fast, through the surge tool's bulk path (SQL accounts, minted tokens)."""

from __future__ import annotations

import asyncpg

from engine.auth import TokenIssuer
from engine.types import Role
from ops.surge.population import BULK_PASSWORD, Account, bulk_accounts

PASSWORD = BULK_PASSWORD

__all__ = ["PASSWORD", "Account", "create_accounts"]


async def create_accounts(pool: asyncpg.Pool, issuer: TokenIssuer, count: int,
                          role: Role = Role.USER) -> list[Account]:
    """`count` fresh accounts with tokens."""
    return await bulk_accounts(pool, issuer, count, role)
