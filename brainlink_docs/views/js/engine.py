"""One design document's QuickJS context: compile once, map batches, run JavaScript reduces.

A ``DesignContext`` owns a ``quickjs.Context`` (quickjs-ng) with ``runtime.js`` loaded and
every map and reduce function of one ``DesignDoc`` compiled. It is synchronous and
**thread-confined**: QuickJS runtimes crash when touched from two threads, even one after
the other, so only ``QueryServer``'s engine thread may create or call one.

Crossing into the engine costs a few microseconds, so a batch of documents crosses once, as
one JSON string, and its rows come back as one JSON string (CouchDB crosses once per
document, over a pipe). Limits are QuickJS's own: a time limit per call (CouchDB's
``os_process_timeout``) and a memory limit per context (couchjs's default 64 MiB). A batch
that hits the time limit is resumed from the document it was on, so each document gets the
full limit, as each ``map_doc`` command does in CouchDB; one document alone exceeding it
fails the call with CouchDB's ``os_process_error``. A batch that runs out of memory is mapped
again one document at a time in a fresh context, so only a document that alone exhausts
the memory fails.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import orjson
import quickjs

from brainlink_docs.errors import (
    NotFound,
    QueryServerError,
    compilation_error,
    os_process_timeout,
)
from brainlink_docs.views.js.design import DesignDoc, DesignFunctions

LOG = logging.getLogger("brainlink_docs.views.js")
RUNTIME_JS = resources.files(__package__).joinpath("runtime.js").read_text(encoding="utf-8")
# CouchDB's [couchdb] os_process_timeout default: 5000 ms.
DEFAULT_TIMEOUT_S = 5.0
# couchjs.c's DEFAULT_STACK_SIZE, which it also passes to JS_SetMemoryLimit: 64 MiB.
DEFAULT_MEMORY_BYTES = 64 * 1024 * 1024

# One view's rows for one document: [key, value] pairs as emitted (CouchDB's wire form).
ViewRows = list[list[Any]]


@dataclass(frozen=True, slots=True)
class Limits:
    """What one JavaScript call may spend: seconds of time and bytes of heap."""

    timeout_s: float = DEFAULT_TIMEOUT_S
    memory_bytes: int = DEFAULT_MEMORY_BYTES


class OutOfMemory(Exception):
    """QuickJS ran out of its heap; the context must be thrown away."""


class DesignContext:
    """The compiled functions of one design document (see the module docstring)."""

    def __init__(self, ddoc: DesignDoc, limits: Limits) -> None:
        self.ddoc = ddoc
        self.limits = limits
        self._context = quickjs.Context()
        self._context.set_memory_limit(limits.memory_bytes)
        self._context.eval(RUNTIME_JS)
        self._map_start = self._context.eval("__couch.mapStart")
        self._map_resume = self._context.eval("__couch.mapResume")
        self._map_progress = self._context.eval("__couch.mapProgress")
        self._reduce = self._context.eval("__couch.reduce")
        self.failures = self._load(self._context.eval("__couch.load"))

    def _load(self, load: Any) -> dict[str, dict[str, str]]:
        maps = {name: view.map for name, view in self.ddoc.views.items()}
        reduces = {
            name: view.reduce
            for name, view in self.ddoc.views.items()
            if view.reduce is not None and view.builtin_reduce is None
        }
        failures = self._call(load, dumps(self.ddoc.lib), dumps(maps), dumps(reduces))
        return loads(failures)  # type: ignore[no-any-return]

    def check(self) -> None:
        """Raise CouchDB's error for the first function that does not compile.

        CouchDB checks every map (in document order) before any reduce, and an empty
        function is 404 ``missing function`` rather than a compilation error.
        """
        for kind in ("map", "reduce"):
            for name, view in self.ddoc.views.items():
                source = view.map if kind == "map" else view.reduce
                if source == "":
                    raise _missing_function()
                reason = self.failures.get(name, {}).get(kind)
                if reason is not None:
                    raise compilation_error(
                        f"Compilation of the {kind} function in the '{name}' view failed: {reason}"
                    )

    def map_json(self, docs_json: str, views: Sequence[str]) -> list[list[ViewRows]]:
        """Rows per document, per view (in ``views`` order) for a JSON array of documents."""
        self.check()
        self._call(self._map_start, docs_json, dumps(list(views)))
        while True:
            done_before = self._call(self._map_progress)
            try:
                result = loads(self._call(self._map_resume))
                break
            except QueryServerError as exc:
                if not _timed_out(exc) or self._call(self._map_progress) == done_before:
                    raise
        self._log(result["logs"])
        if "fatal" in result:
            raise _fatal(result["fatal"])
        return result["rows"]  # type: ignore[no-any-return]

    def reduce_json(self, view: str, input_json: str, rereduce: bool) -> Any:
        """The JavaScript reduce of ``view`` over JSON ``[[key, id], value]`` pairs or values."""
        self.check()
        result = loads(self._call(self._reduce, view, input_json, rereduce))
        self._log(result["logs"])
        if "fatal" in result:
            raise _fatal(result["fatal"])
        return result["values"][0]

    def _call(self, function: Any, *args: Any) -> Any:
        """Call into QuickJS under the time limit, turning engine failures into CouchDB's."""
        self._context.set_time_limit(self.limits.timeout_s)
        try:
            return function(*args)
        except quickjs.StackOverflow as exc:
            raise QueryServerError(f"stack overflow: {exc}") from exc
        except quickjs.JSException as exc:
            message = str(exc)
            if message.startswith("InternalError: interrupted"):
                raise os_process_timeout() from exc
            if message.startswith("null") or "out of memory" in message:
                raise OutOfMemory(message) from exc
            raise QueryServerError(message.split("\n", 1)[0]) from exc
        finally:
            self._context.set_time_limit(-1)

    def _log(self, lines: list[str]) -> None:
        for line in lines:
            # CouchDB: "OS Process #Port<…> Log :: <message>" at info.
            LOG.info("%s OS Process Log :: %s", self.ddoc.id, line)


class FunctionsContext:
    """The compiled ``validate_doc_update`` and ``filters`` of one design document.

    Thread-confined like ``DesignContext`` (it shares its call wrapper); one call checks a
    whole batch of writes or filters a whole page of changes.
    """

    def __init__(self, ddoc: DesignFunctions, limits: Limits) -> None:
        self.ddoc = ddoc
        self.limits = limits
        self._context = quickjs.Context()
        self._context.set_memory_limit(limits.memory_bytes)
        self._context.eval(RUNTIME_JS)
        self._validate = self._context.eval("__couch.validate")
        self._filter = self._context.eval("__couch.filter")
        load = self._context.eval("__couch.loadFunctions")
        self.failures = loads(self._call(load, dumps(ddoc.body)))

    _call = DesignContext._call
    _log = DesignContext._log

    def validate_json(self, cases_json: str, user_ctx_json: str, sec_obj_json: str) -> list[Any]:
        """Verdicts for ``[[newDoc, oldDoc], ...]``: 1, the thrown value, or ``{"$error": …}``."""
        if self.ddoc.validate is None:
            raise _missing_function()
        reason = self.failures.get("validate")
        if reason is not None:
            # CouchDB answers a write checked by a function that does not compile with a 500.
            raise QueryServerError(reason, error="compilation_error")
        result = loads(self._call(self._validate, cases_json, user_ctx_json, sec_obj_json))
        self._log(result["logs"])
        return result["verdicts"]  # type: ignore[no-any-return]

    def filter_json(self, name: str, docs_json: str, req_json: str) -> list[bool]:
        """Whether each document of a JSON array passes filter ``name``."""
        if name not in self.ddoc.filters:
            raise NotFound(f"missing json key: {name}")
        reason = self.failures["filters"].get(name)
        if reason is not None:
            raise QueryServerError(reason, error="compilation_error")
        result = loads(self._call(self._filter, name, docs_json, req_json))
        self._log(result["logs"])
        if "error" in result:
            raise QueryServerError(result["error"][1], error=result["error"][0])
        return result["passes"]  # type: ignore[no-any-return]


def _timed_out(exc: QueryServerError) -> bool:
    return exc.reason == os_process_timeout().reason


def _fatal(pair: list[str]) -> QueryServerError:
    """A ``["fatal", error, reason]`` throw (or ``'fatal_error'``): CouchDB's 500 with both."""
    return QueryServerError(pair[1], error=pair[0])


def _missing_function() -> NotFound:
    return NotFound("missing function")


def dumps(value: Any) -> str:
    """JSON text for the engine. Lone surrogates (valid in Python strings, refused by orjson)
    go as \\u escapes, which JavaScript strings can hold."""
    try:
        return orjson.dumps(value).decode("utf-8")
    except orjson.JSONEncodeError:
        return json.dumps(value, ensure_ascii=True, separators=(",", ":"), allow_nan=False)


def loads(text: str) -> Any:
    """Parse the engine's JSON.

    JSON.stringify writes a lone surrogate (half of a split pair, e.g. ``"😀".slice(0, 1)``)
    as a ``\\udXXX`` escape; CouchDB's rows carry U+FFFD there, so we replace it the same way
    (orjson refuses lone surrogates; ``json`` parses those texts).
    """
    if _LONG_DIGITS.search(text) is None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(_LONE_SURROGATE.sub(r"\\ufffd", text))


# JavaScript writes integers below 1e21 in full (2**70 as 1180591620717411303424); CouchDB
# keeps such a literal an exact integer, orjson makes a float of anything past 64 bits, so
# text with 19 digits in a row (maybe inside a string: harmless) is parsed by ``json``.
_LONG_DIGITS = re.compile(r"[0-9]{19}")


# A high surrogate escape not followed by a low one, or a low one not preceded by a high one.
_LONE_SURROGATE = re.compile(
    r"\\ud[89ab][0-9a-f]{2}(?!\\ud[c-f][0-9a-f]{2})|(?<!\\ud[89ab][0-9a-f]{2})\\ud[c-f][0-9a-f]{2}",
    re.IGNORECASE,
)
