"""A database's full replicated state, read through the HTTP API of any CouchDB-API server.

``snapshot`` reads, for every document (deleted ones too, listed by ``_changes?style=all_docs``):

- ``winner`` and ``deleted``: the first revision of its ``_changes`` row (CouchDB lists the
  winner first) and the row's ``deleted`` flag;
- ``get``: ``GET /db/id?conflicts=true&deleted_conflicts=true`` for a live document (its
  ``_rev``, ``_conflicts``, ``_deleted_conflicts``), or for a deleted one the same read at
  ``rev=<winner>`` (the tombstone's body; CouchDB answers no conflict lists there);
- ``leaves``: every leaf of ``open_revs=all&revs=true&att_encoding_info=true`` (JSON), each
  with its body, ``_revisions`` path and attachment stubs (``digest``, ``length``,
  ``content_type``, ``revpos``, ``encoding``, ``encoded_length``), and for every attachment
  the md5 and length of its bytes as ``GET /db/id/name?rev=<leaf>`` returns them decoded;

plus ``doc_count``/``doc_del_count`` from ``GET /db`` and the ids in ``_local_docs``.

``differences(left, right)`` lists what differs as one line per field with the document id and
a path into it (``doc-00040 leaves[3-ab…]._attachments[note.txt].digest: 'md5-x' != 'md5-y'``),
and ``assert_same`` fails with the first of them and a count per field, so a failure says which
document and which field, not a 5,000-line dict diff.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections import Counter
from dataclasses import dataclass
from typing import Any

import aiohttp

from .corpus import Corpus
from .couch_api import Doc, doc_url, request_json, url_of, without_credentials

# Requests one snapshot keeps in flight: enough to read 2,000 documents in a few seconds,
# few enough not to queue behind CouchDB's default connection limits.
CONCURRENCY = 16
# _changes rows per page while listing every document.
PAGE = 1000
# How many differing fields a failure prints in full.
SHOWN = 25


@dataclass(frozen=True, slots=True)
class Snapshot:
    name: str
    docs: dict[str, Doc]
    doc_count: int
    doc_del_count: int
    local_ids: list[str]


async def snapshot(http: aiohttp.ClientSession, db_url: str, name: str) -> Snapshot:
    """The full state of the database at ``db_url``; ``name`` labels it in failure messages."""
    info = await request_json(http, "GET", db_url)
    rows = await changes_rows(http, db_url)
    # A quiet database lists each document once.
    repeated = sorted(i for i, k in Counter(row["id"] for row in rows).items() if k > 1)
    assert not repeated, f"{name}: _changes lists these ids twice: {repeated[:10]}"
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(row: Doc) -> tuple[str, Doc]:
        async with gate:
            return row["id"], await _document(http, db_url, row)

    docs = dict(await asyncio.gather(*(one(row) for row in rows)))
    local = await request_json(http, "GET", f"{db_url}/_local_docs")
    return Snapshot(
        name,
        docs,
        info["doc_count"],
        info["doc_del_count"],
        [row["id"] for row in local["rows"]],
    )


async def changes_rows(http: aiohttp.ClientSession, db_url: str) -> list[Doc]:
    """Every row of ``_changes?style=all_docs``, page by page."""
    rows: list[Doc] = []
    since: Any = 0
    while True:
        url = url_of(f"{db_url}/_changes", style="all_docs", since=str(since), limit=str(PAGE))
        page = await request_json(http, "GET", url)
        rows += page["results"]
        if not page["results"]:
            break
        since = page["last_seq"]
    return rows


async def heads(http: aiohttp.ClientSession, db_url: str) -> dict[str, list[str]]:
    """Every document's leaf revisions (sorted), from ``_changes``: cheap, for waiting until a
    continuous replication caught up."""
    rows = await changes_rows(http, db_url)
    # While a replication writes, a document changed between two pages is listed in both; the
    # later row is the newer.
    return {row["id"]: sorted(change["rev"] for change in row["changes"]) for row in rows}


async def _document(http: aiohttp.ClientSession, db_url: str, row: Doc) -> Doc:
    doc_id = row["id"]
    winner = row["changes"][0]["rev"]
    deleted = bool(row.get("deleted"))
    params = {"conflicts": "true", "deleted_conflicts": "true"}
    if deleted:
        params["rev"] = winner
    got = await request_json(http, "GET", doc_url(db_url, doc_id, **params))
    leaves: dict[str, Doc] = {}
    open_revs = doc_url(db_url, doc_id, open_revs="all", revs="true", att_encoding_info="true")
    for entry in await request_json(http, "GET", open_revs):
        assert "ok" in entry, f"{doc_id}: open_revs=all answered {entry}"
        leaf = entry["ok"]
        for name, stub in leaf.get("_attachments", {}).items():
            stub["bytes"] = await _attachment_bytes(http, db_url, doc_id, name, leaf["_rev"])
        leaves[leaf["_rev"]] = leaf
    return {
        "winner": winner,
        "deleted": deleted,
        "changes_revs": sorted(change["rev"] for change in row["changes"]),
        "get": got,
        "leaves": leaves,
    }


async def _attachment_bytes(
    http: aiohttp.ClientSession, db_url: str, doc_id: str, name: str, rev: str
) -> Doc:
    """The attachment's bytes as a client reads them (aiohttp undoes any gzip encoding)."""
    url = doc_url(db_url, doc_id, name, rev=rev)
    async with http.get(url) as response:
        data = await response.read()
        assert response.status == 200, (
            f"GET {without_credentials(str(url))}: {response.status} {data[:300]!r}"
        )
    return {"md5": "md5-" + base64.b64encode(hashlib.md5(data).digest()).decode(), "len": len(data)}


def differences(left: Snapshot, right: Snapshot) -> list[tuple[str, str]]:
    """``(field, line)`` for every differing field, ``field`` a path without the doc id and revs
    (for counting), ``line`` the full description."""
    out: list[tuple[str, str]] = []
    names = (left.name, right.name)
    for key in ("doc_count", "doc_del_count"):
        a, b = getattr(left, key), getattr(right, key)
        if a != b:
            out.append((key, f"GET /db {key}: {names[0]} {a} != {names[1]} {b}"))
    only_left = sorted(set(left.docs) - set(right.docs))
    only_right = sorted(set(right.docs) - set(left.docs))
    if only_left:
        out.append(("ids", f"{len(only_left)} ids only in {names[0]}: {only_left[:10]}"))
    if only_right:
        out.append(("ids", f"{len(only_right)} ids only in {names[1]}: {only_right[:10]}"))
    for doc_id in sorted(set(left.docs) & set(right.docs)):
        _walk(doc_id, "", "", left.docs[doc_id], right.docs[doc_id], names, out)
    return out


def _walk(
    doc_id: str,
    path: str,
    kind: str,
    a: Any,
    b: Any,
    names: tuple[str, str],
    out: list[tuple[str, str]],
) -> None:
    """Recurse through two JSON values; ``kind`` is ``path`` with revisions left out."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            step = f"[{key}]" if path.endswith("leaves") or "_attachments" in path[-13:] else ""
            sub = f"{path}{step or '.' + str(key)}"
            sub_kind = f"{kind}[*]" if path.endswith("leaves") else f"{kind}{step or '.' + key}"
            if key not in a or key not in b:
                side = names[1] if key not in a else names[0]
                value = b.get(key) if key not in a else a.get(key)
                line = f"{doc_id!r} {sub.lstrip('.')}: only in {side}: {_short(value)}"
                out.append((sub_kind.lstrip("."), line))
                continue
            _walk(doc_id, sub, sub_kind, a[key], b[key], names, out)
        return
    if a != b:
        where = path.lstrip(".")
        line = f"{doc_id!r} {where}: {names[0]} {_short(a)} != {names[1]} {_short(b)}"
        out.append((kind.lstrip("."), line))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:200] + "…"


def assert_same(left: Snapshot, right: Snapshot) -> None:
    """Both snapshots hold the same state; else fail with a count per differing field and
    one example of each (document id, path, both values)."""
    diffs = differences(left, right)
    if not diffs:
        return
    counts = Counter(kind for kind, _ in diffs)
    examples: dict[str, str] = {}
    for kind, line in diffs:
        examples.setdefault(kind, line)
    shown = "\n  ".join(f"[{n}x {kind}] {examples[kind]}" for kind, n in counts.most_common(SHOWN))
    raise AssertionError(
        f"{left.name} and {right.name} differ in {len(diffs)} fields of "
        f"{len({line.split(' ')[0] for _, line in diffs})} documents; per field, how often "
        f"and a first example:\n  {shown}"
    )


def assert_no_local_docs_travelled(snap: Snapshot, local_ids: list[str]) -> None:
    """None of the source's ``_local`` documents is on ``snap`` (checkpoints may be)."""
    travelled = sorted(set(local_ids) & set(snap.local_ids))
    assert not travelled, f"_local documents replicated to {snap.name}: {travelled}"
    assert not set(local_ids) & set(snap.docs), f"_local ids listed in {snap.name}'s _changes"


def assert_matches_corpus(snap: Snapshot, corpus: Corpus) -> None:
    """``snap`` holds what ``corpus`` wrote (winner, leaves, conflicts, attachment names, counts),
    so a comparison of two replicas cannot pass by both being equally wrong."""
    assert sorted(snap.docs) == sorted(corpus.docs), (
        f"{snap.name}: ids missing {sorted(set(corpus.docs) - set(snap.docs))[:10]}, "
        f"unexpected {sorted(set(snap.docs) - set(corpus.docs))[:10]}"
    )
    wrong = []
    for doc_id, expected in corpus.docs.items():
        doc = snap.docs[doc_id]
        winner = expected.winner
        got = doc["get"]
        want = {
            "winner": winner.rev,
            "deleted": winner.deleted,
            "leaves": sorted(leaf.rev for leaf in expected.leaves),
            "attachments": sorted(winner.attachments),
            "conflicts": [] if winner.deleted else sorted(expected.conflicts),
            "deleted_conflicts": [] if winner.deleted else sorted(expected.deleted_conflicts),
        }
        have = {
            "winner": doc["winner"],
            "deleted": doc["deleted"],
            "leaves": sorted(doc["leaves"]),
            "attachments": sorted(got.get("_attachments", {})),
            "conflicts": sorted(got.get("_conflicts", [])),
            "deleted_conflicts": sorted(got.get("_deleted_conflicts", [])),
        }
        wrong += [
            f"{doc_id!r} {k}: {have[k]} (written: {v})" for k, v in want.items() if have[k] != v
        ]
    assert not wrong, f"{snap.name} is not what the corpus wrote ({len(wrong)}):\n  " + "\n  ".join(
        wrong[:SHOWN]
    )
    counts = (snap.doc_count, snap.doc_del_count)
    assert counts == (corpus.doc_count, corpus.doc_del_count), f"{snap.name} counts {counts}"
