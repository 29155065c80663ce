"""The notebook client: the same DataFrames and graphs from the embedded store and from a live server."""

import warnings

import httpx
import networkx as nx
import pandas as pd
import pytest
import rdflib

from app.client import Stancegraph, StancegraphError, TruncatedAnswer
from app.namespaces import DERIVED_GRAPH, ID
from app.settings import PROJECT_ROOT
from tests.live import oxigraph_server, stancegraph_server

TOKEN = "client-test-token"


@pytest.fixture(scope="module")
def server():
    with stancegraph_server(admin_token=TOKEN) as base:
        yield base


@pytest.fixture(scope="module")
def remote(server) -> Stancegraph:
    return Stancegraph.connect(server, timeout=30)


@pytest.fixture(scope="module")
def embedded() -> Stancegraph:
    return Stancegraph.embedded()


def test_named_query_frames_are_typed_with_labels_next_to_iris(embedded):
    frame = embedded.query("stances-of-actor", actor="id:Russia", polarity="rejects")
    assert frame.attrs["total"] == len(frame) == 8
    assert list(frame.columns[:4]) == ["stance", "stance_label", "polarity", "polarity_label"]
    assert pd.api.types.is_datetime64_any_dtype(frame["date"])
    assert set(frame["polarity_label"]) == {"rejects"}
    assert "third site" in set(frame["target_label"])


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("stances-of-actor", {"actor": "id:Russia", "from_": "2009-01-01"}),
        ("who-stands-where", {}),
        ("blocked-proposals", {}),
        ("document-statistics", {}),
        ("evidence", {"resource": "id:ThirdSite"}),
    ],
)
def test_frames_equal_over_http_and_embedded(embedded, remote, server, name, params):
    local, over_http = embedded.query(name, **params), remote.query(name, **params)
    pd.testing.assert_frame_equal(local, over_http)
    api = httpx.get(
        f"{server}/api/queries/{name}", params={k.rstrip("_"): v for k, v in params.items()} | {"limit": 10000}
    ).json()
    assert len(local) == api["total"] == len(api["rows"])


def test_every_page_is_fetched_and_limits_are_honoured(remote, monkeypatch):
    import app.client

    monkeypatch.setattr(app.client, "PAGE", 7)  # force several pages
    whole = remote.query("who-stands-where")
    assert len(whole) == whole.attrs["total"] > 7
    assert whole["target"].tolist() == remote.query("who-stands-where", limit=1000)["target"].tolist()
    assert len(remote.query("who-stands-where", limit=3, offset=2)) == 3


@pytest.mark.parametrize(
    ("name", "resource", "params"),
    [
        ("preconditions", None, {}),
        ("stances", None, {"as_of": "2008-01-01"}),
        ("actors", None, {"mode": "conflict", "normalisation": "jaccard"}),
        ("what-blocks", "id:MeaningfulDialogueOnCooperation", {}),
        ("ego", "id:ThirdSite", {"depth": 2}),
    ],
)
def test_views_equal_over_http_and_embedded(embedded, remote, server, name, resource, params):
    local, over_http = embedded.view(name, resource, **params), remote.view(name, resource, **params)
    assert nx.utils.graphs_equal(local, over_http)
    path = f"/views/{name}" + (f"/{resource}" if resource else "")
    api = httpx.get(server + path, params={**params, "format": "json"}).json()
    assert sorted(n["id"] for n in api["nodes"]) == sorted(local.nodes)
    assert len(api["links"]) == local.number_of_edges()


def test_preconditions_view_keeps_every_attribute(embedded):
    graph = embedded.view("preconditions")
    dialogue = graph.nodes[ID + "MeaningfulDialogueOnCooperation"]
    assert dialogue["blocked"] is True
    edge = graph.edges[ID + "MeaningfulDialogueOnCooperation", ID + "USRenouncesThirdSite"]
    assert "third site" in edge["quotes"]


def test_sparql_gives_frames_graphs_and_booleans(embedded, remote):
    query = """PREFIX sg: <https://stancegraph.org/ontology#>
        SELECT ?stance ?holder ?date WHERE { ?stance sg:holder ?holder ; sg:date ?date } ORDER BY ?stance"""
    local = embedded.sparql(query)
    pd.testing.assert_frame_equal(local, remote.sparql(query))
    assert list(local.columns) == ["stance", "stance_label", "holder", "holder_label", "date"]
    assert pd.api.types.is_datetime64_any_dtype(local["date"])
    star = query.replace("?stance ?holder ?date WHERE", "* WHERE")  # the columns as the query names them
    pd.testing.assert_frame_equal(embedded.sparql(star), local)
    pd.testing.assert_frame_equal(remote.sparql(star), local)
    graph = embedded.sparql("DESCRIBE <https://stancegraph.org/id/Russia>")
    assert isinstance(graph, rdflib.Graph) and len(graph) > 5
    assert remote.sparql("ASK { <https://stancegraph.org/id/Russia> ?p ?o }") is True


@pytest.mark.parametrize("which", ["embedded", "remote"])
def test_blank_nodes_are_told_apart_and_an_empty_answer_keeps_text_columns(request, which):
    """A blank node came out as its bare id, like a string, and its column lost its labels; an empty answer's
    columns were float64."""
    sg = request.getfixturevalue(which)
    frame = sg.sparql(f"SELECT ?s WHERE {{ {{ BIND(BNODE() AS ?s) }} UNION {{ BIND(<{ID}Russia> AS ?s) }} }}")
    assert sorted(frame["s"].str[:2]) == ["_:", "ht"] and "Russia" in set(frame["s_label"])
    empty = sg.sparql("SELECT ?s ?o WHERE { ?s a <http://example.org/Nothing> ; ?p ?o }")
    assert list(empty.columns) == ["s", "o"] and all(pd.api.types.is_object_dtype(dtype) for dtype in empty.dtypes)


@pytest.mark.parametrize("which", ["embedded", "remote"])
def test_errors_carry_the_service_message(request, which):
    sg = request.getfixturevalue(which)
    with pytest.raises(StancegraphError, match="400: SPARQL syntax error at line 1, column 23"):
        sg.sparql("SELECT ?x WHERE { ?x }")
    with pytest.raises(StancegraphError, match=r"unknown parameter.*actr"):
        sg.query("stances-of-actor", actr="id:Russia")
    with pytest.raises(StancegraphError, match=r"400.*not a valid iri"):
        sg.query("stances-of-actor", actor="not an iri")
    with pytest.raises(StancegraphError, match="no named query"):
        sg.query("no-such-query")
    with pytest.raises(StancegraphError, match="400"):
        sg.view("what-blocks")
    with pytest.raises(StancegraphError, match=r"404: no triple mentions https://stancegraph\.org/id/Russa"):
        sg.view("what-blocks", "id:Russa")
    with pytest.raises(StancegraphError, match=r"404: source https://stancegraph\.org/id/doc/typo: no statement"):
        sg.view("stances", source="id:doc/typo")
    with pytest.raises(StancegraphError, match="400"):
        sg.view("ego", "id:Russia", limit=0)


def test_a_sparql_endpoint_url_is_understood_as_well_as_a_base_url(server):
    """Given the endpoint itself (ours at /sparql, Oxigraph server's at /query), queries went to …/sparql/sparql."""
    ours = Stancegraph.connect(f"{server}/sparql/", timeout=30)
    assert ours.sparql(f"ASK {{ <{ID}Russia> ?p ?o }}") is True
    assert ours.query("timeline").attrs["total"] > 10  # the rest of the API from the same base
    with oxigraph_server(union_default_graph=True) as other:
        assert Stancegraph.connect(f"{other}/query").sparql("ASK { ?s ?p ?o }") is False


def test_an_unreachable_or_slow_server_is_an_error_not_an_empty_frame():
    with pytest.raises(StancegraphError, match="cannot reach"):
        Stancegraph.connect("http://127.0.0.1:9", timeout=2).query("who-stands-where")


def test_evidence_lists_quotes_with_sources(embedded):
    quotes = embedded.evidence("id:USRenouncesThirdSite")
    assert len(quotes) >= 3 and quotes["quote"].str.len().min() > 10
    assert set(quotes["source"]) <= {ID + "doc/000_dcc2f28bf5a60eb8", ID + "doc/003_cf8b46a4843bbcf9"}


def test_added_graph_enriches_named_queries_over_http_with_the_token(remote):
    extract = PROJECT_ROOT / "examples" / "wikidata-extract.ttl"
    with pytest.raises(StancegraphError, match="401"):
        remote.add_graph(extract, "id:graph/import/wikidata")
    assert remote.add_graph(extract, "id:graph/import/wikidata", token=TOKEN) == 46
    facts = remote.query("external-facts", actor="id:Poland")
    assert "NATO" in facts["memberOf"].dropna().iloc[0]


def test_an_added_files_relative_iris_resolve_against_its_graph(tmp_path):
    """As a Graph Store write resolves them (and Oxigraph server): the client refused such a file itself."""
    embedded = Stancegraph.embedded()  # its own: the module's is shared
    notes = tmp_path / "notes.ttl"
    notes.write_text('<#note1> <http://www.w3.org/2000/01/rdf-schema#label> "a note" .', encoding="utf-8")
    assert embedded.add_graph(notes, "https://example.org/notes") == 1
    assert embedded.sparql('ASK { <https://example.org/notes#note1> ?p "a note" }') is True


def test_adding_to_the_derived_graph_is_refused_embedded_and_over_http(embedded, remote):
    extract = PROJECT_ROOT / "examples" / "wikidata-extract.ttl"
    for client, token in ((embedded, None), (remote, TOKEN)):
        with pytest.raises(StancegraphError, match=r"403: .*derived by the rules in queries/rules/"):
            client.add_graph(extract, "id:graph/derived", token=token)
    russia = "<http://www.wikidata.org/entity/Q159>"
    assert embedded.sparql(f"ASK {{ GRAPH <{DERIVED_GRAPH}> {{ ?s ?p {russia} }} }}") is False


def test_draw_makes_a_figure_and_a_widget(embedded, tmp_path):
    figure = embedded.draw("preconditions")
    figure.savefig(tmp_path / "preconditions.png")
    assert (tmp_path / "preconditions.png").stat().st_size > 10_000
    widget = embedded.draw("stances", interactive=True)
    nodes = widget.graph.nodes
    assert len(nodes) == embedded.view("stances").number_of_nodes()
    assert any(edge.data.get("tooltip") for edge in widget.graph.edges)


def test_an_answer_the_server_cut_at_its_row_limit_warns_instead_of_passing_for_the_whole():
    """Counting rows of a cut frame would give a wrong number without a word (Virtuoso's silent 10,000)."""
    query = "SELECT ?stance WHERE { ?stance a <https://stancegraph.org/ontology#Stance> }"
    with stancegraph_server(max_rows=5) as base:
        sg = Stancegraph.connect(base, timeout=30)
        with pytest.warns(TruncatedAnswer, match="cut this answer at its limit of 5 rows"):
            frame = sg.sparql(query)
        assert len(frame) == 5 and frame.attrs["truncated"] is True
        with warnings.catch_warnings():
            warnings.simplefilter("error", TruncatedAnswer)
            assert sg.sparql(query + " LIMIT 5").attrs["truncated"] is False
            with pytest.raises(TruncatedAnswer):
                sg.sparql(query)
    whole = Stancegraph.embedded().sparql(query)
    assert len(whole) > 5 and whole.attrs["truncated"] is False
