"""The ``_replicator`` database: each document there is a replication job the server runs.

The watcher follows the database's changes (from the start on every server start, so the jobs of
documents not yet ``completed`` or ``failed`` resume, each from its checkpoints). A new or edited
document starts its job; deleting it stops the job; deleting the database stops all of them. As
in CouchDB 3.5, only the final states are written back into the document
(``_replication_state`` ``completed`` with ``_replication_state_time`` and
``_replication_stats``; ``failed`` with ``_replication_state_reason`` for a document that is not
a valid replication, or that asks for a replication another document runs); the transient ones
(``running``, ``crashing``...) are only shown by ``_scheduler/docs``.

Our own write-back is a change too: a document whose replication is the same as the job already
known for it changes nothing, so the write-back never restarts its job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from brainlink_docs.errors import Conflict, CouchError, NotFound
from brainlink_docs.replication.jobs import (
    FINISHED,
    DocRef,
    Job,
    JobState,
    JobStats,
    Scheduler,
    iso_now,
)
from brainlink_docs.replication.spec import ReplicationSpec, parse_spec, refuse_local
from brainlink_docs.store.api import Change, ChangesQuery, Databases, Doc, DocumentStore

log = logging.getLogger("brainlink_docs.replication.replicator_db")

REPLICATOR_DB = "_replicator"
# How often to look again for a _replicator database that does not exist (yet), or that failed
# under the watcher: a database created later is picked up within this.
POLL_S = 1.0


@dataclass(slots=True)
class DocFailure:
    """A ``_replicator`` document that is not a valid replication, or that asks for one another
    document already runs: ``_scheduler/docs`` shows it as ``failed`` with the reason."""

    doc: DocRef
    reason: str
    spec: ReplicationSpec | None = None
    last_updated: str = field(default_factory=iso_now)


@dataclass(slots=True)
class ReplicatorDocs:
    """Follows ``_replicator`` and keeps the scheduler's doc jobs in step with its documents."""

    databases: Databases
    scheduler: Scheduler
    since: str = "0"
    failures: dict[str, DocFailure] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._watch(), name="_replicator")

    async def stop(self) -> None:
        task = self.task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _watch(self) -> None:
        while True:
            try:
                if await self.databases.exists(REPLICATOR_DB):
                    await self._follow()
            except CouchError as exc:  # deleted under us, or a store error: look again soon
                log.warning("_replicator watcher: %s", exc.reason)
                self.since = "0"
            await asyncio.sleep(POLL_S)

    async def _follow(self) -> None:
        async with self.databases.use(REPLICATOR_DB) as store:
            while True:
                page = await store.changes(ChangesQuery(since=self.since, include_docs=True))
                for change in page.results:
                    await self._apply(change)
                self.since = page.last_seq
                while not await self._changed(store):
                    if not await self._still(store):
                        await self._reset()
                        return

    async def _changed(self, store: DocumentStore) -> bool:
        """Whether ``store`` has a change after ``since`` within ``POLL_S``."""
        try:
            async with asyncio.timeout(POLL_S):
                await store.wait_for_change(self.since)
        except TimeoutError:
            return False
        return True

    async def _still(self, store: DocumentStore) -> bool:
        """Whether ``_replicator`` is still the database being followed: deleting it closes
        the store, whose changes then never come (and a new one may have been created)."""
        if not await self.databases.exists(REPLICATOR_DB):
            return False
        async with self.databases.use(REPLICATOR_DB) as current:
            return current is store

    async def _reset(self) -> None:
        """``_replicator`` was deleted: its documents' jobs stop, as in CouchDB."""
        for job in list(self.scheduler.jobs.values()):
            if job.doc is not None and job.doc.database == REPLICATOR_DB:
                await self.scheduler.forget(job)
        self.failures.clear()
        self.since = "0"

    async def _apply(self, change: Change) -> None:
        if change.id.startswith("_design/"):
            return
        ref = DocRef(REPLICATOR_DB, change.id)
        job = self.scheduler.for_doc(ref)
        doc = change.doc
        if change.deleted or doc is None or doc.get("_replication_state") == "failed":
            if job is not None:
                await self.scheduler.forget(job)
            if change.deleted or doc is None:
                self.failures.pop(change.id, None)
            else:  # failed before (our write-back, or a previous run of the server)
                reason = str(doc.get("_replication_state_reason") or "")
                self.failures.setdefault(change.id, DocFailure(ref, reason, _spec_of(doc)))
            return
        try:
            spec = parse_spec(doc, refuse_local)
        except CouchError as exc:
            if job is not None:
                await self.scheduler.forget(job)
            await self._refuse(ref, doc, exc.reason)
            return
        self.failures.pop(change.id, None)
        if job is not None and job.spec == spec:
            return  # our own write-back, or an edit that leaves the replication as it was
        if job is not None:
            await self.scheduler.forget(job)
        if doc.get("_replication_state") == "completed":
            self.scheduler.remember(_finished_job(spec, ref, doc))
            return
        running = self.scheduler.jobs.get(spec.job_id)
        if running is not None and running.state not in FINISHED and running.doc != ref:
            await self._refuse(ref, doc, _duplicate(spec, ref, running), spec)
            return
        self.scheduler.add(Job(spec, doc=ref))

    async def _refuse(
        self, ref: DocRef, doc: Doc, reason: str, spec: ReplicationSpec | None = None
    ) -> None:
        """Record the document as failed: in the document first, then in the listings."""
        if doc.get("_replication_state") != "failed":
            await self._write_failed(ref, doc, reason)
        self.failures[ref.doc_id] = DocFailure(ref, reason, spec)

    async def _write_failed(self, ref: DocRef, doc: Doc, reason: str) -> None:
        await _write_back(
            self.databases,
            ref,
            doc.get("_rev"),
            {
                "_replication_state": "failed",
                "_replication_state_time": iso_now(),
                "_replication_state_reason": reason,
            },
        )

    async def job_finished(self, job: Job, state: JobState) -> None:
        """The scheduler's listener: a doc job's end goes into its document."""
        if job.doc is None:
            return
        fields: dict[str, Any] = {
            "_replication_state": state.value,
            "_replication_state_time": iso_now(),
        }
        if state is JobState.COMPLETED:
            fields["_replication_stats"] = {**job.progress.to_json(), "start_time": job.start_time}
        else:
            fields["_replication_state_reason"] = job.error or "unknown"
        await _write_back(self.databases, job.doc, None, fields, spec=job.spec)


def _duplicate(spec: ReplicationSpec, ref: DocRef, running: Job) -> str:
    """CouchDB 3.5's reason for a second document asking for a running replication."""
    by = (
        f"document `{running.doc.doc_id}` from db `{running.doc.database}`"
        if running.doc is not None
        else "a _replicate request"
    )
    return (
        f"Replication `{spec.job_id}` specified by document `{ref.doc_id}` already started,"
        f" triggered by {by}"
    )


async def _write_back(
    databases: Databases,
    ref: DocRef,
    rev: str | None,
    fields: dict[str, Any],
    *,
    spec: ReplicationSpec | None = None,
) -> None:
    """Add ``fields`` to the document, unless it changed meanwhile (a conflict, or another
    replication than ``spec``): the newer document is then the one that counts."""
    async with databases.use(ref.database) as store:
        doc = await _current(store, ref.doc_id)
        if doc is None or (rev is not None and doc.get("_rev") != rev):
            return
        if spec is not None and _spec_of(doc) != spec:
            return
        with contextlib.suppress(Conflict):
            await store.put({**doc, **fields})


async def _current(store: DocumentStore, doc_id: str) -> Doc | None:
    try:
        return await store.get(doc_id)
    except NotFound:
        return None


def _spec_of(doc: Doc) -> ReplicationSpec | None:
    try:
        return parse_spec(doc, refuse_local)
    except CouchError:
        return None


def _finished_job(spec: ReplicationSpec, ref: DocRef, doc: Doc) -> Job:
    """The record of a document's job that completed before this server started, from what the
    document says (``_scheduler/docs`` lists completed documents too)."""
    job = Job(spec, doc=ref, state=JobState.COMPLETED)
    stats = doc.get("_replication_stats")
    if isinstance(stats, dict):
        progress = JobStats()
        for name in (
            "revisions_checked",
            "missing_revisions_found",
            "docs_read",
            "docs_written",
            "doc_write_failures",
        ):
            setattr(progress, name, int(stats.get(name) or 0))
        progress.checkpointed_source_seq = str(stats.get("checkpointed_source_seq", "0"))
        job.progress = progress
        job.start_time = str(stats.get("start_time", job.start_time))
    job.last_updated = str(doc.get("_replication_state_time", job.last_updated))
    job.finished.set()
    return job
