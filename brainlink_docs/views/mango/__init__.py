"""Mango: CouchDB's ``_find`` query language, its JSON indexes and its planner.

- ``selector``: normalize and match selectors (also ``_changes?filter=_selector``);
- ``indexes``: ``_index`` definitions and the ``query`` design documents holding them;
- ``mapper``: the ``query``-language ``Mapper`` that computes a JSON index's rows;
- ``planner``: which index serves a query and over which range (``_explain``);
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
from brainlink_docs.views.mango.selector import matches, normalize, split_field, validate_selector

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
