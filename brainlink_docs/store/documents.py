"""Incoming document edits, validated: the shape every store writes and the server checks.

A client's JSON document mixes user fields with CouchDB's special ``_`` members. ``parse_edit``
splits them into a ``DocEdit`` (id, revision or history, deleted flag, attachment specs and the
user body) and rejects what CouchDB rejects: ids with a reserved leading underscore, malformed
revisions, and unknown special members (``couch_doc:transfer_fields``).
"""

from __future__ import annotations

import operator
import uuid
from dataclasses import dataclass
from typing import Any

from brainlink_docs.errors import BadRequest, DocValidation
from brainlink_docs.revs import parse_rev, revisions_to_path
from brainlink_docs.store.api import DESIGN_PREFIX, LOCAL_PREFIX, Doc

# Special members CouchDB accepts on write and drops: they describe a read, not the document.
_IGNORED_SPECIALS = frozenset(
    {"_conflicts", "_deleted_conflicts", "_revs_info", "_local_seq", "_access"}
)
_HANDLED_SPECIALS = frozenset({"_id", "_rev", "_deleted", "_attachments", "_revisions"})
_KNOWN_SPECIALS = _IGNORED_SPECIALS | _HANDLED_SPECIALS
_IS_SPECIAL = operator.methodcaller("startswith", "_")
# Special members CouchDB keeps in the body: a _replicator document's outcome, written by the
# server's replication scheduler (couch_doc:transfer_fields).
_KEPT_SPECIALS = frozenset(
    {
        "_replication_state",
        "_replication_state_time",
        "_replication_state_reason",
        "_replication_id",
        "_replication_stats",
    }
)


@dataclass(frozen=True, slots=True)
class DocEdit:
    """One validated edit. ``path`` is the revision history, leaf first (replicated writes)."""

    id: str
    rev: str | None
    path: list[str] | None
    deleted: bool
    body: dict[str, Any]
    attachments: dict[str, Any] | None


def validate_doc_id(doc_id: object) -> str:
    """CouchDB's id rule: a non-empty string; a leading ``_`` only for design and local docs."""
    if not isinstance(doc_id, str):
        raise BadRequest("Document id must be a string")
    if not doc_id:
        raise BadRequest("Document id must not be empty")
    if doc_id.startswith("_") and not (
        (doc_id.startswith(DESIGN_PREFIX) and len(doc_id) > len(DESIGN_PREFIX))
        or (doc_id.startswith(LOCAL_PREFIX) and len(doc_id) > len(LOCAL_PREFIX))
    ):
        raise BadRequest("Only reserved document ids may start with underscore.")
    return doc_id


def new_doc_id() -> str:
    """A server-generated id: 32 hex digits, as CouchDB's ``_uuids`` (random algorithm)."""
    return uuid.uuid4().hex


def parse_edit(doc: object, *, new_edits: bool) -> DocEdit:
    """Validate one document of a write; raises ``BadRequest`` / ``DocValidation``."""
    if not isinstance(doc, dict):
        raise BadRequest("Document must be a JSON object")
    # A C-level copy and deletes beat a per-key comprehension on the bulk-insert hot path.
    body: dict[str, Any] = dict(doc)
    for key in _KNOWN_SPECIALS & doc.keys():
        del body[key]
    if any(map(_IS_SPECIAL, body)):
        unknown = next((k for k in body if k.startswith("_") and k not in _KEPT_SPECIALS), None)
        if unknown is not None:
            raise DocValidation(f"Bad special document member: {unknown}")
    doc_id = new_doc_id() if "_id" not in doc and new_edits else validate_doc_id(doc.get("_id"))
    deleted = doc.get("_deleted", False)
    if not isinstance(deleted, bool):
        raise BadRequest("_deleted must be a boolean")
    attachments = doc.get("_attachments")
    if attachments is not None and not isinstance(attachments, dict):
        raise DocValidation("_attachments must be a JSON object")
    raw_rev = doc.get("_rev")
    if doc_id.startswith(LOCAL_PREFIX):
        # Local documents have no tree; their "0-N" revisions are checked by the store.
        rev = raw_rev if isinstance(raw_rev, str) else None
        return DocEdit(doc_id, rev, None, deleted, body, attachments)
    rev = str(parse_rev(raw_rev)) if raw_rev is not None else None
    path = _history(doc, rev) if not new_edits else None
    if path is None and not new_edits:
        raise BadRequest("Document must have a _rev when new_edits is false")
    return DocEdit(doc_id, rev, path, deleted, body, attachments)


def _history(doc: Doc, rev: str | None) -> list[str] | None:
    """The leaf-first history of a replicated edit, from ``_revisions`` or ``_rev`` alone."""
    revisions = doc.get("_revisions")
    if revisions is None:
        return [rev] if rev is not None else None
    if not isinstance(revisions, dict):
        raise BadRequest("_revisions must be a JSON object")
    start, ids = revisions.get("start"), revisions.get("ids")
    if (
        not isinstance(start, int)
        or isinstance(start, bool)
        or not isinstance(ids, list)
        or not ids
        or start < len(ids)
        or not all(isinstance(i, str) and i for i in ids)
    ):
        raise BadRequest("Invalid _revisions")
    path = revisions_to_path(start, ids)
    if rev is not None and rev != path[0]:
        raise BadRequest("_rev does not match the first of _revisions")
    return path
