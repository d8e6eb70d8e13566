"""Sealed values through the conflict merger: a merge must never splice two sealed values.

A sealed value is one thing: its ``kid``, ``iv`` and ``encrypted`` only open together. The
default field-by-field merge sees three leaves and may take each from another edit: a device
rotates the key (``kid``, ``iv``, ``encrypted`` change) while another, offline, re-seals a new
token under the old key (``iv``, ``encrypted`` change, ``kid`` does not); the merge keeps the
new ``kid`` with the old key's ciphertext, and the credential no longer opens. Found while
building rotation; fixed in ``merge/fields.py``: a sealed value is one leaf of the field state,
so every strategy takes it whole from one edit.
"""

from __future__ import annotations

from brainlink_docs.credentials import Key, Keyring, open_sealed, seal
from brainlink_docs.merge.policies import Policies, Policy
from brainlink_docs.merge.resolver import resolve_all
from brainlink_docs.merge.stamping import StampingStore
from brainlink_docs.replication.options import ReplicationOptions
from brainlink_docs.replication.replicate import replicate
from brainlink_docs.store.sqlite import SqliteStore

OLD, NEW = Key(bytes(32)), Key(bytes(range(32)))
DOC_ID = "u/1/integration/9"


async def rotated_here_resealed_there(policies: Policies) -> str:
    """The credential after a rotation on one replica and a concurrent, later re-seal under the
    old key on another, replicated both ways and resolved."""
    a = await SqliteStore.open(":memory:", name="a")
    b = await SqliteStore.open(":memory:", name="b")
    try:
        # B's clock is ahead: its edit is the later one
        on_a = StampingStore(a, "A", now_ms=lambda: 1_000, policies=policies)
        on_b = StampingStore(b, "B", now_ms=lambda: 2_000, policies=policies)
        await on_a.put(
            {"_id": DOC_ID, "type": "integration", "credentials": seal(OLD, DOC_ID, "v1")}
        )
        await replicate(a, b, ReplicationOptions())
        doc = await a.get(DOC_ID)
        await on_a.put({**doc, "credentials": seal(NEW, DOC_ID, "v1")})
        doc = await b.get(DOC_ID)
        await on_b.put({**doc, "credentials": seal(OLD, DOC_ID, "v2")})
        await replicate(a, b, ReplicationOptions())
        await replicate(b, a, ReplicationOptions())
        await resolve_all(a, policies)
        merged = await a.get(DOC_ID)
        return open_sealed(Keyring([OLD, NEW]), DOC_ID, merged["credentials"]).reveal()
    finally:
        await a.close()
        await b.close()


async def test_the_default_merge_keeps_a_sealed_value_whole() -> None:
    assert await rotated_here_resealed_there(Policies()) == "v2"


async def test_last_writer_wins_keeps_a_sealed_value_whole() -> None:
    policies = Policies({"integration": Policy(strategy="lww")})
    assert await rotated_here_resealed_there(policies) == "v2"
