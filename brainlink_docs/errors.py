"""The only error vocabulary of brainlink_docs: CouchDB's HTTP error table as exceptions.

Every failure a user can cause is a ``CouchError`` subclass carrying the HTTP ``status`` and the
CouchDB ``error`` token (the table in CouchDB's ``chttpd:error_info/1``), plus a human ``reason``.
The server renders them as ``{"error", "reason"}`` bodies; the HTTP client maps a status and body
back onto the same subclass, so callers catch one family whichever store they talk to.
"""

from __future__ import annotations

from typing import ClassVar


class CouchError(Exception):
    """Base of every CouchDB-shaped failure."""

    status: ClassVar[int] = 500
    error: ClassVar[str] = "unknown_error"
    default_reason: ClassVar[str] = "Unknown error."

    def __init__(self, reason: str | None = None, *, error: str | None = None) -> None:
        self.reason = reason if reason is not None else self.default_reason
        # Some statuses carry several CouchDB tokens (400 is bad_request, illegal_database_name,
        # invalid_json...); the instance may override the class token but never the status.
        if error is not None:
            self.error = error  # type: ignore[misc]
        super().__init__(self.reason)

    def to_json(self) -> dict[str, str]:
        return {"error": self.error, "reason": self.reason}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.reason!r})"


class BadRequest(CouchError):
    status = 400
    error = "bad_request"
    default_reason = "Bad request."


def content_md5_mismatch() -> BadRequest:
    """``couch_util:check_md5``'s refusal: an attachment's bytes are not those its digest names
    (chttpd's ``error_info(md5_mismatch)``)."""
    return BadRequest("Possible message corruption.", error="content_md5_mismatch")


class DocValidation(CouchError):
    status = 400
    error = "doc_validation"
    default_reason = "Bad special document member."


class Unauthorized(CouchError):
    status = 401
    error = "unauthorized"
    default_reason = "Name or password is incorrect."


class Forbidden(CouchError):
    status = 403
    error = "forbidden"
    default_reason = "You are not allowed to access this resource."


class NotFound(CouchError):
    """404; CouchDB's reasons are ``missing``, ``deleted`` or ``Database does not exist.``."""

    status = 404
    error = "not_found"
    default_reason = "missing"


class MethodNotAllowed(CouchError):
    status = 405
    error = "method_not_allowed"
    default_reason = "Method not allowed."


class Conflict(CouchError):
    status = 409
    error = "conflict"
    default_reason = "Document update conflict."


class FileExists(CouchError):
    status = 412
    error = "file_exists"
    default_reason = "The database could not be created, the file already exists."


class PreconditionFailed(CouchError):
    status = 412
    error = "precondition_failed"
    default_reason = "Precondition failed."


class TooLarge(CouchError):
    status = 413
    error = "too_large"
    default_reason = "Document exceeds the maximum size."


class UnsupportedMediaType(CouchError):
    status = 415
    error = "bad_content_type"
    default_reason = "Content-Type must be application/json"


class NotImplementedYet(CouchError):
    status = 501
    error = "not_implemented"
    default_reason = "This feature is not implemented."


def filter_needs_javascript(name: str) -> NotImplementedYet:
    """A named filter function asked of a store that cannot run JavaScript (yet)."""
    return NotImplementedYet(f"Filter {name} needs a JavaScript engine, not implemented yet.")


class Unavailable(CouchError):
    """A peer could not be reached or answered 5xx; the only error a replicator retries."""

    status = 503
    error = "service_unavailable"
    default_reason = "The service is unavailable."


class UntrustedPeer(CouchError):
    """The peer's TLS certificate did not verify (unknown CA, wrong host name, expired).

    Not an ``Unavailable``: retrying cannot make a certificate trusted, so a replicator that
    retries outages stops on this at once, with the verifier's reason. Only ever raised by the
    HTTP client (no response carries it), so it has no place in the status table below; 502 is
    a gateway's word for "the upstream's answer was unusable", if a server ever relays it.
    """

    status = 502
    error = "untrusted_peer"
    default_reason = "The peer's TLS certificate is not trusted."


class QueryServerError(CouchError):
    """500 from the JavaScript query server: CouchDB's ``os_process_error`` and its relatives.

    CouchDB answers a map or reduce that loops past ``os_process_timeout`` with
    ``{"error": "os_process_error", "reason": "OS process timed out."}``; a map that throws
    ``'fatal_error'`` with ``map_runtime_error``; a ``["fatal", error, reason]`` throw with that
    error and reason; a non-numeric ``_stats`` input with ``invalid_value``. All are 500s.
    """

    status = 500
    error = "os_process_error"
    default_reason = "OS process error."


def os_process_timeout() -> QueryServerError:
    """CouchDB's answer when one JavaScript call outlives ``os_process_timeout``."""
    return QueryServerError("OS process timed out.")


def compilation_error(reason: str) -> BadRequest:
    """A design-document function that does not compile: 400 on save (and on query)."""
    return BadRequest(reason, error="compilation_error")


# Status plus token -> class, so a client can rebuild the exact subclass from a response.
_BY_STATUS: dict[int, list[type[CouchError]]] = {}
for _cls in (
    BadRequest,
    DocValidation,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Conflict,
    FileExists,
    PreconditionFailed,
    TooLarge,
    UnsupportedMediaType,
    NotImplementedYet,
    Unavailable,
):
    _BY_STATUS.setdefault(_cls.status, []).append(_cls)


def error_from_response(status: int, body: object) -> CouchError:
    """Rebuild the ``CouchError`` a CouchDB-speaking server meant by ``status`` and its body."""
    error = reason = None
    if isinstance(body, dict):
        error, reason = body.get("error"), body.get("reason")
    if status >= 500:
        return Unavailable(str(reason) if reason else f"HTTP {status}")
    candidates = _BY_STATUS.get(status)
    if not candidates:
        exc = CouchError(str(reason) if reason else f"HTTP {status}")
        exc.status = status  # type: ignore[misc]
        return exc
    chosen = next((c for c in candidates if c.error == error), None)
    if chosen is None:
        # A token some class handles under this status (missing_stub is a 412 PreconditionFailed).
        by_token = _BY_TOKEN.get(str(error)) if error is not None else None
        chosen = by_token if by_token is not None and by_token.status == status else candidates[0]
    return chosen(
        str(reason) if reason is not None else None,
        error=str(error) if error and error != chosen.error else None,
    )


# Per-document error tokens that appear in bulk_docs rows, mapped back to their exception class
# (``missing_stub`` is CouchDB's 412 for an attachment stub the parent revision lacks).
_BY_TOKEN: dict[str, type[CouchError]] = {
    cls.error: cls for classes in _BY_STATUS.values() for cls in classes
} | {
    "missing_stub": PreconditionFailed,
    "illegal_database_name": BadRequest,
    # A design document refused on save (couch_mrview:validate): 400s.
    "invalid_design_doc": BadRequest,
    "compilation_error": BadRequest,
}


def error_from_token(error: str, reason: str | None) -> CouchError:
    """Rebuild the exception behind a per-document error row."""
    cls = _BY_TOKEN.get(error, CouchError)
    return cls(reason, error=error if error != cls.error else None)
