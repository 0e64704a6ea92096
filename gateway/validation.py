"""Parsing request bodies: JSON only, small, known fields only, types checked.

Unknown fields are refused rather than ignored, so no client can assign what it should not
(a `role`, a `sold` counter).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from aiohttp import web

from engine.errors import (
    BodyTooLarge,
    InvalidInput,
    MalformedJson,
    NotFound,
    UnsupportedMediaType,
)
from gateway.keys import settings_key


@dataclass(frozen=True, slots=True)
class Field:
    """One accepted body field."""

    kind: type | tuple[type, ...]
    required: bool = False
    nullable: bool = False
    min: int | None = None
    max: int | None = None
    #: The error raised for a bad value (its code is what clients match on).
    error: type[InvalidInput] = InvalidInput


async def read_json(request: web.Request, schema: Mapping[str, Field], *,
                    empty_ok: bool = False) -> dict[str, Any]:
    """The validated body as a dict holding only the fields present."""
    if not request.body_exists:
        if empty_ok:
            return {}
        raise InvalidInput("a JSON body is required")
    if request.content_type != "application/json":
        raise UnsupportedMediaType("send the body as application/json")
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        limit = request.app[settings_key].max_body_bytes
        raise BodyTooLarge(f"the body is larger than {limit} bytes") from exc
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedJson("the body is not valid JSON") from exc
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object")
    unknown = sorted(set(data) - set(schema))
    if unknown:
        raise InvalidInput(f"unknown field(s): {', '.join(unknown)}", fields=unknown)
    for name, spec in schema.items():
        if name not in data:
            if spec.required:
                raise InvalidInput(f"{name} is required", field=name)
            continue
        try:
            data[name] = _check(name, data[name], spec)
        except InvalidInput as exc:
            raise spec.error(exc.message, field=name) from exc
    return data


def _check(name: str, value: Any, spec: Field) -> Any:
    if value is None:
        if spec.nullable:
            return None
        raise InvalidInput(f"{name} may not be null", field=name)
    if spec.kind is datetime:
        if not isinstance(value, str):
            raise InvalidInput(f"{name} must be an ISO 8601 date-time", field=name)
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise InvalidInput(f"{name} must be an ISO 8601 date-time", field=name) from exc
        if parsed.tzinfo is None:
            raise InvalidInput(f"{name} needs a timezone (e.g. Z)", field=name)
        return parsed
    # bool is an int in Python; a JSON `true` is never a quantity.
    if isinstance(value, bool) and spec.kind is not bool:
        raise InvalidInput(f"{name} has the wrong type", field=name)
    if not isinstance(value, spec.kind):
        raise InvalidInput(f"{name} has the wrong type", field=name)
    if isinstance(value, str):
        value = value.strip()
        if spec.min is not None and len(value) < spec.min:
            raise InvalidInput(f"{name} is too short", field=name)
        if spec.max is not None and len(value) > spec.max:
            raise InvalidInput(f"{name} is too long", field=name)
    elif isinstance(value, int):
        if (spec.min is not None and value < spec.min) or (
                spec.max is not None and value > spec.max):
            raise InvalidInput(f"{name} must be between {spec.min} and {spec.max}",
                               field=name)
    return value


def path_int(request: web.Request, name: str) -> int:
    """An integer path parameter; 404 (not 500) for anything else."""
    raw = request.match_info[name]
    if not raw.isdigit() or len(raw) > 18:
        raise NotFound(f"no such {name}")
    return int(raw)


def path_uuid(request: web.Request, name: str) -> uuid.UUID:
    """A UUID path parameter; 404 for anything else."""
    try:
        return uuid.UUID(request.match_info[name])
    except ValueError as exc:
        raise NotFound(f"no such {name}") from exc
