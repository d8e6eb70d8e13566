"""The engine is a sandbox: runaway JavaScript is stopped within its limits, the server goes on,
the event loop never waits, and design functions reach nothing of the host."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from brainlink_docs.errors import BadRequest, NotFound, QueryServerError
from brainlink_docs.views.js import Limits, QueryServer, design_doc

# Short limits keep the suite fast; the mechanisms are the same at CouchDB's 5 s / 64 MiB.
LIMITS = Limits(timeout_s=0.5, memory_bytes=32 * 1024 * 1024)
DOCS = [{"_id": "a", "n": 1}, {"_id": "b", "n": 2}, {"_id": "c", "n": 3}]


@pytest.fixture
async def server() -> AsyncIterator[QueryServer]:
    async with QueryServer(LIMITS) as query_server:
        yield query_server


def ddoc(map_source: str, reduce: str | None = None, **extra: Any) -> Any:
    view: dict[str, Any] = {"map": map_source}
    if reduce is not None:
        view["reduce"] = reduce
    return design_doc({"_id": "_design/t", "views": {"v": view, **extra}})


async def still_maps(server: QueryServer) -> None:
    rows = await server.map_docs(ddoc("function(doc){ emit(doc._id, doc.n); }"), ["v"], DOCS)
    assert rows == [[[["a", 1]]], [[["b", 2]]], [[["c", 3]]]]


async def test_an_endless_map_times_out_and_the_server_goes_on(server: QueryServer) -> None:
    looping = ddoc("function(doc){ if (doc.n === 2) while (true) {} emit(doc._id, 1); }")
    started = time.monotonic()
    with pytest.raises(QueryServerError) as caught:
        await server.map_docs(looping, ["v"], DOCS)
    assert caught.value.to_json() == {
        "error": "os_process_error",
        "reason": "OS process timed out.",
    }
    assert caught.value.status == 500
    # Document a maps, then b loops: at most one limit before b and one on b alone.
    assert time.monotonic() - started < 3 * LIMITS.timeout_s + 1.0
    await still_maps(server)
    await server.map_docs(looping, ["v"], [DOCS[0]])  # the rebuilt context works


async def test_each_document_gets_the_whole_time_limit(server: QueryServer) -> None:
    # Four documents of 0.3 s each: 1.2 s for the batch, more than one 0.5 s limit, as a
    # batch of CouchDB map_doc commands (each under os_process_timeout) would be.
    slow = ddoc(
        "function(doc){ var t = Date.now(); while (Date.now() - t < 300) {} emit(doc._id, 1); }"
    )
    rows = await server.map_docs(slow, ["v"], [{"_id": str(i)} for i in range(4)])
    assert [r[0] for r in rows] == [[[str(i), 1]] for i in range(4)]


async def test_a_memory_bomb_is_stopped_and_the_server_goes_on(server: QueryServer) -> None:
    bomb = ddoc(
        "function(doc){ if (doc.n === 3) { var a = []; while (1) a.push(new Array(1e6)); } }"
    )
    started = time.monotonic()
    with pytest.raises(QueryServerError) as caught:
        await server.map_docs(bomb, ["v"], DOCS)
    assert caught.value.status == 500
    assert caught.value.error == "os_process_error"
    assert time.monotonic() - started < 10
    await still_maps(server)


async def test_the_event_loop_keeps_running_while_javascript_loops(server: QueryServer) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    with pytest.raises(QueryServerError):
        await server.map_docs(ddoc("function(doc){ while (true) {} }"), ["v"], DOCS[:1])
    task.cancel()
    assert ticks >= 20  # ~50 ticks fit in the 0.5 s limit


async def test_an_endless_reduce_times_out(server: QueryServer) -> None:
    looping = ddoc("function(doc){ emit(1, 1); }", "function(k, v, re){ while (true) {} }")
    with pytest.raises(QueryServerError, match="timed out"):
        await server.reduce(looping, "v", [[[1, "a"], 1]])


async def test_design_functions_reach_nothing_of_the_host(server: QueryServer) -> None:
    names = [
        "require", "process", "std", "os", "print", "gc", "fetch", "XMLHttpRequest",
        "setTimeout", "Promise", "Proxy", "WebAssembly", "Deno", "Bun", "performance",
        "queueMicrotask", "Uint8Array", "SharedArrayBuffer", "Atomics",
    ]  # fmt: skip
    probe = "[" + ", ".join(f"typeof {name}" for name in names) + "]"
    kinds = ddoc(
        f"function(doc){{ emit(null, {probe}); }}", f"function(k, v, re){{ return {probe}; }}"
    )
    [[[[_, in_map]]]] = await server.map_docs(kinds, ["v"], DOCS[:1])
    in_reduce = await server.reduce(kinds, "v", [[[None, "a"], 1]])
    # A map function has CouchDB's require (views.lib only); nothing else exists.
    assert dict(zip(names, in_map, strict=True)) == {n: "undefined" for n in names} | {
        "require": "function"
    }
    assert in_reduce == ["undefined"] * len(names)


async def test_require_reaches_only_views_lib(
    server: QueryServer, caplog: pytest.LogCaptureFixture
) -> None:
    escaping = ddoc(
        "function(doc){ emit(doc._id, require(doc.path).x); }",
        lib={"ok": "exports.x = 'lib';"},
    )
    docs = [
        {"_id": "fs", "path": "fs"},
        {"_id": "up", "path": "../../../etc/passwd"},
        {"_id": "ok", "path": "views/lib/ok"},
        {"_id": "self", "path": "views/v/map"},
    ]
    with caplog.at_level(logging.INFO, logger="brainlink_docs.views.js"):
        rows = await server.map_docs(escaping, ["v"], docs)
    assert rows == [[[]], [[]], [[["ok", "lib"]]], [[]]]
    assert 'Object has no property "fs"' in caplog.text
    assert "cannot read property 'parent' of undefined" in caplog.text  # as CouchDB's


async def test_a_throwing_map_skips_that_document_and_logs_it(
    server: QueryServer, caplog: pytest.LogCaptureFixture
) -> None:
    throwing = ddoc("function(doc){ if (doc.n === 2) throw new Error('boom'); emit(doc._id, 1); }")
    with caplog.at_level(logging.INFO, logger="brainlink_docs.views.js"):
        rows = await server.map_docs(throwing, ["v"], DOCS)
    assert rows == [[[["a", 1]]], [[]], [[["c", 1]]]]
    assert "function raised exception Error: boom with doc._id b" in caplog.text


async def test_deep_recursion_skips_the_document(server: QueryServer) -> None:
    # CouchDB's couchjs dies of a segfault here (500 {exit_status,139}); QuickJS-ng's stack
    # guard throws a RangeError, so only that document is skipped.
    deep = ddoc("function(doc){ function f(n) { return f(n + 1) + 1; } emit(doc._id, f(0)); }")
    assert await server.map_docs(deep, ["v"], DOCS[:1]) == [[[]]]


@pytest.mark.parametrize(
    ("thrown", "error", "reason"),
    [
        ("'fatal_error'", "map_runtime_error", "function raised 'fatal_error'"),
        ("['fatal', 'my_error', 'my reason']", "my_error", "my reason"),
    ],
)
async def test_a_fatal_throw_fails_the_call_as_couchdb(
    server: QueryServer, thrown: str, error: str, reason: str
) -> None:
    fatal = ddoc(f"function(doc){{ if (doc.n === 2) throw {thrown}; emit(doc._id, 1); }}")
    with pytest.raises(QueryServerError) as caught:
        await server.map_docs(fatal, ["v"], DOCS)
    assert (caught.value.status, caught.value.to_json()) == (
        500,
        {"error": error, "reason": reason},
    )


async def test_unknown_views_languages_and_map_only_reduces_are_refused(
    server: QueryServer,
) -> None:
    with pytest.raises(NotFound, match="missing_named_view"):
        await server.map_docs(ddoc("function(doc){}"), ["nope"], DOCS)
    with pytest.raises(BadRequest, match="Reduce is invalid"):
        await server.reduce(ddoc("function(doc){}"), "v", [])
    python = design_doc({"language": "python", "views": {"v": {"map": "def f(doc): pass"}}})
    with pytest.raises(QueryServerError) as caught:
        await server.map_docs(python, ["v"], DOCS)
    assert caught.value.to_json() == {"error": "unknown_query_language", "reason": "python"}


async def test_a_throwing_reduce_gives_null_and_logs_it(
    server: QueryServer, caplog: pytest.LogCaptureFixture
) -> None:
    # CouchDB's runReduce: the reduction of a function that throws is null (logged).
    throwing = ddoc("function(doc){ emit(1, 1); }", "function(k, v, re){ throw new Error('no'); }")
    with caplog.at_level(logging.INFO, logger="brainlink_docs.views.js"):
        assert await server.reduce(throwing, "v", [[[1, "a"], 1]]) is None
        assert await server.rereduce(throwing, "v", [1, 2]) is None
    assert "function raised exception Error: no" in caplog.text
