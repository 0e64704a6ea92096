"""Parsing requests through the schemas of `gateway/schemas.py`: bodies (JSON only, small,
known fields only, strict types), path, query and header parameters.

pydantic's errors are structured (a location and a type per failure), so each is translated
into the engine's error tree by field, never by reading message text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from engine.errors import (
    BodyTooLarge,
    InvalidInput,
    MalformedJson,
    NotFound,
    UnsupportedMediaType,
)
from gateway.fields import Refusal
from gateway.keys import settings_key

M = TypeVar("M", bound=BaseModel)


async def read_json(request: web.Request, schema: type[M], *, empty_ok: bool = False) -> M:
    """The validated body; with `empty_ok`, a request without one gets the defaults."""
    if not request.body_exists and empty_ok:
        return schema()
    return parse_json(await read_body(request), schema)


async def read_body(request: web.Request) -> bytes:
    """The raw JSON body, unparsed (what a signature is checked over): required, of type
    application/json, within MAX_BODY_BYTES."""
    if not request.body_exists:
        raise InvalidInput("a JSON body is required")
    if request.content_type != "application/json":
        raise UnsupportedMediaType("send the body as application/json")
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        limit = request.app[settings_key].max_body_bytes
        raise BodyTooLarge(f"the body is larger than {limit} bytes") from exc


def parse_json(raw: bytes, schema: type[M]) -> M:
    """A body read by `read_body`, validated."""
    try:
        return schema.model_validate_json(raw)
    except ValidationError as exc:
        raise _refusal(schema, exc) from exc


def path_params(request: web.Request, schema: type[M]) -> M:
    """The path's parameters; 404 (never 500, never another resource) for a malformed one."""
    try:
        return schema.model_validate(request.match_info)
    except ValidationError as exc:
        names = ", ".join(str(e["loc"][0]) for e in exc.errors() if e["loc"])
        raise NotFound(f"no such {names or 'resource'}") from exc


def query_params(request: web.Request, schema: type[M]) -> M:
    """The query string's parameters (the first of repeated ones); 422 for a bad one."""
    return _params(schema, {key: request.query[key] for key in request.query})


def header_params(request: web.Request, schema: type[M]) -> M:
    """The headers the schema names (matched case-insensitively, as HTTP says); 422 for a bad
    one."""
    names = (info.alias or name for name, info in schema.model_fields.items())
    return _params(schema, {n: request.headers[n] for n in names if n in request.headers})


def _params(schema: type[M], values: Mapping[str, str]) -> M:
    try:
        return schema.model_validate(values)
    except ValidationError as exc:
        raise _refusal(schema, exc) from exc


def _refusal(schema: type[BaseModel], exc: ValidationError) -> InvalidInput:
    """The error of the tree that answers the first failure pydantic reports."""
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0]
    if first["type"] == "json_invalid":
        return MalformedJson("the body is not valid JSON")
    # Unknown top-level fields; one inside an object field is that field's refusal.
    unknown = sorted(str(e["loc"][0]) for e in errors
                     if e["type"] == "extra_forbidden" and len(e["loc"]) == 1)
    if unknown:
        return InvalidInput(f"unknown field(s): {', '.join(unknown)}", fields=unknown)
    if not first["loc"]:
        return InvalidInput("the body must be a JSON object")
    field = str(first["loc"][0])
    return _error_class(schema, field)(f"{field}: {_explain(first)}", field=field)


def _explain(error: ErrorDetails) -> str:
    if error["type"] == "string_pattern_mismatch":
        return "may not contain control characters"
    if error["type"] == "missing":
        return "is required"
    return error["msg"].removeprefix("Value error, ")


def _error_class(schema: type[BaseModel], alias: str) -> type[InvalidInput]:
    """The narrower error a field names with a `Refusal` marker, else `InvalidInput`."""
    for name, info in schema.model_fields.items():
        if alias in (name, info.alias):
            for mark in info.metadata:
                if isinstance(mark, Refusal):
                    return mark.error
    return InvalidInput
