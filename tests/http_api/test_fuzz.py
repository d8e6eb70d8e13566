"""Random requests, valid and not, never break the server.

Requests are drawn from CouchDB's path grammar (server endpoints, databases, their special
segments, document ids with literal and encoded slashes, attachments, design-document functions)
plus junk, with random methods, query strings, headers and bodies. Whatever arrives, the server
answers within a bounded time and never with a 5xx; its error bodies are ``{"error", "reason"}``;
and afterwards every database still agrees with itself: ``GET /db`` ``doc_count``, ``_all_docs``
``total_rows`` and the live rows of ``_changes`` count the same documents.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
import yarl
from hypothesis import HealthCheck, Phase, event, example, given, settings
from hypothesis import strategies as st

from .conftest import Server

# Every fuzzed request must be answered within this long: feeds get timeout=FEED_TIMEOUT_MS.
REQUEST_DEADLINE = 10.0
FEED_TIMEOUT_MS = "100"

# Examples share the function-scoped server on purpose; the explain phase only costs time.
FUZZ_HEALTH_CHECKS = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
FUZZ_PHASES = [Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink]

DBS = ["fuzz", "other"]
SERVER_SEGMENTS = [
    "_all_dbs",
    "_dbs_info",
    "_uuids",
    "_up",
    "_session",
    "_active_tasks",
    "_config",
    "_replicate",
    "_utils",
    "_node",
    "favicon.ico",
]
DB_SEGMENTS = [
    "_all_docs",
    "_design_docs",
    "_local_docs",
    "_bulk_docs",
    "_bulk_get",
    "_revs_diff",
    "_missing_revs",
    "_changes",
    "_compact",
    "_view_cleanup",
    "_revs_limit",
    "_ensure_full_commit",
    "_purge",
    "_security",
    "_find",
    "_index",
    "_explain",
    "_design",
    "_local",
    "_partition",
    "_purged_infos_limit",
]
DOC_IDS = ["doc1", "doc2", "doc3", "a%2Fb", "_design%2Fapp", "_local%2Fcp", "%C3%A9t%C3%A9"]
DESIGN_FUNCTIONS = ["_view", "_show", "_list", "_update", "_info", "_rewrite", "_search"]
JUNK_SEGMENTS = ["", ".", "..", "%", "%2", "%zz", "%00", "%2F", "%252F", "_", "__x", ";x=1"]
REVS = ["1-abc", "1-" + "0" * 32, "2-deadbeef", "0-1", "x-y", "", "1-", "-1-a", "99999999999-a"]
PARAMS = [
    "rev",
    "revs",
    "revs_info",
    "open_revs",
    "latest",
    "conflicts",
    "deleted_conflicts",
    "local_seq",
    "attachments",
    "atts_since",
    "meta",
    "startkey",
    "start_key",
    "endkey",
    "end_key",
    "key",
    "keys",
    "limit",
    "skip",
    "descending",
    "inclusive_end",
    "include_docs",
    "update_seq",
    "feed",
    "since",
    "heartbeat",
    "timeout",
    "filter",
    "doc_ids",
    "style",
    "batch",
    "new_edits",
    "count",
    "w",
    "r",
]
PARAM_VALUES = [
    "true",
    "false",
    "all",
    "now",
    "ok",
    "0",
    "1",
    "-1",
    "5",
    "99999999999999999999",
    "normal",
    "longpoll",
    "continuous",
    "eventsource",
    "_doc_ids",
    "_selector",
    "_design",
    "_view",
    "ddoc/filter",
    "all_docs",
    "main_only",
]
CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "text/plain",
    "multipart/related",
    'multipart/related; boundary="b"',
    "multipart/form-data; boundary=b",
    "application/octet-stream",
    "garbage",
    "",
]
ACCEPTS = ["application/json", "multipart/mixed", "multipart/related", "*/*", "text/html", "x"]


def segment(choices: list[str]) -> st.SearchStrategy[str]:
    """Mostly a segment of the grammar, sometimes junk or arbitrary percent-encoded text."""
    known = st.sampled_from(choices)
    junk = st.sampled_from(JUNK_SEGMENTS)
    text = st.text(max_size=12).map(lambda t: quote(t, safe=""))
    return st.integers(0, 9).flatmap(lambda n: known if n < 7 else junk if n < 9 else text)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=16),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)

attachment_specs = st.dictionaries(
    st.sampled_from(["a.txt", "b/c.bin", "_bad", ""]),
    st.fixed_dictionaries(
        {},
        optional={
            "content_type": st.sampled_from(["text/plain", "application/octet-stream", ""]),
            "data": st.sampled_from(["aGVsbG8=", "not base64!", ""]) | st.integers(),
            "stub": st.booleans(),
            "follows": st.booleans(),
            "length": st.integers(),
            "revpos": st.integers(),
            "digest": st.sampled_from(["md5-XrY7u+Ae7tCTyyK7j1rNww==", "sha1-x", "junk"]),
        },
    ),
    max_size=2,
)

docs = st.builds(
    lambda base, special: {**base, **special},
    st.dictionaries(st.text(max_size=8).filter(lambda k: not k.startswith("_")), json_values),
    st.fixed_dictionaries(
        {},
        optional={
            "_id": st.sampled_from(["doc1", "doc2", "a/b", "_design/app", "_local/cp", "_bad"])
            | st.integers(),
            "_rev": st.sampled_from(REVS) | st.integers(),
            "_deleted": st.booleans() | st.integers(),
            "_attachments": attachment_specs | st.text(max_size=4),
            "_revisions": st.fixed_dictionaries(
                {"start": st.integers(-2, 5), "ids": st.lists(st.sampled_from(["a", "b", ""]))}
            )
            | json_values,
            "_conflicts": json_values,
            "_unknown": json_values,
        },
    ),
)

bodies = st.one_of(
    st.none(),
    docs.map(json.dumps),
    st.builds(
        lambda d, ne: json.dumps({"docs": d, "new_edits": ne}),
        st.lists(docs, max_size=4),
        st.booleans() | json_values,
    ),
    st.builds(
        lambda ks: json.dumps({"keys": ks}), st.lists(st.sampled_from(DOC_IDS) | json_values)
    ),
    st.builds(
        lambda ids: json.dumps({"docs": [{"id": i} for i in ids]}),
        st.lists(st.sampled_from(["doc1", "doc2", "nope"])),
    ),
    st.dictionaries(st.sampled_from(["doc1", "doc2", "x"]), st.lists(st.sampled_from(REVS))).map(
        json.dumps
    ),
    json_values.map(json.dumps),
    st.binary(max_size=64).map(lambda b: b.decode("latin-1")),
    st.just('--b\r\nContent-Type: application/json\r\n\r\n{"_attachments":{"f":{"follows":true}}}'),
)


@st.composite
def paths(draw: st.DrawFn) -> str:
    db = draw(segment(DBS))
    shape = draw(st.integers(0, 7))
    if shape == 0:
        return "/"
    if shape == 1:
        return "/" + draw(segment(SERVER_SEGMENTS))
    if shape == 2:
        return f"/{db}"
    if shape == 3:
        return f"/{db}/" + draw(segment(DB_SEGMENTS))
    if shape == 4:
        rest = draw(st.lists(segment(["a.txt", "dir", "f.bin"]), max_size=3))
        return "/".join([f"/{db}", draw(segment(DOC_IDS)), *rest])
    if shape == 5:
        rest = draw(st.lists(segment([*DESIGN_FUNCTIONS, "x", "app"]), max_size=3))
        return "/".join([f"/{db}", "_design", draw(segment(["app", "other"])), *rest])
    if shape == 6:
        rest = draw(st.lists(segment(["cp", "att"]), max_size=2))
        return "/".join([f"/{db}", "_local", *rest])
    return "/" + "/".join(draw(st.lists(segment(DB_SEGMENTS + DOC_IDS), max_size=5)))


query_strings = st.lists(
    st.tuples(
        st.sampled_from(PARAMS) | st.text(max_size=6),
        st.sampled_from(PARAM_VALUES)
        | json_values.map(json.dumps)
        | st.sampled_from(REVS)
        | st.text(max_size=10),
    ),
    max_size=5,
)


# Each header is absent more often than not, so most requests stay plausible.
def sometimes(values: st.SearchStrategy[str]) -> st.SearchStrategy[str | None]:
    return st.integers(0, 4).flatmap(lambda n: values if n == 0 else st.none())


headers = st.builds(
    lambda **values: {k.replace("_", "-"): v for k, v in values.items() if v is not None},
    Content_Type=sometimes(st.sampled_from(CONTENT_TYPES)),
    Accept=sometimes(st.sampled_from(ACCEPTS)),
    If_Match=sometimes(st.sampled_from(REVS).map(lambda r: f'"{r}"') | st.just("*")),
    If_None_Match=sometimes(st.sampled_from(REVS).map(lambda r: f'"{r}"')),
    Range=sometimes(st.sampled_from(["bytes=0-1", "bytes=-1", "bytes=5-2", "bytes=x", "lines=1"])),
    Destination=sometimes(st.sampled_from(["doc9", "doc1?rev=1-abc", "_design/x", "_local/y", ""])),
    X_HTTP_Method_Override=sometimes(st.sampled_from(["DELETE", "PUT", "JUNK"])),
    Content_Encoding=sometimes(st.sampled_from(["identity", "gzip", "deflate", "br", "x"])),
    Authorization=st.integers(0, 19).flatmap(
        lambda n: st.sampled_from(["Basic !!", "Bearer x", "Basic YTpi"]) if n == 0 else st.none()
    ),
)

methods = st.sampled_from(
    ["GET", "GET", "HEAD", "PUT", "PUT", "POST", "POST", "DELETE", "COPY", "PATCH", "OPTIONS"]
)


def query_string(pairs: list[tuple[str, str]]) -> str:
    if any(key == "feed" for key, _ in pairs):
        # A feed may legitimately wait: bound it so "no hang" is a property of the server.
        pairs = [(k, v) for k, v in pairs if k != "timeout"] + [("timeout", FEED_TIMEOUT_MS)]
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)


async def seed(client: aiohttp.ClientSession) -> None:
    for db in DBS:
        async with client.put(f"/{db}") as r:
            assert r.status == 201
        docs_ = [{"_id": "doc1", "v": 1}, {"_id": "doc2", "v": 2}, {"_id": "_design/app"}]
        async with client.post(f"/{db}/_bulk_docs", json={"docs": docs_}) as r:
            assert r.status == 201
        async with client.put(f"/{db}/doc3/a.txt", data=b"hi") as r:
            assert r.status == 201


async def assert_databases_agree(client: aiohttp.ClientSession) -> None:
    async with client.get("/_all_dbs") as r:
        assert r.status == 200
        names = await r.json()
    for name in names:
        path = "/" + quote(name, safe="")
        async with client.get(path) as r:
            assert r.status == 200, name
            info = await r.json()
        async with client.get(path + "/_all_docs") as r:
            assert r.status == 200, name
            all_docs = await r.json()
        async with client.get(path + "/_changes", params={"style": "all_docs"}) as r:
            assert r.status == 200, name
            results = (await r.json())["results"]
        ids = [row["id"] for row in results]
        assert len(ids) == len(set(ids)), f"{name}: a document appears twice in _changes"
        live = [row["id"] for row in results if not row.get("deleted")]
        dead = [row["id"] for row in results if row.get("deleted")]
        assert info["doc_count"] == all_docs["total_rows"] == len(all_docs["rows"]), name
        assert sorted(live) == sorted(row["id"] for row in all_docs["rows"]), name
        assert info["doc_del_count"] == len(dead), name


@pytest.fixture
async def seeded(server: Server, client: aiohttp.ClientSession) -> aiohttp.ClientSession:
    """The admin session over two seeded databases; every example of a run shares them."""
    await seed(client)
    return client


async def send(
    server: Server,
    client: aiohttp.ClientSession,
    method: str,
    path: str,
    query: str,
    hdrs: dict[str, str],
    body: str | None,
) -> None:
    raw = server.url + path + (f"?{query}" if query else "")
    url = yarl.URL(raw, encoded=True)
    data = body.encode("utf-8", "surrogateescape") if body is not None else None
    if data is not None and "Content-Type" not in hdrs:
        hdrs = {**hdrs, "Content-Type": "application/json"}
    described = f"{method} {raw} headers={hdrs} body={body!r}"
    async with asyncio.timeout(REQUEST_DEADLINE):
        async with client.request(method, url, headers=hdrs, data=data) as r:
            payload = await r.read()
            status = r.status
            ctype = r.headers.get("Content-Type", "")
            allow = r.headers.get("Allow")
    event(f"status {status}")
    if status == 501:
        # Views, shows, lists, Mango: not implemented, and saying so is a valid answer.
        assert method == "HEAD" or json.loads(payload)["error"] == "not_implemented", described
        return
    assert status < 500, f"{described} -> {status} {payload[:300]!r}"
    if status >= 400 and method != "HEAD" and ctype.startswith("application/json"):
        error = json.loads(payload)
        assert isinstance(error.get("error"), str), described
        assert isinstance(error.get("reason"), str), described
    if status == 405:
        assert allow, f"{described} -> 405 without Allow"


# Requests that once broke the server, replayed on every run before the random ones.
REGRESSIONS = [
    ("GET", "/fuzz/_local/cp/att", [], {}, None),
    ("PUT", "/fuzz/doc9", [], {"Content-Type": "multipart/related"}, "{}"),
    ("PUT", "/fuzz/doc9", [], {"Content-Type": 'multipart/related; boundary="b"'}, ""),
    ("PUT", "/fuzz/doc9", [], {"Content-Encoding": "gzip"}, '{"a": 1}'),
    ("GET", "/fuzz/doc1", [("revs", "yes"), ("open_revs", "[1]")], {}, None),
    ("GET", "/fuzz/%zz", [], {}, None),
    ("GET", "/fuzz/_changes", [("since", "not-a-seq")], {}, None),
]


def with_regressions(test: Any) -> Any:
    for method, path, query, hdrs, body in REGRESSIONS:
        test = example(method=method, path=path, query=query, hdrs=hdrs, body=body)(test)
    return test


@settings(suppress_health_check=FUZZ_HEALTH_CHECKS, phases=FUZZ_PHASES)
@with_regressions
@given(method=methods, path=paths(), query=query_strings, hdrs=headers, body=bodies)
async def test_random_requests_never_fail_the_server_or_its_invariants(
    server: Server,
    seeded: aiohttp.ClientSession,
    method: str,
    path: str,
    query: list[tuple[str, str]],
    hdrs: dict[str, str],
    body: str | None,
) -> None:
    await send(server, seeded, method, path, query_string(query), hdrs, body)
    async with asyncio.timeout(REQUEST_DEADLINE):
        await assert_databases_agree(seeded)


@settings(suppress_health_check=FUZZ_HEALTH_CHECKS, phases=FUZZ_PHASES)
@given(
    request_line=st.one_of(
        st.binary(max_size=200),
        st.builds(
            lambda m, p, v: f"{m} {p} {v}".encode("utf-8", "surrogateescape"),
            st.sampled_from(["GET", "PUT", "POST", "G E T", "", "\x00"]),
            st.text(max_size=30),
            st.sampled_from(["HTTP/1.1", "HTTP/1.0", "HTTP/9.9", "", "HTTP/1.1 extra"]),
        ),
    ),
    header_block=st.binary(max_size=200),
)
async def test_raw_junk_on_the_socket_never_fails_the_server(
    server: Server, client: aiohttp.ClientSession, request_line: bytes, header_block: bytes
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(request_line + b"\r\n" + header_block + b"\r\n\r\n")
        writer.write_eof()  # a request that promises a body must not keep the server waiting
        await writer.drain()
        async with asyncio.timeout(REQUEST_DEADLINE):
            status_line = await reader.readline()
    finally:
        writer.transport.abort()
    if status_line:
        parts = status_line.split()
        assert len(parts) >= 2 and parts[0].startswith(b"HTTP/"), status_line
        assert not parts[1].startswith(b"5"), status_line
    async with asyncio.timeout(REQUEST_DEADLINE), client.get("/_up") as r:
        assert r.status == 200
