"""PouchDB in headless Chromium, on another origin, syncs a user's database with our server.

The page (``page.html``: PouchDB's browser build, the IndexedDB adapter) signs a user up through
``_users``, logs in through ``_session`` and live-syncs the user's ``userdb-<hex>`` database
through CORS with the session cookie; the test writes on the server side as server admin. Docs
travel both ways, the same document is edited on both sides while the sync is paused, branches
are written with ``new_edits=false`` on both sides, documents and conflict branches are deleted,
and a binary attachment is checked byte for byte on both sides.

Convergence is polled, not slept for: both sides are dumped (the winner from ``_changes``,
``_conflicts``, every leaf of ``open_revs=all`` with its ``_revisions`` path and attachment bytes,
``_deleted_conflicts`` derived from the leaves and, on the server, checked against the server's
own answer) until they are identical and hold what the step wrote. A second page logs in with an
HS256 JWT instead of the cookie and replicates; a second user's page gets 401/403 and none of the
first user's data.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

from .conftest import BrowserDriver, Page, PageServer, Server, make_jwt, userdb

pytestmark = pytest.mark.browser

# How long live sync may take to bring both sides level after a step before the test fails.
CONVERGE_SECONDS = 20.0
# Between two looks at both sides while waiting for convergence.
POLL_SECONDS = 0.2
# A small binary attachment: several 3-byte base64 groups plus a remainder, no text encoding.
ATTACHMENT_SIZE = 2050
JSON_HEADERS = {"Accept": "application/json"}

Doc = dict[str, Any]
State = dict[str, dict[str, Any]]
Check = Callable[[State], Iterable[str]]


# ---------------------------------------------------------------------------------------------
# Accounts, through the page


async def sign_up(page: Page, name: str, password: str) -> None:
    """Anonymous signup: the page creates the user's own ``_users`` document."""
    doc = {"name": name, "password": password, "roles": [], "type": "user"}
    r = await page.request("PUT", f"/_users/org.couchdb.user:{quote(name)}", body=doc)
    assert r["status"] == 201, r
    assert json.loads(r["text"])["ok"] is True, r


async def log_in(page: Page, name: str, password: str) -> None:
    """``POST /_session``; the cookie it sets is kept by the page's browser context."""
    r = await page.request("POST", "/_session", body={"name": name, "password": password})
    assert r["status"] == 200, r
    assert json.loads(r["text"]) == {"ok": True, "name": name, "roles": []}, r
    session = await page.request("GET", "/_session")
    assert session["status"] == 200, session
    ctx = json.loads(session["text"])
    assert ctx["userCtx"]["name"] == name, ctx
    assert ctx["info"]["authenticated"] == "cookie", ctx
    # The session cookie is HttpOnly: the page (same host, another port) cannot read it.
    assert "AuthSession" not in await page("documentCookie")


async def wait_for_db(admin: aiohttp.ClientSession, db: str) -> None:
    """The per-user database appears once the user exists (CouchDB creates it asynchronously)."""
    limit = time.monotonic() + CONVERGE_SECONDS
    while True:
        async with admin.get(f"/{db}") as r:
            if r.status == 200:
                return
            assert r.status == 404, await r.text()
        assert time.monotonic() < limit, f"{db} was not created for its user"
        await asyncio.sleep(POLL_SECONDS)


# ---------------------------------------------------------------------------------------------
# The server's side, as server admin over HTTP


async def server_put(admin: aiohttp.ClientSession, db: str, doc: Doc) -> str:
    async with admin.put(f"/{db}/{quote(doc['_id'], safe='')}", json=doc) as r:
        assert r.status == 201, await r.text()
        return (await r.json())["rev"]


async def server_get(admin: aiohttp.ClientSession, db: str, doc_id: str, **params: str) -> Doc:
    async with admin.get(
        f"/{db}/{quote(doc_id, safe='')}", params=params, headers=JSON_HEADERS
    ) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def server_get_live(admin: aiohttp.ClientSession, db: str, doc_id: str) -> Doc | None:
    """The winner with its conflicts; None when the live sync deleted it since ``_changes``
    said it was live (404 ``deleted``: the dump is taken again)."""
    params = {"conflicts": "true", "deleted_conflicts": "true"}
    async with admin.get(
        f"/{db}/{quote(doc_id, safe='')}", params=params, headers=JSON_HEADERS
    ) as r:
        if r.status == 404 and (await r.json()) == {"error": "not_found", "reason": "deleted"}:
            return None
        assert r.status == 200, await r.text()
        return await r.json()


async def server_delete(admin: aiohttp.ClientSession, db: str, doc_id: str, rev: str) -> None:
    async with admin.delete(f"/{db}/{quote(doc_id, safe='')}", params={"rev": rev}) as r:
        assert r.status == 200, await r.text()


async def server_bulk(
    admin: aiohttp.ClientSession, db: str, docs: list[Doc], *, new_edits: bool = True
) -> list[Doc]:
    async with admin.post(f"/{db}/_bulk_docs", json={"docs": docs, "new_edits": new_edits}) as r:
        assert r.status == 201, await r.text()
        rows: list[Doc] = await r.json()
    assert not [row for row in rows if "error" in row], rows
    return rows


async def server_attach(
    admin: aiohttp.ClientSession, db: str, doc_id: str, rev: str, name: str, data: bytes
) -> str:
    headers = {"Content-Type": "application/octet-stream"}
    path = f"/{db}/{quote(doc_id, safe='')}/{quote(name)}"
    async with admin.put(path, params={"rev": rev}, data=data, headers=headers) as r:
        assert r.status == 201, await r.text()
        return (await r.json())["rev"]


async def server_attachment(admin: aiohttp.ClientSession, db: str, doc_id: str, name: str) -> bytes:
    async with admin.get(f"/{db}/{quote(doc_id, safe='')}/{quote(name)}") as r:
        assert r.status == 200, await r.text()
        return await r.read()


async def server_dump(admin: aiohttp.ClientSession, db: str) -> State | None:
    """The page's ``dump`` over HTTP: the same shape, read the way a CouchDB client reads it;
    None when a document changed between the reads (the live sync goes on while we look)."""
    async with admin.get(f"/{db}/_changes", params={"style": "main_only"}) as r:
        assert r.status == 200, await r.text()
        changes = await r.json()
    raw: State = {}
    for row in changes["results"]:
        doc_id, winner, deleted = row["id"], row["changes"][0]["rev"], row.get("deleted", False)
        opened = await server_get(
            admin, db, doc_id, open_revs="all", revs="true", attachments="true"
        )
        leaves = {
            (e["ok"]["_rev"] if "ok" in e else e["missing"]): e.get("ok", {"missing": True})
            for e in opened
        }
        entry: dict[str, Any] = {"winner": winner, "deleted": deleted, "leaves": leaves}
        entry["conflicts"] = None
        if not deleted:
            doc = await server_get_live(admin, db, doc_id)
            if doc is None or doc["_rev"] != winner:
                return None
            entry["conflicts"] = doc.get("_conflicts", [])
            entry["reported_deleted_conflicts"] = sorted(doc.get("_deleted_conflicts", []))
        raw[doc_id] = entry
    state = normalize(raw)
    for doc_id, entry in raw.items():
        if "reported_deleted_conflicts" in entry:
            derived = state[doc_id]["deleted_conflicts"]
            assert entry["reported_deleted_conflicts"] == derived, (doc_id, entry, derived)
    return state


# ---------------------------------------------------------------------------------------------
# Comparing both sides


def attachment_state(att: Doc) -> Doc:
    data = base64.b64decode(att["data"])
    md5 = "md5-" + base64.b64encode(hashlib.md5(data).digest()).decode()
    return {
        "content_type": att["content_type"],
        "digest": att["digest"],
        "digest_is_md5_of_bytes": att["digest"] == md5,
        "revpos": att["revpos"],
        "length": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def leaf_state(leaf: Doc) -> Doc:
    state = dict(leaf)
    if "_attachments" in leaf:
        atts = leaf["_attachments"]
        state["_attachments"] = {name: attachment_state(atts[name]) for name in sorted(atts)}
    return state


def normalize(raw: State) -> State:
    """A dump of either side, made comparable: attachment data hashed, deleted leaves listed."""
    state: State = {}
    for doc_id, entry in raw.items():
        leaves = entry["leaves"]
        state[doc_id] = {
            "winner": entry["winner"],
            "deleted": entry["deleted"],
            "conflicts": entry["conflicts"],
            "deleted_conflicts": sorted(
                rev
                for rev, leaf in leaves.items()
                if leaf.get("_deleted") and rev != entry["winner"]
            ),
            "leaves": {rev: leaf_state(leaves[rev]) for rev in sorted(leaves)},
        }
    return state


def differences(browser: State, server: State) -> list[str]:
    out = []
    for doc_id in sorted(browser.keys() | server.keys()):
        mine, theirs = browser.get(doc_id), server.get(doc_id)
        if mine != theirs:
            out.append(
                f"{doc_id}:\n  browser {json.dumps(mine, sort_keys=True)[:1500]}"
                f"\n  server  {json.dumps(theirs, sort_keys=True)[:1500]}"
            )
    return out


@dataclass(frozen=True)
class Synced:
    """A page's database and its remote on our server: both dumped and compared."""

    page: Page
    name: str
    admin: aiohttp.ClientSession
    db: str

    async def converge(self, check: Check) -> State:
        """Poll until both sides are identical and ``check`` finds nothing wrong; the state."""
        limit = time.monotonic() + CONVERGE_SECONDS
        while True:
            raw = await self.page("dump", self.name, "local")
            server = await server_dump(self.admin, self.db)
            if raw is None or server is None:
                problems = ["a document changed while it was read"]
            else:
                problems = differences(normalize(raw), server) or list(check(server))
                if not problems:
                    return server
            if time.monotonic() > limit:
                sync = await self.page("syncState", self.name)
                raise AssertionError(
                    f"not converged in {CONVERGE_SECONDS}s:\n"
                    + "\n".join(problems[:8])
                    + f"\nlive sync: {json.dumps(sync)}"
                    + f"\n--- driver stderr (tail) ---\n{self.page.driver.stderr_tail()}"
                )
            await asyncio.sleep(POLL_SECONDS)

    async def stop(self) -> None:
        """Stop the live sync; it must have seen no error, denial or failed write."""
        state = await self.page("stopSync", self.name)
        assert state["errors"] == [], state
        assert state["events"]["denied"] == 0 and state["events"]["error"] == 0, state


def expect(state: State, doc_id: str, **want: Any) -> Iterable[str]:
    """What a check reports when ``doc_id`` is missing or differs from ``want``."""
    entry = state.get(doc_id)
    if entry is None:
        yield f"{doc_id}: not there yet"
        return
    for key, value in want.items():
        if entry[key] != value:
            yield f"{doc_id}: {key} is {entry[key]!r}, want {value!r}"


def winning_leaf(state: State, doc_id: str) -> Doc:
    entry = state[doc_id]
    leaf: Doc = entry["leaves"][entry["winner"]]
    return leaf


def branch(doc_id: str, *ids: str, **body: Any) -> Doc:
    """A leaf for a ``new_edits=false`` write: its path, newest revision id first."""
    start = len(ids)
    return {
        "_id": doc_id,
        "_rev": f"{start}-{ids[0]}",
        "_revisions": {"start": start, "ids": list(ids)},
        **body,
    }


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# ---------------------------------------------------------------------------------------------
# The scenario


async def live_sync_scenario(synced: Synced) -> None:
    """Live sync, both ways, through each kind of change; every step ends with both sides equal."""
    page, name, admin, db = synced.page, synced.name, synced.admin, synced.db
    rng = random.Random(9)
    photo, scan = rng.randbytes(ATTACHMENT_SIZE), rng.randbytes(ATTACHMENT_SIZE)
    await page("startSync", name)

    # 1. Documents and a binary attachment written on each side reach the other.
    await page(
        "bulkDocs",
        name,
        "local",
        [
            {"_id": "note-b1", "text": "written in the browser", "n": 1},
            {"_id": "note-b2", "text": "also in the browser", "tags": ["x", "ü"]},
            {"_id": "shared", "text": "first version"},
        ],
    )
    row = await page("put", name, "local", {"_id": "photo", "kind": "image"})
    await page(
        "putAttachment", name, "local", "photo", row["rev"], "photo.bin", b64(photo), "image/png"
    )
    await server_put(admin, db, {"_id": "note-s1", "text": "written on the server"})
    await server_put(admin, db, {"_id": "note-s2", "nested": {"a": [1, 2, None]}})
    rev = await server_put(admin, db, {"_id": "scan", "kind": "scan"})
    await server_attach(admin, db, "scan", rev, "scan.bin", scan)

    def all_there(state: State) -> Iterable[str]:
        for doc_id in ("note-b1", "note-b2", "shared", "note-s1", "note-s2"):
            yield from expect(state, doc_id, deleted=False, conflicts=[])
        for doc_id, att in (("photo", "photo.bin"), ("scan", "scan.bin")):
            yield from expect(state, doc_id, deleted=False)
            if doc_id in state and att not in winning_leaf(state, doc_id).get("_attachments", {}):
                yield f"{doc_id}: no {att} yet"

    state = await synced.converge(all_there)
    assert await server_attachment(admin, db, "photo", "photo.bin") == photo
    got = await page("getAttachment", name, "local", "scan", "scan.bin")
    assert base64.b64decode(got["data"]) == scan
    for doc_id in ("photo", "scan"):
        (att,) = winning_leaf(state, doc_id)["_attachments"].values()
        assert att["digest_is_md5_of_bytes"] and att["length"] == ATTACHMENT_SIZE, att
    # The page can read an exposed ETag on a cross-origin response.
    r = await page.request("GET", f"/{db}/note-s1")
    assert r["status"] == 200 and r["headers"].get("etag"), r

    # 2. The same document edited on both sides while the sync is paused, and deletions.
    await synced.stop()
    shared = await page("get", name, "local", "shared")
    await page("put", name, "local", {**shared, "text": "edited in the browser"})
    server_shared = await server_get(admin, db, "shared")
    assert server_shared["_rev"] == shared["_rev"]
    await server_put(admin, db, {**server_shared, "text": "edited on the server"})
    b1 = await page("get", name, "local", "note-b1")
    await page("remove", name, "local", "note-b1", b1["_rev"])
    s1 = await server_get(admin, db, "note-s1")
    await server_delete(admin, db, "note-s1", s1["_rev"])
    await page("startSync", name)

    def conflicted(state: State) -> Iterable[str]:
        yield from expect(state, "note-b1", deleted=True)
        yield from expect(state, "note-s1", deleted=True)
        if "shared" in state and len(state["shared"]["conflicts"] or []) != 1:
            yield f"shared: conflicts {state['shared']['conflicts']}"

    state = await synced.converge(conflicted)
    assert len(state["shared"]["leaves"]) == 2
    assert {leaf["text"] for leaf in state["shared"]["leaves"].values()} == {
        "edited in the browser",
        "edited on the server",
    }

    # 3. Branches written with new_edits=false on both sides while the sync runs: two live
    # leaves and a deleted one under one root.
    a, b, c, d, e = (ch * 32 for ch in "abcde")
    await page(
        "bulkDocs",
        name,
        "local",
        [branch("branchy", b, a, by="browser")],
        False,
    )
    await server_bulk(
        admin,
        db,
        [
            branch("branchy", e, a, by="server"),
            branch("branchy", d, c, a, _deleted=True),
        ],
        new_edits=False,
    )

    def branched(state: State) -> Iterable[str]:
        yield from expect(
            state,
            "branchy",
            winner=f"2-{e}",
            conflicts=[f"2-{b}"],
            deleted_conflicts=[f"3-{d}"],
        )

    await synced.converge(branched)

    # 4. Conflicts resolved by deleting the losing leaf: "shared" in the browser, "branchy" on
    # the server. Both losers become deleted conflicts on both sides.
    shared = await page("get", name, "local", "shared", {"conflicts": True})
    (loser,) = shared["_conflicts"]
    await page("remove", name, "local", "shared", loser)
    await server_delete(admin, db, "branchy", f"2-{b}")

    def resolved(state: State) -> Iterable[str]:
        yield from expect(state, "shared", winner=shared["_rev"], conflicts=[])
        if "shared" in state and len(state["shared"]["deleted_conflicts"]) != 1:
            yield f"shared: deleted_conflicts {state['shared']['deleted_conflicts']}"
        yield from expect(state, "branchy", winner=f"2-{e}", conflicts=[])
        if "branchy" in state and len(state["branchy"]["deleted_conflicts"]) != 2:
            yield f"branchy: deleted_conflicts {state['branchy']['deleted_conflicts']}"

    state = await synced.converge(resolved)
    await synced.stop()
    assert set(state) == {
        "note-b1",
        "note-b2",
        "note-s1",
        "note-s2",
        "shared",
        "photo",
        "scan",
        "branchy",
    }
    assert await server_attachment(admin, db, "photo", "photo.bin") == photo


# ---------------------------------------------------------------------------------------------
# The tests


async def test_cors_preflight_allows_the_page_origin_with_credentials(
    couch: Server, page_server: PageServer
) -> None:
    headers = {
        "Origin": page_server.origin,
        "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "content-type, authorization",
    }
    async with aiohttp.ClientSession() as session:
        async with session.options(f"{couch.url}/userdb-00/doc", headers=headers) as r:
            assert r.status in (200, 204), await r.text()
            assert r.headers.get("Access-Control-Allow-Origin") == page_server.origin
            assert r.headers.get("Access-Control-Allow-Credentials") == "true"
            assert "PUT" in r.headers.get("Access-Control-Allow-Methods", "")
            allowed = r.headers.get("Access-Control-Allow-Headers", "").lower()
            assert "content-type" in allowed and "authorization" in allowed
        elsewhere = {**headers, "Origin": "http://127.0.0.1:1"}
        async with session.options(f"{couch.url}/userdb-00/doc", headers=elsewhere) as r:
            assert "Access-Control-Allow-Origin" not in r.headers


async def test_browser_live_syncs_its_userdb_with_conflicts_deletions_and_an_attachment(
    browser: BrowserDriver, page_server: PageServer, couch: Server, admin: aiohttp.ClientSession
) -> None:
    page = await browser.open("alice", page_server.url)
    await page("configure", couch.url)
    await sign_up(page, "alice", "alice-pass-1")
    await log_in(page, "alice", "alice-pass-1")
    db = userdb("alice")
    await wait_for_db(admin, db)
    assert await page("openDb", "alice", f"/{db}", {"kind": "cookie"}) == {
        "local": "indexeddb",
        "remote": "http",
    }
    await live_sync_scenario(Synced(page, "alice", admin, db))


async def test_browser_with_a_jwt_instead_of_a_cookie_replicates_its_userdb(
    browser: BrowserDriver, page_server: PageServer, couch: Server, admin: aiohttp.ClientSession
) -> None:
    scan = random.Random(10).randbytes(ATTACHMENT_SIZE)
    page = await browser.open("carol", page_server.url)
    await page("configure", couch.url)
    await sign_up(page, "carol", "carol-pass-1")
    db = userdb("carol")
    await wait_for_db(admin, db)
    await server_put(admin, db, {"_id": "welcome", "text": "hello carol"})
    rev = await server_put(admin, db, {"_id": "scan"})
    await server_attach(admin, db, "scan", rev, "scan.bin", scan)
    a, b, c = (ch * 32 for ch in "abc")
    await server_bulk(
        admin,
        db,
        [
            branch("forked", b, a),
            branch("forked", c, a),
        ],
        new_edits=False,
    )

    # The token alone (no cookie: credentials "omit") is who the page is.
    token = make_jwt("carol")
    bearer = {"Authorization": f"Bearer {token}"}
    r = await page.request("GET", "/_session", headers=bearer, credentials="omit")
    assert r["status"] == 200, r
    ctx = json.loads(r["text"])
    assert ctx["userCtx"]["name"] == "carol" and ctx["info"]["authenticated"] == "jwt", ctx
    # Refused as CouchDB 3.5 refuses them: a wrong key is 400 "Bad HMAC", an expired token 401.
    refusals = (
        (make_jwt("carol", key=b"not the server's key"), 400),
        (make_jwt("carol", lifetime=-60), 401),
    )
    for bad, status in refusals:
        r = await page.request(
            "GET", f"/{db}", headers={"Authorization": f"Bearer {bad}"}, credentials="omit"
        )
        assert r["status"] == status, r
        assert "welcome" not in r["text"], r

    await page("openDb", "carol", f"/{db}", {"kind": "authorization", "value": f"Bearer {token}"})
    synced = Synced(page, "carol", admin, db)
    await page("startSync", "carol")
    row = await page("put", "carol", "local", {"_id": "from-jwt-page"})
    await page("put", "carol", "local", {"_id": "from-jwt-page", "_rev": row["rev"], "n": 2})

    def pulled_and_pushed(state: State) -> Iterable[str]:
        yield from expect(state, "welcome", deleted=False)
        yield from expect(state, "scan", deleted=False)
        yield from expect(state, "forked", winner=f"2-{c}", conflicts=[f"2-{b}"])
        yield from expect(state, "from-jwt-page", deleted=False)
        if "from-jwt-page" in state and not state["from-jwt-page"]["winner"].startswith("2-"):
            yield "from-jwt-page: the second edit has not arrived"

    await synced.converge(pulled_and_pushed)
    await synced.stop()
    got = await page("getAttachment", "carol", "local", "scan", "scan.bin")
    assert base64.b64decode(got["data"]) == scan


async def test_second_users_browser_cannot_read_the_first_users_database(
    browser: BrowserDriver, page_server: PageServer, couch: Server, admin: aiohttp.ClientSession
) -> None:
    alice = await browser.open("alice", page_server.url)
    await alice("configure", couch.url)
    await sign_up(alice, "alice", "alice-pass-1")
    await log_in(alice, "alice", "alice-pass-1")
    db = userdb("alice")
    await wait_for_db(admin, db)
    await alice("openDb", "alice", f"/{db}", {"kind": "cookie"})
    secrets = {"diary-entry-7f3a": "SECRET-dear-diary", "bank-pin-91c2": "SECRET-4711"}
    await alice("bulkDocs", "alice", "local", [{"_id": k, "text": v} for k, v in secrets.items()])
    pushed = await alice("replicate", "alice", "push")
    assert pushed.get("ok") is True and pushed["docs_written"] == 2, pushed
    revs = [(await server_get(admin, db, doc_id))["_rev"].split("-", 1)[1] for doc_id in secrets]
    leaked = [*secrets, *secrets.values(), *revs]

    bob = await browser.open("bob", page_server.url)
    await bob("configure", couch.url)
    await sign_up(bob, "bob", "bob-pass-1")
    await log_in(bob, "bob", "bob-pass-1")
    await wait_for_db(admin, userdb("bob"))
    r = await bob.request("GET", f"/{userdb('bob')}")
    assert r["status"] == 200, r  # bob's session works for bob's own database

    attempts: list[tuple[str, str, Any]] = [
        ("GET", f"/{db}", None),
        ("GET", f"/{db}/diary-entry-7f3a", None),
        ("GET", f"/{db}/diary-entry-7f3a?open_revs=all&revs=true", None),
        ("GET", f"/{db}/_all_docs?include_docs=true", None),
        ("POST", f"/{db}/_all_docs", {"keys": list(secrets)}),
        ("GET", f"/{db}/_changes?include_docs=true", None),
        ("GET", f"/{db}/_changes?feed=longpoll&since=0", None),
        ("POST", f"/{db}/_bulk_get", {"docs": [{"id": k} for k in secrets]}),
        ("POST", f"/{db}/_revs_diff", {"diary-entry-7f3a": ["1-" + "0" * 32]}),
        ("GET", f"/{db}/_security", None),
        ("PUT", f"/{db}/bob-was-here", {"text": "hi"}),
    ]
    for credentials, who in (("include", "bob"), ("omit", "anonymous")):
        for method, path, body in attempts:
            kw: dict[str, Any] = {"credentials": credentials}
            if body is not None:
                kw["body"] = body
            r = await bob.request(method, path, **kw)
            assert r["status"] in (401, 403), (who, method, path, r)
            assert "error" in json.loads(r["text"]), (who, method, path, r)
            for secret in leaked:
                assert secret not in r["text"], (who, method, path, secret, r)

    # PouchDB in bob's page is refused too, and gets nothing.
    await bob("openDb", "stolen", f"/{db}", {"kind": "cookie"})
    pulled = await bob("replicate", "stolen", "pull")
    assert pulled.get("status") in (401, 403), pulled
    assert await bob("dump", "stolen", "local") == {}
    refused = await bob("get", "stolen", "remote", "diary-entry-7f3a")
    assert refused["status"] in (401, 403), refused
    async with admin.get(f"/{db}/bob-was-here") as r:
        assert r.status == 404
