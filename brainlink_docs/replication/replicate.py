"""One-shot replication between any two ``DocumentStore``s: CouchDB's protocol, batch by batch.

For each page of the source's ``_changes`` (``style=all_docs``: every leaf): ``revs_diff`` asks
the target which revisions it lacks and which of its leaves may be their ancestors;
``bulk_get`` reads exactly those revisions from the source with their histories and, with
``follows``, each attachment's stored bytes (gzip ones with their digests), except those the
target already has (``atts_since`` the possible ancestors); ``bulk_docs(new_edits=False)``
grafts them onto the target. Only then is the page's last sequence checkpointed on both sides,
so a run killed at any point resumes at the last page the target fully holds.

A document the target refuses is counted in ``doc_write_failures`` and named in the result,
never dropped silently: a batch refused as a whole (a target that validates every document
first) is written again one document at a time to find which.

This first cut runs the batches one after another; pipelining, filters beyond
``doc_ids``, retries and progress events come with the rest of the replicator.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, NoReturn

from brainlink_docs.errors import CouchError, Forbidden, Unauthorized, Unavailable
from brainlink_docs.replication import checkpoints
from brainlink_docs.replication.ids import endpoint_id, replication_id
from brainlink_docs.store.api import (
    BulkResult,
    Change,
    ChangesQuery,
    Doc,
    DocumentStore,
    ReadOptions,
)

# Changes per batch: CouchDB's replicator reads 500 at a time (worker_batch_size).
DEFAULT_BATCH_SIZE = 500
# How the source is read: every missing revision with its history and attachments as stored.
_READ = ReadOptions(revs=True, attachments=True, follows=True, latest=True)


@dataclass(slots=True)
class ReplicationState:
    """A run's counters and position (CouchDB's ``history`` entry fields)."""

    rep_id: str
    session: checkpoints.Session
    recorded_seq: str
    missing_checked: int = 0
    missing_found: int = 0
    docs_read: int = 0
    docs_written: int = 0
    doc_write_failures: int = 0
    failures: list[BulkResult] = field(default_factory=list)
    # The revision of the checkpoint document on each side, as last read or written.
    log_revs: dict[str, str | None] = field(default_factory=dict)

    def stats(self) -> dict[str, int]:
        return {
            "missing_checked": self.missing_checked,
            "missing_found": self.missing_found,
            "docs_read": self.docs_read,
            "docs_written": self.docs_written,
            "doc_write_failures": self.doc_write_failures,
        }


@dataclass(frozen=True, slots=True)
class ReplicationResult:
    """What ``replicate`` answers: CouchDB's ``_replicate`` body, plus the refused rows."""

    rep_id: str
    session_id: str
    start_last_seq: str
    source_last_seq: str
    stats: dict[str, int]
    failures: list[BulkResult]

    @property
    def no_changes(self) -> bool:
        return self.stats["missing_checked"] == 0

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": True,
            "session_id": self.session_id,
            "source_last_seq": self.source_last_seq,
            "replication_id": self.rep_id,
            "history": [
                {
                    "session_id": self.session_id,
                    "start_last_seq": self.start_last_seq,
                    "recorded_seq": self.source_last_seq,
                    **self.stats,
                }
            ],
        }


OnBatch = Callable[[ReplicationState, int], None]


@dataclass(slots=True)
class _Run:
    """One run between two stores: where it is, and the checkpoint it last wrote."""

    source: DocumentStore
    target: DocumentStore
    state: ReplicationState
    query: ChangesQuery
    source_log: Doc | None
    on_batch: OnBatch | None

    def result(self) -> ReplicationResult:
        state = self.state
        return ReplicationResult(
            state.rep_id,
            state.session.session_id,
            state.session.start_last_seq,
            state.recorded_seq,
            state.stats(),
            state.failures,
        )


async def replicate(
    source: DocumentStore,
    target: DocumentStore,
    *,
    doc_ids: Sequence[str] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_batch: OnBatch | None = None,
) -> ReplicationResult:
    """Copy every revision the target lacks, resuming from the checkpoints both sides agree on.
    ``on_batch(state, pending)`` runs after each checkpointed batch, with the changes the source
    says are still to come (a progress bar's feed)."""
    run = await _start(source, target, doc_ids, batch_size, on_batch)
    await _catch_up(run)
    return run.result()


async def replicate_continuously(
    source: DocumentStore,
    target: DocumentStore,
    *,
    doc_ids: Sequence[str] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_batch: OnBatch | None = None,
) -> NoReturn:
    """Catch up as ``replicate`` does, then follow the source: every write there is replicated
    as soon as the source reports it (``wait_for_change``: a wake-up on the embedded store, a
    longpoll on a remote one), until the caller cancels the task."""
    run = await _start(source, target, doc_ids, batch_size, on_batch)
    while True:
        await _catch_up(run)
        await source.wait_for_change(run.state.recorded_seq)


async def _start(
    source: DocumentStore,
    target: DocumentStore,
    doc_ids: Sequence[str] | None,
    batch_size: int,
    on_batch: OnBatch | None,
) -> _Run:
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    rep_id = replication_id(endpoint_id(source), endpoint_id(target), doc_ids=doc_ids)
    source_log = await checkpoints.read_log(source, rep_id)
    target_log = await checkpoints.read_log(target, rep_id)
    since = checkpoints.start_seq(source_log, target_log)
    state = ReplicationState(rep_id, checkpoints.Session(uuid.uuid4().hex, _now(), since), since)
    state.log_revs = {"source": _rev_of(source_log), "target": _rev_of(target_log)}
    query = ChangesQuery(
        style="all_docs", limit=batch_size, doc_ids=tuple(doc_ids) if doc_ids else None
    )
    return _Run(source, target, state, query, source_log, on_batch)


async def _catch_up(run: _Run) -> None:
    """Replicate batch after batch until the source has nothing after the recorded sequence."""
    state = run.state
    while True:
        page = await run.source.changes(replace(run.query, since=state.recorded_seq))
        if page.results:
            await _replicate_batch(run.source, run.target, page.results, state)
        if page.last_seq == state.recorded_seq:
            return
        state.recorded_seq = page.last_seq
        run.source_log = await _checkpoint(run.source, run.target, state, run.source_log)
        if run.on_batch is not None:
            run.on_batch(state, page.pending)
        if run.query.limit is not None and len(page.results) < run.query.limit:
            return


async def _replicate_batch(
    source: DocumentStore, target: DocumentStore, changes: list[Change], state: ReplicationState
) -> None:
    revs = {change.id: change.changes for change in changes}
    state.missing_checked += sum(len(r) for r in revs.values())
    diff = await target.revs_diff(revs)
    requests = [
        {"id": doc_id, "rev": rev, "atts_since": entry.get("possible_ancestors", [])}
        for doc_id, entry in diff.items()
        for rev in entry.get("missing", [])
    ]
    state.missing_found += len(requests)
    if not requests:
        return
    docs = [
        item["ok"]
        for result in await source.bulk_get(requests, _READ)
        for item in result["docs"]
        if "ok" in item
    ]
    state.docs_read += len(docs)
    rows = await _write(target, docs)
    refused = [row for row in rows if not row.ok]
    state.docs_written += len(rows) - len(refused)
    state.doc_write_failures += len(refused)
    state.failures.extend(refused)


# Refusals of a whole request that no single document causes: the caller retries or stops.
_NOT_A_DOCUMENTS_FAULT = (Unavailable, Unauthorized, Forbidden)


async def _write(target: DocumentStore, docs: list[Doc]) -> list[BulkResult]:
    """The rows of writing ``docs``; a batch refused whole is written again one document at a
    time, so that only the documents at fault become failure rows."""
    try:
        return await target.bulk_docs(docs, new_edits=False)
    except _NOT_A_DOCUMENTS_FAULT:
        raise
    except CouchError as exc:
        if len(docs) == 1:
            return [BulkResult(str(docs[0].get("_id", "")), None, exc.error, exc.reason)]
    return [row for doc in docs for row in await _write(target, [doc])]


async def _checkpoint(
    source: DocumentStore,
    target: DocumentStore,
    state: ReplicationState,
    previous: Doc | None,
) -> Doc:
    """Record ``state.recorded_seq`` on the target, then the source (the target first: a source
    log newer than the target's would be ignored anyway, never trusted)."""
    log = checkpoints.next_log(
        state.rep_id, previous, state.session, state.recorded_seq, state.stats(), _now()
    )
    revs = state.log_revs
    revs["target"] = await checkpoints.write_log(target, log, revs.get("target"))
    revs["source"] = await checkpoints.write_log(source, log, revs.get("source"))
    return log


def _rev_of(log: Doc | None) -> str | None:
    return None if log is None else log.get("_rev")


def _now() -> str:
    """The wall clock as CouchDB writes it in replication logs (RFC 1123)."""
    return datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
