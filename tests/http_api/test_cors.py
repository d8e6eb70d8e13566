"""CORS as CouchDB's ``[cors]`` section configures it (``chttpd_cors``).

A preflight ``OPTIONS`` from an allowed origin, for an allowed method and headers, is answered
without credentials; actual requests (errors and streamed feeds too) carry
``Access-Control-Allow-Origin`` and expose ``ETag``; a wildcard origin never comes with
credentials; an origin not listed gets no CORS headers at all; CORS off adds nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from brainlink_docs.config import CorsSettings

from .conftest import Server, serving
from .helpers import create_db, put_doc

APP = "http://app.example:8080"
OTHER = "http://evil.example"


@pytest.fixture
async def cors_server(tmp_path: Path) -> AsyncIterator[Server]:
    cors = CorsSettings(enabled=True, origins=(APP,), credentials=True)
    async with serving(tmp_path / "data", cors=cors) as running:
        yield running


def preflight(origin: str, method: str = "PUT", headers: str = "content-type") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": headers,
    }


async def test_preflight_from_an_allowed_origin_is_answered_without_credentials(
    cors_server: Server,
) -> None:
    async with (
        aiohttp.ClientSession(cors_server.url) as anon,
        anon.options("/db/doc", headers=preflight(APP, "PUT", "content-type")) as r,
    ):
        assert r.status == 204  # CouchDB's chttpd_cors
        assert r.headers["Access-Control-Allow-Origin"] == APP
        assert r.headers["Access-Control-Allow-Credentials"] == "true"
        assert "PUT" in r.headers["Access-Control-Allow-Methods"]
        assert r.headers["Access-Control-Allow-Headers"] == "content-type"
        assert r.headers["Access-Control-Max-Age"] == "600"


@pytest.mark.parametrize(
    "headers",
    [
        preflight(OTHER),  # origin not listed
        preflight(APP, "PATCH"),  # method not allowed
        preflight(APP, "PUT", "x-secret-header"),  # header not allowed
    ],
)
async def test_refused_preflight_has_no_cors_headers(
    cors_server: Server, headers: dict[str, str]
) -> None:
    async with (
        aiohttp.ClientSession(cors_server.url) as anon,
        anon.options("/db/doc", headers=headers) as r,
    ):
        assert "Access-Control-Allow-Origin" not in r.headers


async def test_actual_requests_and_errors_carry_origin_and_expose_etag(
    cors_server: Server,
) -> None:
    async with aiohttp.ClientSession(cors_server.url, headers=cors_server.auth_headers) as admin:
        await create_db(admin)
        await put_doc(admin, "/db/doc", {"a": 1})
        async with admin.get("/db/doc", headers={"Origin": APP}) as r:
            assert r.status == 200
            assert r.headers["Access-Control-Allow-Origin"] == APP
            assert r.headers["Access-Control-Allow-Credentials"] == "true"
            assert "etag" in r.headers["Access-Control-Expose-Headers"].lower()
            assert "ETag" in r.headers
        async with admin.get(
            "/db/_changes?feed=longpoll&since=now&timeout=50", headers={"Origin": APP}
        ) as r:
            assert r.headers["Access-Control-Allow-Origin"] == APP
        async with admin.get("/db/doc", headers={"Origin": OTHER}) as r:
            assert "Access-Control-Allow-Origin" not in r.headers
    async with (
        aiohttp.ClientSession(cors_server.url) as anon,
        anon.get("/db/doc", headers={"Origin": APP}) as r,
    ):
        assert r.status == 401  # the browser can read the error because of the header
        assert r.headers["Access-Control-Allow-Origin"] == APP


async def test_wildcard_origin_never_allows_credentials(tmp_path: Path) -> None:
    cors = CorsSettings(enabled=True, origins=("*",), credentials=True)
    async with (
        serving(tmp_path / "data", cors=cors) as server,
        aiohttp.ClientSession(server.url) as anon,
    ):
        async with anon.options("/", headers=preflight(OTHER, "GET", "")) as r:
            assert r.headers["Access-Control-Allow-Origin"] == "*"
            assert "Access-Control-Allow-Credentials" not in r.headers
        async with anon.get("/", headers={"Origin": OTHER}) as r:
            assert r.headers["Access-Control-Allow-Origin"] == "*"
            assert "Access-Control-Allow-Credentials" not in r.headers


async def test_cors_off_adds_nothing_and_options_is_not_a_preflight(server: Server) -> None:
    async with aiohttp.ClientSession(server.url) as anon:
        async with anon.get("/", headers={"Origin": APP}) as r:
            assert "Access-Control-Allow-Origin" not in r.headers
        async with anon.options("/db/doc", headers=preflight(APP)) as r:
            assert r.status == 405
            assert "Access-Control-Allow-Origin" not in r.headers
