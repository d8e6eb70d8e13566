"""Child process for ``test_durability``: write to a ``SqliteStore`` forever, until SIGKILLed.

The parent kills this process at random moments and then checks the file. For that check to be
sound the parent must know exactly what was acknowledged and what might have been in flight, so
every write is bracketed by two lines on stdout (a pipe the parent reads as we go):

* ``{"t": "intent", "op": N, "docs": [[id, action, has_attachment], ...]}`` before the write
  starts; ``action`` is ``c`` (create), ``u`` (update with the current rev) or ``d`` (delete);
* ``{"t": "ack", "op": N, "revs": [...]}`` after the ``await`` returned, revs in intent order.

A line that reached the pipe survives the kill (the kernel holds it for the parent), so stdout is
the acknowledgement log: nothing is acknowledged that the parent has not been told about. Usually
one write is in flight; sometimes a burst of a few runs at once (so the store's group commit
shares one transaction among callers), always on disjoint documents. Either way the intent lines
tell the parent which documents each unacknowledged write touches, so it can decide, write by
write, whether each landed wholly or not at all.

Document contents are a function of ``(id, op)`` (see :func:`body_value` and
:func:`attachment_bytes`), so the parent can check every stored body without being sent it.

Usage: ``python crash_writer.py DB_PATH STATE_JSON``; the state file (written by the parent)
holds ``mode`` (``mixed`` or ``big``), ``seed``, ``next_op``, ``next_doc``, ``live``, the
``{id: rev}`` of every live document as the parent's model has it, and ``busy``, documents this
writer must not touch (those of writes a kill left undecided).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from brainlink_docs.store.api import DocumentStore

ATTACHMENT_NAME = "blob.bin"
# Binary content type, so no implementation has a reason to compress it and change the bytes.
ATTACHMENT_TYPE = "application/octet-stream"
# The big-batch test needs one write large enough that a random kill usually lands inside it.
BIG_BATCH = 20_000
# Mixed mode: CouchDB-client-sized batches, small enough that many commit between two kills.
MIN_BATCH, MAX_BATCH = 50, 500
# Past this many live documents mixed mode mostly updates, so the parent's full check of the
# file after every kill stays fast however long the test runs.
MIXED_GROWTH_LIMIT = 4_000
# Big mode: the number of live documents beyond which batches stop creating new ones.
BIG_GROWTH_LIMIT = 40_000

# Mixed mode: the share of rounds that start several writes at once, and at most how many.
BURST_SHARE = 0.15
MAX_BURST = 6

Action = str  # "c" | "u" | "d"


@dataclass(frozen=True, slots=True)
class Write:
    """One write to make: its op number, ``put`` or ``bulk``, its plan and its documents."""

    op: int
    kind: str
    entries: list[list[Any]]
    docs: list[dict[str, Any]]


def body_value(doc_id: str, op: int) -> str:
    """The ``v`` field written by op ``op``: lets the parent recognise exactly which write won."""
    return f"{doc_id}@{op}"


def attachment_bytes(doc_id: str, op: int) -> bytes:
    """Deterministic attachment data (1 B to 4 KiB) for ``doc_id`` as written by ``op``."""
    seed = hashlib.sha256(body_value(doc_id, op).encode()).digest()
    size = 1 + int.from_bytes(seed[:2], "big") % 4096
    return (seed * (size // len(seed) + 1))[:size]


def make_doc(doc_id: str, op: int, action: Action, rev: str | None, att: bool) -> dict[str, Any]:
    """The JSON document for one entry of a write; ``batch`` marks the op that wrote it."""
    doc: dict[str, Any] = {"_id": doc_id, "batch": op}
    if rev is not None:
        doc["_rev"] = rev
    if action == "d":
        doc["_deleted"] = True
        return doc
    doc["v"] = body_value(doc_id, op)
    # Padding of varying size so rows spread over differently filled pages.
    doc["pad"] = "x" * (len(doc_id) * op % 300)
    if att:
        doc["_attachments"] = {
            ATTACHMENT_NAME: {
                "content_type": ATTACHMENT_TYPE,
                "data": base64.b64encode(attachment_bytes(doc_id, op)).decode("ascii"),
            }
        }
    return doc


def emit(line: dict[str, Any]) -> None:
    """Write one protocol line and push it into the pipe before doing anything else."""
    sys.stdout.buffer.write(orjson.dumps(line) + b"\n")
    sys.stdout.buffer.flush()


class Writer:
    """The child's own view of the database: which documents are live, at which rev."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.mode: str = state["mode"]
        self.rng = random.Random(state["seed"])
        self.next_op: int = state["next_op"]
        self.next_doc: int = state["next_doc"]
        self.live: dict[str, str] = dict(state["live"])
        # Documents of writes a kill left undecided (the parent has not audited the file since):
        # never touched again until the parent has seen how those writes ended.
        self.reserved: set[str] = set(state.get("busy", ()))

    def new_id(self) -> str:
        doc_id = f"d{self.next_doc:07d}"
        self.next_doc += 1
        return doc_id

    def plan(
        self, creates: int, updates: int, deletes: int, att_p: float, busy: set[str]
    ) -> list[list[Any]]:
        """Distinct documents for one write, none of them in ``busy`` (another write's):
        ``[[id, action, has_attachment], ...]``."""
        free = sorted(self.live.keys() - busy)
        existing = self.rng.sample(free, min(len(free), updates + deletes))
        entries: list[list[Any]] = [[doc_id, "u", False] for doc_id in existing[deletes:]]
        entries += [[doc_id, "d", False] for doc_id in existing[:deletes]]
        entries += [[self.new_id(), "c", False] for _ in range(creates)]
        self.rng.shuffle(entries)
        for entry in entries:
            entry[2] = entry[1] != "d" and self.rng.random() < att_p
        return entries

    def next_write(self, busy: set[str]) -> Write:
        """Choose one write (a put or a bulk_docs) touching no document in ``busy``."""
        live = len(self.live)
        if self.mode == "big":
            if live == 0:
                return self.write("bulk", self.plan(BIG_BATCH, 0, 0, 0.02, busy))
            creates = 2_000 if live < BIG_GROWTH_LIMIT else 0
            deletes = 400
            updates = BIG_BATCH - creates - deletes
            return self.write("bulk", self.plan(creates, updates, deletes, 0.02, busy))
        if self.rng.random() < 0.25:
            roll = self.rng.random()
            if live and roll < 0.5:
                return self.write("put", self.plan(0, 1, 0, 0.2, busy))
            if live and roll < 0.6:
                return self.write("put", self.plan(0, 0, 1, 0.0, busy))
            return self.write("put", self.plan(1, 0, 0, 0.2, busy))
        size = self.rng.randint(MIN_BATCH, MAX_BATCH)
        create_share = 0.6 if live < MIXED_GROWTH_LIMIT else 0.1
        creates = round(size * create_share)
        deletes = round(size * 0.1)
        return self.write("bulk", self.plan(creates, size - creates - deletes, deletes, 0.1, busy))

    def next_burst(self) -> list[Write]:
        """The next writes to run at once: usually one; in mixed mode sometimes a few on
        disjoint documents, so the store's writer groups several callers into one commit (the
        case where one caller could be answered before the shared commit is durable)."""
        count = 1
        if self.mode == "mixed" and self.rng.random() < BURST_SHARE:
            count = self.rng.randint(2, MAX_BURST)
        busy = set(self.reserved)
        burst = []
        for _ in range(count):
            write = self.next_write(busy)
            if not write.entries:
                break  # a put on a database with nothing left to touch
            busy.update(entry[0] for entry in write.entries)
            burst.append(write)
        return burst

    def write(self, kind: str, entries: list[list[Any]]) -> Write:
        op = self.next_op
        self.next_op += 1
        docs = [make_doc(i, op, action, self.live.get(i), att) for i, action, att in entries]
        return Write(op, kind, entries, docs)

    def record(self, entries: list[list[Any]], revs: list[str]) -> None:
        for (doc_id, action, _), rev in zip(entries, revs, strict=True):
            if action == "d":
                self.live.pop(doc_id, None)
            else:
                self.live[doc_id] = rev


async def perform(store: DocumentStore, writer: Writer, write: Write) -> bool:
    """Run one write and acknowledge it the moment its ``await`` returns."""
    # Nobody else writes this file, and every rev is the current one, so any refusal is a bug
    # the parent must hear about, not something to retry.
    try:
        if write.kind == "put":
            results = [await store.put(write.docs[0])]
        else:
            results = await store.bulk_docs(write.docs)
    except Exception as exc:
        emit({"t": "error", "op": write.op, "detail": repr(exc)})
        return False
    failed = [r.to_json() for r in results if not r.ok]
    in_order = [r.id for r in results] == [e[0] for e in write.entries]
    revs = [r.rev for r in results if r.rev is not None]
    if failed or not in_order or len(revs) != len(write.entries):
        detail = {"failed": failed[:5], "in_order": in_order}
        emit({"t": "error", "op": write.op, "detail": detail})
        return False
    emit({"t": "ack", "op": write.op, "revs": revs})
    writer.record(write.entries, revs)
    return True


async def run(db_path: Path, state: dict[str, Any]) -> int:
    """Write until killed; return non-zero (after an ``error`` line) if a write is refused."""
    from brainlink_docs.store.sqlite import SqliteStore

    writer = Writer(state)
    store = await SqliteStore.open(db_path, name="durability")
    emit({"t": "ready"})
    while True:
        burst = writer.next_burst()
        for write in burst:
            emit({"t": "intent", "op": write.op, "kind": write.kind, "docs": write.entries})
        done = await asyncio.gather(*(perform(store, writer, write) for write in burst))
        if not all(done):
            return 3


def main(argv: list[str]) -> int:
    db_path, state_path = Path(argv[1]), Path(argv[2])
    state = orjson.loads(state_path.read_bytes())
    return asyncio.run(run(db_path, state))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
