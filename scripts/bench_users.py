"""The per-user databases benchmark (``scripts/bench --users N``): one server, N users, each
with a database of their own, as issue 9 asks a server to hold ("opening is lazy, open handles
and memory stay bounded, and listing or creating databases stays fast").

Ours runs with ``[couch_peruser] enable = true``: the admin writes the N user documents to
``_users`` in batches of 500 and each write creates ``userdb-<hex>`` before it is answered.
pouchdb-server, in the same run, has no per-user databases, so it gets the same N databases
created one ``PUT`` at a time (what a CouchDB-style peruser process would do for it). Then, on
both: ``_all_dbs`` over N+1 databases, one more database created, a database that has not been
used for a while opened by its first request, the server's RSS and open file descriptors.
PBKDF2 is set to ``USER_ITERATIONS`` rounds: at CouchDB's 600,000 the run would measure hashing
(the ``--auth`` rows measure logins), not databases.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import time
from pathlib import Path
from typing import Any

import bench_server as bs
import orjson

USER_ITERATIONS = 1000
BATCH = 500
# How many times each latency is measured (median reported).
SAMPLES = 20
TARGETS = ("ours", "pouchdb_server")


def user_name(i: int) -> str:
    return f"user{i:06d}"


def user_db(name: str) -> str:
    return "userdb-" + name.encode().hex()


def open_fds(pid: int | None) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd")) if pid is not None else None
    except OSError:
        return None


async def median_ms(call: Any, samples: int = SAMPLES) -> float:
    times = []
    for i in range(samples):
        began = time.perf_counter()
        await call(i)
        times.append((time.perf_counter() - began) * 1000)
    return round(statistics.median(times), 3)


async def create_users(client: bs.Client, n: int) -> None:
    """Ours: user documents in batches; each write creates that user's database."""
    for start in range(0, n, BATCH):
        docs = [
            {
                "_id": f"org.couchdb.user:{user_name(i)}",
                "name": user_name(i),
                "password": f"pw-{i}",
                "roles": [],
                "type": "user",
            }
            for i in range(start, min(start + BATCH, n))
        ]
        body = orjson.dumps({"docs": docs})
        rows = await client.request("POST", "/_users/_bulk_docs", body)
        failed = [row for row in rows if "error" in row]
        if failed:
            raise RuntimeError(f"user writes failed: {failed[:3]}")


async def create_dbs(client: bs.Client, n: int) -> None:
    """pouchdb-server: the same databases, created one PUT at a time."""
    for i in range(n):
        await client.request("PUT", f"/{user_db(user_name(i))}")


async def measure(target: bs.Target, n: int, log: bs.Log) -> dict[str, Any]:
    client = bs.Client(target)
    try:
        began = time.perf_counter()
        if target.name == "ours":
            await create_users(client, n)
        else:
            await create_dbs(client, n)
        seconds = time.perf_counter() - began
        log(f"{target.name}: {n} databases in {seconds:.1f} s")
        listed = await client.request("GET", "/_all_dbs")
        if sum(1 for name in listed if name.startswith("userdb-")) != n:
            raise RuntimeError(f"_all_dbs lists {len(listed)} databases, wanted {n} userdb-*")
        rng = random.Random(9)
        sample = rng.sample(range(n), SAMPLES)

        async def all_dbs(_: int) -> None:
            await client.request("GET", "/_all_dbs")

        async def create(i: int) -> None:
            await client.request("PUT", f"/extra-{i}")

        async def first_open(i: int) -> None:
            await client.request("GET", f"/{user_db(user_name(sample[i]))}")

        return {
            "databases": n,
            "seconds_to_create": round(seconds, 2),
            "databases_per_s": round(n / seconds, 1),
            "all_dbs_ms": await median_ms(all_dbs, 5),
            "create_db_ms": await median_ms(create),
            "first_request_to_unused_db_ms": await median_ms(first_open),
            "memory": bs.memory_mb(target.pid),
            "open_fds": open_fds(target.pid),
        }
    finally:
        await client.close()


def start(name: str, directory: Path, cpus: set[int] | None) -> bs.Target:
    directory.mkdir(parents=True, exist_ok=True)
    if name == "pouchdb_server":
        return bs.start_pouchdb_server(directory, cpus)
    data = directory / "data"
    data.mkdir(parents=True, exist_ok=True)
    (data / "local.ini").write_text(
        f"[couch_peruser]\nenable = true\n\n[chttpd_auth]\niterations = {USER_ITERATIONS}\n"
    )
    target = bs.start_ours("ours", directory, "FULL", cpus)
    target.about["config"] = {
        "couch_peruser": {"enable": True},
        "chttpd_auth": {"iterations": USER_ITERATIONS},
        "couchdb": {"max_dbs_open": "500 (default)"},
    }
    return target


def run(n: int, workdir: Path, log: bs.Log, only: str | None = None) -> dict[str, Any]:
    server_cpus, _ = bs.cpu_split()
    results = bs.each_target(
        [name for name in TARGETS if only is None or name.startswith(only)],
        lambda name: start(name, workdir / "users" / name, server_cpus),
        lambda target: asyncio.run(measure(target, n, log)),
        log,
    )
    return {"users": n, **results, "ratios": ratios(results), "notes": __doc__}


def ratios(results: dict[str, Any]) -> dict[str, float | None]:
    """Ours against pouchdb-server: >1 is ours faster (rates) or ours lower (latency, memory)."""
    ours, peer = results.get("ours", {}), results.get("pouchdb_server", {})

    def ratio(key: str, higher_is_better: bool) -> float | None:
        a, b = ours.get(key), peer.get(key)
        if not isinstance(a, int | float) or not isinstance(b, int | float) or not a or not b:
            return None
        return round(a / b if higher_is_better else b / a, 3)

    def rss(side: dict[str, Any]) -> float | None:
        memory = side.get("memory") or {}
        return memory.get("rss_mb")

    out = {
        "databases_per_s": ratio("databases_per_s", True),
        "all_dbs_latency": ratio("all_dbs_ms", False),
        "create_db_latency": ratio("create_db_ms", False),
        "first_request_latency": ratio("first_request_to_unused_db_ms", False),
    }
    a, b = rss(ours), rss(peer)
    out["rss"] = round(b / a, 3) if a and b else None
    return out
