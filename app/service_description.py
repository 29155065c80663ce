"""SPARQL 1.1 Service Description and VoID: triples per graph, classes, properties, and linksets per target.

The same description answers `GET /sparql` without a query and `GET /.well-known/void` (RFC 5785 / VoID
section 7): the dataset is `<BASE/.well-known/void#dataset>`, with one void:Linkset per external dataset
our skos:exactMatch / closeMatch / owl:sameAs links point into (e.g. Wikidata, DBpedia).

Statistics are computed by queries on the current data and cached per data version, so they stay current
after updates and reloads without anyone invalidating them.
"""

from dataclasses import dataclass

import pyoxigraph as ox

from app.cache import VersionedCache
from app.formats import RDF_FORMATS, RESULT_FORMATS
from app.namespaces import PREFIXES, RDF, SKOS
from app.store import Store

SD = "http://www.w3.org/ns/sparql-service-description#"
VOID = "http://rdfs.org/ns/void#"
FORMATS = "http://www.w3.org/ns/formats/"

FORMAT_IRIS = {
    "application/sparql-results+json": "SPARQL_Results_JSON",
    "application/sparql-results+xml": "SPARQL_Results_XML",
    "text/csv": "SPARQL_Results_CSV",
    "text/tab-separated-values": "SPARQL_Results_TSV",
    "text/turtle": "Turtle",
    "application/n-triples": "N-Triples",
    "application/ld+json": "JSON-LD",
    "application/rdf+xml": "RDF_XML",
    "application/trig": "TriG",
    "application/n-quads": "N-Quads",
}

_statistics = VersionedCache(size=16)  # at 1M triples the statistics take 1.8 s
# each description written (per base URL and format, and gzipped): 2,000 graphs at 1M, 440 KB of Turtle, 60-220 ms
description_cache = VersionedCache(size=64)

LINK_PREDICATES = (SKOS + "exactMatch", SKOS + "closeMatch", PREFIXES["owl"] + "sameAs")

# Links grouped by predicate and the site they point into (scheme and host: the target dataset's IRI).
LINKSETS = f"""
SELECT ?predicate ?target (COUNT(*) AS ?n) WHERE {{
  {{ SELECT DISTINCT ?s ?predicate ?o WHERE {{
    ?s ?predicate ?o
    FILTER (?predicate IN ({", ".join(f"<{p}>" for p in LINK_PREDICATES)}) && isIRI(?o)
            && !STRSTARTS(STR(?o), "{PREFIXES["id"]}"))
  }} }}
  BIND (REPLACE(STR(?o), "^([a-z]+://[^/]+/).*$", "$1") AS ?target)
}} GROUP BY ?predicate ?target"""


@dataclass(frozen=True)
class DatasetStatistics:
    """VoID numbers of the current data."""

    default_graph_triples: int
    graph_triples: dict[str, int]
    classes: dict[str, int]
    properties: dict[str, int]
    linksets: dict[tuple[str, str], int]

    @property
    def triples(self) -> int:
        return self.default_graph_triples + sum(self.graph_triples.values())


def _counts(store: Store, query: str, key: str) -> dict[str, int]:
    return {row[key].value: int(row["n"].value) for row in store.select(query) if row[key] is not None}


def dataset_statistics(store: Store) -> DatasetStatistics:
    """Triples per graph, entities per class, triples per property (cached until the data changes)."""

    def compute() -> DatasetStatistics:
        group, dataset = store.in_any_graph("?s ?p ?o")
        per_graph = store.select(f"SELECT ?g (COUNT(*) AS ?n) WHERE {{ {group} }} GROUP BY ?g", **dataset)
        return DatasetStatistics(
            default_graph_triples=sum(int(row["n"].value) for row in per_graph if row["g"] is None),
            graph_triples={row["g"].value: int(row["n"].value) for row in per_graph if row["g"] is not None},
            classes=_counts(
                store, "SELECT ?c (COUNT(DISTINCT ?s) AS ?n) WHERE { ?s a ?c FILTER(isIRI(?c)) } GROUP BY ?c", "c"
            ),
            properties=_counts(store, "SELECT ?p (COUNT(*) AS ?n) WHERE { ?s ?p ?o } GROUP BY ?p", "p"),
            linksets={
                (row["predicate"].value, row["target"].value): int(row["n"].value) for row in store.select(LINKSETS)
            },
        )

    return _statistics.get(store.data_version, "statistics", compute)


def dataset_iri(base: str) -> str:
    """The dataset's IRI on the host that serves it: `BASE/.well-known/void#dataset`."""
    return base.rstrip("/") + "/.well-known/void#dataset"


def description(store: Store, base: str, native: ox.RdfFormat) -> bytes:
    """The service description written in `native` (called once per data version, base URL and format)."""
    prefixes = {"sd": SD, "void": VOID, "formats": FORMATS, **PREFIXES}
    return ox.serialize(description_triples(store, base), format=native, prefixes=prefixes)


def description_triples(store: Store, base: str) -> list[ox.Triple]:
    """The service description of the endpoint at `base`/sparql and its dataset (VoID), as triples."""
    stats = dataset_statistics(store)
    base = base.rstrip("/")
    service, default_graph = ox.NamedNode(base + "/sparql"), ox.BlankNode("default")
    dataset = ox.NamedNode(dataset_iri(base))
    out: list[ox.Triple] = []

    def add(s, p: str, o) -> None:
        out.append(ox.Triple(s, ox.NamedNode(p), o))

    def node(iri: str) -> ox.NamedNode:
        return ox.NamedNode(iri)

    def number(n: int) -> ox.Literal:
        return ox.Literal(str(n), datatype=ox.NamedNode(PREFIXES["xsd"] + "integer"))

    add(service, RDF + "type", node(SD + "Service"))
    add(service, SD + "endpoint", service)
    add(service, SD + "supportedLanguage", node(SD + "SPARQL11Query"))
    if store.settings.writable:
        add(service, SD + "supportedLanguage", node(SD + "SPARQL11Update"))
    for feature in ("UnionDefaultGraph", "BasicFederatedQuery"):
        add(service, SD + "feature", node(SD + feature))
    for media_type in [*RESULT_FORMATS, *RDF_FORMATS]:
        add(service, SD + "resultFormat", node(FORMATS + FORMAT_IRIS[media_type]))
    add(service, SD + "defaultDataset", dataset)
    add(dataset, RDF + "type", node(SD + "Dataset"))
    add(dataset, RDF + "type", node(VOID + "Dataset"))
    add(dataset, VOID + "triples", number(stats.triples))
    add(dataset, VOID + "classes", number(len(stats.classes)))
    add(dataset, VOID + "properties", number(len(stats.properties)))
    add(dataset, VOID + "sparqlEndpoint", service)
    add(dataset, VOID + "dataDump", node(base + "/dump.nq.gz"))
    add(dataset, VOID + "uriSpace", ox.Literal(PREFIXES["id"]))
    add(dataset, VOID + "vocabulary", node(PREFIXES["sg"]))
    add(dataset, SD + "defaultGraph", default_graph)
    add(default_graph, RDF + "type", node(SD + "Graph"))
    add(default_graph, VOID + "triples", number(stats.default_graph_triples))
    for index, (graph, count) in enumerate(sorted(stats.graph_triples.items())):
        named, described = ox.BlankNode(f"named{index}"), ox.BlankNode(f"graph{index}")
        add(dataset, SD + "namedGraph", named)
        add(named, RDF + "type", node(SD + "NamedGraph"))
        add(named, SD + "name", node(graph))
        add(named, SD + "graph", described)
        add(described, RDF + "type", node(SD + "Graph"))
        add(described, VOID + "triples", number(count))
    for index, (cls, count) in enumerate(sorted(stats.classes.items())):
        partition = ox.BlankNode(f"class{index}")
        add(dataset, VOID + "classPartition", partition)
        add(partition, VOID + "class", node(cls))
        add(partition, VOID + "entities", number(count))
    for index, (prop, count) in enumerate(sorted(stats.properties.items())):
        partition = ox.BlankNode(f"property{index}")
        add(dataset, VOID + "propertyPartition", partition)
        add(partition, VOID + "property", node(prop))
        add(partition, VOID + "triples", number(count))
    for index, ((predicate, target), count) in enumerate(sorted(stats.linksets.items())):
        linkset = ox.BlankNode(f"linkset{index}")
        add(dataset, VOID + "subset", linkset)
        add(linkset, RDF + "type", node(VOID + "Linkset"))
        add(linkset, VOID + "subjectsTarget", dataset)
        add(linkset, VOID + "objectsTarget", node(target))
        add(linkset, VOID + "linkPredicate", node(predicate))
        add(linkset, VOID + "triples", number(count))
    return out
