"""Typed keys for what the application and each request carry (aiohttp's AppKey/RequestKey).

They live apart from ``app`` so route modules can import them without importing the app,
which imports the routes.
"""

from __future__ import annotations

from aiohttp import web

from brainlink_docs.config import Settings
from brainlink_docs.http.auth import PasswordCache, UserCtx
from brainlink_docs.store.api import Databases

DATABASES: web.AppKey[Databases] = web.AppKey("databases", Databases)  # type: ignore[type-abstract]
SETTINGS: web.AppKey[Settings] = web.AppKey("settings", Settings)
PASSWORDS: web.AppKey[PasswordCache] = web.AppKey("passwords", PasswordCache)
USER_CTX: web.RequestKey[UserCtx] = web.RequestKey("user_ctx", UserCtx)
