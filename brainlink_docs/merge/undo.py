"""Undoing a resolution: a revision a merge replaced becomes the document again.

The resolver keeps a record of each merge (``merge-resolution:<id>:<rev>``: the winner it wrote
under and the leaves it deleted). Undoing writes the body of one of those revisions as a new
edit of the document's current revision, stamped like any edit made through the merger (so it
wins over what it replaces, and replicates as an ordinary edit: no conflict, no branch revived).
Attachments are not merged (a merge keeps the winner's); the restore keeps the current ones.
The replaced bodies stay in the store until compaction; after it, there is nothing to restore,
and undoing says so.
"""

from __future__ import annotations

from typing import Any

from brainlink_docs.errors import BadRequest, NotFound
from brainlink_docs.merge.fields import user_fields
from brainlink_docs.merge.resolver import RESOLUTION_TYPE
from brainlink_docs.store.api import BulkResult, Doc, DocumentStore


async def undo(store: DocumentStore, record_id: str, keep: str) -> BulkResult:
    """Make revision ``keep`` (the winner or a loser of the resolution ``record_id``) the
    document's body again; ``store`` should stamp its edits (a ``StampingStore``)."""
    record = await _record(store, record_id)
    replaced = [record.get("winner_rev"), *record.get("losing_revs", [])]
    if keep not in replaced:
        raise BadRequest(f"{keep} is not a revision {record_id} replaced: one of {replaced}")
    doc_id = record["doc_id"]
    try:
        kept = await store.get(doc_id, keep)
    except NotFound as exc:
        raise NotFound(
            f"revision {keep} of {doc_id} was compacted away: nothing to restore"
        ) from exc
    current = await _current(store, doc_id)
    restored: Doc = {**user_fields(kept), "_id": doc_id}
    if current is not None:
        restored["_rev"] = current["_rev"]
        if current.get("_attachments"):  # merges keep the winner's attachments; so does undo
            restored["_attachments"] = current["_attachments"]
    return await store.put(restored)


async def _record(store: DocumentStore, record_id: str) -> dict[str, Any]:
    try:
        record = await store.get(record_id)
    except NotFound as exc:
        raise NotFound(f"no resolution record {record_id}") from exc
    if record.get("type") != RESOLUTION_TYPE or not isinstance(record.get("doc_id"), str):
        raise BadRequest(f"{record_id} is not a resolution record")
    return record


async def _current(store: DocumentStore, doc_id: str) -> Doc | None:
    try:
        return await store.get(doc_id)
    except NotFound:  # deleted since: the restore re-creates it
        return None
