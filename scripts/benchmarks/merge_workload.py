"""The merger benchmark's documents, their edits, and the stores it measures on.

Documents are Brainlink's workspace settings (``type: workspace_settings``, about 450 bytes
before the merger's ``$merge``): a theme, a font size, a layout, panels, notification
switches and an ``/usage/opens`` counter (a CRDT: ``POLICIES``). Each replica's offline edit
changes one field of its own (``EDITS``) and counts one open, so a merge is right when every
replica's field change and every increment are there (``expected``).

``build_conflicted`` makes the conflicted database every resolution row starts from: the
documents written once through a ``StampingStore`` ("seed"), copied to three replicas, edited
there through each replica's ``StampingStore`` (so every leaf carries clocks), and all three
leaves (and their base) written into one database with ``new_edits=False``, as replication
would leave them: N documents of three live leaves each.
"""

from __future__ import annotations

import copy
import random
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import orjson

from brainlink_docs.merge import crdt
from brainlink_docs.merge.fields import from_pointer, set_at, user_fields
from brainlink_docs.merge.policies import Policies, Policy
from brainlink_docs.merge.resolver import RESOLUTION_PREFIX
from brainlink_docs.merge.stamping import StampingStore
from brainlink_docs.store.api import (
    AllDocsQuery,
    ChangesQuery,
    Doc,
    DocumentStore,
    ReadOptions,
    iter_all_docs,
    iter_changes,
)
from brainlink_docs.store.sqlite import SqliteStore

SETTINGS_TYPE = "workspace_settings"
COUNTER = "/usage/opens"
# Settings merge field by field; the open counter adds up every replica's increments.
POLICIES = Policies({SETTINGS_TYPE: Policy("fields", {COUNTER: "counter"})})
# Each replica's offline edit: one field of its own, to a value no generated document has.
EDITS = {
    "laptop": ("/theme", "high-contrast"),
    "phone": ("/font_size", 21),
    "tablet": ("/layout/left", "outline"),
}
REPLICAS = tuple(EDITS)
# A replication batch, and a device's import: documents per bulk_docs.
BATCH_SIZE = 1_000
# Fixed, so every run writes byte-identical documents (each one seeded by its number too, so
# document i is the same whatever N is).
SEED = 20_250_118
THEMES = ("dark", "light", "solarized", "system")
PANELS = ("chats", "files", "context", "prompts", "models", "search")
MODELS = ("gpt-4o", "claude-3-5-sonnet", "llama-3.1-70b", "mistral-large")
WITH_HISTORY = ReadOptions(revs=True)


def settings_doc(i: int) -> Doc:
    """Workspace ``i``'s settings, as the app first writes them."""
    rng = random.Random(SEED * 1_000_003 + i)
    workspace = f"ws-{i:07d}"
    return {
        "_id": f"settings:{workspace}",
        "type": SETTINGS_TYPE,
        "workspace_id": workspace,
        "theme": rng.choice(THEMES),
        "font_size": rng.randint(11, 18),
        "model": rng.choice(MODELS),
        "layout": {
            "left": rng.choice(PANELS),
            "right": rng.choice(PANELS),
            "width": rng.randint(240, 480),
        },
        "panels": rng.sample(PANELS, 3),
        "notifications": {
            "push": rng.random() < 0.5,
            "email": rng.random() < 0.5,
            "digest": rng.choice(("off", "daily", "weekly")),
        },
        "shortcuts": {"send": "mod+enter", "search": "mod+k", "new_chat": "mod+n"},
        "usage": {"opens": {"p": {"seed": rng.randint(1, 50)}}},
    }


def batches(n: int) -> Iterator[list[Doc]]:
    """The first ``n`` documents, ``BATCH_SIZE`` at a time."""
    for start in range(0, n, BATCH_SIZE):
        yield [settings_doc(i) for i in range(start, min(n, start + BATCH_SIZE))]


def edited(doc: Doc, replica: str) -> Doc:
    """``doc`` (a read revision: ``_id``, ``_rev``, ``$merge`` kept, as an app's edit keeps
    them) with ``replica``'s edit: its field changed and one open counted."""
    pointer, value = EDITS[replica]
    out = {k: copy.deepcopy(v) for k, v in doc.items() if k != "_revisions"}
    set_at(out, from_pointer(pointer), value)
    opens = from_pointer(COUNTER)
    set_at(out, opens, crdt.increment(out["usage"]["opens"], replica))
    return out


def expected(i: int, replicas: Iterable[str]) -> Doc:
    """The body every merge of document ``i`` edited by ``replicas`` must have."""
    doc = settings_doc(i)
    for replica in replicas:
        doc = edited(doc, replica)
    return user_fields(doc)


def number_of(doc_id: str) -> int:
    return int(doc_id.rpartition("-")[2])


def write_batches(path: Path, docs: Iterable[list[Doc]]) -> Path:
    """One JSON array a line: what ``ours_merge.py write`` replays."""
    with path.open("wb") as out:
        for batch in docs:
            out.write(orjson.dumps(batch) + b"\n")
    return path


class Check(RuntimeError):
    """A run whose result is wrong: it reports no figure."""


def expect(what: str, got: object, want: object) -> None:
    if got != want:
        raise Check(f"{what}: {got!r}, expected {want!r}")


# --- the conflicted database -------------------------------------------------------------


async def written(store: DocumentStore, docs: list[Doc]) -> list[Doc]:
    """``docs`` written as new edits, read back with their history (for ``new_edits=False``)."""
    rows = await store.bulk_docs(docs)
    failed = [row for row in rows if not row.ok]
    if failed:
        raise Check(f"writing the workload failed: {failed[:3]}")
    wanted = [{"id": row.id, "rev": row.rev} for row in rows]
    results = await store.bulk_get(wanted, WITH_HISTORY)
    return [item["ok"] for result in results for item in result["docs"]]


async def build_conflicted(directory: Path, n: int) -> Path:
    """The database of N documents with one live leaf per replica (see the module docstring)."""
    names = ("seed", *REPLICAS, "conflicted")
    stores = {name: await SqliteStore.open(directory / f"{name}.sqlite") for name in names}
    try:
        seed = StampingStore(stores["seed"], "seed")
        into = stores["conflicted"]
        for batch in batches(n):
            base = await written(seed, batch)
            await into.bulk_docs(base, new_edits=False)
            for name in REPLICAS:
                await stores[name].bulk_docs(base, new_edits=False)
                replica = StampingStore(stores[name], name)
                leaves = await written(replica, [edited(doc, name) for doc in base])
                await into.bulk_docs(leaves, new_edits=False)
    finally:
        for store in stores.values():
            await store.close()
    return directory / "conflicted.sqlite"


# --- checks ------------------------------------------------------------------------------


async def leaf_counts(store: DocumentStore) -> dict[int, int]:
    """How many documents have how many leaves (live or deleted), from ``_changes``."""
    counts: Counter[int] = Counter()
    async for change in iter_changes(store, ChangesQuery(style="all_docs")):
        counts[len(change.changes)] += 1
    return dict(counts)


async def snapshot(store: DocumentStore) -> dict[str, Doc]:
    """Every document's winning revision, with ``_conflicts`` where it has any."""
    query = AllDocsQuery(include_docs=True, conflicts=True)
    return {row["id"]: row["doc"] async for row in iter_all_docs(store, query)}


def conflicted(docs: dict[str, Doc]) -> list[str]:
    return [doc_id for doc_id, doc in docs.items() if doc.get("_conflicts")]


def check_merged(docs: dict[str, Doc], n: int, replicas: Iterable[str]) -> None:
    """No conflicts, one resolution record per document, every merge exactly ``expected``."""
    replicas = tuple(replicas)
    records = [doc_id for doc_id in docs if doc_id.startswith(RESOLUTION_PREFIX)]
    settings = {k: v for k, v in docs.items() if not k.startswith(RESOLUTION_PREFIX)}
    expect("conflicted documents", conflicted(docs)[:3], [])
    expect("documents", len(settings), n)
    expect("resolution records", len(records), n)
    wrong = [
        doc_id
        for doc_id, doc in settings.items()
        if user_fields(doc) != expected(number_of(doc_id), replicas)
    ]
    expect("merges unlike the expected body", wrong[:3], [])


def each_batch(n: int, make: Callable[[Doc], Doc]) -> Iterator[list[Doc]]:
    """The workload's batches with ``make`` applied to each document."""
    for batch in batches(n):
        yield [make(doc) for doc in batch]
