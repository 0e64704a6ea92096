"""The OpenAPI document as a contract on every reply the suite receives: the test client
checks each JSON body against the answer model the document names for its operation and
status (an error status the operation does not list must still be an `Error`). Answer models
refuse unknown fields, so an answer cannot gain a field the document does not show."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import orjson
from pydantic import TypeAdapter

from gateway.answers import ANSWERS
from gateway.openapi import document


@cache
def _operations() -> list[tuple[str, re.Pattern[str], dict[str, Any]]]:
    routes = []
    for template, operations in document()["paths"].items():
        pattern = re.compile(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")
        routes += [(method.upper(), pattern, op) for method, op in operations.items()]
    return routes


@cache
def _adapter(schema_json: bytes) -> TypeAdapter[Any] | None:
    """The validator for one answer schema: a model, or an array of one."""
    schema = orjson.loads(schema_json)
    many = schema.get("type") == "array"
    ref = (schema.get("items", {}) if many else schema).get("$ref")
    if ref is None:
        return None
    model = ANSWERS[ref.rsplit("/", 1)[-1]]
    return TypeAdapter(list[model] if many else model)


def check_reply(method: str, path: str, status: int, body: Any) -> None:
    """Fail (AssertionError) if a JSON reply breaks the document's answer schema."""
    path = path.split("?", 1)[0]
    operation = next((op for verb, pattern, op in _operations()
                      if verb == method.upper() and pattern.match(path)), None)
    if operation is None:
        return  # not an operation of the API (the web UI's files, an unknown path)
    response = operation["responses"].get(str(status))
    if response is None:
        if status < 400:
            raise AssertionError(f"{method} {path}: status {status} is not documented")
        schema: dict[str, Any] = {"$ref": "#/components/schemas/Error"}
    else:
        schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    adapter = _adapter(orjson.dumps(schema))
    if adapter is not None:
        try:
            adapter.validate_json(orjson.dumps(body), strict=True)
        except ValueError as exc:
            raise AssertionError(f"{method} {path} {status}: the answer breaks the "
                                 f"document: {exc}\n{body!r}") from exc
