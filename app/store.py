"""The one store interface everything else asks for query results, graphs, updates and the data version.

The default backend is an embedded in-memory Oxigraph store. A reload builds a complete new store from the
files and swaps it in only if it loads cleanly, so readers never see half a graph and a broken file never
replaces the last good one. When serving, queries run in killable worker processes (app.workers).
"""

import contextlib
import secrets
import threading
from collections.abc import Iterator
from typing import BinaryIO

import pyoxigraph as ox

from app.corpus import Corpus
from app.loader import LoadReport, build
from app.namespaces import PREFIXES
from app.settings import Settings
from app.workers import PREFIXED, QueryError, QueryJob, QueryOutcome, QueryPool, execute, syntax_message

Term = ox.NamedNode | ox.BlankNode | ox.Literal
Row = dict[str, Term | None]

TSV = "text/tab-separated-values"


def new_version() -> str:
    """A fresh data version: changes on every load or update, so caches keyed by it never go stale."""
    return secrets.token_hex(8)


class UpdateError(QueryError):
    """A SPARQL Update or Graph Store write that was refused or failed; nothing was changed."""


class EmbeddedStore:
    """pyoxigraph in this process, loaded from data/ and ontology/.

    With `pooled=True` (the server) every query runs in a forked worker that is killed at its deadline;
    without (CLI, tests of pure functions) queries run in-process with no time limit.
    """

    def __init__(self, settings: Settings, pooled: bool = False):
        if settings.store != "memory":
            raise ValueError(f"unsupported store {settings.store!r}: this build offers 'memory'")
        self.settings = settings
        self.corpus = Corpus(settings)
        self._store = ox.Store()
        self._version = new_version()
        self._write_lock = threading.Lock()
        self._pool = QueryPool(settings.query_workers, settings.max_waiting_queries) if pooled else None

    # ------------------------------------------------------------------ data lifecycle

    def reload(self) -> LoadReport:
        """Re-read all files; on DataError the previous data keeps serving and the error propagates."""
        store, report = build(self.corpus, shacl=self.settings.validate_on_load)
        with self._write_lock:
            self._publish(store)
        return report

    def _publish(self, store: ox.Store) -> None:
        self._store = store
        self._version = new_version()
        if self._pool:
            self._pool.refresh(store)

    @property
    def data_version(self) -> str:
        return self._version

    def start(self) -> None:
        """Make sure query workers run (after a close(), when an app's lifespan starts again)."""
        if self._pool:
            self._pool.reopen()

    def close(self) -> None:
        if self._pool:
            self._pool.close()

    # ------------------------------------------------------------------ reading

    def run(self, job: QueryJob, timeout: float | None = None) -> QueryOutcome:
        """Evaluate and serialize a query (blocking): in a killable worker when serving."""
        if self._pool:
            return self._pool.run(job, timeout if timeout is not None else self.settings.query_timeout)
        return execute(self._store, job)

    def select(self, sparql: str, **dataset) -> list[Row]:
        """A SELECT query's rows as dicts keyed by variable name (unbound variables map to None)."""
        outcome = self.run(QueryJob(sparql, result_format=TSV, **dataset))
        solutions = ox.parse_query_results(outcome.body, format=ox.QueryResultsFormat.TSV)
        names = [v.value for v in solutions.variables]
        return [{name: row[name] for name in names} for row in solutions]

    def ask(self, sparql: str, **dataset) -> bool:
        outcome = self.run(QueryJob(sparql, result_format=TSV, **dataset))
        return bool(ox.parse_query_results(outcome.body, format=ox.QueryResultsFormat.TSV))

    # ------------------------------------------------------------------ writing (admin only)

    @contextlib.contextmanager
    def _writing(self) -> Iterator[ox.Store]:
        """Serialize writers, keep workers from forking mid-write, and publish a new version afterwards."""
        with self._write_lock:
            yield self._store
            self._publish(self._store)

    def update(self, sparql: str, base_iri: str | None = None) -> None:
        """Apply a SPARQL 1.1 Update atomically (pyoxigraph applies it in one transaction)."""
        with self._writing() as store:
            try:
                store.update(sparql, base_iri=base_iri)
            except SyntaxError as err:
                raise UpdateError(syntax_message(err)) from None
            except (OSError, ValueError, RuntimeError) as err:
                raise UpdateError(f"update failed: {err}") from None

    def replace_graph(self, graph: str | None, data: bytes, media_type: str) -> None:
        """Graph Store PUT: the graph's content becomes the payload (parsed fully before anything changes)."""
        quads = self._parse_payload(graph, data, media_type)
        with self._writing() as store:
            target = ox.NamedNode(graph) if graph else ox.DefaultGraph()
            if graph is None:
                store.clear_graph(target)
            elif store.contains_named_graph(target):
                store.remove_graph(target)
            store.extend(quads)
            if graph is not None:
                store.add_graph(target)

    def add_to_graph(self, graph: str | None, data: bytes, media_type: str) -> None:
        """Graph Store POST: merge the payload into the graph."""
        quads = self._parse_payload(graph, data, media_type)
        with self._writing() as store:
            store.extend(quads)
            if graph is not None:
                store.add_graph(ox.NamedNode(graph))

    def delete_graph(self, graph: str | None) -> bool:
        """Graph Store DELETE: False if the named graph does not exist."""
        with self._writing() as store:
            if graph is None:
                store.clear_graph(ox.DefaultGraph())
                return True
            target = ox.NamedNode(graph)
            if not store.contains_named_graph(target):
                return False
            store.remove_graph(target)
            return True

    def dump(self, output: BinaryIO, format: ox.RdfFormat, graph: str | None = None) -> None:
        """Serialize the whole dataset (dataset formats) or one named graph, streaming into `output`."""
        store = self._store  # the version being dumped, even if a reload swaps in another meanwhile
        if graph is None and not format.supports_datasets:
            raise ValueError(f"{format.name} holds one graph: name a graph, or use TriG, N-Quads or JSON-LD")
        if graph is not None and not store.contains_named_graph(ox.NamedNode(graph)):
            raise KeyError(graph)
        prefixes = PREFIXES if format in PREFIXED else None
        if graph is None:
            store.dump(output, format=format, prefixes=prefixes)
        else:
            store.dump(output, format=format, from_graph=ox.NamedNode(graph), prefixes=prefixes)

    def has_graph(self, graph: str) -> bool:
        return self.ask(f"ASK {{ GRAPH <{ox.NamedNode(graph).value}> {{ }} }}", union_default_graph=False)

    @staticmethod
    def _parse_payload(graph: str | None, data: bytes, media_type: str) -> list[ox.Quad]:
        target = ox.NamedNode(graph) if graph else ox.DefaultGraph()
        fmt = ox.RdfFormat.from_media_type(media_type)
        if fmt is None:
            raise UpdateError(f"unsupported RDF media type {media_type!r}")
        try:
            triples = ox.parse(data, format=fmt)
            return [ox.Quad(t.subject, t.predicate, t.object, target) for t in triples]
        except SyntaxError as err:
            raise UpdateError(f"payload does not parse as {media_type}: {err}") from None


def open_store(settings: Settings, pooled: bool = False) -> EmbeddedStore:
    """The store the settings ask for, loaded."""
    store = EmbeddedStore(settings, pooled=pooled)
    store.reload()
    return store
