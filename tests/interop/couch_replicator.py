"""Driving CouchDB's own replicator over HTTP: ``_replicate``, ``_replicator`` documents, and
the scheduler's view of a job, with bounded waits only.

The replicator runs inside CouchDB and opens the source and target by URL, so both are full
database URLs with credentials (``http://admin:pass@127.0.0.1:PORT/db``). A job that crashes
fails the test at once with the scheduler's reason (CouchDB would retry it with backoff for
minutes), so a failure reads e.g. ``crashing: {missing_stub, ...}`` instead of a timeout.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from .couch_api import Doc, request_json, url_of, without_credentials

# One one-shot replication of the corpus takes a few seconds; this only bounds a hang.
REPLICATE_TIMEOUT = aiohttp.ClientTimeout(total=120)
# How long a _replicator job or a continuous replication may take to finish or catch up.
JOB_SECONDS = 60.0
# Between two polls of the scheduler or of a database.
POLL_SECONDS = 0.1
# Scheduler states of a job that will not get anywhere without a retry.
BROKEN_STATES = {"crashing", "failed", "error"}


async def replicate(
    http: aiohttp.ClientSession, couch: str, source: str, target: str, **options: Any
) -> Doc:
    """``POST /_replicate`` on CouchDB at ``couch``; CouchDB's answer (``history`` etc.)."""
    body = {"source": source, "target": target, **options}
    answer: Doc = await request_json(
        http, "POST", f"{couch}/_replicate", json=body, timeout=REPLICATE_TIMEOUT
    )
    assert answer.get("ok") is True, f"_replicate {_route(source, target)}: {answer}"
    return answer


async def start_continuous(
    http: aiohttp.ClientSession, couch: str, source: str, target: str
) -> str:
    """A continuous ``_replicate`` job; returns its id (``_local_id``) for ``cancel``."""
    body = {"source": source, "target": target, "continuous": True}
    answer = await request_json(http, "POST", f"{couch}/_replicate", json=body)
    job_id: str = answer["_local_id"]
    return job_id


async def cancel(http: aiohttp.ClientSession, couch: str, job_id: str) -> None:
    body = {"replication_id": job_id, "cancel": True}
    await request_json(http, "POST", f"{couch}/_replicate", json=body, expect=(200, 404))


async def assert_cancelled(http: aiohttp.ClientSession, couch: str, job_id: str) -> None:
    """The ``_replicate`` job is gone from the scheduler (bounded wait)."""

    async def gone() -> bool:
        return await job(http, couch, job_id) is None

    await wait_until(gone, f"job {job_id} gone from _scheduler/jobs")


async def assert_replicator_doc_stopped(
    http: aiohttp.ClientSession, couch: str, doc_id: str
) -> None:
    """The deleted ``_replicator`` document's job is gone from the scheduler (bounded wait)."""

    async def gone() -> bool:
        return "state" not in await scheduler_doc(http, couch, doc_id)

    await wait_until(gone, f"_replicator/{doc_id} gone from _scheduler/docs")


async def job(http: aiohttp.ClientSession, couch: str, job_id: str) -> Doc | None:
    """The scheduler's job (``_scheduler/jobs``) with this id, or ``None``."""
    jobs = await request_json(http, "GET", f"{couch}/_scheduler/jobs")
    for entry in jobs["jobs"]:
        if entry["id"] == job_id:
            found: Doc = entry
            return found
    return None


async def put_replicator_doc(
    http: aiohttp.ClientSession,
    couch: str,
    doc_id: str,
    source: str,
    target: str,
    *,
    continuous: bool = False,
) -> None:
    doc = {"_id": doc_id, "source": source, "target": target, "continuous": continuous}
    await request_json(http, "PUT", f"{couch}/_replicator/{doc_id}", json=doc)


async def delete_replicator_doc(http: aiohttp.ClientSession, couch: str, doc_id: str) -> None:
    """Deleting a ``_replicator`` document cancels its job."""
    current = await request_json(http, "GET", f"{couch}/_replicator/{doc_id}", expect=(200, 404))
    if current and "_rev" in current:
        url = url_of(f"{couch}/_replicator/{doc_id}", rev=current["_rev"])
        await request_json(http, "DELETE", url)


async def scheduler_doc(http: aiohttp.ClientSession, couch: str, doc_id: str) -> Doc:
    """The scheduler's view of a ``_replicator`` document. CouchDB 3.5 sometimes answers a
    doc it is just picking up with ``500 function_clause``; callers poll, so that counts as
    "no state yet" and the poll's deadline bounds it."""
    url = f"{couch}/_scheduler/docs/_replicator/{doc_id}"
    doc: Doc = await request_json(http, "GET", url, expect=(200, 404, 500))
    return doc


async def run_replicator_doc(
    http: aiohttp.ClientSession, couch: str, doc_id: str, source: str, target: str
) -> Doc:
    """A one-shot job through a ``_replicator`` document, polled until ``completed``; returns
    the scheduler's document (its ``info`` has ``docs_read``, ``docs_written``, ...)."""
    await put_replicator_doc(http, couch, doc_id, source, target)
    state: Doc = {}

    async def completed() -> bool:
        nonlocal state
        state = await scheduler_doc(http, couch, doc_id)
        _fail_if_broken(state, _route(source, target))
        return state.get("state") == "completed"

    await wait_until(completed, f"_replicator/{doc_id} completed", lambda: state)
    return state


def _fail_if_broken(state: Doc, route: str) -> None:
    if state.get("state") in BROKEN_STATES:
        raise AssertionError(f"CouchDB's replication {route} is {state['state']}: {_info(state)}")


def _info(state: Doc) -> str:
    shown = {k: state.get(k) for k in ("state", "info", "error_count", "last_updated")}
    return json.dumps(shown)[:3000]


async def assert_job_healthy(http: aiohttp.ClientSession, couch: str, job_id: str) -> None:
    """A continuous ``_replicate`` job is still running (its last event is no crash)."""
    entry = await job(http, couch, job_id)
    assert entry is not None, f"continuous job {job_id} is gone from _scheduler/jobs"
    crashes = [event for event in entry.get("history", []) if event.get("type") == "crashed"]
    assert not crashes, f"continuous job {job_id} crashed: {json.dumps(crashes)[:3000]}"


async def wait_until(
    check: Callable[[], Awaitable[bool]],
    what: str,
    detail: Callable[[], object] = lambda: "",
    seconds: float = JOB_SECONDS,
) -> None:
    """Poll ``check`` until it holds; after ``seconds`` fail saying ``what`` and ``detail()``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(POLL_SECONDS)
    raise AssertionError(f"not {what} within {seconds}s: {str(detail())[:3000]}")


def _route(source: str, target: str) -> str:
    return f"{without_credentials(source)} -> {without_credentials(target)}"
