"""Replication jobs inside our server, against the real CouchDB 3.5.

``POST /_replicate`` and ``_replicator`` documents on our server replicate ours → CouchDB and
CouchDB → ours; continuous jobs follow their source until cancelled or until their document is
deleted; a continuous ``_replicator`` job resumes after a restart of ``brainlink-docs serve``;
filtered replications copy what CouchDB's copy. (The scheduler's rows and errors against
CouchDB's: ``test_scheduler_vs_couchdb.py``.)
"""

from __future__ import annotations

import asyncio
import signal
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
from .replication_helpers import fresh, http

__all__ = ["http"]  # the fixture, used by name

# After a job is stopped, how long a write on its source is watched for not arriving: a running
# job carries it in milliseconds.
QUIET_S = 1.5


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


async def test_deleting_the_replicator_database_stops_its_jobs(
    server: Server, http: aiohttp.ClientSession
) -> None:
    ours = server.authed_url
    for name in ("_replicator", "src", "copy"):
        await create_db(http, f"{ours}/{name}")
    await put_replicator_doc(http, ours, "follow", f"{ours}/src", f"{ours}/copy", continuous=True)
    await put_doc(http, f"{ours}/src", {"_id": "first"})
    await arrives(http, f"{ours}/copy", "first")
    await request_json(http, "DELETE", f"{ours}/_replicator")

    async def no_jobs() -> bool:
        return (await request_json(http, "GET", f"{ours}/_scheduler/jobs"))["jobs"] == []

    await wait_until(no_jobs, "the jobs of the deleted _replicator stopped")
    await put_doc(http, f"{ours}/src", {"_id": "after-delete"})
    await stays_away(http, f"{ours}/copy", "after-delete")
    await create_db(http, f"{ours}/_replicator")  # a new one is followed from its start
    await put_replicator_doc(http, ours, "again", f"{ours}/src", f"{ours}/copy", continuous=True)
    await arrives(http, f"{ours}/copy", "after-delete")


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
