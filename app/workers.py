"""Query worker processes, so that a query past its deadline is really stopped.

pyoxigraph cannot cancel a running query, so each query runs in a child process forked from the process
that holds the loaded in-memory store (fork is copy-on-write: children share its pages). At the deadline
the child is killed with SIGKILL and a fresh one is forked; other requests, served by other workers, go on.
The parent evaluates only lookups itself (see lookups), and only while sharing the pool's fork guard (an
EngineGuard), which every fork holds alone: no store lock can be held at fork time.
"""

import asyncio
import contextlib
import csv
import io
import os
import pickle
import re
import resource
import signal
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import ClassVar

import pyoxigraph as ox

from app.bounded_results import Enough, JsonSink, LineSink, RowSink, XmlSink
from app.formats import RDF_FORMATS, RESULT_FORMATS
from app.namespaces import PREFIXES
from app.sparql_text import calls_service, describes, names_dataset, select_star, star_in_order

PREFIXED = (ox.RdfFormat.TURTLE, ox.RdfFormat.TRIG)


@dataclass(frozen=True)
class QueryJob:
    """One query and how to answer it: dataset, the formats negotiated per result kind, the row limit."""

    query: str
    union_default_graph: bool = True
    default_graphs: tuple[str, ...] | None = None
    named_graphs: tuple[str, ...] | None = None
    result_format: str | None = "text/tab-separated-values"
    graph_format: str | None = "application/n-triples"
    max_rows: int | None = None
    base_iri: str | None = None
    max_bytes: int | None = None  # a larger answer is not wanted at all: AnswerTooLarge (see lookups)


@dataclass(frozen=True)
class QueryOutcome:
    """A serialized answer: kind (solutions, boolean, triples), media type, body, rows, and whether it was cut."""

    kind: str
    media_type: str
    body: bytes
    rows: int
    truncated: bool


class QueryError(Exception):
    """A query that cannot be answered; `status` is the HTTP status it maps to."""

    status = 400
    headers: ClassVar[dict[str, str]] = {}

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class QuerySyntaxError(QueryError):
    """The query does not parse; the message carries the line and column."""


class QueryTimeout(QueryError):
    status = 503


class NoWorkerFree(QueryTimeout):
    """Every query worker stayed busy until the time limit: the server's load, not the size of the query."""


class Saturated(QueryError):
    """Every worker is busy and the waiting line is full: come back shortly rather than pile up."""

    status = 503
    headers: ClassVar[dict[str, str]] = {"Retry-After": "1"}


class QueryEvaluationError(QueryError):
    """The query parsed but could not be evaluated."""


class ServiceError(QueryError):
    """A SERVICE call to another endpoint failed."""

    status = 502


class WorkerDied(QueryError):
    """The worker process ended while evaluating (out of memory, crash): not the client's fault."""

    status = 500


class QueryTooLarge(QueryError):
    """The query needed more memory than one query may use (STANCEGRAPH_QUERY_MEMORY_MB); nothing else suffered."""

    status = 503


class ResultNotAcceptable(QueryError):
    status = 406


def execute(store: ox.Store, job: QueryJob) -> QueryOutcome:
    """Evaluate and serialize with the engine's own serializers; raise QueryError subclasses on failure."""
    options: dict[str, object] = {
        "use_default_graph_as_union": job.union_default_graph and not names_dataset(job.query)
    }
    if job.default_graphs is not None or job.named_graphs is not None:
        # A dataset named by the request: exactly those graphs; the part not named is empty (SPARQL protocol).
        options = {
            "use_default_graph_as_union": False,
            "default_graph": [ox.NamedNode(g) for g in job.default_graphs or ()],
            "named_graphs": [ox.NamedNode(g) for g in job.named_graphs or ()],
        }
    if job.base_iri:
        options["base_iri"] = job.base_iri
    try:
        result = store.query(_star_in_order(job.query, options), **options)
        return serialize(result, job)
    except SyntaxError as err:
        raise QuerySyntaxError(syntax_message(err)) from None
    except OSError as err:
        raise ServiceError(f"a SERVICE request failed: {err}") from None
    except (ValueError, TypeError, RuntimeError) as err:
        raise QueryEvaluationError(f"query evaluation failed: {err}") from None


def _star_in_order(query: str, options: dict[str, object]) -> str:
    """The query, its `SELECT *` written out in the order its variables appear (see star_in_order).

    The engine names the variables in scope when it prepares the query on a store without data (a parse and
    nothing to read; here in the worker, under the query's deadline). Not with a SERVICE: preparing the query
    calls it, so it would be called twice."""
    star = select_star(query)
    if star is None or calls_service(query):
        return query
    try:
        in_scope = [variable.value for variable in ox.Store().query(query, **options).variables]
    except (SyntaxError, ValueError, TypeError, RuntimeError, OSError):
        return query  # evaluated as written, it says what is wrong
    return star_in_order(query, star, in_scope) or query


def syntax_position(err: SyntaxError) -> tuple[int, int, str]:
    """(line, column, what is wrong) from the engine's 'error at 1:25: ...' (0, 0 when it gives none)."""
    match = re.match(r"error at (\d+):(\d+): (.*)", str(err), re.DOTALL)
    if match:
        return int(match[1]), int(match[2]), match[3]
    return err.lineno or 0, err.offset or 0, str(err.msg)


def syntax_message(err: SyntaxError) -> str:
    """'SPARQL syntax error at line 1, column 25: expected ...'."""
    line, column, detail = syntax_position(err)
    where = f" at line {line}, column {column}" if line else ""
    return f"SPARQL syntax error{where}: {detail}"


def serialize(result, job: QueryJob) -> QueryOutcome:
    """A query result (from the engine or parsed from a remote store's answer) in the job's formats.

    The engine writes TSV, JSON, XML and N-Triples straight into a sink that stops it one row past the row
    limit (or, raising AnswerTooLarge, past the job's `max_bytes`; see bounded_results), so no term passes
    through Python and a huge result is never evaluated beyond what is sent. CSV is converted from TSV. The
    other RDF formats (Turtle with our prefixes, RDF/XML…) are written by the engine from the triples as they
    come, counted and cut at the row limit on the way (twice as fast as parsing N-Triples back: a DESCRIBE
    of 172 triples in Turtle 0.09 ms instead of 0.2 ms). A DESCRIBE's triples are written once each: over the
    union of the graphs the engine writes a triple once per graph that holds it, which counted as two rows.
    """
    if isinstance(result, ox.QueryBoolean):
        native = native_format(RESULT_FORMATS, job.result_format, "boolean")
        return QueryOutcome("boolean", job.result_format, result.serialize(format=native), 1, False)
    if isinstance(result, ox.QuerySolutions):
        native = native_format(RESULT_FORMATS, job.result_format, "solutions")
        if native in SOLUTION_SINKS:
            body, rows, truncated = _bounded(result, native, SOLUTION_SINKS[native](job.max_rows, job.max_bytes))
            return QueryOutcome("solutions", job.result_format, body, rows, truncated)
        sink = LineSink(job.max_rows, header=1, max_bytes=job.max_bytes)
        tsv, rows, truncated = _bounded(result, ox.QueryResultsFormat.TSV, sink)
        return QueryOutcome("solutions", job.result_format, reserialize_tsv(tsv, native), rows, truncated)
    native = native_format(RDF_FORMATS, job.graph_format, "triples")  # the engine's QueryTriples or a parsed graph
    once = describes(job.query)  # the engine's DESCRIBE repeats a triple once per graph that holds it
    if native == ox.RdfFormat.N_TRIPLES:
        body, rows, truncated = _bounded(result, native, LineSink(job.max_rows, max_bytes=job.max_bytes))
        if once:
            body, rows = _distinct_lines(body)
        return QueryOutcome("triples", job.graph_format, body, rows, truncated)
    kept = _Kept(_distinct(result) if once else result, job.max_rows)
    prefixes = PREFIXES if native in PREFIXED else None
    body, _, _ = _bounded(kept, native, LineSink(None, max_bytes=job.max_bytes), prefixes)
    return QueryOutcome("triples", job.graph_format, body, kept.rows, kept.more)


def _distinct(triples: Iterable[ox.Triple]) -> Iterator[ox.Triple]:
    seen: set[ox.Triple] = set()
    return (triple for triple in triples if not (triple in seen or seen.add(triple)))


def _distinct_lines(ntriples: bytes) -> tuple[bytes, int]:
    """N-Triples with each line once (the engine writes a triple in one canonical form), and how many lines."""
    lines = dict.fromkeys(ntriples.splitlines(keepends=True))
    return b"".join(lines), len(lines)


class _Kept:
    """The first `budget` triples of a result (all if None), counted; `more` once the engine had another."""

    def __init__(self, triples, budget: int | None):
        self._triples = iter(triples)
        self._budget = budget
        self.rows = 0
        self.more = False

    def __iter__(self) -> "_Kept":
        return self

    def __next__(self):
        triple = next(self._triples)
        if self._budget is not None and self.rows >= self._budget:
            self.more = True
            raise StopIteration
        self.rows += 1
        return triple


# The results formats the engine writes straight for the client (CSV is not: see IRI_WITH_COMMA).
SOLUTION_SINKS: dict[ox.QueryResultsFormat, Callable[[int | None, int | None], RowSink]] = {
    ox.QueryResultsFormat.TSV: lambda budget, max_bytes: LineSink(budget, header=1, max_bytes=max_bytes),
    ox.QueryResultsFormat.JSON: JsonSink,
    ox.QueryResultsFormat.XML: XmlSink,
}


def _bounded(result, format, sink: RowSink, prefixes: dict[str, str] | None = None) -> tuple[bytes, int, bool]:
    """(the document with at most the sink's budget of rows, how many, whether more existed)."""
    try:
        if isinstance(result, ox.QuerySolutions | ox.QueryTriples):
            result.serialize(sink, format=format)
        else:
            ox.serialize(result, sink, format=format, prefixes=prefixes)
    except Enough:
        pass
    return sink.document()


def native_format(table, media_type: str | None, kind: str):
    """The engine's format for the negotiated media type, or ResultNotAcceptable if it cannot carry `kind`."""
    if media_type is None:
        raise ResultNotAcceptable(f"nothing the request accepts can represent {kind}; acceptable: {', '.join(table)}")
    if media_type not in table:
        raise ResultNotAcceptable(f"{media_type} cannot represent {kind}; acceptable: {', '.join(table)}")
    return table[media_type][1]


def reserialize_tsv(tsv: bytes, native: ox.QueryResultsFormat) -> bytes:
    """SPARQL TSV results written again by the engine in another results format (or TSV, as the engine writes it)."""
    if native == ox.QueryResultsFormat.CSV and IRI_WITH_COMMA.search(tsv):
        return _csv(ox.parse_query_results(tsv, format=ox.QueryResultsFormat.TSV))
    return ox.parse_query_results(tsv, format=ox.QueryResultsFormat.TSV).serialize(format=native)


# Oxigraph's CSV writer leaves IRIs unquoted, so an IRI with a comma (DBpedia's `Washington,_D.C.`) would shift
# its row; such answers (or literals that look like one, which only costs time) are written by Python's csv.
IRI_WITH_COMMA = re.compile(rb"<[^>\t\n]*,[^>\t\n]*>")


def _csv(solutions: ox.QuerySolutions) -> bytes:
    """SPARQL 1.1 CSV: lexical forms, `_:` before blank node labels, RFC 4180 quoting, CRLF line ends."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(variable.value for variable in solutions.variables)
    for solution in solutions:
        writer.writerow(_csv_value(term) for term in solution)
    return out.getvalue().encode("utf-8")


def _csv_value(term: ox.NamedNode | ox.BlankNode | ox.Literal | None) -> str:
    if term is None:
        return ""
    return f"_:{term.value}" if isinstance(term, ox.BlankNode) else term.value


HEADER = struct.Struct("!Q")  # each message between the server and a worker: its length, then a pickle
FIRST_READ = 1 << 16  # most messages fit; a read of CHUNK bytes costs allocating them (12 us each time)
CHUNK = 1 << 20


def _frame(message: object) -> bytes:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(payload)) + payload


class _Message:
    """One length-prefixed message put together from the chunks a socket gives (one message per job)."""

    def __init__(self):
        self._buffer = bytearray()

    def feed(self, chunk: bytes) -> bool:
        """Add a chunk; True once the whole message is there. An empty chunk means the other end is gone."""
        if not chunk:
            raise EOFError("the other end closed the connection")
        self._buffer += chunk
        size = len(self._buffer)
        return size >= HEADER.size and size >= HEADER.size + HEADER.unpack_from(self._buffer)[0]

    def wanted(self) -> int:
        """How many bytes to ask the socket for next: what the message still lacks, once its length is known."""
        if len(self._buffer) < HEADER.size:
            return FIRST_READ
        return min(HEADER.size + HEADER.unpack_from(self._buffer)[0] - len(self._buffer), CHUNK)

    def value(self) -> object:
        return pickle.loads(memoryview(self._buffer)[HEADER.size :])


def _receive(sock: socket.socket, deadline: float | None) -> object:
    """One message, waiting at most until `deadline` (time.monotonic; TimeoutError past it), or forever on a
    blocking socket (a worker's)."""
    message = _Message()
    while True:
        if deadline is not None:
            sock.settimeout(max(0.0, deadline - time.monotonic()))
        if message.feed(sock.recv(message.wanted())):
            return message.value()


async def _exchange_async(sock: socket.socket, job: QueryJob) -> object:
    """Send a job and wait for its answer on the event loop (one reader callback, no thread)."""
    loop = asyncio.get_running_loop()
    sock.setblocking(False)
    frame = _frame(job)
    sent = sock.send(frame)  # a job nearly always fits the socket's buffer at once
    if sent < len(frame):
        await loop.sock_sendall(sock, frame[sent:])
    message, answered = _Message(), loop.create_future()

    def readable() -> None:
        try:
            if message.feed(sock.recv(message.wanted())) and not answered.done():
                answered.set_result(None)
        except BlockingIOError:
            pass
        except (EOFError, OSError) as err:
            if not answered.done():
                answered.set_exception(err)

    loop.add_reader(sock.fileno(), readable)
    try:
        await answered
    finally:
        loop.remove_reader(sock.fileno())
    return message.value()


WORKER_STACK = 16 << 20  # the thread that evaluates: at least the 8 MB a main thread has here (deep queries recurse)


def _serve_from_new_thread(store: ox.Store, sock: socket.socket) -> None:
    """Body of a worker process: its jobs answered by a thread of its own; never returns.

    The engine draws RAND(), UUID(), STRUUID() and new blank nodes from a random generator per thread, seeded
    once, and fork copies the forking thread's: the workers forked together (at a start, after each write) drew
    the same numbers as each other and as those forked from that thread before (two workers answered
    `ORDER BY RAND() LIMIT 5` with the same sample, STRUUID() with the same identifier). A thread started after
    the fork seeds its own from the system."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    threading.stack_size(WORKER_STACK)
    serving = threading.Thread(target=_worker_loop, args=(store, sock), name="query-worker", daemon=True)
    serving.start()
    serving.join()


def _worker_loop(store: ox.Store, sock: socket.socket) -> None:
    """Answer jobs until told to stop or the server is gone; ends the process, never returns."""
    while True:
        try:
            job = _receive(sock, None)
        except (EOFError, OSError):
            os._exit(0)
        if job is None:
            os._exit(0)
        try:
            reply: object = execute(store, job)
        except QueryError as err:
            reply = err
        except MemoryError:
            reply = QueryTooLarge("query stopped: it needed more memory than a query may use")
        except Exception as err:
            reply = WorkerDied(f"query evaluation failed unexpectedly ({type(err).__name__})")
        try:
            sock.sendall(_frame(reply))
        except OSError:
            os._exit(1)


class Admission:
    """At most `running + waiting` queries admitted at once; beyond that one is refused at once (Saturated)."""

    def __init__(self, running: int, waiting: int):
        self.running = max(1, running)
        self.waiting = max(0, waiting)
        self._admitted = 0
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def admit(self) -> Iterator[None]:
        with self._lock:
            if self._admitted >= self.running + self.waiting:
                raise Saturated(f"all {self.running} query slots are busy and {self.waiting} queries wait: retry")
            self._admitted += 1
        try:
            yield
        finally:
            with self._lock:
                self._admitted -= 1


def _cap_memory(megabytes: int) -> None:
    """Let this worker grow by at most `megabytes` beyond what it shares with the server at the fork.

    Past the cap an allocation fails: the engine aborts (the pool reports QueryTooLarge) or Python raises
    MemoryError; either way only this query stops.
    """
    with open("/proc/self/statm") as statm:
        size = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    cap = size + megabytes * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


@dataclass
class Worker:
    pid: int
    sock: socket.socket  # the server's end; non-blocking except while a thread waits on it with a timeout
    generation: int


NO_WORKER = "no query worker became free before the time limit"


class _Turn:
    """A place in the line for the next free worker, filled by whoever frees one (a thread or the event loop).

    A thread waits on an Event; a coroutine on a future of its own loop, woken thread-safely.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None):
        self.worker: Worker | None = None
        self._loop = loop
        self._event = threading.Event()
        self._future = loop.create_future() if loop else None

    def fill(self, worker: Worker) -> bool:
        """Give `worker` to this turn (pool lock held); False if its event loop is gone."""
        self.worker = worker
        if self._loop is None:
            self._event.set()
            return True
        try:
            self._loop.call_soon_threadsafe(self._wake)
        except RuntimeError:  # the loop closed while this turn waited: nobody will take the worker
            self.worker = None
            return False
        return True

    def _wake(self) -> None:
        if self._future is not None and not self._future.done():
            self._future.set_result(None)

    def wait(self, seconds: float) -> bool:
        return self._event.wait(max(0.0, seconds))

    async def wait_async(self, seconds: float) -> None:
        async with asyncio.timeout(max(0.0, seconds)):
            await self._future


StoreOpener = Callable[[], ox.Store]


class EngineGuard:
    """Who may be inside the engine of this process: writers and forks one at a time (re-entrant, as a write
    forks new workers), or any number of in-process readers (lookups), never both, since a fork must not copy
    the engine in the middle of a query. Readers never wait: while a writer holds it or waits for it, `reading`
    says no and the query goes to a worker."""

    def __init__(self):
        self._exclusive = threading.RLock()
        self._state = threading.Condition()
        self._readers = 0
        self._writers = 0  # exclusive holds and waits, nested ones included

    def __enter__(self) -> "EngineGuard":
        with self._state:
            self._writers += 1  # from now on no new reader comes in
        self._exclusive.acquire()
        with self._state:
            self._state.wait_for(lambda: not self._readers)
        return self

    def __exit__(self, *exc) -> None:
        self._exclusive.release()
        with self._state:
            self._writers -= 1

    @contextlib.contextmanager
    def reading(self) -> Iterator[bool]:
        """Whether this thread may read the engine here now (without waiting); the guard is shared meanwhile."""
        with self._state:
            here = not self._writers
            self._readers += here
        try:
            yield here
        finally:
            if here:
                with self._state:
                    self._readers -= 1
                    self._state.notify_all()


class QueryPool:
    """A fixed number of forked workers over one store snapshot; replaced whenever the data changes.

    Each worker gets its store from an opener called in the child right after the fork: the in-memory
    store inherited from the parent, or its own read-only handle on an on-disk store. Queries come from
    threads (`run`) and from the event loop (`run_async`, no thread hop); both wait in one line for a free
    worker. Every fork holds `fork_guard` (an EngineGuard of the store's: it writes under it too).
    """

    def __init__(
        self,
        size: int,
        max_waiting: int = 64,
        memory_mb: int | None = None,
        fork_guard: contextlib.AbstractContextManager | None = None,
    ):
        self.size = max(1, size)
        self.memory_mb = memory_mb
        self._admission = Admission(self.size, max_waiting)
        self._idle: deque[Worker] = deque()
        self._line: deque[_Turn] = deque()
        self._retired: list[int] = []  # pids of stopped or killed workers, reaped without waiting
        self._lock = threading.Lock()
        self._fork_guard = fork_guard or threading.RLock()
        self._open: StoreOpener | None = None
        self._generation = 0
        self._closed = False

    def refresh(self, opener: StoreOpener) -> None:
        """Serve the store `opener` gives from now on: new workers are forked, old ones retire after their query."""
        with self._fork_guard, self._lock:
            self._open = opener
            self._generation += 1
            stale = list(self._idle)
            self._idle.clear()
            for _ in range(self.size):
                self._offer(self._fork())
            for worker in stale:
                self._stop(worker)

    def run(self, job: QueryJob, timeout: float) -> QueryOutcome:
        """Blocking: run the job on a free worker; kill it at the deadline (QueryTimeout).

        At most `size` queries run and `max_waiting` wait; beyond that the job is refused at once (Saturated).
        """
        with self._admission.admit():
            deadline = time.monotonic() + timeout
            worker = self._acquire(deadline)
            with self._lent(worker, timeout):
                worker.sock.settimeout(max(0.0, deadline - time.monotonic()))
                worker.sock.sendall(_frame(job))
                reply = _receive(worker.sock, deadline)
        return _answer(reply)

    async def run_async(self, job: QueryJob, timeout: float) -> QueryOutcome:
        """`run` for the event loop: the job and its answer go over the worker's socket without a thread."""
        with self._admission.admit():
            deadline = time.monotonic() + timeout
            worker = await self._acquire_async(deadline)
            with self._lent(worker, timeout):
                async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                    reply = await _exchange_async(worker.sock, job)
        return _answer(reply)

    def reopen(self) -> None:
        """Fork workers again after close() (an app whose lifespan starts again, e.g. in tests)."""
        with self._lock:
            if not self._closed or self._open is None:
                return
            self._closed = False
        self.refresh(self._open)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            while self._idle:
                self._stop(self._idle.popleft())
            retired, self._retired = self._retired, []
        for pid in retired:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)

    # ------------------------------------------------------------------ the line for free workers

    def _acquire(self, deadline: float) -> Worker:
        turn = self._take_or_queue(None)
        if isinstance(turn, Worker):
            return turn
        if not turn.wait(deadline - time.monotonic()):
            self._leave(turn)
            raise NoWorkerFree(NO_WORKER)
        return turn.worker  # type: ignore[return-value]

    async def _acquire_async(self, deadline: float) -> Worker:
        turn = self._take_or_queue(asyncio.get_running_loop())
        if isinstance(turn, Worker):
            return turn
        try:
            await turn.wait_async(deadline - time.monotonic())
        except TimeoutError:
            self._leave(turn)
            raise NoWorkerFree(NO_WORKER) from None
        except BaseException:  # cancelled
            self._leave(turn)
            raise
        return turn.worker  # type: ignore[return-value]

    def _take_or_queue(self, loop: asyncio.AbstractEventLoop | None) -> Worker | _Turn:
        with self._lock:
            if len(self._idle) == self.size:  # nothing running: the warmest worker (see _offer)
                return self._idle.pop()
            if self._idle:
                return self._idle.popleft()
            turn = _Turn(loop)
            self._line.append(turn)
            return turn

    def _leave(self, turn: _Turn) -> None:
        """Step out of the line; a worker that reached the turn meanwhile is passed on."""
        with self._lock:
            if turn.worker is None:
                self._line.remove(turn)
                return
        self._release(turn.worker)

    def _offer(self, worker: Worker) -> None:
        """A free worker goes to the first turn still waiting, else to the idle ones (pool lock held).

        When nothing runs, the worker freed last is lent again: the engine writes reference counts into the
        store's pages as it reads them, so a forked worker's first queries copy what they touch (275 MB and
        +0.6 s for the preconditions view at 1M triples), and a lone analyst's queries stay on the warm one.
        Under concurrent load the one idle longest is lent, in turn (always reusing the last one measured 818
        joins/s against 1,114-1,187 in turn, 4 clients on 2 cores).
        """
        while self._line:
            if self._line.popleft().fill(worker):
                return
        self._idle.append(worker)

    # ------------------------------------------------------------------ lending, killing, forking

    @contextlib.contextmanager
    def _lent(self, worker: Worker, timeout: float) -> Iterator[None]:
        """Around one exchange with `worker`: free it afterwards, or kill it and say why the query failed."""
        try:
            yield
        except TimeoutError:
            self._kill(worker)
            raise QueryTimeout(f"query stopped after the {timeout:g} s time limit") from None
        except (EOFError, OSError):
            status = self._kill(worker, wait=True)
            if self.memory_mb and os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGABRT:
                raise QueryTooLarge(
                    f"query stopped: it needed more than the {self.memory_mb} MB a query may use"
                ) from None
            raise WorkerDied("the query worker died while evaluating the query") from None
        except BaseException:
            self._kill(worker)
            raise
        self._release(worker)

    def _release(self, worker: Worker) -> None:
        with self._lock:
            if worker.generation == self._generation and not self._closed:
                self._offer(worker)
                return
            self._stop(worker)

    def _kill(self, worker: Worker, wait: bool = False) -> int:
        """SIGKILL a worker that overran or broke; a thread forks its replacement. How it ended if `wait`."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker.pid, signal.SIGKILL)
        worker.sock.close()
        status = 0
        if wait:
            with contextlib.suppress(ChildProcessError):
                status = os.waitpid(worker.pid, 0)[1]
        else:
            with self._lock:
                self._retired.append(worker.pid)
        # forking copies the page tables of the whole store (tens of ms at a million triples): not on the caller
        threading.Thread(target=self._replace, args=(worker,), name="query-worker-fork", daemon=True).start()
        return status

    def _replace(self, worker: Worker) -> None:
        with self._fork_guard, self._lock:
            if worker.generation == self._generation and not self._closed:
                self._offer(self._fork())

    def _stop(self, worker: Worker) -> None:
        """Tell a free worker to exit (pool lock held); it is reaped later."""
        with contextlib.suppress(OSError):
            worker.sock.setblocking(True)
            worker.sock.sendall(_frame(None))
        worker.sock.close()
        self._retired.append(worker.pid)

    def _reap_retired(self) -> None:
        """Collect the exit status of retired workers that have ended (pool lock held), without waiting."""
        still = []
        for pid in self._retired:
            try:
                if os.waitpid(pid, os.WNOHANG)[0] == 0:
                    still.append(pid)
            except ChildProcessError:
                pass
        self._retired = still

    def _fork(self) -> Worker:
        """Fork one worker from the current snapshot (pool lock held)."""
        self._reap_retired()
        parent_end, child_end = socket.socketpair()
        pid = os.fork()
        if pid == 0:  # the child: serve jobs forever, never return into the server's code
            parent_end.close()
            try:
                store = self._open()
                if self.memory_mb:
                    _cap_memory(self.memory_mb)
                _serve_from_new_thread(store, child_end)
            finally:  # never return into the server's code, whatever escaped (the parent sees the socket close)
                os._exit(1)
        child_end.close()
        parent_end.setblocking(False)
        return Worker(pid, parent_end, self._generation)


def _answer(reply: object) -> QueryOutcome:
    if isinstance(reply, QueryError):
        raise reply
    return reply  # type: ignore[return-value]
