"""Chat-message documents for the search tests, shaped as the entity documents are."""

from __future__ import annotations

from typing import Any

from brainlink_docs.store.api import DocumentStore

USER = "alice"
OTHER_USER = "bob"


def message(
    chat: str, sequence: int, content: str, *, user: str = USER, number: int | None = None
) -> dict[str, Any]:
    ident = f"m{sequence if number is None else number}"
    return {
        "_id": f"u/{user}/chat/{chat}/message/{ident}",
        "type": "chatMessage",
        "schemaVersion": 1,
        "id": ident,
        "userId": user,
        "chatId": chat,
        "role": "user",
        "content": content,
        "sequence": sequence,
        "createdAt": "2026-12-04T12:00:00Z",
        "metadata": {"model": "test"},
    }


async def write(store: DocumentStore, docs: list[dict[str, Any]]) -> None:
    results = await store.bulk_docs(docs)
    assert all(result.ok for result in results), results
