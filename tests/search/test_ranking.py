"""Ranking, filters and paging: bm25 order (ties by id), chat and user filters in SQL, and
bookmarks that visit every hit exactly once."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brainlink_docs.errors import BadRequest
from brainlink_docs.search import MessageSearch, query
from brainlink_docs.store.sqlite.store import SqliteStore

from .messages import OTHER_USER, message, write

FILLER = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do"


async def test_more_matches_rank_first(store: SqliteStore, search: MessageSearch) -> None:
    await write(
        store,
        [
            message("c", 1, f"rocket {FILLER}"),
            message("c", 2, f"rocket rocket rocket {FILLER}"),
            message("c", 3, f"rocket rocket {FILLER}"),
            message("c", 4, FILLER),
        ],
    )
    page = await search.search("rocket")
    assert [hit.sequence for hit in page.hits] == [2, 3, 1]
    scores = [hit.score for hit in page.hits]
    assert scores == sorted(scores, reverse=True)
    assert page.bookmark is None


async def test_equal_scores_order_by_document_id(store: SqliteStore, search: MessageSearch) -> None:
    await write(store, [message("c", n, "same words here") for n in (5, 3, 9, 1)])
    page = await search.search("same")
    assert [hit.id for hit in page.hits] == sorted(hit.id for hit in page.hits)
    assert len({hit.score for hit in page.hits}) == 1


async def test_chat_and_user_filters(store: SqliteStore, search: MessageSearch) -> None:
    await write(
        store,
        [
            message("c1", 1, "shared word"),
            message("c2", 2, "shared word"),
            message("c1", 3, "shared word", user=OTHER_USER),
            message("c1", 4, "other text"),
        ],
    )
    found = await search.search("shared", chat_id="c1")
    assert sorted(hit.sequence for hit in found.hits) == [1, 3]
    assert all(hit.chat_id == "c1" for hit in found.hits)
    found = await search.search("shared", user_id=OTHER_USER)
    assert [hit.sequence for hit in found.hits] == [3]
    found = await search.search("shared", user_id=OTHER_USER, chat_id="c2")
    assert found.hits == []


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    counts=st.lists(st.integers(1, 4), min_size=1, max_size=40),
    limit=st.integers(1, 7),
    chat=st.sampled_from([None, "c0", "c1"]),
)
async def test_bookmarks_visit_every_hit_exactly_once_in_rank_order(
    tmp_path_factory: pytest.TempPathFactory, counts: list[int], limit: int, chat: str | None
) -> None:
    directory = tmp_path_factory.mktemp("pages")
    store = await SqliteStore.open(directory / "db.sqlite", name="db")
    search = MessageSearch(store, directory / "search.sqlite")
    try:
        docs = [
            message(f"c{n % 2}", n, " ".join(["needle"] * count + ["hay"] * (n % 3)))
            for n, count in enumerate(counts)
        ]
        await write(store, docs)
        whole = await search.search("needle", chat_id=chat, limit=200)
        seen, bookmark = [], None
        while True:
            page = await search.search("needle", chat_id=chat, limit=limit, bookmark=bookmark)
            assert len(page.hits) <= limit
            seen.extend(page.hits)
            bookmark = page.bookmark
            if bookmark is None:
                break
        assert seen == whole.hits
        want = [d["_id"] for d in docs if chat is None or d["chatId"] == chat]
        assert sorted(hit.id for hit in seen) == sorted(want)
    finally:
        await search.close()
        await store.close()


async def test_a_bookmark_of_another_search_or_garbage_is_bad_request(
    store: SqliteStore, search: MessageSearch
) -> None:
    await write(store, [message("c", n, "word word") for n in range(3)])
    page = await search.search("word", limit=1)
    assert page.bookmark is not None
    for text, bookmark in (("other", page.bookmark), ("word", "not a bookmark!"), ("word", "e30")):
        with pytest.raises(BadRequest):
            await search.search(text, limit=1, bookmark=bookmark)
    with pytest.raises(BadRequest):
        await search.search("word", chat_id="c", limit=1, bookmark=page.bookmark)


async def test_past_the_candidate_cap_the_newest_matches_are_ranked(
    store: SqliteStore, search: MessageSearch, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(query, "MAX_CANDIDATES", 3)
    # Older messages match more often, yet only the 3 newest are candidates.
    await write(store, [message("c", n, "word " * (10 - n) + FILLER) for n in range(6)])
    page = await search.search("word", limit=10)
    assert sorted(hit.sequence for hit in page.hits) == [3, 4, 5]
    assert [hit.sequence for hit in page.hits] == [3, 4, 5]  # most matches first among them


async def test_filters_match_whole_ids_whatever_their_characters(
    store: SqliteStore, search: MessageSearch
) -> None:
    chats = ["a-b", "x-a-b", "a b", "Ünïcode/chat", ""]
    await write(store, [message(chat, n, "needle") for n, chat in enumerate(chats)])
    for n, chat in enumerate(chats):
        page = await search.search("needle", chat_id=chat)
        assert [hit.sequence for hit in page.hits] == [n], chat
