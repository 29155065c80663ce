"""Labels read from an embedded store's index are what the label query answers (English or untagged first)."""

import io

import pyoxigraph as ox

from app.labels import MOST_LABELS, labels_from_index, labels_query
from app.store import Store

RDFS_LABEL = ox.NamedNode("http://www.w3.org/2000/01/rdf-schema#label")
PREF_LABEL = ox.NamedNode("http://www.w3.org/2004/02/skos/core#prefLabel")


def _queried(store: ox.Store, iris: set[str]) -> dict[str, str]:
    rows = store.query(labels_query(iris), use_default_graph_as_union=True)
    return {row["iri"].value: row["name"].value for row in rows}


def test_every_label_of_the_corpus_read_from_the_index_is_the_querys(store):
    dumped = io.BytesIO()
    store.dump(dumped, ox.RdfFormat.N_QUADS)
    engine = ox.Store()
    engine.load(dumped.getvalue(), format=ox.RdfFormat.N_QUADS)
    iris = {q.subject.value for q in engine if isinstance(q.subject, ox.NamedNode)}
    iris |= {q.object.value for q in engine if isinstance(q.object, ox.NamedNode)}
    read = labels_from_index(engine, iris)
    assert read == _queried(engine, iris) and len(read) > 100
    assert store.labels(iris) == Store.labels(store, iris) == read  # the backend's own way, and the query
    assert store.labels(set()) == Store.labels(store, set()) == {}  # nothing asked: no query


def test_english_or_untagged_first_then_any_label_over_every_graph():
    engine = ox.Store()
    graph, other = ox.NamedNode("x:g"), ox.NamedNode("x:h")
    facts = [
        ("x:french-then-english", RDFS_LABEL, ox.Literal("Russie", language="fr"), graph),
        ("x:french-then-english", PREF_LABEL, ox.Literal("Russia", language="en"), other),
        ("x:french-only", RDFS_LABEL, ox.Literal("Otan", language="fr"), graph),
        ("x:untagged", PREF_LABEL, ox.Literal("plain"), graph),
        ("x:typed", RDFS_LABEL, ox.Literal("5", datatype=ox.NamedNode("http://www.w3.org/2001/XMLSchema#int")), graph),
        ("x:iri", RDFS_LABEL, ox.NamedNode("x:a-label"), graph),
        ("x:twice", RDFS_LABEL, ox.Literal("same"), graph),
        ("x:twice", RDFS_LABEL, ox.Literal("same"), other),
        ("x:default", RDFS_LABEL, ox.Literal("in the default graph", language="en"), ox.DefaultGraph()),
    ]
    for subject, predicate, label, where in facts:
        engine.add(ox.Quad(ox.NamedNode(subject), predicate, label, where))
    iris = {subject for subject, *_ in facts} | {"x:unlabelled"}
    read = labels_from_index(engine, iris)
    assert read == _queried(engine, iris)
    assert read["x:french-then-english"] == "Russia" and read["x:french-only"] == "Otan"
    assert read["x:iri"] == "x:a-label" and "x:unlabelled" not in read


def test_an_iri_with_too_many_labels_none_english_is_left_to_the_query():
    """The index read stays bounded by the IRIs asked; past MOST_LABELS labels at one IRI it gives up."""
    engine = ox.Store()
    many = ox.NamedNode("x:many")
    for n in range(MOST_LABELS + 1):
        engine.add(ox.Quad(many, RDFS_LABEL, ox.Literal(f"name {n}", language="de")))
    assert labels_from_index(engine, {"x:many"}) is None
    assert set(_queried(engine, {"x:many"})) == {"x:many"}


def test_labels_asked_a_batch_at_a_time_are_those_asked_at_once(store, monkeypatch):
    """A view names thousands of IRIs: the label query names LABELS_PER_QUERY of them at a time."""
    rows = store.select_values("SELECT DISTINCT ?iri WHERE { ?iri <http://www.w3.org/2000/01/rdf-schema#label> ?l }")
    iris = {row["iri"] for row in rows if not row["iri"].startswith("_:")} | {"x:unlabelled"}
    whole = Store.labels(store, iris)
    asked = []
    select = store.select

    def counted(query: str, **dataset):
        asked.append(query)
        return select(query, **dataset)

    monkeypatch.setattr(store, "select", counted)
    monkeypatch.setattr("app.store.LABELS_PER_QUERY", 7)
    assert Store.labels(store, iris) == whole and len(whole) == len(iris) - 1 > 100
    assert len(asked) == -(-len(iris) // 7)
