"""Replication endpoints: ``POST /_replicate``, ``_scheduler/jobs``, ``_scheduler/docs`` and the
replication rows of ``_active_tasks``, over the server's ``Scheduler`` (``replication.jobs``).

Rows use CouchDB 3.5's field names and shapes (compared key by key with the real server's in
``tests/http_api/test_scheduler_vs_couchdb.py``); endpoints are shown without credentials, as
CouchDB shows them. ``setup`` attaches the scheduler and the ``_replicator`` watcher to the
application: started with it, stopped as its shutdown begins (before its databases close).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp import web

from brainlink_docs.errors import BadRequest, NotFound, Unauthorized
from brainlink_docs.http import params
from brainlink_docs.http.keys import USER_CTX
from brainlink_docs.http.requests import json_object, require_json_type
from brainlink_docs.http.responses import json_response
from brainlink_docs.replication.jobs import (
    CHECKPOINT_INTERVAL_MS,
    NODE,
    DocRef,
    Job,
    JobState,
    Scheduler,
    check_filter,
)
from brainlink_docs.replication.replicator_db import REPLICATOR_DB, DocFailure, ReplicatorDocs
from brainlink_docs.replication.spec import CancelRequest, Endpoint, LocalResolver, parse
from brainlink_docs.store.api import Databases

SCHEDULER: web.AppKey[Scheduler] = web.AppKey("scheduler", Scheduler)
REPLICATOR_DOCS: web.AppKey[ReplicatorDocs] = web.AppKey("replicator_docs", ReplicatorDocs)
# The states _scheduler/docs?states= accepts, in CouchDB 3.5's order for its error message.
_STATES_ORDER = ("initializing", "error", "running", "pending", "crashing", "completed", "failed")
_STATES = frozenset(_STATES_ORDER)
# Headers of the request that a local database name's endpoint carries (CouchDB 3.5 replicates
# a local name as its own URL, with the requester's credentials).
_FORWARDED = ("Authorization", "Cookie")


def setup(app: web.Application, databases: Databases) -> None:
    scheduler = app[SCHEDULER] = Scheduler()
    docs = app[REPLICATOR_DOCS] = ReplicatorDocs(databases, scheduler)
    scheduler.on_finished = docs.job_finished

    async def start(app: web.Application) -> None:
        docs.start()

    async def stop(app: web.Application) -> None:
        await docs.stop()
        await scheduler.stop()

    app.on_startup.append(start)
    # On shutdown, before the server waits for in-flight requests: a continuous job's longpoll
    # on this very server is one of them, and would hold the shutdown for its whole grace time.
    app.on_shutdown.append(stop)


async def replicate(request: web.Request) -> web.StreamResponse:
    user = request[USER_CTX]
    if user.name is None:
        raise Unauthorized("You are not an authenticated user")
    require_json_type(request)
    body = await json_object(request)
    scheduler = request.app[SCHEDULER]
    wanted = parse(body, _local_resolver(request))
    if isinstance(wanted, CancelRequest):
        running = scheduler.jobs.get(wanted.job_id)
        if running is not None and not user.is_admin and running.user != user.name:
            raise Unauthorized("You are not a server admin.")  # another user's job
        if not await scheduler.cancel(wanted.job_id):
            raise NotFound("missing")
        return json_response({"ok": True, "_local_id": wanted.job_id})
    await check_filter(wanted)
    if wanted.continuous:
        job = scheduler.add(Job(wanted, user=user.name))
        return json_response({"ok": True, "_local_id": job.id}, status=202)
    result = await scheduler.run_once(Job(wanted, user=user.name, retry=False))
    return json_response(result.to_json())


def _local_resolver(request: web.Request) -> LocalResolver:
    """CouchDB 3.5's reading of a local database name in ``_replicate``: this server's URL
    for it, with the requester's credentials."""
    base = f"{request.scheme}://{request.host}"
    headers = {name: request.headers[name] for name in _FORWARDED if name in request.headers}

    def resolve(name: str) -> Endpoint:
        return Endpoint(f"{base}/{quote(name, safe='')}", headers)

    return resolve


async def scheduler_jobs(request: web.Request, *rest: str) -> web.StreamResponse:
    jobs = request.app[SCHEDULER].running()
    if rest:
        found = next((job for job in jobs if job.id == rest[0]), None)
        if found is None:
            raise NotFound("missing")
        return json_response(job_row(found))
    rows = [job_row(job) for job in jobs]
    skip, limit = _job_count(request, "skip"), _job_count(request, "limit")
    return json_response(_page(rows, "jobs", skip, limit))


async def scheduler_docs(request: web.Request, *rest: str) -> web.StreamResponse:
    if rest and rest[0] != REPLICATOR_DB:
        raise BadRequest("Invalid path")  # CouchDB 3.5 on any other database
    rows = _doc_rows(request.app[SCHEDULER], request.app[REPLICATOR_DOCS])
    states = request.query.get("states")
    if states is not None:
        wanted = set(states.split(","))
        if not wanted <= _STATES:
            raise BadRequest(
                f"States must be one or more of [{','.join(_STATES_ORDER)}]",
                error="query_parse_error",
            )
        rows = [row for row in rows if row["state"] in wanted]
    if len(rest) > 1:
        doc_id = "/".join(rest[1:])
        row = next((r for r in rows if r["doc_id"] == doc_id), None)
        if row is None:
            raise NotFound("missing")
        return json_response(row)
    # _scheduler/docs reads skip and limit as a view does (couch_mrview's messages).
    skip, limit = params.integer(request.query, "skip"), params.integer(request.query, "limit")
    return json_response(_page(rows, "docs", skip, limit))


def _page(
    rows: list[dict[str, Any]], name: str, skip: int | None, limit: int | None
) -> dict[str, Any]:
    """``skip`` and ``limit`` over the rows; ``total_rows`` counts them all (CouchDB 3.5)."""
    skip = skip or 0
    shown = rows[skip:] if limit is None else rows[skip : skip + limit]
    return {"total_rows": len(rows), "offset": min(skip, len(rows)), name: shown}


def _job_count(request: web.Request, name: str) -> int | None:
    """``_scheduler/jobs``' ``skip``/``limit``, with its own messages
    (``couch_replicator_httpd``)."""
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer", error="query_parse_error") from None
    if value < 0:
        raise BadRequest(f"{name} not in range of [0,infinity]", error="query_parse_error")
    return value


async def active_tasks(request: web.Request) -> web.StreamResponse:
    jobs = request.app[SCHEDULER].running()
    return json_response([task_row(job) for job in jobs if job.state is JobState.RUNNING])


def job_row(job: Job) -> dict[str, Any]:
    """A ``_scheduler/jobs`` row."""
    running = job.state is JobState.RUNNING
    return {
        "database": job.doc.database if job.doc else None,
        "id": job.id,
        "pid": job.pid if running else None,
        "source": job.spec.source.shown,
        "target": job.spec.target.shown,
        "user": job.user,
        "doc_id": job.doc.doc_id if job.doc else None,
        "info": job.progress.running_json() if running else None,
        "history": [event.to_json() for event in job.history],
        "node": NODE,
        "start_time": job.start_time,
    }


def _doc_rows(scheduler: Scheduler, docs: ReplicatorDocs) -> list[dict[str, Any]]:
    rows = [doc_row(job, job.doc) for job in scheduler.jobs.values() if job.doc is not None]
    rows += [failure_row(failure) for failure in docs.failures.values()]
    rows.sort(key=lambda row: str(row["doc_id"]))
    return rows


def doc_row(job: Job, doc: DocRef) -> dict[str, Any]:
    """A ``_scheduler/docs`` row: a finished job's has no node, id or proxies (CouchDB 3.5)."""
    row: dict[str, Any] = {"database": doc.database, "doc_id": doc.doc_id}
    if job.state in (JobState.COMPLETED, JobState.FAILED):
        info = job.progress.to_json() if job.state is JobState.COMPLETED else _error(job)
        return row | {
            "id": None,
            "source": job.spec.source.shown,
            "target": job.spec.target.shown,
            "state": job.state.value,
            "error_count": job.error_count,
            "info": info,
            "start_time": job.start_time,
            "last_updated": job.last_updated,
        }
    running = job.state is JobState.RUNNING
    return row | {
        "id": job.id,
        "node": NODE,
        "source": job.spec.source.shown,
        "target": job.spec.target.shown,
        "state": job.state.value,
        "info": job.progress.running_json() if running else _error(job),
        "error_count": job.error_count,
        "last_updated": job.last_updated,
        "start_time": job.start_time,
        "source_proxy": None,
        "target_proxy": None,
    }


def _error(job: Job) -> dict[str, Any] | None:
    return {"error": job.error} if job.error is not None else None


def failure_row(failure: DocFailure) -> dict[str, Any]:
    """A document that is not a valid replication, or a second one for a running replication."""
    spec = failure.spec
    return {
        "database": failure.doc.database,
        "doc_id": failure.doc.doc_id,
        "id": None,
        "source": spec.source.shown if spec is not None else None,
        "target": spec.target.shown if spec is not None else None,
        "state": "failed",
        "error_count": 1,
        "info": {"error": failure.reason},
        "start_time": failure.last_updated,
        "last_updated": failure.last_updated,
    }


def task_row(job: Job) -> dict[str, Any]:
    """An ``_active_tasks`` row of a running replication (CouchDB lists its keys sorted)."""
    info = job.progress.running_json()
    row = {
        "node": NODE,
        "pid": job.pid,
        "process_status": "waiting",
        **info,
        "checkpoint_interval": CHECKPOINT_INTERVAL_MS,
        "continuous": job.spec.continuous,
        "database": job.doc.database if job.doc else None,
        "doc_id": job.doc.doc_id if job.doc else None,
        "replication_id": job.id,
        "source": job.spec.source.shown,
        "target": job.spec.target.shown,
        "started_on": int(job.started_on),
        "updated_on": int(job.updated_on),
        "type": "replication",
        "user": job.user,
    }
    first = {name: row.pop(name) for name in ("node", "pid", "process_status")}
    return first | dict(sorted(row.items()))
