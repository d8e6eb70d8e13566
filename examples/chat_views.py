"""A chat's messages through a design-document view and a Mango query, on a device and on a
server.

    python examples/chat_views.py http://admin:PASSWORD@127.0.0.1:5984/demo-chat

The device is an embedded store (a SQLite file); the server is any CouchDB-compatible one
(``bash scripts/run``, a real CouchDB), its database created if missing. The device writes a
few messages, a design document with two views — a chat's messages in order and the tokens
spent per chat — and a Mango index on ``tokens``; queries them (the views, and ``_find`` for
the messages that spent at least 9 tokens, most first), replicates everything to the server and
runs the same queries there: the same design documents answer the same rows on both. Prints
one JSON line per side.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from brainlink_docs.replication import replicate
from brainlink_docs.store.api import DocumentStore, ViewQuery
from brainlink_docs.store.endpoints import open_endpoint
from brainlink_docs.store.sqlite import SqliteStore

DESIGN = {
    "_id": "_design/chats",
    "views": {
        "messages": {
            "map": "function(d){ if (d.type === 'message') emit([d.chat, d.seq], d.text); }"
        },
        "tokens": {
            "map": "function(doc){ if (doc.type === 'message') emit(doc.chat, doc.tokens); }",
            "reduce": "_sum",
        },
    },
}
MESSAGES = [
    ("c1", 1, "hello", 5),
    ("c1", 2, "how do I open a terminal?", 12),
    ("c2", 1, "summarize this file", 9),
    ("c1", 3, "thanks", 3),
]


FIND = {
    "selector": {"type": "message", "tokens": {"$gte": 9}},
    "sort": [{"tokens": "desc"}],
    "fields": ["text", "tokens"],
}


async def queries(store: DocumentStore) -> dict[str, Any]:
    """A chat's messages in order (a key range), tokens per chat (a grouped reduce), and the
    costliest messages (``_find`` served by the Mango index on ``tokens``)."""
    chat = ViewQuery(startkey=["c1"], endkey=["c1", {}])
    messages = await store.query_view("chats", "messages", chat)
    tokens = await store.query_view("chats", "tokens", ViewQuery(group=True))
    found = await store.find(FIND)
    return {
        "c1": [row["value"] for row in messages.rows],
        "tokens": {row["key"]: row["value"] for row in tokens.rows},
        "costly": found["docs"],
    }


async def main(url: str, folder: Path) -> None:
    device = await SqliteStore.open(folder / "device.db")
    server = await open_endpoint(url, create=True)
    try:
        docs = [
            {
                "_id": f"msg:{chat}:{seq:04d}",
                "type": "message",
                "chat": chat,
                "seq": seq,
                "text": text,
                "tokens": tokens,
            }
            for chat, seq, text, tokens in MESSAGES
        ]
        await device.bulk_docs([*docs, DESIGN])
        await device.create_index({"index": {"fields": [{"tokens": "desc"}]}, "name": "tokens"})
        print(json.dumps({"device": await queries(device)}))
        await replicate(device, server)
        print(json.dumps({"server": await queries(server)}))
    finally:
        await device.close()
        await server.close()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(sys.argv[1], Path(tmp)))
