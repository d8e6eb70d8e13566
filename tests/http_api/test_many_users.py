"""One server, 10,000 users, each with a per-user database (issue 9: "opening is lazy, open
handles and memory stay bounded, and listing or creating databases stays fast").

The users are created as CouchDB's admins do it in bulk (``_bulk_docs`` on ``_users``); each
write creates that user's database. Then: every database is listed, at most ``max_dbs_open``
stores are open and the process's file descriptors stay within that bound, users picked at
random still log in and use their own database (opening it lazily) and nobody else's, and a new
user and a new database can still be created. Speed is the benchmark's business
(``scripts/bench --users``); this test checks the bounds.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import aiohttp

from brainlink_docs.config import PeruserSettings

from .conftest import serving
from .helpers import SYSTEM_DBS, json_of

USERS = int(os.environ.get("BRAINLINK_MANY_USERS", "10000"))
BATCH = 500
MAX_OPEN = 64
# Each open store holds one writer and up to three reader/point connections (plus WAL/SHM
# files for each): a generous bound per store, and room for the process's other descriptors.
FDS_PER_STORE = 12
FD_SLACK = 200
# Memory may grow with the open stores (each up to four SQLite page caches) and the cached user
# records, not with the number of users: 10,000 open stores would take gigabytes.
RSS_GROWTH_MB = 600


def name_of(i: int) -> str:
    return f"user{i:05d}"


def userdb(name: str) -> str:
    return "userdb-" + name.encode().hex()


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


async def test_ten_thousand_users_with_their_databases(tmp_path: Path) -> None:
    peruser = PeruserSettings(enable=True)
    async with serving(tmp_path / "data", peruser=peruser, max_dbs_open=MAX_OPEN) as server:
        fds_before = open_fds()
        rss_before = rss_mb()
        async with aiohttp.ClientSession(server.url, headers=server.auth_headers) as admin:
            for start in range(0, USERS, BATCH):
                docs = [
                    {
                        "_id": f"org.couchdb.user:{name_of(i)}",
                        "name": name_of(i),
                        "password": f"pw-{i}",
                        "roles": [],
                        "type": "user",
                    }
                    for i in range(start, min(start + BATCH, USERS))
                ]
                async with admin.post("/_users/_bulk_docs", json={"docs": docs}) as r:
                    assert r.status == 201, await r.text()
                    rows = await json_of(r)
                assert all(row.get("ok") for row in rows), rows[:3]
                assert open_fds() <= fds_before + MAX_OPEN * FDS_PER_STORE + FD_SLACK

            async with admin.get("/_all_dbs") as r:
                names = await json_of(r)
            assert len(names) == USERS + len(SYSTEM_DBS)  # and _audit, _users
            assert set(names) == {*SYSTEM_DBS} | {userdb(name_of(i)) for i in range(USERS)}

            rng = random.Random(9)
            for i in rng.sample(range(USERS), 20):
                name, other = name_of(i), name_of((i + 1) % USERS)
                auth = {"Authorization": aiohttp.encode_basic_auth(name, f"pw-{i}")}
                async with admin.put(f"/{userdb(name)}/note", json={"i": i}, headers=auth) as r:
                    assert r.status == 201, await r.text()
                async with admin.get(f"/{userdb(other)}/_all_docs", headers=auth) as r:
                    assert r.status == 403
            assert open_fds() <= fds_before + MAX_OPEN * FDS_PER_STORE + FD_SLACK
            assert rss_mb() - rss_before < RSS_GROWTH_MB

            newcomer = {"name": "newcomer", "password": "pw", "roles": [], "type": "user"}
            async with (
                aiohttp.ClientSession(server.url) as anon,
                anon.put("/_users/org.couchdb.user:newcomer", json=newcomer) as r,
            ):
                assert r.status == 201
            async with admin.put("/one-more-db") as r:
                assert r.status == 201
            async with admin.get(f"/{userdb('newcomer')}") as r:
                assert r.status == 200
