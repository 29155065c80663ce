"""The IRIs the code relies on, in one place, so that no module spells a namespace twice."""

SG = "https://stancegraph.org/ontology#"
ID = "https://stancegraph.org/id/"
OA = "http://www.w3.org/ns/oa#"
PROV = "http://www.w3.org/ns/prov#"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
SKOS = "http://www.w3.org/2004/02/skos/core#"
XSD = "http://www.w3.org/2001/XMLSchema#"
DCTERMS = "http://purl.org/dc/terms/"

GRAPH = ID + "graph/"
ONTOLOGY_GRAPH = GRAPH + "ontology"
ENTITIES_GRAPH = GRAPH + "entities"
LINKS_GRAPH = GRAPH + "links"
DERIVED_GRAPH = GRAPH + "derived"
IMPORT_GRAPHS = GRAPH + "import/"  # each imported extract in its own graph below it

PREFIXES = {
    "sg": SG,
    "id": ID,
    "doc": ID + "doc/",
    "pol": ID + "polarity/",
    "oa": OA,
    "prov": PROV,
    "rdf": RDF,
    "rdfs": RDFS,
    "skos": SKOS,
    "xsd": XSD,
    "dcterms": DCTERMS,
    "owl": "http://www.w3.org/2002/07/owl#",
    "wd": "http://www.wikidata.org/entity/",
    "dbr": "http://dbpedia.org/resource/",
}


def document_graph(doc_id: str) -> str:
    """The named graph that holds everything encoded from one source document."""
    return GRAPH + doc_id


def document_iri(doc_id: str) -> str:
    return ID + "doc/" + doc_id


def sparql_prologue() -> str:
    """PREFIX lines for queries written in code (rules and .rq files declare their own)."""
    return "".join(f"PREFIX {p}: <{iri}>\n" for p, iri in PREFIXES.items())


def compact(iri: str) -> str:
    """`doc:000_dcc2f28bf5a60eb8` for the full IRI: the longest known namespace wins."""
    matches = [(len(ns), p) for p, ns in PREFIXES.items() if iri.startswith(ns) and len(iri) > len(ns)]
    if not matches:
        return iri
    length, prefix = max(matches)
    return f"{prefix}:{iri[length:]}"
