"""Replication jobs inside our server, against the real CouchDB 3.5.

``POST /_replicate`` and ``_replicator`` documents on our server replicate ours → CouchDB and
CouchDB → ours; continuous jobs follow their source until cancelled or until their document is
deleted; a continuous ``_replicator`` job resumes after a restart of ``brainlink-docs serve``.
Differential: the same bad bodies get the same status and body from both servers, and the same
replication shows the same keys and states in ``_scheduler/jobs``, ``_scheduler/docs`` and
``_active_tasks`` on both.
"""

from __future__ import annotations

import asyncio
import re
import signal
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from couch import CouchServer
from interop.couch_api import Doc, bulk_docs, create_db, get_doc, put_doc, request_json
from interop.couch_replicator import (
    assert_cancelled,
    assert_replicator_doc_stopped,
    cancel,
    delete_replicator_doc,
    job,
    put_replicator_doc,
    replicate,
    run_replicator_doc,
    scheduler_doc,
    start_continuous,
    wait_until,
)
from peers import free_port
from replication.test_replicate import state, write_corpus
from test_serve_cli import _serve

from brainlink_docs.store.http import HttpStore

from .conftest import Server

# After a job is stopped, how long a write on its source is watched for not arriving: a running
# job carries it in milliseconds.
QUIET_S = 1.5


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def fresh(name: str) -> str:
    """A database name used once: CouchDB may still hold a just-deleted one's shard."""
    return f"{name}-{uuid.uuid4().hex[:10]}"


async def corpus_db(url: str) -> dict[str, Any]:
    """Create ``url`` with the replication corpus in it; answers its state."""
    store = await HttpStore.open(url)
    try:
        await write_corpus(store)
        return await state(store)
    finally:
        await store.close()


async def state_of(url: str) -> dict[str, Any]:
    store = await HttpStore.open(url)
    try:
        return await state(store)
    finally:
        await store.close()


async def arrives(http: aiohttp.ClientSession, db_url: str, doc_id: str) -> None:
    async def there() -> bool:
        doc = await request_json(http, "GET", f"{db_url}/{doc_id}", expect=(200, 404))
        return "_rev" in doc

    await wait_until(there, f"{doc_id} in {db_url.rpartition('@')[2]}")


async def stays_away(http: aiohttp.ClientSession, db_url: str, doc_id: str) -> None:
    await asyncio.sleep(QUIET_S)
    with pytest.raises(AssertionError, match="404"):
        await get_doc(http, db_url, doc_id)


# ---- ours ⇄ CouchDB --------------------------------------------------------------------------


async def test_replicate_carries_the_corpus_to_couchdb_and_back(
    server: Server, couchdb: CouchServer, http: aiohttp.ClientSession
) -> None:
    ours = server.authed_url
    await create_db(http, f"{ours}/src")
    expected = await corpus_db(f"{ours}/src")
    remote = couchdb.db_url(fresh("from-ours"))
    pushed = await replicate(http, ours, "src", remote, create_target=True)
    assert pushed["history"][0]["docs_written"] > 0
    assert pushed["history"][0]["doc_write_failures"] == 0
    assert await state_of(remote) == expected
    pulled = await replicate(http, ours, remote, "back", create_target=True)
    assert pulled["history"][0]["doc_write_failures"] == 0
    assert await state_of(f"{ours}/back") == expected
    again = await replicate(http, ours, remote, "back")
    assert again["history"][0]["docs_written"] == 0


async def test_replicator_documents_replicate_both_ways_and_record_completion(
    server: Server, couchdb: CouchServer, http: aiohttp.ClientSession
) -> None:
    ours = server.authed_url
    await create_db(http, f"{ours}/_replicator")
    await create_db(http, f"{ours}/src")
    expected = await corpus_db(f"{ours}/src")
    remote = couchdb.db_url(fresh("doc-from-ours"))
    await create_db(http, remote)
    pushed = await run_replicator_doc(http, ours, "push", f"{ours}/src", remote)
    assert pushed["info"]["docs_written"] > 0
    assert await state_of(remote) == expected
    await create_db(http, f"{ours}/back")
    pulled = await run_replicator_doc(http, ours, "pull", remote, f"{ours}/back")
    assert await state_of(f"{ours}/back") == expected
    doc = await get_doc(http, f"{ours}/_replicator", "pull")
    assert doc["_replication_state"] == "completed"
    assert doc["_replication_stats"]["docs_written"] == pulled["info"]["docs_written"] > 0


async def test_continuous_replicate_follows_until_cancelled(
    server: Server, couchdb: CouchServer, http: aiohttp.ClientSession
) -> None:
    ours = server.authed_url
    await create_db(http, f"{ours}/live")
    remote = couchdb.db_url(fresh("live"))
    await create_db(http, remote)
    job_id = await start_continuous(http, ours, f"{ours}/live", remote)
    assert job_id.endswith("+continuous")
    await put_doc(http, f"{ours}/live", {"_id": "during"})
    await arrives(http, remote, "during")
    assert await job(http, ours, job_id) is not None
    await cancel(http, ours, job_id)
    await assert_cancelled(http, ours, job_id)
    await put_doc(http, f"{ours}/live", {"_id": "after-cancel"})
    await stays_away(http, remote, "after-cancel")


async def test_deleting_a_replicator_document_stops_its_job(
    server: Server, couchdb: CouchServer, http: aiohttp.ClientSession
) -> None:
    ours = server.authed_url
    await create_db(http, f"{ours}/_replicator")
    remote = couchdb.db_url(fresh("follow"))
    await create_db(http, remote)
    await create_db(http, f"{ours}/copy")
    await put_replicator_doc(http, ours, "follow", remote, f"{ours}/copy", continuous=True)
    await put_doc(http, remote, {"_id": "first"})
    await arrives(http, f"{ours}/copy", "first")
    assert (await scheduler_doc(http, ours, "follow"))["state"] == "running"
    await delete_replicator_doc(http, ours, "follow")
    await assert_replicator_doc_stopped(http, ours, "follow")
    await put_doc(http, remote, {"_id": "after-delete"})
    await stays_away(http, f"{ours}/copy", "after-delete")


FILTERED_CORPUS = [
    {"_id": "a", "kind": "keep"},
    {"_id": "b", "kind": "drop"},
    {"_id": "c", "kind": "keep"},
    {"_id": "d"},
]


@pytest.mark.parametrize("chosen", [{"selector": {"kind": "keep"}}, {"doc_ids": ["a", "c"]}])
async def test_a_filtered_replicate_copies_what_couchdb_copies(
    chosen: Doc, server: Server, couchdb: CouchServer, http: aiohttp.ClientSession
) -> None:
    copied = []
    for root in (server.authed_url, couchdb.url):
        src, tgt = fresh("filtered-src"), fresh("filtered-tgt")
        await create_db(http, f"{root}/{src}")
        await bulk_docs(http, f"{root}/{src}", FILTERED_CORPUS)
        answer = await replicate(http, root, src, tgt, create_target=True, **chosen)
        rows = (await request_json(http, "GET", f"{root}/{tgt}/_all_docs"))["rows"]
        copied.append(([row["id"] for row in rows], answer["history"][0]["docs_written"]))
    assert copied[0] == copied[1]
    assert copied[0][0] == ["a", "c"]


# ---- restart ---------------------------------------------------------------------------------


async def test_a_continuous_replicator_job_resumes_after_a_restart(
    tmp_path: Path, couchdb: CouchServer, http: aiohttp.ClientSession
) -> None:
    data = tmp_path / "data"
    # The same port on both starts: the job's source URL names it (a later --port wins).
    port = free_port()
    ours = f"http://admin:restart-pass@127.0.0.1:{port}"
    remote = couchdb.db_url(fresh("resumed"))
    await create_db(http, remote)
    with _serve(data, "--admin", "admin:restart-pass", "--port", str(port)) as (proc, _, _):
        await create_db(http, f"{ours}/_replicator")
        await create_db(http, f"{ours}/live")
        await put_replicator_doc(http, ours, "live", f"{ours}/live", remote, continuous=True)
        await put_doc(http, f"{ours}/live", {"_id": "before"})
        await arrives(http, remote, "before")
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 30) == 0
    with _serve(data, "--port", str(port)):
        await put_doc(http, f"{ours}/live", {"_id": "after-restart"})
        await arrives(http, remote, "after-restart")
        row: Doc = {}

        async def counted() -> bool:  # the counters follow the batch's checkpoint
            nonlocal row
            row = await scheduler_doc(http, ours, "live")
            return bool(row.get("info", {}).get("docs_read"))

        await wait_until(counted, "the resumed job's batch counted", lambda: row)
        assert row["state"] == "running"
        # Resumed from its checkpoint: only the new document was read in this run.
        assert row["info"]["docs_read"] == 1


# ---- differential: errors ----------------------------------------------------------------------

# Where our status departs from CouchDB's (same body): CouchDB answers these client mistakes with
# a 500; ours answers 500 only for its own faults (test_fuzz), so a bad body is a 400 and a
# database that does not exist a 404.
BAD_REQUEST_NOT_500 = 400
MISSING_DB_NOT_500 = 404

# Bodies with placeholders: SRC an existing database's URL, MISSING one that does not exist, and
# the bare names of both (local names, which _replicate resolves against the server itself);
# each with our departing status, or None where we answer CouchDB's status.
BAD_BODIES: list[tuple[Any, int | None]] = [
    ({}, BAD_REQUEST_NOT_500),
    ({"source": "SRC"}, BAD_REQUEST_NOT_500),
    ({"target": "SRC"}, BAD_REQUEST_NOT_500),
    ({"source": "SRC", "target": "MISSING"}, MISSING_DB_NOT_500),
    ({"source": "src_name", "target": "missing_name"}, MISSING_DB_NOT_500),
    ({"source": "SRC", "target": "MISSING", "filter": "bad"}, BAD_REQUEST_NOT_500),
] + [
    (body, None)
    for body in (
        {"source": "SRC", "target": "MISSING", "doc_ids": ["a"], "filter": "d/f"},
        {"source": "SRC", "target": "MISSING", "selector": {}, "doc_ids": ["a"]},
        {"source": "SRC", "target": "MISSING", "doc_ids": "a"},
        {"source": "SRC", "target": "MISSING", "selector": "a"},
        {"source": "SRC", "target": "MISSING", "continuous": "yes"},
        {"source": "SRC", "target": "MISSING", "create_target": "x"},
        {"source": "SRC", "target": "MISSING", "cancel": "x"},
        {"source": "SRC", "target": "MISSING", "query_params": "x"},
        {"source": {"headers": {}}, "target": "SRC"},
        {"source": "SRC", "target": "MISSING", "continuous": True, "cancel": True},
        {"replication_id": "0123+continuous", "cancel": True},
        [1],
    )
]


def _fill(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        return names.get(value, value)
    if isinstance(value, dict):
        return {k: _fill(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, names) for v in value]
    return value


async def _answer(
    http: aiohttp.ClientSession, root: str, bare: str, body: Any, names: dict[str, str]
) -> tuple[int, Any]:
    async with http.post(f"{root}/_replicate", json=_fill(body, names)) as response:
        text = (await response.text()).replace(bare, "ROOT")
        for placeholder, name in names.items():
            text = text.replace(name.rpartition("/")[2], placeholder)
        return response.status, text


@pytest.mark.parametrize(("body", "departure"), BAD_BODIES, ids=lambda v: str(v)[:60])
async def test_bad_replicate_bodies_get_couchdbs_answers(
    body: Any,
    departure: int | None,
    server: Server,
    couchdb: CouchServer,
    http: aiohttp.ClientSession,
) -> None:
    answers = []
    for root, bare in ((server.authed_url, server.url), (couchdb.url, couchdb.bare_url)):
        src, missing = fresh("src"), fresh("missing")
        await create_db(http, f"{root}/{src}")
        names = {
            "SRC": f"{root}/{src}",
            "MISSING": f"{root}/{missing}",
            "src_name": src,
            "missing_name": missing,
        }
        answers.append(await _answer(http, root, bare, body, names))
    (ours, our_body), (theirs, their_body) = answers
    assert our_body == their_body
    if departure is None:
        assert ours == theirs
    else:
        assert (ours, theirs) == (departure, 500)


async def test_an_anonymous_replicate_is_refused_as_couchdb_refuses_it(
    server: Server, couchdb: CouchServer, http: aiohttp.ClientSession
) -> None:
    answers = []
    for bare in (server.url, couchdb.bare_url):
        async with http.post(f"{bare}/_replicate", json={}) as response:
            answers.append((response.status, await response.json()))
    assert answers[0] == answers[1]


# ---- differential: the scheduler's rows ------------------------------------------------------


async def _continuous_rows(http: aiohttp.ClientSession, root: str) -> dict[str, Doc]:
    """Start the same continuous local replication, let one document through, and read the
    job's rows in ``_scheduler/jobs`` and ``_active_tasks``."""
    src, tgt = fresh("rows-src"), fresh("rows-tgt")
    await create_db(http, f"{root}/{src}")
    await put_doc(http, f"{root}/{src}", {"_id": "one"})
    answer = await request_json(
        http,
        "POST",
        f"{root}/_replicate",
        json={"source": src, "target": tgt, "continuous": True, "create_target": True},
    )
    job_id = answer["_local_id"]
    found: dict[str, Doc] = {}

    async def reported() -> bool:
        entry = await job(http, root, job_id)
        tasks = await request_json(http, "GET", f"{root}/_active_tasks")
        task = next((t for t in tasks if t.get("replication_id") == job_id), None)
        if entry is None or task is None or not entry["info"] or task["docs_written"] < 1:
            return False
        found.update(job=entry, task=task, answer=answer)
        return True

    try:
        await wait_until(reported, f"{job_id} reported with one document written")
    finally:
        await cancel(http, root, job_id)
    return found


async def test_scheduler_jobs_and_active_tasks_rows_have_couchdbs_shape(
    server: Server, couchdb: CouchServer, http: aiohttp.ClientSession
) -> None:
    ours = await _continuous_rows(http, server.authed_url)
    theirs = await _continuous_rows(http, couchdb.url)
    assert ours["answer"].keys() == theirs["answer"].keys()
    for name in ("job", "task"):
        assert set(ours[name]) == set(theirs[name]), name
    assert set(ours["job"]["info"]) == set(theirs["job"]["info"])
    assert [e["type"] for e in ours["job"]["history"]] == [
        e["type"] for e in theirs["job"]["history"]
    ]
    for key in ("continuous", "type", "process_status", "database", "doc_id", "docs_written"):
        assert ours["task"][key] == theirs["task"][key], key
    suffix = ours["job"]["id"].partition("+")[2]
    assert suffix == theirs["job"]["id"].partition("+")[2] == "continuous+create_target"
    for row in (ours["job"], ours["task"]):
        assert "@" not in row["source"] and row["source"].endswith("/")


async def _doc_rows(http: aiohttp.ClientSession, root: str) -> dict[str, Doc]:
    """A completed one-shot and a running continuous ``_replicator`` job: their
    ``_scheduler/docs`` rows and the completed document as written back."""
    src, tgt = f"{root}/{fresh('docs-src')}", f"{root}/{fresh('docs-tgt')}"
    await request_json(http, "PUT", f"{root}/_replicator", expect=(201, 412))
    await create_db(http, src)
    await create_db(http, tgt)
    await put_doc(http, src, {"_id": "one"})
    once, live = fresh("once"), fresh("live")
    completed = await run_replicator_doc(http, root, once, src, tgt)
    await put_replicator_doc(http, root, live, src, tgt, continuous=True)
    running: Doc = {}

    async def is_running() -> bool:
        nonlocal running
        running = await scheduler_doc(http, root, live)
        return running.get("state") == "running"

    try:
        await wait_until(is_running, f"{live} running", lambda: running)
        written = await get_doc(http, f"{root}/_replicator", once)
    finally:
        await delete_replicator_doc(http, root, live)
    return {"completed": completed, "running": running, "written": written}


async def test_scheduler_docs_rows_and_written_states_have_couchdbs_shape(
    server: Server, couchdb: CouchServer, http: aiohttp.ClientSession
) -> None:
    ours = await _doc_rows(http, server.authed_url)
    theirs = await _doc_rows(http, couchdb.url)
    for name in ("completed", "running"):
        assert set(ours[name]) == set(theirs[name]), name
        assert ours[name]["state"] == theirs[name]["state"]
        assert ours[name]["database"] == theirs[name]["database"] == "_replicator"
    assert set(ours["completed"]["info"]) == set(theirs["completed"]["info"])
    assert ours["completed"]["info"]["docs_written"] == theirs["completed"]["info"]["docs_written"]
    replication_fields = {k for k in theirs["written"] if k.startswith("_replication")}
    assert {k for k in ours["written"] if k.startswith("_replication")} == replication_fields
    stats = "_replication_stats"
    assert set(ours["written"][stats]) == set(theirs["written"][stats])
    assert ours["written"]["_replication_state"] == theirs["written"]["_replication_state"]


@pytest.mark.parametrize(
    "path",
    [
        "/_scheduler/docs/_replicator/none",
        "/_scheduler/jobs/none",
        "/_scheduler/docs/other/x",
        "/_scheduler/docs?states=bogus",
        "/_scheduler/jobs?limit=-1",
        "/_scheduler/jobs?skip=x",
        "/_scheduler/docs?limit=-1",
        "/_scheduler/docs?skip=x",
    ],
)
async def test_scheduler_paths_to_nothing_get_couchdbs_answers(
    path: str, server: Server, couchdb: CouchServer, http: aiohttp.ClientSession
) -> None:
    answers = []
    for root in (server.authed_url, couchdb.url):
        async with http.get(root + path) as response:
            answers.append((response.status, await response.json()))
    assert answers[0] == answers[1]


async def _duplicate_rows(http: aiohttp.ClientSession, root: str) -> dict[str, Doc]:
    """Two ``_replicator`` documents for one continuous replication: the second one's
    ``_scheduler/docs`` row and its document once it has failed."""
    src, tgt = f"{root}/{fresh('dup-src')}", f"{root}/{fresh('dup-tgt')}"
    await request_json(http, "PUT", f"{root}/_replicator", expect=(201, 412))
    await create_db(http, src)
    await create_db(http, tgt)
    first, second = fresh("dup-first"), fresh("dup-second")
    await put_replicator_doc(http, root, first, src, tgt, continuous=True)
    row: Doc = {}

    async def in_state(doc_id: str, wanted: str) -> bool:
        nonlocal row
        row = await scheduler_doc(http, root, doc_id)
        return row.get("state") == wanted

    try:
        await wait_until(lambda: in_state(first, "running"), "first running", lambda: row)
        await put_replicator_doc(http, root, second, src, tgt, continuous=True)
        await wait_until(lambda: in_state(second, "failed"), "second failed", lambda: row)
        written = await get_doc(http, f"{root}/_replicator", second)
    finally:
        await delete_replicator_doc(http, root, second)
        await delete_replicator_doc(http, root, first)
    names = {first: "FIRST", second: "SECOND"}
    for doc in (row, written):
        for key in ("_replication_state_reason",):
            if key in doc:
                doc[key] = _normalized(doc[key], names)
        if isinstance(doc.get("info"), dict):
            doc["info"]["error"] = _normalized(doc["info"]["error"], names)
    return {"row": row, "written": written}


def _normalized(reason: str, names: dict[str, str]) -> str:
    for name, placeholder in names.items():
        reason = reason.replace(name, placeholder)
    return re.sub(r"[0-9a-f]{32}", "REPID", reason)


async def test_a_second_document_for_a_running_replication_fails_as_on_couchdb(
    server: Server, couchdb: CouchServer, http: aiohttp.ClientSession
) -> None:
    ours = await _duplicate_rows(http, server.authed_url)
    theirs = await _duplicate_rows(http, couchdb.url)
    assert set(ours["row"]) == set(theirs["row"])
    assert ours["row"]["info"] == theirs["row"]["info"]
    assert ours["row"]["state"] == theirs["row"]["state"] == "failed"
    fields = ("_replication_state", "_replication_state_reason")
    assert [ours["written"][f] for f in fields] == [theirs["written"][f] for f in fields]


async def test_replication_members_are_kept_and_others_refused_as_on_couchdb(
    server: Server, couchdb: CouchServer, http: aiohttp.ClientSession
) -> None:
    kept = {
        "_replication_state": "completed",
        "_replication_state_time": "2026-01-01T00:00:00Z",
        "_replication_state_reason": "r",
        "_replication_id": "i",
        "_replication_stats": {"docs_written": 1},
    }
    answers = []
    for root in (server.authed_url, couchdb.url):
        db = f"{root}/{fresh('members')}"
        await create_db(http, db)
        await put_doc(http, db, {"_id": "kept", **kept})
        read = await get_doc(http, db, "kept")
        async with http.put(f"{db}/other", json={"_replication_other": 1}) as response:
            refused = (response.status, await response.json())
        answers.append(({k: v for k, v in read.items() if k != "_rev"}, refused))
    assert answers[0] == answers[1]
    assert answers[0][0] == {"_id": "kept", **kept}


async def test_scheduler_listings_page_and_filter_by_state_as_on_couchdb(
    server: Server, couchdb: CouchServer, http: aiohttp.ClientSession
) -> None:
    for root in (server.authed_url, couchdb.url):
        src, tgt = f"{root}/{fresh('paged-src')}", f"{root}/{fresh('paged-tgt')}"
        await request_json(http, "PUT", f"{root}/_replicator", expect=(201, 412))
        await create_db(http, src)
        await create_db(http, tgt)
        done = fresh("paged")
        await run_replicator_doc(http, root, done, src, tgt)
        try:
            for state, listed in (("completed", True), ("running,crashing", False)):
                page = await request_json(http, "GET", f"{root}/_scheduler/docs?states={state}")
                ids = [row["doc_id"] for row in page["docs"]]
                assert (done in ids) is listed, (root, state)
                assert {row["state"] for row in page["docs"]} <= set(state.split(","))
            jobs = await request_json(http, "GET", f"{root}/_scheduler/jobs?skip=100000")
            assert jobs["jobs"] == [] and jobs["offset"] == jobs["total_rows"]
        finally:
            await delete_replicator_doc(http, root, done)
