"""Replication between any two ``DocumentStore``s: CouchDB's protocol, batches pipelined.

For each page of the source's ``_changes`` (``style=all_docs``: every leaf, filtered as the
options say): ``revs_diff`` asks the target which revisions it lacks and which of its leaves may
be their ancestors; ``bulk_get`` reads exactly those revisions from the source with their
histories and, with ``follows``, each attachment's stored bytes (gzip ones with their digests),
except those the target already has (``atts_since`` the possible ancestors);
``bulk_docs(new_edits=False)`` grafts them onto the target.

Pipelined: the next page is read while up to ``batches_in_flight`` earlier batches are being
diffed, read and written, so the source's reads, the network and the target's writer overlap;
memory holds at most that many batches. Batches finish in any order, but a batch is *done*
only when every earlier one is, and only the highest done sequence is ever checkpointed (both
sides, at most every ``checkpoint_interval`` seconds and whenever the run catches up): a run
killed at any point resumes where the target holds every earlier change, resending at most the
batches in flight since the last checkpoint.

A peer that fails (``Unavailable``: network, timeout, 5xx) is retried with backoff from the
last done sequence (``backoff.retrying``); a one-shot run gives up per ``RetryPolicy``, a
continuous one never. 401 and 403 stop the run. A document the target refuses is counted in
``doc_write_failures`` and named in the result, never dropped silently: a batch refused as a
whole (a target that validates every document first) is written again one document at a time.

Progress is reported as ``Progress`` events (the counters of CouchDB's ``_active_tasks`` row)
after each done batch, each retry and each catch-up.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal, NoReturn

from brainlink_docs.errors import CouchError, Forbidden, NotFound, Unauthorized, Unavailable
from brainlink_docs.replication import checkpoints
from brainlink_docs.replication.backoff import RetryPolicy, retrying
from brainlink_docs.replication.ids import endpoint_id, replication_id
from brainlink_docs.replication.options import ReplicationOptions, filter_parts
from brainlink_docs.store.api import (
    BulkResult,
    Change,
    Doc,
    DocumentStore,
    ReadOptions,
)

# How the source is read: every missing revision with its history and attachments as stored.
_READ = ReadOptions(revs=True, attachments=True, follows=True, latest=True)

Status = Literal["running", "retrying", "idle"]


@dataclass(frozen=True, slots=True)
class Progress:
    """One progress event: where a run is, with the names of CouchDB's ``_active_tasks``."""

    replication_id: str
    status: Status
    docs_read: int
    docs_written: int
    doc_write_failures: int
    missing_revisions_found: int
    revisions_checked: int
    changes_pending: int
    checkpointed_source_seq: str
    source_seq: str
    retries: int
    error: str | None


OnProgress = Callable[[Progress], None]


@dataclass(slots=True)
class ReplicationState:
    """A run's counters and position (CouchDB's ``history`` entry fields)."""

    rep_id: str
    session: checkpoints.Session
    # The highest source sequence every earlier change of which the target holds, as last
    # checkpointed (``recorded_seq``) and as known now (``done_seq``, checkpointed next).
    recorded_seq: str
    done_seq: str
    # The last sequence the changes reader reached (ahead of done_seq by the batches in flight).
    source_seq: str
    missing_checked: int = 0
    missing_found: int = 0
    docs_read: int = 0
    docs_written: int = 0
    doc_write_failures: int = 0
    changes_pending: int = 0
    batches_done: int = 0
    retries: int = 0
    last_error: str | None = None
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

    def progress(self, status: Status) -> Progress:
        return Progress(
            self.rep_id,
            status,
            self.docs_read,
            self.docs_written,
            self.doc_write_failures,
            self.missing_found,
            self.missing_checked,
            self.changes_pending,
            self.recorded_seq,
            self.source_seq,
            self.retries,
            self.last_error,
        )


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


@dataclass(slots=True)
class _Run:
    """One run between two stores: its settings, where it is, the checkpoint it last wrote."""

    source: DocumentStore
    target: DocumentStore
    options: ReplicationOptions
    state: ReplicationState
    source_log: Doc | None
    on_progress: OnProgress | None
    last_checkpoint: float = field(default_factory=time.monotonic)

    def report(self, status: Status) -> None:
        if self.on_progress is not None:
            self.on_progress(self.state.progress(status))

    def advanced(self) -> object:
        """Changes whenever a batch is done: a failure after it starts a new retry series."""
        return self.state.batches_done

    def retrying(self, exc: Unavailable, wait: float) -> None:
        self.state.retries += 1
        self.state.last_error = exc.reason
        self.report("retrying")

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
    options: ReplicationOptions | None = None,
    *,
    on_progress: OnProgress | None = None,
) -> ReplicationResult:
    """Copy every revision the target lacks, resuming from the checkpoints both sides agree on;
    ``on_progress`` is told of each batch done, each retry and the end."""
    options = options or ReplicationOptions()
    run = await _start(source, target, options, on_progress, options.retry)
    await retrying(
        options.retry, lambda: _catch_up(run), progress=run.advanced, on_retry=run.retrying
    )
    run.report("idle")
    return run.result()


async def replicate_continuously(
    source: DocumentStore,
    target: DocumentStore,
    options: ReplicationOptions | None = None,
    *,
    on_progress: OnProgress | None = None,
) -> NoReturn:
    """Catch up as ``replicate`` does, then follow the source: every write there is replicated
    as soon as the source reports it (``wait_for_change``: a wake-up on the embedded store, a
    longpoll on a remote one), until the caller cancels the task. Failures are retried for
    ever (the backoff's ceiling still applies), each one reported as a ``retrying`` event."""
    options = options or ReplicationOptions()
    policy = options.retry.forever()
    run = await _start(source, target, options, on_progress, policy)
    while True:
        await retrying(policy, lambda: _catch_up(run), progress=run.advanced, on_retry=run.retrying)
        run.report("idle")
        await retrying(
            policy, lambda: source.wait_for_change(run.state.source_seq), on_retry=run.retrying
        )


async def rep_id_of(
    source: DocumentStore, target: DocumentStore, options: ReplicationOptions
) -> str:
    """The replication id: the endpoints and the filter, including a named filter's source
    code (read from the source), so editing the filter starts a new history, as in CouchDB."""
    code = None
    if options.filter is not None:
        ddoc, name = filter_parts(options.filter)
        code = (await source.get(ddoc)).get("filters", {}).get(name)
        if not isinstance(code, str):
            raise NotFound(f"`{name}` is not a filter function of {ddoc}")
    return replication_id(
        endpoint_id(source),
        endpoint_id(target),
        doc_ids=options.doc_ids,
        selector=options.selector,
        filter_code=code,
        query_params=options.query_params,
    )


async def _start(
    source: DocumentStore,
    target: DocumentStore,
    options: ReplicationOptions,
    on_progress: OnProgress | None,
    policy: RetryPolicy,
) -> _Run:
    async def attempt() -> _Run:
        rep_id = await rep_id_of(source, target, options)
        source_log = await checkpoints.read_log(source, rep_id)
        target_log = await checkpoints.read_log(target, rep_id)
        since = checkpoints.start_seq(source_log, target_log)
        session = checkpoints.Session(uuid.uuid4().hex, _now(), since)
        state = ReplicationState(rep_id, session, since, since, since)
        state.log_revs = {"source": _rev_of(source_log), "target": _rev_of(target_log)}
        return _Run(source, target, options, state, source_log, on_progress)

    return await retrying(policy, attempt)


async def _catch_up(run: _Run) -> None:
    """Read pages from the last done sequence until the source has nothing more, keeping up to
    ``batches_in_flight`` batches going; batches are done (and checkpointed) in order."""
    state = run.state
    in_flight: deque[tuple[str, asyncio.Task[None] | None]] = deque()
    since = state.source_seq = state.done_seq
    query, limit = run.options.changes_query(), run.options.batch_size
    try:
        while True:
            page = await run.source.changes(replace(query, since=since))
            state.changes_pending = page.pending
            caught_up = page.last_seq == since or len(page.results) < limit
            if page.results:
                batch = _replicate_batch(run.source, run.target, page.results, state)
                in_flight.append((page.last_seq, asyncio.create_task(batch)))
            elif page.last_seq != since:  # a filter passed nothing here: done, nothing to do
                in_flight.append((page.last_seq, None))
            since = state.source_seq = page.last_seq
            while in_flight and (caught_up or len(in_flight) >= run.options.batches_in_flight):
                await _finish_oldest(run, in_flight)
            if caught_up:
                await _checkpoint_if_behind(run)
                return
    finally:
        await _abandon(in_flight)


async def _finish_oldest(
    run: _Run, in_flight: deque[tuple[str, asyncio.Task[None] | None]]
) -> None:
    seq, task = in_flight.popleft()
    if task is not None:
        await task
    state = run.state
    state.done_seq = seq
    state.batches_done += 1
    if time.monotonic() - run.last_checkpoint >= run.options.checkpoint_interval:
        await _checkpoint_if_behind(run)
    run.report("running")


async def _abandon(in_flight: deque[tuple[str, asyncio.Task[None] | None]]) -> None:
    """Cancel the batches a failed or cancelled run leaves behind (they are not done; the next
    attempt reads them again from the done sequence)."""
    tasks = [task for _, task in in_flight if task is not None]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


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


async def _checkpoint_if_behind(run: _Run) -> None:
    """Record ``done_seq`` on the target, then the source (the target first: a source log
    newer than the target's would be ignored anyway, never trusted)."""
    state = run.state
    run.last_checkpoint = time.monotonic()
    if state.done_seq == state.recorded_seq:
        return
    log = checkpoints.next_log(
        state.rep_id, run.source_log, state.session, state.done_seq, state.stats(), _now()
    )
    revs = state.log_revs
    revs["target"] = await checkpoints.write_log(run.target, log, revs.get("target"))
    revs["source"] = await checkpoints.write_log(run.source, log, revs.get("source"))
    run.source_log = log
    state.recorded_seq = state.done_seq


def _rev_of(log: Doc | None) -> str | None:
    return None if log is None else log.get("_rev")


def _now() -> str:
    """The wall clock as CouchDB writes it in replication logs (RFC 1123)."""
    return datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
