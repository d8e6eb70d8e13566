"""The JavaScript query server: CouchDB 3.5's design-document functions in QuickJS.

``QueryServer`` maps batches of documents through a design document's views and runs their
reduces (JavaScript in the engine, built-ins in Python); ``design_doc`` parses a design
document into the ``DesignDoc`` value it takes. See ``design_docs/views.md``.
"""

from brainlink_docs.views.js.builtins import BUILTINS, BuiltinReduce
from brainlink_docs.views.js.design import DesignDoc, ViewSource, design_doc
from brainlink_docs.views.js.engine import Limits, ViewRows
from brainlink_docs.views.js.server import QueryServer

__all__ = [
    "BUILTINS",
    "BuiltinReduce",
    "DesignDoc",
    "Limits",
    "QueryServer",
    "ViewRows",
    "ViewSource",
    "design_doc",
]
