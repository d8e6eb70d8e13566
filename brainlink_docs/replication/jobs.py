"""Replication jobs inside the server: CouchDB 3.5's scheduler, as asyncio tasks in its loop.

A ``Job`` is one replication (a ``ReplicationSpec``) and everything the scheduler shows about it:
its state (``pending`` → ``running`` → ``completed``, or ``crashing`` between retries, or
``failed``), its ``history`` of events (newest first, as ``_scheduler/jobs`` lists them), its
counters (fed by the replicator's progress events) and its error count. The ``Scheduler``
owns the jobs by id (CouchDB's ``<rep id>+continuous+create_target``): the same replication
asked for twice is one job.

A peer that fails mid-run (``Unavailable``) is retried by the replicator itself, with its own
backoff; the job shows ``crashing`` meanwhile. A job that stops on an error (a database that
cannot be opened, credentials refused, a one-shot run that gave up) is ``crashing`` and is
started again after an exponential backoff (CouchDB's scheduler penalises consecutive crashes
the same way); a one-shot ``_replicate`` job is not restarted, since its caller waits for the
answer and gets the error instead. Cancelling a job ends its task; ``stop`` ends them all on
server shutdown, and the checkpoints each run wrote let the next one resume where it stopped.

The state is in dataclasses, read by the HTTP routes and the ``_replicator`` watcher, never in
closures; the only callback is the listener told when a job finishes, which writes the outcome
back into its ``_replicator`` document.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from brainlink_docs.errors import CouchError, Forbidden, NotFound, Unauthorized
from brainlink_docs.replication.options import DEFAULT_CHECKPOINT_INTERVAL_S
from brainlink_docs.replication.replicate import (
    Progress,
    ReplicationResult,
    replicate,
    replicate_continuously,
)
from brainlink_docs.replication.spec import Endpoint, ReplicationSpec
from brainlink_docs.store.api import DocumentStore
from brainlink_docs.store.endpoints import open_endpoint

log = logging.getLogger("brainlink_docs.replication.jobs")

# First wait after a crash, doubled per consecutive crash: short enough that a target created a
# moment later is picked up soon, as CouchDB's first retries are.
BACKOFF_BASE_S = 1.0
# The longest wait between retries (CouchDB caps its penalty too; ours is 5 minutes).
BACKOFF_MAX_S = 300.0
# _scheduler/jobs keeps this many events per job (CouchDB's [replicator] max_history, 20).
MAX_HISTORY = 20
# What _active_tasks reports as checkpoint_interval (ms, as CouchDB): the replicator's own.
CHECKPOINT_INTERVAL_MS = round(DEFAULT_CHECKPOINT_INTERVAL_S * 1000)
# The node the scheduler shows: ours is one process, which Erlang names nonode@nohost.
NODE = "nonode@nohost"


class JobState(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    CRASHING = "crashing"
    COMPLETED = "completed"
    FAILED = "failed"


FINISHED = frozenset({JobState.COMPLETED, JobState.FAILED})


def iso_now() -> str:
    """CouchDB's scheduler timestamps: ISO 8601 to the second, UTC."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of a job's ``history``: ``added``, ``started``, ``crashed``, ``stopped``."""

    timestamp: str
    type: str
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"timestamp": self.timestamp, "type": self.type}
        if self.reason is not None:
            out["reason"] = self.reason
        return out


@dataclass(slots=True)
class JobStats:
    """A job's counters under CouchDB's names (``couch_replicator_stats``), from the
    replicator's progress events. ``bulk_get_docs`` and ``bulk_get_attempts`` are the documents
    read: ours reads every one through ``_bulk_get`` and does not retry single documents."""

    revisions_checked: int = 0
    missing_revisions_found: int = 0
    docs_read: int = 0
    docs_written: int = 0
    doc_write_failures: int = 0
    changes_pending: int | None = None
    checkpointed_source_seq: str = "0"
    source_seq: str = "0"

    def update(self, progress: Progress) -> None:
        self.revisions_checked = progress.revisions_checked
        self.missing_revisions_found = progress.missing_revisions_found
        self.docs_read = progress.docs_read
        self.docs_written = progress.docs_written
        self.doc_write_failures = progress.doc_write_failures
        self.changes_pending = progress.changes_pending
        self.checkpointed_source_seq = progress.checkpointed_source_seq
        self.source_seq = progress.source_seq

    def finish(self, result: ReplicationResult) -> None:
        stats = result.stats
        self.revisions_checked = stats["missing_checked"]
        self.missing_revisions_found = stats["missing_found"]
        self.docs_read = stats["docs_read"]
        self.docs_written = stats["docs_written"]
        self.doc_write_failures = stats["doc_write_failures"]
        self.checkpointed_source_seq = result.source_last_seq

    def to_json(self) -> dict[str, Any]:
        """``_replication_stats`` / ``_scheduler/docs`` ``info``, in CouchDB's key order."""
        return {
            "revisions_checked": self.revisions_checked,
            "missing_revisions_found": self.missing_revisions_found,
            "docs_read": self.docs_read,
            "docs_written": self.docs_written,
            "changes_pending": self.changes_pending,
            "doc_write_failures": self.doc_write_failures,
            "bulk_get_docs": self.docs_read,
            "bulk_get_attempts": self.docs_read,
            "checkpointed_source_seq": self.checkpointed_source_seq,
        }

    def running_json(self) -> dict[str, Any]:
        """A running job's ``info``: the stats plus how far the changes were read
        (``source_seq``) and done (``through_seq``, the checkpointed one for us)."""
        return {
            **self.to_json(),
            "source_seq": self.source_seq,
            "through_seq": self.checkpointed_source_seq,
        }


@dataclass(frozen=True, slots=True)
class DocRef:
    """The ``_replicator`` document a job comes from."""

    database: str
    doc_id: str


_PIDS = itertools.count(1)


@dataclass(slots=True)
class Job:
    """One replication the scheduler owns, and everything it shows about it."""

    spec: ReplicationSpec
    user: str | None = None
    doc: DocRef | None = None
    # One-shot _replicate jobs answer their caller with the error instead of retrying.
    retry: bool = True
    state: JobState = JobState.PENDING
    history: list[Event] = field(default_factory=list)
    progress: JobStats = field(default_factory=JobStats)
    error_count: int = 0
    # Crashes since the job last got somewhere: what the backoff before a restart grows with.
    crashes: int = 0
    error: str | None = None
    started_on: float = field(default_factory=time.time)
    updated_on: float = field(default_factory=time.time)
    start_time: str = field(default_factory=iso_now)
    last_updated: str = field(default_factory=iso_now)
    # An Erlang-looking pid: clients that display or parse _active_tasks rows expect the shape.
    pid: str = field(default_factory=lambda: f"<0.{next(_PIDS)}.0>")
    result: ReplicationResult | None = None
    failure: CouchError | None = None
    task: asyncio.Task[None] | None = None
    finished: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def id(self) -> str:
        return self.spec.job_id

    def record(self, kind: str, reason: str | None = None) -> None:
        self.history.insert(0, Event(iso_now(), kind, reason))
        del self.history[MAX_HISTORY:]
        self.touch()

    def touch(self) -> None:
        self.updated_on = time.time()
        self.last_updated = iso_now()

    def on_progress(self, progress: Progress) -> None:
        """The replicator's event: counters, and ``crashing`` while it retries a peer that
        failed (CouchDB's state for a job waiting to try again), ``running`` once it is back."""
        self.progress.update(progress)
        if progress.status == "retrying":
            self.state = JobState.CRASHING
            self.error_count += 1
            self.error = progress.error
            self.record("crashed", progress.error)
        else:
            self.crashes = 0
            if self.state is JobState.CRASHING:
                self.state = JobState.RUNNING
                self.record("started")
        self.touch()


# Told how a job ends, before the scheduler shows it ended.
JobListener = Callable[[Job, JobState], Awaitable[None]]


class Scheduler:
    """The running replications of one server, by job id."""

    def __init__(self, on_finished: JobListener | None = None) -> None:
        self.jobs: dict[str, Job] = {}
        self.on_finished = on_finished

    def add(self, job: Job) -> Job:
        """Start ``job``, or answer the running job with the same id (CouchDB's answer to the
        same continuous replication posted twice is the same ``_local_id``)."""
        existing = self.jobs.get(job.id)
        if existing is not None and existing.state not in FINISHED:
            return existing
        self.jobs[job.id] = job
        job.record("added")
        job.task = asyncio.get_running_loop().create_task(self._run(job), name=f"rep {job.id}")
        return job

    def remember(self, job: Job) -> None:
        """Keep the record of a job that finished before (a ``_replicator`` document's, from a
        previous run of the server), for the listings."""
        self.jobs.setdefault(job.id, job)

    async def run_once(self, job: Job) -> ReplicationResult:
        """Run a one-shot job to its end and answer its result, or raise what stopped it."""
        job = self.add(job)
        await job.finished.wait()
        if job.result is None:
            raise job.failure or CouchError("replication was cancelled", error="error")
        return job.result

    def running(self) -> list[Job]:
        """The jobs ``_scheduler/jobs`` and ``_active_tasks`` list: not finished ones."""
        return [job for job in self.jobs.values() if job.state not in FINISHED]

    def for_doc(self, doc: DocRef) -> Job | None:
        return next((job for job in self.jobs.values() if job.doc == doc), None)

    async def cancel(self, job_id: str) -> bool:
        """Stop the job; False when there is no such unfinished job."""
        job = self.jobs.get(job_id)
        if job is None or job.state in FINISHED:
            return False
        await self._end(job)
        return True

    async def forget(self, job: Job) -> None:
        """Stop ``job`` if it runs and drop it from every listing (its document is gone)."""
        await self._end(job)
        if self.jobs.get(job.id) is job:
            del self.jobs[job.id]

    async def stop(self) -> None:
        """Server shutdown: end every task; their checkpoints hold where each one got to."""
        for job in list(self.jobs.values()):
            await self._end(job)

    async def _end(self, job: Job) -> None:
        task = job.task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.jobs.get(job.id) is job and job.state not in FINISHED:
            del self.jobs[job.id]
        job.finished.set()

    async def _run(self, job: Job) -> None:
        try:
            await self._attempts(job)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug must end the job visibly, not kill its task silently
            log.exception("replication %s stopped on an unexpected error", job.id)
            job.error = f"{type(exc).__name__}: {exc}"
            await self._finish(job, JobState.FAILED, CouchError(job.error))

    async def _attempts(self, job: Job) -> None:
        while True:
            job.state = JobState.RUNNING
            job.record("started")
            try:
                job.result = await _replicate(job)
            except CouchError as exc:
                job.error_count += 1
                job.crashes += 1
                job.error = f"{exc.error}: {exc.reason}"
                job.record("crashed", job.error)
                if not job.retry:
                    await self._finish(job, JobState.FAILED, exc)
                    return
                job.state = JobState.CRASHING
                await asyncio.sleep(backoff(job.crashes))
                job.state = JobState.PENDING
                continue
            job.progress.finish(job.result)
            await self._finish(job, JobState.COMPLETED, None)
            return

    async def _finish(self, job: Job, state: JobState, failure: CouchError | None) -> None:
        """End ``job`` in ``state``; the listener records it (in its document) first, so a
        client that sees the state in a listing finds it in the document too."""
        job.failure = failure
        if self.on_finished is not None:
            try:
                await self.on_finished(job, state)
            except CouchError:
                log.exception("could not record the end of replication %s", job.id)
        job.state = state
        job.record("completed" if state is JobState.COMPLETED else "failed")
        if job.doc is None and self.jobs.get(job.id) is job:
            # A _replicate job's end goes to its caller; only documents' jobs stay listed
            # (_scheduler/docs), so a server answering one-shot requests does not grow.
            del self.jobs[job.id]
        job.finished.set()


def backoff(crashes: int) -> float:
    """Seconds before the next try after ``crashes`` consecutive crashes."""
    return float(min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** (crashes - 1)))


async def _replicate(job: Job) -> ReplicationResult:
    spec = job.spec
    async with (
        _opened(spec.source, create=False) as source,
        _opened(spec.target, create=spec.create_target) as target,
    ):
        options = spec.options()
        if spec.continuous:
            await replicate_continuously(source, target, options, on_progress=job.on_progress)
        return await replicate(source, target, options, on_progress=job.on_progress)


async def check_filter(spec: ReplicationSpec) -> None:
    """CouchDB reads a named filter from the source when a replication is asked for (its code
    is part of the replication id), so a missing one is the request's 404, not a job's crash;
    these are its reasons, Erlang terms and all."""
    if spec.filter is None:
        return
    ddoc, _, name = spec.filter.partition("/")
    shown = spec.source.shown
    try:
        async with _opened(spec.source, create=False) as source:
            design = await source.get(f"_design/{ddoc}")
    except NotFound as exc:
        if exc.error == "db_not_found":
            reason = f'Could not open source database `{shown}`: {{db_not_found,<<"{shown}">>}}'
        else:
            reason = (
                f"Couldn't open document `_design/{ddoc}` from source database `{shown}`:"
                ' {error,<<"not_found">>}'
            )
        raise NotFound(reason) from exc
    if not isinstance((design.get("filters") or {}).get(name), str):
        raise NotFound(
            f"Couldn't parse filter code from document {ddoc} on `{shown}` "
            f' Error: {{not_found,<<"missing json key: {name}">>}}'
        )


@contextlib.asynccontextmanager
async def _opened(endpoint: Endpoint, *, create: bool) -> AsyncIterator[DocumentStore]:
    """The endpoint's store, with CouchDB's errors for one that cannot be opened (a missing
    database is CouchDB's ``db_not_found`` body with a 404, where CouchDB answers 500)."""
    url = endpoint.shown
    try:
        store = await open_endpoint(endpoint.url, create=create, headers=endpoint.headers)
    except NotFound as exc:
        raise NotFound(f"could not open {url}", error="db_not_found") from exc
    except (Unauthorized, Forbidden) as exc:
        raise Unauthorized(f"unauthorized to access or create database {url}") from exc
    try:
        yield store
    finally:
        await store.close()
