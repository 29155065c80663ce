"""Runs the W3C SPARQL 1.1 query-evaluation tests (tests/w3c/, a subset of w3c/rdf-tests) over HTTP.

Each test's data is loaded through the Graph Store Protocol with the admin token: qt:data into the default
graph, each qt:graphData into a graph named by its file IRI; queries are sent with `union-default-graph=false`
(our endpoint's default graph is otherwise the union of all graphs). Queries get `BASE <file IRI>` so relative
IRIs resolve as the test suite intends. Solutions are compared as multisets, blank nodes by position only,
numbers and booleans by value (Oxigraph stores literals by value, so "0"^^xsd:boolean comes back as "false");
CONSTRUCT results by graph isomorphism; CSV results cell by cell.
"""

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pyoxigraph as ox
import rdflib
from rdflib.collection import Collection
from rdflib.compare import isomorphic

ROOT = Path(__file__).parent / "w3c" / "sparql" / "sparql11"
FOLDERS = [
    "aggregates",
    "bind",
    "bindings",
    "cast",
    "construct",
    "csv-tsv-res",
    "exists",
    "functions",
    "grouping",
    "json-res",
    "negation",
    "project-expression",
    "property-path",
    "subquery",
]
MF = rdflib.Namespace("http://www.w3.org/2001/sw/DataAccess/tests/test-manifest#")
QT = rdflib.Namespace("http://www.w3.org/2001/sw/DataAccess/tests/test-query#")
RESULT_FORMATS = {
    ".srx": ox.QueryResultsFormat.XML,
    ".srj": ox.QueryResultsFormat.JSON,
    ".tsv": ox.QueryResultsFormat.TSV,
}


@dataclass
class W3CTest:
    name: str
    kind: str
    query: Path
    data: list[Path] = field(default_factory=list)
    graph_data: list[Path] = field(default_factory=list)
    result: Path | None = None


def load_tests(root: Path = ROOT) -> list[W3CTest]:
    tests = []
    for folder in FOLDERS:
        manifest = root / folder / "manifest.ttl"
        graph = rdflib.Graph().parse(manifest, format="turtle", publicID=manifest.as_uri())
        for entries in graph.objects(None, MF.entries):
            for entry in Collection(graph, entries):
                kind = str(graph.value(entry, rdflib.RDF.type)).rsplit("#", 1)[-1]
                kind = kind.removesuffix("11")
                if kind not in ("QueryEvaluationTest", "CSVResultFormatTest", "NegativeSyntaxTest"):
                    continue
                action = graph.value(entry, MF.action)
                path = lambda node: Path(rdflib.URIRef(node).replace("file://", ""))  # noqa: E731
                test = W3CTest(f"{folder}/{str(entry).rsplit('#', 1)[-1]}", kind, path(action))
                if kind != "NegativeSyntaxTest":
                    test.query = path(graph.value(action, QT.query))
                    test.data = [path(d) for d in graph.objects(action, QT.data)]
                    test.graph_data = [path(graph.value(g, QT.graph) or g) for g in graph.objects(action, QT.graphData)]
                    result = graph.value(entry, MF.result)
                    test.result = path(result) if result else None
                tests.append(test)
    return tests


def _ntriples(path: Path) -> bytes:
    """The file as N-Triples, parsed with its own IRI as base; lexical forms kept exactly (no normalization)."""
    return ox.serialize(ox.parse(path=path, base_iri=path.as_uri()), format=ox.RdfFormat.N_TRIPLES)


@dataclass(frozen=True)
class Endpoints:
    """Where a server takes queries, updates and Graph Store requests, and what queries need added."""

    query: str
    update: str
    store: str
    query_params: dict[str, str]


STANCEGRAPH = Endpoints("/sparql", "/sparql", "/store", {"union-default-graph": "false"})
OXIGRAPH = Endpoints("/query", "/update", "/store", {})


class Runner:
    def __init__(self, base: str, token: str = "", endpoints: Endpoints = STANCEGRAPH):
        self.base = base
        self.endpoints = endpoints
        self.http = httpx.Client(timeout=60, headers={"authorization": f"Bearer {token}"} if token else {})

    def run_all(self, tests: list[W3CTest]) -> dict[str, tuple[bool, str]]:
        return {test.name: self.run(test) for test in tests}

    def load(self, test: W3CTest) -> None:
        update = self.http.post(
            f"{self.base}{self.endpoints.update}",
            content="DROP ALL",
            headers={"content-type": "application/sparql-update"},
        )
        update.raise_for_status()
        graphs = [({"default": ""}, p) for p in test.data] + [({"graph": p.as_uri()}, p) for p in test.graph_data]
        for target, path in graphs:
            put = self.http.post(
                f"{self.base}{self.endpoints.store}",
                params=target,
                content=_ntriples(path),
                headers={"content-type": "application/n-triples"},
            )
            put.raise_for_status()

    def ask_endpoint(self, test: W3CTest, accept: str) -> httpx.Response:
        text = test.query.read_text(encoding="utf-8")
        if not re.search(r"^\s*BASE\s", text, re.IGNORECASE | re.MULTILINE):
            text = f"BASE <{test.query.as_uri()}>\n{text}"
        return self.http.post(
            f"{self.base}{self.endpoints.query}",
            params=self.endpoints.query_params,
            content=text,
            headers={"content-type": "application/sparql-query", "accept": accept},
        )

    def run(self, test: W3CTest) -> tuple[bool, str]:
        if test.kind == "NegativeSyntaxTest":
            response = self.ask_endpoint(test, "application/sparql-results+json")
            return response.status_code == 400, f"status {response.status_code}"
        self.load(test)
        suffix = test.result.suffix
        if suffix == ".csv":
            response = self.ask_endpoint(test, "text/csv")
            return _same_csv(response.text, test.result.read_text(encoding="utf-8")), response.text[:200]
        if suffix in RESULT_FORMATS:
            accept = "text/tab-separated-values" if suffix == ".tsv" else "application/sparql-results+json"
            response = self.ask_endpoint(test, accept)
            if response.status_code != 200:
                return False, f"{response.status_code}: {response.text[:200]}"
            fmt = ox.QueryResultsFormat.TSV if suffix == ".tsv" else ox.QueryResultsFormat.JSON
            ours = ox.parse_query_results(response.content, format=fmt)
            expected = ox.parse_query_results(path=test.result, format=RESULT_FORMATS[suffix])
            return _same_results(ours, expected), response.text[:200]
        response = self.ask_endpoint(test, "application/n-triples")
        if response.status_code != 200:
            return False, f"{response.status_code}: {response.text[:200]}"
        ours = rdflib.Graph().parse(data=response.content, format="nt")
        expected = rdflib.Graph().parse(
            test.result, format=rdflib.util.guess_format(str(test.result)) or "turtle", publicID=test.result.as_uri()
        )
        return isomorphic(ours, expected), response.text[:200]


XSD = "http://www.w3.org/2001/XMLSchema#"
NUMERIC = {
    XSD + t
    for t in (
        "double",
        "float",
        "decimal",
        "integer",
        "int",
        "long",
        "short",
        "byte",
        "nonNegativeInteger",
        "nonPositiveInteger",
        "negativeInteger",
        "positiveInteger",
        "unsignedInt",
        "unsignedLong",
        "unsignedShort",
        "unsignedByte",
    )
}


def _value(text: str) -> str:
    """A numeric lexical form as its value ('+1', '01', '1.0e0' -> '1.0'), anything else unchanged."""
    try:
        return repr(float(text))
    except ValueError:
        return text


def _term(term) -> str:
    """Blank nodes compare by position only; numbers by value (as result-set comparers such as Jena's do)."""
    if isinstance(term, ox.BlankNode):
        return "_:"
    if isinstance(term, ox.Literal) and term.datatype.value in NUMERIC:
        return f"{_value(term.value)}^^numeric"
    if isinstance(term, ox.Literal) and term.datatype.value == XSD + "boolean":
        return f"{term.value.strip() in ('1', 'true')}^^boolean"
    return str(term)


def _same_results(ours, expected) -> bool:
    if isinstance(expected, ox.QueryBoolean) or isinstance(ours, ox.QueryBoolean):
        return isinstance(ours, ox.QueryBoolean) and bool(ours) == bool(expected)

    def bag(solutions) -> Counter:
        names = [v.value for v in solutions.variables]
        return Counter(frozenset((n, _term(s[n])) for n in names if s[n] is not None) for s in solutions)

    return bag(ours) == bag(expected)


def _same_csv(ours: str, expected: str) -> bool:
    """Same rows in any order; columns matched by header name (SELECT * leaves their order open)."""

    def table(text: str) -> tuple[list[str], Counter]:
        rows = list(csv.reader(io.StringIO(text)))
        header = rows[0]
        body = [{h: _value(re.sub(r"^_:.*", "_:", v)) for h, v in zip(header, row, strict=False)} for row in rows[1:]]
        return sorted(header), Counter(tuple(sorted(r.items())) for r in body)

    return table(ours) == table(expected)
