"""``make_app``: the aiohttp application that speaks CouchDB's HTTP API over ``Databases``.

Routing follows CouchDB's path grammar rather than aiohttp's router: the raw path is split on
``/`` and each segment percent-decoded, so ``a%2Fb`` is one database name and ``_design%2Fx``
one document id, exactly as ``chttpd`` reads them (``routing.py``). Two middlewares wrap every
request: one renders ``CouchError`` as ``{"error", "reason"}`` (anything else is a logged 500),
one authenticates the request into a ``UserCtx``.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace

from aiohttp import web

from brainlink_docs.config import Settings
from brainlink_docs.errors import CouchError, MethodNotAllowed
from brainlink_docs.http.auth import PasswordCache, UserCtx, authenticate, require_admin
from brainlink_docs.http.keys import DATABASES, PASSWORDS, SETTINGS, USER_CTX
from brainlink_docs.http.responses import json_response
from brainlink_docs.http.routing import Route, resolve
from brainlink_docs.store.api import Databases

log = logging.getLogger("brainlink_docs.http")
access_log = logging.getLogger("brainlink_docs.access")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Render every ``CouchError`` the CouchDB way; anything else is a logged 500."""
    try:
        return await handler(request)
    except CouchError as exc:
        response = json_response(exc.to_json(), status=exc.status)
        if exc.status == 401 and exc.reason == "Authentication required.":
            # chttpd:error_headers with require_valid_user: challenge for basic auth.
            response.headers["WWW-Authenticate"] = 'Basic realm="server"'

        if isinstance(exc, MethodNotAllowed) and getattr(exc, "allow", None):
            response.headers["Allow"] = exc.allow  # type: ignore[attr-defined]
        return response
    except web.HTTPException:
        raise
    except (ConnectionResetError, TimeoutError):
        raise
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return json_response(
            {"error": "unknown_error", "reason": "Internal server error."}, status=500
        )


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    request[USER_CTX] = await authenticate(request, request.app[SETTINGS], request.app[PASSWORDS])
    return await handler(request)


@web.middleware
async def access_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    finally:
        access_log.info(
            "%s %s %s %d %.1fms",
            request.remote,
            request.method,
            request.rel_url.raw_path,
            status,
            (time.perf_counter() - started) * 1000,
        )


async def dispatch(request: web.Request) -> web.StreamResponse:
    route: Route = resolve(request.method, request.rel_url.raw_path)
    user: UserCtx = request[USER_CTX]
    if route.admin_only:
        require_admin(user)
    return await route.handler(request, *route.args)


def make_app(databases: Databases, settings: Settings) -> web.Application:
    """The server application; the caller owns ``databases`` and closes it on shutdown."""
    app = web.Application(
        # The access log is a middleware only when it is on: each layer costs every request.
        middlewares=([access_middleware] if settings.access_log else [])
        + [error_middleware, auth_middleware],
        client_max_size=settings.max_request_size,
        handler_args={"max_field_size": 65536},
    )
    app[DATABASES] = databases
    app[SETTINGS] = (
        settings if settings.server_uuid else replace(settings, server_uuid=uuid.uuid4().hex)
    )
    app[PASSWORDS] = PasswordCache()
    app.router.add_route("*", "/{tail:.*}", dispatch)

    async def close_databases(app: web.Application) -> None:
        await app[DATABASES].close()

    app.on_cleanup.append(close_databases)
    return app
