"""The scheduler and the replication spec on their own: real embedded stores, no server.

Laws of the spec (a job's id ignores ``doc_ids`` order and credentials; shown endpoints never
carry a password) and of the backoff, then a crashing job retried until it completes, a one-shot
job that answers its error instead of retrying, and ``stop`` ending every task.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from interop.couch_replicator import wait_until

from brainlink_docs.errors import BadRequest, CouchError
from brainlink_docs.replication.jobs import (
    BACKOFF_BASE_S,
    BACKOFF_MAX_S,
    Job,
    JobState,
    Scheduler,
    backoff,
)
from brainlink_docs.replication.options import ReplicationOptions
from brainlink_docs.replication.spec import (
    CancelRequest,
    Endpoint,
    ReplicationSpec,
    parse,
    parse_spec,
    refuse_local,
)
from brainlink_docs.store.sqlite import SqliteStore

from .test_replicate import state, write_corpus

# A job that crashed once is retried after BACKOFF_BASE_S; allow for a loaded machine.
RETRY_DEADLINE_S = BACKOFF_BASE_S * 4 + 10

names = st.text(st.characters(categories=("L", "N")), min_size=1, max_size=8)


@given(st.lists(names, min_size=1, max_size=6, unique=True), st.randoms())
def test_job_id_ignores_the_order_of_doc_ids(doc_ids: list[str], rnd: object) -> None:
    shuffled = list(doc_ids)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    body = {"source": "http://h:1/a", "target": "http://h:1/b"}
    first = parse_spec({**body, "doc_ids": doc_ids}, refuse_local)
    second = parse_spec({**body, "doc_ids": shuffled}, refuse_local)
    assert first.job_id == second.job_id


@given(names, names)
def test_credentials_change_neither_the_job_id_nor_what_is_shown(user: str, password: str) -> None:
    bare = parse_spec({"source": "http://h:1/a", "target": "http://h:1/b"}, refuse_local)
    body = {
        "source": f"http://{user}:{password}@h:1/a",
        "target": {
            "url": "http://h:1/b",
            "auth": {"basic": {"username": user, "password": password}},
        },
    }
    authed = parse_spec(body, refuse_local)
    assert authed.job_id == bare.job_id
    assert (authed.source.shown, authed.target.shown) == ("http://h:1/a/", "http://h:1/b/")
    assert authed.target.headers["Authorization"].startswith("Basic ")


@given(st.booleans(), st.booleans())
def test_continuous_and_create_target_are_suffixes_of_the_job_id(
    continuous: bool, create: bool
) -> None:
    body = {"source": "http://h:1/a", "target": "http://h:1/b"}
    plain = parse_spec(body, refuse_local)
    spec = parse_spec({**body, "continuous": continuous, "create_target": create}, refuse_local)
    assert spec.job_id.startswith(plain.job_id)
    assert ("+continuous" in spec.job_id) is continuous
    assert ("+create_target" in spec.job_id) is create


@given(st.integers(min_value=1, max_value=60))
def test_backoff_grows_and_is_bounded(crashes: int) -> None:
    assert BACKOFF_BASE_S <= backoff(crashes) <= backoff(crashes + 1) <= BACKOFF_MAX_S


def test_cancel_names_a_job_by_id_or_by_its_body() -> None:
    body = {"source": "http://h:1/a", "target": "http://h:1/b", "continuous": True}
    by_body = parse({**body, "cancel": True}, refuse_local)
    spec = parse(body, refuse_local)
    assert isinstance(spec, ReplicationSpec)
    assert by_body == CancelRequest(spec.job_id)
    assert parse({"replication_id": "x+continuous", "cancel": True}, refuse_local) == (
        CancelRequest("x+continuous")
    )


def test_the_spec_hands_the_replicator_its_filter_as_query_string_values() -> None:
    base = {"source": "http://h:1/a", "target": "http://h:1/b"}
    assert parse_spec(base, refuse_local).options() == ReplicationOptions()
    chosen = parse_spec({**base, "filter": "_design/app/f", "query_params": {"k": 1}}, refuse_local)
    assert chosen.options() == ReplicationOptions(filter="app/f", query_params={"k": "1"})
    with pytest.raises(BadRequest):
        parse_spec({**base, "selector": {}, "doc_ids": ["a"]}, refuse_local)


@given(names, names)
def test_jobs_with_other_filters_are_other_jobs(first: str, second: str) -> None:
    base = {"source": "http://h:1/a", "target": "http://h:1/b"}
    one = parse_spec({**base, "filter": f"app/{first}"}, refuse_local)
    two = parse_spec({**base, "filter": f"app/{second}"}, refuse_local)
    unfiltered = parse_spec(base, refuse_local)
    assert (one.job_id == two.job_id) is (first == second)
    assert unfiltered.job_id not in (one.job_id, two.job_id)


async def until(predicate: Callable[[], bool], what: str) -> None:
    async def check() -> bool:
        return predicate()

    await wait_until(check, what, seconds=RETRY_DEADLINE_S)


def _file_spec(source: Path, target: Path, **options: object) -> ReplicationSpec:
    return ReplicationSpec(Endpoint(str(source)), Endpoint(str(target)), **options)  # type: ignore[arg-type]


async def _corpus_file(path: Path) -> dict[str, object]:
    store = await SqliteStore.open(path)
    try:
        await write_corpus(store)
        return await state(store)
    finally:
        await store.close()


async def _state_of(path: Path) -> dict[str, object]:
    store = await SqliteStore.open(path)
    try:
        return await state(store)
    finally:
        await store.close()


async def test_a_crashing_job_is_retried_until_its_target_exists(tmp_path: Path) -> None:
    expected = await _corpus_file(tmp_path / "source.sqlite")
    finished: list[Job] = []

    async def record(job: Job, state: JobState) -> None:
        assert job.state is not state  # told before the listings show it
        finished.append(job)

    scheduler = Scheduler(on_finished=record)
    job = scheduler.add(Job(_file_spec(tmp_path / "source.sqlite", tmp_path / "target.sqlite")))
    try:
        await until(lambda: job.error_count > 0, "a crash")
        assert job.state in (JobState.CRASHING, JobState.PENDING, JobState.RUNNING)
        assert job.error is not None and job.error.startswith("db_not_found: could not open")
        assert [job] == scheduler.running()
        await (await SqliteStore.open(tmp_path / "target.sqlite")).close()
        async with asyncio.timeout(RETRY_DEADLINE_S):
            await job.finished.wait()
    finally:
        await scheduler.stop()
    assert job.state is JobState.COMPLETED and finished == [job]
    kinds = [event.type for event in job.history]
    assert kinds[0] == "completed" and kinds[-1] == "added" and "crashed" in kinds
    assert job.progress.docs_written == job.result.stats["docs_written"] > 0  # type: ignore[union-attr]
    assert await _state_of(tmp_path / "target.sqlite") == expected
    assert scheduler.running() == []


async def test_a_one_shot_job_answers_its_error_instead_of_retrying(tmp_path: Path) -> None:
    await _corpus_file(tmp_path / "source.sqlite")
    scheduler = Scheduler()
    spec = _file_spec(tmp_path / "source.sqlite", tmp_path / "missing.sqlite")
    job = Job(spec, retry=False)
    try:
        with pytest.raises(CouchError) as caught:
            await scheduler.run_once(job)
    finally:
        await scheduler.stop()
    assert caught.value.error == "db_not_found"
    assert job.state is JobState.FAILED and job.error_count == 1
    assert spec.job_id not in scheduler.jobs  # its caller has the answer; nothing is kept


async def test_stop_ends_continuous_jobs_and_a_restart_resumes_from_checkpoints(
    tmp_path: Path,
) -> None:
    expected = await _corpus_file(tmp_path / "source.sqlite")
    spec = _file_spec(
        tmp_path / "source.sqlite", tmp_path / "target.sqlite", continuous=True, create_target=True
    )
    scheduler = Scheduler()
    job = scheduler.add(Job(spec))
    await until(lambda: job.progress.docs_written > 0, "a first batch")
    assert job.state is JobState.RUNNING and scheduler.add(Job(spec)) is job
    await scheduler.stop()
    assert job.task is not None and job.task.done() and scheduler.running() == []
    assert await _state_of(tmp_path / "target.sqlite") == expected

    source = await SqliteStore.open(tmp_path / "source.sqlite")
    try:
        await source.put({"_id": "written-while-stopped"})
    finally:
        await source.close()
    again = Scheduler()
    resumed = again.add(Job(spec))
    try:
        await until(lambda: resumed.progress.docs_written > 0, "the new document copied")
    finally:
        await again.stop()
    # Only the new document: the run started from the first run's checkpoints.
    assert resumed.progress.docs_written == resumed.progress.missing_revisions_found == 1
