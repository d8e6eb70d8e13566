"""Who may write and read ``_replicator`` documents, ours against the real CouchDB 3.5.

The same requests by a document's owner, another user and the server admin go to both servers
(``_replicator`` opened to users, as an admin must do on CouchDB, whose default is admin-only),
and must get the same status and body: owners stamped, other owners refused, credentials hidden
from other users, listings refused, invalid replications refused at write time. Only the
revision of a document read by another user differs (CouchDB recomputes it for the stripped
copy), so revisions are left out of the comparison.
"""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp
from couch import CouchServer
from interop.couch_api import request_json

from .conftest import Server
from .replication_helpers import http

__all__ = ["http"]  # the fixture, used by name

PASSWORD = "pw-Secret-1"
# A port nothing listens on: the jobs these documents start crash and wait, touching nothing.
NOWHERE = "http://127.0.0.1:9"


def _without_revs(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_revs(v) for k, v in value.items() if k not in ("_rev", "rev")}
    if isinstance(value, list):
        return [_without_revs(v) for v in value]
    return value


async def _ask(
    http: aiohttp.ClientSession, method: str, url: str, auth: tuple[str, str], body: Any = None
) -> tuple[int, Any]:
    headers = {"Accept": "application/json", "Authorization": aiohttp.encode_basic_auth(*auth)}
    async with http.request(method, url, json=body, headers=headers) as response:
        return response.status, _without_revs(await response.json())


async def _opened_replicator(http: aiohttp.ClientSession, root: str) -> Any:
    """Create ``_replicator`` if needed and open it to users; answers its old ``_security``."""
    await request_json(http, "PUT", f"{root}/_replicator", expect=(201, 412))
    old = await request_json(http, "GET", f"{root}/_replicator/_security")
    await request_json(http, "PUT", f"{root}/_replicator/_security", json={})
    return old


async def _script(
    http: aiohttp.ClientSession, bare: str, admin: tuple[str, str], owner: str, other: str
) -> list[tuple[str, int, Any]]:
    """The requests, each answered ``(step, status, body without revisions)``."""
    db = f"{bare}/_replicator"
    mine, theirs, admins = (owner, PASSWORD), (other, PASSWORD), admin
    doc_id = f"job-{owner}"
    secret = {
        "source": f"http://{owner}:secret@127.0.0.1:9/nosrc",
        "target": {
            "url": f"{NOWHERE}/notgt",
            "headers": {"X-Token": "t0ken"},
            "auth": {"basic": {"username": owner, "password": "pw2"}},
        },
    }
    plain = {"source": f"{NOWHERE}/nosrc", "target": f"{NOWHERE}/notgt"}
    steps: list[tuple[str, str, str, tuple[str, str], Any]] = [
        ("owner writes", "PUT", f"{db}/{doc_id}", mine, secret),
        ("owner reads", "GET", f"{db}/{doc_id}", mine, None),
        ("other reads", "GET", f"{db}/{doc_id}", theirs, None),
        ("admin reads", "GET", f"{db}/{doc_id}", admins, None),
        ("other owner", "PUT", f"{db}/{doc_id}-b", mine, {**plain, "owner": other}),
        ("listing", "GET", f"{db}/_all_docs", theirs, None),
        ("changes", "GET", f"{db}/_changes", theirs, None),
        ("local names", "PUT", f"{db}/{doc_id}-c", admins, {"source": "a", "target": "b"}),
        ("no source", "PUT", f"{db}/{doc_id}-d", admins, {"target": f"{NOWHERE}/notgt"}),
        (
            "bulk refused whole",
            "POST",
            f"{db}/_bulk_docs",
            theirs,
            {"docs": [{"_id": f"{doc_id}-e", **plain}, {"_id": f"{doc_id}-f", **plain, "owner": owner}]},  # noqa: E501
        ),
        ("admin writes", "PUT", f"{db}/{doc_id}-g", admins, plain),
        ("admin's owner", "GET", f"{db}/{doc_id}-g", admins, None),
    ]  # fmt: skip
    answers = []
    for step, method, url, auth, body in steps:
        status, answer = await _ask(http, method, url, auth, body)
        if isinstance(answer, dict) and answer.get("owner") == admin[0]:
            answer["owner"] = "ADMIN"  # the two servers' admins may have different names
        answers.append((step, status, answer))
    for written in (doc_id, f"{doc_id}-g"):
        as_admin = {"Authorization": aiohttp.encode_basic_auth(*admin)}
        current = await request_json(http, "GET", f"{db}/{written}", headers=as_admin)
        url = f"{db}/{written}?rev={current['_rev']}"
        await request_json(http, "DELETE", url, headers=as_admin)
    return answers


async def _users(http: aiohttp.ClientSession, root: str, names: list[str]) -> None:
    for name in names:
        user = {"name": name, "password": PASSWORD, "roles": [], "type": "user"}
        await request_json(http, "PUT", f"{root}/_users/org.couchdb.user:{name}", json=user)


async def test_replicator_documents_follow_couchdbs_owner_and_credential_rules(
    server: Server, couchdb: CouchServer, http: aiohttp.ClientSession
) -> None:
    suffix = uuid.uuid4().hex[:8]
    owner, other = f"owner{suffix}", f"other{suffix}"
    answers = []
    sides = (
        (server.authed_url, server.url, (server.admin, server.password)),
        (couchdb.url, couchdb.bare_url, couchdb.auth),
    )
    for root, bare, admin in sides:
        await _users(http, root, [owner, other])
        old = await _opened_replicator(http, root)
        try:
            answers.append(await _script(http, bare, admin, owner, other))
        finally:
            await request_json(http, "PUT", f"{root}/_replicator/_security", json=old)
    ours, theirs = answers
    for mine, couch in zip(ours, theirs, strict=True):
        assert mine == couch
    by_step = {step: (status, body) for step, status, body in ours}
    assert by_step["owner reads"][1]["target"]["auth"]["basic"]["password"] == "pw2"
    assert "secret" not in str(by_step["other reads"][1])
    assert by_step["admin's owner"][1]["owner"] == "ADMIN"


async def test_a_user_may_not_cancel_another_users_replication(
    server: Server, couchdb: CouchServer, http: aiohttp.ClientSession
) -> None:
    name = f"user{uuid.uuid4().hex[:8]}"
    answers = []
    for root, bare in ((server.authed_url, server.url), (couchdb.url, couchdb.bare_url)):
        await _users(http, root, [name])
        src = f"src{uuid.uuid4().hex[:8]}"
        await request_json(http, "PUT", f"{root}/{src}")
        body = {"source": src, "target": f"{src}-copy", "continuous": True, "create_target": True}
        started = await request_json(http, "POST", f"{root}/_replicate", json=body)
        cancel = {"replication_id": started["_local_id"], "cancel": True}
        try:
            answers.append(await _ask(http, "POST", f"{bare}/_replicate", (name, PASSWORD), cancel))
        finally:
            await request_json(http, "POST", f"{root}/_replicate", json=cancel, expect=(200, 404))
    assert answers[0] == answers[1]
    assert answers[0][0] == 401
