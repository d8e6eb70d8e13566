"""``_find``/``_explain`` request bodies, validated as ``mango_opts:validate_find`` does.

``FindOptions.to_json`` is the ``opts`` object ``_explain`` echoes, in CouchDB's member order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from brainlink_docs.errors import BadRequest
from brainlink_docs.views.mango.indexes import parse_sort

# mango_opts:default_limit/0.
DEFAULT_LIMIT = 25


@dataclass(frozen=True, slots=True)
class FindOptions:
    selector: dict[str, Any]
    use_index: list[str]
    bookmark: str
    limit: int
    skip: int
    sort: tuple[tuple[str, str], ...]
    fields: list[str] | None  # None: every field
    r: int
    conflicts: bool
    stale: Any
    update: bool
    stable: bool
    execution_stats: bool
    allow_fallback: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "use_index": self.use_index,
            "bookmark": self.bookmark,
            "limit": self.limit,
            "skip": self.skip,
            "sort": dict(self.sort),
            "fields": self.fields or [],
            "partition": "",
            "r": self.r,
            "conflicts": self.conflicts,
            "stale": self.stale,
            "update": self.update,
            "stable": self.stable,
            "execution_stats": self.execution_stats,
            "allow_fallback": self.allow_fallback,
        }


def _show(value: Any) -> str:
    return orjson.dumps(value).decode()


def _non_neg(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise BadRequest(
            f"{_show(value)} is not an integer greater than or equal to zero",
            error="invalid_non_neg_integer",
        )
    return value


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise BadRequest(f"Invalid boolean value: {_show(value)}", error="invalid_boolean")
    return value


def _use_index(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list) and len(value) <= 2 and all(isinstance(v, str) for v in value):
        return list(value)
    raise BadRequest(f"Invalid index name: {_show(value)}", error="invalid_index_name")


def _fields(value: Any) -> list[str] | None:
    if not isinstance(value, list):
        raise BadRequest(
            f"Fields must be an array of strings, not: {_show(value)}", error="invalid_fields"
        )
    for item in value:
        if not isinstance(item, str):
            raise BadRequest(f"Invalid JSON for field spec: {_show(item)}", error="invalid_field")
    return list(value) or None


def _r(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise BadRequest(
            f"{_show(value)} is not an integer greater than zero", error="invalid_pos_integer"
        )
    return value


def _bookmark(value: Any) -> str:
    if not isinstance(value, str):
        raise BadRequest(f"Invalid bookmark value: {_show(value)}", error="invalid_bookmark")
    return value


_KEYS = frozenset(
    {
        "selector",
        "use_index",
        "bookmark",
        "limit",
        "skip",
        "sort",
        "fields",
        "partition",
        "r",
        "conflicts",
        "stale",
        "update",
        "stable",
        "execution_stats",
        "allow_fallback",
    }
)


def parse_find(body: Any) -> FindOptions:
    """Validate a ``_find`` body (the selector is normalized separately, by the caller)."""
    if not isinstance(body, dict):
        raise BadRequest("Request body must be a JSON object")
    for key in body:
        if key not in _KEYS:
            raise BadRequest(f"Invalid key {key} for this request.", error="invalid_key")
    if "selector" not in body:
        raise BadRequest("Missing required key: selector", error="missing_required_key")
    selector = body["selector"]
    if not isinstance(selector, dict):
        raise BadRequest(
            f"Selector must be a JSON object, not: {_show(selector)}",
            error="invalid_selector_json",
        )
    return FindOptions(
        selector=selector,
        use_index=_use_index(body.get("use_index", [])),
        bookmark=_bookmark(body.get("bookmark", "nil")),
        limit=_non_neg(body.get("limit", DEFAULT_LIMIT)),
        skip=_non_neg(body.get("skip", 0)),
        sort=parse_sort(body.get("sort", [])),
        fields=_fields(body.get("fields", [])),
        r=_r(body.get("r", 1)),
        conflicts=_boolean(body.get("conflicts", False)),
        stale=body.get("stale", False),
        update=_boolean(body.get("update", True)),
        stable=_boolean(body.get("stable", False)),
        execution_stats=_boolean(body.get("execution_stats", False)),
        allow_fallback=_boolean(body.get("allow_fallback", True)),
    )
