"""The JSON-LD context (ontology/context.jsonld) and compaction with it, so JSON-LD output reads like JSON.

The context is generated from the ontology - one term per class and property, object properties typed
`@id`, dated properties typed `xsd:date` - so it cannot drift from it; `stancegraph context` rewrites the
file and a test checks the committed one is current.
"""

import functools
import io
import itertools
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

import pyoxigraph as ox

from app.namespaces import DCTERMS, OA, PREFIXES, RDFS, SG, SKOS, XSD

OWL = PREFIXES["owl"]
TYPE = ox.NamedNode(PREFIXES["rdf"] + "type")
RANGE = ox.NamedNode(RDFS + "range")

# Terms from other vocabularies that our data uses everywhere (the rest stay prefixed names).
EXTERNAL_TERMS: dict[str, tuple[str, bool]] = {
    "label": (RDFS + "label", False),
    "comment": (RDFS + "comment", False),
    "exactMatch": (SKOS + "exactMatch", True),
    "closeMatch": (SKOS + "closeMatch", True),
    "prefLabel": (SKOS + "prefLabel", False),
    "title": (DCTERMS + "title", False),
    "publisher": (DCTERMS + "publisher", True),
    "hasTarget": (OA + "hasTarget", True),
    "hasSource": (OA + "hasSource", True),
    "hasSelector": (OA + "hasSelector", True),
    "hasBody": (OA + "hasBody", True),
    "exact": (OA + "exact", False),
    "prefix": (OA + "prefix", False),
    "suffix": (OA + "suffix", False),
    "start": (OA + "start", False),
    "end": (OA + "end", False),
}


def generate_context(ontology_files: list[Path]) -> dict:
    """The @context for the classes and properties the ontology declares."""
    store = ox.Store()
    for path in ontology_files:
        store.load(path=path, format=ox.RdfFormat.TURTLE)
    context: dict[str, object] = dict(PREFIXES)
    for name, (iri, is_link) in EXTERNAL_TERMS.items():
        context[name] = _term(iri, "@id" if is_link else None)
    for quad in sorted(store.quads_for_pattern(None, TYPE, None), key=lambda q: q.subject.value):
        subject, kind = quad.subject, quad.object.value
        if not isinstance(subject, ox.NamedNode) or not subject.value.startswith(SG):
            continue
        name = subject.value[len(SG) :]
        if kind == OWL + "ObjectProperty":
            context[name] = _term(subject.value, "@id")
        elif kind == OWL + "DatatypeProperty":
            ranges = [q.object.value for q in store.quads_for_pattern(subject, RANGE, None)]
            context[name] = _term(subject.value, ranges[0] if ranges and ranges[0].startswith(XSD) else None)
        elif kind == OWL + "Class":
            context[name] = "sg:" + name
    return {"@context": context}


def _term(iri: str, type_: str | None) -> dict[str, str] | str:
    short = _prefixed(iri)
    if type_ is None:
        return short
    return {"@id": short, "@type": type_ if type_ == "@id" else _prefixed(type_)}


def _prefixed(iri: str) -> str:
    for prefix, namespace in PREFIXES.items():
        if iri.startswith(namespace) and prefix != "id":
            return f"{prefix}:{iri[len(namespace) :]}"
    return iri


def context_text(context: dict) -> str:
    """The file's exact text (stable key order, so regenerating it gives a clean diff)."""
    return json.dumps(context, indent=2, ensure_ascii=False) + "\n"


class Compactor:
    """Writes RDF terms compactly with one context of the shape `generate_context` makes: prefixes, and terms
    that are plain or typed `@id` or with one datatype (no containers, no languages, no scoped contexts).

    For such a context, compacting is choosing a key and a value form per triple, so it streams: rdflib's
    serializer loses every blank node reached through an `@id`-typed term (each quote's target and selector)
    and needs minutes for a large dataset; a general JSON-LD processor would be as slow.
    """

    def __init__(self, context: dict) -> None:
        definitions: dict = context["@context"]
        prefixes = {
            name: iri for name, iri in definitions.items() if isinstance(iri, str) and iri.endswith(_GEN_DELIMS)
        }
        self.names = set(definitions)
        self.namespaces = sorted(((iri, name) for name, iri in prefixes.items()), key=lambda pair: -len(pair[0]))
        self.terms: dict[str, tuple[str, str | None]] = {}
        for name, definition in definitions.items():
            if name in prefixes:
                continue
            simple = isinstance(definition, str)
            iri, kind = (definition, None) if simple else (definition["@id"], definition.get("@type"))
            coercion = kind if kind in (None, "@id") else _expand(kind, prefixes)
            self.terms.setdefault(_expand(iri, prefixes), (name, coercion))
        self.iri = functools.lru_cache(maxsize=1 << 16)(self._iri)

    def _iri(self, iri: str, vocab: bool) -> str:
        """A term (in vocabulary position: keys, types), else prefix:suffix, else the IRI itself."""
        term = self.terms.get(iri) if vocab else None
        if term is not None and term[1] is None:
            return term[0]
        for namespace, prefix in self.namespaces:
            if iri.startswith(namespace) and len(iri) > len(namespace) and not iri.startswith("//", len(namespace)):
                return f"{prefix}:{iri[len(namespace) :]}"
        if iri.split(":", 1)[0] in self.names:
            raise ValueError(f"<{iri}> cannot be written in JSON-LD with this context: it reads as a term's IRI")
        return iri

    def node(self, term: ox.NamedNode | ox.BlankNode) -> str:
        """The `@id` of a subject, graph or object."""
        if isinstance(term, ox.BlankNode):
            return f"_:{term.value}"
        if isinstance(term, ox.NamedNode):
            return self.iri(term.value, False)
        raise ValueError("JSON-LD cannot hold RDF 1.2 triple terms: export N-Quads or TriG instead")

    def entry(self, predicate: str, object: ox.NamedNode | ox.BlankNode | ox.Literal) -> tuple[str, object]:
        """The key and value that stand for one triple's predicate and object."""
        resource = isinstance(object, (ox.NamedNode, ox.BlankNode))
        if predicate == _RDF_TYPE and resource:
            return "@type", self.node(object) if isinstance(object, ox.BlankNode) else self.iri(object.value, True)
        name, coercion = self.terms.get(predicate, ("", None))
        if coercion == "@id" and resource:
            return name, self.node(object)
        if coercion not in (None, "@id") and isinstance(object, ox.Literal) and object.datatype.value == coercion:
            return name, object.value
        if name and coercion is None:
            return name, self.value(object)
        return self.iri(predicate, False), self.value(object)  # prefix:suffix, which carries no coercion

    def value(self, object: ox.NamedNode | ox.BlankNode | ox.Literal) -> object:
        """An object in expanded form, shortened where that means the same (a plain string, a compact IRI)."""
        if not isinstance(object, ox.Literal):
            return {"@id": self.node(object)}
        if object.language is not None:
            value = {"@value": object.value, "@language": object.language}
            return value | {"@direction": object.direction} if object.direction else value
        if object.datatype.value == _XSD_STRING:
            return object.value
        return {"@value": object.value, "@type": self.iri(object.datatype.value, True)}


_GEN_DELIMS = tuple(":/?#[]@")
_RDF_TYPE = PREFIXES["rdf"] + "type"
_XSD_STRING = XSD + "string"


def _expand(value: str, prefixes: dict[str, str]) -> str:
    prefix, _, suffix = value.partition(":")
    return prefixes[prefix] + suffix if prefix in prefixes else value


def write_compact(
    quads: Iterable[ox.Quad], out: BinaryIO, context: dict, context_ref: str | dict, indent: int | None = None
) -> None:
    """Quads as one compact JSON-LD document, written as they come (one node object per subject and graph).

    A lone node of the default graph is the document itself (a resource's description); otherwise the
    document's `@graph` holds the default graph's nodes and one graph object per named graph.
    """
    nodes = _node_objects(quads, Compactor(context))
    head = list(itertools.islice(nodes, 2))
    if len(head) < 2 and all(graph is None for graph, _ in head):
        body = head[0][1] if head else {"@graph": []}
        out.write(json.dumps({"@context": context_ref} | body, ensure_ascii=False, indent=indent).encode())
        return
    context_text = json.dumps(context_ref, ensure_ascii=False, indent=2)  # read once, so laid out for reading
    out.write(b'{"@context": ' + context_text.encode() + b',\n"@graph": [')
    open_graph: str | None = None
    for count, (graph, node) in enumerate(itertools.chain(head, nodes)):
        if graph != open_graph and open_graph is not None:
            out.write(b"]}")
        separator = b"\n" if count == 0 else b",\n"
        if graph != open_graph and graph is not None:
            out.write(separator + b'{"@id": ' + json.dumps(graph, ensure_ascii=False).encode() + b', "@graph": [\n')
            separator = b""
        out.write(separator + json.dumps(node, ensure_ascii=False, indent=indent).encode())
        open_graph = graph
    out.write(b"]}\n]}\n" if open_graph is not None else b"\n]}\n")


def _node_objects(quads: Iterable[ox.Quad], compactor: Compactor) -> Iterator[tuple[str | None, dict]]:
    """(graph `@id` or None for the default graph, node object): one per subject of each run of quads in one
    graph, sorted by `@id` (the engine writes a graph's quads predicate by predicate, not subject by subject)."""
    graph: ox.NamedNode | ox.BlankNode | ox.DefaultGraph | None = None
    subjects: dict[ox.NamedNode | ox.BlankNode, dict[str, list]] = {}
    for quad in quads:
        if quad.graph_name != graph:
            yield from _graph_run(graph, subjects, compactor)
            graph, subjects = quad.graph_name, {}
        entries = subjects.get(quad.subject)
        if entries is None:
            entries = subjects[quad.subject] = {}
        key, value = compactor.entry(quad.predicate.value, quad.object)
        entries.setdefault(key, []).append(value)
    yield from _graph_run(graph, subjects, compactor)


def _graph_run(
    graph: ox.NamedNode | ox.BlankNode | ox.DefaultGraph | None, subjects: dict, compactor: Compactor
) -> Iterator[tuple[str | None, dict]]:
    name = None if graph is None or isinstance(graph, ox.DefaultGraph) else compactor.node(graph)
    nodes = sorted((compactor.node(subject), entries) for subject, entries in subjects.items())
    for subject, entries in nodes:
        yield name, _node_object(subject, entries)


def _node_object(subject: str, entries: dict[str, list]) -> dict:
    ordered = sorted(entries.items())
    return {"@id": subject} | {key: values[0] if len(values) == 1 else values for key, values in ordered}


def compact(data: bytes, context: dict, context_url: str) -> bytes:
    """N-Triples (a resource's description) as compact JSON-LD that refers to the published context."""
    out = io.BytesIO()
    write_compact(ox.parse(data, format=ox.RdfFormat.N_TRIPLES), out, context, context_url, indent=2)
    return out.getvalue()


@functools.lru_cache(maxsize=4)
def load_context(path: Path) -> dict:
    """The context file, read once per process (it changes only with the ontology, by `stancegraph context`)."""
    return json.loads(path.read_text(encoding="utf-8"))
