"""Real clients against a live server: SPARQLWrapper, rdflib's SPARQLStore, httpx, and Oxigraph federating."""

import concurrent.futures
import time

import httpx
import pytest
import rdflib
from rdflib.plugins.stores.sparqlstore import SPARQLStore, SPARQLUpdateStore
from SPARQLWrapper import JSON, POST, TURTLE, SPARQLWrapper

from app.namespaces import ID, SG, sparql_prologue
from tests.live import oxigraph_server, stancegraph_server

TOKEN = "live-token"


@pytest.fixture(scope="module")
def server():
    with stancegraph_server(admin_token=TOKEN, query_timeout=2) as base:
        yield base


def test_sparqlwrapper_select_construct_and_update(server):
    client = SPARQLWrapper(f"{server}/sparql")
    client.setQuery(sparql_prologue() + "SELECT ?target WHERE { id:Russia sg:rejects ?target } ORDER BY ?target")
    client.setReturnFormat(JSON)
    targets = [b["target"]["value"] for b in client.queryAndConvert()["results"]["bindings"]]
    assert ID + "ThirdSite" in targets and ID + "DeployUSAMDElementsInRussia" in targets

    client.setQuery(sparql_prologue() + "CONSTRUCT { ?a sg:requires ?b } WHERE { ?a sg:requires ?b }")
    client.setReturnFormat(TURTLE)
    graph = rdflib.Graph().parse(data=client.queryAndConvert(), format="turtle")
    assert (
        rdflib.URIRef(ID + "MeaningfulDialogueOnCooperation"),
        rdflib.URIRef(SG + "requires"),
        rdflib.URIRef(ID + "USRenouncesThirdSite"),
    ) in graph

    updater = SPARQLWrapper(f"{server}/sparql")
    updater.setMethod(POST)
    updater.addCustomHttpHeader("Authorization", f"Bearer {TOKEN}")
    updater.setQuery(
        "INSERT DATA { GRAPH <http://example.org/wrapper> { <http://e/s> <http://e/p> 'via SPARQLWrapper' } }"
    )
    updater.query()
    assert httpx.get(f"{server}/sparql", params={"query": "ASK { <http://e/s> ?p 'via SPARQLWrapper' }"}).json()[
        "boolean"
    ]


def test_rdflib_sparqlstore_reads_and_update_store_writes(server):
    graph = rdflib.Graph(store=SPARQLStore(f"{server}/sparql", returnFormat="json"))
    rows = list(graph.query(sparql_prologue() + "SELECT ?who WHERE { ?who sg:rejects id:ThirdSite }"))
    assert [str(r[0]) for r in rows] == [ID + "Russia"]

    store = SPARQLUpdateStore(f"{server}/sparql", f"{server}/sparql", headers={"Authorization": f"Bearer {TOKEN}"})
    writable = rdflib.Graph(store=store, identifier=rdflib.URIRef("http://example.org/rdflib"))
    writable.add((rdflib.URIRef("http://e/x"), rdflib.URIRef("http://e/p"), rdflib.Literal("via rdflib")))
    assert httpx.get(
        f"{server}/sparql", params={"query": "ASK { GRAPH <http://example.org/rdflib> { ?s ?p 'via rdflib' } }"}
    ).json()["boolean"]


def test_runaway_query_is_stopped_while_others_are_served(server):
    cross_join = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"
    simple = sparql_prologue() + "ASK { id:Russia sg:rejects id:ThirdSite }"
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        started = time.monotonic()
        runaway = pool.submit(httpx.get, f"{server}/sparql", params={"query": cross_join}, timeout=30)
        time.sleep(0.2)
        latencies = []
        for _ in range(10):
            began = time.monotonic()
            assert httpx.get(f"{server}/sparql", params={"query": simple}, timeout=30).json()["boolean"] is True
            latencies.append(time.monotonic() - began)
        response = runaway.result()
        stopped_after = time.monotonic() - started
    assert response.status_code == 503 and "time limit" in response.text
    assert stopped_after < 6
    assert max(latencies) < 1.0, latencies


def test_oxigraph_federates_into_our_endpoint(server):
    query = (
        sparql_prologue() + f"SELECT ?target WHERE {{ SERVICE <{server}/sparql> {{ id:Russia sg:rejects ?target }} }}"
    )
    with oxigraph_server() as oxigraph:
        response = httpx.post(
            f"{oxigraph}/query",
            data={"query": query},
            headers={"accept": "application/sparql-results+json"},
            timeout=30,
        )
    assert response.status_code == 200, response.text
    targets = {b["target"]["value"] for b in response.json()["results"]["bindings"]}
    assert ID + "ThirdSite" in targets


def test_cli_reload_reports_refusal_and_success(server):
    from typer.testing import CliRunner

    from app.cli import cli

    runner = CliRunner()
    ok = runner.invoke(cli, ["reload", "--url", server, "--admin-token", TOKEN])
    assert ok.exit_code == 0, ok.output
    assert "reloaded" in ok.output
    wrong = runner.invoke(cli, ["reload", "--url", server, "--admin-token", "wrong"])
    assert wrong.exit_code == 1 and "403" in wrong.output


def test_service_outside_the_allow_list_is_refused_without_a_connection(server):
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    try:
        for target in (f"<http://127.0.0.1:{port}/sparql>", "?endpoint", "<http://10.0.0.1/sparql>"):
            query = f"SELECT * WHERE {{ SERVICE {target} {{ ?s ?p ?o }} }}"
            response = httpx.get(f"{server}/sparql", params={"query": query})
            assert response.status_code == 403 and "allow-list" in response.text
        with pytest.raises(TimeoutError):
            listener.accept()
    finally:
        listener.close()


def test_allow_listed_service_is_federated(tmp_path):
    triples = '<http://www.wikidata.org/entity/Q159> <http://www.w3.org/2000/01/rdf-schema#label> "Russia"@en .'
    with oxigraph_server() as oxigraph:
        httpx.post(f"{oxigraph}/store?default", content=triples, headers={"content-type": "application/n-triples"})
        allow = f'["{oxigraph}/query"]'
        with stancegraph_server(federation_allow=allow) as base:
            query = (
                sparql_prologue()
                + f"SELECT ?name WHERE {{ id:Russia skos:exactMatch ?wd . FILTER(STRSTARTS(STR(?wd), STR(wd:))) "
                f"SERVICE <{oxigraph}/query> {{ ?wd rdfs:label ?name }} }}"
            )
            response = httpx.get(f"{base}/sparql", params={"query": query}, timeout=30)
    assert response.status_code == 200, response.text
    assert [b["name"]["value"] for b in response.json()["results"]["bindings"]] == ["Russia"]


@pytest.mark.parametrize(
    ("path", "accept"),
    [
        ("/id/Russia", "text/turtle"),
        ("/views/stances", "application/json"),
        ("/api/queries/who-stands-where", "text/csv"),
        ("/sparql?query=ASK%7B%7D", "application/sparql-results+json"),
        ("/store?default", "text/turtle"),
        ("/health", "*/*"),
        ("/dump.nq.gz", "*/*"),
    ],
)
def test_head_is_get_without_the_body(server, path, accept):
    """Link checkers, caches and linked-data clients ask HEAD, which every route declaring GET got a 405 for."""
    got = httpx.get(f"{server}{path}", headers={"accept": accept})
    head = httpx.head(f"{server}{path}", headers={"accept": accept})
    assert head.status_code == got.status_code == 200 and head.content == b""
    for name in ("content-type", "content-length", "etag"):
        assert head.headers.get(name) == got.headers.get(name), name
    assert httpx.head(f"{server}/id/NoSuchActor", headers={"accept": "text/turtle"}).status_code == 404


def test_large_answers_are_gzipped_for_clients_that_accept_it(server):
    """At 1M triples a view is 8 MB of JSON, 0.7 MB gzipped."""
    everything = "/sparql?query=CONSTRUCT%20WHERE%20%7B%3Fs%20%3Fp%20%3Fo%7D"
    for path in ("/views/stances", "/api/queries/who-stands-where", everything):
        gzipped = httpx.get(f"{server}{path}", headers={"accept-encoding": "gzip"})
        plain = httpx.get(f"{server}{path}", headers={"accept-encoding": "identity"})
        assert gzipped.headers["content-encoding"] == "gzip" and "content-encoding" not in plain.headers, path
        assert gzipped.content == plain.content and int(gzipped.headers["content-length"]) < len(plain.content) / 3
    small = httpx.get(f"{server}/sparql", params={"query": "ASK {}"}, headers={"accept-encoding": "gzip"})
    assert "content-encoding" not in small.headers, "an answer of a few bytes is sent as it is"
    dump = httpx.get(f"{server}/dump.nq.gz", headers={"accept-encoding": "gzip"})
    assert "content-encoding" not in dump.headers, "a gzip file is not gzipped again"
    assert dump.content[:2] == b"\x1f\x8b"
