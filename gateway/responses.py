"""JSON responses through orjson (fast, and it serializes UUIDs and datetimes)."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web


def json_response(data: Any, status: int = 200,
                  headers: dict[str, str] | None = None) -> web.Response:
    """A JSON response."""
    return web.Response(body=orjson.dumps(data), status=status, headers=headers,
                        content_type="application/json")


def error_response(status: int, code: str, message: str,
                   headers: dict[str, str] | None = None, **extra: Any) -> web.Response:
    """The API's error shape: `{"error": code, "message": text}`."""
    return json_response({"error": code, "message": message, **extra}, status, headers)
