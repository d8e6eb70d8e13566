"""A design document's view functions as the query server needs them.

``DesignDoc`` is an immutable value parsed from a ``_design/…`` body: its ``language``, its
views (map source and optional reduce source by name), ``views.lib`` (the CommonJS modules
``require`` reads) and a ``signature``. The signature is the hash of everything that changes
what a view computes (language, ``views`` with ``lib``, ``options``), so an index and a
compiled engine context keyed by it are reused exactly while those stay the same.

Validation answers CouchDB's ``invalid_design_doc`` errors for shapes it refuses on save
(``couch_mrview:validate``); compilation errors come from the engine (``QueryServer.check``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from brainlink_docs.canonical import canonical_json
from brainlink_docs.errors import BadRequest

# CouchDB's built-in reduces. It matches them by prefix (couch_query_servers' binary
# patterns such as <<"_sum", _/binary>>), so "_sum " and "_count_x" are _sum and _count.
BUILTIN_REDUCES = ("_approx_count_distinct", "_count", "_sum", "_stats")
# The only language this query server runs; CouchDB answers others 500 unknown_query_language.
JAVASCRIPT = "javascript"


@dataclass(frozen=True, slots=True)
class ViewSource:
    """One view's functions: the map source and the reduce (JavaScript or a built-in name)."""

    map: str
    reduce: str | None = None

    @property
    def builtin_reduce(self) -> str | None:
        """The built-in this view reduces with, or ``None`` for none or a JavaScript reduce."""
        return builtin_reduce_name(self.reduce) if self.reduce is not None else None


@dataclass(frozen=True, slots=True)
class DesignDoc:
    id: str
    language: str
    views: Mapping[str, ViewSource]
    lib: Any
    signature: str


def builtin_reduce_name(source: str) -> str | None:
    """The built-in a reduce source names (by CouchDB's prefix rule), else ``None``."""
    if not source.startswith("_"):
        return None
    return next((name for name in BUILTIN_REDUCES if source.startswith(name)), None)


def invalid_design_doc(reason: str) -> BadRequest:
    return BadRequest(reason, error="invalid_design_doc")


def design_doc(body: Mapping[str, Any]) -> DesignDoc:
    """Parse a design document body, refusing what CouchDB refuses on save."""
    language = body.get("language", JAVASCRIPT)
    views = body.get("views", {})
    if not isinstance(views, dict):
        raise invalid_design_doc("`views` field must have object type")
    parsed = {name: _view_source(name, spec) for name, spec in views.items() if name != "lib"}
    return DesignDoc(
        id=str(body.get("_id", "")),
        language=str(language),
        views=parsed,
        lib=views.get("lib"),
        signature=signature(body),
    )


def signature(body: Mapping[str, Any]) -> str:
    """Hex digest of what a view's output depends on (not ``_rev``, not other members)."""
    content = {
        "language": body.get("language", JAVASCRIPT),
        "views": body.get("views", {}),
        "options": body.get("options", {}),
    }
    try:
        text = canonical_json(content)
    except TypeError:  # lone surrogates (from \ud800-style escapes): orjson refuses them
        text = json.dumps(content, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(text).hexdigest()


def _view_source(name: str, spec: Any) -> ViewSource:
    if not isinstance(spec, dict):
        raise invalid_design_doc(f"`views.{name}` field must have object type")
    if "map" not in spec:
        raise invalid_design_doc(f"View `{name}` must contain map function")
    source, reduce = spec["map"], spec.get("reduce")
    if not isinstance(source, str):
        raise invalid_design_doc(f"`views.{name}.map` field must have string type")
    if reduce is not None and not isinstance(reduce, str):
        raise invalid_design_doc(f"`views.{name}.reduce` field must have string type")
    if reduce is not None and reduce.startswith("_") and builtin_reduce_name(reduce) is None:
        raise invalid_design_doc(f"`{reduce}` is not a supported reduce function.")
    return ViewSource(map=source, reduce=reduce)


@dataclass(frozen=True, slots=True)
class DesignFunctions:
    """A design document's non-view functions: ``validate_doc_update`` and ``filters``.

    ``body`` is the whole document: CouchDB runs these functions with the design document as
    ``this`` and resolves their ``require`` from its root, so any edit of it may change what
    they do, and ``signature`` (the engine's context key) covers all of it, ``_rev`` included.
    """

    id: str
    language: str
    validate: str | None
    filters: Mapping[str, str]
    body: Mapping[str, Any]
    signature: str


def design_functions(body: Mapping[str, Any]) -> DesignFunctions:
    """The validate and filter functions of a design document body (the shapes CouchDB runs:
    a string ``validate_doc_update``, string members of an object ``filters``)."""
    validate = body.get("validate_doc_update")
    filters = body.get("filters")
    return DesignFunctions(
        id=str(body.get("_id", "")),
        language=str(body.get("language", JAVASCRIPT)),
        validate=validate if isinstance(validate, str) else None,
        filters={k: v for k, v in filters.items() if isinstance(v, str)}
        if isinstance(filters, dict)
        else {},
        body=body,
        signature="functions:" + _digest(body),
    )


def _digest(value: Any) -> str:
    try:
        text = canonical_json(value)
    except TypeError:  # lone surrogates, as in ``signature``
        text = json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(text).hexdigest()
