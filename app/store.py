"""The one store interface everything else asks for query results, graphs, updates and the data version.

Three backends stand behind it, chosen by `STANCEGRAPH_STORE` (or `--store`):

- `memory`: embedded Oxigraph in this process (the default), rebuilt from the files on start;
- `oxigraph:PATH`: embedded Oxigraph on disk, persistent, shared read-only by several processes;
- `sparql:QUERY_URL[,UPDATE_URL][,STORE_URL]`: a remote SPARQL 1.1 store (Oxigraph server, Fuseki, Virtuoso).

Only this module and the backend modules know which one is in use. Every backend builds a load the same
way (app.loader: parsed, checked, validated in memory) and publishes it only if it loads cleanly, so
readers never see half a graph and a broken file never replaces the last good one.
"""

import csv
import io
import secrets
from abc import ABC, abstractmethod
from pathlib import Path
from typing import BinaryIO

import pyoxigraph as ox
from starlette.concurrency import run_in_threadpool

from app.corpus import Corpus
from app.labels import LABELS_PER_QUERY, labels_query
from app.loader import LoadReport, build
from app.namespaces import DERIVED_GRAPH
from app.problems import parser_reason
from app.settings import Settings
from app.update_targets import writes_to
from app.workers import QueryError, QueryJob, QueryOutcome

Term = ox.NamedNode | ox.BlankNode | ox.Literal
Row = dict[str, Term | None]

TSV = "text/tab-separated-values"
CSV = "text/csv"


def new_version() -> str:
    """A fresh data version for a write: caches keyed by it never go stale."""
    return secrets.token_hex(8)


def version_of(fingerprint: str) -> str:
    """The data version of a load from files: the same files give the same version in every process."""
    return fingerprint[:16]


class UpdateError(QueryError):
    """A SPARQL Update or Graph Store write that was refused or failed; nothing was changed."""


class DerivedGraphWrite(UpdateError):
    """A write to the derived graph: refused, since the rules would undo it at once and it would look done."""

    status = 403

    def __init__(self) -> None:
        super().__init__(
            f"{DERIVED_GRAPH} is derived by the rules in queries/rules/ after every write: write the statements"
            " it is derived from instead"
        )


class StoreUnavailable(Exception):
    """The configured store cannot be opened (bad setting, locked directory, unreachable server)."""


SPOOL_IN_MEMORY = 16 << 20  # bytes of an upload, or of an update made of one, held before a temporary file
Payload = bytes | BinaryIO  # an upload: bytes, or a file the server spooled it to (read from its start each time)


def from_start(payload: Payload) -> Payload:
    """The payload to read once more from its beginning (a file is read to its end by each parse)."""
    if not isinstance(payload, bytes):
        payload.seek(0)
    return payload


def check_payload(data: Payload, media_type: str, graph: str | None) -> ox.RdfFormat:
    """The format of a Graph Store payload all of which parses, checked before anything is written; the engine's
    loader then writes it (its blank nodes new nodes, as in `INSERT DATA`: `_:b0` means something only in its
    own document). The check keeps nothing: holding the payload as Python terms took 7.7 times its size (100 MB
    for 13 MB of N-Triples, and the limit is STANCEGRAPH_MAX_UPLOAD_BYTES), the loader alone takes the store's
    own growth. A payload is one graph: one naming graphs of its own (TriG, N-Quads, JSON-LD) is refused,
    neither merged into the target nor written to those graphs (the derived one among them). Its relative IRIs
    are resolved against the target graph's IRI, as Oxigraph server does (`<#a>` in a PUT to ?graph=G is G#a);
    sent to the default graph, which has no IRI, they are refused."""
    fmt = ox.RdfFormat.from_media_type(media_type)
    if fmt is None:
        raise UpdateError(f"unsupported RDF media type {media_type!r}")
    try:
        for quad in ox.parse(from_start(data), format=fmt, base_iri=graph):
            if fmt.supports_datasets and not isinstance(quad.graph_name, ox.DefaultGraph):
                raise UpdateError(
                    f"the payload names a graph of its own, {quad.graph_name}: a Graph Store write fills the one"
                    " graph its request names (?graph=IRI or ?default), so send that graph's triples alone"
                )
    except SyntaxError as err:
        raise UpdateError(f"payload does not parse as {media_type}: {parser_reason(str(err))}") from None
    return fmt


class Store(ABC):
    """What the HTTP layer, the CLI and the client need from a store, whatever the backend."""

    # Whether a join over most of some properties' triples is cheaper scanning each property than seeking each
    # subject's: on disk (RocksDB) a seek costs what reading a run of triples does (see graph_views).
    prefers_scans = False

    def __init__(self, settings: Settings):
        self.settings = settings
        self.corpus = Corpus(settings)

    # ------------------------------------------------------------------ data lifecycle

    def open(self) -> LoadReport | None:
        """Make the corpus ready to serve: build it from the files unless the backend already holds it."""
        return self.reload()

    def reload(self) -> LoadReport:
        """Re-read all files; on DataError the previous data keeps serving and the error propagates."""
        corpus = self.corpus.snapshot()
        fingerprint = corpus.fingerprint()
        built, report = build(corpus, shacl=self.settings.validate_on_load, fingerprint=fingerprint)
        self._install(built, fingerprint)
        return report

    @abstractmethod
    def _install(self, built: ox.Store, fingerprint: str) -> None:
        """Publish a complete, checked load as the data served from now on (all or nothing)."""

    @property
    @abstractmethod
    def data_version(self) -> str:
        """Changes whenever the data changes; caches and ETags are keyed by it."""

    def start(self) -> None:  # noqa: B027 - a hook: only backends with worker processes need it
        """Get ready to answer (again) when an app's lifespan starts."""

    def close(self) -> None:  # noqa: B027 - a hook: only backends with worker processes need it
        """Release processes and connections when an app's lifespan ends."""

    def release(self) -> None:
        """Let other processes open the store (an on-disk store also gives up its directory lock)."""
        self.close()

    # ------------------------------------------------------------------ reading

    @abstractmethod
    def run(self, job: QueryJob, timeout: float | None = None) -> QueryOutcome:
        """Evaluate and serialize a query (blocking), stopped at the time limit when serving."""

    async def run_async(self, job: QueryJob, timeout: float | None = None) -> QueryOutcome:
        """`run` for the event loop; backends that can wait for an answer without a thread override it."""
        return await run_in_threadpool(self.run, job, timeout)

    def select(self, sparql: str, **dataset) -> list[Row]:
        """A SELECT query's rows as dicts keyed by variable name (unbound variables map to None)."""
        outcome = self.run(QueryJob(sparql, result_format=TSV, **dataset))
        solutions = ox.parse_query_results(outcome.body, format=ox.QueryResultsFormat.TSV)
        names = [v.value for v in solutions.variables]
        return [dict(zip(names, row, strict=True)) for row in solutions]

    def select_values(self, sparql: str, **dataset) -> list[dict[str, str]]:
        """A SELECT query's rows as lexical values ("" when unbound), for callers that never look at a term's
        kind, such as the graph views: SPARQL CSV decodes ten times faster than terms (the stances view's
        20,000 rows at 1M triples: 0.4 s of decoding -> 0.05 s)."""
        outcome = self.run(QueryJob(sparql, result_format=CSV, **dataset))
        reader = csv.reader(io.StringIO(outcome.body.decode("utf-8"), newline=""))
        names = next(reader, [])
        return [dict(zip(names, row, strict=True)) for row in reader]

    def ask(self, sparql: str, **dataset) -> bool:
        outcome = self.run(QueryJob(sparql, result_format=TSV, **dataset))
        return bool(ox.parse_query_results(outcome.body, format=ox.QueryResultsFormat.TSV))

    def labels(self, iris: set[str]) -> dict[str, str]:
        """A label for each IRI that has one (English or untagged preferred; see labels), asked LABELS_PER_QUERY
        IRIs at a time (a view names thousands)."""
        ordered = sorted(iris)
        return {
            row["iri"].value: row["name"].value
            for start in range(0, len(ordered), LABELS_PER_QUERY)
            for row in self.select(labels_query(ordered[start : start + LABELS_PER_QUERY]))
        }

    def mentions(self, iri: str) -> bool:
        """Whether any triple names the IRI, as subject or object (what tells a resource from a typo); two
        lookups rather than one UNION, which a worker would have to answer (see lookups)."""
        node = str(ox.NamedNode(iri))
        return self.ask(f"ASK {{ {node} ?p ?o }}") or self.ask(f"ASK {{ ?s ?p {node} }}")

    def in_any_graph(self, pattern: str) -> tuple[str, dict[str, bool]]:
        """A group matching the triple pattern in the store's own default graph (`?g` unbound) or in one of its
        named graphs (`?g` bound to it), and the dataset setting to select it with: each backend's fastest exact
        way (the union default graph hides which graph a triple is in)."""
        return f"{{ {pattern} }} UNION {{ GRAPH ?g {{ {pattern} }} }}", {"union_default_graph": False}

    def has_graph(self, graph: str) -> bool:
        return self.ask(f"ASK {{ GRAPH <{ox.NamedNode(graph).value}> {{ }} }}", union_default_graph=False)

    @abstractmethod
    def dump(self, output: BinaryIO, format: ox.RdfFormat, graph: str | None = None) -> None:
        """Serialize the whole dataset (dataset formats) or one named graph (KeyError if absent) into `output`."""

    # ------------------------------------------------------------------ writing (admin only)

    def update(self, sparql: str, base_iri: str | None = None) -> None:
        """Apply a SPARQL 1.1 Update atomically, or raise UpdateError having changed nothing."""
        if writes_to(sparql, DERIVED_GRAPH, base_iri):
            raise DerivedGraphWrite()
        self._update(sparql, base_iri)

    def replace_graph(self, graph: str | None, data: Payload, media_type: str) -> None:
        """Graph Store PUT: the graph's content becomes the payload."""
        self._refuse_derived(graph)
        self._replace_graph(graph, data, media_type)

    def add_to_graph(self, graph: str | None, data: Payload, media_type: str) -> None:
        """Graph Store POST: merge the payload into the graph."""
        self._refuse_derived(graph)
        self._add_to_graph(graph, data, media_type)

    def delete_graph(self, graph: str | None) -> bool:
        """Graph Store DELETE: False if the named graph does not exist."""
        self._refuse_derived(graph)
        return self._delete_graph(graph)

    @staticmethod
    def _refuse_derived(graph: str | None) -> None:
        if graph == DERIVED_GRAPH:
            raise DerivedGraphWrite()

    @abstractmethod
    def _update(self, sparql: str, base_iri: str | None) -> None: ...

    @abstractmethod
    def _replace_graph(self, graph: str | None, data: Payload, media_type: str) -> None: ...

    @abstractmethod
    def _add_to_graph(self, graph: str | None, data: Payload, media_type: str) -> None: ...

    @abstractmethod
    def _delete_graph(self, graph: str | None) -> bool: ...


def check_dump_target(format: ox.RdfFormat, graph: str | None) -> None:
    if graph is None and not format.supports_datasets:
        raise ValueError(f"{format.name} holds one graph: name a graph, or use TriG, N-Quads or JSON-LD")


def open_store(settings: Settings, pooled: bool = False) -> Store:
    """The store the settings ask for, ready to serve (built from the files when needed).

    `pooled=True` (the server) runs embedded queries in killable worker processes (app.workers).
    """
    kind, _, where = settings.store.partition(":")
    if kind == "memory" and not where:
        from app.embedded_store import EmbeddedStore

        store: Store = EmbeddedStore(settings, pooled=pooled)
    elif kind == "oxigraph" and where:
        from app.embedded_store import OnDiskStore

        store = OnDiskStore(settings, Path(where), pooled=pooled)
    elif kind == "sparql" and where:
        from app.remote_store import RemoteStore, endpoints_of

        store = RemoteStore(settings, endpoints_of(where))
    else:
        raise StoreUnavailable(
            f"unknown store {settings.store!r}: use memory, oxigraph:PATH or sparql:QUERY_URL[,UPDATE_URL][,STORE_URL]"
        )
    store.open()
    return store


def prepare_store(settings: Settings) -> None:
    """Load the store once (on disk, or into the remote store) before several app processes open it."""
    open_store(settings).release()
