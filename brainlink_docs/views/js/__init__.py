"""The JavaScript query server: CouchDB 3.5's design-document functions in QuickJS.

``QueryServer`` maps batches of documents through a design document's views and runs their
reduces (JavaScript in the engine, built-ins in Python); ``design_doc`` parses a design
document into the ``DesignDoc`` value it takes. It also runs ``validate_doc_update`` and
filter functions (``DesignFunctions``, from ``design_functions``). See ``design_docs/views.md``
and ``design_docs/design-functions.md``.
"""

from brainlink_docs.views.js.builtins import BUILTINS, BuiltinReduce
from brainlink_docs.views.js.design import (
    DesignDoc,
    DesignFunctions,
    ViewSource,
    design_doc,
    design_functions,
)
from brainlink_docs.views.js.engine import Limits, ViewRows
from brainlink_docs.views.js.server import QueryServer, shared_query_server

__all__ = [
    "BUILTINS",
    "BuiltinReduce",
    "DesignDoc",
    "DesignFunctions",
    "Limits",
    "QueryServer",
    "ViewRows",
    "ViewSource",
    "design_doc",
    "design_functions",
    "shared_query_server",
]
