"""Helpers shared by the store contract tests: revisions, replicated histories, edit chains."""

from __future__ import annotations

import base64
import hashlib
import zlib
from collections.abc import Iterable, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from brainlink_docs.store.api import DocumentStore

# Property tests run once per backend against a function-scoped ``store``: fewer examples.
STORE_EXAMPLES = settings(
    max_examples=max(10, settings.default.max_examples // 4),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

# Binary content type: CouchDB may gzip text/* types on disk; this it stores as sent.
BIN = "application/octet-stream"


# The real CouchDB: where it differs from us on purpose, tests assert each side's behaviour.
COUCHDB = "http-couchdb"


def backend(request: pytest.FixtureRequest) -> str:
    """The backend a contract test runs on: ``sqlite``, ``http``, ``http-couchdb``... (the param
    of the shared ``store_factory``, or of ``store`` under ``store_http.pouchdb_backend``)."""
    params = request.node.callspec.params
    return str(params.get("store_factory") or params["store"])


def gen(rev: str) -> int:
    return int(rev.split("-", 1)[0])


def rev(n: int, digit: str) -> str:
    """A well-formed revision whose id sorts by ``digit`` (``rev(2, "b") > rev(2, "a")``)."""
    return f"{n}-{digit * 32}"


def revisions(path: list[str]) -> dict[str, Any]:
    """CouchDB's ``_revisions`` for a history given oldest first."""
    return {"start": gen(path[-1]), "ids": [r.split("-", 1)[1] for r in reversed(path)]}


def replicated(
    doc_id: str, path: list[str], *, deleted: bool = False, **fields: Any
) -> dict[str, Any]:
    """A document carrying one history (oldest first), as a replicator sends it."""
    doc: dict[str, Any] = {"_id": doc_id, "_rev": path[-1], "_revisions": revisions(path)}
    doc.update(fields)
    if deleted:
        doc["_deleted"] = True
    return doc


async def write(store: DocumentStore, *docs: dict[str, Any]) -> None:
    """Write ``docs`` as a replicator would (``new_edits=False``); every row must be ok."""
    results = await store.bulk_docs(list(docs), new_edits=False)
    assert all(r.ok for r in results), results


def path_of(doc: dict[str, Any]) -> list[str]:
    """A read ``_revisions`` as rev strings, newest first."""
    start = doc["_revisions"]["start"]
    return [f"{start - i}-{h}" for i, h in enumerate(doc["_revisions"]["ids"])]


async def edits(
    store: DocumentStore, doc_id: str, count: int, *, key: str = "n", **fields: Any
) -> list[str]:
    """``count`` successive edits of ``doc_id`` (``key`` counts 0, 1, ...); revs oldest first."""
    revs: list[str] = []
    for n in range(count):
        doc: dict[str, Any] = {"_id": doc_id, key: n, **fields}
        if revs:
            doc["_rev"] = revs[-1]
        result = await store.put(doc)
        assert result.rev is not None
        revs.append(result.rev)
    return revs


def md5_digest(data: bytes) -> str:
    """CouchDB's attachment digest of ``data``: ``md5-`` and the base64 of its MD5."""
    return "md5-" + base64.b64encode(hashlib.md5(data).digest()).decode("ascii")


def gzip_at(data: bytes, level: int) -> bytes:
    """``data`` gzipped as CouchDB's couch_stream does (deflate, window 31, memory level 8),
    written here with zlib directly so the store's own gzip is checked, not reused."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS, 8)
    return compressor.compress(data) + compressor.flush()


def inline(data: bytes, content_type: str = BIN) -> dict[str, Any]:
    """An inline attachment: ``data`` as base64."""
    return {"content_type": content_type, "data": base64.b64encode(data).decode("ascii")}


# --- trees of token paths -----------------------------------------------------------------------
# The laws build revision trees from edit histories: token paths from a shared root, each
# revision named by the md5 of its token prefix (so paths sharing a prefix share revisions).


def rev_of(tokens: Sequence[str]) -> str:
    return f"{len(tokens) + 1}-{hashlib.md5('/'.join(['root', *tokens]).encode()).hexdigest()}"


def rev_path(tokens: Sequence[str]) -> list[str]:
    """The revisions of a token path, oldest (the root) first."""
    return [rev_of(tokens[:i]) for i in range(len(tokens) + 1)]


def leaf_paths(paths: Iterable[Sequence[str]]) -> set[tuple[str, ...]]:
    """The token paths no other path extends: the leaves of the tree they build."""
    ends = {tuple(p) for p in paths}
    return {p for p in ends if not any(len(q) > len(p) and q[: len(p)] == p for q in ends)}
