"""The write path: one ``bulk_docs`` batch as one SQLite transaction (sync, ``fn(conn, ...)``).

A batch is applied in memory first: each edit is validated, checked against the document's
revision tree, merged and stemmed, with the document's state carried from edit to edit (the same
id twice in a batch behaves as two requests in a row). Then every touched document is written
once, with one new sequence each. The caller holds the transaction (``BEGIN IMMEDIATE``), so the
batch lands whole or not at all. As in CouchDB, conflicts are per-document result rows, while an
invalid document (bad id, special member or revision, bad attachment data, a missing stub) fails
the whole batch with its exception.

Body placement invariant: the winner's body lives in its ``docs`` row; every other stored
revision's body lives in ``revs``.
"""

from __future__ import annotations

import base64
import binascii
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from brainlink_docs.canonical import attachment_digest, canonical_json
from brainlink_docs.errors import (
    BadRequest,
    Conflict,
    CouchError,
    NotFound,
    PreconditionFailed,
    content_md5_mismatch,
)
from brainlink_docs.revs import (
    RevNode,
    depth,
    is_leaf,
    merge_path,
    new_rev,
    rev_pos,
    stem,
    winning_rev,
)
from brainlink_docs.store.api import LOCAL_PREFIX, BulkResult
from brainlink_docs.store.documents import DocEdit, parse_edit
from brainlink_docs.store.encoding import (
    DEFAULT_ENCODING,
    GZIP,
    AttachmentEncoding,
    gzip_bytes,
    gzip_length,
)
from brainlink_docs.store.sqlite.codec import decode_atts, decode_tree, encode_atts, encode_tree
from brainlink_docs.store.sqlite.schema import docs_rows

AttMeta = dict[str, dict[str, Any]]
StoredBody = tuple[bytes, AttMeta]


@dataclass(slots=True)
class DocState:
    """A document's row while a batch edits it."""

    doc_id: str
    existed: bool
    was_deleted: bool
    tree: dict[str, RevNode]
    winner: str
    deleted: bool
    # Bodies known in memory: the loaded winner's and every revision this batch wrote.
    bodies: dict[str, StoredBody] = field(default_factory=dict)
    old_winner: str | None = None
    dirty: bool = False
    stemmed: set[str] = field(default_factory=set)


@dataclass(slots=True)
class BatchOutcome:
    results: list[BulkResult]
    update_seq: int
    changed: bool


def load_states(conn: sqlite3.Connection, ids: Iterable[str]) -> dict[str, DocState]:
    """Read the current rows of ``ids`` (winner body included) in a few ``IN`` queries."""
    states: dict[str, DocState] = {}
    sql = "SELECT doc_id, rev, deleted, tree, body, atts FROM docs"
    for doc_id, rev, deleted, tree, body, atts in docs_rows(conn, sql, ids):
        deleted = bool(deleted)
        state = DocState(
            doc_id, True, deleted, decode_tree(tree, rev, deleted), rev, deleted, old_winner=rev
        )
        if body is not None:
            state.bodies[rev] = (body, decode_atts(atts))
        states[doc_id] = state
    return states


def stored_body(
    conn: sqlite3.Connection, state: DocState, rev: str
) -> tuple[bytes, AttMeta] | None:
    """A revision's body from memory or the ``revs`` table (None once compacted away)."""
    known = state.bodies.get(rev)
    if known is not None:
        return known
    row = conn.execute(
        "SELECT body, atts FROM revs WHERE doc_id = ? AND rev = ?", (state.doc_id, rev)
    ).fetchone()
    return (row[0], decode_atts(row[1])) if row else None


def apply_batch(
    conn: sqlite3.Connection,
    docs: Sequence[Any],
    new_edits: bool,
    encoding: AttachmentEncoding = DEFAULT_ENCODING,
) -> BatchOutcome:
    """Apply a whole batch inside the caller's transaction; ``encoding`` says which attachments
    sent in clear are stored gzipped."""
    update_seq, revs_limit = conn.execute(
        "SELECT (SELECT value FROM meta WHERE key = 'update_seq'),"
        " (SELECT value FROM meta WHERE key = 'revs_limit')"
    ).fetchone()
    # CouchDB validates every document before writing any (chttpd_db: doc_from_json_obj_validate
    # over the whole list), so the first invalid one fails the whole request.
    edits = [parse_edit(doc, new_edits=new_edits) for doc in docs]
    states = load_states(conn, (e.id for e in edits if not e.id.startswith(LOCAL_PREFIX)))
    blobs = _Blobs(encoding)
    results: list[BulkResult] = []
    changed = False
    apply = _apply_new_edit if new_edits else _apply_replicated
    for edit in edits:
        if edit.id.startswith(LOCAL_PREFIX):
            # update_local_doc_revs answers a bad local revision in that document's row.
            try:
                results.append(write_local(conn, edit))
            except BadRequest as exc:
                results.append(_error_row(edit.id, exc))
            continue
        # A conflict is a row; any other error (bad attachment data, a missing stub: CouchDB's
        # fabric_doc_update throws on missing_stub) fails the batch, and the caller's
        # transaction rolls back what was applied.
        try:
            rev = apply(conn, states, edit, blobs, revs_limit)
        except Conflict as exc:
            results.append(_error_row(edit.id, exc))
            continue
        results.append(BulkResult(edit.id, rev))
    if blobs.data:
        conn.executemany(
            "INSERT OR IGNORE INTO att_data (digest, data) VALUES (?, ?)", blobs.data.items()
        )
    dirty = [s for s in states.values() if s.dirty]
    if dirty:
        update_seq = _flush(conn, dirty, update_seq)
        changed = True
    return BatchOutcome(results, update_seq, changed)


def delete_doc(conn: sqlite3.Connection, doc_id: str, rev: str) -> BatchOutcome:
    """DELETE /db/doc: chttpd opens the document first, so a missing one is a 404, not a 409."""
    row = conn.execute("SELECT deleted FROM docs WHERE doc_id = ?", (doc_id,)).fetchone()
    if not doc_id.startswith(LOCAL_PREFIX):
        if row is None:
            raise NotFound("missing")
        if row[0]:
            raise NotFound("deleted")
    elif conn.execute("SELECT 1 FROM local_docs WHERE doc_id = ?", (doc_id,)).fetchone() is None:
        raise NotFound("missing")
    doc = {"_id": doc_id, "_rev": rev, "_deleted": True}
    return apply_batch(conn, [doc], new_edits=True)


def _error_row(doc_id: str, exc: CouchError) -> BulkResult:
    return BulkResult(doc_id, None, exc.error, exc.reason)


def _apply_new_edit(
    conn: sqlite3.Connection,
    states: dict[str, DocState],
    edit: DocEdit,
    blobs: _Blobs,
    revs_limit: int,
) -> str:
    """An interactive edit: it must name the leaf it replaces (CouchDB's 409 otherwise)."""
    state = states.get(edit.id)
    parent = _parent_for(state, edit)
    parent_atts = _parent_atts(conn, state, parent) if edit.attachments else {}
    pos = rev_pos(parent) + 1 if parent else 1
    atts = _resolve_attachments(edit, parent_atts, pos, blobs, new_edits=True)
    body = orjson.dumps(edit.body)
    digests = [f"{name}:{meta['digest']}" for name, meta in atts.items()]
    rev = new_rev(parent, edit.deleted, canonical_json(edit.body), digests)
    if state is None:
        # A brand-new document: its tree is one leaf, which wins (the bulk-insert hot path).
        states[edit.id] = DocState(
            edit.id,
            False,
            False,
            {rev: RevNode(None, edit.deleted)},
            rev,
            edit.deleted,
            bodies={rev: (body, atts)},
            dirty=True,
        )
        return rev
    state.tree = dict(state.tree)
    state.tree[rev] = RevNode(parent, edit.deleted)
    state.bodies[rev] = (body, atts)
    _settle(state, revs_limit)
    return rev


def _parent_for(state: DocState | None, edit: DocEdit) -> str | None:
    if state is None:
        if edit.rev is not None:
            raise Conflict()
        return None
    if edit.rev is None:
        # A deleted document is re-created on top of its tombstone (couch_db's recreate path).
        if state.deleted:
            return state.winner
        raise Conflict()
    if edit.rev not in state.tree or not is_leaf(state.tree, edit.rev):
        raise Conflict()
    return edit.rev


def _parent_atts(conn: sqlite3.Connection, state: DocState | None, parent: str | None) -> AttMeta:
    if state is None or parent is None:
        return {}
    found = stored_body(conn, state, parent)
    return found[1] if found else {}


def _apply_replicated(
    conn: sqlite3.Connection,
    states: dict[str, DocState],
    edit: DocEdit,
    blobs: _Blobs,
    revs_limit: int,
) -> str:
    """A replicated edit (``new_edits=false``): merge its history as given; never a conflict."""
    assert edit.path is not None
    leaf = edit.path[0]
    state = states.get(edit.id)
    base = state.tree if state is not None else {}
    tree, changed = merge_path(base, edit.path, edit.deleted)
    # A revision known only by id (an ancestor of a replicated leaf, or compacted) gets the body
    # it arrives with: couch_key_tree:merge keeps a value over ?REV_MISSING, so CouchDB stores
    # it and gives the document a new sequence. A revision whose body we hold changes nothing.
    fills_body = leaf in base and state is not None and stored_body(conn, state, leaf) is None
    if not changed and not fills_body:
        return leaf
    if state is None:
        state = DocState(edit.id, False, False, {}, leaf, edit.deleted)
        states[edit.id] = state
    if leaf not in base or fills_body:
        parent_atts = _nearest_atts(conn, state, edit.path[1:]) if edit.attachments else {}
        atts = _resolve_attachments(edit, parent_atts, rev_pos(leaf), blobs, new_edits=False)
        state.bodies[leaf] = (orjson.dumps(edit.body), atts)
    state.tree = tree
    _settle(state, revs_limit)
    return leaf


def _nearest_atts(conn: sqlite3.Connection, state: DocState, ancestors: list[str]) -> AttMeta:
    """Attachment metadata of the newest ancestor we hold a body for (stubs resolve there)."""
    for rev in ancestors:
        if rev in state.tree:
            found = stored_body(conn, state, rev)
            if found is not None:
                return found[1]
    return {}


def _settle(state: DocState, revs_limit: int) -> None:
    """Stem past ``revs_limit`` and recompute the winner after an edit."""
    tree = state.tree
    # A path longer than the limit needs more nodes than the limit: the cheap test goes first.
    if len(tree) > revs_limit and depth(tree) > revs_limit:
        stemmed = stem(tree, revs_limit)
        state.stemmed.update(r for r in tree if r not in stemmed)
        state.tree = stemmed
    leaf = winning_rev(state.tree)
    state.winner, state.deleted = leaf.rev, leaf.deleted
    state.dirty = True


def _resolve_attachments(
    edit: DocEdit, parent_atts: AttMeta, pos: int, blobs: _Blobs, *, new_edits: bool
) -> AttMeta:
    """Turn ``_attachments`` specs (inline data or stubs) into stored metadata."""
    if not edit.attachments:
        return {}
    out: AttMeta = {}
    for name, spec in edit.attachments.items():
        if name.startswith("_"):
            raise BadRequest("Attachment name can't start with '_'")
        if not isinstance(spec, dict):
            raise BadRequest(f"Attachment {name} must be a JSON object")
        if spec.get("stub"):
            previous = parent_atts.get(name)
            if previous is None:
                raise PreconditionFailed(
                    f"Invalid attachment stub in {edit.id} for {name}", error="missing_stub"
                )
            out[name] = previous
            continue
        meta = blobs.add(name, spec)
        # A replicated attachment keeps its revpos; one sent without any gets 0, as
        # couch_att:inline_from_json gives it (set_new_att_revpos runs for new edits only).
        revpos = spec.get("revpos", 0) if not new_edits else None
        valid = isinstance(revpos, int) and not isinstance(revpos, bool) and 0 <= revpos <= pos
        meta["revpos"] = revpos if valid else pos
        out[name] = meta
    return out


class _Blobs:
    """The attachment bytes a batch writes, keyed by digest, and how each arrived is stored.

    Data arrives three ways (``couch_att``): base64 in JSON, always in clear (any ``digest`` or
    ``encoding`` beside it is ignored, as CouchDB ignores them); raw bytes from the store's own
    attachment call or a multipart upload, in clear unless ``encoding`` says gzip; raw gzip
    bytes, kept as they are with their digest, which must then be the MD5 of those bytes (a
    replica keeps what its peer stored). Clear bytes of a compressible type are gzipped, and the
    digest is always the MD5 of what is stored.
    """

    def __init__(self, encoding: AttachmentEncoding) -> None:
        self.encoding = encoding
        self.data: dict[str, bytes] = {}

    def add(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        raw = spec.get("data")
        content_type = str(spec.get("content_type") or "application/octet-stream")
        if isinstance(raw, bytes):
            if spec.get("encoding") == GZIP:
                return self._keep_gzip(name, raw, content_type, spec.get("digest"))
            _check_digest(raw, spec.get("digest"))
            clear = raw
        else:
            clear = _decode_data(name, raw)
        if not self.encoding.compresses(content_type):
            return self._store(clear, content_type, len(clear))
        gz = gzip_bytes(clear, self.encoding.compression_level)
        return self._store(gz, content_type, len(clear), encoded=True)

    def _keep_gzip(self, name: str, gz: bytes, content_type: str, digest: object) -> dict[str, Any]:
        _check_digest(gz, digest)
        try:
            length = gzip_length(gz)
        except ValueError as exc:
            raise BadRequest(f"Attachment {name} is not properly gzipped.") from exc
        return self._store(gz, content_type, length, encoded=True)

    def _store(
        self, stored: bytes, content_type: str, length: int, *, encoded: bool = False
    ) -> dict[str, Any]:
        digest = attachment_digest(stored)
        self.data[digest] = stored
        meta: dict[str, Any] = {"content_type": content_type, "digest": digest, "length": length}
        if encoded:
            meta["encoding"] = GZIP
            meta["encoded_length"] = len(stored)
        return meta


def _check_digest(data: bytes, digest: object) -> None:
    """``couch_util:check_md5``: a digest sent with raw bytes must be theirs."""
    if isinstance(digest, str) and digest and digest != attachment_digest(data):
        raise content_md5_mismatch()


def _decode_data(name: str, data: object) -> bytes:
    if not isinstance(data, str):
        raise BadRequest(f"Attachment {name} needs base64 data or stub: true")
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadRequest(f"Invalid attachment data for {name}") from exc


def _flush(conn: sqlite3.Connection, dirty: list[DocState], update_seq: int) -> int:
    """Write every touched document once, each at a new sequence, and keep the counters."""
    doc_rows = []
    rev_rows = []
    dropped: list[tuple[str, str]] = []
    live_delta = deleted_delta = 0
    for state in dirty:
        if state.winner not in state.bodies and state.old_winner != state.winner:
            # The new winner is a loser stored earlier: its body moves to the docs row.
            dropped.append((state.doc_id, state.winner))
        winner_body = stored_body(conn, state, state.winner)
        for rev, (body, atts) in state.bodies.items():
            if rev != state.winner and rev in state.tree:
                rev_rows.append((state.doc_id, rev, body, encode_atts(atts)))
        dropped.extend((state.doc_id, rev) for rev in state.stemmed)
        update_seq += 1
        body, atts = winner_body if winner_body is not None else (None, {})
        doc_rows.append(
            (
                update_seq,
                state.doc_id,
                state.winner,
                state.deleted,
                encode_tree(state.tree),
                body,
                encode_atts(atts),
            )
        )
        if state.existed:
            live_delta -= not state.was_deleted
            deleted_delta -= state.was_deleted
        live_delta += not state.deleted
        deleted_delta += state.deleted
    if dropped:
        conn.executemany("DELETE FROM revs WHERE doc_id = ? AND rev = ?", dropped)
    if rev_rows:
        conn.executemany(
            "INSERT OR REPLACE INTO revs (doc_id, rev, body, atts) VALUES (?, ?, ?, ?)", rev_rows
        )
    conn.executemany(
        "INSERT OR REPLACE INTO docs (seq, doc_id, rev, deleted, tree, body, atts)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        doc_rows,
    )
    conn.executemany(
        "UPDATE meta SET value = value + ? WHERE key = ?",
        ((live_delta, "doc_count"), (deleted_delta, "doc_del_count")),
    )
    conn.execute("UPDATE meta SET value = ? WHERE key = 'update_seq'", (update_seq,))
    return update_seq


def write_local(conn: sqlite3.Connection, edit: DocEdit) -> BulkResult:
    """A ``_local/`` document: revisions ``0-N`` and, as in CouchDB 3, no conflict check.

    ``couch_db_updater:update_local_doc_revs`` never compares the given revision with the stored
    one: a write naming ``0-N`` stores ``0-(N+1)``, a write naming none stores ``0-1``, and a
    deletion removes whatever is there (answering ``0-0``). Last writer wins; only a revision
    that is not ``0-N`` is refused (CouchDB: "Invalid rev format").
    """
    given = _local_rev_number(edit.rev)
    if edit.deleted:
        conn.execute("DELETE FROM local_docs WHERE doc_id = ?", (edit.id,))
        return BulkResult(edit.id, "0-0")
    conn.execute(
        "INSERT OR REPLACE INTO local_docs (doc_id, rev, body) VALUES (?, ?, ?)",
        (edit.id, given + 1, orjson.dumps(edit.body)),
    )
    return BulkResult(edit.id, f"0-{given + 1}")


def _local_rev_number(rev: str | None) -> int:
    if rev is None:
        return 0
    head, _, tail = rev.partition("-")
    if head != "0" or not (tail.isascii() and tail.isdigit()):
        raise BadRequest("Invalid rev format")
    return int(tail)
