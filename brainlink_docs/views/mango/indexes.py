"""Mango index definitions: ``_index`` requests, the design documents that hold them, listings.

A JSON index lives in a design document whose ``language`` is ``"query"``, one view per index,
exactly as CouchDB 3.5 writes it (so the design documents replicate to and from CouchDB)::

    {"_id": "_design/<ddoc>", "language": "query",
     "views": {"<name>": {"map": {"fields": {"x": "asc"}, "partial_filter_selector": {}},
                          "reduce": "_count", "options": {"def": {"fields": ["x"]}}}}}

``Index`` is one index as the planner sees it; the special ``_all_docs`` index (``ddoc``
``None``) is always there and always first in a listing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from brainlink_docs.errors import BadRequest, Unavailable
from brainlink_docs.store.api import DESIGN_PREFIX
from brainlink_docs.views.mango.normalize import normalize

QUERY_LANGUAGE = "query"
ALL_DOCS = "_all_docs"


@dataclass(frozen=True, slots=True, eq=False)
class Index:
    """One Mango index: ``type`` is ``"json"`` (a view) or ``"special"`` (``_all_docs``).

    Compared by identity: the planner's sets hold the very objects one listing produced."""

    ddoc: str | None
    name: str
    type: str
    fields: tuple[tuple[str, str], ...]
    # As written in the design document ({} when none); None for _all_docs.
    partial_filter_selector: Mapping[str, Any] | None = None

    @property
    def columns(self) -> list[str]:
        return [f for f, _ in self.fields]

    @property
    def is_partial(self) -> bool:
        return bool(self.partial_filter_selector)

    @property
    def ddoc_name(self) -> str:
        return (self.ddoc or "")[len(DESIGN_PREFIX) :]

    def to_json(self) -> dict[str, Any]:
        """``mango_idx:to_json``: what ``GET _index`` and ``_explain`` show."""
        fields = [{f: d} for f, d in self.fields]
        if self.type == "special":
            return {"ddoc": None, "name": self.name, "type": "special", "def": {"fields": fields}}
        definition: dict[str, Any] = {"fields": fields}
        if self.partial_filter_selector:
            definition["partial_filter_selector"] = self.partial_filter_selector
        return {
            "ddoc": self.ddoc,
            "name": self.name,
            "type": self.type,
            "partitioned": False,
            "def": definition,
        }


ALL_DOCS_INDEX = Index(None, ALL_DOCS, "special", (("_id", "asc"),))


def parse_sort(spec: Any) -> tuple[tuple[str, str], ...]:
    """``mango_sort:new`` (also an index's ``fields``): names or ``{name: "asc"|"desc"}``,
    all in one direction."""
    if not isinstance(spec, list):
        raise BadRequest(
            f"Sort must be an array of sort specs, not: {_show(spec)}", error="invalid_sort_json"
        )
    out: list[tuple[str, str]] = []
    for item in spec:
        if isinstance(item, str):
            out.append((item, "asc"))
        elif (
            isinstance(item, dict)
            and len(item) == 1
            and next(iter(item.values())) in ("asc", "desc")
        ):
            ((name, direction),) = item.items()
            out.append((name, direction))
        else:
            raise BadRequest(f"Invalid sort field: {_show(item)}", error="invalid_sort_field")
    if len({d for _, d in out}) > 1:
        raise BadRequest(
            "Sorts currently only support a single direction for all fields.",
            error="unsupported_mixed_sort",
        )
    return tuple(out)


def _show(value: Any) -> str:
    return orjson.dumps(value).decode()


@dataclass(frozen=True, slots=True)
class IndexRequest:
    """A validated ``POST _index`` body."""

    ddoc: str
    name: str
    fields: tuple[tuple[str, str], ...]
    partial_filter_selector: dict[str, Any]
    definition: dict[str, Any]

    def view(self) -> dict[str, Any]:
        """The design-document view CouchDB writes for this index."""
        return {
            "map": {
                "fields": dict(self.fields),
                "partial_filter_selector": self.partial_filter_selector,
            },
            "reduce": "_count",
            "options": {"def": self.definition},
        }


_INDEX_KEYS = frozenset({"index", "ddoc", "name", "type", "partitioned", "w"})


def parse_index_request(body: Any) -> IndexRequest:
    """``mango_opts:validate_idx_create`` and ``mango_idx:new`` for JSON indexes."""
    if not isinstance(body, dict):
        raise BadRequest("Request body must be a JSON object")
    for key in body:
        if key not in _INDEX_KEYS:
            raise BadRequest(f"Invalid key {key} for this request.", error="invalid_key")
    if "index" not in body:
        raise BadRequest("Missing required key: index", error="missing_required_key")
    kind = body.get("type", "json")
    if kind in ("text", "nouveau"):
        # CouchDB without its search services answers these so; we have neither.
        raise Unavailable(kind, error="required index service unavailable")
    if kind != "json":
        raise BadRequest(f"Invalid type for index: {_show(kind)[1:-1]}", error="invalid_index")
    definition = body["index"]
    if not isinstance(definition, dict):
        raise BadRequest(f"Invalid index JSON: {_show(definition)}", error="invalid_index_json")
    if "fields" not in definition:
        raise BadRequest("Missing required key: fields", error="missing_required_key")
    fields = parse_sort(definition["fields"])
    # Stored normalized (a bad one is the same 400 as a bad selector), as CouchDB stores it.
    partial = normalize(definition.get("partial_filter_selector", {}))
    canonical = {"fields": [{f: d} for f, d in fields], "partial_filter_selector": partial}
    generated = hashlib.sha1(orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS)).hexdigest()
    ddoc = body.get("ddoc", generated)
    name = body.get("name", generated)
    if not isinstance(ddoc, str) or not ddoc:
        raise BadRequest(f"Invalid design document id: {_show(ddoc)}", error="invalid_ddoc")
    if not isinstance(name, str) or not name:
        raise BadRequest(f"Invalid index name: {_show(name)}", error="invalid_index_name")
    if not ddoc.startswith(DESIGN_PREFIX):
        ddoc = DESIGN_PREFIX + ddoc
    return IndexRequest(ddoc, name, fields, partial, definition)


def add_to_ddoc(ddoc: dict[str, Any] | None, request: IndexRequest) -> dict[str, Any] | None:
    """The design document with the index added, or ``None`` when it is already there."""
    if ddoc is not None and ddoc.get("language") != QUERY_LANGUAGE:
        # mango_idx:add refuses to put an index into another language's design document.
        language = ddoc.get("language", False)
        raise BadRequest(
            f"Existing design doc has an invalid language: {_show(language).strip(chr(34))}",
            error="invalid_ddoc_lang",
        )
    body = dict(ddoc) if ddoc is not None else {"_id": request.ddoc, "language": QUERY_LANGUAGE}
    views = dict(body.get("views") or {})
    view = request.view()
    old = views.get(request.name)
    if isinstance(old, dict) and old.get("map") == view["map"]:
        return None
    views[request.name] = view
    body["views"] = views
    body.setdefault("language", QUERY_LANGUAGE)
    return body


def remove_from_ddoc(ddoc: dict[str, Any], name: str) -> dict[str, Any] | None:
    """The design document without index ``name`` (``None``: no such index); a deletion when
    it was the last one."""
    views = ddoc.get("views")
    if ddoc.get("language") != QUERY_LANGUAGE or not isinstance(views, dict) or name not in views:
        return None
    rest = {k: v for k, v in views.items() if k != name}
    if not rest:
        # mango_idx:delete deletes a design document left without indexes.
        return {"_id": ddoc["_id"], "_rev": ddoc.get("_rev"), "_deleted": True}
    return {**ddoc, "views": rest}


def indexes_of_ddoc(ddoc: Mapping[str, Any]) -> list[Index]:
    """``mango_idx_view:from_ddoc``: the JSON indexes of a ``query`` design document (views
    that are not index definitions are skipped, as CouchDB logs and skips them)."""
    if ddoc.get("language") != QUERY_LANGUAGE or ddoc.get("_deleted"):
        return []
    views = ddoc.get("views")
    if not isinstance(views, dict):
        return []
    out: list[Index] = []
    for name, view in views.items():
        index = _view_index(str(ddoc["_id"]), name, view)
        if index is not None:
            out.append(index)
    return out


def _view_index(ddoc_id: str, name: str, view: Any) -> Index | None:
    mapping = view.get("map") if isinstance(view, dict) else None
    if not isinstance(mapping, dict) or not isinstance(mapping.get("fields"), dict):
        return None
    fields = tuple((str(f), str(d)) for f, d in mapping["fields"].items())
    partial = mapping.get("partial_filter_selector") or {}
    if not isinstance(partial, dict):
        return None
    return Index(ddoc_id, name, "json", fields, partial)


def list_json(indexes: list[Index]) -> dict[str, Any]:
    """``GET _index``: ``_all_docs`` first, then the JSON indexes by design document."""
    every = [ALL_DOCS_INDEX, *indexes]
    return {"total_rows": len(every), "indexes": [i.to_json() for i in every]}
