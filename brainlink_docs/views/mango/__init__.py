"""Mango: CouchDB's ``_find`` query language, its JSON indexes and its planner.

- ``normalize``: validate and normalize selectors as CouchDB does;
- ``selector``: match them (also ``_changes?filter=_selector``);
- ``indexes``: ``_index`` definitions and the ``query`` design documents holding them;
- ``mapper``: the ``query``-language ``Mapper`` that computes a JSON index's rows;
- ``ranges``: the key range a selector allows on an index's columns;
- ``planner``: which index serves a query (``_explain``'s candidates too);
- ``bookmarks``: CouchDB's bookmark bytes;
- ``options``: ``_find`` request validation;
- ``find``: ``_find``/``_explain``/``_index`` over any ``DocumentStore``.
"""

from brainlink_docs.views.mango.find import (
    create_index,
    delete_index,
    explain,
    find,
    list_indexes,
)
from brainlink_docs.views.mango.mapper import QueryMapper
from brainlink_docs.views.mango.normalize import normalize, validate_selector
from brainlink_docs.views.mango.selector import matches, split_field

__all__ = [
    "QueryMapper",
    "create_index",
    "delete_index",
    "explain",
    "find",
    "list_indexes",
    "matches",
    "normalize",
    "split_field",
    "validate_selector",
]
