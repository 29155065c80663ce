"""The Python client for notebooks: a question in, a pandas DataFrame or a networkx graph out.

    from app.client import Stancegraph
    sg = Stancegraph.embedded()                       # data/ in this process: no server needed
    sg = Stancegraph.connect("http://127.0.0.1:8000")  # or a running server
    sg.query("stances-of-actor", actor="id:Russia")    # DataFrame: IRIs and labels side by side, typed columns
    sg.draw("preconditions")                           # a matplotlib figure (interactive=True: a widget)

Both modes answer through the same functions as the HTTP API (named-query documents, node-link views, SPARQL
JSON results), so a frame or a graph is the same whichever way it was obtained. Errors carry the server's
message; nothing is turned into an empty frame.
"""

import datetime
import json
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import networkx as nx
import pandas as pd
import pyoxigraph as ox
import rdflib

from app.graph_formats import COLOURS, draw, node_colours, node_link_json
from app.graph_views import RESOURCE_VIEWS
from app.labels import labels_query
from app.named_queries import (
    ParameterError,
    answer,
    answer_document,
    calendar_date,
    load_named_queries,
)
from app.namespaces import XSD

SPARQL_JSON = "application/sparql-results+json"
N_TRIPLES = "application/n-triples"
PAGE = 10_000  # rows per request when a whole named-query answer is fetched
LABEL_BATCH = 500


class StancegraphError(Exception):
    """A question the service refused or could not answer; the message is the service's own."""


class TruncatedAnswer(UserWarning):
    """The server cut a SPARQL answer at its row limit: the frame holds the first rows only. Make it an error
    with `warnings.simplefilter("error", TruncatedAnswer)`."""


class SparqlAnswer(NamedTuple):
    kind: str  # "results" (SPARQL JSON) or "graph" (N-Triples)
    body: bytes
    cut_at: int | None = None  # the server's row limit, when the answer was cut at it


class Transport(Protocol):
    """How answers are obtained: over HTTP, or from the embedded store."""

    def sparql(self, query: str) -> SparqlAnswer: ...
    def named_query(self, name: str, params: dict[str, Any], limit: int, offset: int) -> dict[str, Any]: ...
    def view(self, name: str, resource: str | None, params: dict[str, Any]) -> dict[str, Any]: ...
    def named_queries(self) -> list[dict[str, Any]]: ...
    def add_graph(self, graph: str, data: bytes, media_type: str, token: str | None) -> None: ...


SPARQL_PATHS = ("/sparql", "/query")  # ours, Virtuoso's and Fuseki's; Oxigraph server's


class HttpTransport:
    """A Stancegraph server (or any SPARQL 1.1 endpoint, for `sparql` alone).

    `url` is the server's base, or its SPARQL endpoint (…/sparql, or …/query as Oxigraph server names it):
    given the endpoint, queries were sent to …/sparql/sparql and answered 404."""

    def __init__(self, url: str, timeout: float):
        import httpx

        base, self.endpoint = url.rstrip("/"), "/sparql"
        for path in SPARQL_PATHS:
            if base.endswith(path):
                base, self.endpoint = base.removesuffix(path), path
        self._httpx = httpx
        self.http = httpx.Client(base_url=base, timeout=timeout, headers={"user-agent": "stancegraph"})

    def _get(self, path: str, **kwargs):
        try:
            response = self.http.request(kwargs.pop("method", "GET"), path, **kwargs)
        except self._httpx.TimeoutException:
            raise StancegraphError(f"no answer from {self.http.base_url}{path} within the timeout") from None
        except self._httpx.HTTPError as err:
            raise StancegraphError(f"cannot reach {self.http.base_url}: {err}") from None
        if not response.is_success:
            raise StancegraphError(f"{response.status_code}: {_server_message(response)}")
        return response

    def _json(self, path: str, **kwargs) -> Any:
        response = self._get(path, **kwargs)
        try:
            return response.json()
        except ValueError:
            raise StancegraphError(f"{path} did not answer JSON: {response.text[:200]!r}") from None

    def sparql(self, query: str) -> SparqlAnswer:
        response = self._get(
            self.endpoint, method="POST", data={"query": query}, headers={"accept": f"{SPARQL_JSON}, {N_TRIPLES}"}
        )
        kind = "graph" if response.headers["content-type"].startswith(N_TRIPLES) else "results"
        cut = response.headers.get("stancegraph-truncated") == "true"  # other SPARQL endpoints do not say
        return SparqlAnswer(kind, response.content, int(response.headers["stancegraph-row-limit"]) if cut else None)

    def named_query(self, name: str, params: dict[str, Any], limit: int, offset: int) -> dict[str, Any]:
        query = {**params, "limit": limit, "offset": offset, "format": "json"}
        return self._json(f"/api/queries/{name}", params=query)

    def view(self, name: str, resource: str | None, params: dict[str, Any]) -> dict[str, Any]:
        path = f"/views/{name}" + (f"/{resource}" if resource else "")
        return self._json(path, params={**params, "format": "json"})

    def named_queries(self) -> list[dict[str, Any]]:
        return self._json("/api/queries")["queries"]

    def add_graph(self, graph: str, data: bytes, media_type: str, token: str | None) -> None:
        headers = {"content-type": media_type} | ({"authorization": f"Bearer {token}"} if token else {})
        self._get("/store", method="POST", params={"graph": graph}, content=data, headers=headers)


def _server_message(response) -> str:
    if response.headers.get("content-type", "").startswith("application/json"):
        detail = response.json().get("detail", response.text)
        if isinstance(detail, list):
            return "; ".join(f"{'.'.join(str(p) for p in d.get('loc', []))}: {d.get('msg')}" for d in detail)
        return str(detail)
    return response.text.strip()


class EmbeddedTransport:
    """The data/ folder loaded into an Oxigraph store in this process (queries run without a time limit)."""

    def __init__(self, data_dir: Path | None, queries_dir: Path | None):
        from app.settings import Settings
        from app.store import open_store

        overrides = {k: v for k, v in {"data_dir": data_dir, "queries_dir": queries_dir}.items() if v is not None}
        self.settings = Settings(**overrides)
        self.store = open_store(self.settings)
        queries, _ = load_named_queries(self.settings.queries_dir)
        self.queries = {q.name: q for q in queries}

    def sparql(self, query: str) -> SparqlAnswer:
        from app.workers import QueryError, QueryJob

        try:
            outcome = self.store.run(QueryJob(query, result_format=SPARQL_JSON, graph_format=N_TRIPLES))
        except QueryError as err:
            raise StancegraphError(f"{err.status}: {err.message}") from None
        return SparqlAnswer("graph" if outcome.kind == "triples" else "results", outcome.body)  # never cut

    def named_query(self, name: str, params: dict[str, Any], limit: int, offset: int) -> dict[str, Any]:
        if name not in self.queries:
            raise StancegraphError(f"404: no named query {name!r}")
        query = self.queries[name]
        try:
            return answer_document(query, params, answer(self.store, query, params, limit, offset))
        except (ParameterError, ValueError) as err:
            raise StancegraphError(f"400: {err}") from None

    def view(self, name: str, resource: str | None, params: dict[str, Any]) -> dict[str, Any]:
        from app.graph_views import UnknownResource, ViewFilter, build_view
        from app.named_queries import expand_iri

        try:
            sources = params.get("source") or []
            view = ViewFilter(
                as_of=calendar_date(params["as_of"]) if params.get("as_of") else None,
                sources=tuple(expand_iri(s) for s in ([sources] if isinstance(sources, str) else sources)),
                min_weight=int(params.get("min_weight", 1)),
            )
            options = {k: params[k] for k in ("mode", "normalisation") if k in params}
            options |= {k: int(params[k]) for k in ("depth", "limit") if k in params}
            graph = build_view(self.store, name, expand_iri(resource) if resource else None, view, **options)
        except ValueError as err:
            raise StancegraphError(f"400: {err}") from None
        except UnknownResource as err:
            raise StancegraphError(f"404: {err}") from None
        return json.loads(node_link_json(graph))  # exactly what the HTTP API sends

    def add_graph(self, graph: str, data: bytes, media_type: str, token: str | None) -> None:
        from app.store import UpdateError

        try:
            self.store.add_to_graph(graph, data, media_type)
        except UpdateError as err:
            raise StancegraphError(f"{err.status}: {err.message}") from None

    def named_queries(self) -> list[dict[str, Any]]:
        return [
            {"name": q.name, "summary": q.summary, "parameters": [{"name": p.name} for p in q.params]}
            for q in self.queries.values()
        ]


class Stancegraph:
    """Questions to the knowledge graph, answered as DataFrames, rdflib graphs and networkx graphs."""

    def __init__(self, transport: Transport):
        self.transport = transport
        self._listing: dict[str, dict[str, Any]] = {}

    @classmethod
    def connect(cls, url: str = "http://127.0.0.1:8000", timeout: float = 60) -> "Stancegraph":
        """A running server; `timeout` (seconds) bounds every request."""
        return cls(HttpTransport(url, timeout))

    @classmethod
    def embedded(cls, data_dir: Path | str | None = None, queries_dir: Path | str | None = None) -> "Stancegraph":
        """The project's data/ (or another folder in the same layout) loaded in this process."""
        return cls(EmbeddedTransport(_path(data_dir), _path(queries_dir)))

    # ------------------------------------------------------------------ SPARQL

    def sparql(self, query: str, labels: bool = True) -> pd.DataFrame | rdflib.Graph | bool:
        """SELECT -> DataFrame (typed columns; with `labels`, an `x_label` column after each IRI column);
        CONSTRUCT/DESCRIBE -> rdflib Graph; ASK -> bool. An answer the server cut at its row limit warns
        (TruncatedAnswer) and says so in `frame.attrs["truncated"]`, rather than passing for the whole."""
        kind, body, cut_at = self.transport.sparql(query)
        if cut_at is not None:
            warnings.warn(
                f"the server cut this answer at its limit of {cut_at:,} rows (STANCEGRAPH_MAX_ROWS): ask for less,"
                " or page through it with ORDER BY, LIMIT and OFFSET",
                TruncatedAnswer,
                stacklevel=2,
            )
        if kind == "graph":
            return rdflib.Graph().parse(data=body.decode("utf-8"), format="nt")
        document = json.loads(body)
        if "boolean" in document:
            return bool(document["boolean"])
        frame, iri_columns = _frame_from_bindings(document["head"]["vars"], document["results"]["bindings"])
        if labels and iri_columns:
            names = self.labels({v for c in iri_columns for v in frame[c].dropna() if not v.startswith("_:")})
            for column in reversed(iri_columns):
                position = frame.columns.get_loc(column) + 1
                frame.insert(position, f"{column}_label", frame[column].map(names))
        frame.attrs["truncated"] = cut_at is not None
        return frame

    def labels(self, iris: Iterable[str]) -> dict[str, str]:
        """A label for each IRI that has one (English or untagged preferred)."""
        found: dict[str, str] = {}
        ordered = sorted(set(iris))
        for start in range(0, len(ordered), LABEL_BATCH):
            body = self.transport.sparql(labels_query(ordered[start : start + LABEL_BATCH])).body
            for row in json.loads(body)["results"]["bindings"]:
                found[row["iri"]["value"]] = row["name"]["value"]
        return found

    # ------------------------------------------------------------------ named queries

    def queries(self) -> pd.DataFrame:
        """The named queries and their parameters."""
        listing = self.transport.named_queries()
        return pd.DataFrame(
            [
                {
                    "name": q["name"],
                    "summary": q["summary"],
                    "parameters": ", ".join(p["name"] for p in q["parameters"]),
                }
                for q in listing
            ]
        )

    def query(self, name: str, limit: int | None = None, offset: int = 0, **params: Any) -> pd.DataFrame:
        """A named query's answer (every row unless `limit`); `frame.attrs["total"]` is the true total.

        Parameters are given by name (`from_=` for `from`); unknown names are an error, not ignored.
        """
        if (limit is not None and limit < 1) or offset < 0:  # limit=0 gave a first page of up to 10,000 rows
            raise StancegraphError("limit must be at least 1 (None for every row) and offset at least 0")
        values = self._parameters(name, params)
        document = self.transport.named_query(name, values, min(limit or PAGE, PAGE), offset)
        pages = [document]
        wanted = document["total"] - offset if limit is None else min(limit, document["total"] - offset)
        fetched = len(document["rows"])
        while fetched < wanted and document["rows"]:
            document = self.transport.named_query(name, values, min(PAGE, wanted - fetched), offset + fetched)
            pages.append(document)
            fetched += len(document["rows"])
        frame = _frame_from_document(pages)
        frame.attrs.update(query=name, total=pages[0]["total"], parameters=values)
        return frame

    def _parameters(self, name: str, params: dict[str, Any]) -> dict[str, Any]:
        if name not in self._listing:  # asked once, and again only for a name not seen (queries can be added)
            self._listing = {q["name"]: q for q in self.transport.named_queries()}
        if name not in self._listing:
            raise StancegraphError(f"no named query {name!r}; known: {', '.join(sorted(self._listing))}")
        known = {p["name"] for p in self._listing[name]["parameters"]}
        values = _plain_values(params)
        unknown = set(values) - known
        if unknown:
            raise StancegraphError(
                f"unknown parameter(s) {', '.join(sorted(unknown))} for {name}; known: {', '.join(sorted(known))}"
            )
        return values

    def evidence(self, resource: str) -> pd.DataFrame:
        """Every quote about a resource with its statement, speaker, date and source document."""
        return self.query("evidence", resource=resource)

    def add_graph(self, path: Path | str, graph: str, token: str | None = None) -> int:
        """Add an RDF file (e.g. a Wikidata extract) to a named graph for this session; returns its triples.

        Embedded: in memory only (use `stancegraph import` to keep it). Server: Graph Store POST, which needs
        the admin token. The format comes from the file extension.
        """
        from app.named_queries import expand_iri

        path = Path(path)
        fmt = ox.RdfFormat.from_extension(path.suffix.lstrip("."))
        if fmt is None:
            raise StancegraphError(f"cannot tell the RDF format of {path.name} from its extension")
        data, graph = path.read_bytes(), expand_iri(graph)
        try:  # refuse a broken file before sending it; relative IRIs resolve against the graph's, as on the server
            triples = sum(1 for _ in ox.parse(data, format=fmt, base_iri=graph))
        except SyntaxError as err:
            raise StancegraphError(f"{path}:{err.lineno or 0}: {err.msg}") from None
        self.transport.add_graph(graph, data, fmt.media_type, token)
        return triples

    # ------------------------------------------------------------------ graph views

    def view(self, name: str, resource: str | None = None, **params: Any) -> nx.Graph:
        """A graph view (preconditions, stances, actors, timeline, what-blocks, what-follows, ego) with all
        attributes. Filters: as_of, source, min_weight; actors: mode, normalisation; ego: depth."""
        if name in RESOURCE_VIEWS and not resource:
            raise StancegraphError(f"400: the {name} view needs a resource (e.g. resource='id:ThirdSite')")
        return nx.node_link_graph(self.transport.view(name, resource, _plain_values(params)), edges="links")

    def draw(self, graph: nx.Graph | str, interactive: bool = False, resource: str | None = None, **params: Any):
        """A picture of a view (or of a graph you built): a matplotlib Figure, or with `interactive=True`
        an ipycytoscape widget with the quotes as tooltips (pip install 'stancegraph[widgets]')."""
        if isinstance(graph, str):
            graph = self.view(graph, resource, **params)
        return widget(graph) if interactive else figure(graph)


def _path(value: Path | str | None) -> Path | None:
    return Path(value) if value is not None else None


def _plain_values(params: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments as the service takes them (`from_` is `from`; days as YYYY-MM-DD), the unset left out."""
    try:
        return {key.rstrip("_"): _plain(value) for key, value in params.items() if value is not None}
    except ValueError as err:
        raise StancegraphError(f"400: {err}") from None


def _plain(value: Any) -> Any:
    if isinstance(value, datetime.date):
        return calendar_date(value).isoformat()  # a datetime at midnight (a pandas Timestamp) is its day
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


# ---------------------------------------------------------------------- frames

CONVERTERS = {
    XSD + "date": lambda s: pd.to_datetime(s, errors="coerce"),
    XSD + "dateTime": lambda s: pd.to_datetime(s, errors="coerce", utc=True),
    XSD + "integer": lambda s: pd.to_numeric(s, errors="coerce").astype("Int64"),
    XSD + "decimal": lambda s: pd.to_numeric(s, errors="coerce"),
    XSD + "double": lambda s: pd.to_numeric(s, errors="coerce"),
    XSD + "float": lambda s: pd.to_numeric(s, errors="coerce"),
    XSD + "boolean": lambda s: s.map({"true": True, "false": False, True: True, False: False}).astype("boolean"),
}


def _typed(series: pd.Series, datatype: str | None) -> pd.Series:
    converter = CONVERTERS.get(datatype or "")
    return converter(series) if converter else series


def _frame_from_bindings(variables: list[str], bindings: list[dict]) -> tuple[pd.DataFrame, list[str]]:
    """SPARQL JSON results as a frame: IRIs as strings, blank nodes as `_:id` (told apart from IRIs and
    strings), literals converted by their (consistent) datatype; the columns holding IRIs are returned too."""
    columns: dict[str, list] = {v: [_cell(b.get(v)) for b in bindings] for v in variables}
    frame = pd.DataFrame(columns, columns=variables, dtype=object)  # an empty answer's columns are not floats
    iri_columns = []
    for v in variables:
        kinds = {b[v].get("datatype") if b[v]["type"] == "literal" else b[v]["type"] for b in bindings if v in b}
        if "uri" in kinds and kinds <= {"uri", "bnode"}:
            iri_columns.append(v)
        elif len(kinds) == 1:
            frame[v] = _typed(frame[v], kinds.pop())
    return frame, iri_columns


def _cell(term: dict | None) -> str | None:
    if term is None:
        return None
    return "_:" + term["value"] if term["type"] == "bnode" else term["value"]


def _frame_from_document(pages: list[dict[str, Any]]) -> pd.DataFrame:
    """Named-query JSON pages as one frame: each IRI column followed by its label column, literals typed."""
    first = pages[0]
    rows = [row for page in pages for row in page["rows"]]
    data: dict[str, list] = {}
    for name in first["variables"]:
        if first["types"].get(name) == "iri":
            data[name] = [r[name]["iri"] if r[name] else None for r in rows]
            data[f"{name}_label"] = [r[name]["label"] if r[name] else None for r in rows]
        else:
            data[name] = [r[name] for r in rows]
    frame = pd.DataFrame(data, columns=list(data))
    for name, datatype in first["types"].items():
        if datatype != "iri":
            frame[name] = _typed(frame[name], datatype)
    return frame


# ---------------------------------------------------------------------- pictures


def figure(graph: nx.Graph, size: tuple[float, float] = (12, 8)):
    """A matplotlib Figure of the graph (works in any notebook, script or CI)."""
    import matplotlib.pyplot as plt

    fig, axis = plt.subplots(figsize=size)
    draw(graph, axis)
    if graph.graph.get("view"):
        axis.set_title(str(graph.graph["view"]))
    plt.close(fig)  # returned for display or savefig, not left open in pyplot's global state
    return fig


def widget(graph: nx.Graph):
    """An interactive ipycytoscape widget: nodes coloured by type, edges by polarity, quotes as tooltips."""
    try:
        import ipycytoscape
    except ImportError:
        raise StancegraphError(
            "interactive drawings need ipycytoscape: pip install -e '.[widgets]' (or use interactive=False)"
        ) from None
    display = nx.relabel_nodes(graph, {n: str(n) for n in graph})
    for _, _, data in display.edges(data=True):
        data["tooltip"] = data.get("quotes", "") or data.get("label", "")
        data["colour"] = COLOURS.get(data.get("polarity", ""), "#777777")
    by_type = node_colours(display)
    for _, data in display.nodes(data=True):
        data["tooltip"] = data.get("label", "")
        data["colour"] = by_type[str(data.get("type", ""))]
    view = ipycytoscape.CytoscapeWidget()
    view.graph.add_graph_from_networkx(display, directed=display.is_directed())
    view.set_tooltip_source("tooltip")
    view.set_style(
        [
            {"selector": "node", "style": {"label": "data(label)", "background-color": "data(colour)", "font-size": 8}},
            {"selector": "edge", "style": {"line-color": "data(colour)", "target-arrow-color": "data(colour)"}},
            {"selector": "edge.directed", "style": {"curve-style": "bezier", "target-arrow-shape": "triangle"}},
        ]
    )
    return view
