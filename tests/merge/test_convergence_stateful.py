"""Convergence of merged replicas, as a state machine: three replicas (two embedded stores and
one database on our server), each writing through a ``StampingStore`` with a skewed clock (one
an hour behind), make random edits of settings (merged field by field) and usage counters (last
writer wins, with a CRDT counter), replicate in random directions and resolve at random. Once
the mesh is synced and resolved until quiet:

- every replica holds the same documents, none with ``_conflicts``;
- each counter equals the sum of every increment made anywhere;
- every settings field holds a value some replica wrote there;
- quiet comes within a bounded number of sync-and-resolve rounds: replicas resolving the same
  conflict write the same revisions, so resolving never creates new conflicts (no ping-pong).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from pathlib import Path
from typing import Any

import pytest
from couch import CouchServer
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule, run_state_machine_as_test
from peers import fresh_database
from replication.test_convergence_stateful import server_url  # noqa: F401  (module fixture)

from brainlink_docs.errors import NotFound
from brainlink_docs.merge import crdt
from brainlink_docs.merge.fields import user_fields
from brainlink_docs.merge.policies import Policies, Policy
from brainlink_docs.merge.records import record_ids
from brainlink_docs.merge.resolver import RESOLUTION_PREFIX, resolve_all
from brainlink_docs.merge.stamping import StampingStore
from brainlink_docs.replication import ReplicationOptions, replicate
from brainlink_docs.store.api import DocumentStore, ReadOptions, iter_changes
from brainlink_docs.store.sqlite import SqliteStore

STEP_COUNT = 25
MAX_EXAMPLES = max(1, settings.default.max_examples // 4)
REPLICAS = ("laptop", "desktop", "server")
# Wall-clock skew per replica: the desktop is an hour behind, the server five seconds ahead.
SKEW_MS = {"laptop": 0, "desktop": -3_600_000, "server": 5_000}
PAIRS = st.permutations(REPLICAS).map(lambda names: (names[0], names[1]))
SETTINGS_IDS = st.sampled_from(["settings:a", "settings:b"])
FIELDS = st.sampled_from(["theme", "font", "layout/left", "layout/right"])
VALUES = st.integers(min_value=0, max_value=4)
POLICIES = Policies(
    {
        "usage": Policy("lww", {"/tokens": "counter"}),
        "settings": Policy(keyed_lists=("/panels",)),
    }
)
PANEL_IDS = st.sampled_from(["editor", "terminal", "chat"])
# Rounds of (full-mesh sync, resolve everywhere) before the mesh must be quiet: the first
# carries every edit and resolves, the second carries the (identical) resolutions, the third
# must find nothing at all.
MAX_ROUNDS = 3
ALL_LEAVES = ReadOptions()


def test_merged_replicas_converge_with_no_resolution_ping_pong(
    server_url: str,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    run_state_machine_as_test(
        lambda: MergedConvergence(server_url, tmp_path_factory.mktemp("merged")),
        settings=settings(max_examples=MAX_EXAMPLES, stateful_step_count=STEP_COUNT, deadline=None),
    )


def test_the_same_with_the_real_couchdb_as_the_server_replica(
    couchdb: CouchServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """CouchDB keeps the resolutions' revision ids (``new_edits=false``) and the plain edits
    its own clients would make; it converges with the devices just the same."""
    run_state_machine_as_test(
        lambda: MergedConvergence(couchdb.url, tmp_path_factory.mktemp("merged-couch")),
        settings=settings(max_examples=MAX_EXAMPLES, stateful_step_count=STEP_COUNT, deadline=None),
    )


class MergedConvergence(RuleBasedStateMachine):
    def __init__(self, url: str, directory: Path) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.run = self.loop.run_until_complete
        self.resources = contextlib.AsyncExitStack()
        self.ticks = 0
        stores: dict[str, DocumentStore] = {}
        for name in REPLICAS[:2]:
            store = self.run(SqliteStore.open(directory / f"{name}.sqlite", name=name))
            self.resources.push_async_callback(store.close)
            stores[name] = store
        database = fresh_database(url, f"merged-{uuid.uuid4().hex[:12]}")
        stores["server"] = self.run(self.resources.enter_async_context(database))
        self.plain = stores
        self.replicas = {
            name: StampingStore(store, name, now_ms=self.clock_of(name), policies=POLICIES)
            for name, store in stores.items()
        }
        self.increments = 0
        self.written: dict[tuple[str, str], set[int]] = {}
        self.panel_widths: dict[tuple[str, str], set[int]] = {}
        self.closed: set[tuple[str, str]] = set()
        self.steps = 0

    def clock_of(self, replica: str) -> Any:
        def now_ms() -> int:
            self.ticks += 7
            return 1_800_000_000_000 + self.ticks + SKEW_MS[replica]

        return now_ms

    @rule(replica=st.sampled_from(REPLICAS), doc_id=SETTINGS_IDS, field=FIELDS, value=VALUES)
    def edit(self, replica: str, doc_id: str, field: str, value: int) -> None:
        self.steps += 1
        self.run(self._edit(self.replicas[replica], doc_id, field, value))

    async def _edit(self, store: DocumentStore, doc_id: str, field: str, value: int) -> None:
        current = await _winner(store, doc_id)
        if current is None and store in self.plain.values():
            return  # plain clients edit what the app created (a creation has no base to merge on)
        self.written.setdefault((doc_id, field), set()).add(value)
        kept = {k: v for k, v in current.items() if not k.startswith("_")} if current else {}
        body = {"type": "settings", **kept}
        node = body
        *parents, last = field.split("/")
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
        await store.put({**body, "_id": doc_id, **_rev_of(current)})

    @rule(replica=st.sampled_from(REPLICAS), doc_id=SETTINGS_IDS, field=FIELDS, value=VALUES)
    def plain_edit(self, replica: str, doc_id: str, field: str, value: int) -> None:
        """A plain CouchDB client's edit: the same change, written without clocks (it copies
        the ``$merge`` it read, now stale); the merge falls back to three-way for it."""
        self.steps += 1
        self.run(self._edit(self.plain[replica], doc_id, field, value))

    @rule(
        replica=st.sampled_from(REPLICAS),
        doc_id=SETTINGS_IDS,
        panel=PANEL_IDS,
        width=st.none() | VALUES,
    )
    def panel(self, replica: str, doc_id: str, panel: str, width: int | None) -> None:
        """Open a panel (at the end) or set its width, or close it (``width`` None): edits of
        a list of records keyed by id."""
        self.steps += 1
        self.run(self._panel(self.replicas[replica], doc_id, panel, width))

    async def _panel(
        self, store: DocumentStore, doc_id: str, panel: str, width: int | None
    ) -> None:
        current = await _winner(store, doc_id)
        if current is None:
            return
        panels = [p for p in current.get("panels", []) if p.get("id") != panel]
        if len(panels) < len(current.get("panels", [])):
            self.closed.add((doc_id, panel))
        if width is not None:
            self.panel_widths.setdefault((doc_id, panel), set()).add(width)
            panels.append({"id": panel, "width": width})
        body = {k: v for k, v in current.items() if not k.startswith("_")}
        await store.put({**body, "panels": panels, "_id": doc_id, "_rev": current["_rev"]})

    @rule(replica=st.sampled_from(REPLICAS), amount=st.integers(min_value=1, max_value=5))
    def count(self, replica: str, amount: int) -> None:
        self.steps += 1
        self.increments += amount
        self.run(self._count(self.replicas[replica], replica, amount))

    async def _count(self, store: StampingStore, replica: str, amount: int) -> None:
        """The natural increment: on the winner as read. Its entry for this replica may be
        stale (the replica's earlier increment sitting in a losing leaf); ``StampingStore``
        rebases the edit on every leaf, or the per-replica maximum would lose increments."""
        current = await _winner(store, "usage")
        tokens = current["tokens"] if current else {}
        body = {"type": "usage", "tokens": crdt.increment(tokens, replica, amount)}
        await store.put({**body, "_id": "usage", **_rev_of(current)})

    @rule(direction=PAIRS)
    def replicate(self, direction: tuple[str, str]) -> None:
        self.steps += 1
        source, target = direction
        self.run(_replicate(self.replicas[source], self.replicas[target]))

    @rule(replica=st.sampled_from(REPLICAS))
    def resolve(self, replica: str) -> None:
        self.steps += 1
        for resolution in self.run(resolve_all(self.replicas[replica], POLICIES)):
            assert resolution.ok, resolution

    @rule()
    def converge_and_compare(self) -> None:
        self.steps += 1
        self.run(self._converge_and_compare())

    async def _converge_and_compare(self) -> None:
        for _round in range(MAX_ROUNDS):
            moved = 0
            for source in REPLICAS:
                for target in REPLICAS:
                    if source != target:
                        moved += await _replicate(self.replicas[source], self.replicas[target])
            resolved = [len(await resolve_all(s, POLICIES)) for s in self.replicas.values()]
            if moved == 0 and not any(resolved):
                break
        else:
            raise AssertionError(f"still moving or resolving after {MAX_ROUNDS} rounds")
        views = {name: await _documents(store) for name, store in self.replicas.items()}
        first = views[REPLICAS[0]]
        for name, view in views.items():
            assert view == first, f"{name} differs from {REPLICAS[0]}"
        for doc_id, doc in first.items():
            assert "_conflicts" not in doc, doc_id
            if doc_id == "usage":
                assert crdt.counter_value(doc["tokens"]) == self.increments
            elif doc_id.startswith("settings:"):
                self._check_values_were_written(doc_id, user_fields(doc))
                self._check_panels(doc_id, doc.get("panels", []))

    def _check_values_were_written(self, doc_id: str, body: dict[str, Any]) -> None:
        for (written_id, field), values in self.written.items():
            if written_id != doc_id:
                continue
            node: Any = body
            for key in field.split("/"):
                node = node[key]
            assert node in values, (doc_id, field, node, values)

    def _check_panels(self, doc_id: str, panels: list[dict[str, Any]]) -> None:
        """A list of records with distinct ids, each with a width some replica gave it, and
        every panel opened somewhere and closed nowhere is there (as one list value, two
        devices opening a panel each would keep only one)."""
        assert record_ids(panels) is not None, panels
        for panel in panels:
            assert panel["width"] in self.panel_widths[(doc_id, panel["id"])], panel
        shown = {panel["id"] for panel in panels}
        for doc, panel_id in self.panel_widths:
            if doc == doc_id and (doc, panel_id) not in self.closed:
                assert panel_id in shown, (doc_id, panel_id, panels)

    def teardown(self) -> None:
        self.run(self.resources.aclose())
        self.loop.close()


async def _winner(store: DocumentStore, doc_id: str) -> dict[str, Any] | None:
    try:
        return await store.get(doc_id)
    except NotFound:
        return None


def _rev_of(doc: dict[str, Any] | None) -> dict[str, str]:
    return {} if doc is None else {"_rev": doc["_rev"]}


async def _replicate(source: DocumentStore, target: DocumentStore) -> int:
    result = await replicate(source, target, ReplicationOptions(batch_size=2))
    assert result.failures == [], result.failures
    return result.stats["missing_found"]


async def _documents(store: DocumentStore) -> dict[str, dict[str, Any]]:
    """Every live document with its conflicts (resolution records included)."""
    out = {}
    async for change in iter_changes(store):
        if change.deleted:
            continue
        doc = await store.get(change.id, options=ReadOptions(conflicts=True))
        out[change.id] = doc
    assert all(not k.startswith(RESOLUTION_PREFIX) or "type" in v for k, v in out.items())
    return out
