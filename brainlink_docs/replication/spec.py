"""A replication as a user asks for it: a ``POST /_replicate`` body or a ``_replicator``
document, parsed once into a frozen ``ReplicationSpec``.

Each endpoint is a database URL plus the headers sent with every request to it (its own
``headers``, and ``auth.basic`` as an ``Authorization: Basic`` header); credentials never
appear in what the scheduler shows (``Endpoint.shown``: the URL without them, with CouchDB's
trailing slash). A local database name is resolved by the caller (``local``): CouchDB 3.5's
``_replicate`` turns it into a URL of the server itself, carrying the requester's credentials,
while a ``_replicator`` document with one is refused (``local_endpoints_not_supported``).

The errors are CouchDB 3.5's bodies, as the real server answers them (``couch_replicator_parse``),
with its statuses but one departure: what CouchDB answers with a 500 for a client's mistake
(``Missing replicator database``, a bad ``filter``) is a 400 here, since our server answers 500
for its own faults only (the fuzz test holds it to that).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from brainlink_docs.errors import BadRequest, Forbidden
from brainlink_docs.replication.ids import bare_url, replication_id
from brainlink_docs.replication.options import ReplicationOptions
from brainlink_docs.store.endpoints import is_url

# CouchDB's answer to a body without source or target (its parser looks the pair up in the
# replicator database's terms, hence the odd reason), a 500 on _replicate.
MISSING_ENDPOINT = "Missing replicator database"
MUTUALLY_EXCLUSIVE = "`doc_ids`,`filter`,`selector` are mutually exclusive"
BAD_FILTER = "Invalid filter. Must match `ddocname/filtername`."
LOCAL_ENDPOINTS = "local_endpoints_not_supported"
# The options CouchDB checks, with the type each must have and its message when it has not
# (couch_replicator_parse:convert_options); a null is a wrong type, but for ``doc_ids``.
_OPTION_CHECKS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "cancel": (bool, "must be a boolean"),
    "create_target": (bool, "must be a boolean"),
    "create_target_params": (dict, "must be a JSON object"),
    "winning_revs_only": (bool, "must be a boolean"),
    "continuous": (bool, "must be a boolean"),
    "query_params": (dict, "must be an object"),
    "doc_ids": (list, "must be an array"),
    "selector": (dict, "must be a JSON object"),
    "use_bulk_get": (bool, "must be a boolean"),
}
# The names a cancel request may give the job by.
_JOB_ID_KEYS = ("_local_id", "replication_id", "id")
# ddoc/name, CouchDB's couch_replicator_filters:parse regex.
_FILTER = re.compile(r"^(?:_design/)?[^/]+/[^/]+$")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One side of a replication: where it is and what every request to it carries."""

    url: str
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def shown(self) -> str:
        """The URL as the scheduler and ``_active_tasks`` show it: no credentials, one trailing
        slash (CouchDB's ``couch_replicator_api_wrap:db_uri`` strips them)."""
        if not is_url(self.url):
            return self.url  # an embedded database's file (the scheduler's own tests)
        return self.key if self.key.endswith("/") else self.key + "/"

    @property
    def key(self) -> str:
        """What identifies it for the replication id (``ids.endpoint_id`` of its store)."""
        if not is_url(self.url):
            return self.url
        return bare_url(self.url)


@dataclass(frozen=True, slots=True)
class ReplicationSpec:
    """What to replicate and how; ``job_id`` is the scheduler's id for it."""

    source: Endpoint
    target: Endpoint
    continuous: bool = False
    create_target: bool = False
    doc_ids: tuple[str, ...] | None = None
    selector: dict[str, Any] | None = None
    filter: str | None = None
    query_params: dict[str, Any] | None = None

    @property
    def base_id(self) -> str:
        """The replication id the scheduler knows the job by. A named filter counts by its name
        and parameters here: its code is on the source, read when the job runs (the checkpoints'
        id, ``rep_id_of``, hashes the code, so an edited filter still starts a new history)."""
        return replication_id(
            self.source.key,
            self.target.key,
            doc_ids=self.doc_ids,
            selector=self.selector,
            filter_code=self.filter,
            query_params=self.query_params_text(),
        )

    @property
    def job_id(self) -> str:
        """CouchDB's ``<base>+continuous+create_target`` form: the options that change what a
        job does but not its checkpoints are suffixes, so the same job is recognised twice."""
        suffixes = ("+continuous" if self.continuous else "") + (
            "+create_target" if self.create_target else ""
        )
        return self.base_id + suffixes

    def query_params_text(self) -> dict[str, str]:
        """``query_params`` as the filter receives them: query-string values (CouchDB passes
        a non-string value as its JSON)."""
        return {
            str(k): v if isinstance(v, str) else json.dumps(v)
            for k, v in (self.query_params or {}).items()
        }

    def options(self) -> ReplicationOptions:
        """What ``replicate`` is asked to do (its default batching and retries)."""
        return ReplicationOptions(
            doc_ids=self.doc_ids,
            selector=self.selector,
            filter=self.filter,
            query_params=self.query_params_text(),
        )


@dataclass(frozen=True, slots=True)
class CancelRequest:
    """``{"replication_id": ..., "cancel": true}``: stop a job by its id."""

    job_id: str


LocalResolver = Callable[[str], Endpoint]


def parse(body: Mapping[str, Any], local: LocalResolver) -> ReplicationSpec | CancelRequest:
    """A ``_replicate`` body; ``cancel: true`` with a job id (``replication_id``, ``_local_id``
    or ``id``) names a job alone. The options are checked first, in the body's order, as
    CouchDB's ``couch_replicator_parse:make_options`` does, so the first bad one is reported."""
    _check_options(body)
    cancel = body.get("cancel") is True
    named = next((body[k] for k in _JOB_ID_KEYS if k in body), None)
    if cancel and named is not None:
        return CancelRequest(str(named))
    spec = _spec(body, local)
    return CancelRequest(spec.job_id) if cancel else spec


def parse_spec(body: Mapping[str, Any], local: LocalResolver) -> ReplicationSpec:
    """The replication ``body`` describes, or CouchDB's error for it."""
    _check_options(body)
    return _spec(body, local)


def _check_options(body: Mapping[str, Any]) -> None:
    """CouchDB's option checks, in the order the body gives the options, then the filters'
    exclusivity (a ``doc_ids`` of null is no filter; ``filter`` and ``selector`` count if
    present at all)."""
    for name, value in body.items():
        rule = _OPTION_CHECKS.get(name)
        if rule is None or (name == "doc_ids" and value is None):
            continue
        expected, message = rule
        if not isinstance(value, expected):
            raise BadRequest(f"parameter `{name}` {message}")
    chosen = [k for k in ("doc_ids", "filter", "selector") if k in body]
    if body.get("doc_ids", ()) is None:
        chosen.remove("doc_ids")
    if len(chosen) > 1:
        raise BadRequest(MUTUALLY_EXCLUSIVE)


def _spec(body: Mapping[str, Any], local: LocalResolver) -> ReplicationSpec:
    source = _endpoint(body.get("source"), local)
    target = _endpoint(body.get("target"), local)
    name = body.get("filter")
    if "filter" in body and (not isinstance(name, str) or not _FILTER.match(name)):
        raise BadRequest(BAD_FILTER, error="error")
    doc_ids = body.get("doc_ids")
    return ReplicationSpec(
        source=source,
        target=target,
        continuous=body.get("continuous") is True,
        create_target=body.get("create_target") is True,
        doc_ids=tuple(str(d) for d in doc_ids) if doc_ids is not None else None,
        selector=body.get("selector"),
        filter=name.removeprefix("_design/") if isinstance(name, str) else None,
        query_params=body.get("query_params"),
    )


def refuse_local(name: str) -> Endpoint:
    """A ``_replicator`` document's resolver: CouchDB 3 refuses local database names there."""
    raise Forbidden(LOCAL_ENDPOINTS)


def _endpoint(value: Any, local: LocalResolver) -> Endpoint:
    if value is None:
        raise BadRequest(MISSING_ENDPOINT, error="error")
    if isinstance(value, str):
        return Endpoint(value) if is_url(value) else local(value)
    if not isinstance(value, dict):
        raise BadRequest("endpoint has an invalid url", error="invalid_replication")
    url = value.get("url")
    if not isinstance(url, str) or not is_url(url):
        raise BadRequest("endpoint has an invalid url", error="invalid_replication")
    headers = value.get("headers") or {}
    if not isinstance(headers, dict):
        raise BadRequest("endpoint headers must be an object", error="invalid_replication")
    merged = {str(k): str(v) for k, v in headers.items()}
    basic = (value.get("auth") or {}).get("basic") if isinstance(value.get("auth"), dict) else None
    if isinstance(basic, dict) and "username" in basic and "password" in basic:
        pair = f"{basic['username']}:{basic['password']}".encode()
        merged["Authorization"] = "Basic " + base64.b64encode(pair).decode()
    return Endpoint(url, merged)
