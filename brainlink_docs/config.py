"""Server settings: defaults < ini file < environment < command-line flags, as one typed object.

The ini file uses CouchDB's section and key names (``[chttpd] port``, ``[couchdb]
max_dbs_open``, ``[admins]``), so a CouchDB operator reads it at a glance. It lives in the data
directory (``local.ini``) unless ``--config`` names another; the server writes back to it only to
persist the server uuid and the hashed admin password of a first start.
"""

from __future__ import annotations

import configparser
import os
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from brainlink_docs.errors import BadRequest
from brainlink_docs.merge.policies import Policies
from brainlink_docs.merge.sources import load_policies
from brainlink_docs.security.passwords import (
    DEFAULT_ITERATIONS,
    PasswordHash,
    hash_password,
    parse_config_hash,
)
from brainlink_docs.store.encoding import DEFAULT_COMPRESSIBLE_TYPES, DEFAULT_COMPRESSION_LEVEL

# CouchDB 3's defaults, each where CouchDB's default.ini puts it.
DEFAULT_PORT = 5984
DEFAULT_MAX_DOCUMENT_SIZE = 8_000_000  # [couchdb] max_document_size
DEFAULT_MAX_ATTACHMENT_SIZE = 1_073_741_824  # [couchdb] max_attachment_size
DEFAULT_MAX_REQUEST_SIZE = 4_294_967_296  # [chttpd] max_http_request_size
CONFIG_NAME = "local.ini"
_T = TypeVar("_T")


def _flag(value: str) -> bool:
    return value.strip().lower() in ("true", "1", "yes", "on")


def _policies_file(value: str) -> Policies:
    """``[merge] policies``: read once at startup, so a bad file stops the server there."""
    try:
        return load_policies(Path(value), "[merge] policies")
    except BadRequest as exc:
        raise ValueError(exc.reason) from exc


# (environment variable, ini section, ini key, Settings field, parser)
_KEYS: list[tuple[str, str, str, str, Any]] = [
    ("BRAINLINK_DATA_DIR", "couchdb", "database_dir", "data_dir", Path),
    ("BRAINLINK_HOST", "chttpd", "bind_address", "host", str),
    ("BRAINLINK_PORT", "chttpd", "port", "port", int),
    ("BRAINLINK_MAX_DBS_OPEN", "couchdb", "max_dbs_open", "max_dbs_open", int),
    ("BRAINLINK_MAX_DOCUMENT_SIZE", "couchdb", "max_document_size", "max_document_size", int),
    (
        "BRAINLINK_MAX_ATTACHMENT_SIZE",
        "couchdb",
        "max_attachment_size",
        "max_attachment_size",
        int,
    ),
    ("BRAINLINK_MAX_REQUEST_SIZE", "chttpd", "max_http_request_size", "max_request_size", int),
    ("BRAINLINK_SYNCHRONOUS", "brainlink", "synchronous", "synchronous", str),
    (
        "BRAINLINK_COMPRESSIBLE_TYPES",
        "attachments",
        "compressible_types",
        "compressible_types",
        str,
    ),
    (
        "BRAINLINK_COMPRESSION_LEVEL",
        "attachments",
        "compression_level",
        "compression_level",
        int,
    ),
    ("BRAINLINK_ACCESS_LOG", "log", "access_log", "access_log", lambda v: v.lower() == "true"),
    ("BRAINLINK_RESOLVE", "merge", "resolve", "resolve", _flag),
    ("BRAINLINK_MERGE_POLICIES", "merge", "policies", "merge_policies", _policies_file),
    ("BRAINLINK_VALIDATE_ENTITIES", "entities", "validate", "validate_entities", _flag),
]


def _names(value: str) -> tuple[str, ...]:
    """CouchDB's comma-separated lists (``origins = a, b``)."""
    return tuple(part.strip() for part in value.split(",") if part.strip())


@dataclass(frozen=True, slots=True)
class AuthSettings:
    """``[chttpd]``/``[chttpd_auth]``/``[chttpd_auth_lockout]``/``[jwt_auth]``/``[jwt_keys]``."""

    # CouchDB 3's default: anonymous requests reach public endpoints and public databases.
    require_valid_user: bool = False
    # HMAC secret of AuthSession cookies; generated and persisted at first start.
    secret: str = ""
    timeout: int = 600  # seconds a session cookie lives without a refresh
    allow_persistent_cookies: bool = True
    cookie_domain: str = ""
    same_site: str = ""  # "", "Strict", "Lax" or "None"
    secure_cookie: bool = False
    iterations: int = DEFAULT_ITERATIONS  # PBKDF2 rounds for new _users passwords
    public_signup: bool = True  # anonymous clients may create their own _users doc
    public_fields: tuple[str, ...] = ()
    # chttpd_auth_lockout: "enforce", "warn" or "off".
    lockout_mode: str = "enforce"
    lockout_threshold: int = 5
    lockout_seconds: float = 300.0
    lockout_max_objects: int = 10_000
    # "hmac:<kid>" -> base64 key, "rsa:<kid>" -> PEM public key (kid "_default" without a kid).
    jwt_keys: Mapping[str, str] = field(default_factory=dict)
    # CouchDB's [jwt_auth] required_claims default: a token without exp never authenticates.
    jwt_required_claims: tuple[str, ...] = ("exp",)
    jwt_roles_claim_path: str = "_couchdb.roles"
    users_db_security_editable: bool = False


@dataclass(frozen=True, slots=True)
class CorsSettings:
    """``[chttpd] enable_cors`` and CouchDB's ``[cors]`` section, with its defaults."""

    enabled: bool = False
    origins: tuple[str, ...] = ()
    credentials: bool = False
    # chttpd_cors.hrl's SUPPORTED_METHODS and SUPPORTED_HEADERS, used unless [cors] names others.
    methods: tuple[str, ...] = (
        "CONNECT", "COPY", "DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT", "TRACE",
    )  # fmt: skip
    headers: tuple[str, ...] = (
        "accept", "accept-language", "authorization", "content-length", "content-range",
        "content-type", "destination", "expires", "if-match", "last-modified", "origin", "pragma",
        "x-couch-full-commit", "x-couch-id", "x-couch-persist", "x-couchdb-www-authenticate",
        "x-http-method-override", "x-requested-with", "x-couchdb-vhost-path",
    )  # fmt: skip
    max_age: int = 600


@dataclass(frozen=True, slots=True)
class PeruserSettings:
    """``[couch_peruser]``: a private database for every user."""

    enable: bool = False
    delete_dbs: bool = False
    database_prefix: str = "userdb-"


@dataclass(frozen=True, slots=True)
class AuditSettings:
    """``[audit]``: the log of writes to sensitive documents (``security/audit.py``)."""

    enabled: bool = True
    # The entity types whose writes are logged: credentials, keys, grants and accounts.
    types: tuple[str, ...] = ("integration", "apiKey", "permission", "user")
    # Behind a reverse proxy the peer is the proxy: only then is X-Forwarded-For believed
    # (a client could otherwise name any address it likes).
    trust_forwarded: bool = False


# (ini section, ini key, environment variable or None, sub-settings field, parser)
_SUB_KEYS: dict[str, list[tuple[str, str, str | None, str, Any]]] = {
    "auth": [
        (
            "chttpd",
            "require_valid_user",
            "BRAINLINK_REQUIRE_VALID_USER",
            "require_valid_user",
            _flag,
        ),
        ("chttpd_auth", "secret", None, "secret", str),
        ("chttpd_auth", "timeout", None, "timeout", int),
        ("chttpd_auth", "allow_persistent_cookies", None, "allow_persistent_cookies", _flag),
        ("chttpd_auth", "cookie_domain", None, "cookie_domain", str),
        ("chttpd_auth", "same_site", None, "same_site", str),
        ("chttpd_auth", "secure_cookie", None, "secure_cookie", _flag),
        ("chttpd_auth", "iterations", None, "iterations", int),
        ("chttpd_auth", "public_signup", "BRAINLINK_PUBLIC_SIGNUP", "public_signup", _flag),
        ("chttpd_auth", "public_fields", None, "public_fields", _names),
        ("chttpd_auth_lockout", "mode", None, "lockout_mode", str),
        ("chttpd_auth_lockout", "threshold", None, "lockout_threshold", int),
        ("chttpd_auth_lockout", "max_lifetime", None, "lockout_seconds", lambda v: int(v) / 1000),
        ("chttpd_auth_lockout", "max_objects", None, "lockout_max_objects", int),
        ("jwt_auth", "required_claims", None, "jwt_required_claims", _names),
        ("jwt_auth", "roles_claim_path", None, "jwt_roles_claim_path", str),
        ("couchdb", "users_db_security_editable", None, "users_db_security_editable", _flag),
    ],
    "cors": [
        ("chttpd", "enable_cors", "BRAINLINK_ENABLE_CORS", "enabled", _flag),
        ("cors", "origins", "BRAINLINK_CORS_ORIGINS", "origins", _names),
        ("cors", "credentials", "BRAINLINK_CORS_CREDENTIALS", "credentials", _flag),
        ("cors", "methods", None, "methods", _names),
        ("cors", "headers", None, "headers", _names),
        ("cors", "max_age", None, "max_age", int),
    ],
    "peruser": [
        ("couch_peruser", "enable", "BRAINLINK_PERUSER", "enable", _flag),
        ("couch_peruser", "delete_dbs", "BRAINLINK_PERUSER_DELETE_DBS", "delete_dbs", _flag),
        ("couch_peruser", "database_prefix", None, "database_prefix", str),
    ],
    "audit": [
        ("audit", "enabled", "BRAINLINK_AUDIT", "enabled", _flag),
        ("audit", "types", None, "types", _names),
        (
            "audit",
            "trust_forwarded",
            "BRAINLINK_AUDIT_TRUST_FORWARDED",
            "trust_forwarded",
            _flag,
        ),
    ],
}


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path = Path("brainlink-data")
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    max_dbs_open: int = 500
    max_document_size: int = DEFAULT_MAX_DOCUMENT_SIZE
    max_attachment_size: int = DEFAULT_MAX_ATTACHMENT_SIZE
    max_request_size: int = DEFAULT_MAX_REQUEST_SIZE
    # The server fsyncs every commit, as CouchDB does before it answers a write.
    synchronous: str = "FULL"
    compressible_types: str = DEFAULT_COMPRESSIBLE_TYPES
    # [attachments] compression_level: gzip level for compressible types (0 stores them in clear).
    compression_level: int = DEFAULT_COMPRESSION_LEVEL
    access_log: bool = True
    # [merge] resolve: off by default, as CouchDB never merges a conflict on its own.
    resolve: bool = False
    # [merge] policies: the resolver's policies where a database has no _design/merge.
    merge_policies: Policies = field(default_factory=Policies)
    # [entities] validate: refuse typed Brainlink documents that fail their model (403), on
    # every write path of data databases. Off by default: CouchDB checks nothing it is not told.
    validate_entities: bool = False
    server_uuid: str = ""
    admins: Mapping[str, PasswordHash] = field(default_factory=dict)
    config_file: Path | None = None
    auth: AuthSettings = field(default_factory=AuthSettings)
    cors: CorsSettings = field(default_factory=CorsSettings)
    peruser: PeruserSettings = field(default_factory=PeruserSettings)
    audit: AuditSettings = field(default_factory=AuditSettings)


@dataclass(frozen=True, slots=True)
class FirstStart:
    """What a first start generated and must tell the operator once."""

    admin: str
    password: str | None


def load_settings(
    *,
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> Settings:
    """Merge the layers; flags win. ``flags`` holds only the options given on the command line."""
    env = os.environ if environ is None else environ
    flags = dict(flags or {})
    data_dir = Path(flags.get("data_dir") or env.get("BRAINLINK_DATA_DIR") or "brainlink-data")
    path = config_file or (Path(env["BRAINLINK_CONFIG"]) if "BRAINLINK_CONFIG" in env else None)
    path = path or data_dir / CONFIG_NAME
    parser = _read_ini(path)
    values: dict[str, Any] = {"data_dir": data_dir}
    for env_key, section, key, name, parse in _KEYS:
        raw = flags.get(name)
        if raw is None:
            raw = env.get(env_key, parser.get(section, key, fallback=None))
        if raw is not None:  # parsed once, the winning layer's: a file is read only if it counts
            values[name] = parse(raw)
    admins = {
        name: parse_config_hash(value)
        for name, value in (parser.items("admins") if parser.has_section("admins") else [])
    }
    server_uuid = parser.get("couchdb", "uuid", fallback="")
    auth = _sub_settings(AuthSettings(), "auth", parser, env)
    keys = dict(parser.items("jwt_keys")) if parser.has_section("jwt_keys") else {}
    return Settings(
        **values,
        admins=admins,
        server_uuid=server_uuid,
        config_file=path,
        auth=replace(auth, jwt_keys=keys),
        cors=_sub_settings(CorsSettings(), "cors", parser, env),
        peruser=_sub_settings(PeruserSettings(), "peruser", parser, env),
        audit=_sub_settings(AuditSettings(), "audit", parser, env),
    )


def _sub_settings(
    base: _T, group: str, parser: configparser.ConfigParser, env: Mapping[str, str]
) -> _T:
    values: dict[str, Any] = {}
    for section, key, env_key, name, parse in _SUB_KEYS[group]:
        if parser.has_option(section, key):
            values[name] = parse(parser.get(section, key))
        if env_key is not None and env_key in env:
            values[name] = parse(env[env_key])
    return replace(base, **values)  # type: ignore[type-var]


def _read_ini(path: Path) -> configparser.ConfigParser:
    # "=" only: CouchDB keys such as `hmac:_default` contain a colon.
    parser = configparser.ConfigParser(interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    if path.exists():
        parser.read(path, encoding="utf-8")
    return parser


def ensure_first_start(settings: Settings, admin: str | None) -> tuple[Settings, FirstStart | None]:
    """Give a fresh server its uuid, cookie secret and an admin (never an "admin party").

    ``admin`` is ``user:password`` from ``--admin`` or ``BRAINLINK_ADMIN``; without it, and with
    no admin configured, a password is generated, returned once, and only its hash is stored.
    """
    assert settings.config_file is not None
    parser = _read_ini(settings.config_file)
    first: FirstStart | None = None
    admins = dict(settings.admins)
    if admin is not None:
        name, sep, password = admin.partition(":")
        if not sep or not name or not password:
            raise ValueError("--admin takes user:password")
        if name not in admins:
            admins[name] = hash_password(password)
            first = FirstStart(name, None)
    elif not admins:
        password = secrets.token_urlsafe(18)
        admins["admin"] = hash_password(password)
        first = FirstStart("admin", password)
    server_uuid = settings.server_uuid or uuid.uuid4().hex
    secret = settings.auth.secret or secrets.token_hex(32)
    changed = (
        first is not None or server_uuid != settings.server_uuid or secret != settings.auth.secret
    )
    if changed:
        for section in ("admins", "couchdb", "chttpd_auth"):
            if not parser.has_section(section):
                parser.add_section(section)
        for name, stored in admins.items():
            parser.set("admins", name, stored.to_config())
        parser.set("couchdb", "uuid", server_uuid)
        parser.set("chttpd_auth", "secret", secret)
        settings.config_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = settings.config_file.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as handle:
            parser.write(handle)
        os.chmod(tmp, 0o600)
        os.replace(tmp, settings.config_file)
    settings = replace(settings, admins=admins, server_uuid=server_uuid)
    return replace(settings, auth=replace(settings.auth, secret=secret)), first
