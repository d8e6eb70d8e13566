"""Queries: words ANDed, prefixes, unicode folding, and no input is FTS5 syntax."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brainlink_docs.errors import BadRequest
from brainlink_docs.search import MessageSearch
from brainlink_docs.search.query import MAX_LIMIT, match_expression
from brainlink_docs.store.sqlite.store import SqliteStore

from .messages import message, write

TEXTS = [
    "Le café est très bon",
    "I updated my résumé yesterday",
    "hello world",
    "hello there, general Kenobi",
    'quotes " and AND OR NOT NEAR(a b) ^ col:umn {x} - + * ( )',
    "e-mail me at bob@example.com",
    "日本語のテキスト",
]


@pytest.fixture
async def filled(store: SqliteStore, search: MessageSearch) -> MessageSearch:
    await write(store, [message("c1", n, text) for n, text in enumerate(TEXTS)])
    return search


@pytest.mark.parametrize(
    ("text", "expression"),
    [
        ("hello", '"hello"'),
        ("hello world", '"hello" AND "world"'),
        ("hel*", '"hel"*'),
        ('say "hi"', '"say" AND """hi"""'),
        ("AND OR NOT", '"AND" AND "OR" AND "NOT"'),
        ("!!! ?", None),
        ("a*** *", '"a"*'),
        ("col:umn", '"col:umn"'),
        ("nul\x00byte", '"nulbyte"'),
        ("lone\ud800surrogate", '"lonesurrogate"'),
        ("\x02marks\x03", '"marks"'),
    ],
)
def test_each_word_is_one_quoted_string(text: str, expression: str | None) -> None:
    assert match_expression(text) == expression


async def ids(search: MessageSearch, text: str, **filters: str) -> list[int]:
    page = await search.search(text, **filters)  # type: ignore[arg-type]
    return sorted(hit.sequence for hit in page.hits if hit.sequence is not None)


async def test_words_are_anded(filled: MessageSearch) -> None:
    assert await ids(filled, "hello") == [2, 3]
    assert await ids(filled, "hello world") == [2]
    assert await ids(filled, "hello nothing") == []


async def test_diacritics_fold_both_ways(filled: MessageSearch) -> None:
    assert await ids(filled, "cafe") == [0]
    assert await ids(filled, "CAFÉ") == [0]
    assert await ids(filled, "resume") == [1]
    assert await ids(filled, "TRES") == [0]


async def test_a_trailing_star_is_a_prefix(filled: MessageSearch) -> None:
    assert await ids(filled, "hel*") == [2, 3]
    assert await ids(filled, "hel") == []
    assert await ids(filled, "ken* gen*") == [3]
    assert await ids(filled, "res*") == [1]


async def test_operators_and_punctuation_are_plain_words(filled: MessageSearch) -> None:
    assert await ids(filled, "NEAR(a") == [4]
    assert await ids(filled, "quotes AND OR") == [4]
    assert await ids(filled, "e-mail") == [5]
    assert await ids(filled, '" ^ :') == []  # nothing searchable: no hits, no error


async def test_snippets_escape_the_text_and_mark_the_matches(
    store: SqliteStore, search: MessageSearch
) -> None:
    await write(store, [message("c", 1, "click <script>alert(1)</script> here")])
    page = await search.search("alert")
    assert page.hits[0].snippet == "click &lt;script&gt;<mark>alert</mark>(1)&lt;/script&gt; here"


async def test_a_blank_query_or_a_bad_limit_is_bad_request(search: MessageSearch) -> None:
    for text in ("", "  \t"):
        with pytest.raises(BadRequest):
            await search.search(text)
    for limit in (0, -1, MAX_LIMIT + 1):
        with pytest.raises(BadRequest):
            await search.search("x", limit=limit)


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(min_size=1).filter(str.strip))
async def test_no_text_is_an_fts5_error(filled: MessageSearch, text: str) -> None:
    page = await filled.search(text)
    assert all(hit.snippet is not None for hit in page.hits)


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(word=st.sampled_from(["hello", "cafe", "world", "kenobi", "résumé"]), data=st.data())
async def test_any_text_around_a_word_finds_at_most_what_the_word_finds(
    filled: MessageSearch, word: str, data: st.DataObject
) -> None:
    noise = data.draw(st.text(alphabet=st.characters(categories=["P", "S", "Z"])))
    alone = await ids(filled, word)
    assert await ids(filled, f"{noise} {word} {noise}") == alone
