"""Database endpoints: create, info, delete, compaction, revs limit, purge and security."""

from __future__ import annotations

from aiohttp import web

from brainlink_docs.errors import BadRequest, Forbidden
from brainlink_docs.http.keys import AUTH, SEARCHES
from brainlink_docs.http.requests import (
    databases_of,
    json_body,
    json_object,
    require_json_type,
    settings_of,
    use_store,
)
from brainlink_docs.http.responses import json_response
from brainlink_docs.security.acl import ADMIN_ONLY_SECURITY, validate_security
from brainlink_docs.security.users import USERS_DB
from brainlink_docs.store.api import validate_db_name


async def info(request: web.Request, db: str) -> web.StreamResponse:
    async with use_store(request, db) as store:
        return json_response((await store.info()).to_json())


async def create(request: web.Request, db: str) -> web.StreamResponse:
    validate_db_name(db)
    store = await databases_of(request).create(db)
    if db != USERS_DB:  # _users stays open for sign-ups: its own rules guard it
        # CouchDB 3's [couchdb] default_security = admin_only: nobody else until _security
        # says so.
        await store.set_security(ADMIN_ONLY_SECURITY)
    _users_db_replaced(request, db)
    return json_response({"ok": True}, status=201, headers={"Location": f"/{db}"})


async def delete(request: web.Request, db: str) -> web.StreamResponse:
    if "rev" in request.query:
        raise BadRequest(
            "You tried to DELETE a database with a ?rev= parameter. "
            "Did you mean to DELETE a document instead?"
        )
    await databases_of(request).delete(db)
    await request.app[SEARCHES].forget(db)
    _users_db_replaced(request, db)
    return json_response({"ok": True})


def _users_db_replaced(request: web.Request, db: str) -> None:
    if db == USERS_DB:
        request.app[AUTH].forget_all_users()


async def compact(request: web.Request, db: str) -> web.StreamResponse:
    require_json_type(request)
    async with use_store(request, db) as store:
        await store.compact()
    return json_response({"ok": True}, status=202)


async def view_cleanup(request: web.Request, db: str) -> web.StreamResponse:
    require_json_type(request)
    async with use_store(request, db) as store:
        await store.view_cleanup()
    return json_response({"ok": True}, status=202)


async def get_revs_limit(request: web.Request, db: str) -> web.StreamResponse:
    async with use_store(request, db) as store:
        return json_response(await store.get_revs_limit())


async def put_revs_limit(request: web.Request, db: str) -> web.StreamResponse:
    limit = await json_body(request)
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise BadRequest("Invalid revs_limit: must be a positive integer")
    async with use_store(request, db) as store:
        await store.set_revs_limit(limit)
    return json_response({"ok": True})


async def ensure_full_commit(request: web.Request, db: str) -> web.StreamResponse:
    require_json_type(request)
    # Every acknowledged write is already committed; CouchDB 3 answers the same way.
    async with use_store(request, db):
        return json_response({"ok": True, "instance_start_time": "0"}, status=201)


async def purge(request: web.Request, db: str) -> web.StreamResponse:
    require_json_type(request)
    body = await json_object(request)
    for doc_id, revs in body.items():
        if not isinstance(revs, list) or not all(isinstance(r, str) for r in revs):
            raise BadRequest(f"Invalid revision list for {doc_id}")
    async with use_store(request, db) as store:
        purged = await store.purge(body)
    return json_response({"purge_seq": None, "purged": purged}, status=201)


async def get_security(request: web.Request, db: str) -> web.StreamResponse:
    async with use_store(request, db) as store:
        return json_response(await store.get_security())


async def put_security(request: web.Request, db: str) -> web.StreamResponse:
    if db == USERS_DB and not settings_of(request).auth.users_db_security_editable:
        # chttpd_db:validate_security_can_be_edited: before any other check, admins included.
        raise Forbidden("You can't edit the security object of the user database.")
    body = validate_security(await json_object(request))
    async with use_store(request, db) as store:
        await store.set_security(body)
    return json_response({"ok": True})
