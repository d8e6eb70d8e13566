"""The resolver on every backend (embedded, our server, the real CouchDB, pouchdb-server): two
replicas edit the same document offline, sync, and each resolves the conflict on its own; the
merges are the ones the policy promises, both replicas wrote the same revisions, and syncing
again adds no conflict (no resolution ping-pong)."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import StoreFactory

from brainlink_docs.merge import crdt
from brainlink_docs.merge.clock import Hlc, tick
from brainlink_docs.merge.fields import doc_clock, stamp, user_fields
from brainlink_docs.merge.policies import Policies, Policy
from brainlink_docs.merge.resolver import RESOLUTION_PREFIX, resolve_all
from brainlink_docs.merge.stamping import StampingStore
from brainlink_docs.replication import sync
from brainlink_docs.store.api import DocumentStore, ReadOptions

CONFLICTS = ReadOptions(conflicts=True)
POLICIES = Policies({"usage": Policy("lww", {"/tokens": "counter"})})


async def edit(
    store: DocumentStore, doc_id: str, change: dict[str, Any], now: int, replica: str
) -> None:
    """An edit made through the merger: the new body stamped after the revision it came from."""
    current = await store.get(doc_id)
    body = {**user_fields(current), **change}
    written = stamp(current, body, tick(doc_clock(current), now, replica))
    await store.put({**written, "_id": doc_id, "_rev": current["_rev"]})


async def conflicted_pair(
    store_factory: StoreFactory, first: dict[str, Any]
) -> tuple[DocumentStore, DocumentStore]:
    laptop, desktop = await store_factory("laptop"), await store_factory("desktop")
    await laptop.put({"_id": "doc", **stamp(None, first, Hlc(1000, 0, "laptop"))})
    await sync(laptop, desktop)
    return laptop, desktop


async def test_field_merge_keeps_both_devices_edits_and_resolving_twice_agrees(
    store_factory: StoreFactory,
) -> None:
    laptop, desktop = await conflicted_pair(
        store_factory, {"type": "settings", "theme": "dark", "layout": {"left": 200, "right": 300}}
    )
    await edit(laptop, "doc", {"theme": "light"}, 2000, "laptop")
    await edit(desktop, "doc", {"layout": {"left": 250, "right": 300}}, 1500, "desktop")
    await sync(laptop, desktop)
    assert len((await laptop.get("doc", options=CONFLICTS))["_conflicts"]) == 1
    on_laptop = await resolve_all(laptop)
    on_desktop = await resolve_all(desktop)
    assert [r.merged_rev for r in on_laptop] == [r.merged_rev for r in on_desktop]
    assert all(r.ok for r in on_laptop + on_desktop)
    await sync(laptop, desktop)
    for store in (laptop, desktop):
        doc = await store.get("doc", options=CONFLICTS)
        assert "_conflicts" not in doc
        assert user_fields(doc) == {
            "type": "settings",
            "theme": "light",
            "layout": {"left": 250, "right": 300},
        }
        assert doc["_rev"] == on_laptop[0].merged_rev
    assert await resolve_all(laptop) == []


async def test_counters_add_up_whatever_strategy_the_document_has(
    store_factory: StoreFactory,
) -> None:
    laptop, desktop = await conflicted_pair(
        store_factory, {"type": "usage", "tokens": crdt.increment({}, "laptop", 3)}
    )
    for store, replica, amount, now in ((laptop, "laptop", 5, 2000), (desktop, "desktop", 7, 1500)):
        tokens = (await store.get("doc"))["tokens"]
        await edit(store, "doc", {"tokens": crdt.increment(tokens, replica, amount)}, now, replica)
    await sync(laptop, desktop)
    resolved = await resolve_all(laptop, POLICIES)
    assert [r.strategy for r in resolved] == ["lww"]
    await resolve_all(desktop, POLICIES)
    await sync(laptop, desktop)
    for store in (laptop, desktop):
        doc = await store.get("doc", options=CONFLICTS)
        assert "_conflicts" not in doc
        assert crdt.counter_value(doc["tokens"]) == 3 + 5 + 7
    record = await laptop.get(f"{RESOLUTION_PREFIX}doc:{resolved[0].merged_rev}")
    assert record["losing_revs"] == list(resolved[0].losing_revs)


async def test_panels_added_on_two_devices_are_both_kept(store_factory: StoreFactory) -> None:
    """Written through ``StampingStore`` with a policy keying ``/panels`` by id: each device's
    new panel and each one's edit of a different panel survive the merge."""
    policies = Policies({"workspace": Policy(keyed_lists=("/panels",))})
    laptop = StampingStore(await store_factory("laptop"), "laptop", policies=policies)
    desktop = StampingStore(await store_factory("desktop"), "desktop", policies=policies)
    editor, terminal = {"id": "editor", "w": 1}, {"id": "terminal", "w": 1}
    await laptop.put({"_id": "ws", "type": "workspace", "panels": [editor, terminal]})
    await sync(laptop, desktop)
    for store, panels in (
        (laptop, [{**editor, "w": 2}, terminal, {"id": "chat"}]),
        (desktop, [editor, {**terminal, "w": 3}, {"id": "files"}]),
    ):
        await store.put({**await store.get("ws"), "panels": panels})
    await sync(laptop, desktop)
    resolved = [await resolve_all(store, policies) for store in (laptop, desktop)]
    assert resolved[0][0].merged_rev == resolved[1][0].merged_rev
    await sync(laptop, desktop)
    for store in (laptop, desktop):
        doc = await store.get("ws", options=CONFLICTS)
        assert "_conflicts" not in doc
        assert sorted(doc["panels"], key=lambda p: p["id"]) == [
            {"id": "chat"},
            {"id": "editor", "w": 2},
            {"id": "files"},
            {"id": "terminal", "w": 3},
        ]


async def test_a_document_without_conflicts_is_left_alone(store_factory: StoreFactory) -> None:
    store = await store_factory("alone")
    await store.put({"_id": "doc", "n": 1})
    before = (await store.get("doc"))["_rev"]
    assert await resolve_all(store) == []
    assert (await store.get("doc"))["_rev"] == before


@pytest.mark.parametrize("strategy", ["fields", "lww"])
def test_policies_survive_their_json(strategy: str) -> None:
    policies = Policies({"chat": Policy(strategy, {"/tags": "set"})}, Policy("lww"))  # type: ignore[arg-type]
    assert Policies.from_json(policies.to_json()) == policies
