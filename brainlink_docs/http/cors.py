"""CORS as CouchDB's ``[cors]`` section configures it, so browser apps on other origins can talk
to the server: preflight ``OPTIONS`` answered before authentication (browsers send no
credentials on a preflight), and the ``Access-Control-*`` headers added to every answer to an
allowed origin, errors and streamed feeds included.

A wildcard origin is served as ``*`` and never with credentials: echoing any origin together
with ``Allow-Credentials`` would let every website act with a user's session cookie.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from brainlink_docs.config import CorsSettings
from brainlink_docs.http.responses import BASE_HEADERS

# chttpd_cors.hrl's COUCH_HEADERS: what a browser script may read of an answer.
EXPOSED_HEADERS = (
    "content-type, cache-control, accept-ranges, etag, server, x-couch-request-id, "
    "x-couch-update-newrev, x-couchdb-body-time"
)


class Cors:
    def __init__(self, settings: CorsSettings) -> None:
        self._settings = settings
        self._wildcard = "*" in settings.origins
        self._origins = frozenset(o.rstrip("/") for o in settings.origins if o != "*")
        self._methods = frozenset(m.upper() for m in settings.methods)
        # As CouchDB: configured headers replace the default list rather than add to it.
        self._headers = frozenset(h.lower() for h in settings.headers)
        self._credentials = settings.credentials and not self._wildcard

    def _allowed(self, origin: str) -> bool:
        return self._wildcard or origin.rstrip("/") in self._origins

    def _base(self, origin: str) -> dict[str, str]:
        if self._credentials:
            return {
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Credentials": "true",
                "Vary": "Origin",
            }
        if self._wildcard:
            return {"Access-Control-Allow-Origin": "*"}
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}

    def preflight(self, request: web.Request) -> web.Response | None:
        """The answer to a CORS preflight, or None when the request is not one."""
        if not _is_preflight(request):
            return None
        headers: Mapping[str, str] = request.headers
        origin = headers["Origin"]
        wanted = headers["Access-Control-Request-Method"]
        asked = headers.get("Access-Control-Request-Headers", "")
        requested = {h.strip().lower() for h in asked.split(",") if h.strip()}
        if (
            not self._allowed(origin)
            or wanted.upper() not in self._methods
            or not requested <= self._headers
        ):
            # No CORS headers: the browser refuses the actual request.
            return web.Response(status=200, headers=BASE_HEADERS)
        # chttpd_cors: 204, and the requested headers named back as the browser spelled them
        # (all of them are allowed, or this would not be a preflight answer).
        allow = {
            **BASE_HEADERS,
            **self._base(origin),
            "Access-Control-Allow-Methods": ", ".join(sorted(self._methods)),
            "Access-Control-Allow-Headers": asked,
            "Access-Control-Max-Age": str(self._settings.max_age),
        }
        return web.Response(status=204, headers=allow)

    def decorate(self, request: web.Request, response: web.StreamResponse) -> None:
        origin = request.headers.get("Origin")
        if origin is None or not self._allowed(origin):
            return
        if _is_preflight(request):
            return  # answered by ``preflight``, refusals without any CORS header
        response.headers.update(self._base(origin))
        response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS


def _is_preflight(request: web.Request) -> bool:
    headers = request.headers
    return (
        request.method == "OPTIONS"
        and "Origin" in headers
        and "Access-Control-Request-Method" in headers
    )
