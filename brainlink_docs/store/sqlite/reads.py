"""The read path: documents, revisions and attachments, as sync ``fn(conn, ...)`` functions.

Reads run on reader connections (WAL snapshots); a read of several statements runs inside one
deferred transaction so it sees a single committed state. Documents are assembled in CouchDB's
member order: ``_id``, ``_rev``, the body, ``_deleted``, then the requested meta members and
``_attachments`` (``couch_doc:to_json_obj``).
"""

from __future__ import annotations

import base64
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import orjson

from brainlink_docs.errors import BadRequest, NotFound
from brainlink_docs.revs import (
    RevNode,
    ancestry,
    conflicts,
    descendant_leaves,
    find_missing,
    parse_rev,
    path_to_revisions,
    rev_pos,
    sorted_leaves,
)
from brainlink_docs.store.api import LOCAL_PREFIX, Attachment, Doc, ReadOptions
from brainlink_docs.store.encoding import gunzip_bytes
from brainlink_docs.store.sqlite.codec import decode_atts, decode_tree
from brainlink_docs.store.sqlite.schema import docs_rows
from brainlink_docs.store.sqlite.sequences import format_seq

AttMeta = dict[str, dict[str, Any]]


@dataclass(slots=True)
class DocRow:
    """A ``docs`` row; the tree is decoded only when a read needs it."""

    doc_id: str
    seq: int
    rev: str
    deleted: bool
    tree_blob: bytes | None
    body: bytes | None
    atts: bytes | None
    _tree: dict[str, RevNode] | None = None

    @property
    def tree(self) -> dict[str, RevNode]:
        if self._tree is None:
            self._tree = decode_tree(self.tree_blob, self.rev, self.deleted)
        return self._tree


_ROW_SQL = "SELECT doc_id, seq, rev, deleted, tree, body, atts FROM docs"


def load_row(conn: sqlite3.Connection, doc_id: str) -> DocRow | None:
    row = conn.execute(_ROW_SQL + " WHERE doc_id = ?", (doc_id,)).fetchone()
    return DocRow(*row) if row else None


def load_rows(conn: sqlite3.Connection, doc_ids: Sequence[str]) -> dict[str, DocRow]:
    """The rows of ``doc_ids`` that exist, in a few ``IN`` queries (``docs_rows``)."""
    return {row[0]: DocRow(*row) for row in docs_rows(conn, _ROW_SQL, doc_ids)}


def load_trees(conn: sqlite3.Connection, doc_ids: Sequence[str]) -> dict[str, DocRow]:
    """As ``load_rows``, without the bodies: what ``_revs_diff`` needs is the revision tree."""
    sql = "SELECT doc_id, seq, rev, deleted, tree FROM docs"
    return {
        doc_id: DocRow(doc_id, seq, rev, deleted, tree, None, None)
        for doc_id, seq, rev, deleted, tree in docs_rows(conn, sql, doc_ids)
    }


def revision_body(
    conn: sqlite3.Connection, row: DocRow, rev: str
) -> tuple[bytes, bytes | None] | None:
    """A revision's stored body and attachment metadata (None when not stored)."""
    if rev == row.rev:
        return (row.body, row.atts) if row.body is not None else None
    found = conn.execute(
        "SELECT body, atts FROM revs WHERE doc_id = ? AND rev = ?", (row.doc_id, rev)
    ).fetchone()
    return (found[0], found[1]) if found else None


def get_doc(
    conn: sqlite3.Connection, doc_id: str, rev: str | None, opts: ReadOptions, token: str
) -> Doc:
    """GET /db/doc: the winner, or ``rev``; CouchDB's ``missing``/``deleted`` 404s."""
    if doc_id.startswith(LOCAL_PREFIX):
        return get_local(conn, doc_id)
    row, rev, stored = _revision(conn, doc_id, rev)
    deleted = row.deleted if rev == row.rev else row.tree[rev].deleted
    return build_doc(conn, row, rev, deleted, stored, opts, token)


def _revision(
    conn: sqlite3.Connection, doc_id: str, rev: str | None
) -> tuple[DocRow, str, tuple[bytes, bytes | None]]:
    """The row, the revision asked for (the winner by default) and its stored body."""
    row = load_row(conn, doc_id)
    if row is None:
        raise NotFound("missing")
    if rev is None:
        if row.deleted:
            raise NotFound("deleted")
        rev = row.rev
    else:
        rev = str(parse_rev(rev))
    if rev != row.rev and rev not in row.tree:
        raise NotFound("missing")
    stored = revision_body(conn, row, rev)
    if stored is None:
        raise NotFound("missing")
    return row, rev, stored


def build_doc(
    conn: sqlite3.Connection,
    row: DocRow,
    rev: str,
    deleted: bool,
    stored: tuple[bytes, bytes | None],
    opts: ReadOptions,
    token: str,
) -> Doc:
    doc: Doc = {"_id": row.doc_id, "_rev": rev}
    doc.update(orjson.loads(stored[0]))
    if deleted:
        doc["_deleted"] = True
    if opts.revs:
        doc["_revisions"] = path_to_revisions(ancestry(row.tree, rev))
    if opts.revs_info:
        doc["_revs_info"] = _revs_info(conn, row, rev)
    if opts.conflicts or opts.deleted_conflicts:
        live, dead = conflicts(row.tree)
        if opts.conflicts and live and rev == row.rev:
            doc["_conflicts"] = live
        if opts.deleted_conflicts and dead and rev == row.rev:
            doc["_deleted_conflicts"] = dead
    if opts.local_seq:
        doc["_local_seq"] = format_seq(row.seq, token)
    atts = decode_atts(stored[1])
    if atts:
        doc["_attachments"] = render_attachments(conn, row, rev, atts, opts)
    return doc


def _revs_info(conn: sqlite3.Connection, row: DocRow, rev: str) -> list[dict[str, str]]:
    stored = {r for (r,) in conn.execute("SELECT rev FROM revs WHERE doc_id = ?", (row.doc_id,))}
    if row.body is not None:
        stored.add(row.rev)
    info = []
    for r in ancestry(row.tree, rev):
        if row.tree[r].deleted:
            status = "deleted"
        elif r in stored:
            status = "available"
        else:
            status = "missing"
        info.append({"rev": r, "status": status})
    return info


def render_attachments(
    conn: sqlite3.Connection, row: DocRow, rev: str, atts: AttMeta, opts: ReadOptions
) -> dict[str, dict[str, Any]]:
    """Stubs, or data for attachments newer than ``atts_since`` (or all), in
    ``couch_att:to_json``'s member order: base64 of the clear bytes, or with ``follows`` the
    stored bytes themselves; ``encoding``/``encoded_length`` last, when asked for."""
    inline_after = _atts_since_pos(row, rev, opts.atts_since) if opts.attachments else None
    out: dict[str, dict[str, Any]] = {}
    for name, meta in atts.items():
        entry = {
            "content_type": meta["content_type"],
            "revpos": meta["revpos"],
            "digest": meta["digest"],
        }
        encoded = "encoding" in meta
        if inline_after is None or meta["revpos"] <= inline_after:
            entry["length"] = meta["length"]
            entry["stub"] = True
        elif opts.follows:
            entry["length"] = meta["length"]
            entry["follows"] = True
            entry["data"] = _att_bytes(conn, meta["digest"])
        else:
            stored = _att_bytes(conn, meta["digest"])
            clear = gunzip_bytes(stored) if encoded else stored
            entry["data"] = base64.b64encode(clear).decode("ascii")
        if encoded and (opts.att_encoding_info or opts.follows):
            entry["encoding"] = meta["encoding"]
            entry["encoded_length"] = meta["encoded_length"]
        out[name] = entry
    return out


def _atts_since_pos(row: DocRow, rev: str, atts_since: tuple[str, ...] | None) -> int:
    """The generation of the newest ``atts_since`` revision on this revision's path (0: none,
    as ``couch_db:find_ancestor_rev_pos``); -1 without ``atts_since``, so that every attachment
    is sent, those with ``revpos`` 0 (grafted by a replicator) too."""
    if atts_since is None:
        return -1
    wanted = set(atts_since)
    for r in ancestry(row.tree, rev):
        if r in wanted:
            return rev_pos(r)
    return 0


def _att_bytes(conn: sqlite3.Connection, digest: str) -> bytes:
    found = conn.execute("SELECT data FROM att_data WHERE digest = ?", (digest,)).fetchone()
    if found is None:
        raise NotFound("Document is missing attachment")
    return bytes(found[0])


def open_revs(
    conn: sqlite3.Connection,
    doc_id: str,
    revs: Sequence[str] | None,
    opts: ReadOptions,
    token: str,
) -> list[dict[str, Any]]:
    """``open_revs``: every leaf (``revs=None``) or the given revisions, ``latest`` resolved."""
    return _open_revs(conn, load_row(conn, doc_id), doc_id, revs, opts, token)


def _open_revs(
    conn: sqlite3.Connection,
    row: DocRow | None,
    doc_id: str,
    revs: Sequence[str] | None,
    opts: ReadOptions,
    token: str,
) -> list[dict[str, Any]]:
    if row is None:
        return [] if revs is None else [{"missing": r} for r in revs]
    if revs is None:
        found = [leaf.rev for leaf in sorted_leaves(row.tree)]
        missing: list[str] = []
    else:
        wanted = [str(parse_rev(r)) for r in revs]
        found, missing = _resolve_revs(row.tree, wanted, opts.latest, row.rev)
    results: list[dict[str, Any]] = []
    for rev in found:
        stored = revision_body(conn, row, rev)
        if stored is None:
            missing.append(rev)
            continue
        doc = build_doc(conn, row, rev, row.tree[rev].deleted, stored, opts, token)
        results.append({"ok": doc})
    return results + [{"missing": rev} for rev in missing]


def _resolve_revs(
    tree: Mapping[str, RevNode], revs: list[str], latest: bool, winner: str
) -> tuple[list[str], list[str]]:
    found: list[str] = []
    missing: list[str] = []
    for rev in dict.fromkeys(revs):
        if rev not in tree:
            missing.append(rev)
        elif latest and rev == winner:
            # The winner is a leaf: its latest is itself. A replicator asks for exactly this
            # revision almost always, and walking every leaf's ancestry was a tenth of _bulk_get.
            if rev not in found:
                found.append(rev)
        elif latest:
            found.extend(leaf for leaf in descendant_leaves(tree, rev) if leaf not in found)
        else:
            found.append(rev)
    return found, missing


def bulk_get(
    conn: sqlite3.Connection,
    requests: Sequence[Mapping[str, Any]],
    opts: ReadOptions,
    token: str,
) -> list[dict[str, Any]]:
    """``_bulk_get``: each request answered with ``ok`` docs or an ``error`` object."""
    ids = []
    for request in requests:
        doc_id = request.get("id") if isinstance(request, Mapping) else None
        if not isinstance(doc_id, str):
            raise BadRequest("Each _bulk_get request needs a string id")
        ids.append(doc_id)
    rows = load_rows(conn, ids)
    out = []
    for request, doc_id in zip(requests, ids, strict=True):
        rev = request.get("rev")
        since = request.get("atts_since")
        req_opts = opts
        if isinstance(since, list) and since:
            # An empty list asks for nothing: CouchDB's _bulk_get then keeps its stubs (the
            # replicator's first read sends atts_since: [] with attachments=false).
            req_opts = _with_atts_since(opts, since)
        row = rows.get(doc_id)
        out.append({"id": doc_id, "docs": _bulk_get_one(conn, row, doc_id, rev, req_opts, token)})
    return out


def _with_atts_since(opts: ReadOptions, since: list[Any]) -> ReadOptions:
    return replace(opts, attachments=True, atts_since=tuple(str(s) for s in since))


def _bulk_get_one(
    conn: sqlite3.Connection,
    row: DocRow | None,
    doc_id: str,
    rev: Any,
    opts: ReadOptions,
    token: str,
) -> list[dict[str, Any]]:
    # Without a rev, chttpd's _bulk_get asks for open_revs=all: every leaf, deleted ones too.
    try:
        answers = _open_revs(conn, row, doc_id, None if rev is None else [rev], opts, token)
    except (NotFound, BadRequest) as exc:
        return [_bulk_get_error(doc_id, rev, exc.error, exc.reason)]
    if not answers:
        # chttpd_db:bulk_get_rev_error(all) names the absent rev "undefined".
        return [_bulk_get_error(doc_id, rev or "undefined", "not_found", "missing")]
    return [
        a if "ok" in a else _bulk_get_error(doc_id, a["missing"], "not_found", "missing")
        for a in answers
    ]


def _bulk_get_error(doc_id: str, rev: Any, error: str, reason: str) -> dict[str, Any]:
    return {"error": {"id": doc_id, "rev": rev, "error": error, "reason": reason}}


def revs_diff(
    conn: sqlite3.Connection, revs: Mapping[str, Sequence[str]]
) -> dict[str, dict[str, list[str]]]:
    """``_revs_diff``: per id, the revisions we lack and leaves that may be their ancestors."""
    out: dict[str, dict[str, list[str]]] = {}
    rows = load_trees(conn, list(revs))
    for doc_id, wanted in revs.items():
        if not isinstance(wanted, list | tuple):
            raise BadRequest("_revs_diff values must be lists of revisions")
        parsed = [str(parse_rev(r)) for r in wanted]
        row = rows.get(doc_id)
        if row is None:
            missing = list(dict.fromkeys(parsed))
            if missing:
                out[doc_id] = {"missing": missing}
            continue
        missing = find_missing(row.tree, parsed)
        if not missing:
            continue
        entry: dict[str, list[str]] = {"missing": missing}
        top = max(rev_pos(r) for r in missing)
        # couch_db:possible_ancestors folds over the sorted leaves, prepending: reverse order.
        ancestors = [leaf.rev for leaf in sorted_leaves(row.tree) if rev_pos(leaf.rev) < top]
        if ancestors:
            entry["possible_ancestors"] = ancestors[::-1]
        out[doc_id] = entry
    return out


def get_local(conn: sqlite3.Connection, doc_id: str) -> Doc:
    row = conn.execute("SELECT rev, body FROM local_docs WHERE doc_id = ?", (doc_id,)).fetchone()
    if row is None:
        raise NotFound("missing")
    doc: Doc = {"_id": doc_id, "_rev": f"0-{row[0]}"}
    doc.update(orjson.loads(row[1]))
    return doc


def get_attachment(conn: sqlite3.Connection, doc_id: str, name: str, rev: str | None) -> Attachment:
    _row, _rev, stored = _revision(conn, doc_id, rev)
    meta = decode_atts(stored[1]).get(name)
    if meta is None:
        raise NotFound("Document is missing attachment")
    return Attachment(
        name=name,
        content_type=meta["content_type"],
        stored=_att_bytes(conn, meta["digest"]),
        digest=meta["digest"],
        revpos=meta["revpos"],
        encoding=meta.get("encoding"),
    )
