"""``validate_doc_update``: CouchDB's write-time checks, for any ``DocumentStore`` that writes.

Every design document with a ``validate_doc_update`` function checks every write of a normal
document — new edits and replicated ones (``new_edits=false``) alike — as
``validate_doc_update(newDoc, oldDoc, userCtx, secObj)``, in design-document id order; the
first refusal wins. Design documents and ``_local`` documents are not checked (CouchDB's
``couch_db:validate_doc_update``: design documents need a database admin instead, local ones
never replicate).

What the functions see, as CouchDB 3.5 passes it (checked against it):

- ``newDoc``: the document as written, ``_rev`` still the parent revision, with the parent's
  ``_revisions`` and inline attachments shown as stubs; a deletion is ``{_id, _rev,
  _deleted: true}``.
- ``oldDoc``: the revision being replaced with its ``_revisions``; ``null`` for a new document
  or one re-created over a deletion; for a replicated edit, the current leaf its revision path
  extends (``null`` when none: a new branch).
- ``userCtx``: ``{db, name, roles}`` of the writer; ``secObj``: the database's ``_security``.

Verdicts become CouchDB's answers: ``throw({forbidden: m})`` 403, ``throw({unauthorized: m})``
401, any other one-member object or a string 500 ``unknown_error`` with that message, a
JavaScript ``Error`` 500 with its name as the error (CouchDB's reason is ``{[]}``; ours is the
message); in ``_bulk_docs`` each is that document's error row. A number, ``null`` or a
many-member object fails the whole request (CouchDB: 500 ``function_clause``).

A write that is a conflict anyway (its parent revision is not a leaf, or the document exists
and no ``_rev`` was given) is not checked: the store answers the conflict, as CouchDB checks
conflicts first.

``DesignFunctionsCache`` remembers, per store, which design documents validate, so a database
without any costs one boolean test per write; the store drops it whenever it writes a design
document.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from brainlink_docs.errors import (
    CouchError,
    Forbidden,
    NotFound,
    QueryServerError,
    Unauthorized,
)
from brainlink_docs.store.api import LOCAL_PREFIX, AllDocsQuery, DocumentStore, ReadOptions
from brainlink_docs.store.documents import parse_edit
from brainlink_docs.views.js.design import JAVASCRIPT, DesignFunctions, design_functions
from brainlink_docs.views.js.server import QueryServer

DESIGN_PREFIX = "_design/"
# Every design document, in id order: "_design0" is the first id after the "_design/" range.
_DESIGN_DOCS = AllDocsQuery(startkey=DESIGN_PREFIX, endkey="_design0", include_docs=True)
_WITH_REVS = ReadOptions(revs=True)
Doc = dict[str, Any]


def admin_user_ctx(db: str) -> dict[str, Any]:
    """The ``userCtx`` of a write with no request behind it: an embedded store is its own
    administrator (CouchDB's admin party)."""
    return {"db": db, "name": None, "roles": ["_admin"]}


def user_ctx_json(db: str, name: str | None, roles: Sequence[str]) -> dict[str, Any]:
    """CouchDB's ``userCtx`` object for a request's user on database ``db``."""
    return {"db": db, "name": name, "roles": list(roles)}


def writes_design_doc(docs: Sequence[Any]) -> bool:
    """Whether a batch touches a design document (so cached design functions are stale)."""
    for doc in docs:
        if isinstance(doc, dict):
            doc_id = doc.get("_id")
            if isinstance(doc_id, str) and doc_id.startswith(DESIGN_PREFIX):
                return True
    return False


class DesignFunctionsCache:
    """Which design documents of one store have a ``validate_doc_update`` (see the module
    docstring); loaded on first use and after ``invalidate``."""

    def __init__(self, store: DocumentStore, query_server: Callable[[], QueryServer]) -> None:
        self._store = store
        self._query_server = query_server
        self._validators: list[DesignFunctions] | None = None
        self._generation = 0

    @property
    def store(self) -> DocumentStore:
        return self._store

    @property
    def query_server(self) -> QueryServer:
        return self._query_server()

    def invalidate(self) -> None:
        self._validators = None
        self._generation += 1

    async def validators(self) -> list[DesignFunctions]:
        if self._validators is not None:
            return self._validators
        generation = self._generation
        page = await self._store.all_docs(_DESIGN_DOCS)
        found = []
        for row in page.rows:
            doc = row.get("doc")
            if isinstance(doc, dict) and isinstance(doc.get("validate_doc_update"), str):
                functions = design_functions(doc)
                if functions.language == JAVASCRIPT:
                    found.append(functions)
        if generation == self._generation:  # no design document was written meanwhile
            self._validators = found
        return found


@dataclass(slots=True)
class _Case:
    index: int
    new: Doc
    old: Doc | None


async def check_writes(
    cache: DesignFunctionsCache,
    validators: Sequence[DesignFunctions],
    docs: Sequence[Doc],
    *,
    new_edits: bool,
    user_ctx: Mapping[str, Any],
) -> tuple[list[Any], list[CouchError | None]]:
    """Check a batch: the documents to write (new ones given their generated ``_id``) and,
    per document, ``None`` or the error that refuses it. Raises for an invalid document (as
    the write would) and for a verdict that fails the whole request."""
    store = cache.store
    edits = [parse_edit(doc, new_edits=new_edits) for doc in docs]
    prepared: list[Any] = [
        doc if "_id" in doc else {**doc, "_id": edit.id}
        for doc, edit in zip(docs, edits, strict=True)
    ]
    checked = [
        i for i, edit in enumerate(edits) if not edit.id.startswith((DESIGN_PREFIX, LOCAL_PREFIX))
    ]
    verdicts: list[CouchError | None] = [None] * len(docs)
    if not checked:
        return prepared, verdicts
    found = await store.bulk_get([{"id": edits[i].id} for i in checked], _WITH_REVS)
    cases = []
    for i, answer in zip(checked, found, strict=True):
        leaves = [entry["ok"] for entry in answer["docs"] if "ok" in entry]
        case = (
            _new_edit_case(i, prepared[i], edits[i].rev, leaves)
            if new_edits
            else _replicated_case(i, prepared[i], edits[i].path or [], leaves)
        )
        if case is not None:
            cases.append(case)
    security = await store.get_security()
    for validator in validators:
        if not cases:
            break
        try:
            answers = await cache.query_server.validate(
                validator, [(c.new, c.old) for c in cases], user_ctx, security
            )
        except CouchError as exc:
            if exc.error != "compilation_error":
                raise
            # CouchDB refuses each document of the batch with it (a 201 with error rows).
            for case in cases:
                verdicts[case.index] = exc
            break
        still = []
        for case, answer in zip(cases, answers, strict=True):
            error = verdict_error(answer)
            if error is None:
                still.append(case)
            else:
                verdicts[case.index] = error
        cases = still
    return prepared, verdicts


def _new_edit_case(index: int, doc: Doc, parent: str | None, leaves: list[Doc]) -> _Case | None:
    if parent is None:
        live = [leaf for leaf in leaves if not leaf.get("_deleted")]
        # An existing live document without _rev is a conflict; over a deletion it is new.
        return None if live else _Case(index, _as_written(doc, None), None)
    old = next((leaf for leaf in leaves if leaf.get("_rev") == parent), None)
    if old is None:
        return None  # not a leaf (or no such document): the store answers the conflict
    return _Case(index, _as_written(doc, old), old)


def _replicated_case(index: int, doc: Doc, path: list[str], leaves: list[Doc]) -> _Case | None:
    by_rev = {leaf.get("_rev"): leaf for leaf in leaves}
    if path and path[0] in by_rev:
        return None  # already stored: writing it again changes nothing
    old = next((by_rev[rev] for rev in path[1:] if rev in by_rev), None)
    return _Case(index, _as_written(doc, None), old)


def _as_written(doc: Doc, old: Doc | None) -> Doc:
    """``newDoc`` as CouchDB shows it: the parent's ``_revisions``, attachments as stubs."""
    new = dict(doc)
    if old is not None and "_revisions" in old and "_revisions" not in new:
        new["_revisions"] = old["_revisions"]
    atts = new.get("_attachments")
    if isinstance(atts, dict):
        new["_attachments"] = {name: _stub(spec) for name, spec in atts.items()}
    return new


def _stub(spec: Any) -> Any:
    if not isinstance(spec, dict) or "data" not in spec:
        return spec
    data = spec["data"]
    if isinstance(data, str):
        try:
            length = len(base64.b64decode(data, validate=True))
        except (binascii.Error, ValueError):
            length = 0  # the store refuses the data itself
    else:
        length = len(data) if isinstance(data, bytes | bytearray) else 0
    stub = {k: v for k, v in spec.items() if k not in ("data", "follows")}
    stub.setdefault("revpos", 0)
    stub["length"] = spec.get("length", length)
    stub["stub"] = True
    return stub


def verdict_error(verdict: Any) -> CouchError | None:
    """CouchDB's answer to one ``validate_doc_update`` verdict (see the module docstring)."""
    if verdict == 1 and not isinstance(verdict, bool):
        return None
    if isinstance(verdict, str):
        return CouchError(verdict, error="unknown_error")
    if isinstance(verdict, dict) and len(verdict) == 1:
        ((key, message),) = verdict.items()
        if key == "$error" and isinstance(message, list) and len(message) == 2:
            return CouchError(str(message[1]), error=str(message[0]))
        reason = message if isinstance(message, str) else orjson.dumps(message).decode()
        if key == "forbidden":
            return Forbidden(reason)
        if key == "unauthorized":
            return Unauthorized(reason)
        return CouchError(reason, error="unknown_error")
    # couch_query_servers:validate_doc_update has no clause for anything else.
    raise QueryServerError("function_clause", error="unknown_error")


async def check_one(
    cache: DesignFunctionsCache,
    new: Doc,
    old: Doc | None,
    user_ctx: Mapping[str, Any],
) -> None:
    """Check one edit whose documents the caller built (attachment writes): raise its error."""
    validators = await cache.validators()
    if not validators or str(new.get("_id", "")).startswith((DESIGN_PREFIX, LOCAL_PREFIX)):
        return
    security = await cache.store.get_security()
    for validator in validators:
        (answer,) = await cache.query_server.validate(
            validator, [(_as_written(new, old), old)], user_ctx, security
        )
        error = verdict_error(answer)
        if error is not None:
            raise error


async def revision_with_revs(store: DocumentStore, doc_id: str, rev: str) -> Doc | None:
    """The revision ``rev`` of ``doc_id`` with its ``_revisions``, or None if it is not there."""
    try:
        return await store.get(doc_id, rev, _WITH_REVS)
    except NotFound:
        return None
