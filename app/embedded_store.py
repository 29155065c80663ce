"""Oxigraph embedded in this process: in memory (the default) or on disk (`oxigraph:PATH`).

In memory, a reload builds a complete new store and swaps it in. On disk, each load is written into a new
generation directory and published by atomically replacing the `CURRENT` pointer file, so a crash or a
kill during a load leaves the previous generation serving; updates are RocksDB transactions. On-disk
readers (the query workers, other app processes) use read-only handles, and the directory lock makes sure
no process reads while another writes.
"""

import contextlib
import fcntl
import gc
import json
import logging
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO

import pyoxigraph as ox

from app.bounded_results import AnswerTooLarge
from app.labels import labels_from_index
from app.loader import LoadReport
from app.lookups import answer_lookup, complete
from app.namespaces import PREFIXES
from app.rules import apply_rules
from app.settings import Settings
from app.store import (
    Payload,
    Store,
    StoreUnavailable,
    UpdateError,
    check_dump_target,
    check_payload,
    from_start,
    new_version,
    version_of,
)
from app.workers import PREFIXED, EngineGuard, QueryJob, QueryOutcome, QueryPool, execute, syntax_message

Write = Callable[[ox.Store], object]
log = logging.getLogger("stancegraph.store")


class EmbeddedStore(Store):
    """pyoxigraph in memory, loaded from data/ and ontology/.

    With `pooled=True` (the server) every query but a lookup runs in a forked worker that is killed at its
    deadline; a lookup, whose cost is bounded by its rows (see lookups), is answered in-process. Without
    (CLI, tests of pure functions) queries run in-process with no time limit.
    """

    lookups_on_the_loop = True  # in memory a lookup is CPU alone, microseconds: fine on the event loop

    def __init__(self, settings: Settings, pooled: bool = False):
        super().__init__(settings)
        self._store = ox.Store()
        self._version = new_version()
        self._engine_guard = EngineGuard()  # writes and forks of query workers one at a time, lookups side by side
        self._pool = (
            QueryPool(
                settings.query_workers, settings.max_waiting_queries, settings.query_memory_mb, self._engine_guard
            )
            if pooled
            else None
        )

    @property
    def data_version(self) -> str:
        return self._version

    def _install(self, built: ox.Store, fingerprint: str) -> None:
        with self._engine_guard:
            self._publish(built, version_of(fingerprint))

    def _publish(self, store: ox.Store, version: str) -> None:
        self._store = store
        self._version = version
        if self._pool:
            self._pool.refresh(lambda: store)

    def start(self) -> None:
        if self._pool:
            self._pool.reopen()

    def close(self) -> None:
        if self._pool:
            self._pool.close()

    # ------------------------------------------------------------------ reading

    def run(self, job: QueryJob, timeout: float | None = None) -> QueryOutcome:
        if self._pool:
            answer = self._lookup(job)
            return answer or self._pool.run(job, timeout if timeout is not None else self.settings.query_timeout)
        return execute(self._store, job)

    async def run_async(self, job: QueryJob, timeout: float | None = None) -> QueryOutcome:
        if self._pool:
            answer = self._lookup(job) if self.lookups_on_the_loop else None
            if answer:
                return answer
            return await self._pool.run_async(job, timeout if timeout is not None else self.settings.query_timeout)
        return await super().run_async(job, timeout)

    def _lookup(self, job: QueryJob) -> QueryOutcome | None:
        """A lookup answered here, or None: not a lookup, too many rows or bytes, or a write or a fork at work.

        Lookups share the engine guard and never wait for it: while a writer or a worker being
        forked holds it (a fork must not copy the engine in the middle of a query), the query goes to a worker.
        """
        with self._here() as here:
            if not here:
                return None
            try:
                outcome = answer_lookup(self._store, job)
            except AnswerTooLarge:
                return None
        return outcome if outcome is not None and complete(job, outcome) else None

    def labels(self, iris: set[str]) -> dict[str, str]:
        """Read at each IRI from the index unless a write or fork is at work (the labels of an actor page's 350
        IRIs at 1M triples: 6-30 ms instead of 20-77 ms by the query through a worker), else by the query.
        Callers are threads that build an answer (pages, views), never the event loop: on disk a seek may wait."""
        with self._here() as here:
            read = labels_from_index(self._store, iris) if here else None
        return super().labels(iris) if read is None else read

    def has_graph(self, graph: str) -> bool:
        """A seek in the engine's graph index (from a thread, as `labels`), or a query while a write is at work."""
        with self._here() as here:
            if here:
                return self._store.contains_named_graph(ox.NamedNode(graph))
        return super().has_graph(graph)

    @contextlib.contextmanager
    def _here(self) -> Iterator[bool]:
        """Whether this process may ask the engine itself now: no write or fork is at work."""
        with self._engine_guard.reading() as here:
            yield here

    def dump(self, output: BinaryIO, format: ox.RdfFormat, graph: str | None = None) -> None:
        dump_store(self._store, output, format, graph)  # this version, even if a reload swaps in another

    # ------------------------------------------------------------------ writing

    def _write(self, action: Write) -> None:
        """Serialize writers, keep workers from forking mid-write, and publish a new version afterwards."""
        with self._engine_guard:
            try:
                action(self._store)
            finally:
                self._publish(self._store, new_version())

    def _write_deriving(self, action: Write) -> None:
        """`action`, then the derived graph rebuilt from what it left, in the same turn of the engine guard:
        no reader sees a stance written without its direct triple, label or quote."""

        def then_derive(store: ox.Store) -> None:
            action(store)
            for problem in apply_rules(store, self.settings.rules_dir, self.corpus.name):
                log.warning("after a write, a rule derived nothing: %s", problem)

        self._write(then_derive)

    def _update(self, sparql: str, base_iri: str | None) -> None:
        self._write_deriving(lambda store: apply_update(store, sparql, base_iri))

    def _replace_graph(self, graph: str | None, data: Payload, media_type: str) -> None:
        fmt = check_payload(data, media_type, graph)
        self._write_deriving(lambda store: replace_graph(store, graph, data, fmt))

    def _add_to_graph(self, graph: str | None, data: Payload, media_type: str) -> None:
        fmt = check_payload(data, media_type, graph)
        self._write_deriving(lambda store: add_to_graph(store, graph, data, fmt))

    def _delete_graph(self, graph: str | None) -> bool:
        if graph is not None and not self.has_graph(graph):
            return False
        self._write_deriving(lambda store: delete_graph(store, graph))
        return True


# ---------------------------------------------------------------------- operations on an Oxigraph store


def apply_update(store: ox.Store, sparql: str, base_iri: str | None) -> None:
    """pyoxigraph applies an update in one transaction: all of it or nothing."""
    try:
        store.update(sparql, base_iri=base_iri)
    except SyntaxError as err:
        raise UpdateError(syntax_message(err)) from None
    except (OSError, ValueError, RuntimeError) as err:
        raise UpdateError(f"update failed: {err}") from None


def replace_graph(store: ox.Store, graph: str | None, payload: Payload, fmt: ox.RdfFormat) -> None:
    """The graph's content becomes a checked payload (see check_payload)."""
    target = ox.NamedNode(graph) if graph else ox.DefaultGraph()
    if graph is None:
        store.clear_graph(target)
    elif store.contains_named_graph(target):
        store.remove_graph(target)
    add_to_graph(store, graph, payload, fmt)


def add_to_graph(store: ox.Store, graph: str | None, payload: Payload, fmt: ox.RdfFormat) -> None:
    """A checked payload merged into the graph by the engine's loader (one transaction; new blank nodes)."""
    target = ox.NamedNode(graph) if graph else ox.DefaultGraph()
    store.load(from_start(payload), format=fmt, base_iri=graph, to_graph=target)
    if graph is not None:
        store.add_graph(target)  # an empty payload makes the graph too


def delete_graph(store: ox.Store, graph: str | None) -> None:
    if graph is None:
        store.clear_graph(ox.DefaultGraph())
    else:
        store.remove_graph(ox.NamedNode(graph))


def dump_store(store: ox.Store, output: BinaryIO, format: ox.RdfFormat, graph: str | None) -> None:
    check_dump_target(format, graph)
    if graph is not None and not store.contains_named_graph(ox.NamedNode(graph)):
        raise KeyError(graph)
    prefixes = PREFIXES if format in PREFIXED else None
    if graph is None:
        store.dump(output, format=format, prefixes=prefixes)
    else:
        store.dump(output, format=format, from_graph=ox.NamedNode(graph), prefixes=prefixes)


# ---------------------------------------------------------------------- on disk


@dataclass(frozen=True)
class Generation:
    """What `CURRENT` points at: the directory serving, its data version, the files it was built from."""

    directory: str
    version: str
    fingerprint: str


class ReadWriteLock:
    """Many readers or one writer; a waiting writer holds back new readers (writes are rare and short)."""

    def __init__(self):
        self._condition = threading.Condition()
        self._readers = 0
        self._writing = False

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        with self._condition:
            self._condition.wait_for(lambda: not self._writing)
            self._readers += 1
        try:
            yield
        finally:
            self.done_reading()

    def try_reading(self) -> bool:
        """Become a reader if no writer is at work or waiting (then call done_reading); never waits."""
        with self._condition:
            if self._writing:
                return False
            self._readers += 1
            return True

    def done_reading(self) -> None:
        with self._condition:
            self._readers -= 1
            self._condition.notify_all()

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        with self._condition:
            self._condition.wait_for(lambda: not self._writing)
            self._writing = True
            self._condition.wait_for(lambda: self._readers == 0)
        try:
            yield
        finally:
            with self._condition:
                self._writing = False
                self._condition.notify_all()


class OnDiskStore(EmbeddedStore):
    """Oxigraph on disk under `location`: persistent across restarts, readable by several processes at once.

    A process that may write (an admin token is set) holds the directory's lock exclusively; read-only
    processes share it. Between writes every handle is read-only; a write closes them, opens the store
    read-write, commits, and reopens them, so no reader ever runs next to a writer.
    """

    # A seek on disk may wait for the disk, which the event loop must never do: the endpoint's lookups go to the
    # workers (a thread hop answered 20% fewer); those asked from a thread (pages, labels) are read there.
    lookups_on_the_loop = False
    prefers_scans = True

    def __init__(self, settings: Settings, location: Path, pooled: bool = False):
        super().__init__(settings, pooled)
        self.location = location.resolve()
        self._lock_fd: int | None = None
        self._access = ReadWriteLock()
        self._generation: Generation | None = None

    # ------------------------------------------------------------------ opening

    def open(self) -> LoadReport | None:
        """Serve what is on disk if it was built from the current files, else build it from them."""
        self._lock(exclusive=self.settings.writable)
        current = self._read_current()
        if current is not None and current.fingerprint == self.corpus.fingerprint():
            self._remove_other_generations(current)
            self._serve(current)
            return None
        self._lock(exclusive=True, reason="data/ changed since it was built")
        report = self.reload()
        self._lock(exclusive=self.settings.writable)
        return report

    def _lock(self, exclusive: bool, reason: str = "it serves") -> None:
        """Take the directory lock without waiting: a clear error rather than a reader next to a writer."""
        if self._lock_fd is None:
            try:
                self.location.mkdir(parents=True, exist_ok=True)
                self._lock_fd = os.open(self.location / "LOCK.stancegraph", os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as err:  # a file there, no permission, a read-only file system: a message, not a trace
                why = "it is a file" if self.location.is_file() else err.strerror
                raise StoreUnavailable(f"cannot use {self.location} as the store's directory: {why}") from None
        try:
            fcntl.flock(self._lock_fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            role = "write to" if exclusive else "read"
            raise StoreUnavailable(
                f"cannot {role} {self.location} ({reason}): another stancegraph process "
                f"{'uses' if exclusive else 'writes to'} it; stop it first"
            ) from None

    def _read_current(self) -> Generation | None:
        try:
            current = Generation(**json.loads((self.location / "CURRENT").read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError) as err:
            raise StoreUnavailable(f"{self.location / 'CURRENT'} is not a stancegraph store pointer: {err}") from None
        return current if (self.location / current.directory).is_dir() else None

    def _write_current(self, generation: Generation) -> None:
        """Atomically point at `generation` (write a temporary file, fsync, rename over CURRENT)."""
        temporary = self.location / "CURRENT.tmp"
        with open(temporary, "w", encoding="utf-8") as out:
            json.dump(asdict(generation), out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, self.location / "CURRENT")
        directory = os.open(self.location, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def _remove_other_generations(self, keep: Generation) -> None:
        """Delete superseded generations and any left half-written by a crash or a kill."""
        for path in self.location.glob("gen-*"):
            if path.name != keep.directory:
                shutil.rmtree(path, ignore_errors=True)

    def _path(self, generation: Generation) -> str:
        return str(self.location / generation.directory)

    def _serve(self, generation: Generation) -> None:
        """Read-only handles on `generation` for this process and for every query worker."""
        path = self._path(generation)
        self._generation = generation
        self._store = ox.Store.read_only(path)
        self._version = generation.version
        if self._pool:
            self._pool.refresh(lambda: ox.Store.read_only(path))

    # ------------------------------------------------------------------ loading and writing

    def _install(self, built: ox.Store, fingerprint: str) -> None:
        """Write the load into a new generation, then switch CURRENT to it: a kill before the switch loses nothing."""
        generation = Generation(f"gen-{new_version()}", version_of(fingerprint), fingerprint)
        target = ox.Store(self._path(generation))
        target.bulk_extend(built.quads_for_pattern(None, None, None, None))
        for graph in built.named_graphs():
            target.add_graph(graph)  # empty named graphs exist too
        target.flush()
        target.optimize()  # RocksDB may leave the load in overlapping files: then joins take 1.5 times as long
        del target
        gc.collect()
        with self._engine_guard, self._access.writing():
            self._write_current(generation)
            self._serve(generation)
        self._remove_other_generations(generation)

    def _write(self, action: Write) -> None:
        """Close the read-only handles, commit `action` read-write, and reopen them on the new state."""
        if self._generation is None:
            raise UpdateError("the store is not open")
        with self._engine_guard, self._access.writing():
            self._store = ox.Store()  # drop this process's read-only handle
            writer = _open_writer(self._path(self._generation))
            try:
                action(writer)
                writer.flush()
            finally:
                del writer
                self._generation = Generation(self._generation.directory, new_version(), self._generation.fingerprint)
                self._write_current(self._generation)
                self._serve(self._generation)

    def run(self, job: QueryJob, timeout: float | None = None) -> QueryOutcome:
        with self._access.reading():
            return super().run(job, timeout)

    async def run_async(self, job: QueryJob, timeout: float | None = None) -> QueryOutcome:
        """Without a writer at work, straight to the workers; else wait for it in a thread, not on the loop."""
        if not self._access.try_reading():
            return await Store.run_async(self, job, timeout)
        try:
            return await super().run_async(job, timeout)
        finally:
            self._access.done_reading()

    def dump(self, output: BinaryIO, format: ox.RdfFormat, graph: str | None = None) -> None:
        with self._access.reading():
            super().dump(output, format, graph)

    def release(self) -> None:
        """Give the directory up for another process (the parent of `serve --workers N` after preparing it)."""
        self.close()
        self._store = ox.Store()
        gc.collect()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


def _open_writer(path: str) -> ox.Store:
    """The on-disk store opened read-write. Read-only handles may stay open beside it (RocksDB takes its lock
    for writers only), but a writer of an earlier write that a reference cycle keeps alive (an exception's
    frames) still holds the lock: then it is collected and the store opened again. A full collection before
    and after every write cost 200 ms of an update's 250 ms on disk."""
    try:
        return ox.Store(path)
    except OSError as err:
        if "lock" not in str(err):
            raise
        gc.collect()
        return ox.Store(path)
