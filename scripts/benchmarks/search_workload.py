"""The message-search workload (``scripts/bench --search N``): chat messages written from a
small vocabulary with a Zipf-like word distribution, and the queries run against them.

Everything is seeded, so two runs (and the embedded store and the server in one run) index
the same messages and ask the same questions. Words are made of syllables (pronounceable,
distinct, as many as asked) with a few accented ones among the frequent ranks, so the
tokenizer's diacritic folding is on the measured path. Word ``r`` (0-based rank) is drawn with
weight ``1 / (r + 1) ** ZIPF_S``: a few words are in most messages, most words in few, as in
natural text.

Queries, each a row of the benchmark:

  word         one content word: drawn with the same weights from ranks ``CONTENT_FROM`` on
               (what people search for; the head is the language's "the", "and")
  two_words    two content words, ANDed
  prefix       the first 3 letters of a content word, then ``*``
  chat         a word of rank ``CHAT_FROM`` on within one random chat (a chat holds only
               1/500 of the messages: rarer words would mostly find nothing)
  common_word  one of the 10 most frequent words (the worst case: most messages match)
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

SEED = 20261204
CHATS = 500
USERS = 50
VOCABULARY = 5_000
ZIPF_S = 1.07
# Words per message: most messages are a sentence or two, some a long answer.
MIN_WORDS, MAX_WORDS = 4, 80
CONTENT_FROM = 100
CHAT_FROM = 10
_ONSETS = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "ch", "st"]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ou"]
# Accented words at a few frequent ranks: "cafe" must find "café".
ACCENTED = {7: "café", 31: "résumé", 64: "naïve", 150: "élan", 400: "façade", 900: "señor"}


def vocabulary(size: int = VOCABULARY) -> list[str]:
    syllables = [onset + vowel for onset in _ONSETS for vowel in _VOWELS]
    words: list[str] = []
    for length in itertools.count(1):
        for parts in itertools.product(syllables, repeat=length):
            words.append("".join(parts))
            if len(words) == size:
                for rank, word in ACCENTED.items():
                    if rank < size:
                        words[rank] = word
                return words
    raise AssertionError("unreachable")


def _cumulative(count: int, start: int = 0) -> list[float]:
    return list(itertools.accumulate(1 / (rank + 1) ** ZIPF_S for rank in range(start, count)))


@dataclass(frozen=True, slots=True)
class Chat:
    id: str
    user: str


def chats() -> list[Chat]:
    rng = random.Random(SEED)
    return [Chat(f"chat{n:04d}", f"user{rng.randrange(USERS):03d}") for n in range(CHATS)]


def messages(count: int) -> Iterator[list[dict[str, Any]]]:
    """``count`` chat messages in batches of 1,000, round-robin over the chats."""
    rng = random.Random(SEED)
    words = vocabulary()
    weights = _cumulative(len(words))
    rooms = chats()
    sequences = [0] * len(rooms)
    batch: list[dict[str, Any]] = []
    for n in range(count):
        at = n % len(rooms)
        chat = rooms[at]
        sequences[at] += 1
        length = min(MAX_WORDS, MIN_WORDS + int(rng.expovariate(1 / 18)))
        text = " ".join(rng.choices(words, cum_weights=weights, k=length))
        batch.append(
            {
                "_id": f"u/{chat.user}/chat/{chat.id}/message/{n:08d}",
                "type": "chatMessage",
                "schemaVersion": 1,
                "id": f"{n:08d}",
                "userId": chat.user,
                "chatId": chat.id,
                "role": "assistant" if n % 2 else "user",
                "content": text[0].upper() + text[1:] + ".",
                "sequence": sequences[at],
                "createdAt": "2026-12-04T12:00:00Z",
                "metadata": {"model": "bench", "tokens": {"total": length}},
            }
        )
        if len(batch) == 1000:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass(frozen=True, slots=True)
class Query:
    text: str
    chat_id: str | None = None


def queries(count: int) -> dict[str, list[Query]]:
    """``count`` queries of each kind (seeded)."""
    rng = random.Random(SEED + 1)
    words = vocabulary()
    content = words[CONTENT_FROM:]
    weights = _cumulative(len(words), CONTENT_FROM)
    rooms = chats()
    chat_words, chat_weights = words[CHAT_FROM:], _cumulative(len(words), CHAT_FROM)

    def word() -> str:
        return rng.choices(content, cum_weights=weights)[0]

    def chat_word() -> str:
        return rng.choices(chat_words, cum_weights=chat_weights)[0]

    def prefix() -> str:
        while len(choice := word()) < 3:
            pass
        return choice[:3] + "*"

    return {
        "word": [Query(word()) for _ in range(count)],
        "two_words": [Query(f"{word()} {word()}") for _ in range(count)],
        "prefix": [Query(prefix()) for _ in range(count)],
        "chat": [Query(chat_word(), rng.choice(rooms).id) for _ in range(count)],
        "common_word": [Query(words[rng.randrange(10)]) for _ in range(count)],
    }


def percentile(values: list[float], fraction: float) -> float:
    """The value ``fraction`` of the way up (p99 of 1,000 is the 10th slowest)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]
