"""The killable query workers: queries from threads (views, named queries) and from the event loop (the SPARQL
protocol) wait in one line for the same workers, and a query past its deadline is stopped wherever it came from."""

import asyncio
import os
import threading
import time
from pathlib import Path

import pyoxigraph as ox
import pytest

from app.settings import Settings
from app.store import open_store
from app.workers import EngineGuard, QueryJob, QueryTimeout
from tests.live import stancegraph_process

CROSS_JOIN = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"
ASK = "ASK { ?s ?p ?o }"


@pytest.fixture
def one_worker():
    store = open_store(Settings(query_workers=1, validate_on_load=False), pooled=True)
    yield store
    store.close()


def test_a_thread_and_the_event_loop_share_one_worker_in_turn(one_worker):
    stopped: list[Exception] = []

    def runaway() -> None:
        try:
            one_worker.run(QueryJob(CROSS_JOIN), timeout=1.5)
        except QueryTimeout as err:
            stopped.append(err)

    async def from_the_loop() -> list[object]:
        await asyncio.sleep(0.3)  # the thread holds the only worker by now
        impatient = one_worker.run_async(QueryJob(ASK), timeout=0.3)
        patient = one_worker.run_async(QueryJob(ASK), timeout=10)
        return await asyncio.gather(impatient, patient, return_exceptions=True)

    thread = threading.Thread(target=runaway)
    thread.start()
    impatient, patient = asyncio.run(from_the_loop())
    thread.join()
    assert stopped and "stopped after the 1.5 s time limit" in stopped[0].message
    assert isinstance(impatient, QueryTimeout) and "no query worker became free" in impatient.message
    assert patient.body.strip().endswith(b"true")  # served by the replacement of the killed worker
    assert one_worker.run(QueryJob(ASK), timeout=5).body.strip().endswith(b"true")


def test_a_query_from_the_event_loop_is_stopped_at_its_deadline_and_the_worker_replaced(one_worker):
    async def queries() -> tuple[object, object]:
        runaway = await asyncio.gather(one_worker.run_async(QueryJob(CROSS_JOIN), timeout=1), return_exceptions=True)
        return runaway[0], await one_worker.run_async(QueryJob(ASK), timeout=10)

    runaway, after = asyncio.run(queries())
    assert isinstance(runaway, QueryTimeout) and "stopped after the 1 s time limit" in runaway.message
    assert after.body.strip().endswith(b"true")


def test_a_cancelled_query_gives_its_worker_back_for_the_next(one_worker):
    async def queries() -> object:
        runaway = asyncio.ensure_future(one_worker.run_async(QueryJob(CROSS_JOIN), timeout=60))
        await asyncio.sleep(0.3)
        runaway.cancel()  # e.g. the server shutting down under a running request
        await asyncio.gather(runaway, return_exceptions=True)
        return await one_worker.run_async(QueryJob(ASK), timeout=10)

    assert asyncio.run(queries()).body.strip().endswith(b"true")


def test_every_worker_draws_its_own_random_numbers(one_worker):
    """The engine's random generator is per thread and fork copies it: the workers forked from one thread (at
    a start, after every write) drew the very numbers the ones before them had and each other's: RAND(), UUID(),
    STRUUID() and new blank nodes repeated across workers and writes."""
    draw = QueryJob("SELECT (STRUUID() AS ?id) {}")
    list(ox.Store().query(draw.query))  # this thread's generator is seeded; the workers are forked from here
    draws = set()
    for _ in range(2):
        one_worker.close()
        one_worker.start()  # forked anew from this thread, as after a write
        draws.add(one_worker.run(draw, timeout=5).body)
    assert len(draws) == 2


def test_a_lightly_loaded_pool_keeps_lending_the_worker_it_used_last():
    """A forked worker's first queries copy the store pages they touch; reusing the warm one avoids that."""
    store = open_store(Settings(query_workers=3, validate_on_load=False), pooled=True)
    try:
        served = set()
        for _ in range(5):
            assert store.run(QueryJob(ASK), timeout=5).body.strip().endswith(b"true")
            served.add(store._pool._idle[-1].pid)  # a worker goes back on top of the idle ones when it is done
        assert len(served) == 1 and len(store._pool._idle) == 3
    finally:
        store.close()


def _children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _query_workers_of_app_processes(server: int) -> list[int]:
    """How many query workers each app process of `serve --workers N` (forked from the server) has."""
    return sorted(len(_children(pid)) for pid in _children(server))


@pytest.mark.parametrize("explicit", [None, 3])
def test_app_processes_share_the_machines_query_workers_unless_told_otherwise(explicit):
    """`serve --workers 2` on this machine: two query workers per core in all, not per app process (which
    oversubscribes the cores); STANCEGRAPH_QUERY_WORKERS set explicitly is what each process gets."""
    expected = [explicit or max(1, len(os.sched_getaffinity(0)))] * 2
    settings = {"validate_on_load": False, **({"query_workers": explicit} if explicit else {})}
    with stancegraph_process("--workers", "2", **settings) as (_, server):
        deadline = time.monotonic() + 60
        while (workers := _query_workers_of_app_processes(server.pid)) != expected and time.monotonic() < deadline:
            time.sleep(0.2)  # each app process forks its workers once it has loaded data/
    assert workers == expected


def test_lookups_share_the_engine_guard_and_a_write_or_fork_has_it_alone():
    """In-process lookups from several threads (linked-data pages run in a thread pool) read side by side; a
    writer waits for the readers in the engine and keeps new ones out (they go to a worker) until it is done."""
    guard = EngineGuard()
    inside, release = threading.Barrier(2), threading.Event()

    def reader() -> bool:
        with guard.reading() as here:
            inside.wait(timeout=5)  # both readers are in at once: neither waited for the other
            release.wait(timeout=5)
        return here

    readers = [threading.Thread(target=lambda: seen.append(reader())) for _ in range(2)]
    seen: list[bool] = []
    for thread in readers:
        thread.start()
    time.sleep(0.1)
    entered, written = threading.Event(), threading.Event()

    def write() -> None:
        with guard:
            entered.set()
            written.wait(timeout=5)

    writer = threading.Thread(target=write)
    writer.start()
    time.sleep(0.1)
    assert not entered.is_set(), "the writer waits for the readers in the engine"
    with guard.reading() as here:
        assert not here, "no new reader while a writer waits"
    release.set()
    for thread in readers:
        thread.join(timeout=5)
    assert entered.wait(timeout=5) and seen == [True, True]
    with guard.reading() as here:
        assert not here, "nor while it writes"
    written.set()
    writer.join(timeout=5)
    with guard, guard:  # re-entrant: a write forks new workers under it
        pass
    with guard.reading() as here:
        assert here, "readers are back once the writer is done"


def test_a_job_and_an_answer_larger_than_one_read_cross_whole(one_worker):
    """A worker reads the first 64 KB of a message, then exactly what its length says is missing: a 2 MB query
    and its 1.9 MB answer arrive whole, from a thread and from the event loop."""
    values = " ".join(str(i) for i in range(300_000))
    job = QueryJob(f"SELECT ?i WHERE {{ VALUES ?i {{ {values} }} }}", result_format="text/tab-separated-values")
    for outcome in (one_worker.run(job), asyncio.run(one_worker.run_async(job))):
        lines = outcome.body.decode().splitlines()
        assert outcome.rows == 300_000 and len(lines) == 300_001
        assert lines[1] == "0" and lines[-1] == "299999" and len(outcome.body) > 1_900_000
