"""The views benchmark's workload: the design document, the edits, the queries, and what each
answer must be (``scripts/bench --views``).

The documents are the embedded benchmark's chat messages (``chat_messages`` in scripts/bench,
written by its ``write_workload`` as one 1,000-document JSON array a line), about 200 to a chat,
so 100,000 messages make 500 chats. Nothing is added to them: the views read ``chat_id``,
``sequence_num`` and ``token_count``, which every message has. The plan (one JSON file, read by
``ours_views.py`` and ``pouchdb_views.js`` alike) names the design document, the edited
documents (a file of their edited bodies, without ``_rev``: the worker adds the revision its own
write returned), and the chats each query row asks for, drawn with a fixed seed. The
expectations stay here, on the orchestrator's side, so both workers report raw answers and one
piece of code judges them.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

DDOC = "bench"
# Two views in one design document, as the issue measured CouchDB: a keyed index of each chat's
# messages in order, and each chat's token count with the built-in _sum (500 chats: 500 groups).
DESIGN_DOC: dict[str, Any] = {
    "_id": f"_design/{DDOC}",
    "language": "javascript",
    "views": {
        "by_chat": {
            "map": "function (doc) { if (doc.type === 'chat_message') "
            "{ emit([doc.chat_id, doc.sequence_num], null); } }"
        },
        "tokens": {
            "map": "function (doc) { if (doc.type === 'chat_message') "
            "{ emit(doc.chat_id, doc.token_count); } }",
            "reduce": "_sum",
        },
    },
}
# The Mango index of the _find row: a JSON index on the field the selector names.
FIND_INDEX: dict[str, Any] = {
    "index": {"fields": ["chat_id"]},
    "ddoc": "bench-find",
    "name": "by-chat-id",
    "type": "json",
}
# The rows: 1,000 edits, a 20-row keyed range, a 100-row range with include_docs,
# _find with limit 20.
EDITS = 1_000
KEYED_LIMIT = 20
RANGE_LIMIT = 100
FIND_LIMIT = 20
# Timings of the grouped reduce (one answer of 500 rows is one figure; the median of a few).
REDUCE_REPEATS = 5
# Added to each edited message's token_count: a change the _sum must show.
EDIT_TOKENS = 1_000
# Queries per latency row: 1,000 makes p99 the 10th slowest, not one outlier.
QUERIES = 1_000
SEED = 20_241_204
ALL_PHASES = ("write", "build", "incremental", "keyed", "range", "reduce", "find")


@dataclass(slots=True)
class Expected:
    """What every answer must be: messages per chat, and each chat's token sum after the edits."""

    docs: int
    per_chat: Counter[str] = field(default_factory=Counter)
    tokens_after_edits: Counter[str] = field(default_factory=Counter)

    @property
    def total_tokens_after_edits(self) -> int:
        return sum(self.tokens_after_edits.values())

    def rows(self, chat: str, limit: int) -> int:
        return min(limit, self.per_chat[chat])


def batches(workload: Path) -> Iterator[list[dict[str, Any]]]:
    with workload.open("rb") as lines:
        for line in lines:
            if line.strip():
                yield orjson.loads(line)


def make_plan(
    workload: Path, n: int, directory: Path, queries: int, phases: tuple[str, ...] = ALL_PHASES
) -> tuple[Path, Expected]:
    """Read the workload once: count each chat, pick the edits and the queried chats, write the
    edited bodies and the plan. Returns the plan file and the expectations."""
    rng = random.Random(SEED)
    edit_at = set(rng.sample(range(n), min(EDITS, n)))
    expected = Expected(n)
    edits: list[dict[str, Any]] = []
    i = 0
    for batch in batches(workload):
        for doc in batch:
            chat = doc["chat_id"]
            expected.per_chat[chat] += 1
            expected.tokens_after_edits[chat] += doc["token_count"]
            if i in edit_at:
                edits.append(edited(doc))
                expected.tokens_after_edits[chat] += EDIT_TOKENS
            i += 1
    if i != n:
        raise RuntimeError(f"the workload holds {i} documents, expected {n}")
    chats = sorted(expected.per_chat)
    edits_file = directory / "edits.json"
    edits_file.write_bytes(orjson.dumps(edits))
    plan = {
        "docs": n,
        "workload": str(workload),
        "edits": str(edits_file),
        "design_doc": DESIGN_DOC,
        "ddoc": DDOC,
        "find_index": FIND_INDEX,
        "keyed_chats": rng.choices(chats, k=queries),
        "range_chats": rng.choices(chats, k=queries),
        "find_chats": rng.choices(chats, k=queries),
        "keyed_limit": KEYED_LIMIT,
        "range_limit": RANGE_LIMIT,
        "find_limit": FIND_LIMIT,
        "reduce_repeats": REDUCE_REPEATS,
        "phases": list(phases),
    }
    plan_file = directory / "plan.json"
    plan_file.write_bytes(orjson.dumps(plan))
    return plan_file, expected


def edited(doc: dict[str, Any]) -> dict[str, Any]:
    """A message after its edit: more tokens (the reduce must see them), marked edited."""
    return {
        **doc,
        "token_count": doc["token_count"] + EDIT_TOKENS,
        "metadata": {**doc["metadata"], "edited": True},
    }
