"""Message queries: the user's text as a safe FTS5 expression, the ranked page, its bookmark.

The user's text never reaches FTS5 as syntax: it is split on whitespace into words, each word
becomes one double-quoted FTS5 string (quotes doubled inside), and the words are ANDed. A word
ending in ``*`` is a prefix query (``"cafe"*``). Words with nothing the tokenizer keeps
(``!!!``) are dropped, as they would otherwise make an empty phrase that matches nothing; a
word the tokenizer splits (``e-mail``) is a phrase of its parts, as FTS5 treats any quoted
string. So no input is an FTS5 syntax error.

Hits are ranked by bm25 over the message text (SQLite's: lower is better; a hit's ``score`` is
its negation, so higher is better), ties by document id; a query matching more than
``MAX_CANDIDATES`` messages ranks the most recently indexed that many. Chat and user filters
are part of the FTS5 query (their ids' key tokens, see ``storage.filter_key``) and are checked
again against the ids in SQL. A page's ``bookmark`` is where the next page starts,
(bm25, doc id) past the last hit, with a fingerprint of the query so a bookmark cannot be
replayed against another query; ``None`` when there is no next page. Paging by position rather
than by offset costs the same per page however deep, and a page never repeats a hit of the
previous one even if messages were added in between (their scores may move hits across the
boundary, as any bookmark over a live index allows).

Snippets are HTML: the text escaped, the matched words in ``<mark>`` (a client may render them
as they are; a message's own markup is text).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import sqlite3
import unicodedata
from dataclasses import dataclass
from typing import Any

import orjson

from brainlink_docs.errors import BadRequest
from brainlink_docs.index_files import snapshot
from brainlink_docs.search import storage

DEFAULT_LIMIT = 20
# Hits per page at most: a page is a ranked answer for a person to read, and each hit costs a
# snippet.
MAX_LIMIT = 200
# Matches ranked per query at most, the most recently indexed first: bm25 costs a few
# microseconds a match, so a word in half of a million messages would take seconds to rank;
# past this many matches the page is the best of the newest ones (in a chat history the recent
# messages are the likely target), which bounds the ranking's cost whatever the size of the
# database. Measured on 100,000 messages, one of the 10 commonest words: p99 122 ms unbounded,
# 24 ms with 5,000 candidates, 17 ms with 2,000.
MAX_CANDIDATES = 2_000
# Words per query at most: each is a posting list to walk; no one types more.
MAX_WORDS = 64
# Tokens of context around the matches in a snippet (FTS5 allows 1 to 64).
SNIPPET_TOKENS = 16
# Control characters FTS5 puts around matches in a snippet; ``storage`` keeps them out of the
# indexed text, so after escaping they can only be ours.
MARK_START, MARK_END = "\x02", "\x03"
ELLIPSIS = "…"


@dataclass(frozen=True, slots=True)
class SearchHit:
    id: str
    chat_id: str | None
    sequence: int | None
    score: float
    snippet: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "chatId": self.chat_id,
            "sequence": self.sequence,
            "score": self.score,
            "snippet": self.snippet,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> SearchHit:
        return cls(
            id=value["id"],
            chat_id=value.get("chatId"),
            sequence=value.get("sequence"),
            score=float(value["score"]),
            snippet=value["snippet"],
        )


@dataclass(frozen=True, slots=True)
class SearchPage:
    hits: list[SearchHit]
    bookmark: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"hits": [hit.to_json() for hit in self.hits], "bookmark": self.bookmark}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> SearchPage:
        return cls([SearchHit.from_json(hit) for hit in value["hits"]], value.get("bookmark"))


@dataclass(frozen=True, slots=True)
class Query:
    """A search, checked: the FTS5 expression (None when no word is searchable) and filters."""

    match: str | None
    user_id: str | None
    chat_id: str | None
    limit: int
    after: tuple[float, str] | None

    @property
    def fingerprint(self) -> str:
        return _fingerprint(self.match, self.user_id, self.chat_id)


def make_query(
    text: str,
    *,
    user_id: str | None = None,
    chat_id: str | None = None,
    limit: int = DEFAULT_LIMIT,
    bookmark: str | None = None,
) -> Query:
    """Check a search's arguments (``BadRequest`` for a bad limit or bookmark)."""
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be an integer from 1 to {MAX_LIMIT}")
    if not text.strip():
        raise BadRequest("q (the words to search for) is required")
    match = match_expression(text)
    after = None
    if bookmark is not None:
        after = _read_bookmark(bookmark, _fingerprint(match, user_id, chat_id))
    return Query(match, user_id, chat_id, limit, after)


def match_expression(text: str) -> str | None:
    """The FTS5 expression for ``text``: its words quoted and ANDed (None: no word)."""
    words = []
    for raw in text.split():
        prefix = raw.endswith("*")
        word = clean_text(raw.rstrip("*"))
        if not any(_is_token_char(ch) for ch in word):
            continue
        words.append('"' + word.replace('"', '""') + '"' + ("*" if prefix else ""))
    if len(words) > MAX_WORDS:
        raise BadRequest(f"a search has at most {MAX_WORDS} words")
    return " AND ".join(words) or None


def clean_text(text: str) -> str:
    """``text`` without what SQLite cannot take or FTS5 must not see: NUL (it ends a C
    string), lone surrogates (not UTF-8) and the snippet marks."""
    if text.isascii() and "\x00" not in text and MARK_START not in text and MARK_END not in text:
        return text
    return "".join(
        ch for ch in text if ch not in "\x00\x02\x03" and unicodedata.category(ch) != "Cs"
    )


def _is_token_char(ch: str) -> bool:
    """unicode61's default token characters: letters, numbers and private-use characters."""
    category = unicodedata.category(ch)
    return category[0] in "LN" or category == "Co"


def _fingerprint(match: str | None, user_id: str | None, chat_id: str | None) -> str:
    digest = hashlib.sha256(orjson.dumps([match, user_id, chat_id])).hexdigest()
    return digest[:12]


def _write_bookmark(fingerprint: str, rank: float, doc_id: str) -> str:
    data = orjson.dumps([fingerprint, rank, doc_id])
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _read_bookmark(bookmark: str, fingerprint: str) -> tuple[float, str]:
    try:
        padded = bookmark + "=" * (-len(bookmark) % 4)
        value = orjson.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeEncodeError) as exc:
        raise BadRequest("Invalid bookmark value") from exc
    if (
        not isinstance(value, list)
        or len(value) != 3
        or not isinstance(value[1], int | float)
        or isinstance(value[1], bool)
        or not isinstance(value[2], str)
    ):
        raise BadRequest("Invalid bookmark value")
    if value[0] != fingerprint:
        raise BadRequest("The bookmark belongs to another search")
    return float(value[1]), value[2]


# ---- on the index file's thread ----


def run(conn: sqlite3.Connection, query: Query) -> SearchPage:
    """One page of ``query``: the newest ``MAX_CANDIDATES`` matches ranked (one hit more than
    the page is read, to know whether a page follows), then the page's snippets only."""
    if query.match is None:
        return SearchPage([])
    match = fts_expression(query)
    where, params = [], []
    if query.chat_id is not None:
        where.append("m.chat_id = ?")
        params.append(query.chat_id)
    if query.user_id is not None:
        where.append("m.user_id = ?")
        params.append(query.user_id)
    if query.after is not None:
        where.append("(c.score > ? OR (c.score = ? AND m.doc_id > ?))")
        params.extend([query.after[0], query.after[0], query.after[1]])
    sql = (
        "WITH candidates AS (SELECT rowid AS id, rank AS score FROM message_text "
        "WHERE message_text MATCH ? ORDER BY rowid DESC LIMIT ?) "
        "SELECT m.id, m.doc_id, m.chat_id, m.sequence, c.score "
        "FROM candidates c JOIN messages m ON m.id = c.id "
        f"{'WHERE ' + ' AND '.join(where) if where else ''} ORDER BY c.score, m.doc_id LIMIT ?"
    )
    with snapshot(conn):
        rows = conn.execute(sql, [match, MAX_CANDIDATES, *params, query.limit + 1]).fetchall()
        page = rows[: query.limit]
        snippets = [_snippet(conn, match, row[0]) for row in page]
    hits = [
        SearchHit(doc_id, chat_id, sequence, -score, snippet)
        for (_, doc_id, chat_id, sequence, score), snippet in zip(page, snippets, strict=True)
    ]
    bookmark = None
    if len(rows) > query.limit:
        last = page[-1]
        bookmark = _write_bookmark(query.fingerprint, last[4], last[1])
    return SearchPage(hits, bookmark)


def fts_expression(query: Query) -> str:
    """The words, in the content column only, and the filters' key tokens."""
    parts = [f"content : ({query.match})"]
    if query.chat_id is not None:
        parts.append(f'chat_key : "{storage.filter_key(query.chat_id)}"')
    if query.user_id is not None:
        parts.append(f'user_key : "{storage.filter_key(query.user_id)}"')
    return " AND ".join(parts)


def _snippet(conn: sqlite3.Connection, match: str, rowid: int) -> str:
    row = conn.execute(
        "SELECT snippet(message_text, 0, ?, ?, ?, ?) FROM message_text "
        "WHERE message_text MATCH ? AND rowid = ?",
        (MARK_START, MARK_END, ELLIPSIS, SNIPPET_TOKENS, match, rowid),
    ).fetchone()
    return _as_html(row[0] if row else "")


def _as_html(snippet: str) -> str:
    escaped = html.escape(snippet, quote=False)
    return escaped.replace(MARK_START, "<mark>").replace(MARK_END, "</mark>")
