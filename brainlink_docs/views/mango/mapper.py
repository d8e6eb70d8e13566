"""The ``query``-language ``Mapper``: the rows a Mango JSON index holds, computed in Python.

``mango_native_proc`` (CouchDB 3.5) indexes a document under each view of a ``query`` design
document as one row ``[[v1, v2, ...], null]``, the values of the index's fields in order, unless

- the document is a design document,
- the index has a ``partial_filter_selector`` the document does not match, or
- one of the fields is missing (or its path runs through a scalar).

Deleted documents never reach a mapper. This runs on every indexed document, so it does no I/O
and builds each index's plan (field paths, normalized partial filter) once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from brainlink_docs.errors import BadRequest
from brainlink_docs.store.api import DESIGN_PREFIX, Doc
from brainlink_docs.views.index.mappers import register_mapper
from brainlink_docs.views.js.engine import ViewRows
from brainlink_docs.views.js.server import QueryServer
from brainlink_docs.views.mango.indexes import QUERY_LANGUAGE, Index, indexes_of_ddoc
from brainlink_docs.views.mango.normalize import Selector, normalize
from brainlink_docs.views.mango.selector import BAD_PATH, MISSING, get_field, match


def index_row(columns: Sequence[str], partial: Selector | None, doc: Doc) -> list[Any] | None:
    """The index key of ``doc`` (``None``: not indexed). ``partial`` is normalized."""
    if str(doc.get("_id", "")).startswith(DESIGN_PREFIX):
        return None
    if partial and not match(partial, doc):
        return None
    key: list[Any] = []
    for column in columns:
        value = get_field(doc, column)
        if value is MISSING or value is BAD_PATH:
            return None
        key.append(value)
    return key


class QueryMapper:
    """One ``query`` design document's JSON indexes, as a view index's ``Mapper``."""

    def __init__(self, body: Mapping[str, Any], query_server: QueryServer | None = None) -> None:
        if body.get("language") != QUERY_LANGUAGE:
            raise BadRequest("not a query design document", error="invalid_design_doc")
        self.indexes: tuple[Index, ...] = tuple(indexes_of_ddoc({"_id": "", **body}))
        self._plans = [
            (index.columns, normalize(index.partial_filter_selector or {}))
            for index in self.indexes
        ]
        views = {i.name: [i.fields, i.partial_filter_selector] for i in self.indexes}
        self._signature = hashlib.md5(
            orjson.dumps(views, option=orjson.OPT_SORT_KEYS), usedforsecurity=False
        ).hexdigest()

    @property
    def signature(self) -> str:
        return self._signature

    @property
    def view_names(self) -> tuple[str, ...]:
        return tuple(i.name for i in self.indexes)

    def reduce_of(self, view: str) -> str | None:
        return "_count"  # every Mango view has the built-in _count (mango_idx_view:make_view)

    def rows_of(self, doc: Doc) -> list[ViewRows]:
        out: list[ViewRows] = []
        for columns, partial in self._plans:
            key = index_row(columns, partial, doc)
            out.append([] if key is None else [[key, None]])
        return out

    async def map_docs(self, docs: Sequence[Doc]) -> list[list[ViewRows]]:
        return [self.rows_of(doc) for doc in docs]

    async def reduce(self, view: str, kvs: Sequence[Any]) -> Any:
        raise BadRequest("Mango indexes reduce with the built-in _count only")

    async def rereduce(self, view: str, reductions: Sequence[Any]) -> Any:
        raise BadRequest("Mango indexes reduce with the built-in _count only")


register_mapper(QUERY_LANGUAGE, QueryMapper)
