"""A replication corpus, written through the HTTP API of any CouchDB-compatible server.

``write_corpus`` fills a database with 2,000 numbered documents plus awkward ids and design
documents, mostly through ``_bulk_docs`` (a few seconds on either server), with every shape a
replicator must carry:

- edits (generation 4 for every 10th document), deletions (every 13th; every 26th keeps a body);
- conflicts grafted with ``new_edits: false`` off a document's first revision: shallow
  branches (every 17th), branches deeper than the main line so they win (every 34th), a second,
  deleted branch (every 85th), branches with an attachment of their own (every 51st); where the
  main line was deleted (every 221st) the live branch wins over the tombstone;
- resolved conflicts (every 119th): every losing leaf deleted, so only ``_deleted_conflicts``
  remain;
- attachments of compressible types (``text/plain``, ``application/json``, which CouchDB
  stores gzip-encoded) and binary ones (``image/png``, ``application/octet-stream``), small and
  large (20 KB of JSON, 150 KB of random bytes), written with the first revision or added by a
  later edit (``later.txt`` at generation 2 and ``later.png`` at 3 of documents that reach
  generation 4: ``revpos`` below the generation, so a replicator's ``atts_since`` stubs
  matter), and one dropped by an edit;
- ids that need escaping (slashes, spaces, ``%``, ``+``, ``?``, ``#``, ``&``, unicode, emoji),
  with an attachment name that needs escaping too;
- design documents (views, filters, one with an attachment added later);
- ``_local`` documents, which replication must never carry.

``Corpus`` records what each document should end as (``Expected``), and ``assert_corpus``
checks a snapshot against it, so two equally wrong replicas still fail a comparison.
``write_more`` makes a later round of edits on one side, for incremental replication.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from .couch_api import Doc, bulk_docs, get_doc, put_doc

# More than 4 batches of CouchDB's replicator (500 changes per batch) and twice the 1,000 rows
# our server pages _changes by.
N_DOCS = 2000
# One _bulk_docs request carries this many documents: large enough to be fast, small enough
# that a request with inline attachments stays a few MB.
WRITE_BATCH = 500

AWKWARD_IDS = [
    "a/b",
    "a/b/c",
    "with space",
    "100%",
    "%2F",
    "a+b",
    "what?",
    "hash#tag",
    "a?b#c&d=e",
    "ünïcödé",
    "emoji 🎉🚀",
    "mix /%+?#ü🎉",
]
# An attachment name that needs escaping in a URL path.
AWKWARD_ATTACHMENT = "résumé 1+2?#.txt"
# What the corpus must show; a feature no document shows fails the writing, so no comparison
# passes for want of the case it is about.
FEATURES = (
    "attachment note.txt",
    "attachment data.json",
    "attachment pic.png",
    "attachment blob.bin",
    "attachment added at generation 2",
    "attachment added at generation 3",
    "attachment dropped by an edit",
    "design attachment added later",
    "awkward id",
    "edited",
    "deleted",
    "deleted with a body",
    "conflicted",
    "branch with attachments",
    "deleted branch",
    "live branch over a deleted main line",
    "resolved conflict",
    "only deleted conflicts",
)
LOCAL_IDS = ["_local/draft-1", "_local/draft-2", "_local/odd id ü🎉"]
DESIGN_APP = "_design/app"
DESIGN_FILTERS = "_design/filters ü+"


@dataclass(frozen=True, slots=True)
class Leaf:
    rev: str
    deleted: bool
    attachments: frozenset[str]


@dataclass
class Expected:
    """What a document should end as: its leaves (the main line's head and any branches)."""

    main: Leaf
    branches: list[Leaf] = field(default_factory=list)

    @property
    def leaves(self) -> list[Leaf]:
        return [self.main, *self.branches]

    @property
    def winner(self) -> Leaf:
        """CouchDB's rule: live before deleted, then the higher generation, then the rev id."""
        return max(self.leaves, key=lambda leaf: (not leaf.deleted, *rev_key(leaf.rev)))

    @property
    def conflicts(self) -> list[str]:
        return [leaf.rev for leaf in self.leaves if leaf != self.winner and not leaf.deleted]

    @property
    def deleted_conflicts(self) -> list[str]:
        return [leaf.rev for leaf in self.leaves if leaf != self.winner and leaf.deleted]


@dataclass
class Corpus:
    docs: dict[str, Expected]
    # Documents showing each feature; ``write_corpus`` checks every one of ``FEATURES`` has
    # over a feature passes vacuously.
    features: dict[str, list[str]]
    locals: list[str]

    @property
    def doc_count(self) -> int:
        return sum(not e.winner.deleted for e in self.docs.values())

    @property
    def doc_del_count(self) -> int:
        return sum(e.winner.deleted for e in self.docs.values())


def rev_key(rev: str) -> tuple[int, str]:
    pos, _, rev_id = rev.partition("-")
    return int(pos), rev_id


def fake_rev_id(*parts: object) -> str:
    """A revision id as CouchDB makes them (32 hex digits), fixed by its inputs."""
    return hashlib.md5(":".join(map(str, parts)).encode()).hexdigest()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def random_bytes(seed: str, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def text_bytes(seed: str, size: int) -> bytes:
    """Compressible text: repeated words, as a note or a log would be."""
    words = ["lorem", "ipsum", "dolor", "sit", "amet", "héllo", "wörld", "✓", seed]
    rng = random.Random(seed)
    out = " ".join(rng.choice(words) for _ in range(size // 4))
    return out.encode()[:size]


def json_bytes(seed: str, size: int) -> bytes:
    rows = [
        {"row": k, "seed": seed, "value": k * 3 % 17, "label": f"item {k}"} for k in range(size)
    ]
    return json.dumps(rows).encode()[:size]


def inline(content_type: str, data: bytes) -> Doc:
    return {"content_type": content_type, "data": b64(data)}


def body(i: int, **extra: Any) -> Doc:
    return {
        "n": i,
        "kind": ["note", "task", "chat", "file"][i % 4],
        "title": f"document {i}: héllo wörld ✓",
        "tags": [f"t{i % 7}", f"t{i % 11}"],
        "nested": {"a": i % 3, "b": [i, str(i), None, True], "ü🎉": 1.5},
        **extra,
    }


def first_attachments(i: int) -> dict[str, Doc]:
    atts: dict[str, Doc] = {}
    if i % 40 == 0:
        atts["note.txt"] = inline("text/plain", text_bytes(f"note {i}", 300))
    if i % 80 == 0:
        atts["data.json"] = inline("application/json", json_bytes(f"data {i}", 20_000))
    if i % 50 == 0:
        atts["pic.png"] = inline("image/png", random_bytes(f"pic {i}", 2_000))
    if i % 250 == 0:
        atts["blob.bin"] = inline("application/octet-stream", random_bytes(f"blob {i}", 150_000))
    return atts


class _Writer:
    """Writes the corpus and keeps each document's head revision and attachment names."""

    def __init__(self, http: aiohttp.ClientSession, db_url: str) -> None:
        self.http = http
        self.db_url = db_url
        self.docs: dict[str, Expected] = {}
        self.first_rev: dict[str, str] = {}
        self.features: dict[str, list[str]] = {}

    def mark(self, feature: str, doc_id: str) -> None:
        self.features.setdefault(feature, []).append(doc_id)

    async def create(self, docs: list[Doc]) -> None:
        for start in range(0, len(docs), WRITE_BATCH):
            chunk = docs[start : start + WRITE_BATCH]
            rows = await bulk_docs(self.http, self.db_url, chunk)
            for doc, row in zip(chunk, rows, strict=True):
                names = frozenset(doc.get("_attachments", {}))
                self.docs[row["id"]] = Expected(Leaf(row["rev"], False, names))
                self.first_rev[row["id"]] = row["rev"]

    async def update(self, edits: list[tuple[str, Doc, dict[str, Doc] | None]]) -> None:
        """Edit each ``(id, new body, new attachments)``: existing attachments are kept as
        stubs unless ``new attachments`` replaces the set (``None`` keeps them all)."""
        docs = []
        for doc_id, new_body, added in edits:
            head = self.docs[doc_id].main
            atts: dict[str, Doc] = {name: {"stub": True} for name in head.attachments}
            if added is not None:
                atts = {n: a for n, a in atts.items() if n in added} | {
                    n: a for n, a in added.items() if "stub" not in a
                }
            doc = {"_id": doc_id, "_rev": head.rev, **new_body}
            if atts:
                doc["_attachments"] = atts
            docs.append(doc)
        for start in range(0, len(docs), WRITE_BATCH):
            chunk = docs[start : start + WRITE_BATCH]
            rows = await bulk_docs(self.http, self.db_url, chunk)
            for doc, row in zip(chunk, rows, strict=True):
                deleted = bool(doc.get("_deleted"))
                names = frozenset() if deleted else frozenset(doc.get("_attachments", {}))
                self.docs[row["id"]].main = Leaf(row["rev"], deleted, names)

    async def graft(self, branches: list[tuple[str, Doc]]) -> None:
        """Write ``(id, branch)`` with ``new_edits: false``; each branch carries ``_rev`` and
        ``_revisions`` rooted at the document's first revision."""
        docs = [branch for _, branch in branches]
        await bulk_docs(self.http, self.db_url, docs, new_edits=False)
        for doc_id, branch in branches:
            names = frozenset(branch.get("_attachments", {}))
            leaf = Leaf(branch["_rev"], bool(branch.get("_deleted")), names)
            expected = self.docs[doc_id]
            if (
                rev_key(expected.main.rev)[0] == 1
                and branch["_revisions"]["ids"][-1] == (rev_key(expected.main.rev)[1])
            ):
                # A branch off an unedited document's only revision extends it: no conflict.
                expected.main = leaf
            else:
                expected.branches.append(leaf)


def branch_doc(doc_id: str, first_rev: str, device: str, depth: int, **extra: Any) -> Doc:
    ids = [fake_rev_id(doc_id, device, d) for d in range(depth, 1, -1)]
    return {
        "_id": doc_id,
        "_rev": f"{depth}-{ids[0]}",
        "_revisions": {"start": depth, "ids": [*ids, rev_key(first_rev)[1]]},
        "device": device,
        **extra,
    }


async def write_corpus(http: aiohttp.ClientSession, db_url: str, n: int = N_DOCS) -> Corpus:
    """Write the corpus into the (empty) database at ``db_url``; returns what it should hold."""
    w = _Writer(http, db_url)
    numbered = [f"doc-{i:05d}" for i in range(n)]
    await w.create(
        [
            {"_id": d, **body(i), "_attachments": first_attachments(i)}
            for i, d in enumerate(numbered)
        ]
        + [
            {"_id": d, **body(k, awkward=d), "_attachments": {AWKWARD_ATTACHMENT: note(d)}}
            for k, d in enumerate(AWKWARD_IDS)
        ]
        + [
            {
                "_id": DESIGN_APP,
                "language": "javascript",
                "views": {
                    "by_kind": {
                        "map": "function (doc) { if (doc.kind) { emit(doc.kind, doc.n); } }",
                        "reduce": "_count",
                    }
                },
            },
            {
                "_id": DESIGN_FILTERS,
                "filters": {"evens": "function (doc, req) { return doc.n % 2 === 0; }"},
            },
        ]
    )
    for i, d in enumerate(numbered):
        for name in first_attachments(i):
            w.mark(f"attachment {name}", d)
    for d in AWKWARD_IDS:
        w.mark("awkward id", d)

    # Edits: every 10th document three times (later attachments, one dropped), every 17th once
    # (so the branches grafted below off its first revision are conflicts).
    for round_ in (1, 2, 3):
        edits: list[tuple[str, Doc, dict[str, Doc] | None]] = []
        for i in range(n):
            if i % 10 and (round_ > 1 or i % 17):
                continue
            d = numbered[i]
            added: dict[str, Doc] | None = None
            if round_ == 1 and i % 30 == 0:
                added = later(w, d, "later.txt", inline("text/plain", text_bytes(d, 12_000)))
                w.mark("attachment added at generation 2", d)
            if round_ == 2 and i % 70 == 0:
                added = later(w, d, "later.png", inline("image/png", random_bytes(d, 1_500)))
                w.mark("attachment added at generation 3", d)
            if round_ == 3 and i % 80 == 0:
                added = {n: {"stub": True} for n in w.docs[d].main.attachments - {"note.txt"}}
                w.mark("attachment dropped by an edit", d)
            edits.append((d, body(i, edits=round_), added))
        edits.append(
            (AWKWARD_IDS[round_], body(round_, awkward=AWKWARD_IDS[round_], edits=round_), None)
        )
        if round_ == 2:
            html = inline("text/html", text_bytes("index", 5_000))
            edits.append(
                (DESIGN_APP, {"language": "javascript", "views": {}}, {"index.html": html})
            )
            w.mark("design attachment added later", DESIGN_APP)
        await w.update(edits)
    w.mark("edited", numbered[10])

    # Deletions: every 13th; every 26th keeps a body, as CouchDB allows.
    deletions: list[tuple[str, Doc, dict[str, Doc] | None]] = []
    for i in range(0, n, 13):
        extra = {"reason": "spam"} if i % 26 == 0 else {}
        deletions.append((numbered[i], {"_deleted": True, **extra}, {}))
        w.mark("deleted with a body" if extra else "deleted", numbered[i])
    deletions.append((AWKWARD_IDS[5], {"_deleted": True}, {}))
    await w.update(deletions)

    # Conflicts grafted off each document's first revision.
    branches: list[tuple[str, Doc]] = []
    for i in range(0, n, 17):
        d = numbered[i]
        depth = 5 if i % 34 == 0 else 2
        extra: Doc = body(i, offline=True)
        if i % 51 == 0:
            extra["_attachments"] = {
                "branch.txt": inline("text/plain", text_bytes(f"branch {d}", 4_000)),
                "branch.bin": inline("application/octet-stream", random_bytes(d, 700)),
            }
            w.mark("branch with attachments", d)
        branches.append((d, branch_doc(d, w.first_rev[d], "tablet", depth, **extra)))
        if i % 85 == 0:
            phone = branch_doc(d, w.first_rev[d], "phone", 3, _deleted=True)
            branches.append((d, phone))
            w.mark("deleted branch", d)
    odd = AWKWARD_IDS[2]  # edited in round 2, so the branch is a conflict
    branches.append((odd, branch_doc(odd, w.first_rev[odd], "tablet", 3)))
    await w.graft(branches)

    # Resolved conflicts: every losing live leaf deleted.
    resolutions: list[Doc] = []
    for i in range(0, n, 119):
        d = numbered[i]
        expected = w.docs[d]
        for loser in expected.conflicts:
            resolutions.append({"_id": d, "_rev": loser, "_deleted": True})
            w.mark("resolved conflict", d)
    rows = await bulk_docs(http, db_url, resolutions)
    for doc, row in zip(resolutions, rows, strict=True):
        expected = w.docs[doc["_id"]]
        tombstone = Leaf(row["rev"], True, frozenset())
        if expected.main.rev == doc["_rev"]:
            expected.main = tombstone
        expected.branches = [tombstone if b.rev == doc["_rev"] else b for b in expected.branches]

    for local_id in LOCAL_IDS:
        await put_doc(http, db_url, {"_id": local_id, "text": "never replicated", "n": 1})

    corpus = Corpus(w.docs, w.features, list(LOCAL_IDS))
    for d, e in corpus.docs.items():
        if e.conflicts:
            w.mark("conflicted", d)
        if e.deleted_conflicts and not e.conflicts:
            w.mark("only deleted conflicts", d)
        if e.main.deleted and not e.winner.deleted:
            w.mark("live branch over a deleted main line", d)
    missing = [f for f in FEATURES if not corpus.features.get(f)]
    assert not missing, f"the corpus lacks {missing}"
    return corpus


def numbered_doc(i: int, doc_id: str) -> Doc:
    atts = first_attachments(i)
    return {"_id": doc_id, **body(i)} | ({"_attachments": atts} if atts else {})


def note(doc_id: str) -> Doc:
    return inline("text/plain", text_bytes(f"awkward {doc_id}", 800))


def later(w: _Writer, doc_id: str, name: str, att: Doc) -> dict[str, Doc]:
    """The document's attachments kept as stubs, plus ``name``."""
    kept: dict[str, Doc] = {n: {"stub": True} for n in w.docs[doc_id].main.attachments}
    return kept | {name: att}


async def write_more(
    http: aiohttp.ClientSession, db_url: str, corpus: Corpus, *, picks: Iterable[str], tag: str
) -> list[str]:
    """A later round of writes on one side: edit ``picks`` (documents with a single leaf; a text
    attachment added to every other one, the last one deleted) and create five new documents.
    Returns every id written (what an incremental replication must read); updates ``corpus``."""
    written: list[str] = []
    docs: list[Doc] = []
    picked = list(picks)
    for k, doc_id in enumerate(picked):
        current = await get_doc(http, db_url, doc_id)
        current["edited_on"] = tag
        if doc_id == picked[-1]:
            current = {"_id": doc_id, "_rev": current["_rev"], "_deleted": True}
        elif k % 2 == 0:
            current.setdefault("_attachments", {})[f"{tag}.txt"] = inline(
                "text/plain", text_bytes(f"{tag} {doc_id}", 3_000)
            )
        docs.append(current)
    docs += [{"_id": f"{tag}-new-{k}", **body(k, tag=tag)} for k in range(5)]
    rows = await bulk_docs(http, db_url, docs)
    for doc, row in zip(docs, rows, strict=True):
        names = frozenset(doc.get("_attachments", {}))
        if row["id"] in corpus.docs:
            corpus.docs[row["id"]].main = Leaf(row["rev"], bool(doc.get("_deleted")), names)
        else:
            corpus.docs[row["id"]] = Expected(Leaf(row["rev"], False, names))
        written.append(row["id"])
    return written


def single_leaf_ids(corpus: Corpus, count: int, *, offset: int) -> list[str]:
    """``count`` numbered documents with one live leaf, from the ``offset``-th such one on."""
    plain = [
        d
        for d, e in corpus.docs.items()
        if d.startswith("doc-") and not e.branches and not e.main.deleted
    ]
    return plain[offset : offset + count]
