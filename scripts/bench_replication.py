"""The replication-with-attachments benchmark (``scripts/bench --replication N``): CouchDB's own
replicator (the real CouchDB at ``COUCHDB_URL``) pulling from and pushing to each server.

Issue 15 made our server serve what CouchDB's replicator asks for (multipart ``open_revs``
answers carrying every attachment as stored, gzip bytes kept with their digests). This measures
that path against the peers in the same run: N chat messages (the embedded workload's shape,
about 1 KB), every 5th with a text attachment (compressible, stored gzipped) and every 20th with
a 16 KB binary one, loaded into a database on each server. Then, for each server:

  pull   CouchDB replicates the server's database into a fresh CouchDB database
  push   CouchDB replicates a CouchDB database with the same documents into a fresh database
         on the server

each one-shot ``POST /_replicate``, timed by the wall clock, and checked: the target ends with
all N documents and the replicator reports no write failures. Servers: ours (``serve``,
synchronous FULL, pinned as in the server benchmark), pouchdb-server (LevelDB) and the CouchDB
itself (CouchDB to CouchDB: the replicator's home ground). Ratios are peer seconds / our
seconds: above 1 means ours was faster.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import random
import time
from pathlib import Path
from typing import Any

import bench_server as bs
import orjson

BATCH = 500
TEXT_EVERY = 5
BINARY_EVERY = 20
BINARY_BYTES = 16 * 1024
SEED = 15
# A one-shot replication of a few thousand documents takes seconds; past this it is stuck.
REPLICATE_TIMEOUT_S = 900
TARGETS = ("ours", "pouchdb_server", "couchdb")


def messages(n: int) -> list[dict[str, Any]]:
    """The documents, the same bytes for every server (seeded)."""
    rng = random.Random(SEED)
    words = ["deploy", "review", "merge", "prompt", "token", "panel", "pipeline", "plugin"]
    docs = []
    for i in range(n):
        content = " ".join(rng.choice(words) for _ in range(120))
        doc: dict[str, Any] = {
            "_id": f"msg:{i % 50:03d}:{i:07d}",
            "type": "chat_message",
            "chatId": f"chat-{i % 50}",
            "seq": i,
            "role": "assistant" if i % 2 else "user",
            "content": content,
            "tokens": {"input": rng.randint(10, 900), "output": rng.randint(10, 900)},
        }
        atts = {}
        if i % TEXT_EVERY == 0:
            text = (content + "\n") * 3
            atts["transcript.txt"] = _inline("text/plain", text.encode())
        if i % BINARY_EVERY == 0:
            atts["image.png"] = _inline("image/png", rng.randbytes(BINARY_BYTES))
        if atts:
            doc["_attachments"] = atts
        docs.append(doc)
    return docs


def _inline(content_type: str, data: bytes) -> dict[str, str]:
    return {"content_type": content_type, "data": base64.b64encode(data).decode("ascii")}


async def load(client: bs.Client, db: str, docs: list[dict[str, Any]]) -> None:
    await client.create_db(db)
    for start in range(0, len(docs), BATCH):
        body = orjson.dumps({"docs": docs[start : start + BATCH]})
        rows = await client.request("POST", f"/{db}/_bulk_docs", body)
        failed = [row for row in rows if "error" in row]
        if failed:
            raise RuntimeError(f"load into {db} failed: {failed[:3]}")


def db_url(target: bs.Target, db: str) -> str:
    """The URL CouchDB's replicator uses, credentials in it (it does not percent-decode them)."""
    scheme, rest = target.url.split("://", 1)
    if target.auth is None:
        return f"{target.url}/{db}"
    return f"{scheme}://{target.auth[0]}:{target.auth[1]}@{rest}/{db}"


async def replicate(couch: bs.Client, source: str, target: str, n: int) -> dict[str, Any]:
    """One timed one-shot replication; raises unless every document was written."""
    body = orjson.dumps({"source": source, "target": target, "create_target": False})
    began = time.perf_counter()
    answer = await couch.request("POST", "/_replicate", body)
    seconds = time.perf_counter() - began
    history = (answer.get("history") or [{}])[0]
    if not answer.get("ok") or history.get("doc_write_failures"):
        raise RuntimeError(f"replication failed: {str(answer)[:500]}")
    if history.get("docs_written") != n:
        raise RuntimeError(f"replication wrote {history.get('docs_written')} of {n} documents")
    return {"seconds": round(seconds, 3), "docs_per_s": round(n / seconds, 1)}


async def measure(
    target: bs.Target, couch_target: bs.Target, docs: list[dict[str, Any]], log: bs.Log
) -> dict[str, Any]:
    n = len(docs)
    client, couch = bs.Client(target), bs.Client(couch_target)
    tag = target.name.replace("_", "-")
    try:
        await load(client, f"bench-repl-src-{tag}", docs)
        await load(couch, f"bench-repl-couch-{tag}", docs)
        await couch.create_db(f"bench-repl-pulled-{tag}")
        await client.create_db(f"bench-repl-pushed-{tag}")
        routes = {
            "pull": (db_url(target, f"bench-repl-src-{tag}"), f"bench-repl-pulled-{tag}"),
            "push": (db_url(couch_target, f"bench-repl-couch-{tag}"), f"bench-repl-pushed-{tag}"),
        }
        rows: dict[str, Any] = {}
        for direction, (source, target_db) in routes.items():
            into = couch_target if direction == "pull" else target
            try:
                rows[direction] = await replicate(couch, source, db_url(into, target_db), n)
                log(f"{target.name}: CouchDB {direction}ed {n} docs: {rows[direction]}")
            except RuntimeError as exc:  # one direction failing still measures the other
                log(f"{target.name}: {direction} failed: {exc}")
                rows[direction] = {"error": str(exc)[:500]}
        return {**rows, "memory": bs.memory_mb(target.pid)}
    finally:
        for name in ("src", "pushed"):
            await _drop(client, f"bench-repl-{name}-{tag}")
        for name in ("couch", "pulled"):
            await _drop(couch, f"bench-repl-{name}-{tag}")
        await client.close()
        await couch.close()


async def _drop(client: bs.Client, db: str) -> None:
    with contextlib.suppress(RuntimeError):
        await client.request("DELETE", f"/{db}")


def start(name: str, directory: Path, cpus: set[int] | None, couchdb_url: str) -> bs.Target:
    directory.mkdir(parents=True, exist_ok=True)
    if name == "ours":
        return bs.start_ours("ours", directory, "FULL", cpus)
    if name == "pouchdb_server":
        return bs.start_pouchdb_server(directory, cpus)
    return bs.couchdb_target(couchdb_url, directory)


def run(
    n: int, workdir: Path, log: bs.Log, couchdb_url: str, only: str | None = None
) -> dict[str, Any]:
    server_cpus, _ = bs.cpu_split()
    docs = messages(n)
    couch_target = bs.couchdb_target(couchdb_url, workdir / "couchdb")
    results = bs.each_target(
        [name for name in TARGETS if only is None or name.startswith(only)],
        lambda name: start(name, workdir / "replication" / name, server_cpus, couchdb_url),
        lambda target: asyncio.run(measure(target, couch_target, docs, log)),
        log,
    )
    return {
        "docs": n,
        "with_text_attachment": len(range(0, n, TEXT_EVERY)),
        "with_binary_attachment": len(range(0, n, BINARY_EVERY)),
        **results,
        "ratios": ratios(results),
        "notes": __doc__,
    }


def ratios(results: dict[str, Any]) -> dict[str, float | None]:
    """Each peer's seconds over ours, per direction: above 1 means ours was faster."""
    out: dict[str, float | None] = {}
    ours = results.get("ours", {})
    for peer in ("pouchdb_server", "couchdb"):
        for direction in ("pull", "push"):
            a = (ours.get(direction) or {}).get("seconds")
            b = (results.get(peer, {}).get(direction) or {}).get("seconds")
            out[f"{direction}_vs_{peer}"] = round(b / a, 3) if a and b else None
    return out
