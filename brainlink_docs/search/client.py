"""``HttpMessageSearch``: message search over HTTP, answering the same ``SearchPage``.

A client of our server's ``GET /{db}/_search/messages`` on top of ``HttpStore``'s transport, so
it shares the store's session and credentials, and a refusal comes back as the same
``CouchError`` the embedded ``MessageSearch`` raises (400 ``BadRequest`` for a bad limit or
bookmark, 401/403, 404 for a missing database; ``Unavailable`` when the server cannot answer).
"""

from __future__ import annotations

from brainlink_docs.search.query import DEFAULT_LIMIT, SearchPage
from brainlink_docs.store.http.store import HttpStore
from brainlink_docs.store.http.transport import Transport

PATH = "_search/messages"


class HttpMessageSearch:
    def __init__(self, transport: Transport) -> None:
        self._t = transport

    @classmethod
    def of(cls, store: HttpStore) -> HttpMessageSearch:
        """The search of the database ``store`` talks to, over the same session."""
        return cls(store.transport)

    async def search(
        self,
        text: str,
        *,
        user_id: str | None = None,
        chat_id: str | None = None,
        limit: int = DEFAULT_LIMIT,
        bookmark: str | None = None,
    ) -> SearchPage:
        """As ``MessageSearch.search``, answered by the server."""
        params = {"q": text, "limit": str(limit)}
        for name, value in (("user", user_id), ("chat", chat_id), ("bookmark", bookmark)):
            if value is not None:
                params[name] = value
        answer = await self._t.call("GET", PATH, params=params)
        return SearchPage.from_json(answer)
