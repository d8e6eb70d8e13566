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
from typing import Any

from brainlink_docs.security.passwords import PasswordHash, hash_password, parse_config_hash

# CouchDB 3's defaults, each where CouchDB's default.ini puts it.
DEFAULT_PORT = 5984
DEFAULT_MAX_DOCUMENT_SIZE = 8_000_000  # [couchdb] max_document_size
DEFAULT_MAX_ATTACHMENT_SIZE = 1_073_741_824  # [couchdb] max_attachment_size
DEFAULT_MAX_REQUEST_SIZE = 4_294_967_296  # [chttpd] max_http_request_size
DEFAULT_COMPRESSIBLE = "text/*, application/javascript, application/json, application/xml"
CONFIG_NAME = "local.ini"

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
    ("BRAINLINK_ACCESS_LOG", "log", "access_log", "access_log", lambda v: v.lower() == "true"),
]


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
    compressible_types: str = DEFAULT_COMPRESSIBLE
    access_log: bool = True
    server_uuid: str = ""
    admins: Mapping[str, PasswordHash] = field(default_factory=dict)
    config_file: Path | None = None


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
        if parser.has_option(section, key):
            values[name] = parse(parser.get(section, key))
        if env_key in env:
            values[name] = parse(env[env_key])
        if flags.get(name) is not None:
            values[name] = parse(flags[name]) if parse is not Path else Path(flags[name])
    admins = {
        name: parse_config_hash(value)
        for name, value in (parser.items("admins") if parser.has_section("admins") else [])
    }
    server_uuid = parser.get("couchdb", "uuid", fallback="")
    return Settings(**values, admins=admins, server_uuid=server_uuid, config_file=path)


def _read_ini(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    if path.exists():
        parser.read(path, encoding="utf-8")
    return parser


def ensure_first_start(settings: Settings, admin: str | None) -> tuple[Settings, FirstStart | None]:
    """Give a fresh server its uuid and an admin (never an "admin party").

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
    changed = first is not None or server_uuid != settings.server_uuid
    if changed:
        for section in ("admins", "couchdb"):
            if not parser.has_section(section):
                parser.add_section(section)
        for name, stored in admins.items():
            parser.set("admins", name, stored.to_config())
        parser.set("couchdb", "uuid", server_uuid)
        settings.config_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = settings.config_file.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as handle:
            parser.write(handle)
        os.chmod(tmp, 0o600)
        os.replace(tmp, settings.config_file)
    return replace(settings, admins=admins, server_uuid=server_uuid), first
