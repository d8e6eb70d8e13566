"""The server's replication scheduler against the real CouchDB 3.5's, differentially.

The same bad ``_replicate`` bodies get the same bodies (and statuses, but for the listed
departures) from both servers; the same replication shows the same keys and states in
``_scheduler/jobs``, ``_scheduler/docs`` and ``_active_tasks`` on both; a second document for a
running replication fails the same way; the listings page and filter alike.
"""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import pytest
from couch import CouchServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from interop.couch_api import Doc, create_db, get_doc, put_doc, request_json
from interop.couch_replicator import (
    cancel,
    delete_replicator_doc,
    job,
    put_replicator_doc,
    run_replicator_doc,
    scheduler_doc,
    wait_until,
)

from .conftest import Server
from .replication_helpers import fresh, http

__all__ = ["http"]  # the fixture, used by name


# ---- differential: errors ----------------------------------------------------------------------

# Where our status departs from CouchDB's (same body): CouchDB answers these client mistakes with
# a 500; ours answers 500 only for its own faults (test_fuzz), so a bad body is a 400 and a
# database that does not exist a 404.
# A filter function CouchDB's QuickJS can run; ours only stores it.
FILTER_CODE = "function(doc, req) { return true; }"
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
    # SRC has _design/d with the filter g: found, so the missing target is what fails.
    ({"source": "SRC", "target": "MISSING", "filter": "d/g"}, MISSING_DB_NOT_500),
    # A named filter is read from the source when the replication is asked for.
    ({"source": "SRC", "target": "MISSING", "filter": "d/f"}, None),
    ({"source": "SRC", "target": "MISSING", "filter": "x/f"}, None),
    ({"source": "MISSING", "target": "SRC", "filter": "d/g"}, None),
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
        await put_doc(http, f"{root}/{src}", {"_id": "_design/d", "filters": {"g": FILTER_CODE}})
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


# ---- differential: random bodies -----------------------------------------------------------

# Values of each field: placeholders as in BAD_BODIES, wrong types, and nulls (CouchDB takes a
# null as a wrong type, but for doc_ids). No body here starts a job: no continuous, no
# create_target, and the target never exists.
FIELD_VALUES: dict[str, list[Any]] = {
    "source": ["SRC", "src_name", {"url": "SRC"}, {"headers": {}}],
    "target": ["MISSING", {"url": "MISSING"}],
    "doc_ids": [["a"], "a", None],
    "selector": [{}, "a", None],
    "filter": ["bad", "d/f"],
    "continuous": [False, "x", None],
    "create_target": [False, "x"],
    "cancel": [True, False, "x"],
    "replication_id": ["0123+continuous"],
    "query_params": [{}, "x"],
}
random_bodies = st.lists(
    st.sampled_from(sorted(FIELD_VALUES)).flatmap(
        lambda key: st.tuples(st.just(key), st.sampled_from(FIELD_VALUES[key]))
    ),
    max_size=len(FIELD_VALUES),
    unique_by=lambda pair: pair[0],
).map(dict)  # the order of the keys matters: CouchDB checks the options in the body's order


def _departure(answer: str) -> int:
    """Our status where CouchDB answers 500 for a client's mistake (BAD_REQUEST_NOT_500)."""
    return MISSING_DB_NOT_500 if '"db_not_found"' in answer else BAD_REQUEST_NOT_500


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=random_bodies)
async def test_random_replicate_bodies_get_couchdbs_answers(
    body: dict[str, Any], server: Server, couchdb: CouchServer, http: aiohttp.ClientSession
) -> None:
    answers = []
    for root, bare in ((server.authed_url, server.url), (couchdb.url, couchdb.bare_url)):
        names = {"SRC": f"{root}/_users", "MISSING": f"{root}/missing-db", "src_name": "_users"}
        answers.append(await _answer(http, root, bare, body, names))
    (ours, our_body), (theirs, their_body) = answers
    assert our_body == their_body
    assert ours == theirs or (theirs == 500 and ours == _departure(our_body))
