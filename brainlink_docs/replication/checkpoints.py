"""Checkpoints: where a replication got to, kept in a ``_local`` document on both sides.

A checkpoint document (``_local/<replication id>``) holds the session that wrote it, the source
sequence every earlier change was written up to (``source_last_seq``) and a bounded ``history``
of sessions, newest first, each with its ``recorded_seq``. A run resumes from the newest session
both sides recorded (CouchDB's ``couch_replicator_scheduler_job:compare_replication_logs``): if
one side lost its checkpoint or kept an older one, the sides agree on an earlier session, never
on a sequence only one of them saw. A checkpoint is written only after the target holds every
change up to the sequence it records.

Pure decisions (``start_seq``, ``next_log``) are separate from the two reads and writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from brainlink_docs.errors import Conflict, NotFound
from brainlink_docs.store.api import LOCAL_PREFIX, Doc, DocumentStore

# CouchDB keeps the 50 newest sessions in a replication log.
MAX_HISTORY = 50


def checkpoint_id(rep_id: str) -> str:
    return f"{LOCAL_PREFIX}{rep_id}"


async def read_log(store: DocumentStore, rep_id: str) -> Doc | None:
    try:
        return await store.get(checkpoint_id(rep_id))
    except NotFound:
        return None


async def write_log(store: DocumentStore, log: Doc, rev: str | None) -> str | None:
    """Write ``log`` over the revision last read or written (``rev``); answers the new one.
    CouchDB 3 ignores local revisions, PouchDB checks them: a conflict means someone else wrote
    the log meanwhile, and the newest write wins, as in CouchDB."""
    body = {k: v for k, v in log.items() if k != "_rev"}
    try:
        return (await store.put(body if rev is None else {**body, "_rev": rev})).rev
    except Conflict:
        current = await read_log(store, str(log["_id"]).removeprefix(LOCAL_PREFIX))
        newest = None if current is None else current.get("_rev")
        return (await store.put(body if newest is None else {**body, "_rev": newest})).rev


def start_seq(source_log: Doc | None, target_log: Doc | None) -> str:
    """The source sequence both sides agree every earlier change was written up to ("0": none)."""
    if source_log is None or target_log is None:
        return "0"
    if source_log.get("session_id") == target_log.get("session_id"):
        return str(source_log.get("source_last_seq", "0"))
    target_sessions = {entry.get("session_id") for entry in _history(target_log)}
    for entry in _history(source_log):
        if entry.get("session_id") in target_sessions:
            return str(entry.get("recorded_seq", "0"))
    return "0"


def _history(log: Doc) -> list[dict[str, Any]]:
    history = log.get("history")
    return [e for e in history if isinstance(e, dict)] if isinstance(history, list) else []


@dataclass(frozen=True, slots=True)
class Session:
    """What a run records about itself in each checkpoint it writes."""

    session_id: str
    start_time: str
    start_last_seq: str


def next_log(
    rep_id: str,
    previous: Doc | None,
    session: Session,
    recorded_seq: str,
    stats: dict[str, int],
    end_time: str,
) -> Doc:
    """The checkpoint document after this session recorded ``recorded_seq``: its entry first,
    replacing its own earlier entry, then the older sessions, at most ``MAX_HISTORY``."""
    entry = {
        "session_id": session.session_id,
        "start_time": session.start_time,
        "end_time": end_time,
        "start_last_seq": session.start_last_seq,
        "end_last_seq": recorded_seq,
        "recorded_seq": recorded_seq,
        **stats,
    }
    older = [e for e in _history(previous or {}) if e.get("session_id") != session.session_id]
    return {
        "_id": checkpoint_id(rep_id),
        "session_id": session.session_id,
        "source_last_seq": recorded_seq,
        "replication_id_version": 1,
        "history": [entry, *older][:MAX_HISTORY],
    }
