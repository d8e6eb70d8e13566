"""Mappers: what turns a design document into view rows, one per design-document language.

A view index does not care how rows are computed: it asks the design document's ``Mapper`` to
map a batch of winning revisions and stores what comes back. CouchDB's ``javascript`` language
runs in the QuickJS query server; Mango's ``query`` language (JSON indexes) is registered by
``views.mango`` and runs in Python. ``mapper_for`` picks by the design document's ``language``.

A mapper's ``signature`` changes exactly when its rows could change, so an index is keyed by it:
an unchanged design document never rebuilds, a changed one builds a new index once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from brainlink_docs.errors import CouchError, QueryServerError
from brainlink_docs.store.api import DESIGN_PREFIX, Doc
from brainlink_docs.views.js.design import JAVASCRIPT, DesignDoc, design_doc
from brainlink_docs.views.js.engine import ViewRows
from brainlink_docs.views.js.server import QueryServer


class Mapper(Protocol):
    """One design document's views, ready to map documents."""

    @property
    def signature(self) -> str: ...

    @property
    def view_names(self) -> tuple[str, ...]: ...

    def reduce_of(self, view: str) -> str | None:
        """The view's reduce: a built-in name (``_sum``…), JavaScript source, or ``None``."""
        ...

    async def map_docs(self, docs: Sequence[Doc]) -> list[list[ViewRows]]:
        """For each document, for each of ``view_names``, its ``[key, value]`` rows."""
        ...

    async def reduce(self, view: str, kvs: Sequence[Any]) -> Any:
        """A JavaScript reduce over ``[[key, id], value]`` pairs (built-ins run elsewhere)."""
        ...

    async def rereduce(self, view: str, reductions: Sequence[Any]) -> Any: ...


# A factory builds a mapper from a design document body; it raises CouchDB's 400
# invalid_design_doc for a body it cannot use.
MapperFactory = Callable[[Mapping[str, Any], QueryServer], Mapper]
_FACTORIES: dict[str, MapperFactory] = {}


def register_mapper(language: str, factory: MapperFactory) -> None:
    """Make design documents of ``language`` indexable (``views.mango`` registers ``query``)."""
    _FACTORIES[language] = factory


def mapper_for(body: Mapping[str, Any], query_server: QueryServer) -> Mapper:
    language = body.get("language", JAVASCRIPT)
    factory = _FACTORIES.get(str(language))
    if factory is None:
        # couch_query_servers answers an unknown language with this 500.
        raise QueryServerError(str(language), error="unknown_query_language")
    return factory(body, query_server)


class JavaScriptMapper:
    """CouchDB's views: map and reduce functions run by the QuickJS ``QueryServer``."""

    def __init__(self, body: Mapping[str, Any], query_server: QueryServer) -> None:
        self.ddoc: DesignDoc = design_doc(body)
        self._server = query_server

    @property
    def signature(self) -> str:
        return self.ddoc.signature

    @property
    def view_names(self) -> tuple[str, ...]:
        return tuple(self.ddoc.views)

    def reduce_of(self, view: str) -> str | None:
        source = self.ddoc.views[view]
        return source.builtin_reduce or source.reduce

    async def map_docs(self, docs: Sequence[Doc]) -> list[list[ViewRows]]:
        return await self._server.map_docs(self.ddoc, self.view_names, docs)

    async def reduce(self, view: str, kvs: Sequence[Any]) -> Any:
        return await self._server.reduce(self.ddoc, view, kvs)

    async def rereduce(self, view: str, reductions: Sequence[Any]) -> Any:
        return await self._server.rereduce(self.ddoc, view, reductions)


register_mapper(JAVASCRIPT, JavaScriptMapper)


async def check_design(body: Mapping[str, Any], query_server: QueryServer) -> None:
    """What saving a design document checks, as CouchDB 3.5 does (``couch_mrview:validate``):
    JavaScript views must parse (400 ``invalid_design_doc``) and compile (400
    ``compilation_error``); other registered languages validate in their factory. Languages
    nobody registered are accepted (CouchDB stores them and fails at query time), and so are
    ``validate_doc_update`` and filters, which compile when they run."""
    language = str(body.get("language", JAVASCRIPT))
    if language == JAVASCRIPT:
        ddoc = design_doc(body)
        if ddoc.views:
            await query_server.check(ddoc)
        return
    if language in _FACTORIES:
        _FACTORIES[language](body, query_server)


async def design_refusals(
    docs: Sequence[Any], query_server: QueryServer
) -> list[CouchError | None] | None:
    """Per document of a write, the error that refuses a design document which does not pass
    ``check_design`` (as CouchDB refuses it on every write path, replicated ones included);
    ``None`` when the batch holds no design document."""
    if not any(_is_design_edit(doc) for doc in docs):
        return None
    refusals: list[CouchError | None] = []
    for doc in docs:
        refusal = None
        if _is_design_edit(doc):
            try:
                await check_design(doc, query_server)
            except CouchError as exc:
                refusal = exc
        refusals.append(refusal)
    return refusals


def _is_design_edit(doc: Any) -> bool:
    return (
        isinstance(doc, dict)
        and isinstance(doc.get("_id"), str)
        and doc["_id"].startswith(DESIGN_PREFIX)
        and not doc.get("_deleted")
    )
