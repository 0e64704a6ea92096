"""Schemathesis against a live gateway, from the OpenAPI document it serves: every operation
with valid and invalid data — no server error, and every answer as documented (status,
headers, body schema). The gateway runs as its own process (`ticketwar run`), because
schemathesis calls it synchronously."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import asyncpg
import pytest

from engine.auth import TokenIssuer
from engine.types import Role
from ops.surge.population import bulk_accounts
from ops.surge.stack import local_gateway
from tests.conftest import TEST_DATABASE_URL, base_settings

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

#: Logging out would end the session the fuzzer signs its requests with; those two
#: operations have tests of their own (tests/test_sessions.py).
EXCLUDED = ("/api/auth/logout", "/api/auth/logout-all")
#: Not run: "positive data acceptance" (every schema-valid request answered 2xx). Two rules
#: no JSON Schema can state refuse some schema-valid requests with a 4xx on purpose: the
#: password strength policy (zxcvbn) and the configured MAX_QUANTITY below the documented
#: ceiling. Every other check runs: server errors, status codes, headers, content types,
#: answer schemas, and that invalid data is refused.
UNLIMITED = {"RATE_LIMIT_DEFAULT": "1000000/second", "RATE_LIMIT_BOOKING": "1000000/second",
             "RATE_LIMIT_AUTH": "1000000/second", "RATE_LIMIT_REGISTER": "1000000/hour"}


async def test_schemathesis_finds_no_server_error_and_no_schema_violation(
        db_pool: asyncpg.Pool, tmp_path: Path) -> None:
    settings = base_settings(tmp_path / ".ticketwar")
    assert settings.jwt_secret is not None
    (vendor,) = await bulk_accounts(db_pool, TokenIssuer(settings), 1, Role.VENDOR,
                                    tag=f"fuzz{os.getpid()}")
    env = {"DATABASE_URL": TEST_DATABASE_URL, "JWT_SECRET": settings.jwt_secret.reveal(),
           "DATA_DIR": str(tmp_path / ".ticketwar"),
           # Webhooks on, as deployed: the route is fuzzed behind its signature check.
           "PAYMENT_WEBHOOK_SECRET": "fuzz-" + "w" * 40, **UNLIMITED}
    async with local_gateway("queued", env) as url:
        excluded = [arg for path in EXCLUDED for arg in ("--exclude-path", path)]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "schemathesis.cli", "run", f"{url}/api/openapi.json",
            "--checks", "all", "--exclude-checks", "positive_data_acceptance",
            "--max-examples", "6", "--seed", "1",
            "--generation-database", "none", "--phases", "examples,coverage,fuzzing",
            "-H", f"Authorization: Bearer {vendor.token}", *excluded,
            cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await proc.communicate()
    report = out.decode(errors="replace")
    assert proc.returncode == 0, report[-6000:]
    assert "Tested: " in report  # it ran the operations, and found nothing
