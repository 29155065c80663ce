"""Format tables and content negotiation: which media types we serve, and which pyoxigraph format makes them.

Negotiation uses python-mimeparse (RFC 7231 q-values, wildcards, specificity) rather than hand parsing.
Query-string `format=` short names (json, csv, ttl, ...) override the Accept header, as YASGUI and
curl users expect.
"""

import functools
from dataclasses import dataclass

import mimeparse
import pyoxigraph as ox


@dataclass(frozen=True)
class Format:
    """A media type we answer with, its short name, and the Content-Type sent (exact, with charset)."""

    name: str
    media_type: str
    content_type: str


RESULT_FORMATS: dict[str, tuple[Format, ox.QueryResultsFormat]] = {
    f.media_type: (f, native)
    for f, native in (
        (
            Format("json", "application/sparql-results+json", "application/sparql-results+json"),
            ox.QueryResultsFormat.JSON,
        ),
        (
            Format("xml", "application/sparql-results+xml", "application/sparql-results+xml"),
            ox.QueryResultsFormat.XML,
        ),
        (Format("csv", "text/csv", "text/csv; charset=utf-8"), ox.QueryResultsFormat.CSV),
        (
            Format("tsv", "text/tab-separated-values", "text/tab-separated-values; charset=utf-8"),
            ox.QueryResultsFormat.TSV,
        ),
    )
}

RDF_FORMATS: dict[str, tuple[Format, ox.RdfFormat]] = {
    f.media_type: (f, native)
    for f, native in (
        (Format("ttl", "text/turtle", "text/turtle; charset=utf-8"), ox.RdfFormat.TURTLE),
        (Format("nt", "application/n-triples", "application/n-triples"), ox.RdfFormat.N_TRIPLES),
        (Format("jsonld", "application/ld+json", "application/ld+json"), ox.RdfFormat.JSON_LD),
        (Format("rdfxml", "application/rdf+xml", "application/rdf+xml"), ox.RdfFormat.RDF_XML),
        (Format("trig", "application/trig", "application/trig"), ox.RdfFormat.TRIG),
        (Format("nq", "application/n-quads", "application/n-quads"), ox.RdfFormat.N_QUADS),
    )
}

# Aliases that clients send: treated as the canonical type they stand for, per kind of answer (a client that
# accepts application/json gets SPARQL JSON for solutions and JSON-LD for a graph: JSON either way).
RESULT_ALIASES = {
    "application/json": "application/sparql-results+json",
    "application/xml": "application/sparql-results+xml",
}
RDF_ALIASES = {
    "application/json": "application/ld+json",
    "application/xml": "application/rdf+xml",
    "application/x-turtle": "text/turtle",
    "text/plain": "application/n-triples",
    "application/x-trig": "application/trig",
    "text/x-nquads": "application/n-quads",
}

# `format=` names, per kind of result: the same word may mean different types for solutions and for graphs
# (`xml`, `json`), as SPARQLWrapper and other clients send it.
RESULT_NAMES = {
    **{f.name: mt for mt, (f, _) in RESULT_FORMATS.items()},
    "srj": "application/sparql-results+json",
    "srx": "application/sparql-results+xml",
}
RDF_NAMES = {
    **{f.name: mt for mt, (f, _) in RDF_FORMATS.items()},
    "turtle": "text/turtle",
    "ntriples": "application/n-triples",
    "n-triples": "application/n-triples",
    "json-ld": "application/ld+json",
    "json": "application/ld+json",
    "xml": "application/rdf+xml",
    "rdf": "application/rdf+xml",
    "nquads": "application/n-quads",
    "n-quads": "application/n-quads",
}
SHORT_NAMES = {**RDF_NAMES, **RESULT_NAMES}
KNOWN_NAMES = {*SHORT_NAMES, *RESULT_ALIASES, *RDF_ALIASES, *RESULT_FORMATS, *RDF_FORMATS}


class NotAcceptable(ValueError):
    """Nothing the client accepts can represent this kind of result."""


class BadAccept(ValueError):
    """The Accept header or format parameter cannot be parsed."""


def negotiate(accept: str | None, format_param: str | None, offered: list[str], aliases: bool = True) -> str:
    """The media type to answer with among `offered` (first one is the default), or NotAcceptable.

    With `aliases`, types clients send for SPARQL results and RDF (application/json, text/plain, ...) count
    as the canonical type they stand for; the REST API turns that off, as its application/json is its own.
    """
    return _negotiated(accept, format_param, tuple(offered), aliases)


@functools.lru_cache(maxsize=512)
def _negotiated(accept: str | None, format_param: str | None, offered: tuple[str, ...], aliases: bool) -> str:
    """Clients send the same few Accept headers again and again; parsing one costs more than a page's query."""
    solutions = offered[0] in RESULT_FORMATS
    table = (RESULT_ALIASES if solutions else RDF_ALIASES) if aliases else {}
    if format_param:
        name = format_param.lower().strip()
        wanted = (RESULT_NAMES if solutions else RDF_NAMES).get(name) or table.get(name, name)
        if wanted in offered:
            return wanted
        if name not in KNOWN_NAMES:
            raise BadAccept(f"unknown format={format_param!r}; known: {', '.join(sorted(SHORT_NAMES))}")
    if not accept or not accept.strip():
        return offered[0]
    # mimeparse breaks ties in favour of the later candidate: list ours so the default comes last.
    candidates = [alias for alias, target in table.items() if target in offered] + list(offered[::-1])
    try:
        best = mimeparse.best_match(candidates, accept)
    except (mimeparse.MimeTypeParseException, ValueError) as err:
        raise BadAccept(f"malformed Accept header {accept!r}: {err}") from err
    if not best:
        raise NotAcceptable(f"none of {accept!r} can represent this result; acceptable: {', '.join(offered)}")
    return table.get(best, best)


RESULT_TYPES = list(RESULT_FORMATS)
RDF_TYPES = list(RDF_FORMATS)
