"""One aiohttp session bound to a base URL: CouchDB-style paths, query strings and errors.

A ``Transport`` turns every answer into either a 2xx ``Reply`` or a ``CouchError``: a non-2xx
status becomes the subclass CouchDB meant (``errors.error_from_response``), and anything that
keeps us from getting an answer (refused connection, reset, timeout, 5xx) becomes
``Unavailable``, the one error the replicator retries.

Credentials are a ``Credential`` (``auth.py``) shared by a transport and its children: its
prebuilt headers go with each request, and a 401 is handed back to it once (a cookie session
logs in again and the request is sent a second time). https verifies the server's certificate
against the system's trust store, or against ``ca_file``'s bundle when one is given; a
certificate that does not verify is ``UntrustedPeer``, not ``Unavailable``: no retry fixes it.

URLs are built already percent-encoded (``yarl.URL(..., encoded=True)``) so no layer re-quotes
them: CouchDB needs ``%2F`` inside a document id but a literal ``/`` after ``_design`` and
``_local`` and between the segments of an attachment name.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson
from multidict import CIMultiDictProxy
from yarl import URL

from brainlink_docs.errors import BadRequest, Unavailable, UntrustedPeer, error_from_response
from brainlink_docs.store.api import DESIGN_PREFIX, LOCAL_PREFIX
from brainlink_docs.store.http.auth import (
    AuthOption,
    Basic,
    Credential,
    as_auth,
    credential_for,
)

# Per-request bound for ordinary calls: generous enough for a 1,000-document _bulk_docs on a
# busy CouchDB, short enough that a hung peer surfaces as Unavailable and gets retried.
DEFAULT_TIMEOUT = 30.0
JSON = "application/json"
_JSON_HEADERS = {"Accept": JSON}

# Idle pooled connections are dropped after this long, just under Node's default server
# keepAliveTimeout (5 s, pouchdb-server): a POST is never retried by aiohttp, so reusing a
# connection the server is closing would surface as a spurious Unavailable.
KEEPALIVE_S = 4.0

# A CA bundle file (PEM) the server's certificate must chain to, instead of the system's.
CaFile = str | os.PathLike[str]


@dataclass(frozen=True, slots=True)
class Reply:
    """A 2xx answer, body fully read."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON, whatever Content-Type claims (pouchdb-server says text/plain)."""
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError as exc:
            raise Unavailable(f"The server answered HTTP {self.status} with invalid JSON") from exc


def dumps(value: object) -> bytes:
    """JSON bytes of a request body; read-only mappings and sequences serialize as JSON."""
    return orjson.dumps(value, default=_jsonable)


def _jsonable(value: object) -> object:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, list | tuple | set | frozenset):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def tls_context(ca_file: CaFile | None) -> ssl.SSLContext | bool:
    """How https is verified: ``True`` is aiohttp's default (the system's trust store, host
    name checked); a ``ca_file`` makes a context that trusts that bundle instead. Never
    ``False``: verification is not something to switch off by accident."""
    if ca_file is None:
        return True
    return ssl.create_default_context(cafile=os.fspath(ca_file))


def query_string(params: Mapping[str, str]) -> str:
    """``k=v&...`` with every reserved character escaped (a ``+`` must not turn into a space)."""
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in params.items())


def is_path_id(doc_id: object) -> bool:
    """Whether ``doc_id`` can name a document resource in a URL.

    Any other id starting with ``_`` would address a database endpoint instead (``_all_docs``,
    ``_changes``...), and an empty one the database itself.
    """
    if not isinstance(doc_id, str) or not doc_id:
        return False
    if not doc_id.startswith("_"):
        return True
    return any(
        doc_id.startswith(prefix) and len(doc_id) > len(prefix)
        for prefix in (DESIGN_PREFIX, LOCAL_PREFIX)
    )


def doc_path(doc_id: str) -> str:
    """The encoded path of a document, ``_design/``/``_local/`` keeping their slash as CouchDB
    clients write them; raises ``BadRequest`` for ids no document can have."""
    if not is_path_id(doc_id):
        raise BadRequest("Only reserved document ids may start with underscore.")
    for prefix in (DESIGN_PREFIX, LOCAL_PREFIX):
        if doc_id.startswith(prefix):
            return prefix + quote(doc_id[len(prefix) :], safe="")
    return quote(doc_id, safe="")


def attachment_path(doc_id: str, name: str) -> str:
    """An attachment's path: CouchDB reads every segment after the document id as the name."""
    return doc_path(doc_id) + "/" + "/".join(quote(part, safe="") for part in name.split("/"))


def db_segment(name: str) -> str:
    """A database name as one path segment (CouchDB requires ``/`` in names as ``%2F``)."""
    return quote(name, safe="")


class Transport:
    """Requests relative to one base URL (a server root or a database), with shared auth."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base: str,
        *,
        credential: Credential,
        timeout: float,
        owns_session: bool,
        headers: Mapping[str, str] | None = None,
        tls: ssl.SSLContext | bool = True,
    ) -> None:
        self._session = session
        self._base = base
        self._credential = credential
        self._headers = dict(headers or {})
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._seconds = timeout
        self._owns_session = owns_session
        self._tls = tls

    @classmethod
    def create(
        cls,
        url: str | URL,
        *,
        session: aiohttp.ClientSession | None,
        auth: AuthOption | None,
        timeout: float,
        headers: Mapping[str, str] | None = None,
        ca_file: CaFile | None = None,
        depth: int = 0,
    ) -> Transport:
        """Parse ``url``; its userinfo becomes Basic auth so credentials never sit in paths
        (nor in error messages). ``auth`` is any ``auth.AuthOption``; ``depth`` is how many
        path segments ``url`` lies below the server root, whose ``/_session`` a cookie session
        logs in at (1 for a database). ``headers`` go with every request (a replication
        endpoint's ``headers``); the credential's ``Authorization``/``Cookie`` win over theirs.
        ``ca_file``: the CA bundle https must chain to (read now, so a bad path fails here).
        Must run inside the event loop when it creates the session."""
        parsed = url if isinstance(url, URL) else URL(url)
        if parsed.scheme not in {"http", "https"} or not parsed.host:
            raise ValueError(f"not an http(s) URL: {parsed.with_password(None)}")
        way = None if auth is None else as_auth(auth)
        if parsed.user is not None:
            if way is not None:
                raise ValueError("credentials given both in the URL and as auth")
            way = Basic(parsed.user, parsed.password or "")
        base = str(parsed.with_user(None).with_query(None).with_fragment(None)).rstrip("/")
        root = base.rsplit("/", depth)[0] if depth else base
        tls = tls_context(ca_file)
        owns = session is None
        if session is None:
            # Cookies are the credential's to keep: a jar would send a stale AuthSession too.
            session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_S),
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return cls(
            session,
            base,
            credential=credential_for(way, f"{root}/_session"),
            timeout=timeout,
            owns_session=owns,
            headers=headers,
            tls=tls,
        )

    @property
    def base(self) -> str:
        return self._base

    @property
    def timeout(self) -> float:
        return self._seconds

    def child(self, segment: str) -> Transport:
        """A transport one encoded path segment deeper, sharing (never owning) the session."""
        return Transport(
            self._session,
            f"{self._base}/{segment}",
            credential=self._credential,
            timeout=self._seconds,
            owns_session=False,
            headers=self._headers,
            tls=self._tls,
        )

    def parent(self) -> Transport:
        """The transport one path segment up (a database's server root), sharing the session."""
        return Transport(
            self._session,
            self._base.rsplit("/", 1)[0],
            credential=self._credential,
            timeout=self._seconds,
            owns_session=False,
            headers=self._headers,
            tls=self._tls,
        )

    async def send(
        self,
        method: str,
        path: str = "",
        *,
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        client_timeout: aiohttp.ClientTimeout | None = None,
    ) -> Reply:
        """One request; a 2xx ``Reply`` or a raised ``CouchError``. A 401 the credential can
        cure (a cookie session whose cookie expired) is cured once and the request sent again:
        ``body`` is bytes, so sending it twice is safe."""
        url = f"{self._base}/{path}" if path else self._base
        if params:
            url = f"{url}?{query_string(params)}"
        target = URL(url, encoded=True)
        own = {**self._headers, **(headers or {})}
        timeout = client_timeout or self._timeout
        credential = self._credential
        await credential.ready(self._login)
        sent = credential.headers
        status, reply_headers, data = await self._exchange(
            method, target, body, {**own, **sent}, timeout
        )
        if status == 401 and credential.renewable:
            await credential.renew(sent, self._login)
            status, reply_headers, data = await self._exchange(
                method, target, body, {**own, **credential.headers}, timeout
            )
        credential.observe(reply_headers)
        if not 200 <= status < 300:
            raise error_from_response(status, _error_body(data))
        return Reply(status, reply_headers, data)

    async def _exchange(
        self,
        method: str,
        url: URL,
        body: bytes | None,
        headers: Mapping[str, str],
        client_timeout: aiohttp.ClientTimeout,
    ) -> tuple[int, CIMultiDictProxy[str], bytes]:
        """One HTTP round trip: status, headers and the whole body, whatever the status."""
        try:
            async with self._session.request(
                method,
                url,
                data=body,
                headers=headers,
                timeout=client_timeout,
                raise_for_status=False,
                ssl=self._tls,
            ) as response:
                return response.status, response.headers, await response.read()
        except aiohttp.ClientConnectorCertificateError as exc:
            raise UntrustedPeer(
                f"{method} {self._base}: the server's TLS certificate is not trusted "
                f"({exc.certificate_error}); give the CA bundle that signed it as ca_file"
            ) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Unavailable(f"{method} {self._base}: {type(exc).__name__}: {exc}") from exc

    async def _login(self, url: str, credentials: Mapping[str, str]) -> CIMultiDictProxy[str]:
        """``POST /_session`` for a cookie session: the reply's headers (its ``Set-Cookie``),
        or the server's refusal (a wrong password is its 401 with its reason)."""
        status, reply_headers, data = await self._exchange(
            "POST",
            URL(url, encoded=True),
            dumps(credentials),
            {"Content-Type": JSON, "Accept": JSON},
            self._timeout,
        )
        if not 200 <= status < 300:
            raise error_from_response(status, _error_body(data))
        return reply_headers

    async def call(
        self,
        method: str,
        path: str = "",
        *,
        params: Mapping[str, str] | None = None,
        payload: object = None,
        client_timeout: aiohttp.ClientTimeout | None = None,
    ) -> Any:
        """A JSON request (``payload`` None sends no body) answered with JSON."""
        headers = dict(_JSON_HEADERS)
        body = None
        if payload is not None:
            body = dumps(payload)
            headers["Content-Type"] = JSON
        reply = await self.send(
            method, path, params=params, body=body, headers=headers, client_timeout=client_timeout
        )
        return reply.json()

    async def close(self) -> None:
        if self._owns_session and not self._session.closed:
            await self._session.close()


def _error_body(data: bytes) -> object:
    """The ``{"error", "reason"}`` of an error answer, or None when it is not JSON (HEAD)."""
    try:
        return orjson.loads(data) if data else None
    except orjson.JSONDecodeError:
        return None
