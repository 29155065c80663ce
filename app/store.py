"""The one store interface everything else asks for query results, graphs and the data version.

The default backend is an embedded in-memory Oxigraph store. A reload builds a complete new store from the
files and swaps it in only if it loads cleanly, so readers never see half a graph and a broken file never
replaces the last good one.
"""

import secrets
import threading
from dataclasses import dataclass

import pyoxigraph as ox

from app.corpus import Corpus
from app.loader import LoadReport, build
from app.settings import Settings

QueryResult = ox.QuerySolutions | ox.QueryTriples | ox.QueryBoolean


def new_version() -> str:
    """A fresh data version: changes on every load or update, so caches keyed by it never go stale."""
    return secrets.token_hex(8)


@dataclass(frozen=True)
class Snapshot:
    """A store together with the version of the data it holds."""

    store: ox.Store
    version: str


class EmbeddedStore:
    """pyoxigraph in this process, loaded from data/ and ontology/."""

    def __init__(self, settings: Settings):
        if settings.store != "memory":
            raise ValueError(f"unsupported store {settings.store!r}: this build offers 'memory'")
        self.settings = settings
        self.corpus = Corpus(settings)
        self._lock = threading.Lock()
        self._snapshot = Snapshot(ox.Store(), new_version())
        self.last_report: LoadReport | None = None

    def reload(self) -> LoadReport:
        """Re-read all files; on DataError the previous data keeps serving and the error propagates."""
        store, report = build(self.corpus, shacl=self.settings.validate_on_load)
        with self._lock:
            self._snapshot = Snapshot(store, new_version())
            self.last_report = report
        return report

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    @property
    def data_version(self) -> str:
        return self._snapshot.version

    def query(self, sparql: str, *, union_default_graph: bool = True, **options) -> QueryResult:
        """Evaluate a SPARQL query; by default the default graph is the union of all graphs."""
        return self._snapshot.store.query(sparql, use_default_graph_as_union=union_default_graph, **options)

    def select(self, sparql: str, **options) -> list[dict[str, ox.NamedNode | ox.BlankNode | ox.Literal | None]]:
        """A SELECT query's rows as dicts keyed by variable name (unbound variables map to None)."""
        solutions = self.query(sparql, **options)
        names = [v.value for v in solutions.variables]
        return [{name: row[name] for name in names} for row in solutions]

    def named_graphs(self) -> list[str]:
        return sorted(g.value for g in self._snapshot.store.named_graphs() if isinstance(g, ox.NamedNode))


def open_store(settings: Settings) -> EmbeddedStore:
    """The store the settings ask for, loaded."""
    store = EmbeddedStore(settings)
    store.reload()
    return store
