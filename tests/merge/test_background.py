"""The server's background resolver, as an operator turns it on: two devices (embedded stores)
edit the same document offline and replicate into our server; with ``[merge] resolve = true``
the server merges the conflict on its own, by the database's ``_design/merge`` policies, else
its configured ones, else the default. Off by default; a start sweeps what came in while it was
off, from each database's checkpoint; a bad ``merge_policies`` is refused at write time (and
ignored, logged, if it got in anyway); a shutdown leaves no task behind."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from http_api.conftest import ADMIN, PASSWORD
from http_api.conftest import test_settings as server_settings

from brainlink_docs.config import Settings, load_settings
from brainlink_docs.http.app import RESOLVER
from brainlink_docs.http.server import start
from brainlink_docs.merge import crdt
from brainlink_docs.merge.background import CHECKPOINT_ID, BackgroundResolver
from brainlink_docs.merge.clock import Hlc
from brainlink_docs.merge.fields import stamp, user_fields
from brainlink_docs.merge.policies import Policies, Policy
from brainlink_docs.merge.resolver import RESOLUTION_PREFIX
from brainlink_docs.replication import replicate
from brainlink_docs.store.api import DocumentStore, ReadOptions
from brainlink_docs.store.http import HttpStore
from brainlink_docs.store.sqlite import SqliteStore
from brainlink_docs.store.sqlite.databases import SqliteDatabases
from merge.test_command import make_conflict
from merge.test_resolver import edit

CONFLICTS = ReadOptions(conflicts=True)
# How long the resolver may take to merge what a replication brought (it usually takes ms).
RESOLVE_TIMEOUT_S = 20.0
POLL_S = 0.05
COUNTERS = Policies({"usage": Policy("lww", {"/tokens": "counter"})})
PLAIN_LWW = Policies({"usage": Policy("lww")})


@dataclass
class Running:
    url: str  # with the admin's credentials
    app_resolver: BackgroundResolver | None


@contextlib.asynccontextmanager
async def serving(data_dir: Path, **overrides: Any) -> AsyncIterator[Running]:
    runner, port = await start(server_settings(data_dir, **overrides))
    try:
        yield Running(f"http://{ADMIN}:{PASSWORD}@127.0.0.1:{port}", runner.app.get(RESOLVER))
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def remote(url: str, db: str) -> AsyncIterator[DocumentStore]:
    """``db`` on our server (created when missing), through ``HttpStore`` as a device sees it."""
    async with aiohttp.ClientSession() as http, http.put(f"{url}/{db}") as created:
        assert created.status in (201, 412), await created.text()
    store = await HttpStore.open(f"{url}/{db}")
    try:
        yield store
    finally:
        await store.close()


@contextlib.asynccontextmanager
async def devices(directory: Path) -> AsyncIterator[tuple[SqliteStore, SqliteStore]]:
    laptop = await SqliteStore.open(directory / "laptop.sqlite", name="laptop")
    desktop = await SqliteStore.open(directory / "desktop.sqlite", name="desktop")
    try:
        yield laptop, desktop
    finally:
        await laptop.close()
        await desktop.close()


async def conflict_by_replication(
    server: DocumentStore,
    laptop: DocumentStore,
    desktop: DocumentStore,
    first: dict[str, Any],
    changes: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    """``doc`` created on the laptop and on both devices through the server, then edited on
    each offline (``changes``: laptop's, desktop's), then both pushed: the server has a
    conflict, which only replicated writes brought."""
    await laptop.put({"_id": "doc", **stamp(None, first, Hlc(1000, 0, "laptop"))})
    await replicate(laptop, server)
    await replicate(server, desktop)
    await edit(laptop, "doc", changes[0], 2000, "laptop")
    await edit(desktop, "doc", changes[1], 1500, "desktop")
    await replicate(laptop, server)
    await replicate(desktop, server)


async def wait_until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + RESOLVE_TIMEOUT_S
    while not await check():
        assert time.monotonic() < deadline, f"not {what} within {RESOLVE_TIMEOUT_S}s"
        await asyncio.sleep(POLL_S)


async def resolved(store: DocumentStore, doc_id: str = "doc") -> dict[str, Any]:
    """The document once the server has merged it (no ``_conflicts`` left)."""
    found: dict[str, Any] = {}

    async def merged() -> bool:
        found.clear()
        found.update(await store.get(doc_id, options=CONFLICTS))
        return "_conflicts" not in found

    await wait_until(merged, f"{doc_id} resolved")
    return found


async def quiet(resolver: BackgroundResolver | None, db: str) -> None:
    """Until the resolver has swept ``db`` and has nothing left to do: what it wrote set off no
    more work (a resolution marks its database again before its sweep ends)."""
    assert resolver is not None

    async def idle() -> bool:
        return db in resolver.sweeps and not resolver.pending and resolver.sweeping is None

    await wait_until(idle, f"the resolver quiet after sweeping {db}")


async def records_of(store: DocumentStore, doc_id: str) -> list[str]:
    page = await store.all_docs()
    return [row["id"] for row in page.rows if row["id"].startswith(f"{RESOLUTION_PREFIX}{doc_id}:")]


async def test_two_devices_editing_different_fields_keep_both(tmp_path: Path) -> None:
    async with (
        serving(tmp_path / "server", resolve=True) as running,
        devices(tmp_path) as (laptop, desktop),
        remote(running.url, "notes") as server,
    ):
        await conflict_by_replication(
            server,
            laptop,
            desktop,
            {"type": "settings", "theme": "dark", "layout": "wide"},
            ({"theme": "light"}, {"layout": "narrow"}),
        )
        doc = await resolved(server)
        assert user_fields(doc) == {"type": "settings", "theme": "light", "layout": "narrow"}
        # One merge, one record: the resolver's own write did not set off another.
        await quiet(running.app_resolver, "notes")
        assert await records_of(server, "doc") == [f"{RESOLUTION_PREFIX}doc:{doc['_rev']}"]


async def counted_conflict(
    server: DocumentStore, laptop: SqliteStore, desktop: SqliteStore
) -> None:
    """A usage counter at 3, then +5 on the laptop and +7 on the desktop, offline."""
    first = {"type": "usage", "tokens": crdt.increment({}, "laptop", 3)}
    await laptop.put({"_id": "doc", **stamp(None, first, Hlc(1000, 0, "laptop"))})
    await replicate(laptop, server)
    await replicate(server, desktop)
    await count_offline(server, (laptop, 5, 2000), (desktop, 7, 1500))


async def count_offline(server: DocumentStore, *edits: tuple[SqliteStore, int, int]) -> None:
    """Each device adds to the counter (``(device, amount, wall ms)``), then all push."""
    for device, amount, now in edits:
        tokens = crdt.increment((await device.get("doc"))["tokens"], device.name, amount)
        await edit(device, "doc", {"tokens": tokens}, now, device.name)
    for device, _, _ in edits:
        await replicate(device, server)


async def put_json(url: str, body: dict[str, Any]) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.put(url, json=body) as answer:
        return answer.status, await answer.json()


async def test_a_design_document_policy_adds_up_counters_over_the_servers_own(
    tmp_path: Path,
) -> None:
    """``_design/merge`` wins over ``[merge] policies`` (here: plain last writer wins, which
    would keep one device's count only)."""
    async with (
        serving(tmp_path / "server", resolve=True, merge_policies=PLAIN_LWW) as running,
        devices(tmp_path) as (laptop, desktop),
        remote(running.url, "usage") as server,
    ):
        status, _ = await put_json(
            f"{running.url}/usage/_design/merge", {"merge_policies": COUNTERS.to_json()}
        )
        assert status == 201
        await counted_conflict(server, laptop, desktop)
        doc = await resolved(server)
        assert crdt.counter_value(doc["tokens"]) == 3 + 5 + 7


async def test_a_changed_design_document_applies_to_the_next_conflict(tmp_path: Path) -> None:
    async with (
        serving(tmp_path / "server", resolve=True) as running,
        devices(tmp_path) as (laptop, desktop),
        remote(running.url, "usage") as server,
    ):
        ddoc_url = f"{running.url}/usage/_design/merge"
        status, answer = await put_json(ddoc_url, {"merge_policies": COUNTERS.to_json()})
        assert status == 201
        await counted_conflict(server, laptop, desktop)
        assert crdt.counter_value((await resolved(server))["tokens"]) == 15
        changed = {"_rev": answer["rev"], "merge_policies": PLAIN_LWW.to_json()}
        assert (await put_json(ddoc_url, changed))[0] == 201
        for device in (laptop, desktop):
            await replicate(server, device)
        # +1 and +2 offline; without the counter the latest edit (the laptop's) wins whole.
        await count_offline(server, (laptop, 1, 9000), (desktop, 2, 8000))
        assert crdt.counter_value((await resolved(server))["tokens"]) == 15 + 1


async def test_the_server_config_policies_file_is_used_without_a_design_document(
    tmp_path: Path,
) -> None:
    policies_file = tmp_path / "policies.json"
    policies_file.write_bytes(json.dumps(COUNTERS.to_json()).encode())
    ini = tmp_path / "local.ini"
    ini.write_text(f"[merge]\nresolve = true\npolicies = {policies_file}\n")
    loaded = load_settings(config_file=ini, environ={})
    assert loaded.resolve and loaded.merge_policies == COUNTERS
    async with (
        serving(
            tmp_path / "server", resolve=loaded.resolve, merge_policies=loaded.merge_policies
        ) as running,
        devices(tmp_path) as (laptop, desktop),
        remote(running.url, "usage") as server,
    ):
        await counted_conflict(server, laptop, desktop)
        assert crdt.counter_value((await resolved(server))["tokens"]) == 3 + 5 + 7


async def test_resolving_is_off_by_default_and_the_conflict_stays(tmp_path: Path) -> None:
    assert Settings().resolve is False and load_settings(environ={}).resolve is False
    async with (
        serving(tmp_path / "server") as running,
        devices(tmp_path) as (laptop, desktop),
        remote(running.url, "notes") as server,
    ):
        assert running.app_resolver is None
        await conflict_by_replication(
            server, laptop, desktop, {"theme": "dark"}, ({"theme": "light"}, {"layout": "x"})
        )
        assert len((await server.get("doc", options=CONFLICTS))["_conflicts"]) == 1


async def test_a_start_resolves_what_came_in_while_resolving_was_off(tmp_path: Path) -> None:
    data = tmp_path / "server"
    async with (
        serving(data) as running,
        devices(tmp_path) as (laptop, desktop),
        remote(running.url, "notes") as server,
    ):
        await conflict_by_replication(
            server, laptop, desktop, {"theme": "dark"}, ({"theme": "light"}, {"layout": "x"})
        )
    async with serving(data, resolve=True) as running, remote(running.url, "notes") as server:
        assert user_fields(await resolved(server)) == {"theme": "light", "layout": "x"}
        await quiet(running.app_resolver, "notes")
        swept_to = (await server.info()).update_seq
    # The stop wrote the checkpoint the throttle held back: a next start reads on from there.
    store = await SqliteStore.open(data / "notes.sqlite", name="notes")
    try:
        assert (await store.get(f"_local/{CHECKPOINT_ID}"))["last_seq"] == swept_to
    finally:
        await store.close()


async def test_a_start_sweeps_each_database_from_its_checkpoint(tmp_path: Path) -> None:
    """A checkpoint says every conflict before it was resolved: a start reads on from there
    (here one is planted past an unresolved conflict, which therefore stays), and a database
    without one is swept from 0."""
    data = tmp_path / "server"
    databases = SqliteDatabases(data)
    for name in ("planted", "fresh"):
        store = await databases.create(name)
        await make_conflict(store, "doc")
        if name == "planted":
            seq = (await store.info()).update_seq
            await store.put({"_id": f"_local/{CHECKPOINT_ID}", "last_seq": seq})
    await databases.close()
    async with serving(data, resolve=True) as running:
        async with remote(running.url, "fresh") as fresh:
            await resolved(fresh)
        await quiet(running.app_resolver, "planted")
        async with remote(running.url, "planted") as planted:
            assert "_conflicts" in await planted.get("doc", options=CONFLICTS)


BAD_POLICIES = [
    {"default": {"strategy": "newest"}},
    {"types": {"usage": {"crdts": {"tokens": "counter"}}}},
    {"types": {"usage": {"crdts": {"/tokens": ["counter"]}}}},
    "lww",
]


@pytest.mark.parametrize("bad", BAD_POLICIES)
async def test_a_bad_merge_policies_is_refused_as_couchdb_refuses_a_bad_design_doc(
    tmp_path: Path, bad: object
) -> None:
    """400 ``invalid_design_doc`` (CouchDB 3.5's answer to ``{"views": "x"}``), and that row in
    a bulk or replicated write; refused whether or not the resolver runs (here it does not)."""
    async with serving(tmp_path / "server") as running, remote(running.url, "notes"):
        db = f"{running.url}/notes"
        status, answer = await put_json(f"{db}/_design/merge", {"merge_policies": bad})
        assert status == 400 and answer["error"] == "invalid_design_doc", answer
        assert answer["reason"].startswith("`merge_policies`: ")
        for new_edits in (True, False):
            docs = [{"_id": "_design/merge", "merge_policies": bad}, {"_id": "other"}]
            if not new_edits:
                docs = [{**doc, "_rev": "1-" + "a" * 32} for doc in docs]
            async with (
                aiohttp.ClientSession() as http,
                http.post(f"{db}/_bulk_docs", json={"docs": docs, "new_edits": new_edits}) as r,
            ):
                rows = await r.json()
            assert r.status == 201
            refused = [row for row in rows if row.get("error") == "invalid_design_doc"]
            assert [row["id"] for row in refused] == ["_design/merge"], rows
        good = {"merge_policies": COUNTERS.to_json()}
        assert (await put_json(f"{db}/_design/merge", good))[0] == 201


async def test_a_bad_merge_policies_that_got_in_is_logged_and_the_servers_are_used(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A database file written by a server that did not check (here: straight into SQLite)."""
    data = tmp_path / "server"
    databases = SqliteDatabases(data)
    store = await databases.create("notes")
    bad = {"_id": "_design/merge", "merge_policies": {"default": {"strategy": "newest"}}}
    await store.bulk_docs([{**bad, "_rev": "1-" + "b" * 32}], new_edits=False)
    await make_conflict(store, "doc")
    await databases.close()
    caplog.set_level(logging.WARNING, logger="brainlink_docs.merge.background")
    async with serving(data, resolve=True) as running, remote(running.url, "notes") as server:
        assert user_fields(await resolved(server)) == {"a": 2, "b": 3}  # field by field
    assert any(
        "_design/merge ignored" in r.getMessage() and "newest" in r.getMessage()
        for r in caplog.records
    ), caplog.text


async def test_a_shutdown_with_work_queued_leaves_no_task_behind(tmp_path: Path) -> None:
    data = tmp_path / "server"
    databases = SqliteDatabases(data)
    names = [f"db{i:02d}" for i in range(30)]
    for name in names:
        await make_conflict(await databases.create(name), "doc")
    await databases.close()
    runner, _ = await start(server_settings(data, resolve=True))
    resolver = runner.app[RESOLVER]
    try:
        await asyncio.sleep(0)  # the task's first step marks every database
        assert resolver.pending, "the start sweep finished before the shutdown: nothing queued"
    finally:
        await runner.cleanup()
    assert resolver.task is not None and resolver.task.done()
    left = [t for t in asyncio.all_tasks() if t.get_name() == "merge-resolver"]
    assert left == []
    # Every database closed cleanly: each opens again, resolved or still conflicted.
    reopened = SqliteDatabases(data)
    try:
        for name in names:
            async with reopened.use(name) as store:
                assert (await store.get("doc"))["_id"] == "doc"
    finally:
        await reopened.close()


def test_a_bad_policies_file_stops_the_server_at_start(tmp_path: Path) -> None:
    bad = tmp_path / "policies.json"
    bad.write_text('{"default": {"strategy": "newest"}}')
    with pytest.raises(ValueError, match=r"\[merge\] policies: .*policies.json: unknown merge"):
        load_settings(environ={"BRAINLINK_MERGE_POLICIES": str(bad)})
    with pytest.raises(ValueError, match="No such file"):
        load_settings(environ={"BRAINLINK_MERGE_POLICIES": str(tmp_path / "missing.json")})
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRAINLINK_")}
    serve = [sys.executable, "-m", "brainlink_docs.cli", "serve", "--data-dir", str(tmp_path)]
    done = subprocess.run(
        [*serve, "--resolve", "--merge-policies", str(bad)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"brainlink-docs serve: [merge] policies: {bad}: unknown merge strategy 'newest': "
        "fields or lww"
    ]


def test_resolve_comes_from_the_ini_the_environment_and_the_flag(tmp_path: Path) -> None:
    ini = tmp_path / "local.ini"
    ini.write_text("[merge]\nresolve = true\n")
    assert load_settings(config_file=ini, environ={}).resolve is True
    assert load_settings(config_file=ini, environ={"BRAINLINK_RESOLVE": "false"}).resolve is False
    on = load_settings(environ={"BRAINLINK_RESOLVE": "false"}, flags={"resolve": "true"})
    assert on.resolve is True


async def test_a_conflict_the_servers_own_replication_brings_is_resolved(tmp_path: Path) -> None:
    """``POST /_replicate`` between two of its databases: the job writes through the server's
    HTTP API, as any replicator does."""
    async with (
        serving(tmp_path / "server", resolve=True) as running,
        devices(tmp_path) as (laptop, desktop),
        remote(running.url, "left") as left,
        remote(running.url, "right") as right,
    ):
        first = {"type": "settings", "theme": "dark", "layout": "wide"}
        await laptop.put({"_id": "doc", **stamp(None, first, Hlc(1000, 0, "laptop"))})
        await replicate(laptop, desktop)
        await edit(laptop, "doc", {"theme": "light"}, 2000, "laptop")
        await edit(desktop, "doc", {"layout": "narrow"}, 1500, "desktop")
        await replicate(laptop, left)
        await replicate(desktop, right)
        job = {"source": "left", "target": "right"}
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{running.url}/_replicate", json=job) as answer,
        ):
            assert answer.status == 200, await answer.text()
        doc = await resolved(right)
        assert user_fields(doc) == {"type": "settings", "theme": "light", "layout": "narrow"}
