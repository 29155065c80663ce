"""Format tables and content negotiation: which media types we serve, and which pyoxigraph format makes them.

Negotiation uses python-mimeparse (RFC 7231 q-values, wildcards, specificity) rather than hand parsing.
Query-string `format=` short names (json, csv, ttl, ...) override the Accept header, as YASGUI and
curl users expect.
"""

from dataclasses import dataclass

import mimeparse
import pyoxigraph as ox


@dataclass(frozen=True)
class Format:
    """A media type we answer with, its short name, and the Content-Type sent (exact, with charset)."""

    name: str
    media_type: str
    content_type: str
    extension: str


RESULT_FORMATS: dict[str, tuple[Format, ox.QueryResultsFormat]] = {
    f.media_type: (f, native)
    for f, native in (
        (
            Format("json", "application/sparql-results+json", "application/sparql-results+json", "srj"),
            ox.QueryResultsFormat.JSON,
        ),
        (
            Format("xml", "application/sparql-results+xml", "application/sparql-results+xml", "srx"),
            ox.QueryResultsFormat.XML,
        ),
        (Format("csv", "text/csv", "text/csv; charset=utf-8", "csv"), ox.QueryResultsFormat.CSV),
        (
            Format("tsv", "text/tab-separated-values", "text/tab-separated-values; charset=utf-8", "tsv"),
            ox.QueryResultsFormat.TSV,
        ),
    )
}

RDF_FORMATS: dict[str, tuple[Format, ox.RdfFormat]] = {
    f.media_type: (f, native)
    for f, native in (
        (Format("ttl", "text/turtle", "text/turtle; charset=utf-8", "ttl"), ox.RdfFormat.TURTLE),
        (Format("nt", "application/n-triples", "application/n-triples", "nt"), ox.RdfFormat.N_TRIPLES),
        (Format("jsonld", "application/ld+json", "application/ld+json", "jsonld"), ox.RdfFormat.JSON_LD),
        (Format("rdfxml", "application/rdf+xml", "application/rdf+xml", "rdf"), ox.RdfFormat.RDF_XML),
        (Format("trig", "application/trig", "application/trig", "trig"), ox.RdfFormat.TRIG),
        (Format("nq", "application/n-quads", "application/n-quads", "nq"), ox.RdfFormat.N_QUADS),
    )
}

# Aliases that clients send: treated as the canonical type they stand for.
ALIASES = {
    "application/json": "application/sparql-results+json",
    "application/x-turtle": "text/turtle",
    "text/plain": "application/n-triples",
    "application/xml": "application/sparql-results+xml",
    "application/x-trig": "application/trig",
    "text/x-nquads": "application/n-quads",
}

SHORT_NAMES = {f.name: mt for mt, (f, _) in {**RESULT_FORMATS, **RDF_FORMATS}.items()}


class NotAcceptable(ValueError):
    """Nothing the client accepts can represent this kind of result."""


class BadAccept(ValueError):
    """The Accept header or format parameter cannot be parsed."""


def negotiate(accept: str | None, format_param: str | None, offered: list[str]) -> str:
    """The media type to answer with among `offered` (first one is the default), or NotAcceptable."""
    if format_param:
        wanted = SHORT_NAMES.get(format_param.lower(), ALIASES.get(format_param.lower(), format_param.lower()))
        if wanted in offered:
            return wanted
        raise NotAcceptable(f"format={format_param!r} cannot represent this result; use one of {_names(offered)}")
    if not accept or not accept.strip():
        return offered[0]
    # mimeparse breaks ties in favour of the later candidate: list ours so the default comes last.
    candidates = [alias for alias, target in ALIASES.items() if target in offered] + offered[::-1]
    try:
        best = mimeparse.best_match(candidates, accept)
    except (mimeparse.MimeTypeParseException, ValueError) as err:
        raise BadAccept(f"malformed Accept header {accept!r}: {err}") from err
    if not best:
        raise NotAcceptable(f"none of {accept!r} can represent this result; acceptable: {', '.join(offered)}")
    return ALIASES.get(best, best)


def _names(offered: list[str]) -> str:
    return ", ".join(sorted({SHORT_NAMES_BY_TYPE[mt] for mt in offered if mt in SHORT_NAMES_BY_TYPE}))


SHORT_NAMES_BY_TYPE = {mt: name for name, mt in SHORT_NAMES.items()}
RESULT_TYPES = list(RESULT_FORMATS)
RDF_TYPES = list(RDF_FORMATS)
