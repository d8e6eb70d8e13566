"""``StampingStore`` on every backend: edits carry clocks that order them as they were made,
unchanged fields keep theirs, replicated writes pass untouched."""

from __future__ import annotations

from conftest import StoreFactory

from brainlink_docs.merge import crdt
from brainlink_docs.merge.fields import META, doc_clock, state_of, user_fields
from brainlink_docs.merge.policies import Policies, Policy
from brainlink_docs.merge.resolver import resolve_all
from brainlink_docs.merge.stamping import StampingStore
from brainlink_docs.replication import sync
from brainlink_docs.store.api import ReadOptions


async def test_edits_are_stamped_and_unchanged_fields_keep_their_clocks(
    store_factory: StoreFactory,
) -> None:
    store = StampingStore(
        await store_factory("stamped"), "laptop", now_ms=iter(range(100, 10**6)).__next__
    )
    first = await store.put({"_id": "s", "theme": "dark", "layout": {"left": 1}})
    doc = await store.get("s")
    state = state_of(doc)
    assert state is not None and user_fields(doc) == {"theme": "dark", "layout": {"left": 1}}
    await store.bulk_docs([{**doc, "_rev": first.rev, "theme": "light"}])
    edited = await store.get("s")
    clocks = {p: e.clock for p, e in (state_of(edited) or {}).items()}
    before = {p: e.clock for p, e in state.items()}
    assert clocks[("layout", "left")] == before[("layout", "left")]
    assert clocks[("theme",)] > before[("theme",)]
    assert doc_clock(edited) == store.last_clock
    replicated = {"_id": "r", "_rev": "1-" + "a" * 32, "plain": True}
    await store.bulk_docs([replicated], new_edits=False)
    assert META not in await store.get("r")
    for special in ("_local/checkpoint", "_design/app"):
        await store.put({"_id": special, "n": 1})
        assert META not in await store.get(special)


async def test_an_edit_made_after_seeing_another_wins_even_with_a_slow_clock(
    store_factory: StoreFactory,
) -> None:
    """The desktop's wall clock is an hour behind the laptop's. It syncs, sees the laptop's
    edit, edits the same field: after the next sync and resolution its value is the one kept
    (a plain wall-clock comparison would have kept the laptop's older edit)."""
    laptop = StampingStore(await store_factory("laptop"), "laptop", now_ms=lambda: 3_600_000)
    desktop = StampingStore(await store_factory("desktop"), "desktop", now_ms=lambda: 5)
    await laptop.put({"_id": "s", "title": "draft"})
    await sync(laptop, desktop)
    seen = await desktop.get("s")
    await desktop.put({**seen, "title": "final"})
    # Meanwhile the laptop, not having seen it, edits another field: a conflict.
    mine = await laptop.get("s")
    await laptop.put({**mine, "subtitle": "new"})
    await sync(laptop, desktop)
    await resolve_all(laptop)
    await resolve_all(desktop)
    await sync(laptop, desktop)
    for store in (laptop, desktop):
        assert user_fields(await store.get("s")) == {"title": "final", "subtitle": "new"}


async def test_an_increment_of_a_conflicted_counter_keeps_every_leafs_counts(
    store_factory: StoreFactory,
) -> None:
    """The laptop increments the leaf where its own earlier increment is missing (the phone's,
    as happens when that leaf wins): the edit is rebased on every leaf, so after resolution
    nothing is lost (without it the per-replica maximum would keep 5, not 5 + 1)."""
    policies = Policies({"usage": Policy("lww", {"/tokens": "counter"})})
    laptop = StampingStore(await store_factory("laptop"), "laptop", policies=policies)
    phone = StampingStore(await store_factory("phone"), "phone", policies=policies)
    await laptop.put({"_id": "usage", "type": "usage", "tokens": {}})
    await sync(laptop, phone)
    for store, replica, amount in ((laptop, "laptop", 5), (phone, "phone", 7)):
        doc = await store.get("usage")
        await store.put({**doc, "tokens": crdt.increment(doc["tokens"], replica, amount)})
    await sync(laptop, phone)
    leaves = [r["ok"] for r in await laptop.open_revs("usage", None, ReadOptions())]
    (stale,) = [leaf for leaf in leaves if "laptop" not in leaf["tokens"].get("p", {})]
    await laptop.put({**stale, "tokens": crdt.increment(stale["tokens"], "laptop", 1)})
    await resolve_all(laptop, policies)
    assert crdt.counter_value((await laptop.get("usage"))["tokens"]) == 5 + 7 + 1
