"""The schema models as OpenAPI 3.1 pieces: component schemas and operation parameters.

OpenAPI 3.1 speaks JSON Schema 2020-12, which pydantic generates; this module only shapes
the output the way the document reads best (`"type": ["string", "null"]` rather than an
`anyOf`, no generated titles) and places references under `#/components/schemas/`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue, models_json_schema
from pydantic_core import core_schema

REF_TEMPLATE = "#/components/schemas/{model}"


class _OpenApiSchema(GenerateJsonSchema):
    """pydantic's generator, with nullable scalars as type lists and no titles."""

    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        """`{"type": [T, "null"]}` when the inner schema is a plain typed one."""
        inner = self.generate_inner(schema["schema"])
        if isinstance(inner.get("type"), str) and "$ref" not in inner:
            return {**inner, "type": [inner["type"], "null"]}
        return super().nullable_schema(schema)

    def field_title_should_be_set(self, schema: Any) -> bool:
        """Never: a field's title only repeats its name."""
        return False


def component_schemas(models: list[type[BaseModel]]) -> dict[str, Any]:
    """`components.schemas` entries for these models (and the models they refer to)."""
    _, top = models_json_schema([(m, "validation") for m in models],
                                ref_template=REF_TEMPLATE, schema_generator=_OpenApiSchema)
    found: dict[str, Any] = top.get("$defs", {})
    # An enum (a Role, a BookingStatus) reads best where it is used, not as a schema of its
    # own with no fields.
    enums = {name for name, schema in found.items() if "enum" in schema}
    schemas = {name: _inline(schema, found, enums) for name, schema in found.items()
               if name not in enums}
    for schema in schemas.values():
        schema.pop("title", None)
    return schemas


def _inline(node: Any, found: dict[str, Any], enums: set[str]) -> Any:
    """`node` with every reference to one of `enums` replaced by the enum itself."""
    if isinstance(node, list):
        return [_inline(item, found, enums) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.rsplit("/", 1)[-1] in enums:
        enum = {k: v for k, v in found[ref.rsplit("/", 1)[-1]].items()
                if k in ("enum", "type")}
        return {**enum, **{k: v for k, v in node.items() if k != "$ref"}}
    return {key: _inline(value, found, enums) for key, value in node.items()}


def _present(spec: dict[str, Any]) -> dict[str, Any]:
    """A parameter's schema without null: a path, query or header value is there or not,
    and text cannot say null (`Optional` in a model only means "may be left out")."""
    spec = dict(spec)
    if isinstance(spec.get("type"), list):
        spec["type"] = next(t for t in spec["type"] if t != "null")
    if spec.get("default", 0) is None:
        del spec["default"]
    return spec


def parameters(model: type[BaseModel],
               where: Literal["path", "query", "header"]) -> list[dict[str, Any]]:
    """The operation parameters a parameter model reads."""
    schema = model.model_json_schema(schema_generator=_OpenApiSchema)
    required = set(schema.get("required", ()))
    out = []
    for name, spec in schema["properties"].items():
        spec = _present(spec)
        param: dict[str, Any] = {"name": name, "in": where}
        if name in required:
            param["required"] = True
        if "description" in spec:
            param["description"] = spec.pop("description")
        param["schema"] = spec
        out.append(param)
    return out
