"""Typed keys for what the application and each request carry (aiohttp's AppKey/RequestKey).

They live apart from ``app`` so route modules can import them without importing the app,
which imports the routes.
"""

from __future__ import annotations

from aiohttp import web

from brainlink_docs.config import Settings
from brainlink_docs.http.access import Access
from brainlink_docs.http.auth import Authenticated, Authenticator
from brainlink_docs.search.databases import MessageSearches
from brainlink_docs.security.acl import UserCtx
from brainlink_docs.security.audit import AuditLog
from brainlink_docs.store.api import Databases

DATABASES: web.AppKey[Databases] = web.AppKey("databases", Databases)  # type: ignore[type-abstract]
SETTINGS: web.AppKey[Settings] = web.AppKey("settings", Settings)
AUTH: web.AppKey[Authenticator] = web.AppKey("auth", Authenticator)
# The ``_users`` view's options (hash rounds, sign-up, hooks), built once per application.
USERS_OPTIONS: web.AppKey[dict] = web.AppKey("users_options", dict)
# The audit log of sensitive writes; absent when ``[audit] enabled = false``.
AUDIT_LOG: web.AppKey[AuditLog] = web.AppKey("audit_log", AuditLog)
# The message-search indexes of the open databases (``search.databases``).
SEARCHES: web.AppKey[MessageSearches] = web.AppKey("searches", MessageSearches)
USER_CTX: web.RequestKey[UserCtx] = web.RequestKey("user_ctx", UserCtx)
AUTHENTICATED: web.RequestKey[Authenticated] = web.RequestKey("authenticated", Authenticated)
ACCESS: web.RequestKey[Access] = web.RequestKey("access", Access)
