"""The JSON-LD context (ontology/context.jsonld) and compaction with it, so JSON-LD output reads like JSON.

The context is generated from the ontology - one term per class and property, object properties typed
`@id`, dated properties typed `xsd:date` - so it cannot drift from it; `stancegraph context` rewrites the
file and a test checks the committed one is current.
"""

import functools
import json
from pathlib import Path

import pyoxigraph as ox
import rdflib

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


def compact(data: bytes, format: str, context: dict, context_url: str | None = None) -> bytes:
    """N-Triples or N-Quads as compact JSON-LD with our context (rdflib: for pages, exports and single graphs).

    With `context_url` the output refers to the published context instead of repeating it.
    """
    graph = rdflib.Dataset() if format == "nquads" else rdflib.Graph()
    graph.parse(data=data, format=format)
    text = graph.serialize(format="json-ld", context=context["@context"], auto_compact=True)
    if context_url is None:
        return text.encode()
    document = json.loads(text)
    document["@context"] = context_url
    return json.dumps(document, ensure_ascii=False, indent=2).encode()


@functools.lru_cache(maxsize=4)
def load_context(path: Path) -> dict:
    """The context file, read once per process (it changes only with the ontology, by `stancegraph context`)."""
    return json.loads(path.read_text(encoding="utf-8"))
