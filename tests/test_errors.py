"""The error table mirrors CouchDB's chttpd statuses and tokens, and survives a round trip."""

from __future__ import annotations

import pytest

from brainlink_docs import errors

TABLE = [
    (errors.BadRequest, 400, "bad_request"),
    (errors.DocValidation, 400, "doc_validation"),
    (errors.Unauthorized, 401, "unauthorized"),
    (errors.Forbidden, 403, "forbidden"),
    (errors.NotFound, 404, "not_found"),
    (errors.MethodNotAllowed, 405, "method_not_allowed"),
    (errors.Conflict, 409, "conflict"),
    (errors.FileExists, 412, "file_exists"),
    (errors.PreconditionFailed, 412, "precondition_failed"),
    (errors.TooLarge, 413, "too_large"),
    (errors.UnsupportedMediaType, 415, "bad_content_type"),
]


@pytest.mark.parametrize(("cls", "status", "token"), TABLE)
def test_each_error_carries_couchdbs_status_and_token(
    cls: type[errors.CouchError], status: int, token: str
) -> None:
    exc = cls("why")
    assert exc.status == status
    assert exc.to_json() == {"error": token, "reason": "why"}


@pytest.mark.parametrize(("cls", "status", "token"), TABLE)
def test_a_response_maps_back_to_the_same_class(
    cls: type[errors.CouchError], status: int, token: str
) -> None:
    rebuilt = errors.error_from_response(status, {"error": token, "reason": "r"})
    assert type(rebuilt) is cls
    assert rebuilt.reason == "r"


def test_server_errors_become_unavailable_so_replicators_retry() -> None:
    for status in (500, 502, 503):
        assert isinstance(errors.error_from_response(status, None), errors.Unavailable)


def test_an_instance_token_overrides_the_class_token_but_not_the_status() -> None:
    exc = errors.BadRequest("bad name", error="illegal_database_name")
    assert exc.status == 400
    assert exc.to_json()["error"] == "illegal_database_name"
    again = errors.error_from_response(400, exc.to_json())
    assert type(again) is errors.BadRequest
    assert again.error == "illegal_database_name"


def test_bulk_row_tokens_rebuild_their_exception() -> None:
    assert isinstance(errors.error_from_token("conflict", "x"), errors.Conflict)
    stub = errors.error_from_token("missing_stub", "x")
    assert isinstance(stub, errors.PreconditionFailed)
    assert stub.error == "missing_stub"
