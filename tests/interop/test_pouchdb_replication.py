"""PouchDB 9 (Node, LevelDB) replicates to and from our server, and both sides agree exactly.

The corpus is a chat: 1,100 messages, some with attachments (one dropped by a later edit), some
edited several times, some deleted (some with a body), conflict branches written with
``new_edits=false`` (deeper, deleted, with attachments of their own, two on one message), and
``_local`` drafts that must never replicate. The same corpus is written either into PouchDB or
into our server through its HTTP API.

After a replication both sides are dumped by the driver (``_changes`` for the winners,
``open_revs=all&revs=true`` for every leaf and its ``_revisions`` path, ``conflicts=true`` for
``_conflicts``, every attachment's bytes hashed) and compared in full, and the source is checked
against what the corpus meant to write, so two equally wrong sides still fail.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
import pytest
from conftest import node_available
from store.helpers import gzip_at, md5_digest

from .conftest import DB, PouchDriver

pytestmark = [
    pytest.mark.node,
    pytest.mark.skipif(not node_available("pouchdb"), reason="needs node and node_modules/pouchdb"),
]

# More than one replication batch of everything (PouchDB's 100, CouchDB's 500) and past the
# 1,000 rows our server pages _changes and _all_docs by.
N_MESSAGES = 1100
# How long live sync may take to converge after a write before the test fails.
CONVERGE_SECONDS = 20.0

# Ids and attachment names that need escaping in a URL path, and a design document (its id
# holds a slash that CouchDB takes literally).
ODD_IDS = [
    "a/b",
    "a%2Fb",
    "a%b",
    "a+b",
    "a?b#c",
    "a&b=c",
    ";semi",
    "with space",
    "ü-id",
    "emoji-🎉",
    "colon:x",
    "_design/chat",
]

Doc = dict[str, Any]
State = dict[str, dict[str, Any]]


# ---------------------------------------------------------------------------------------------
# Writing the corpus into either side


class Writer(Protocol):
    async def bulk_docs(self, docs: list[Doc], *, new_edits: bool = True) -> list[Doc]: ...

    async def put_local(self, doc: Doc) -> None: ...


@dataclass
class PouchWriter:
    pouch: PouchDriver
    db: str = "local"

    async def bulk_docs(self, docs: list[Doc], *, new_edits: bool = True) -> list[Doc]:
        rows: list[Doc] = await self.pouch.call(
            "bulk_docs", db=self.db, docs=docs, new_edits=new_edits
        )
        return rows

    async def put_local(self, doc: Doc) -> None:
        await self.pouch.call("put", db=self.db, doc=doc)


@dataclass
class ServerWriter:
    client: aiohttp.ClientSession
    db: str = DB

    async def bulk_docs(self, docs: list[Doc], *, new_edits: bool = True) -> list[Doc]:
        body = {"docs": docs, "new_edits": new_edits}
        rows: list[Doc] = await http_json(self.client, "POST", f"/{self.db}/_bulk_docs", json=body)
        return rows

    async def put_local(self, doc: Doc) -> None:
        await http_json(self.client, "PUT", f"/{self.db}/{doc['_id']}", json=doc)


async def http_json(client: aiohttp.ClientSession, method: str, path: str, **kwargs: Any) -> Any:
    async with client.request(method, path, **kwargs) as response:
        body = await response.json()
        assert response.status < 300, f"{method} {path}: {response.status} {body}"
        return body


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def fake_rev_id(*parts: object) -> str:
    """A revision id as CouchDB makes them (32 hex digits), fixed by its inputs."""
    return hashlib.md5(":".join(map(str, parts)).encode()).hexdigest()


def rev_id(rev: str) -> str:
    return rev.partition("-")[2]


def rev_pos(rev: str) -> int:
    return int(rev.partition("-")[0])


def message(i: int) -> Doc:
    return {
        "_id": f"msg-{i:05d}",
        "type": "message",
        "room": f"room-{i % 12}",
        "author": f"user-{i % 37}",
        "text": f"message {i}: héllo wörld ✓ {'lorem ipsum ' * (i % 4)}",
        "ts": 1_700_000_000_000 + i * 1013,
        "reactions": {"👍": i % 5, "🎉": i % 2} if i % 3 == 0 else {},
        "mentions": [f"user-{(i * 7) % 37}"] if i % 4 == 0 else [],
        "reply_to": f"msg-{i - 1:05d}" if i % 6 == 0 and i else None,
    }


def message_body(doc: Doc) -> Doc:
    return {k: v for k, v in doc.items() if not k.startswith("_")}


def blob(i: int, name: str, size: int) -> bytes:
    return random.Random(f"{i}/{name}").randbytes(size)


@dataclass
class Expected:
    """What the corpus meant each document to be: its winner's state and leaf count."""

    deleted: bool = False
    conflicts: int = 0
    leaves: int = 1
    attachments: dict[str, str] = field(default_factory=dict)  # name -> digest of the winner
    body: Doc = field(default_factory=dict)


@dataclass(frozen=True)
class Leaf:
    rev: str
    deleted: bool
    body: Doc
    attachments: dict[str, str]


@dataclass
class Corpus:
    docs: dict[str, Expected]
    locals: list[str]

    @property
    def total_leaves(self) -> int:
        return sum(e.leaves for e in self.docs.values())

    def shape(self) -> dict[str, int]:
        """How many documents show each feature (each must be there, or a check is vacuous)."""
        docs = self.docs.values()
        return {
            "deleted": sum(e.deleted for e in docs),
            "deleted with a body": sum(e.deleted and bool(e.body) for e in docs),
            "conflicted": sum(e.conflicts > 0 for e in docs),
            "two conflicts": sum(e.conflicts > 1 for e in docs),
            "deleted leaves beside a live one": sum(
                not e.deleted and e.leaves > e.conflicts + 1 for e in docs
            ),
            "edited": sum("edits" in e.body for e in docs),
            "with attachments": sum(bool(e.attachments) for e in docs),
            "local": len(self.locals),
        }


async def write_corpus(writer: Writer, n: int = N_MESSAGES) -> Corpus:
    """Write the chat corpus through ``writer``; returns what every document should look like."""
    bodies: dict[str, Doc] = {}
    expected: dict[str, Expected] = {}
    revs: dict[str, str] = {}
    first_rev: dict[str, str] = {}

    def track(rows: list[Doc]) -> None:
        for row in rows:
            assert "error" not in row, row
            revs[row["id"]] = row["rev"]
            first_rev.setdefault(row["id"], row["rev"])

    stubs: dict[str, dict[str, Doc]] = {}

    def attach(doc: Doc, i: int, name: str, content_type: str, size: int, revpos: int) -> None:
        data = blob(i, name, size)
        doc.setdefault("_attachments", {})[name] = {"content_type": content_type, "data": b64(data)}
        expected[doc["_id"]].attachments[name] = digest = md5_digest(data)
        # What a read of the document returns for it, and what an edit sends back.
        stubs.setdefault(doc["_id"], {})[name] = {
            "content_type": content_type,
            "digest": digest,
            "length": size,
            "revpos": revpos,
            "stub": True,
        }

    def main_leaf(doc_id: str) -> Leaf:
        e = expected[doc_id]
        return Leaf(revs[doc_id], e.deleted, bodies[doc_id], dict(e.attachments))

    docs = []
    for i in range(n):
        doc = message(i)
        expected[doc["_id"]] = Expected()
        if i % 25 == 0:
            attach(doc, i, "photo.png", "image/png", 1500 + i, revpos=1)
            attach(doc, i, "note.txt", "text/plain", 40, revpos=1)
        docs.append(doc)
        bodies[doc["_id"]] = message_body(doc)
    track(await writer.bulk_docs(docs))

    # Edits: every 7th message three times; the 45th ones gain a voice note, the 50th lose
    # their text note (an edit that leaves out an attachment's stub removes it).
    for round_ in range(3):
        edits = []
        for i in range(0, n, 7):
            doc_id = f"msg-{i:05d}"
            body = bodies[doc_id] | {"text": f"edited {round_}: {i}", "edits": round_ + 1}
            doc = {"_id": doc_id, **body, "_rev": revs[doc_id]}
            if round_ == 1 and i % 50 == 0:
                stubs.get(doc_id, {}).pop("note.txt", None)
                expected[doc_id].attachments.pop("note.txt", None)
            if stubs.get(doc_id):
                doc["_attachments"] = dict(stubs[doc_id])
            if round_ == 2 and i % 45 == 0:
                attach(doc, i, "voice.ogg", "audio/ogg", 900, revpos=round_ + 2)
            bodies[doc_id] = body
            edits.append(doc)
        track(await writer.bulk_docs(edits))

    # Deletions: every 13th message, every 26th with a body (CouchDB keeps it).
    deletes = []
    for i in range(0, n, 13):
        doc_id = f"msg-{i:05d}"
        doc: Doc = {"_id": doc_id, "_rev": revs[doc_id], "_deleted": True}
        if i % 26 == 0:
            doc["reason"] = "spam"
        deletes.append(doc)
        expected[doc_id].deleted = True
        expected[doc_id].attachments.clear()
        bodies[doc_id] = message_body(doc)
    track(await writer.bulk_docs(deletes))

    # Conflicts from other devices, each branching off a message's first revision: off edited
    # messages (every 14th) and others (every 31st: off a message never edited since, the
    # branch only extends its leaf, which new_edits=false grafts without a conflict). Branches
    # are deeper (every 28th: as deep as the main line, so the revision id decides), deleted
    # (every 42nd and 93rd), with an attachment of their own (every 70th and 124th), and some
    # messages get a second device's branch too (every 56th).
    branches = []
    for i in (i for i in range(n) if i % 14 == 0 or i % 31 == 0):
        doc_id = f"msg-{i:05d}"
        leaves = [] if revs[doc_id] == first_rev[doc_id] else [main_leaf(doc_id)]
        for device in ("tablet", "phone") if i % 56 == 0 else ("tablet",):
            depth = 4 if i % 28 == 0 and device == "tablet" else 2
            ids = [fake_rev_id(doc_id, device, d) for d in range(depth, 1, -1)]
            branch: Doc = message(i) | {
                "text": f"offline edit of {i} on the {device}",
                "device": device,
                "_rev": f"{depth}-{ids[0]}",
                "_revisions": {"start": depth, "ids": [*ids, rev_id(first_rev[doc_id])]},
            }
            atts = {}
            if (i % 42 == 0 or i % 93 == 0) and device == "tablet":
                branch["_deleted"] = True
            elif i % 70 == 0 or i % 124 == 0:
                # (Never on a deleted branch: PouchDB drops a deleted revision's attachments.)
                data = blob(i, "sketch.svg", 300)
                branch["_attachments"] = {
                    "sketch.svg": {"content_type": "image/svg+xml", "data": b64(data)}
                }
                atts["sketch.svg"] = md5_digest(data)
            branches.append(branch)
            leaves.append(Leaf(branch["_rev"], "_deleted" in branch, message_body(branch), atts))
        winner = max(
            leaves, key=lambda leaf: (not leaf.deleted, rev_pos(leaf.rev), rev_id(leaf.rev))
        )
        e = expected[doc_id]
        e.leaves = len(leaves)
        e.conflicts = sum(1 for leaf in leaves if leaf is not winner and not leaf.deleted)
        e.deleted, e.attachments = winner.deleted, winner.attachments
        bodies[doc_id] = winner.body
    rows = await writer.bulk_docs(branches, new_edits=False)
    assert [r for r in rows if "error" in r] == []

    for doc_id, e in expected.items():
        e.body = message_body(bodies[doc_id])

    locals_ = [f"_local/draft-room-{r}" for r in range(5)] + ["_local/read-marker"]
    for local_id in locals_:
        await writer.put_local({"_id": local_id, "text": "unsent draft", "at": 1_700_000_000})
    corpus = Corpus(expected, locals_)
    shape = corpus.shape()
    assert all(shape.values()), shape
    return corpus


# ---------------------------------------------------------------------------------------------
# Comparing states


def winner_of(leaves: dict[str, Doc]) -> str:
    """CouchDB's winner: live before deleted, then the longest path, then the highest rev id."""
    return max(leaves, key=lambda r: (not leaves[r].get("_deleted", False), rev_pos(r), rev_id(r)))


def _normal(doc: Doc) -> Doc:
    return doc | {"conflicts": sorted(doc["conflicts"]) if doc["conflicts"] is not None else None}


def checked_digests(state: State, *, gzipped: bool) -> State:
    """Each attachment's digest checked against its bytes by its store's rule, then set aside.

    Our server, like CouchDB, stores compressible types (``text/*``...) gzipped at level 8 and
    makes the digest the MD5 of the gzip bytes; PouchDB stores every attachment in clear with the
    MD5 of the clear bytes. Both rules are checked exactly here; the rest of each attachment
    (type, revpos, length, the MD5 of its clear bytes) must still be equal on both sides.
    """

    def check(where: tuple[str, str, str], att: Doc) -> Doc:
        data = base64.b64decode(att["data"])
        compressible = gzipped and att["content_type"].startswith("text/")
        expected = md5_digest(gzip_at(data, 8) if compressible else data)
        assert att["digest"] == expected, (where, att["digest"], expected)
        return {k: v for k, v in att.items() if k not in ("digest", "data")}

    return map_attachments(state, check)


def assert_same_state(left: State, right: State, names: tuple[str, str]) -> None:
    """Same ids; per id the same winner, deleted flag, _conflicts and every leaf in full
    (attachment digests each checked by their store's rule, see ``checked_digests``)."""
    left = checked_digests(left, gzipped=names[0] == "server")
    right = checked_digests(right, gzipped=names[1] == "server")
    only_left = sorted(set(left) - set(right))
    only_right = sorted(set(right) - set(left))
    assert not only_left and not only_right, (
        f"ids only in {names[0]}: {only_left[:10]} ({len(only_left)}); "
        f"only in {names[1]}: {only_right[:10]} ({len(only_right)})"
    )
    differing = [i for i in sorted(left) if _normal(left[i]) != _normal(right[i])]
    detail = "\n".join(
        f"{i}:\n  {names[0]}: {left[i]}\n  {names[1]}: {right[i]}" for i in differing[:3]
    )
    assert not differing, f"{len(differing)} documents differ, e.g.\n{detail}"


def assert_matches_corpus(state: State, corpus: Corpus) -> None:
    """The state is what the corpus wrote: checks the source, so equal-but-wrong sides fail."""
    assert sorted(state) == sorted(corpus.docs)
    wrong = []
    for doc_id, e in corpus.docs.items():
        doc = state[doc_id]
        leaves = doc["leaves"]
        winner = leaves.get(doc["winner"], {})
        atts = {name: a["data_md5"] for name, a in winner.get("_attachments", {}).items()}
        body = message_body(winner)
        got = (doc["deleted"], len(doc["conflicts"] or []), len(leaves), atts, body)
        want = (e.deleted, e.conflicts, e.leaves, e.attachments, e.body)
        if got != want or doc["winner"] != winner_of(leaves):
            wrong.append(f"{doc_id}: got {got} winner {doc['winner']}, want {want}")
    assert not wrong, f"{len(wrong)} documents are not what was written, e.g.\n" + "\n".join(
        wrong[:3]
    )


def assert_couchdb_conflict_order(state: State) -> None:
    """CouchDB lists ``_conflicts`` by descending (position, revision id)."""
    for doc_id, doc in state.items():
        conflicts = doc["conflicts"] or []
        ordered = sorted(conflicts, key=lambda r: (rev_pos(r), rev_id(r)), reverse=True)
        assert conflicts == ordered, f"{doc_id}: _conflicts {conflicts}, CouchDB orders {ordered}"


def without_revpos(state: State) -> State:
    """PouchDB's LevelDB adapter sets an attachment's ``revpos`` to the generation of whichever
    revision brought its data (``saveAttachment``), so after a pull its revpos differ from the
    source's; everything else must still match."""
    return map_attachments(state, lambda _where, att: att | {"revpos": None})


def map_attachments(state: State, change: Callable[[tuple[str, str, str], Doc], Doc]) -> State:
    """``state`` with every leaf's attachments replaced by ``change((id, rev, name), att)``."""
    out: State = {}
    for doc_id, doc in state.items():
        leaves = {}
        for rev, leaf in doc["leaves"].items():
            atts = leaf.get("_attachments")
            if atts is not None:
                changed = {n: change((doc_id, rev, n), a) for n, a in atts.items()}
                leaf = leaf | {"_attachments": changed}
            leaves[rev] = leaf
        out[doc_id] = doc | {"leaves": leaves}
    return out


def assert_attachments_keep_revpos(state: State) -> None:
    """``photo.png`` is only ever written with a message's first revision, then kept as a stub:
    its ``revpos`` stays 1 through every edit (CouchDB's rule, ``couch_att`` keeps revpos)."""
    photos = [
        (doc_id, rev, leaf["_attachments"]["photo.png"]["revpos"])
        for doc_id, doc in state.items()
        for rev, leaf in doc["leaves"].items()
        if "photo.png" in leaf.get("_attachments", {})
    ]
    assert photos and all(revpos == 1 for *_, revpos in photos), photos


async def dump(pouch: PouchDriver, db: str) -> State:
    state: State = await pouch.call("dump", db=db)
    return state


async def server_local_docs(client: aiohttp.ClientSession) -> list[Doc]:
    body = await http_json(client, "GET", f"/{DB}/_local_docs?include_docs=true")
    return [row["doc"] for row in body["rows"]]


def assert_replicated(result: Doc, *, written: int) -> None:
    assert result.get("fatal") is None, result
    assert result["ok"] is True and result["status"] == "complete", result
    assert result["doc_write_failures"] == 0 and result["errors"] == [], result
    assert result["docs_written"] == written, result


# ---------------------------------------------------------------------------------------------
# Scenarios


async def test_push_copies_every_revision_tree_and_attachment(
    pouch: PouchDriver, client: aiohttp.ClientSession
) -> None:
    corpus = await write_corpus(PouchWriter(pouch))

    result = await pouch.call("replicate", source="local", target="remote")

    assert_replicated(result, written=corpus.total_leaves)
    # A full pass from sequence 0 again: _revs_diff finds every revision already there.
    again = await pouch.call("replicate", source="local", target="remote", opts={"since": 0})
    assert_replicated(again, written=0)
    assert (again["changes_seen"], again["docs_read"]) == (N_MESSAGES, 0), again
    local, remote = await dump(pouch, "local"), await dump(pouch, "remote")
    assert_matches_corpus(local, corpus)
    assert_same_state(local, remote, ("pouchdb", "server"))
    assert_couchdb_conflict_order(remote)
    # _local documents stay where they were written; only PouchDB's checkpoint is on ours.
    checkpoints = await server_local_docs(client)
    assert [d.get("replicator") for d in checkpoints] == ["pouchdb"], checkpoints
    for local_id in corpus.locals:
        assert (await pouch.call("get", db="remote", id=local_id)).get("status") == 404
        assert (await pouch.call("get", db="local", id=local_id))["text"] == "unsent draft"


async def test_pull_into_fresh_pouchdb_copies_everything_written_over_http(
    pouch: PouchDriver, client: aiohttp.ClientSession
) -> None:
    corpus = await write_corpus(ServerWriter(client))
    # Attachments added one at a time through the attachment endpoint, too.
    for i in range(1, 200, 20):
        doc_id = f"msg-{i:05d}"
        doc = await http_json(client, "GET", f"/{DB}/{doc_id}")
        data = blob(i, "later.bin", 700)
        await http_json(
            client,
            "PUT",
            f"/{DB}/{doc_id}/later.bin?rev={doc['_rev']}",
            data=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        corpus.docs[doc_id].attachments["later.bin"] = md5_digest(data)

    result = await pouch.call("replicate", source="remote", target="fresh")

    assert_replicated(result, written=corpus.total_leaves)
    remote, fresh = await dump(pouch, "remote"), await dump(pouch, "fresh")
    assert_matches_corpus(remote, corpus)
    assert_couchdb_conflict_order(remote)
    assert_attachments_keep_revpos(remote)
    assert_same_state(without_revpos(remote), without_revpos(fresh), ("server", "pouchdb"))
    for local_id in corpus.locals:
        assert (await pouch.call("get", db="fresh", id=local_id)).get("status") == 404
    # PouchDB checkpoints on the source too: ours now holds the drafts and that checkpoint.
    kept = {d["_id"]: d.get("replicator") for d in await server_local_docs(client)}
    assert sorted(v for k, v in kept.items() if k not in corpus.locals) == ["pouchdb"], kept
    assert set(corpus.locals) <= set(kept)


async def test_conflicting_edits_on_both_sides_converge_to_one_winner(
    pouch: PouchDriver, client: aiohttp.ClientSession
) -> None:
    ids = [f"conv-{i:03d}" for i in range(60)]
    pouch_side: Writer = PouchWriter(pouch)
    server_side: Writer = ServerWriter(client)
    for side, name, deeper, deletes in (
        (pouch_side, "pouchdb", 3, 5),
        (server_side, "server", 4, 7),
    ):
        only = [f"{name}-only-{i}" for i in range(5)]
        rows = await side.bulk_docs([{"_id": d, "side": name, "n": 0} for d in ids + only])
        revs = {r["id"]: r["rev"] for r in rows}
        for n in (1, 2):  # some documents edited deeper on this side
            picked = [d for i, d in enumerate(ids) if i % deeper == 0]
            edits = [{"_id": d, "_rev": revs[d], "side": name, "n": n} for d in picked]
            revs |= {r["id"]: r["rev"] for r in await side.bulk_docs(edits)}
        gone = [
            {"_id": d, "_rev": revs[d], "_deleted": True}
            for i, d in enumerate(ids)
            if i % deletes == 0
        ]
        await side.bulk_docs(gone)

    push = await pouch.call("replicate", source="local", target="remote")
    pull = await pouch.call("replicate", source="remote", target="local")
    assert_replicated(push, written=65)
    assert_replicated(pull, written=60 + 5)

    local, remote = await dump(pouch, "local"), await dump(pouch, "remote")
    assert_same_state(local, remote, ("pouchdb", "server"))
    assert_couchdb_conflict_order(remote)
    assert len(local) == 70
    for doc_id in ids:
        doc = remote[doc_id]
        assert len(doc["leaves"]) == 2, doc
        assert doc["winner"] == winner_of(doc["leaves"]), doc
        live = [r for r, leaf in doc["leaves"].items() if not leaf.get("_deleted")]
        assert doc["deleted"] == (not live)
        assert sorted(doc["conflicts"] or []) == sorted(set(live) - {doc["winner"]})

    # Resolving: the server deletes every losing revision; PouchDB pulls that and agrees.
    for doc_id in ids:
        for loser in remote[doc_id]["conflicts"] or []:
            await http_json(client, "DELETE", f"/{DB}/{doc_id}?rev={loser}")
    pull = await pouch.call("replicate", source="remote", target="local")
    assert pull["docs_written"] > 0, pull
    local, remote = await dump(pouch, "local"), await dump(pouch, "remote")
    assert_same_state(local, remote, ("pouchdb", "server"))
    assert all(not doc["conflicts"] for doc in local.values()), local


async def test_second_replication_resumes_from_its_checkpoint(
    pouch: PouchDriver, client: aiohttp.ClientSession
) -> None:
    corpus = await write_corpus(PouchWriter(pouch))
    first = await pouch.call("replicate", source="local", target="remote")
    assert_replicated(first, written=corpus.total_leaves)

    # PouchDB keeps the same checkpoint on both sides; ours must hand it back unchanged.
    (checkpoint,) = await server_local_docs(client)
    ours = await http_json(client, "GET", f"/{DB}/{checkpoint['_id']}")
    theirs = await pouch.call("get", db="local", id=checkpoint["_id"])
    assert ours == checkpoint
    assert ours["last_seq"] == theirs["last_seq"] == first["last_seq"]
    assert ours["session_id"] == theirs["session_id"]

    changed = await edit_ten(PouchWriter(pouch), pouch, "local")
    second = await pouch.call("replicate", source="local", target="remote")
    assert_replicated(second, written=10)
    assert (second["changes_seen"], second["docs_read"]) == (10, 10), second
    remote = await dump(pouch, "remote")
    assert {d: remote[d]["winner"] for d in changed} == changed

    # The other way: pull everything, change ten on the server, pull only those.
    pulled = await pouch.call("replicate", source="remote", target="fresh")
    assert_replicated(pulled, written=corpus.total_leaves)
    changed = await edit_ten(ServerWriter(client), pouch, "remote", start=500)
    again = await pouch.call("replicate", source="remote", target="fresh")
    assert_replicated(again, written=10)
    assert (again["changes_seen"], again["docs_read"]) == (10, 10), again
    quiet = await pouch.call("replicate", source="remote", target="fresh")
    assert_replicated(quiet, written=0)
    assert quiet["changes_seen"] == 0, quiet
    remote, fresh = await dump(pouch, "remote"), await dump(pouch, "fresh")
    assert_same_state(without_revpos(remote), without_revpos(fresh), ("server", "pouchdb"))


async def edit_ten(writer: Writer, pouch: PouchDriver, db: str, start: int = 1) -> dict[str, str]:
    """Edit ten live messages; returns their new revisions."""
    heads: dict[str, list[Any]] = await pouch.call("heads", db=db)
    picked = [f"msg-{i:05d}" for i in range(start, start + 40) if i % 13 and i % 31 and i % 25][:10]
    edits = [message(int(d[4:])) | {"_rev": heads[d][0], "text": "edited later"} for d in picked]
    rows = await writer.bulk_docs(edits)
    return {r["id"]: r["rev"] for r in rows}


async def test_live_sync_carries_writes_both_ways(
    pouch: PouchDriver, client: aiohttp.ClientSession
) -> None:
    server_side, pouch_side = ServerWriter(client), PouchWriter(pouch)
    await server_side.bulk_docs([message(i) for i in range(20)])
    await pouch_side.bulk_docs([message(i) for i in range(100, 120)])
    await pouch.call("sync_live_start", db="local")
    try:
        await converge(pouch, expect=40)
        # While it runs: new messages on both sides, an edit and a deletion made on ours, a
        # deletion made in PouchDB.
        await server_side.bulk_docs([message(i) for i in range(20, 30)])
        await pouch_side.bulk_docs([message(i) for i in range(120, 130)])
        heads = await pouch.call("heads", db="remote")
        edit = message(105) | {"_rev": heads["msg-00105"][0], "text": "edited on the server"}
        gone = {"_id": "msg-00003", "_rev": heads["msg-00003"][0], "_deleted": True}
        rows = await server_side.bulk_docs([edit, gone])
        (row,) = await pouch_side.bulk_docs(
            [{"_id": "msg-00110", "_rev": heads["msg-00110"][0], "_deleted": True}]
        )
        expected = {r["id"]: r["rev"] for r in [*rows, row]}
        await converge(pouch, expect=60, including=expected)
        status = await pouch.call("sync_live_status")
        assert status["errors"] == [], status
    finally:
        stopped = await pouch.call("sync_live_stop")
    assert stopped["errors"] == [], stopped
    local, remote = await dump(pouch, "local"), await dump(pouch, "remote")
    assert_same_state(local, remote, ("pouchdb", "server"))
    assert local["msg-00105"]["leaves"][expected["msg-00105"]]["text"] == "edited on the server"
    assert local["msg-00003"]["deleted"] and remote["msg-00110"]["deleted"]


async def converge(
    pouch: PouchDriver, *, expect: int, including: dict[str, str] | None = None
) -> None:
    """Wait (bounded) until both sides have the same ``expect`` winners, ``including`` these."""
    deadline = time.monotonic() + CONVERGE_SECONDS
    local: dict[str, Any] = {}
    remote: dict[str, Any] = {}
    while time.monotonic() < deadline:
        local = await pouch.call("heads", db="local")
        remote = await pouch.call("heads", db="remote")
        wanted = all(local.get(d, [None])[0] == r for d, r in (including or {}).items())
        if local == remote and len(local) == expect and wanted:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"no convergence in {CONVERGE_SECONDS}s: {_heads_diff(local, remote)}")


def _heads_diff(local: dict[str, Any], remote: dict[str, Any]) -> str:
    ids: Iterable[str] = sorted(set(local) | set(remote))
    diff = [(d, local.get(d), remote.get(d)) for d in ids if local.get(d) != remote.get(d)]
    return (
        f"pouchdb {len(local)} docs, server {len(remote)}; differ (id, pouchdb, server): {diff[:5]}"
    )


async def test_ids_and_attachment_names_that_need_escaping_round_trip(
    pouch: PouchDriver,
) -> None:
    note = {"content_type": "audio/ogg", "data": b64(blob(0, "memo", 64))}
    docs = [
        {"_id": doc_id, "n": n, "_attachments": {"voice memo ü/1.ogg": note, "x?y#z": note}}
        for n, doc_id in enumerate(ODD_IDS)
    ]
    await pouch.call("bulk_docs", docs=docs)

    push = await pouch.call("replicate", source="local", target="remote")
    pull = await pouch.call("replicate", source="remote", target="fresh")

    assert_replicated(push, written=len(ODD_IDS))
    assert_replicated(pull, written=len(ODD_IDS))
    local, remote = await dump(pouch, "local"), await dump(pouch, "remote")
    assert sorted(remote) == sorted(ODD_IDS)
    assert_same_state(local, remote, ("pouchdb", "server"))
    fresh = await dump(pouch, "fresh")
    assert_same_state(without_revpos(remote), without_revpos(fresh), ("server", "pouchdb"))


async def test_filtered_pulls_take_only_what_they_select(
    pouch: PouchDriver, client: aiohttp.ClientSession
) -> None:
    await ServerWriter(client).bulk_docs([message(i) for i in range(300)])
    room = {"room": "room-3"}
    picked = ["msg-00001", "msg-00007", "msg-00299", "nobody"]

    by_selector = await pouch.call(
        "replicate", source="remote", target="a", opts={"selector": room}
    )
    by_ids = await pouch.call("replicate", source="remote", target="b", opts={"doc_ids": picked})

    assert_replicated(by_selector, written=25)
    assert_replicated(by_ids, written=3)
    assert sorted(await pouch.call("heads", db="a")) == [
        f"msg-{i:05d}" for i in range(300) if i % 12 == 3
    ]
    assert sorted(await pouch.call("heads", db="b")) == picked[:3]
    # A later filtered pull resumes: the room's new message only, nothing re-read.
    await ServerWriter(client).bulk_docs([message(303), message(304)])
    again = await pouch.call("replicate", source="remote", target="a", opts={"selector": room})
    assert_replicated(again, written=1)
    assert again["changes_seen"] == 1, again
