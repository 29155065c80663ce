"""A remote SPARQL 1.1 store (`sparql:QUERY_URL[,UPDATE_URL][,STORE_URL]`): Oxigraph server, Fuseki, Virtuoso.

Queries go over the SPARQL Protocol and their answers are re-serialized by the engine's native code, so
every route behaves as with the embedded store. The remote store must use the union of its graphs as the
default graph (`oxigraph serve --union-default-graph`, Fuseki's `unionDefaultGraph`, Virtuoso's default),
checked when opening. Our default graph lives there in the named graph `DEFAULT_GRAPH`, the data version
and the fingerprint of the files it was loaded from in `META_GRAPH`, so several app instances share one store.
"""

import contextlib
import io
import json
import logging
import re
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

import httpx
import pyoxigraph as ox

from app.namespaces import DERIVED_GRAPH, GRAPH, PREFIXES, SG
from app.remote_http import Malformed, Reader, Reply, StoreConnections, TooSlow, Unreachable
from app.rules import line_differences, rule_files
from app.settings import Settings
from app.sparql_text import in_order_of_appearance, query_dataset, query_form, reads_named_graphs, select_star
from app.store import (
    SPOOL_IN_MEMORY,
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
from app.workers import (
    PREFIXED,
    Admission,
    QueryError,
    QueryEvaluationError,
    QueryJob,
    QueryOutcome,
    QuerySyntaxError,
    QueryTimeout,
    ServiceError,
    serialize,
    syntax_message,
)

DEFAULT_GRAPH = GRAPH + "default"
META_GRAPH = GRAPH + "stancegraph"
HIDDEN = {DEFAULT_GRAPH, META_GRAPH}
SPARQL_JSON = "application/sparql-results+json"
N_TRIPLES = "application/n-triples"
FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}
# by the query's form: Virtuoso answers in the first type named, whatever the form (a CONSTRUCT as solutions)
QUERY_HEADERS = FORM_HEADERS | {"Accept": SPARQL_JSON}
GRAPH_QUERY_HEADERS = FORM_HEADERS | {"Accept": N_TRIPLES}
MAKES_TRIPLES = ("CONSTRUCT", "DESCRIBE")
ASK_RETVAL = [ox.Variable("__ASK_RETVAL")]
UPDATE_HEADERS = {"Content-Type": "application/sparql-update"}  # direct POST: Oxigraph, Fuseki, Virtuoso, GraphDB
Dataset = dict[str, list[str]]
log = logging.getLogger("stancegraph.store")
VERSION_TTL = 1.0  # seconds between checks of the shared data version (writes by other app instances)
DERIVATION_ROUNDS = 5  # derivations after one write while other writers keep committing (see _derive_again)


@dataclass(frozen=True)
class Endpoints:
    query: str
    update: str | None = None
    store: str | None = None


def endpoints_of(spec: str) -> Endpoints:
    """`QUERY_URL[,UPDATE_URL][,STORE_URL]` (an empty part means none)."""
    parts = [p.strip() or None for p in spec.split(",")]
    if not parts[0] or len(parts) > 3 or not all(p.startswith(("http://", "https://")) for p in parts if p):
        raise StoreUnavailable(f"sparql:{spec}: expected sparql:QUERY_URL[,UPDATE_URL][,STORE_URL] with http(s) URLs")
    return Endpoints(*parts)


def _graph_clause(iri: str) -> str:
    return f"GRAPH <{ox.NamedNode(iri).value}>"


class RemoteStore(Store):
    """The SPARQL Protocol client behind the store interface; writes also go to the remote store."""

    def __init__(self, settings: Settings, endpoints: Endpoints):
        super().__init__(settings)
        self.endpoints = endpoints
        self._http = StoreConnections(_credentials(settings), keep=settings.query_workers)
        self._admission = Admission(settings.query_workers, settings.max_waiting_queries)
        self._version = ""
        self._checked = 0.0
        self._poller: tuple[threading.Thread, threading.Event] | None = None
        self._unreachable: QueryError | None = None
        self._lock = threading.Lock()
        self._deriving = threading.Lock()
        self._graph_cache: tuple[str, list[str]] = ("", {})

    # ------------------------------------------------------------------ lifecycle

    def open(self):
        """Load the files unless the store already holds exactly them (another instance loaded them)."""
        try:
            fingerprint = self._read_meta()[1]
            report = None
            if fingerprint != self.corpus.fingerprint():
                if not (self.endpoints.update or self.endpoints.store):
                    raise StoreUnavailable(
                        f"{self.endpoints.query} does not hold data/ as it is now, and no UPDATE_URL or STORE_URL "
                        "is configured to load it"
                    )
                report = self.reload()
            self._check_union_default_graph()
        except QueryError as err:  # unreachable, or refusing us (updates too): a message, not a traceback
            raise StoreUnavailable(err.message) from None
        return report

    def _check_union_default_graph(self) -> None:
        if self._ask_raw(f"ASK {{ {_graph_clause(META_GRAPH)} {{ ?s ?p ?o }} }}") and not self._ask_raw(
            f"ASK {{ <{META_GRAPH}> ?p ?o }}"
        ):
            raise StoreUnavailable(
                f"{self.endpoints.query} does not query the union of its graphs by default: start oxigraph serve "
                "with --union-default-graph, set Fuseki's unionDefaultGraph (see README, 'Store backends')"
            )

    @property
    def data_version(self) -> str:
        """The version the remote store records, at most a second old (writes by other app instances)."""
        if self._poller is None and time.monotonic() - self._checked > VERSION_TTL:
            self._refresh_version()
        if self._unreachable is not None:
            raise type(self._unreachable)(self._unreachable.message)
        return self._version

    def _refresh_version(self) -> None:
        try:
            version = self._read_meta()[0]
        except QueryError as err:  # the store unreachable: say so (health, queries) until it answers again
            self._unreachable = type(err)(err.message)
            if self._poller is None:
                raise
            return
        with self._lock:
            self._version, self._checked, self._unreachable = version, time.monotonic(), None

    def start(self) -> None:
        """Serving: re-read the version in a thread, so that request handlers never wait for the store for it."""
        if self._poller is None:
            self._refresh_version()
            stop = threading.Event()
            thread = threading.Thread(target=self._poll_version, args=(stop,), name="data-version", daemon=True)
            self._poller = (thread, stop)
            thread.start()

    def close(self) -> None:
        if self._poller is not None:
            thread, stop = self._poller
            stop.set()
            thread.join()
            self._poller = None
        self._http.close()

    def _poll_version(self, stop: threading.Event) -> None:
        while not stop.wait(VERSION_TTL / 2):
            self._refresh_version()

    def _read_meta(self) -> tuple[str, str]:
        query = (
            f"SELECT ?v ?f WHERE {{ {_graph_clause(META_GRAPH)} "
            f"{{ <{META_GRAPH}> <{SG}dataVersion> ?v ; <{SG}corpusFingerprint> ?f }} }}"
        )
        rows = list(self._query(query, {}))
        return (rows[0]["v"].value, rows[0]["f"].value) if rows else ("", "")

    def _meta_update(self, version: str, fingerprint: str | None = None) -> str:
        """The update that records a new data version (and, after a load, the fingerprint of the files)."""
        meta = f"<{META_GRAPH}>"
        version_triple = f"{meta} <{SG}dataVersion> {ox.Literal(version)}"
        if fingerprint:
            return (
                f"DROP SILENT GRAPH {meta} ;\nINSERT DATA {{ GRAPH {meta} {{ {version_triple} . "
                f"{meta} <{SG}corpusFingerprint> {ox.Literal(fingerprint)} }} }}"
            )
        return (
            f"DELETE WHERE {{ GRAPH {meta} {{ {meta} <{SG}dataVersion> ?v }} }} ;\n"
            f"INSERT DATA {{ GRAPH {meta} {{ {version_triple} }} }}"
        )

    def _install(self, built: ox.Store, fingerprint: str) -> None:
        """Put every graph of the load (ours by GSP PUT when STORE_URL is set), drop graphs no longer in data/."""
        loaded = {DEFAULT_GRAPH: ox.DefaultGraph(), **{g.value: g for g in built.named_graphs()}}
        stale = [g for g in self._graph_names(include_hidden=True) if g not in loaded and g != META_GRAPH]
        for iri, source in loaded.items():
            self._put_graph(iri, built.dump(format=ox.RdfFormat.N_TRIPLES, from_graph=source))
        for iri in stale:
            self._send_update(f"DROP SILENT {_graph_clause(iri)}")
        self._commit("", fingerprint=fingerprint, version=version_of(fingerprint))

    def _put_graph(self, iri: str, ntriples: bytes) -> None:
        if iri == DERIVED_GRAPH and b"_:" in ntriples:  # else no blank node: the lines need not be read
            _warn_about_blank_nodes(len(_about_blank_nodes(ntriples.splitlines())))
        if self.endpoints.store:
            try:
                graph_url, headers = _with_graph(self.endpoints.store, iri), {"Content-Type": N_TRIPLES}
                reply = self._http.request("PUT", graph_url, ntriples, headers, idempotent=True)
            except Unreachable as err:
                raise StoreUnavailable(f"cannot load into {self.endpoints.store}: {err}") from None
            if reply.status >= 300:
                refusal = _refusal(reply, QueryEvaluationError, QueryEvaluationError)
                raise StoreUnavailable(f"{self.endpoints.store} refused graph {iri}: {refusal.message}")
            return
        graph = _graph_clause(iri)
        body = ntriples.decode("utf-8")
        self._send_update(f"DROP SILENT {graph} ; CREATE SILENT {graph} ; INSERT DATA {{ {graph} {{ {body} }} }}")

    # ------------------------------------------------------------------ reading

    def run(self, job: QueryJob, timeout: float | None = None) -> QueryOutcome:
        with self._admission.admit():
            prologue = f"BASE <{ox.NamedNode(job.base_iri).value}>\n" if job.base_iri else ""
            query = prologue + job.query

            def serialized(media_type: str, answer: BinaryIO) -> QueryOutcome:
                """Written as the answer arrives, up to the row limit; the rest is never read (the connection
                is closed on it): held whole, `SELECT * { ?s ?p ?o }` at 1M triples grew the app by 865 MB
                for the 100,000 rows it sends."""
                return serialize(_answer(media_type, _head_first_in_order(answer, query), query), job)

            lines_added = prologue.count("\n")
            return self._post_query(query, self._dataset(job), timeout, lines_added, reader=serialized).read

    def _dataset(self, job: QueryJob) -> Dataset:
        """SPARQL Protocol dataset parameters for the job (none: the store's union default graph). The query's
        own FROM and FROM NAMED are named this way too, since a store whose default graph is the union ignores
        them (Oxigraph server does). Without the union, the store's named graphs are listed only for a query
        with a GRAPH clause (the others read our default graph alone)."""
        if job.default_graphs is not None or job.named_graphs is not None:
            return {
                "default-graph-uri": list(job.default_graphs or ()),
                "named-graph-uri": list(job.named_graphs or ()),
            }
        if (own := query_dataset(job.query, job.base_iri)) is not None:
            return {"default-graph-uri": own[0], "named-graph-uri": own[1]}
        if job.union_default_graph:
            return {}
        named = self._graph_names() if reads_named_graphs(job.query) else []
        return {"default-graph-uri": [DEFAULT_GRAPH], "named-graph-uri": named}

    def _graph_names(self, include_hidden: bool = False) -> list[str]:
        """The named graphs of the remote store (ours only unless `include_hidden`), listed once per version."""
        version = self.data_version
        if include_hidden or self._graph_cache[0] != version:
            rows = self._query("SELECT DISTINCT ?g WHERE { GRAPH ?g { } }", {})
            names = sorted(row["g"].value for row in rows if isinstance(row["g"], ox.NamedNode))
            self._graph_cache = (version, names)
        names = self._graph_cache[1]
        return names if include_hidden else [g for g in names if g not in HIDDEN]

    def in_any_graph(self, pattern: str) -> tuple[str, dict[str, bool]]:
        """Over the union default graph, our default graph being a named graph here and the hidden ones
        filtered out, rather than with every graph named in the request: at 2,005 graphs (1M triples) a
        resource page's neighbours took 16-29 ms per query so, and take 1.2-2.0 ms."""
        hidden = ", ".join(f"<{graph}>" for graph in sorted(HIDDEN))
        named = f"GRAPH ?g {{ {pattern} }} FILTER (?g NOT IN ({hidden}))"
        return f"{{ {_graph_clause(DEFAULT_GRAPH)} {{ {pattern} }} }} UNION {{ {named} }}", {}

    def has_graph(self, graph: str) -> bool:
        return graph not in HIDDEN and self._ask_raw(f"ASK {{ {_graph_clause(graph)} {{ }} }}")

    def _ask_raw(self, query: str) -> bool:
        return bool(self._query(query, {}))

    def _query(self, query: str, dataset: Dataset, timeout: float | None = None, lines_added: int = 0):
        """POST one of our own queries, whose answers are small; its answer parsed whole (a list of solutions or
        triples, or a boolean), or a QueryError whose position refers to the query as the client wrote it
        (`lines_added` lines were put before it)."""
        reply = self._post_query(query, dataset, timeout, lines_added)
        try:
            answer = _answer(reply.media_type, _head_in_order(reply.body, query), query)
            return bool(answer) if isinstance(answer, ox.QueryBoolean) else list(answer)
        except SyntaxError as err:
            raise _broken_answer(err, reply.body) from None

    def _post_query(
        self, query: str, dataset: Dataset, timeout: float | None, lines_added: int = 0, reader: Reader | None = None
    ) -> Reply:
        """The store's successful reply to the query (given to `reader` as it arrives, if there is one)."""
        limit = timeout if timeout is not None else self.settings.query_timeout
        form = urllib.parse.urlencode({"query": query, **dataset}, doseq=True).encode()
        headers = GRAPH_QUERY_HEADERS if _makes_triples(query) else QUERY_HEADERS
        try:
            reply = self._http.request(
                "POST", self.endpoints.query, form, headers, limit, idempotent=True, reader=reader
            )
        except TooSlow:
            raise QueryTimeout(f"query stopped after the {limit:g} s time limit") from None
        except Unreachable as err:
            raise ServiceError(f"the SPARQL store at {self.endpoints.query} is unreachable ({err})") from None
        except Malformed as malformed:  # the answer a reader was given
            raise _broken_answer(malformed.error, malformed.tail, malformed.start) from None
        if reply.status >= 400:
            raise _refusal(reply, QuerySyntaxError, QueryEvaluationError, lines_added)
        if reply.status >= 300:  # not followed: the query (and credentials) would go where it says
            where = next((v for k, v in reply.headers if k.lower() == "location"), "elsewhere")
            raise ServiceError(
                f"the SPARQL store at {reply.url} sends queries to {where} ({reply.status}): use that URL"
            )
        return reply

    def dump(self, output: BinaryIO, format: ox.RdfFormat, graph: str | None = None) -> None:
        """Written as the store's answer arrives: held whole, the dataset at 1M triples (311 MB of JSON) took
        14.7 s and grew the app by 598 MB for /dump.nq.gz."""
        check_dump_target(format, graph)
        prefixes = PREFIXES if format in PREFIXED else None
        if graph is not None:
            if not self.has_graph(graph):
                raise KeyError(graph)
            query = f"CONSTRUCT {{ ?s ?p ?o }} WHERE {{ {_graph_clause(graph)} {{ ?s ?p ?o }} }}"

            def write(media_type: str, answer: BinaryIO) -> None:
                ox.serialize(_answer(media_type, answer), output, format=format, prefixes=prefixes)

        else:
            query = "SELECT ?s ?p ?o ?g WHERE { GRAPH ?g { ?s ?p ?o } }"

            def write(media_type: str, answer: BinaryIO) -> None:
                quads = (
                    ox.Quad(r["s"], r["p"], r["o"], ox.DefaultGraph() if r["g"].value == DEFAULT_GRAPH else r["g"])
                    for r in _answer(media_type, answer)
                    if r["g"].value != META_GRAPH
                )
                ox.serialize(quads, output, format=format, prefixes=prefixes)

        self._post_query(query, {}, timeout=None, reader=write)

    # ------------------------------------------------------------------ writing

    def _send_update(self, update: str | BinaryIO) -> None:
        if not self.endpoints.update:
            raise UpdateError("this store is read-only: configure sparql:QUERY_URL,UPDATE_URL to write")
        body = update.encode("utf-8") if isinstance(update, str) else update
        try:  # sent as it is: percent-encoded in a form, 87 MB of INSERT DATA took 8.6 s and became 115 MB
            reply = self._http.request("POST", self.endpoints.update, body, UPDATE_HEADERS)
        except Unreachable as err:
            raise UpdateError(f"the SPARQL store at {self.endpoints.update} is unreachable ({err})") from None
        if reply.status >= 400:  # the store's own message; an update it refused changed nothing
            refusal = _refusal(reply, UpdateError, UpdateError)
            raise refusal if isinstance(refusal, UpdateError) else UpdateError(f"update failed: {refusal.message}")

    def _commit(self, update: str | BinaryIO, fingerprint: str | None = None, version: str | None = None) -> None:
        """Send `update` (its text, or a file that holds it) and the new data version in one request (one
        transaction on the remote store)."""
        version = version or new_version()
        meta = self._meta_update(version, fingerprint)
        if isinstance(update, str):
            operations = update.rstrip().removesuffix(";")
            self._send_update(f"{operations}\n;\n{meta}" if operations else meta)
        else:
            update.write(f"\n;\n{meta}".encode())
            self._send_update(update)
        with self._lock:
            self._version, self._checked = version, time.monotonic()

    def _commit_deriving(self, update: str | BinaryIO) -> None:
        """Commit `update`, then rebuild the derived graph from what it left, each with its own data version."""
        self._commit(update)
        self._derive_again()

    def _derive_again(self) -> None:
        """The rules evaluated by the remote store, the derived graph brought to their triples. The rules never
        read what a rule derives (tests/test_data.py checks it), so they can run over the union with the old
        derived graph in it. If the store cannot evaluate one (a function it lacks, a SERVICE that fails), the
        derived graph is left as it was, and the log says which rule and why: half of it would be worse.

        Another writer (a thread, or another app instance on the same store) may commit while the rules run
        and change the derived graph before us, from other data or after we read it. So the data version
        is read before the rules and again after our changes: if it moved, the rules run again, and the
        changes are worked out again from what the graph holds then. A commit after that second read is
        followed by its writer's own derivation, which starts after it and so changes the graph last. The
        threads of one instance derive one at a time."""
        try:
            with self._deriving:
                for _ in range(DERIVATION_ROUNDS):
                    before = self._read_meta()[0]
                    if changes := self._derived_changes():
                        self._send_update(changes)
                    if self._read_meta()[0] == before:
                        break
                else:
                    log.warning(
                        "the derived graph may miss writes that kept coming while it was derived %d times",
                        DERIVATION_ROUNDS,
                    )
                self._commit("")
        except (StoreUnavailable, QueryError) as err:  # the write itself is done: it is not answered as failed
            log.warning("the derived graph is left as it was: %s", err)

    def _derived_changes(self) -> str:
        """The update that brings the derived graph from what the store holds to what the rules derive now,
        removing and adding only the triples that differ (putting the whole graph made each write at 1M
        triples cost 34 s, 33 s of it Oxigraph server's own). Triples about blank nodes never match (neither
        protocol can name a node the store holds): those held are removed by a pattern and those derived added
        as new nodes. A rule the store cannot evaluate is a QueryError that names it."""
        held = self._held_derived()
        held_about_blank_nodes = _about_blank_nodes(held)
        about_blank_nodes: set[bytes] = set()
        stale, missing = line_differences(
            (line for line in held if line not in held_about_blank_nodes), self._derived(about_blank_nodes)
        )
        _warn_about_blank_nodes(len(about_blank_nodes))
        graph = _graph_clause(DERIVED_GRAPH)
        changes = []
        if stale:
            changes.append(f"DELETE DATA {{ {graph} {{ {_ntriples(stale)} }} }}")
        if held_about_blank_nodes:
            blank_node = "FILTER (isBlank(?s) || isBlank(?o))"
            changes.append(f"DELETE {{ {graph} {{ ?s ?p ?o }} }} WHERE {{ {graph} {{ ?s ?p ?o {blank_node} }} }}")
        if missing or about_blank_nodes:
            changes.append(f"INSERT DATA {{ {graph} {{ {_ntriples([*missing, *about_blank_nodes])} }} }}")
        return " ;\n".join(changes)

    def _constructed(self, query: str) -> list[bytes]:
        """A CONSTRUCT's triples as N-Triples lines, written by the engine as the store's answer arrives."""

        def lines(media_type: str, answer: BinaryIO) -> list[bytes]:
            return ox.serialize(_answer(media_type, answer), format=ox.RdfFormat.N_TRIPLES).splitlines()

        return self._post_query(query, self._dataset(QueryJob(query)), None, reader=lines).read  # FROM named to it

    def _derived(self, about_blank_nodes: set[bytes]) -> Iterator[bytes]:
        """The rules' triples as N-Triples lines, one rule at a time, but those about blank nodes, which go to
        `about_blank_nodes`."""
        for rule in rule_files(self.settings.rules_dir):
            try:
                lines = self._constructed(rule.read_text(encoding="utf-8"))
            except QueryError as err:
                raise type(err)(f"rule {rule.name} failed: {err.message}") from None
            about_blank_nodes |= (blank := _about_blank_nodes(lines))
            yield from (line for line in lines if line not in blank)

    def _held_derived(self) -> list[bytes]:
        """The derived graph the store holds, as N-Triples lines written by the engine (as the rules' are),
        read from a file rather than held twice."""
        with tempfile.TemporaryFile() as held:
            try:
                self.dump(held, ox.RdfFormat.N_TRIPLES, DERIVED_GRAPH)
            except KeyError:
                return []
            held.seek(0)
            return [line.rstrip(b"\n") for line in held]

    def _update(self, sparql: str, base_iri: str | None) -> None:
        self._commit_deriving(f"BASE <{ox.NamedNode(base_iri).value}> {sparql}" if base_iri else sparql)

    def _replace_graph(self, graph: str | None, data: Payload, media_type: str) -> None:
        target = _graph_clause(graph or DEFAULT_GRAPH)
        with _inserting(graph, data, media_type, f"DROP SILENT {target} ;\nCREATE SILENT {target} ;\n") as update:
            self._commit_deriving(update)

    def _add_to_graph(self, graph: str | None, data: Payload, media_type: str) -> None:
        with _inserting(
            graph, data, media_type, f"CREATE SILENT {_graph_clause(graph or DEFAULT_GRAPH)} ;\n"
        ) as update:
            self._commit_deriving(update)

    def _delete_graph(self, graph: str | None) -> bool:
        if graph is None:
            self._commit_deriving(f"CLEAR SILENT {_graph_clause(DEFAULT_GRAPH)}")
            return True
        if not self.has_graph(graph):
            return False
        self._commit_deriving(f"DROP {_graph_clause(graph)}")
        return True


_HEAD_VARIABLES = re.compile(rb'\A\s*\{\s*"head"\s*:\s*\{[^{}]*?"vars"\s*:\s*(\[[^\]]*\])')


def _makes_triples(query: str) -> bool:
    """A CONSTRUCT or DESCRIBE (the prologue is read only when either word is there)."""
    lowered = query.lower()
    return ("construct" in lowered or "describe" in lowered) and query_form(query) in MAKES_TRIPLES


def _answer(media_type: str, body: bytes | BinaryIO, query: str = ""):
    """The store's answer to `query` parsed (solutions, boolean or triples), from its bytes or as it arrives."""
    if media_type == SPARQL_JSON:
        answer = ox.parse_query_results(body, format=ox.QueryResultsFormat.JSON)
        if isinstance(answer, ox.QuerySolutions) and answer.variables == ASK_RETVAL and query_form(query) == "ASK":
            # Virtuoso 7.2 answers an ASK as a SELECT of `__ASK_RETVAL`: one row if true, none if false
            boolean = b'{"boolean": true}' if next(answer, None) is not None else b'{"boolean": false}'
            return ox.parse_query_results(boolean, format=ox.QueryResultsFormat.JSON)
        return answer
    rdf = ox.RdfFormat.from_media_type(media_type)
    if rdf is None:
        raise ServiceError(f"the SPARQL store answered in an unexpected format ({media_type or 'none'})")
    return ox.parse(body, format=rdf)


def _broken_answer(err: SyntaxError, text: bytes, start: int = 0) -> ServiceError:
    """A successful answer that does not parse. Oxigraph server sends its 200 before it evaluates, so an error
    met on the way (a SERVICE that fails) is written into the answer as text: what the answer says from where
    the parser stopped is the store's message. `text` is the answer, or its end from `start` on."""
    lines = text.split(b"\n")
    if err.lineno == 1 or start == 0:  # the column counts from the start of `text`'s line
        line = lines[min(max(err.lineno or 1, 1), len(lines)) - 1] if start == 0 else lines[0]
        said = line[max((err.offset or 1) - 1 - start, 0) :]
    else:  # a line past the first, in an answer read as it came: the last one read
        said = next((line for line in reversed(lines) if line.strip()), b"")
    message = said.decode("utf-8", "replace").strip()[:300]
    return ServiceError(f"the SPARQL store broke off its answer: {message or err}")


HEAD_BYTES = 1 << 16  # where a SPARQL JSON answer's list of variables must have ended


def _head_first_in_order(answer: BinaryIO, query: str) -> bytes | BinaryIO:
    """`_head_in_order` for an answer read as it arrives: its beginning is read and put in order. A short
    answer is then whole, and is parsed from its bytes: a lookup costs the app what it did when every answer
    was read whole (read as it came, 5% more)."""
    beginning = answer.read(HEAD_BYTES)  # all of it, unless it ends first
    whole = len(beginning) < HEAD_BYTES
    beginning = _head_in_order(beginning, query)
    return beginning if whole else io.BufferedReader(_Joined(beginning, answer))


class _Joined(io.RawIOBase):
    """Bytes already read, then the rest of the answer."""

    def __init__(self, first: bytes, rest: BinaryIO):
        self._first, self._rest = first, rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._first:
            count = min(len(buffer), len(self._first))
            buffer[:count], self._first = self._first[:count], self._first[count:]
            return count
        return self._rest.readinto(buffer)


def _head_in_order(body: bytes, query: str) -> bytes:
    """A SPARQL JSON answer to a `SELECT *` with its variables in the order the query first mentions them, as
    the embedded stores answer (see workers): Oxigraph server lists them alphabetically (Fuseki, Virtuoso and
    GraphDB in that order already). Only the head's list changes; an answer not written head first is kept."""
    star = select_star(query)
    head = _HEAD_VARIABLES.match(body) if star is not None else None
    if head is None:
        return body
    try:
        names = json.loads(head[1])
    except ValueError:
        return body  # the parser below says what is wrong with it
    ordered = in_order_of_appearance(query, names, star)
    if ordered == names:
        return body
    return body[: head.start(1)] + json.dumps(ordered, separators=(",", ":")).encode() + body[head.end(1) :]


def _about_blank_nodes(lines: Iterable[bytes]) -> set[bytes]:
    """The N-Triples lines (one triple each, as the engine writes them) whose subject or object is a blank node."""
    candidates = [line for line in lines if b"_:" in line]  # or a literal that says `_:`: parsed to tell
    if not candidates:
        return set()
    triples = ox.parse(b"\n".join(candidates), format=ox.RdfFormat.N_TRIPLES)
    return {
        line
        for line, triple in zip(candidates, triples, strict=True)
        if isinstance(triple.subject, ox.BlankNode) or isinstance(triple.object, ox.BlankNode)
    }


def _ntriples(lines: Iterable[bytes]) -> str:
    return b"\n".join(lines).decode("utf-8")


def _warn_about_blank_nodes(about: int) -> None:
    """Say when the rules derived triples about blank nodes (a stance held by an unnamed coalition): put into a
    remote store they are about new nodes, since neither protocol can name a blank node the store holds."""
    if about:
        log.warning(
            "%d derived triples are about blank nodes: in a sparql: store they are about new nodes, not the ones "
            "the data holds (give such holders IRIs)",
            about,
        )


@contextlib.contextmanager
def _inserting(graph: str | None, data: Payload, media_type: str, before: str) -> Iterator[BinaryIO]:
    """A file holding `before` and the INSERT DATA of a Graph Store payload into its graph on the remote store
    (parsed and checked first), written by the engine: made as a string, 87 MB of N-Triples grew the app by
    293 MB."""
    fmt = check_payload(data, media_type, graph)
    with tempfile.SpooledTemporaryFile(SPOOL_IN_MEMORY) as update:
        update.write(f"{before}INSERT DATA {{ {_graph_clause(graph or DEFAULT_GRAPH)} {{\n".encode())
        triples = ox.parse(from_start(data), format=fmt, base_iri=graph, rename_blank_nodes=True)
        ox.serialize(triples, update, format=ox.RdfFormat.N_TRIPLES)
        update.write(b"} }")
        yield update


def _credentials(settings: Settings) -> httpx.Auth | None:
    """HTTP authentication for the remote store: Basic, or Digest (Virtuoso's `/sparql-auth`)."""
    if settings.store_user is None:
        return None
    password = settings.store_password.get_secret_value() if settings.store_password else ""
    kind = httpx.DigestAuth if settings.store_auth == "digest" else httpx.BasicAuth
    return kind(settings.store_user, password)


def _with_graph(store_url: str, graph: str) -> str:
    """The Graph Store Protocol URL of one graph (`?graph=`, after any query the configured URL has)."""
    return f"{store_url}{'&' if '?' in store_url else '?'}{urllib.parse.urlencode({'graph': graph})}"


def _refusal(reply: Reply, syntax: type[QueryError], other: type[QueryError], lines_added: int = 0) -> QueryError:
    """The remote store's refusal as our own error: its syntax errors keep their line and column."""
    text = reply.text.strip()
    if reply.status in (401, 403):  # the store's configuration, not the client's query
        return ServiceError(
            f"the SPARQL store at {reply.url} refused our credentials "
            f"({reply.status}): set STANCEGRAPH_STORE_USER and STANCEGRAPH_STORE_PASSWORD "
            "(and STANCEGRAPH_STORE_AUTH=digest for Virtuoso's /sparql-auth)"
        )
    if reply.status in (408, 503, 504):
        return QueryTimeout(f"the SPARQL store gave up ({reply.status}): {text[:300]}")
    if reply.status >= 500:
        return ServiceError(f"the SPARQL store failed ({reply.status}): {text[:300]}")
    position = re.search(r"error at (\d+):(\d+): (.*)", text, re.DOTALL)
    if position:
        line = int(position[1]) - lines_added
        return syntax(syntax_message(SyntaxError(f"error at {line}:{position[2]}: {position[3]}")))
    return other(f"the SPARQL store refused it ({reply.status}): {text[:300]}")
