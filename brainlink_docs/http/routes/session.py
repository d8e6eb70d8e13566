"""``/_session``: cookie login (POST), who am I (GET), logout (DELETE), as CouchDB answers them."""

from __future__ import annotations

import time
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qsl

import orjson
from aiohttp import web

from brainlink_docs.config import AuthSettings
from brainlink_docs.errors import BadRequest, Unauthorized, UnsupportedMediaType
from brainlink_docs.http.keys import AUTH, AUTHENTICATED, USER_CTX
from brainlink_docs.http.requests import read_body, settings_of
from brainlink_docs.http.responses import json_response
from brainlink_docs.security.sessions import COOKIE_NAME
from brainlink_docs.security.users import USERS_DB

# A login form is a name and a password: anything bigger is not one.
MAX_LOGIN_BODY = 65536
FORM = "application/x-www-form-urlencoded"
# chttpd_auth:handle_session_req's refusal of any other body, word for word.
BAD_LOGIN_TYPE = "Content-Type must be 'application/x-www-form-urlencoded' or 'application/json'"


def cookie_header(value: str, auth: AuthSettings, *, expire: bool = False) -> str:
    """The ``Set-Cookie`` value CouchDB sends: ``HttpOnly``, path ``/``, persistent when
    configured, plus ``Domain``/``SameSite``/``Secure`` from the config."""
    parts = [f"{COOKIE_NAME}={value}", "Version=1", "Path=/", "HttpOnly"]
    if expire:
        parts += ["Max-Age=0", "Expires=Thu, 01 Jan 1970 00:00:00 GMT"]
    elif auth.allow_persistent_cookies:
        parts.append(f"Max-Age={auth.timeout}")
        parts.append(f"Expires={formatdate(time.time() + auth.timeout, usegmt=True)}")
    if auth.cookie_domain:
        parts.append(f"Domain={auth.cookie_domain}")
    if auth.same_site:
        parts.append(f"SameSite={auth.same_site}")
    if auth.secure_cookie:
        parts.append("Secure")
    return "; ".join(parts)


def _handlers(request: web.Request) -> list[str]:
    handlers = ["cookie", "default"]
    if request.app[AUTH].tokens.enabled:
        handlers.insert(0, "jwt")
    return handlers


async def get(request: web.Request) -> web.StreamResponse:
    user = request[USER_CTX]
    info: dict[str, Any] = {
        "authentication_handlers": _handlers(request),
        "authentication_db": USERS_DB,
    }
    handler = request[AUTHENTICATED].handler
    if user.name is not None and handler is not None:
        info["authenticated"] = handler
    return json_response({"ok": True, "userCtx": user.to_json(), "info": info})


async def _credentials(request: web.Request) -> tuple[str, str]:
    if request.content_type not in (FORM, "application/json"):
        raise UnsupportedMediaType(BAD_LOGIN_TYPE)
    body = await read_body(request, MAX_LOGIN_BODY)
    if request.content_type == FORM:
        form: Any = dict(parse_qsl(body.decode("utf-8", "replace")))
    else:
        try:
            form = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise BadRequest("invalid UTF-8 JSON", error="bad_request") from exc
    if not isinstance(form, dict):
        raise BadRequest("Request body must be a JSON object")
    name, password = _username(form), form.get("password", "")
    if not isinstance(name, str) or not isinstance(password, str):
        raise BadRequest("name and password must be strings")
    return name, password


def _username(form: dict[str, Any]) -> Any:
    """``chttpd_auth:extract_username``: ``name`` or ``username``, which must agree."""
    name, username = form.get("name"), form.get("username")
    if name is None and username is None:
        raise BadRequest("request body must contain a username")
    if name is not None and username is not None and name != username:
        raise BadRequest("request body contains different usernames")
    return name if name is not None else username


async def login(request: web.Request) -> web.StreamResponse:
    name, password = await _credentials(request)
    authenticator = request.app[AUTH]
    auth = settings_of(request).auth
    try:
        record = await authenticator.login(name, password, request.remote or "")
    except Unauthorized as exc:
        # CouchDB answers a failed login with an empty AuthSession: the browser forgets the
        # session it had, so a failed re-login never leaves the previous user logged in.
        clear = {"Set-Cookie": cookie_header("", auth, expire=True)}
        return json_response(exc.to_json(), status=exc.status, headers=clear)
    headers = {"Set-Cookie": cookie_header(authenticator.new_cookie(record), auth)}
    target = request.query.get("next")
    if target is not None and _same_site_path(target):
        headers["Location"] = target
        return json_response({"ok": True}, status=302, headers=headers)
    return json_response(
        {"ok": True, "name": record.name, "roles": list(record.roles)}, headers=headers
    )


def _same_site_path(target: str) -> bool:
    """A path on this server: not ``//host`` nor ``/\\host``, which browsers read as another
    site (an open redirect), and no control characters they would strip."""
    if not target.startswith("/") or target[1:2] in ("/", "\\"):
        return False
    return target.isprintable()


async def logout(request: web.Request) -> web.StreamResponse:
    value = request.cookies.get(COOKIE_NAME)
    if value:
        await request.app[AUTH].revoke(value)
    auth = settings_of(request).auth
    return json_response({"ok": True}, headers={"Set-Cookie": cookie_header("", auth, expire=True)})
