"""Answers cut at the row limit as the engine writes them: in every format exactly the first rows, counted right.

JSON is the delicate one: solutions are found without reading every string, so literals that look like
JSON structure (`,{"`, `,{}`, `[{`, quotes, backslashes), long enough to straddle the engine's 8 KB chunks,
and empty solutions are what the cases are made of.
"""

import contextlib
import csv
import io
import os

import pyoxigraph as ox
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.bounded_results import AnswerTooLarge, Enough, JsonSink
from app.workers import QueryJob, execute

EXAMPLES = int(os.environ.get("STANCEGRAPH_PROPERTY_EXAMPLES", "60"))
CASES = settings(max_examples=EXAMPLES, deadline=None, derandomize=True)

FORMATS = {
    "application/sparql-results+json": ox.QueryResultsFormat.JSON,
    "application/sparql-results+xml": ox.QueryResultsFormat.XML,
    "text/tab-separated-values": ox.QueryResultsFormat.TSV,
    "text/csv": ox.QueryResultsFormat.CSV,
}
PIECES = ['"', "\\", ",", "{", "}", "[", "]", ":", ',{"', ",{}", '[{"a', "<result>", "\n", "\t", "é", "x"]
ENDINGS = ["", ",{", "[{", ",", "[", "\\"]  # a literal that ends so is followed by its closing quote: `,{",`
tricky = st.builds(
    lambda pieces, end: "".join(pieces) + end, st.lists(st.sampled_from(PIECES), max_size=12), st.sampled_from(ENDINGS)
)
long_text = st.builds(lambda piece, times: piece * times, st.sampled_from(PIECES), st.integers(1000, 9000))
literal = st.one_of(tricky, long_text)
P = ox.NamedNode("http://example.org/p")


def store_of(values: list[str | None]) -> ox.Store:
    """Subject i has the i-th value (or none: an OPTIONAL that binds nothing gives an empty solution)."""
    store = ox.Store()
    for i, value in enumerate(values):
        subject = ox.NamedNode(f"http://example.org/s{i:04d}")
        store.add(ox.Quad(subject, ox.NamedNode("http://example.org/in"), ox.Literal("yes")))
        if value is not None:
            store.add(ox.Quad(subject, P, ox.Literal(value)))
    return store


def value_of(term: ox.Literal | None) -> str:
    return "" if term is None else term.value


def values_in(body: bytes, media_type: str) -> list[str]:
    """The column's values as a client reads them (CSV with Python's csv: the engine will not parse it)."""
    if media_type == "text/csv":
        return [row[0] if row else "" for row in csv.reader(io.StringIO(body.decode(), newline=""))][1:]
    return [value_of(solution["o"]) for solution in ox.parse_query_results(body, format=FORMATS[media_type])]


ROWS = "SELECT ?o WHERE { ?s <http://example.org/in> ?in OPTIONAL { ?s <http://example.org/p> ?o } } ORDER BY ?s"


@CASES
@given(
    values=st.lists(st.one_of(st.none(), literal), min_size=0, max_size=12),
    limit=st.one_of(st.none(), st.integers(0, 13)),
    media_type=st.sampled_from(sorted(FORMATS)),
)
def test_every_format_keeps_exactly_the_first_rows_up_to_the_limit(values, limit, media_type):
    store = store_of(values)
    outcome = execute(store, QueryJob(ROWS, union_default_graph=False, result_format=media_type, max_rows=limit))
    expected = [value_of(solution["o"]) for solution in store.query(ROWS)]
    kept = expected if limit is None else expected[:limit]
    assert values_in(outcome.body, media_type) == kept
    assert outcome.rows == len(kept)
    assert outcome.truncated == (len(kept) < len(expected))


GRAPH_FORMATS = {
    "application/n-triples": ox.RdfFormat.N_TRIPLES,
    "text/turtle": ox.RdfFormat.TURTLE,
    "application/rdf+xml": ox.RdfFormat.RDF_XML,
    "application/ld+json": ox.RdfFormat.JSON_LD,
}


@CASES
@given(
    values=st.lists(literal, min_size=1, max_size=8),
    limit=st.one_of(st.none(), st.integers(0, 9)),
    media_type=st.sampled_from(sorted(GRAPH_FORMATS)),
)
def test_graphs_keep_exactly_the_first_triples_up_to_the_limit(values, limit, media_type):
    """N-Triples is cut as the engine writes it, the other formats as the engine hands out the triples: in
    each, the first triples of the N-Triples answer, as many as the limit, counted right."""
    store = store_of(values)
    construct = "CONSTRUCT { ?s <http://example.org/p> ?o } WHERE { ?s <http://example.org/p> ?o } ORDER BY ?s"
    outcome = execute(store, QueryJob(construct, union_default_graph=False, graph_format=media_type, max_rows=limit))
    triples = list(ox.parse(outcome.body, format=GRAPH_FORMATS[media_type]))
    expected = len(values) if limit is None else min(limit, len(values))
    assert len(triples) == outcome.rows == expected
    assert outcome.truncated == (expected < len(values))
    whole = execute(store, QueryJob(construct, union_default_graph=False, graph_format="application/n-triples"))
    first = list(ox.parse(whole.body, format=ox.RdfFormat.N_TRIPLES))[:expected]
    assert {str(t.triple) for t in triples} == {str(t.triple) for t in first}


def test_empty_solutions_are_counted_in_json():
    outcome = execute(
        ox.Store(),
        QueryJob(
            "SELECT ?x WHERE { VALUES ?x { UNDEF UNDEF UNDEF } }", result_format="application/sparql-results+json"
        ),
    )
    assert outcome.body.endswith(b'"bindings":[{},{},{}]}}') and outcome.rows == 3


def test_a_huge_answer_is_not_written_beyond_the_row_limit():
    """The sink stops the engine right after the chunk that passes the limit: a ten-row page of a
    200,000-row answer costs a chunk or two, not the whole answer."""
    store = store_of([f"value {i}" for i in range(200_000)])
    sink = JsonSink(10)
    with pytest.raises(Enough):
        store.query("SELECT ?s ?o WHERE { ?s <http://example.org/p> ?o }").serialize(
            sink, format=ox.QueryResultsFormat.JSON
        )
    body, rows, truncated = sink.document()
    assert len(sink.data) < 20_000 and rows == 10 and truncated
    assert len(list(ox.parse_query_results(body, format=ox.QueryResultsFormat.JSON))) == 10


@pytest.mark.parametrize("media_type", sorted(FORMATS))
def test_rows_are_counted_wherever_the_chunks_split_them(media_type):
    """The engine writes 8 KB chunks: a first value of every length around 8 KB puts each byte of the next
    row's start (`,{"o`, `<result>`, a line end) on the boundary in turn."""
    for length in range(7_900, 8_200):
        store = store_of(["x" * length, "y,{", None, ',{",'])
        for limit in (None, 1, 2, 3):
            outcome = execute(
                store, QueryJob(ROWS, union_default_graph=False, result_format=media_type, max_rows=limit)
            )
            expected = ["x" * length, "y,{", "", ',{",'][:limit]
            assert (outcome.rows, values_in(outcome.body, media_type)) == (len(expected), expected), (length, limit)


@pytest.mark.parametrize("media_type", [*FORMATS, "application/n-triples", "text/turtle"])
def test_an_answer_past_its_byte_limit_is_refused_whole(media_type):
    """Lookups answered in the server process are limited in bytes as well as rows: a row may hold a long
    literal. Past the limit the engine is stopped and the caller told, not sent a cut answer."""
    store = store_of(["x" * 5000, "y" * 5000, "z" * 5000])
    kind = {"result_format": media_type} if media_type in FORMATS else {"graph_format": media_type}
    query = "SELECT ?s ?o WHERE { ?s <http://example.org/p> ?o }"
    if "result_format" not in kind:
        query = "CONSTRUCT WHERE { ?s <http://example.org/p> ?o }"
    with pytest.raises(AnswerTooLarge):
        execute(store, QueryJob(query, max_bytes=12_000, **kind))
    whole = execute(store, QueryJob(query, max_bytes=20_000, **kind))
    assert whole.rows == 3 and not whole.truncated and len(whole.body) <= 20_000


def test_json_answers_of_many_chunks_are_cut_exactly_at_any_row():
    """Solutions counted by their anchors are found again only in the chunk that is cut: a cut anywhere in a
    long answer keeps exactly the rows before it, with literals that look like the array's start (`[{`), an
    anchor (`,{"o`) or an empty solution (`,{}`) in the later chunks."""
    lookalikes = ["x[{", '[{"o', ',{"o', "y,{}", "[{}", ',{",', None]
    values = [lookalikes[i % 7] if i % 50 == 49 else f"v{i}" for i in range(3_000)]
    store = store_of(values)
    expected = [value_of(solution["o"]) for solution in store.query(ROWS)]
    for limit in (1, 149, 150, 151, 999, 1_000, 1_777, 2_998, 2_999, 3_000, None):
        outcome = execute(
            store,
            QueryJob(ROWS, union_default_graph=False, result_format="application/sparql-results+json", max_rows=limit),
        )
        kept = expected[:limit]
        assert (outcome.rows, outcome.truncated) == (len(kept), len(kept) < len(expected)), limit
        assert values_in(outcome.body, "application/sparql-results+json") == kept, limit


@CASES
@given(
    values=st.lists(st.one_of(st.none(), tricky), min_size=0, max_size=30),
    sizes=st.lists(st.integers(1, 64), min_size=1, max_size=8),
    limit=st.one_of(st.none(), st.integers(0, 31)),
)
def test_json_rows_are_counted_and_cut_however_the_writer_chunks_them(values, sizes, limit):
    """The sink reads whatever chunks it is given: anchors, empty solutions and the array's start split at
    any byte, in chunks far smaller than the engine's."""
    store = store_of(values)
    body = store.query(ROWS).serialize(format=ox.QueryResultsFormat.JSON)
    sink, at, turn = JsonSink(limit), 0, 0
    with contextlib.suppress(Enough):
        while at < len(body):
            size = sizes[turn % len(sizes)]
            sink.write(body[at : at + size])
            at, turn = at + size, turn + 1
    document, rows, truncated = sink.document()
    expected = [value_of(solution["o"]) for solution in store.query(ROWS)]
    kept = expected if limit is None else expected[:limit]
    assert values_in(document, "application/sparql-results+json") == kept
    assert (rows, truncated) == (len(kept), len(kept) < len(expected))
