"""Standalone attachment edits (PUT/DELETE /db/doc/att): a new revision in one transaction.

CouchDB turns an attachment upload into an ordinary edit of the document: the parent revision's
body and other attachments (as stubs) plus the new one. Doing the read and the write in the same
writer transaction means no other edit can slip in between.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from brainlink_docs.errors import Conflict, NotFound
from brainlink_docs.store.api import Doc, ReadOptions
from brainlink_docs.store.encoding import AttachmentEncoding
from brainlink_docs.store.sqlite.reads import get_doc, load_row
from brainlink_docs.store.sqlite.writes import BatchOutcome, apply_batch


def _base_doc(conn: sqlite3.Connection, doc_id: str, rev: str | None, token: str) -> Doc:
    """The revision an attachment edit builds on; a missing document starts empty."""
    if rev is None:
        row = load_row(conn, doc_id)
        if row is not None and not row.deleted:
            raise Conflict()
        return {"_id": doc_id}
    try:
        doc = get_doc(conn, doc_id, rev, ReadOptions(), token)
    except NotFound as exc:
        raise Conflict() from exc
    if doc.get("_deleted"):
        doc.pop("_deleted")
    return doc


def put_attachment(
    conn: sqlite3.Connection,
    doc_id: str,
    name: str,
    data: bytes,
    content_type: str,
    rev: str | None,
    token: str,
    encoding: AttachmentEncoding,
) -> BatchOutcome:
    doc = _base_doc(conn, doc_id, rev, token)
    # chttpd_db puts the new attachment first, ahead of the others (multipart answers list
    # attachments in this order).
    atts: dict[str, Any] = {name: {"content_type": content_type, "data": data}}
    atts.update((n, {"stub": True}) for n in doc.get("_attachments", {}) if n != name)
    doc["_attachments"] = atts
    return apply_batch(conn, [doc], True, encoding)


def delete_attachment(
    conn: sqlite3.Connection,
    doc_id: str,
    name: str,
    rev: str,
    token: str,
    encoding: AttachmentEncoding,
) -> BatchOutcome:
    doc = _base_doc(conn, doc_id, rev, token)
    existing = doc.get("_attachments", {})
    if name not in existing:
        raise NotFound("Document is missing attachment")
    doc["_attachments"] = {n: {"stub": True} for n in existing if n != name}
    return apply_batch(conn, [doc], True, encoding)
