"""The access matrix as data: every principal by every endpoint, with CouchDB 3.x's answer.

The expected answers come from CouchDB's source, not from our server. The rules, and where
each comes from (apache/couchdb, 3.x):

Authentication, before any routing (``chttpd:authenticate_request``):
- R1  Basic credentials that do not verify give 401 ``unauthorized`` "Name or password is
      incorrect." on every path, public ones (``/``, ``/_up``, ``/_session``) included
      (``couch_httpd_auth:default_authentication_handler``). No ``Authorization`` header means
      the anonymous ``userCtx`` ``{name: null, roles: []}``; ``require_valid_user`` is off.

Authorization, ``chttpd_auth_request:authorize_request/1`` (runs before the handler):
- R2  ``/``, ``/_up``, ``/_uuids``, ``/_session`` (every method) are open to anyone
      (``authorize_request_int([])``, ``server_authorization_check``).
- R3  ``/_all_dbs`` and ``/_dbs_info`` (GET and POST) with CouchDB 3's default
      ``[chttpd] admin_only_all_dbs = true``, ``PUT /{db}`` and ``DELETE /{db}`` call
      ``require_admin`` -> ``couch_httpd:verify_is_server_admin``, which throws
      ``{unauthorized, "You are not a server admin."}``: 401 for *every* non-server-admin, named
      or not (``authorize_request/1`` only rewrites ``forbidden`` throws). It runs before the
      database is looked at, so it is 401 even for a database that does not exist.
      ``_dbs_info``: ``chttpd_dbs_info_test:should_not_allow_non_admin_access``.
- R4  ``GET /_active_tasks`` passes ``server_authorization_check`` but its handler calls
      ``chttpd:verify_is_server_admin`` (``chttpd_misc:handle_task_status_req``): same 401.
- R5  ``POST /{db}/_purge`` is server-admin only since 2.3.1 (apache/couchdb#1799, PR #1877
      "restrict _purge to server admin"; the docs note added by PR #5750: "restricted to admin
      users", 401): 401 "You are not a server admin." like R3.
      (Not pinned to a line of code: the check's position relative to R7 is inferred from the
      PR's tests, which expect ``unauthorized`` for a db member.)
- R6  ``POST /{db}/_compact`` and ``POST /{db}/_view_cleanup`` call ``require_db_admin``: it
      first reads the security object as the user (so R7's member check applies: 401/403 as
      in R7), then throws ``{unauthorized, "You are not a server or db admin."}`` (401, for
      named users too) unless the user is a db admin or server admin
      (``chttpd_security_tests:should_disallow_db_member_db_compaction`` expects unauthorized).
- R7  Every other ``/{db}/...`` path runs ``db_authorization_check`` ->
      ``fabric:get_security(Db, [{user_ctx, Ctx}])`` -> ``couch_db:open`` ->
      ``check_is_member``: a missing database is 404 ``not_found`` "Database does not exist."
      for everyone (before any security check); otherwise a user who is neither server admin,
      db admin (names/roles), nor member (names/roles), on a database whose members list is not
      empty, gets ``couch_db:throw_security_error``: anonymous 401 ``unauthorized`` "You are
      not authorized to access this db.", named 403 ``forbidden`` "You are not allowed to
      access this db.".
- R8  New databases get ``[couchdb] default_security = admin_only``:
      ``{"members": {"roles": ["_admin"]}, "admins": {"roles": ["_admin"]}}``
      (``couch_db_updater:default_security_object``); so only server admins pass R7 until
      ``_security`` names members.

Inside the handlers (``chttpd_db``), for a user who passed R7:
- R9  Members (and db admins) read everything and write ordinary and ``_local`` documents and
      attachments; ``GET _security`` and ``GET _revs_limit`` are member reads
      (``db_req`` GET ``_security`` -> ``fabric:get_security(Db)``).
- R10 ``PUT _security`` (``couch_db:set_security``), ``PUT _revs_limit``
      (``couch_db:set_revs_limit``) and writing or deleting a ``_design/`` document
      (``couch_db:validate_doc_update`` -> ``check_is_admin``) need a db admin or server admin;
      otherwise ``throw_security_error(UserCtx, "You are not a db or server admin.")``: 403
      ``forbidden`` for a named user. In ``_bulk_docs`` this is the row's error, the request
      is 201.

The ``_users`` database (``couch_users_db``, the ``_auth`` design doc's validate_doc_update in
``couch_js_functions.hrl``, ``test/elixir/test/users_db_security_test.exs``):
- U0  Observed on CouchDB 3.5.0: ``_users`` gets R8's ``admin_only`` ``_security`` like any
      database (``{"members":{"roles":["_admin"]},"admins":{"roles":["_admin"]}}``) and
      ``users_db_security_editable = false`` keeps it so, so by default every non-admin gets
      R7's 401/403 on every ``/_users`` path (sign-up included), before any rule below. U1-U4
      describe CouchDB with ``_users`` opened (``_security`` ``{}``), which is how our server
      keeps it (a departure: sign-up without an admin, see ``OPEN_USERS_DB``).
- U1  An open ``_users`` passes R7 for anyone (anonymous sign-up works, and anonymous reads of
- U2  ``before_doc_update``: a non-admin whose name is neither null nor the doc's name gets
      ``throw(not_found)`` -> 404 ``not_found`` "missing"; anonymous and the owner go on to the
      validate_doc_update: "Only _admin may set roles" (new doc with roles), "You may only
      update your own user document." (anonymous updating), "Only _admin may edit roles".
- U3  ``after_doc_read``: a non-admin reading another user's doc gets it stripped to the
      ``public_fields`` (none by default) -> 404 "missing"; the owner gets the whole doc,
      ``derived_key`` and ``salt`` included (the Elixir test asserts their length on the
      owner's own read); a ``_design/`` doc is 403 "Only administrators can view design docs
      in the users database."
- U4  ``PUT /_users/_security`` is 403 ``forbidden`` "You can't edit the security object of
      the user database." for everyone while ``users_db_security_editable`` is false
      (``chttpd_db:validate_security_can_be_edited``, checked before ``set_security``).

Observed on CouchDB 3.5.0, where it differs from the rules above:
- O1  ``PUT /{db}/_revs_limit`` by a member who is not a db admin is 500 ``badmatch`` (the
      ``forbidden`` thrown by ``couch_db:set_revs_limit`` is not caught), ``PUT
      /{db}/_security`` by such a member is 500 ``error`` ``no_majority`` (fabric counts the
      refusal as a failed write), and ``POST /{db}/_index`` is 500 ``error_saving_ddoc`` (the
      design document write's ``forbidden``, wrapped). R10's 403 is what was meant; we answer
      it (``DEPARTURES``).
- O3  With ``_users`` open, an anonymous update of a user's document is 500
      ``function_clause`` (``couch_users_db:before_doc_update`` has no clause for it); the
      ``validate_doc_update`` means "You may only update your own user document.", which we
      answer (``DEPARTURES``).
- O2  ``POST /{db}/_find`` is Mango: 200 for anyone R7 lets in; ours too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

PASSWORD = "pw-Secret-1"
ATT_DATA = b"attached bytes"
SECURITY: dict[str, Any] = {
    "admins": {"names": ["dave"], "roles": []},
    "members": {"names": ["mona"], "roles": ["readers"]},
}
# R8: what a database gets when nobody has written its _security.
DEFAULT_SECURITY: dict[str, Any] = {
    "admins": {"names": [], "roles": ["_admin"]},
    "members": {"names": [], "roles": ["_admin"]},
}


@dataclass(frozen=True)
class Principal:
    key: str
    name: str | None
    password: str | None
    roles: tuple[str, ...] = ()

    @property
    def is_server_admin(self) -> bool:
        return "_admin" in self.roles


ANONYMOUS = Principal("anonymous", None, None)
# mallory exists with PASSWORD; this principal presents another one (R1).
WRONG_PASSWORD = Principal("wrong_password", "mallory", "not-mallorys-password")
OUTSIDER = Principal("outsider", "olivia", PASSWORD)
MEMBER = Principal("member", "mona", PASSWORD)
ROLE_MEMBER = Principal("role_member", "rita", PASSWORD, ("readers",))
DB_ADMIN = Principal("db_admin", "dave", PASSWORD)
SERVER_ADMIN = Principal("server_admin", "admin", "s3cret-pass", ("_admin",))
PRINCIPALS = (ANONYMOUS, WRONG_PASSWORD, OUTSIDER, MEMBER, ROLE_MEMBER, DB_ADMIN, SERVER_ADMIN)

# (name, roles) of the _users documents the fixture creates, all with PASSWORD.
USERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("mallory", ()),
    ("olivia", ()),
    ("mona", ()),
    ("rita", ("readers",)),
    ("dave", ()),
    ("carol", ()),  # whom POST /_session logs in
)


@dataclass(frozen=True)
class Expect:
    status: int
    error: str | None = None  # None: a success; else the error token
    reason: str | None = None  # None with an error: the reason is not pinned
    # For successes: (body, principal, vars) -> None, asserting the body's shape.
    check: Callable[[Any, Principal, Mapping[str, str]], None] | None = None


BAD_CREDENTIALS = Expect(401, "unauthorized", "Name or password is incorrect.")
NOT_AUTHORIZED_DB = Expect(401, "unauthorized", "You are not authorized to access this db.")
NOT_ALLOWED_DB = Expect(403, "forbidden", "You are not allowed to access this db.")
NOT_SERVER_ADMIN = Expect(401, "unauthorized", "You are not a server admin.")
NOT_DB_ADMIN_401 = Expect(401, "unauthorized", "You are not a server or db admin.")
NOT_DB_ADMIN_403 = Expect(403, "forbidden", "You are not a db or server admin.")
DB_MISSING = Expect(404, "not_found", "Database does not exist.")
DOC_MISSING = Expect(404, "not_found", "missing")
NOT_IMPLEMENTED = Expect(501, "not_implemented")

# How an endpoint is guarded: which rule above decides who gets in.
PUBLIC = "public"  # R2
SERVER_ADMIN_ONLY = "server_admin"  # R3, R4, R5, U1
MEMBERS = "members"  # R7 then R9
DB_ADMINS_EARLY = "db_admins_early"  # R6
DB_ADMINS = "db_admins"  # R7 then R10
DB_ADMINS_ROW = "db_admins_row"  # R7 then R10 as a _bulk_docs row
ADMIN_ONLY_DB = "admin_only_db"  # R8: a database nobody opened up
MISSING_DB = "missing_db"  # R7's 404
EXPLICIT = "explicit"  # one Expect per principal, written out


# ---- success checks ---------------------------------------------------------------------------


def is_ok(body: Any, _p: Principal, _v: Mapping[str, str]) -> None:
    assert isinstance(body, dict) and body.get("ok") is True, body


def is_list(body: Any, _p: Principal, _v: Mapping[str, str]) -> None:
    assert isinstance(body, list), body


def wrote_id(body: Any, _p: Principal, v: Mapping[str, str]) -> None:
    assert body["ok"] is True and body["id"] == v["target"] and body["rev"], body


def has(*keys: str) -> Callable[[Any, Principal, Mapping[str, str]], None]:
    def check(body: Any, _p: Principal, _v: Mapping[str, str]) -> None:
        assert isinstance(body, dict) and all(k in body for k in keys), body

    return check


def equals(expected: Any) -> Callable[[Any, Principal, Mapping[str, str]], None]:
    def check(body: Any, _p: Principal, _v: Mapping[str, str]) -> None:
        assert body == expected, body

    return check


def field_is(key: str, value: Any) -> Callable[[Any, Principal, Mapping[str, str]], None]:
    def check(body: Any, _p: Principal, _v: Mapping[str, str]) -> None:
        assert isinstance(body, dict) and body.get(key) == value, body

    return check


def db_name_is(which: str) -> Callable[[Any, Principal, Mapping[str, str]], None]:
    """The database the cell's vars call ``which`` ("db" or "fresh": names differ by server)."""

    def check(body: Any, _p: Principal, v: Mapping[str, str]) -> None:
        assert isinstance(body, dict) and body.get("db_name") == v[which], body

    return check


def normalized_security(sec: Any) -> dict[str, Any]:
    """A security object with absent names/roles read as empty lists (CouchDB's reading)."""
    return {
        group: {k: sorted((sec.get(group) or {}).get(k) or []) for k in ("names", "roles")}
        for group in ("admins", "members")
    }


def security_is(expected: dict[str, Any]) -> Callable[[Any, Principal, Mapping[str, str]], None]:
    def check(body: Any, _p: Principal, _v: Mapping[str, str]) -> None:
        assert normalized_security(body) == normalized_security(expected), body

    return check


def session_user(body: Any, p: Principal, _v: Mapping[str, str]) -> None:
    assert body["ok"] is True, body
    assert body["userCtx"] == {"name": p.name, "roles": list(p.roles)}, body


def uuids(body: Any, _p: Principal, _v: Mapping[str, str]) -> None:
    assert isinstance(body["uuids"], list) and len(body["uuids"]) == 1, body


def all_dbs(body: Any, _p: Principal, v: Mapping[str, str]) -> None:
    assert isinstance(body, list) and v["db"] in body, body


def dbs_info(body: Any, _p: Principal, v: Mapping[str, str]) -> None:
    assert isinstance(body, list) and any(row.get("key") == v["db"] for row in body), body


def bulk_rows_ok(body: Any, _p: Principal, v: Mapping[str, str]) -> None:
    assert isinstance(body, list) and len(body) == 1, body
    assert body[0]["id"] == v["target"] and body[0].get("rev") and "error" not in body[0], body


def bulk_row_forbidden(body: Any, _p: Principal, v: Mapping[str, str]) -> None:
    assert isinstance(body, list) and len(body) == 1, body
    row = body[0]
    assert row["id"] == v["target"], body
    assert (row.get("error"), row.get("reason")) == (
        "forbidden",
        "You are not a db or server admin.",
    ), body


def purged(body: Any, _p: Principal, v: Mapping[str, str]) -> None:
    assert body["purged"] == {v["id"]: [v["rev"]]}, body


def attachment_bytes(body: Any, _p: Principal, _v: Mapping[str, str]) -> None:
    assert body == ATT_DATA, body


def own_user_doc(body: Any, p: Principal, _v: Mapping[str, str]) -> None:
    assert body["_id"] == "org.couchdb.user:mona" and body["name"] == "mona", body
    assert "password" not in body, body


def no_body(body: Any, _p: Principal, _v: Mapping[str, str]) -> None:
    assert body == b"", body


def is_dict(body: Any, _p: Principal, _v: Mapping[str, str]) -> None:
    assert isinstance(body, dict), body


# ---- endpoints --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    key: str
    method: str
    path: str  # formatted with the cell's vars
    access: str
    ok: Expect  # the answer for those the rule lets through
    body: Callable[[Mapping[str, str]], Any] | None = None  # JSON body from the vars
    raw: bytes | None = None  # a non-JSON body (sent as text/plain)
    headers: Mapping[str, str] = field(default_factory=dict)  # formatted with the vars
    # State the cell needs, made by the server admin before the request (see the test module):
    # "doc", "doc_att", "ddoc", "local", "scratch_db", "new_db", "new_user", "mona_doc",
    # "users_ddoc" (none yet, and removed afterwards).
    setup: str | None = None
    target: str = "{id}"  # the document id a write reports, formatted with the vars
    explicit: Mapping[str, Expect] = field(default_factory=dict)  # for access EXPLICIT
    # The success body is the principal's own _users doc, which CouchDB returns whole (U3).
    owner_read: bool = False


def _new_user(roles: list[str]) -> Callable[[Mapping[str, str]], Any]:
    return lambda v: {"name": v["user"], "password": PASSWORD, "roles": roles, "type": "user"}


def _everyone(answer: Expect, **overrides: Expect) -> dict[str, Expect]:
    return {p.key: overrides.get(p.key, answer) for p in PRINCIPALS}


def _non_admins(answer: Expect, admin: Expect, **overrides: Expect) -> dict[str, Expect]:
    return _everyone(answer, server_admin=admin, **overrides)


CREATED = Expect(201, check=wrote_id)
# O1: what CouchDB 3.5 answers a member (not a db admin) writing these.
COUCHDB_500S = {
    "revs_limit_put": Expect(500, "badmatch"),
    "security_put": Expect(500, "error", "no_majority"),
    # mango_idx:add saves the design document and reports its forbidden as this 500.
    "index_create": Expect(500, "error_saving_ddoc"),
}
DELETED = Expect(200, check=wrote_id)

ENDPOINTS: tuple[Endpoint, ...] = (
    # -- server ------------------------------------------------------------------------------
    Endpoint("welcome", "GET", "/", PUBLIC, Expect(200, check=field_is("couchdb", "Welcome"))),
    Endpoint("up", "GET", "/_up", PUBLIC, Expect(200, check=field_is("status", "ok"))),
    Endpoint("uuids", "GET", "/_uuids", PUBLIC, Expect(200, check=uuids)),
    Endpoint("session_get", "GET", "/_session", PUBLIC, Expect(200, check=session_user)),
    Endpoint(
        "session_post",
        "POST",
        "/_session",
        PUBLIC,
        Expect(200, check=equals({"ok": True, "name": "carol", "roles": []})),
        body=lambda v: {"name": "carol", "password": PASSWORD},
    ),
    Endpoint("session_delete", "DELETE", "/_session", PUBLIC, Expect(200, check=is_ok)),
    Endpoint("all_dbs", "GET", "/_all_dbs", SERVER_ADMIN_ONLY, Expect(200, check=all_dbs)),
    Endpoint("dbs_info_get", "GET", "/_dbs_info", SERVER_ADMIN_ONLY, Expect(200, check=dbs_info)),
    Endpoint(
        "dbs_info_post",
        "POST",
        "/_dbs_info",
        SERVER_ADMIN_ONLY,
        Expect(200, check=dbs_info),
        body=lambda v: {"keys": [v["db"]]},
    ),
    Endpoint(
        "active_tasks", "GET", "/_active_tasks", SERVER_ADMIN_ONLY, Expect(200, check=is_list)
    ),
    # Any named user may replicate; this body is refused before any database is opened.
    Endpoint(
        "replicate",
        "POST",
        "/_replicate",
        EXPLICIT,
        Expect(400),
        body=lambda v: {"source": "x", "target": "y", "doc_ids": "a"},
        explicit=_everyone(
            Expect(400, "bad_request", "parameter `doc_ids` must be an array"),
            anonymous=Expect(401, "unauthorized", "You are not an authenticated user"),
            wrong_password=BAD_CREDENTIALS,
        ),
    ),
    Endpoint(
        "scheduler_jobs",
        "GET",
        "/_scheduler/jobs",
        SERVER_ADMIN_ONLY,
        Expect(200, check=has("total_rows", "jobs")),
    ),
    Endpoint(
        "scheduler_docs",
        "GET",
        "/_scheduler/docs",
        SERVER_ADMIN_ONLY,
        Expect(200, check=has("total_rows", "docs")),
    ),
    # -- database ----------------------------------------------------------------------------
    Endpoint("db_get", "GET", "/{db}", MEMBERS, Expect(200, check=db_name_is("db"))),
    Endpoint("db_head", "HEAD", "/{db}", MEMBERS, Expect(200, check=no_body)),
    Endpoint(
        "db_create", "PUT", "/{dbname}", SERVER_ADMIN_ONLY, Expect(201, check=is_ok), setup="new_db"
    ),
    Endpoint(
        "db_delete",
        "DELETE",
        "/{dbname}",
        SERVER_ADMIN_ONLY,
        Expect(200, check=is_ok),
        setup="scratch_db",
    ),
    Endpoint("db_post", "POST", "/{db}", MEMBERS, CREATED, body=lambda v: {"_id": v["id"]}),
    Endpoint("all_docs_get", "GET", "/{db}/_all_docs", MEMBERS, Expect(200, check=has("rows"))),
    Endpoint(
        "all_docs_post",
        "POST",
        "/{db}/_all_docs",
        MEMBERS,
        Expect(200, check=has("rows")),
        body=lambda v: {"keys": ["doc"]},
    ),
    Endpoint(
        "design_docs_get", "GET", "/{db}/_design_docs", MEMBERS, Expect(200, check=has("rows"))
    ),
    Endpoint(
        "design_docs_post",
        "POST",
        "/{db}/_design_docs",
        MEMBERS,
        Expect(200, check=has("rows")),
        body=lambda v: {"keys": ["_design/x"]},
    ),
    Endpoint("local_docs_get", "GET", "/{db}/_local_docs", MEMBERS, Expect(200, check=has("rows"))),
    Endpoint(
        "local_docs_post",
        "POST",
        "/{db}/_local_docs",
        MEMBERS,
        Expect(200, check=has("rows")),
        body=lambda v: {"keys": ["_local/x"]},
    ),
    Endpoint(
        "bulk_docs",
        "POST",
        "/{db}/_bulk_docs",
        MEMBERS,
        Expect(201, check=bulk_rows_ok),
        body=lambda v: {"docs": [{"_id": v["id"]}]},
    ),
    Endpoint(
        "bulk_docs_design",
        "POST",
        "/{db}/_bulk_docs",
        DB_ADMINS_ROW,
        Expect(201, check=bulk_rows_ok),
        target="{ddoc_id}",
        body=lambda v: {"docs": [{"_id": v["ddoc_id"]}]},
    ),
    Endpoint(
        "bulk_get",
        "POST",
        "/{db}/_bulk_get",
        MEMBERS,
        Expect(200, check=has("results")),
        body=lambda v: {"docs": [{"id": "doc"}]},
    ),
    Endpoint(
        "revs_diff",
        "POST",
        "/{db}/_revs_diff",
        MEMBERS,
        Expect(200, check=equals({"nodoc": {"missing": ["1-abc"]}})),
        body=lambda v: {"nodoc": ["1-abc"]},
    ),
    Endpoint(
        "missing_revs",
        "POST",
        "/{db}/_missing_revs",
        MEMBERS,
        Expect(200, check=equals({"missing_revs": {"nodoc": ["1-abc"]}})),
        body=lambda v: {"nodoc": ["1-abc"]},
    ),
    Endpoint(
        "changes_get",
        "GET",
        "/{db}/_changes",
        MEMBERS,
        Expect(200, check=has("results", "last_seq")),
    ),
    Endpoint(
        "changes_post",
        "POST",
        "/{db}/_changes",
        MEMBERS,
        Expect(200, check=has("results", "last_seq")),
        body=lambda v: {},
    ),
    Endpoint(
        "compact",
        "POST",
        "/{db}/_compact",
        DB_ADMINS_EARLY,
        Expect(202, check=is_ok),
        body=lambda v: {},
    ),
    Endpoint(
        "view_cleanup",
        "POST",
        "/{db}/_view_cleanup",
        DB_ADMINS_EARLY,
        Expect(202, check=is_ok),
        body=lambda v: {},
    ),
    Endpoint(
        "revs_limit_get", "GET", "/{db}/_revs_limit", MEMBERS, Expect(200, check=equals(1000))
    ),
    # Writes the value it already has, so the cell leaves the database as it found it.
    Endpoint(
        "revs_limit_put",
        "PUT",
        "/{db}/_revs_limit",
        DB_ADMINS,
        Expect(200, check=is_ok),
        body=lambda v: 1000,
    ),
    Endpoint(
        "ensure_full_commit",
        "POST",
        "/{db}/_ensure_full_commit",
        MEMBERS,
        Expect(201, check=has("ok", "instance_start_time")),
        body=lambda v: {},
    ),
    Endpoint(
        "purge",
        "POST",
        "/{db}/_purge",
        SERVER_ADMIN_ONLY,
        Expect(201, check=purged),
        body=lambda v: {v["id"]: [v["rev"]]},
        setup="doc",
    ),
    Endpoint(
        "security_get", "GET", "/{db}/_security", MEMBERS, Expect(200, check=security_is(SECURITY))
    ),
    # Writes the object it already has (see revs_limit_put).
    Endpoint(
        "security_put",
        "PUT",
        "/{db}/_security",
        DB_ADMINS,
        Expect(200, check=is_ok),
        body=lambda v: SECURITY,
    ),
    Endpoint(
        "find",
        "POST",
        "/{db}/_find",
        MEMBERS,
        Expect(200, check=has("docs")),
        body=lambda v: {"selector": {}},
    ),
    Endpoint(
        "explain",
        "POST",
        "/{db}/_explain",
        MEMBERS,
        Expect(200, check=has("index", "selector")),
        body=lambda v: {"selector": {}},
    ),
    Endpoint("index_list", "GET", "/{db}/_index", MEMBERS, Expect(200, check=has("indexes"))),
    Endpoint(
        "index_create",
        "POST",
        "/{db}/_index",
        DB_ADMINS,
        Expect(200, check=has("result", "id", "name")),
        body=lambda v: {"index": {"fields": ["x"]}},
    ),
    # -- documents ---------------------------------------------------------------------------
    Endpoint("doc_get", "GET", "/{db}/doc", MEMBERS, Expect(200, check=field_is("_id", "doc"))),
    Endpoint("doc_head", "HEAD", "/{db}/doc", MEMBERS, Expect(200, check=no_body)),
    Endpoint("doc_put", "PUT", "/{db}/{id}", MEMBERS, CREATED, body=lambda v: {"v": 1}),
    Endpoint("doc_delete", "DELETE", "/{db}/{id}?rev={rev}", MEMBERS, DELETED, setup="doc"),
    Endpoint("doc_copy", "COPY", "/{db}/doc", MEMBERS, CREATED, headers={"Destination": "{id}"}),
    Endpoint(
        "ddoc_get",
        "GET",
        "/{db}/_design/x",
        MEMBERS,
        Expect(200, check=field_is("_id", "_design/x")),
    ),
    Endpoint(
        "ddoc_put",
        "PUT",
        "/{db}/{ddoc_id}",
        DB_ADMINS,
        Expect(201, check=wrote_id),
        target="{ddoc_id}",
        body=lambda v: {"language": "javascript"},
    ),
    Endpoint(
        "ddoc_delete",
        "DELETE",
        "/{db}/{ddoc_id}?rev={rev}",
        DB_ADMINS,
        Expect(200, check=wrote_id),
        target="{ddoc_id}",
        setup="ddoc",
    ),
    Endpoint(
        "local_get",
        "GET",
        "/{db}/_local/x",
        MEMBERS,
        Expect(200, check=field_is("_id", "_local/x")),
    ),
    Endpoint(
        "local_put",
        "PUT",
        "/{db}/{local_id}",
        MEMBERS,
        Expect(201, check=wrote_id),
        target="{local_id}",
        body=lambda v: {"v": 1},
    ),
    Endpoint(
        "local_delete",
        "DELETE",
        "/{db}/{local_id}?rev={rev}",
        MEMBERS,
        Expect(200, check=wrote_id),
        target="{local_id}",
        setup="local",
    ),
    # -- attachments -------------------------------------------------------------------------
    Endpoint("att_get", "GET", "/{db}/doc/att.txt", MEMBERS, Expect(200, check=attachment_bytes)),
    Endpoint("att_put", "PUT", "/{db}/{id}/att.txt", MEMBERS, CREATED, raw=ATT_DATA),
    Endpoint(
        "att_delete", "DELETE", "/{db}/{id}/att.txt?rev={rev}", MEMBERS, DELETED, setup="doc_att"
    ),
    # -- R7's 404 and R8's default ------------------------------------------------------------
    Endpoint("missing_db_get", "GET", "/nosuchdb", MISSING_DB, DB_MISSING),
    Endpoint("missing_db_doc", "GET", "/nosuchdb/doc", MISSING_DB, DB_MISSING),
    Endpoint(
        "missing_db_compact",
        "POST",
        "/nosuchdb/_compact",
        MISSING_DB,
        DB_MISSING,
        body=lambda v: {},
    ),
    Endpoint(
        "fresh_db_get",
        "GET",
        "/{fresh}",
        ADMIN_ONLY_DB,
        Expect(200, check=db_name_is("fresh")),
    ),
    Endpoint(
        "fresh_db_security",
        "GET",
        "/{fresh}/_security",
        ADMIN_ONLY_DB,
        Expect(200, check=security_is(DEFAULT_SECURITY)),
    ),
    Endpoint(
        "fresh_db_doc_put",
        "PUT",
        "/{fresh}/{id}",
        ADMIN_ONLY_DB,
        CREATED,
        body=lambda v: {"v": 1},
    ),
    # -- _users (U1-U4) ----------------------------------------------------------------------
    Endpoint(
        "users_db_get",
        "GET",
        "/_users",
        EXPLICIT,
        Expect(200),
        explicit=_everyone(
            Expect(200, check=field_is("db_name", "_users")), wrong_password=BAD_CREDENTIALS
        ),
    ),
    Endpoint(
        "users_signup",
        "PUT",
        "/_users/org.couchdb.user:{user}",
        EXPLICIT,
        Expect(201),
        target="org.couchdb.user:{user}",
        body=_new_user([]),
        setup="new_user",
        explicit=_non_admins(
            DOC_MISSING,
            Expect(201, check=wrote_id),
            anonymous=Expect(201, check=wrote_id),
            wrong_password=BAD_CREDENTIALS,
        ),
    ),
    Endpoint(
        "users_signup_with_roles",
        "PUT",
        "/_users/org.couchdb.user:{user}",
        EXPLICIT,
        Expect(201),
        target="org.couchdb.user:{user}",
        body=_new_user(["boss"]),
        setup="new_user",
        explicit=_non_admins(
            DOC_MISSING,
            Expect(201, check=wrote_id),
            anonymous=Expect(403, "forbidden", "Only _admin may set roles"),
            wrong_password=BAD_CREDENTIALS,
        ),
    ),
    Endpoint(
        "users_read_mona",
        "GET",
        "/_users/org.couchdb.user:mona",
        EXPLICIT,
        Expect(200),
        owner_read=True,
        explicit=_non_admins(
            DOC_MISSING,
            Expect(200, check=own_user_doc),
            member=Expect(200, check=own_user_doc),
            wrong_password=BAD_CREDENTIALS,
        ),
    ),
    Endpoint(
        "users_mona_grants_roles",
        "PUT",
        "/_users/org.couchdb.user:mona",
        EXPLICIT,
        Expect(201),
        target="org.couchdb.user:mona",
        body=lambda v: {
            "_rev": v["rev"],
            "name": "mona",
            "type": "user",
            "roles": ["boss"],
            "password": PASSWORD,
        },
        setup="mona_doc",
        explicit=_non_admins(
            DOC_MISSING,
            Expect(201, check=wrote_id),
            # O3: CouchDB 3.5 crashes here (500 function_clause); the validate_doc_update's
            # "You may only update your own user document." is what we answer (DEPARTURES).
            anonymous=Expect(500, "unknown_error", "function_clause"),
            member=Expect(403, "forbidden", "Only _admin may edit roles"),
            wrong_password=BAD_CREDENTIALS,
        ),
    ),
    Endpoint(
        "users_all_docs",
        "GET",
        "/_users/_all_docs",
        SERVER_ADMIN_ONLY,
        Expect(200, check=has("rows")),
    ),
    Endpoint(
        "users_changes",
        "GET",
        "/_users/_changes",
        SERVER_ADMIN_ONLY,
        Expect(200, check=has("results")),
    ),
    Endpoint(
        "users_design_doc",
        "GET",
        "/_users/_design/probe",
        EXPLICIT,
        Expect(200),
        explicit=_non_admins(
            Expect(
                403, "forbidden", "Only administrators can view design docs in the users database."
            ),
            Expect(200, check=field_is("_id", "_design/probe")),
            wrong_password=BAD_CREDENTIALS,
        ),
    ),
    # In _users, couch_users_db:before_doc_update runs for design docs too (observed on 3.5.0):
    # a named non-admin gets U2's 404 "missing" before R10 is asked; anonymous gets R10's 401.
    Endpoint(
        "users_design_put",
        "PUT",
        "/_users/{ddoc_id}",
        EXPLICIT,
        Expect(201),
        target="{ddoc_id}",
        setup="users_ddoc",
        body=lambda v: {},
        explicit=_non_admins(
            DOC_MISSING,  # U2's throw(not_found) comes first, for design docs too
            Expect(201, check=wrote_id),
            anonymous=Expect(401, "unauthorized", "You are not a db or server admin."),
            wrong_password=BAD_CREDENTIALS,
        ),
    ),
    Endpoint(
        "users_security_get",
        "GET",
        "/_users/_security",
        EXPLICIT,
        Expect(200),
        explicit=_everyone(
            Expect(200, check=is_dict),
            wrong_password=BAD_CREDENTIALS,
        ),
    ),
    Endpoint(
        "users_security_put",
        "PUT",
        "/_users/_security",
        EXPLICIT,
        Expect(200),
        body=lambda v: {
            "admins": {"names": [], "roles": []},
            "members": {"names": [], "roles": []},
        },
        explicit=_everyone(
            Expect(403, "forbidden", "You can't edit the security object of the user database."),
            wrong_password=BAD_CREDENTIALS,
        ),
    ),
)


def expected(endpoint: Endpoint, p: Principal, *, users_open: bool = True) -> Expect:
    """The table's cell: what CouchDB 3.5 answers ``p`` on ``endpoint``, with ``_users`` opened
    (U1-U4) or as CouchDB keeps it by default (U0, ``users_open=False``)."""
    # U0, but R3's require_admin (all_docs, changes) runs before the member check.
    in_users = endpoint.path.startswith("/_users") and endpoint.access != SERVER_ADMIN_ONLY
    if in_users and not users_open and p is not WRONG_PASSWORD and not p.is_server_admin:
        return NOT_AUTHORIZED_DB if p.name is None else NOT_ALLOWED_DB  # U0: R7, admin_only
    if endpoint.access == EXPLICIT:
        return endpoint.explicit[p.key]
    if p is WRONG_PASSWORD:
        return BAD_CREDENTIALS  # R1
    access, ok = endpoint.access, endpoint.ok
    if access == PUBLIC:
        return ok
    if access == SERVER_ADMIN_ONLY:
        return ok if p.is_server_admin else NOT_SERVER_ADMIN
    if access == MISSING_DB:
        return DB_MISSING
    if access == ADMIN_ONLY_DB:  # R8: nobody but the server admin is a member
        if p.is_server_admin:
            return ok
        return NOT_AUTHORIZED_DB if p.name is None else NOT_ALLOWED_DB
    # R7: the member check on "db" (SECURITY).
    if p is ANONYMOUS:
        return NOT_AUTHORIZED_DB
    if p is OUTSIDER:
        return NOT_ALLOWED_DB
    is_db_admin = p in (DB_ADMIN, SERVER_ADMIN)
    if access == MEMBERS or is_db_admin:
        return ok
    if access == DB_ADMINS_EARLY:
        return NOT_DB_ADMIN_401  # R6
    if access == DB_ADMINS:
        return COUCHDB_500S.get(endpoint.key, NOT_DB_ADMIN_403)  # R10, O1
    if access == DB_ADMINS_ROW:
        return Expect(201, check=bulk_row_forbidden)  # R10 in _bulk_docs
    raise AssertionError(f"unknown access class {access!r}")


CELLS: tuple[tuple[Endpoint, Principal], ...] = tuple(
    (endpoint, p) for endpoint in ENDPOINTS for p in PRINCIPALS
)


@dataclass(frozen=True)
class Departure:
    """Where our server answers otherwise than CouchDB 3.5, on purpose."""

    ours: Expect
    reason: str
    readme: str  # the words of the README's departures paragraph that state it


NO_500 = (
    "CouchDB answers a member's write of a db-admin-only setting with a 500 (O1); we answer "
    "the 403 R10 means, as we never answer 500 where a client error was meant"
)
# (endpoint, principal) -> our answer, for cells of the table (with _users open) we depart from.
DEPARTURES: dict[tuple[str, str], Departure] = {
    **{
        (endpoint, member): Departure(NOT_DB_ADMIN_403, NO_500, "no 500 where CouchDB has one")
        for endpoint in ("revs_limit_put", "security_put", "index_create")
        for member in ("member", "role_member")
    },
    ("users_mona_grants_roles", "anonymous"): Departure(
        Expect(403, "forbidden", "You may only update your own user document."),
        NO_500,
        "no 500 where CouchDB has one",
    ),
}
# U0: our _users is open, CouchDB's is admin_only until an admin opens it.
OPEN_USERS_DB = Departure(
    Expect(200),
    "Brainlink's apps sign their users up without an admin: our _users is open from the start"
    " (its own rules guard it; public_signup = false closes sign-up), while CouchDB 3.5 keeps"
    " _users admin_only and refuses to edit its _security",
    "`_users` is open for sign-up",
)


def expected_of_ours(endpoint: Endpoint, p: Principal) -> Expect:
    """What our server answers: the table with ``_users`` open, except for ``DEPARTURES``."""
    departure = DEPARTURES.get((endpoint.key, p.key))
    return departure.ours if departure is not None else expected(endpoint, p)
