"""``_changes`` filtered by design functions (``filter=ddoc/name`` and ``filter=_view``) on
CouchDB 3.5, our server and the embedded store: the same documents pass, the same errors."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from couch import CouchServer

from tests.views.design_peers import three_peers

pytestmark = pytest.mark.couchdb

DESIGN = {
    "filters": {
        "by_kind": "function(doc, req) { return doc.kind === req.query.kind; }",
        "at_least": "function(doc, req) { return doc.n >= Number(req.query.min); }",
        "deleted": "function(doc) { return !!doc._deleted; }",
        "mine": "function(doc, req) { return doc.owner === req.userCtx.name; }",
        "ddoc_this": "function(doc) { return this._id === '_design/app' && doc.n === 1; }",
        "throws": "function(doc) { if (doc.n === 3) throw('no threes'); return true; }",
        "broken": "function(doc) { return (; }",
        "lib_user": "function(doc) { return require('lib/odd').odd(doc.n); }",
    },
    "lib": {"odd": "exports.odd = function(n) { return n % 2 === 1; };"},
    "views": {
        "even": {"map": "function(doc) { if (doc.n % 2 === 0) emit(doc.n, null); }"},
        "everything": {"map": "function(doc) { emit(doc._id, null); }"},
    },
}


def corpus(seed: int) -> tuple[list[dict[str, Any]], list[str]]:
    """Generated documents, and the ids of those then deleted."""
    rng = random.Random(seed)
    docs = [
        {
            "_id": f"d{i:03}",
            "kind": rng.choice(["x", "y", "z"]),
            "n": rng.randint(0, 9),
            "owner": rng.choice(["bob", "eve", None]),
        }
        for i in range(rng.randint(5, 40))
    ]
    deleted = [d["_id"] for d in docs if rng.random() < 0.2]
    return docs, deleted


async def load(peers: list[Any], seed: int) -> None:
    docs, deleted = corpus(seed)
    for peer in peers:
        status, body = await peer.request("PUT", "/_design/app", DESIGN)
        assert status == 201, body
        status, rows = await peer.request("POST", "/_bulk_docs", {"docs": docs})
        assert status == 201, rows
        revs = {row["id"]: row["rev"] for row in rows}
        for doc_id in deleted:
            status, body = await peer.request("DELETE", f"/{doc_id}?rev={revs[doc_id]}")
            assert status == 200, body


def passed(answer: Any) -> list[tuple[str, bool, int]]:
    """What a feed let through, comparable across servers (CouchDB's shards order the feed
    their own way and its revisions differ from ours): ids, deletion, leaf counts."""
    status, body = answer
    assert status == 200, body
    return sorted(
        (row["id"], row.get("deleted", False), len(row["changes"])) for row in body["results"]
    )


async def feeds(peers: list[Any], query: str, user: str | None = None) -> list[Any]:
    return [passed(await peer.request("GET", f"/_changes?{query}", user=user)) for peer in peers]


@pytest.mark.parametrize("seed", range(3))
async def test_javascript_filters_pass_what_couchdb_passes(
    couchdb: CouchServer, tmp_path: Path, seed: int
) -> None:
    async with three_peers(couchdb, tmp_path) as peers:
        await load(peers, seed)
        for query in (
            "filter=app/by_kind&kind=x",
            "filter=app/by_kind&kind=nothing",
            "filter=app/at_least&min=5",
            "filter=app/deleted",
            "filter=app/ddoc_this",
            "filter=app/lib_user",
            "filter=_view&view=app/even",
            "filter=_view&view=app/everything",
        ):
            couch, server, embedded = await feeds(peers, query)
            assert server == couch, query
            assert embedded == couch, query


async def test_filters_see_the_requesting_user(couchdb: CouchServer, tmp_path: Path) -> None:
    async with three_peers(couchdb, tmp_path) as peers:
        await load(peers, 7)
        for user in ("bob", "eve"):
            couch, server, embedded = await feeds(peers, "filter=app/mine", user=user)
            assert server == couch == embedded
            assert couch, "the corpus has documents of each user"


async def test_all_docs_style_lists_only_the_leaves_that_pass(
    couchdb: CouchServer, tmp_path: Path
) -> None:
    leaves = [
        {"_id": "c", "_rev": "1-aaaa", "kind": "x", "n": 1},
        {"_id": "c", "_rev": "1-bbbb", "kind": "y", "n": 2},
        {"_id": "c", "_rev": "1-cccc", "kind": "x", "n": 3},
    ]
    async with three_peers(couchdb, tmp_path) as peers:
        for peer in peers:
            await peer.request("PUT", "/_design/app", DESIGN)
            status, body = await peer.request(
                "POST", "/_bulk_docs", {"docs": leaves, "new_edits": False}
            )
            assert status == 201, body
        answers = [
            await peer.request("GET", "/_changes?style=all_docs&filter=app/by_kind&kind=x")
            for peer in peers
        ]
        revs = [
            sorted(c["rev"] for row in body["results"] for c in row["changes"])
            for _, body in answers
        ]
        assert revs == [["1-aaaa", "1-cccc"]] * 3
        # The main-only feed judges the winning revision alone.
        main = await feeds(peers, "filter=app/by_kind&kind=y")
        assert main == [[]] * 3


@pytest.mark.parametrize(
    "query",
    [
        "filter=nodoc/f",
        "filter=app/nofilter",
        "filter=app",
        "filter=_view",
        "filter=_view&view=app/noview",
        "filter=_view&view=nodoc/even",
    ],
)
async def test_a_missing_or_malformed_filter_is_answered_as_couchdb_does(
    couchdb: CouchServer, tmp_path: Path, query: str
) -> None:
    async with three_peers(couchdb, tmp_path) as peers:
        for peer in peers:
            await peer.request("PUT", "/_design/app", DESIGN)
        answers = [await peer.request("GET", f"/_changes?{query}") for peer in peers]
        assert answers[1:] == [answers[0]] * 2


@pytest.mark.parametrize("name", ["throws", "broken"])
async def test_a_filter_that_throws_or_does_not_compile_fails_the_feed(
    couchdb: CouchServer, tmp_path: Path, name: str
) -> None:
    async with three_peers(couchdb, tmp_path) as peers:
        await load(peers, 1)
        answers = [await peer.request("GET", f"/_changes?filter=app/{name}") for peer in peers]
        assert [status for status, _ in answers] == [500] * 3, answers


async def test_a_limit_counts_passing_changes(couchdb: CouchServer, tmp_path: Path) -> None:
    async with three_peers(couchdb, tmp_path) as peers:
        await load(peers, 2)
        everything = await feeds(peers, "filter=app/at_least&min=3")
        limited = await feeds(peers, "filter=app/at_least&min=3&limit=2")
        assert [len(feed) for feed in limited] == [min(2, len(everything[0]))] * 3
        for feed, whole in zip(limited, everything, strict=True):
            assert set(feed) <= set(whole)
