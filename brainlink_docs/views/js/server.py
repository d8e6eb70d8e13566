"""``QueryServer``: CouchDB's JavaScript query server, in process, behind an async boundary.

One dedicated engine thread owns every QuickJS context (QuickJS runtimes are thread-confined)
and keeps up to ``max_contexts`` of them, one per design-document signature, least recently
used first out. Callers on the event loop ``await`` the public methods; the engine thread does
the JSON encoding, the JavaScript and the decoding, so the loop never runs a design function
and never waits on one. Calls are served one at a time, in arrival order.

A context is thrown away (and rebuilt on its next use) after any failure of the process kind
— a time-out, running out of memory, a fatal throw — as CouchDB kills its ``couchjs``
process then; a context whose function merely fails to compile is kept.

Built-in reduces (``_count``, ``_sum``, ``_stats``, ``_approx_count_distinct``) run in Python
on the caller's thread: they are pure and cheaper than a thread hop.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any, ParamSpec, TypeVar

from brainlink_docs.errors import BadRequest, NotFound, QueryServerError
from brainlink_docs.views.js.builtins import BUILTINS
from brainlink_docs.views.js.design import JAVASCRIPT, DesignDoc, DesignFunctions, ViewSource
from brainlink_docs.views.js.engine import (
    DesignContext,
    FunctionsContext,
    Limits,
    OutOfMemory,
    ViewRows,
    dumps,
)

# Distinct design documents kept compiled at once. A context costs about 100 KiB before
# use; 64 covers every design document of a few busy databases.
DEFAULT_MAX_CONTEXTS = 64
# Writes checked (or changes filtered) per engine crossing: big enough that crossing costs
# nothing per document, small enough that one call stays far inside the time limit.
FUNCTION_BATCH = 1000
# QuickJS's own recursion guard (1 MiB of stack) must trip before the thread's real stack
# ends; glibc's default is 8 MiB, musl's 128 KiB, so ask for 8 MiB everywhere.
ENGINE_STACK_BYTES = 8 * 1024 * 1024

P = ParamSpec("P")
T = TypeVar("T")


class QueryServer:
    """Runs design-document functions (see the module docstring). Close it when done."""

    def __init__(self, limits: Limits | None = None, *, max_contexts: int = DEFAULT_MAX_CONTEXTS):
        self.limits = limits or Limits()
        self.max_contexts = max_contexts
        # Engine thread only. View contexts are keyed by ``DesignDoc.signature``, validate and
        # filter contexts by ``DesignFunctions.signature`` (prefixed, so the two never collide).
        self._contexts: OrderedDict[str, Any] = OrderedDict()
        self._executor = _engine_thread()
        self._closed = False

    # ---- public, async ----

    async def check(self, ddoc: DesignDoc) -> None:
        """Raise CouchDB's error (400 ``compilation_error``…) if a function does not compile.

        What saving a design document runs first, replicated writes included.
        """
        _require_javascript(ddoc)
        await self._run(self._check_sync, ddoc)

    async def map_docs(
        self, ddoc: DesignDoc, view_names: Sequence[str], docs: Sequence[Mapping[str, Any]]
    ) -> list[list[ViewRows]]:
        """For each document, for each of ``view_names``, its emitted ``[key, value]`` rows.

        A function that throws on a document leaves that document's rows for that view
        empty and logs it; every other document and view still maps.
        """
        _require_javascript(ddoc)
        for name in view_names:
            _view(ddoc, name)
        if not docs:
            return []
        return await self._run(self._map_sync, ddoc, list(view_names), list(docs))

    async def reduce(self, ddoc: DesignDoc, view_name: str, kvs: Sequence[Any]) -> Any:
        """Reduce map rows given as CouchDB's ``[[key, doc_id], value]`` pairs."""
        return await self._reduce(ddoc, view_name, kvs, rereduce=False)

    async def rereduce(self, ddoc: DesignDoc, view_name: str, reductions: Sequence[Any]) -> Any:
        """Combine earlier ``reduce``/``rereduce`` results of the same view."""
        return await self._reduce(ddoc, view_name, reductions, rereduce=True)

    async def validate(
        self,
        ddoc: DesignFunctions,
        cases: Sequence[tuple[Any, Any]],
        user_ctx: Mapping[str, Any],
        sec_obj: Mapping[str, Any],
    ) -> list[Any]:
        """``validate_doc_update(newDoc, oldDoc, userCtx, secObj)`` for each pair: its verdict,
        1 when valid, else what the function threw (``{"$error": [name, message]}`` for a
        JavaScript ``Error``). ``views.validation`` turns verdicts into CouchDB's errors."""
        _require_javascript(ddoc)
        if not cases:
            return []
        return await self._run(
            self._validate_sync, ddoc, list(cases), dict(user_ctx), dict(sec_obj)
        )

    async def filter_docs(
        self, ddoc: DesignFunctions, name: str, docs: Sequence[Any], req: Mapping[str, Any]
    ) -> list[bool]:
        """Whether each document passes the filter function ``name`` given request ``req``.

        A throwing filter fails the whole call (500), as CouchDB's ``filter_docs`` does.
        """
        _require_javascript(ddoc)
        if not docs:
            return []
        return await self._run(self._filter_sync, ddoc, name, list(docs), dict(req))

    def finalize(self, ddoc: DesignDoc, view_name: str, reduction: Any) -> Any:
        """What a query answers for a reduction (only ``_approx_count_distinct`` differs)."""
        builtin = _reduce_view(ddoc, view_name).builtin_reduce
        return BUILTINS[builtin].finalize(reduction) if builtin is not None else reduction

    async def close(self) -> None:
        await asyncio.wrap_future(self._shutdown())

    async def __aenter__(self) -> QueryServer:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def close_blocking(self) -> None:
        """``close`` for callers without an event loop (tests, scripts)."""
        self._shutdown().result()

    # ---- engine thread ----

    def _run(
        self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs
    ) -> asyncio.Future[T]:
        if self._closed:
            raise RuntimeError("QueryServer is closed")
        return asyncio.wrap_future(self._executor.submit(function, *args, **kwargs))

    async def _reduce(
        self, ddoc: DesignDoc, view_name: str, items: Sequence[Any], *, rereduce: bool
    ) -> Any:
        """One step of CouchDB's reduce protocol (``rereduce`` is its own argument's name)."""
        builtin = _reduce_view(ddoc, view_name).builtin_reduce
        if builtin is None:
            return await self._run(self._reduce_sync, ddoc, view_name, items, rereduce)
        step = BUILTINS[builtin].rereduce if rereduce else BUILTINS[builtin].reduce
        return step(items)

    def _shutdown(self) -> Any:
        self._closed = True
        # Contexts must be freed on the thread that made them, so clear them there.
        done = self._executor.submit(self._contexts.clear)
        self._executor.shutdown(wait=False)
        return done

    def _context(self, ddoc: DesignDoc) -> DesignContext:
        return self._cached(ddoc.signature, lambda: DesignContext(ddoc, self.limits))  # type: ignore[no-any-return]

    def _functions_context(self, ddoc: DesignFunctions) -> FunctionsContext:
        return self._cached(ddoc.signature, lambda: FunctionsContext(ddoc, self.limits))  # type: ignore[no-any-return]

    def _cached(self, key: str, make: Callable[[], Any]) -> Any:
        context = self._contexts.get(key)
        if context is not None:
            self._contexts.move_to_end(key)
            return context
        context = make()
        self._contexts[key] = context
        while len(self._contexts) > self.max_contexts:
            self._contexts.popitem(last=False)
        return context

    def _drop(self, ddoc: DesignDoc | DesignFunctions) -> None:
        self._contexts.pop(ddoc.signature, None)

    def _guarded(self, ddoc: DesignDoc, call: Callable[[DesignContext], T]) -> T:
        """Run ``call`` on the ddoc's context; a process-kind failure discards the context."""
        try:
            return call(self._context(ddoc))
        except (QueryServerError, OutOfMemory):
            self._drop(ddoc)
            raise

    def _guarded_functions(self, ddoc: DesignFunctions, call: Callable[[FunctionsContext], T]) -> T:
        try:
            return call(self._functions_context(ddoc))
        except OutOfMemory:
            self._drop(ddoc)
            raise _out_of_memory() from None
        except QueryServerError as exc:
            if exc.error != "compilation_error":
                self._drop(ddoc)
            raise

    def _validate_sync(
        self,
        ddoc: DesignFunctions,
        cases: list[tuple[Any, Any]],
        user_ctx: dict[str, Any],
        sec_obj: dict[str, Any],
    ) -> list[Any]:
        user_json, sec_json = dumps(user_ctx), dumps(sec_obj)
        verdicts: list[Any] = []
        for start in range(0, len(cases), FUNCTION_BATCH):
            chunk = dumps(cases[start : start + FUNCTION_BATCH])
            verdicts.extend(
                self._guarded_functions(
                    ddoc, lambda context, c=chunk: context.validate_json(c, user_json, sec_json)
                )
            )
        return verdicts

    def _filter_sync(
        self, ddoc: DesignFunctions, name: str, docs: list[Any], req: dict[str, Any]
    ) -> list[bool]:
        req_json = dumps(req)
        passes: list[bool] = []
        for start in range(0, len(docs), FUNCTION_BATCH):
            chunk = dumps(docs[start : start + FUNCTION_BATCH])
            passes.extend(
                self._guarded_functions(
                    ddoc, lambda context, c=chunk: context.filter_json(name, c, req_json)
                )
            )
        return passes

    def _check_sync(self, ddoc: DesignDoc) -> None:
        self._guarded(ddoc, lambda context: context.check())

    def _map_sync(
        self, ddoc: DesignDoc, views: list[str], docs: list[Mapping[str, Any]]
    ) -> list[list[ViewRows]]:
        try:
            return self._guarded(ddoc, lambda context: context.map_json(dumps(docs), views))
        except OutOfMemory:
            if len(docs) == 1:
                raise _out_of_memory() from None
        # Some document of the batch exhausted the heap: find it, in a fresh context per try.
        return [self._map_alone(ddoc, views, doc) for doc in docs]

    def _map_alone(
        self, ddoc: DesignDoc, views: list[str], doc: Mapping[str, Any]
    ) -> list[ViewRows]:
        try:
            return self._guarded(ddoc, lambda context: context.map_json(dumps([doc]), views))[0]
        except OutOfMemory:
            raise _out_of_memory() from None

    def _reduce_sync(
        self, ddoc: DesignDoc, view: str, values: Sequence[Any], rereduce: bool
    ) -> Any:
        try:
            return self._guarded(
                ddoc, lambda context: context.reduce_json(view, dumps(list(values)), rereduce)
            )
        except OutOfMemory:
            raise _out_of_memory() from None


def _engine_thread() -> ThreadPoolExecutor:
    """A one-thread executor whose thread has ``ENGINE_STACK_BYTES`` of stack."""
    previous = threading.stack_size()
    try:
        threading.stack_size(ENGINE_STACK_BYTES)
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="brainlink-quickjs")
        executor.submit(lambda: None).result()  # start the thread while the size is set
    finally:
        threading.stack_size(previous)
    return executor


_SHARED: QueryServer | None = None


def shared_query_server() -> QueryServer:
    """The process's default query server, made on first use: stores that are given none
    (an embedded database in an app) share its one engine thread and its contexts."""
    global _SHARED
    if _SHARED is None or _SHARED._closed:
        _SHARED = QueryServer()
    return _SHARED


def _out_of_memory() -> QueryServerError:
    # CouchDB's couchjs dies or times out on a memory bomb (the HTTP answer is a 500
    # os_process_error either way); ours says which limit it hit.
    return QueryServerError("OS process exceeded its memory limit.")


def _require_javascript(ddoc: DesignDoc | DesignFunctions) -> None:
    if ddoc.language != JAVASCRIPT:
        raise QueryServerError(ddoc.language, error="unknown_query_language")


def _view(ddoc: DesignDoc, name: str) -> ViewSource:
    view = ddoc.views.get(name)
    if view is None:
        raise NotFound("missing_named_view")
    return view


def _reduce_view(ddoc: DesignDoc, name: str) -> ViewSource:
    _require_javascript(ddoc)
    view = _view(ddoc, name)
    if view.reduce is None:
        raise BadRequest("Reduce is invalid for map-only views.", error="query_parse_error")
    return view
