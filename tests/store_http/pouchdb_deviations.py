"""Where the contract suite (``tests/store``) fails on ``HttpStore`` + pouchdb-server 4.2.0: why.

Every entry is a test that fails for a reason outside ``HttpStore``, classified as:

* ``pouchdb-server``: pouchdb-server (PouchDB 7 on LevelDB behind express-pouchdb) answers
  differently from Apache CouchDB 3.x; the reason cites what CouchDB does.
* ``suite``: the contract test expects something CouchDB 3.x itself does not do, or assumes the
  SQLite backend; the suite (or the SQLite store) needs the fix.

``mark_known_deviation(request)``, called by the ``http-pouchdb-server`` store fixture, turns an
entry into an xfail: strict where the failure is deterministic (so a fix shows up as XPASS), not
strict for property tests whose failure depends on the examples drawn. Tests that fail during
fixture setup are xfailed at once, since a marker added then is never evaluated for setup.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pytest

Kind = Literal["pouchdb-server", "suite"]


@dataclass(frozen=True, slots=True)
class Deviation:
    kind: Kind
    reason: str
    strict: bool = True
    at_setup: bool = False


def _pouch(reason: str, *, strict: bool = True) -> Deviation:
    return Deviation("pouchdb-server", reason, strict=strict)


_RANGE_SCAN = (
    "pouchdb-server range reads never return ids sorting after '\\xff' in UTF-16 (sublevel-pouchdb "
    "bounds its key space with upperBound '\\xff'), e.g. ids starting with a char >= U+0100; "
    "CouchDB's _all_docs lists every live id in raw UTF-8 order"
)
_NO_REVS_LIMIT = (
    "pouchdb-server has no /{db}/_revs_limit (GET is read as doc '_revs_limit', PUT as a doc "
    "body: 400 invalid_json); CouchDB: GET/PUT /{db}/_revs_limit (chttpd_db:db_req)"
)
_CONFLICT_ORDER = (
    "PouchDB lists _conflicts in rev-tree order; CouchDB in couch_doc:to_doc_info order "
    "(higher generation, then higher rev id first)"
)
_NO_DELETED_CONFLICTS = (
    "pouchdb-server ignores ?deleted_conflicts=true; CouchDB adds _deleted_conflicts "
    "(couch_db:doc_meta_info)"
)
_DELETED_REASON = (
    "pouchdb-server answers a deleted doc with 404 reason 'missing'; CouchDB says 'deleted' "
    "(chttpd_db: {not_found, deleted})"
)
_REVS_DIFF_KNOWN = (
    "PouchDB revsDiff counts only revisions with a stored body as known, so id-only ancestors "
    "(stemmed-in or compacted) are reported missing; CouchDB knows every rev in the tree "
    "(couch_key_tree:find_missing)"
)
_BULK_GET_ERRORS = (
    "pouchdb-server _bulk_get answers a missing doc as {} and a missing rev as {missing: rev}; "
    "CouchDB answers {error: {id, rev, error, reason}} (chttpd_db:bulk_get_json_error_map)"
)
_DOC_VALIDATION_500 = (
    "pouchdb-server answers an unknown special member with 500 doc_validation (HttpStore maps "
    "every 5xx to Unavailable); CouchDB: 400 doc_validation (couch_doc:transfer_fields)"
)
_NO_DOC_DEL_COUNT = "pouchdb-server's GET /db has no doc_del_count (read as 0); CouchDB reports it"
_DOC_ID_RULE = (
    "PouchDB's id check (/^_(design|local)/) accepts '{id}'; CouchDB allows only '_design/...' "
    "and '_local/...' (couch_doc:validate_docid: 400 illegal_docid)"
)
_ID_FALSY = (
    "PouchDB treats _id {value} as absent and generates an id; CouchDB: 400 illegal_docid "
    "(couch_doc:validate_docid)"
)
_LOCAL_REV_CHECK = (
    "PouchDB checks a _local doc's previous revision (409 unless it names the stored one); "
    "CouchDB 3 checks none, last writer wins (couch_db_updater:update_local_doc_revs)"
)
DEVIATIONS: dict[str, Deviation] = {
    "test_views.py::test_ranges_limits_and_descending[http-pouchdb-server]": _pouch(
        "PouchDB's map/reduce answers offset = skip; CouchDB counts the rows before the range "
        "(couch_mrview: reductions of the B-tree left of the start key) plus skip"
    ),
    "test_views.py::test_errors[http-pouchdb-server]": _pouch(
        "PouchDB's map/reduce accepts group=true on a map-only view; CouchDB answers 400 "
        "query_parse_error 'Invalid use of grouping on a map view.' (couch_mrview_util)"
    ),
    # --- test_all_docs.py
    "test_all_docs.py::test_ids_collate_as_utf8_bytes[http-pouchdb-server]": _pouch(_RANGE_SCAN),
    "test_all_docs.py::test_ranges_match_a_model_of_utf8_sorted_ids[http-pouchdb-server]": _pouch(
        _RANGE_SCAN, strict=False
    ),
    "test_all_docs.py::test_keys_match_a_model_lookup[http-pouchdb-server]": _pouch(
        _RANGE_SCAN + " (make_live cannot see, so cannot delete, earlier examples' docs)",
        strict=False,
    ),
    "test_all_docs.py::test_iter_all_docs_pages_visit_every_row_once[http-pouchdb-server]": _pouch(
        _RANGE_SCAN + " (make_live re-creates docs it cannot see: conflict)", strict=False
    ),
    # --- test_attachments.py
    "test_attachments.py::test_minimal_stub_keeps_the_attachment[http-pouchdb-server]": _pouch(
        "PouchDB needs a digest in every stub (412 missing_stub for {stub: true}); CouchDB "
        "matches stubs by name, revpos optional (couch_att merge_stubs: StubRevPos == nil)"
    ),
    "test_attachments.py::test_a_stub_for_a_missing_attachment_is_rejected[http-pouchdb-server]": (
        _pouch(
            "pouchdb-server accepts a stub for an attachment the parent revision lacks (it finds "
            "the digest elsewhere); CouchDB: 412 missing_stub (couch_doc:merge_stubs)"
        )
    ),
    "test_attachments.py::test_invalid_base64_is_a_bad_request[http-pouchdb-server]": _pouch(
        "pouchdb-server answers invalid base64 with 500 'Some query argument is invalid' "
        "(Unavailable); CouchDB: 400 bad_request (couch_att inline data)"
    ),
    "test_attachments.py::test_atts_since_inlines_only_newer_attachments[http-pouchdb-server]": (
        _pouch(
            "pouchdb-server's GET /db/doc ignores atts_since and inlines every attachment; "
            "CouchDB inlines only those newer than the listed revs (chttpd_db:parse_doc_query)"
        )
    ),
    "test_attachments.py::test_atts_since_the_current_rev_inlines_nothing[http-pouchdb-server]": (
        _pouch("pouchdb-server's GET /db/doc ignores atts_since and inlines every attachment")
    ),
    "test_attachments.py::test_replicated_revision_with_inline_attachment[http-pouchdb-server]": (
        _pouch(
            "PouchDB resets revpos of inline data to the revision's generation even with "
            "new_edits=false; CouchDB keeps a replicated revpos (set_new_att_revpos runs only "
            "on interactive edits, couch_db:update_docs)"
        )
    ),
    # --- test_bulk_docs.py
    "test_bulk_docs.py::test_a_conflict_is_a_row_and_the_rest_is_written[http-pouchdb-server]": (
        _pouch(
            "pouchdb-server's reason is 'Document update conflict' without the period; CouchDB: "
            "'Document update conflict.' (chttpd:error_info(conflict))"
        )
    ),
    "test_bulk_docs.py::test_conflict_row_serializes_like_couchdb[http-pouchdb-server]": _pouch(
        "pouchdb-server's reason is 'Document update conflict' without the period"
    ),
    (
        "test_bulk_docs.py::test_an_invalid_doc_fails_the_whole_batch"
        "[http-pouchdb-server-invalid1-DocValidation]"
    ): _pouch(_DOC_VALIDATION_500),
    (
        "test_bulk_docs.py::test_an_invalid_doc_fails_the_whole_batch"
        "[http-pouchdb-server-7-BadRequest]"
    ): _pouch(
        "pouchdb-server answers a non-object document with 500 \"Cannot create property '_id' "
        "on number\" (Unavailable); CouchDB: 400 bad_request 'Document must be a JSON object'"
    ),
    (
        "test_bulk_docs.py::test_resending_an_ancestor_known_by_id_stores_its_body"
        "[http-pouchdb-server]"
    ): _pouch(
        "PouchDB ignores a replicated revision already in the tree, so an ancestor known only by "
        "id keeps no body; CouchDB stores the body it arrives with (couch_key_tree:merge keeps a "
        "value over ?REV_MISSING) and gives the document a new sequence"
    ),
    "test_bulk_docs.py::test_a_live_leaf_beats_a_longer_deleted_branch[http-pouchdb-server]": (
        _pouch(_NO_DELETED_CONFLICTS)
    ),
    "test_bulk_docs.py::test_equal_generations_are_won_by_the_higher_rev_id[http-pouchdb-server]": (
        _pouch(_CONFLICT_ORDER)
    ),
    "test_bulk_docs.py::test_replicated_history_is_stemmed_to_revs_limit[http-pouchdb-server]": (
        _pouch(_NO_REVS_LIMIT)
    ),
    "test_bulk_docs.py::test_stemming_keeps_every_leaf[http-pouchdb-server]": _pouch(
        _NO_REVS_LIMIT
    ),
    "test_bulk_docs.py::test_winner_and_conflicts_follow_couchdb_order[http-pouchdb-server]": (
        _pouch(_CONFLICT_ORDER + "; " + _NO_DELETED_CONFLICTS, strict=False)
    ),
    # --- test_changes.py
    "test_changes.py::test_style_all_docs_lists_every_leaf_winner_first[http-pouchdb-server]": (
        _pouch(
            "PouchDB's style=all_docs lists leaves in rev-tree order; CouchDB lists the winner "
            "first (couch_changes builds the row from doc_info revs)"
        )
    ),
    "test_changes.py::test_limit_pages_and_last_seq_resumes[http-pouchdb-server]": _pouch(
        "pouchdb-server's _changes has no 'pending' (read as 0); CouchDB 3 reports it "
        "(chttpd_db:changes_callback {stop, EndSeq, Pending})"
    ),
    (
        "test_changes.py::test_selector_filters_on_the_winning_doc"
        "[http-pouchdb-server-selector6-expected6]"
    ): _pouch(
        "PouchDB's $ne matches docs that lack the field; CouchDB's mango_selector:match fails "
        "every operator but $exists:false on a missing field"
    ),
    # --- test_documents.py
    "test_documents.py::test_missing_id_gets_a_generated_uuid[http-pouchdb-server]": _pouch(
        "PouchDB generates dashed 36-character v4 UUIDs; CouchDB 32 hex digits (couch_uuids)"
    ),
    "test_documents.py::test_get_of_a_deleted_doc_is_not_found_deleted[http-pouchdb-server]": (
        _pouch(_DELETED_REASON)
    ),
    "test_documents.py::test_put_with_deleted_true_deletes[http-pouchdb-server]": _pouch(
        _DELETED_REASON
    ),
    **{
        (
            "test_documents.py::test_reserved_underscore_ids_are_bad_requests"
            f"[http-pouchdb-server-{i}]"
        ): _pouch(_DOC_ID_RULE.format(id=i))
        for i in ("_design", "_localx")
    },
    "test_documents.py::test_empty_id_is_a_bad_request[http-pouchdb-server]": _pouch(
        _ID_FALSY.format(value='""')
    ),
    "test_documents.py::test_non_string_id_is_a_bad_request[http-pouchdb-server-None]": _pouch(
        _ID_FALSY.format(value="null")
    ),
    **{
        (
            "test_documents.py::test_unknown_special_member_is_doc_validation"
            f"[http-pouchdb-server-{member}]"
        ): _pouch(_DOC_VALIDATION_500)
        for member in ("_foo", "_bar", "_id2", "_attachment")
    },
    "test_documents.py::test_malformed_rev_is_a_bad_request[http-pouchdb-server-rev5]": _pouch(
        "pouchdb-server fails a list-valued _rev with 500 'rev.substring is not a function' "
        "(Unavailable); CouchDB: 400 bad_request (couch_doc:parse_rev)"
    ),
    "test_documents.py::test_malformed_rev_on_read_is_a_bad_request[http-pouchdb-server]": _pouch(
        "pouchdb-server answers GET ?rev=not-a-rev with 404 missing; CouchDB: 400 bad_request "
        "'Invalid rev format' (chttpd_db:parse_doc_query -> couch_doc:parse_rev)"
    ),
    # --- test_info_compact.py
    "test_info_compact.py::test_counts_follow_creates_and_deletes[http-pouchdb-server]": _pouch(
        _NO_DOC_DEL_COUNT
    ),
    "test_info_compact.py::test_external_size_grows_with_content[http-pouchdb-server]": _pouch(
        "pouchdb-server reports no sizes (in memory none, on LevelDB only disk_size); CouchDB 3 "
        "reports sizes.file/active/external"
    ),
    **{
        f"test_info_compact.py::{name}[http-pouchdb-server{suffix}]": _pouch(_NO_REVS_LIMIT)
        for name, suffix in [
            ("test_revs_limit_defaults_to_1000", ""),
            ("test_revs_limit_can_be_set", ""),
            ("test_revs_limit_must_be_positive", "-0"),
            ("test_revs_limit_must_be_positive", "--1"),
            ("test_history_is_stemmed_to_revs_limit_on_write", ""),
            ("test_edits_continue_after_stemming", ""),
        ]
    },
    "test_info_compact.py::test_compaction_keeps_revs_known_to_revs_diff[http-pouchdb-server]": (
        _pouch(_REVS_DIFF_KNOWN)
    ),
    "test_info_compact.py::test_compaction_keeps_feeds_and_tombstones[http-pouchdb-server]": (
        _pouch(_NO_DOC_DEL_COUNT)
    ),
    # --- test_local_docs.py
    "test_local_docs.py::test_a_stale_rev_is_no_conflict_the_write_counts_on_from_it"
    "[http-pouchdb-server]": _pouch(_LOCAL_REV_CHECK),
    "test_local_docs.py::test_no_rev_on_an_existing_local_doc_overwrites_it_as_0_1"
    "[http-pouchdb-server]": _pouch(_LOCAL_REV_CHECK),
    **{
        (
            "test_local_docs.py::test_a_local_rev_that_is_not_0_n_is_refused"
            f"[http-pouchdb-server-{r}]"
        ): _pouch(_LOCAL_REV_CHECK + "; so a revision that is not 0-N is a 409 too")
        for r in ("1-abc", "0-x", "2-5")
    },
    # --- test_read_options.py
    "test_read_options.py::test_revs_info_marks_deleted_ancestors_deleted[http-pouchdb-server]": (
        _pouch(
            "PouchDB's _revs_info statuses are only available/missing; CouchDB marks deleted "
            "revisions 'deleted' (couch_db:doc_meta_info)"
        )
    ),
    (
        "test_read_options.py::test_conflicts_lists_live_losers_in_couchdb_order"
        "[http-pouchdb-server]"
    ): _pouch(_CONFLICT_ORDER),
    (
        "test_read_options.py::test_deleted_conflicts_lists_deleted_losers_in_couchdb_order"
        "[http-pouchdb-server]"
    ): _pouch(_NO_DELETED_CONFLICTS),
    (
        "test_read_options.py::test_a_doc_whose_leaves_are_all_deleted_reads_as_deleted"
        "[http-pouchdb-server]"
    ): _pouch(_DELETED_REASON),
    (
        "test_read_options.py::test_local_seq_is_present_when_asked_and_moves_on_update"
        "[http-pouchdb-server]"
    ): _pouch(
        "pouchdb-server ignores ?local_seq=true; CouchDB adds _local_seq (couch_db:doc_meta_info)"
    ),
    (
        "test_read_options.py::test_open_revs_latest_answers_a_branch_point_with_every_descendant_leaf"
        "[http-pouchdb-server]"
    ): _pouch(
        "PouchDB's latest=true answers a branch point with one leaf; CouchDB with every "
        "descendant leaf (couch_db:open_doc_revs, latest)"
    ),
    # --- test_replication_api.py
    "test_replication_api.py::test_id_only_ancestors_count_as_known[http-pouchdb-server]": _pouch(
        _REVS_DIFF_KNOWN
    ),
    (
        "test_replication_api.py::test_possible_ancestors_are_leaves_below_a_missing_rev"
        "[http-pouchdb-server]"
    ): _pouch(
        "pouchdb-server's _revs_diff never reports possible_ancestors (and reports id-only "
        "ancestors missing); CouchDB does (chttpd_db _revs_diff, couch_db:get_missing_revs)"
    ),
    "test_replication_api.py::test_a_revision_listed_twice[http-pouchdb-server]": _pouch(
        "pouchdb-server's _revs_diff never reports possible_ancestors; CouchDB does "
        "(chttpd_db _revs_diff, couch_db:get_missing_revs)"
    ),
    (
        "test_replication_api.py::test_bulk_get_without_rev_answers_every_leaf[http-pouchdb-server]"
    ): _pouch(
        "pouchdb-server's _bulk_get without rev answers the winner only; CouchDB reads it as "
        "open_revs=all (chttpd_db:bulk_get_parse_revs)"
    ),
    (
        "test_replication_api.py::test_bulk_get_keeps_request_order_and_duplicates"
        "[http-pouchdb-server]"
    ): _pouch(
        "PouchDB groups _bulk_get requests by id, merging duplicates; CouchDB answers each "
        "request in order (chttpd_db:bulk_get_parse_args)"
    ),
    **{
        f"test_replication_api.py::{name}[http-pouchdb-server]": _pouch(_BULK_GET_ERRORS)
        for name in (
            "test_bulk_get_of_a_missing_doc_is_an_error_entry",
            "test_bulk_get_of_a_missing_rev_is_an_error_entry",
            "test_bulk_get_of_a_malformed_rev_is_an_error_entry",
            "test_bulk_get_errors_do_not_spoil_other_entries",
        )
    },
    (
        "test_replication_api.py::test_open_revs_then_bulk_docs_replicates_a_whole_tree"
        "[http-pouchdb-server]"
    ): _pouch(
        "PouchDB garbles a history holding one rev id at two generations (2-000..., 3-000...): "
        "open_revs answers _rev 3-000... with _revisions.start 2 and the copy's winner becomes "
        "2-000...; CouchDB revisions are (pos, id) pairs (couch_key_tree)"
    ),
    (
        "test_replication_api.py::test_revs_diff_matches_a_model_of_the_tree[http-pouchdb-server]"
    ): _pouch(_REVS_DIFF_KNOWN, strict=False),
    "test_queries.py::test_files_by_type_page_by_bookmark[http-pouchdb-server]": _pouch(
        "pouchdb-find answers no bookmark and ignores one given, so the next page starts over; "
        "CouchDB pages _find by bookmark (mango_cursor_view: bookmark in every answer)"
    ),
}


def mark_known_deviation(request: pytest.FixtureRequest) -> None:
    """Expect the current test to fail if it is a known deviation (call from the store fixture)."""
    node = request.node
    deviation = DEVIATIONS.get(f"{node.path.name}::{node.name}")
    if deviation is None:
        return
    reason = f"[{deviation.kind}] {deviation.reason}"
    if deviation.at_setup:
        pytest.xfail(reason)
    node.add_marker(pytest.mark.xfail(reason=reason, strict=deviation.strict))
