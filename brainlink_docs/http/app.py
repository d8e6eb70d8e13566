"""``make_app``: the aiohttp application that speaks CouchDB's HTTP API over ``Databases``.

Routing follows CouchDB's path grammar rather than aiohttp's router: the raw path is split on
``/`` and each segment percent-decoded, so ``a%2Fb`` is one database name and ``_design%2Fx``
one document id, exactly as ``chttpd`` reads them (``routing.py``). Two middlewares wrap every
request: one renders ``CouchError`` as ``{"error", "reason"}`` (anything else is a logged 500),
one authenticates the request into a ``UserCtx``.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace

from aiohttp import web

from brainlink_docs.config import Settings
from brainlink_docs.errors import CouchError, FileExists, Forbidden, MethodNotAllowed
from brainlink_docs.http.access import check_server_access, require_valid_user
from brainlink_docs.http.auth import Authenticator
from brainlink_docs.http.cors import Cors
from brainlink_docs.http.keys import (
    ACCESS,
    AUDIT_LOG,
    AUTH,
    AUTHENTICATED,
    DATABASES,
    SEARCHES,
    SETTINGS,
    USER_CTX,
    USERS_OPTIONS,
)
from brainlink_docs.http.peruser import UserDatabases
from brainlink_docs.http.responses import json_response
from brainlink_docs.http.routes import replicate
from brainlink_docs.http.routes.session import cookie_header
from brainlink_docs.http.routing import Route, resolve, writes_to
from brainlink_docs.merge.background import BackgroundResolver
from brainlink_docs.merge.watched import WatchedDatabases
from brainlink_docs.models.documents import check_entity
from brainlink_docs.search.databases import MessageSearches
from brainlink_docs.security.acl import ADMIN_ONLY_SECURITY
from brainlink_docs.security.audit import APPEND_ONLY, AUDIT_DB, AuditLog
from brainlink_docs.security.users import USERS_DB
from brainlink_docs.store.api import Databases

log = logging.getLogger("brainlink_docs.http")
access_log = logging.getLogger("brainlink_docs.access")
# The background resolver of a server started with [merge] resolve = true.
RESOLVER: web.AppKey[BackgroundResolver] = web.AppKey("resolver", BackgroundResolver)


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
    authenticated = await request.app[AUTH].authenticate(request)
    request[AUTHENTICATED] = authenticated
    request[USER_CTX] = authenticated.user
    return await handler(request)


def cors_middleware(cors: Cors) -> Handler:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        # Before authentication: a browser's preflight carries no credentials.
        return cors.preflight(request) or await handler(request)

    return middleware  # type: ignore[return-value]


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
    user = request[USER_CTX]
    if request.app[SETTINGS].auth.require_valid_user:
        require_valid_user(user, request.method, request.path)
    if writes_to(route, AUDIT_DB):
        raise Forbidden(APPEND_ONLY)  # admins included: only the server writes the log
    check_server_access(route.access, user)
    request[ACCESS] = route.access
    return await route.handler(request, *route.args)


def make_app(databases: Databases, settings: Settings) -> web.Application:
    """The server application; the caller owns ``databases`` and closes it on shutdown."""
    cors = Cors(settings.cors) if settings.cors.enabled else None
    app = web.Application(
        # The access log is a middleware only when it is on: each layer costs every request.
        middlewares=([access_middleware] if settings.access_log else [])
        + [error_middleware]
        + ([cors_middleware(cors)] if cors is not None else [])  # type: ignore[list-item]
        + [auth_middleware],
        client_max_size=settings.max_request_size,
        handler_args={"max_field_size": 65536},
    )
    databases = _merging(app, databases, settings)
    app[DATABASES] = databases
    app[SEARCHES] = MessageSearches(settings.data_dir)
    if not settings.server_uuid:
        settings = replace(settings, server_uuid=uuid.uuid4().hex)
    app[SETTINGS] = settings
    authenticator = app[AUTH] = Authenticator(settings, databases)
    user_dbs = UserDatabases(settings.peruser, databases)

    async def users_written(names: list[str]) -> None:
        authenticator.forget_users(names)
        if settings.peruser.enable:
            await user_dbs.users_written(names)

    app[USERS_OPTIONS] = {
        "iterations": settings.auth.iterations,
        "public_signup": settings.auth.public_signup,
        "public_fields": settings.auth.public_fields,
        "on_written": users_written,
    }
    app.router.add_route("*", "/{tail:.*}", dispatch)
    app.on_response_prepare.append(_response_headers(cors, settings))

    async def create_users_db(app: web.Application) -> None:
        # Authentication reads _users; CouchDB's setup creates it (public, guarded by its rules).
        with contextlib.suppress(FileExists):
            await databases.create(USERS_DB)
        if settings.audit.enabled:
            await _create_audit_db(databases)
        await authenticator.load_revoked()
        if settings.peruser.enable:
            created = await user_dbs.reconcile()
            if created:
                log.info("created %d missing per-user databases", created)

    async def close_databases(app: web.Application) -> None:
        await app[SEARCHES].close()  # first: a search reads its database's store
        await app[DATABASES].close()

    app.on_startup.append(create_users_db)
    if settings.audit.enabled:
        audit_log = app[AUDIT_LOG] = AuditLog(databases, settings.audit.types)

        async def drain_audit(app: web.Application) -> None:
            await audit_log.drain()  # entries of writes that committed, before the close

        app.on_shutdown.append(drain_audit)
    replicate.setup(app, databases)  # its jobs stop on shutdown, before the databases close
    app.on_cleanup.append(close_databases)
    return app


async def _create_audit_db(databases: Databases) -> None:
    """``_audit``, readable by server admins only (its ``_security`` says so too)."""
    try:
        store = await databases.create(AUDIT_DB)
    except FileExists:
        return
    await store.set_security(ADMIN_ONLY_SECURITY)


def _merging(app: web.Application, databases: Databases, settings: Settings) -> Databases:
    """The databases the server serves: stores that refuse a bad ``_design/merge`` (and, with
    ``[entities] validate``, a typed Brainlink document that fails its model) and, with
    ``[merge] resolve``, tell the background resolver of every replicated write. The resolver
    starts with the app and stops as its shutdown begins, before the databases close."""
    check = check_entity if settings.validate_entities else None
    if not settings.resolve:
        return WatchedDatabases(databases, check=check)
    resolver = app[RESOLVER] = BackgroundResolver(databases, settings.merge_policies, check)

    async def start(app: web.Application) -> None:
        resolver.start()

    async def stop(app: web.Application) -> None:
        await resolver.stop()

    app.on_startup.append(start)
    app.on_shutdown.append(stop)
    return resolver.databases


def _response_headers(
    cors: Cors | None, settings: Settings
) -> Callable[[web.Request, web.StreamResponse], Awaitable[None]]:
    """Headers every answer may need, added as it is sent (streamed feeds included): CORS, and
    the refreshed session cookie CouchDB hands out once a cookie is 10% through its life."""

    async def add(request: web.Request, response: web.StreamResponse) -> None:
        if cors is not None:
            cors.decorate(request, response)
        authenticated = request.get(AUTHENTICATED)
        if authenticated is not None and authenticated.refresh is not None:
            response.headers.setdefault(
                "Set-Cookie", cookie_header(authenticated.refresh, settings.auth)
            )

    return add
