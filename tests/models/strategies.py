"""Hypothesis strategies for entity documents, read off each model's JSON schema (pydantic's
``model_json_schema``), so every field of every entity is generated, and a new field is
generated as soon as a model has it."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from brainlink_docs.models import ENTITIES

JSON_SCALARS = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8)
JSON = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


def from_schema(schema: dict[str, Any], defs: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values valid under ``schema`` (the subset of JSON Schema pydantic writes)."""
    if "$ref" in schema:
        return from_schema(defs[schema["$ref"].rsplit("/", 1)[1]], defs)
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "anyOf" in schema:
        return st.one_of([from_schema(s, defs) for s in schema["anyOf"]])
    kind = schema.get("type")
    if kind == "string":
        if "pattern" in schema:
            text = st.from_regex(schema["pattern"], fullmatch=True)
            return text.filter(
                lambda s: schema.get("minLength", 0) <= len(s) <= schema.get("maxLength", 10**9)
            )
        return st.text(min_size=schema.get("minLength", 0), max_size=20)
    if kind == "integer":
        return st.integers(schema.get("minimum", -(2**31)), 2**31)
    if kind == "number":
        low = schema.get("minimum")
        return st.floats(
            min_value=low, max_value=1e9, allow_nan=False, allow_infinity=False
        ) | st.integers(0 if low is not None else -1000, 1000)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "array":
        items = from_schema(schema.get("items", {}), defs)
        return st.lists(items, max_size=3)
    if kind == "object" and "properties" in schema:
        return _object(schema, defs)
    if kind == "object":
        values = schema.get("additionalProperties")
        inner = from_schema(values, defs) if isinstance(values, dict) else JSON
        return st.dictionaries(st.text(max_size=6), inner, max_size=3)
    return JSON  # no constraint: any JSON value


def _object(schema: dict[str, Any], defs: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    required = set(schema.get("required", ()))
    fields = {name: from_schema(sub, defs) for name, sub in schema["properties"].items()}
    return st.fixed_dictionaries(
        {k: v for k, v in fields.items() if k in required},
        optional={k: v for k, v in fields.items() if k not in required},
    )


def entity_bodies(type_name: str) -> st.SearchStrategy[dict[str, Any]]:
    """Bodies of ``type_name``'s documents, at its current schema version."""
    cls = ENTITIES[type_name]
    schema = cls.model_json_schema(by_alias=True)
    body = _object(schema, schema.get("$defs", {}))
    return body.map(
        lambda b: _cross_field({**b, "type": cls.TYPE, "schemaVersion": cls.SCHEMA_VERSION})
    )


def _cross_field(body: dict[str, Any]) -> dict[str, Any]:
    """The rules a JSON schema cannot say: a user's settings carry the user's id."""
    if body["type"] == "userSettings":
        body["id"] = body["userId"]
    return body


entities = st.sampled_from(sorted(ENTITIES)).flatmap(
    lambda name: entity_bodies(name).map(lambda body: ENTITIES[name].model_validate(body))
)
