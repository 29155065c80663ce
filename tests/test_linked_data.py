"""Linked data: IRIs dereference (HTML, Turtle, JSON-LD), VoID counts match the store, the dump and the context."""

import asyncio
import gzip
import json
import re
from pathlib import Path

import pyoxigraph as ox
import pytest
import rdflib
from fastapi.testclient import TestClient
from rdflib.compare import isomorphic

from app import exports, linked_data, service_description
from app.namespaces import GRAPH, ID, PREFIXES, SG, SKOS
from app.server import create_app
from app.settings import PROJECT_ROOT
from tests.conftest import forget_dumps, quad_count, replace_in

WD, DBR = PREFIXES["wd"], PREFIXES["dbr"]
VOID = rdflib.Namespace("http://rdfs.org/ns/void#")
TEXT_HTML = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}  # what browsers send


def test_an_actor_page_shows_label_links_quotes_and_neighbours(client):
    response = client.get("/id/Russia", headers=TEXT_HTML)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert "Accept" in response.headers["vary"]
    page = response.text
    assert '<h1 id="label">Russia</h1>' in page
    assert f'href="{WD}Q159"' in page and f'href="{DBR}Russia"' in page
    assert "does not consider it possible to take part in the third site" in page or "third site" in page
    assert 'href="http://testserver/id/ThirdSite"' in page  # neighbours link to their own pages on this host
    assert "Evidence: 48 quotes" in page


def test_a_page_is_built_off_the_event_loop(client, monkeypatch):
    """Queries and rendering of a page take tens of ms at scale: on the loop they would stall every request."""
    loops = []
    render = linked_data.render_page

    def rendering(*args):
        try:
            loops.append(asyncio.get_running_loop())
        except RuntimeError:
            loops.append(None)
        return render(*args)

    monkeypatch.setattr(linked_data, "render_page", rendering)
    response = client.get("/id/Russia", headers={"accept": "text/html", "cache-control": "no-cache"})
    assert response.status_code == 200 and "Russia" in response.text
    assert loops == [None], "rendered in a worker thread, where no event loop runs"


def test_a_statement_page_shows_its_own_quotes(client):
    page = client.get("/id/doc/000_dcc2f28bf5a60eb8/stance-04", headers=TEXT_HTML).text
    assert "Russia demands US renounces the third site" in page
    assert "Evidence: 2 quotes" in page
    assert page.count("<blockquote>") == 2


def test_turtle_for_rdf_clients_is_the_resource_description(client):
    response = client.get("/id/Russia", headers={"accept": "text/turtle"})
    assert response.status_code == 200 and response.headers["content-type"] == "text/turtle; charset=utf-8"
    graph = rdflib.Graph().parse(data=response.text, format="turtle")
    russia = rdflib.URIRef(ID + "Russia")
    assert (russia, rdflib.URIRef(SKOS + "exactMatch"), rdflib.URIRef(WD + "Q159")) in graph
    assert (russia, rdflib.RDFS.label, rdflib.Literal("Russia", lang="en")) in graph
    assert set(graph.subjects()) == {russia}  # its own description, not the whole graph


def test_json_ld_refers_to_the_published_context_and_means_the_same_triples(client):
    response = client.get("/id/Russia", headers={"accept": "application/ld+json"})
    document = response.json()
    assert document["@context"] == "http://testserver/ontology/context.jsonld"
    assert document["@id"] == "id:Russia" and document["label"]["@value"] == "Russia"
    document["@context"] = client.get("/ontology/context.jsonld").json()["@context"]
    from_jsonld = rdflib.Graph().parse(data=json.dumps(document), format="json-ld")
    from_turtle = rdflib.Graph().parse(data=client.get("/id/Russia?format=ttl").text, format="turtle")
    assert isomorphic(from_jsonld, from_turtle)


def test_unknown_iris_are_404_in_every_format(client):
    assert client.get("/id/NoSuchActor", headers=TEXT_HTML).status_code == 404
    assert "No triple in this dataset mentions" in client.get("/id/NoSuchActor", headers=TEXT_HTML).text
    response = client.get("/id/NoSuchActor", headers={"accept": "text/turtle"})
    assert response.status_code == 404 and "not described" in response.json()["detail"]


def test_an_iri_only_ever_an_object_has_an_empty_description_not_a_404(make_client):
    """Its DESCRIBE is empty, so whether anything mentions it decides between 200 and 404."""
    client = make_client(admin_token="ld-token")
    update = f"INSERT DATA {{ GRAPH <x:g> {{ <x:s> <x:p> <{ID}OnlyAnObject> }} }}"
    headers = {"content-type": "application/sparql-update", "authorization": "Bearer ld-token"}
    assert client.post("/sparql", content=update, headers=headers).status_code == 204
    for fmt, name in (("text/turtle", "turtle"), ("application/n-triples", "nt"), ("application/ld+json", "json-ld")):
        response = client.get("/id/OnlyAnObject", headers={"accept": fmt})
        assert response.status_code == 200, fmt
        text = response.text
        if name == "json-ld":  # the published context, inlined: the test server is not on the network
            document = response.json()
            document["@context"] = client.get("/ontology/context.jsonld").json()["@context"]
            text = json.dumps(document)
        assert len(rdflib.Graph().parse(data=text, format=name)) == 0
    assert client.get("/id/NotEvenAnObject", headers={"accept": "text/turtle"}).status_code == 404


@pytest.mark.parametrize("page", ["/id/Russia", "/id/doc/000_dcc2f28bf5a60eb8", "/id/graph/derived"])
def test_every_link_of_a_page_to_this_server_leads_somewhere(client, page):
    """Each statement's "stated in" tag links to its graph's IRI: for …/graph/derived, entities, links and
    ontology those were 404s (no triple mentions them) on every resource page."""
    html = client.get(page, headers=TEXT_HTML).text
    links = {href.replace("&amp;", "&") for href in re.findall(r'href="http://testserver(/[^"]*)"', html)}
    assert "/id/graph/derived" in links or page == "/id/graph/derived"
    broken = {link: status for link in sorted(links) if (status := client.get(link).status_code) != 200}
    assert not broken


def test_a_named_graph_iri_is_a_page_with_its_size_and_its_triples_for_rdf_clients(client, store):
    derived = f"{ID}graph/derived"
    size = len(store.select(f"SELECT * WHERE {{ GRAPH <{derived}> {{ ?s ?p ?o }} }}", union_default_graph=False))
    page = client.get("/id/graph/derived", headers=TEXT_HTML).text
    assert f"A named graph of {size:,} triples: derived by the rules in queries/rules/" in page
    assert "the encoding of one source document" in client.get("/id/graph/000_dcc2f28bf5a60eb8").text
    for accept, format in (("application/n-triples", "nt"), ("text/turtle", "ttl")):
        response = client.get("/id/graph/derived", headers={"accept": accept}, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].endswith(f"&format={format}")
    triples = client.get("/id/graph/derived", headers={"accept": "application/n-triples"})
    assert triples.headers["content-type"].startswith("application/n-triples")
    assert len(triples.text.strip().splitlines()) == size
    assert client.get("/id/graph/nosuch", headers={"accept": "text/turtle"}).status_code == 404


def test_a_crawler_revalidates_a_page_with_its_etag(client):
    etags = set()
    for accept in ("text/html", "text/turtle"):
        page = client.get("/id/Russia", headers={"accept": accept})
        again = client.get("/id/Russia", headers={"accept": accept, "if-none-match": page.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
        etags.add(page.headers["etag"])
    assert len(etags) == 2, "one ETag per representation"
    unknown = client.get("/id/NoSuchActor", headers={"accept": "text/turtle", "if-none-match": "*"})
    assert unknown.status_code == 404, "'any representation' of an IRI nothing mentions is no 304"


def test_pages_and_descriptions_are_built_once_per_data_version(make_client, monkeypatch):
    """A repeated page comes from the app's cache until the data changes; `Cache-Control: no-cache` rebuilds it."""
    from app import http_common, linked_data

    client = make_client(admin_token="ld-token")
    built: list[str] = []

    def counted(name: str):
        build = getattr(linked_data, name)

        def counting(*args):
            built.append(name)
            return build(*args)

        return counting

    for name in ("html_page", "graph_or_rdf"):
        monkeypatch.setattr(linked_data, name, counted(name))
    compressions, compress = [], http_common.gzip.compress
    monkeypatch.setattr(http_common.gzip, "compress", lambda *a: compressions.append(1) or compress(*a))

    def fetch(accept: str, **headers: str):
        response = client.get("/id/Russia", headers={"accept": accept, **headers})
        assert response.status_code == 200 and "Russia" in response.text
        return response

    first = [fetch(accept) for accept in ("text/html", "text/turtle", "text/html", "text/turtle")]
    assert built == ["html_page", "graph_or_rdf"], "each built once, then kept"
    assert first[0].text == first[2].text and first[1].text == first[3].text
    assert first[0].headers["etag"] == first[2].headers["etag"] != first[1].headers["etag"]
    assert first[2].headers["content-encoding"] == "gzip" and len(compressions) == 2, "gzipped once each, kept"
    asked = (({"format": "ttl"}, "text/html"), ({"utm_source": "feed"}, "text/turtle"), ({"x": "1"}, "text/html"))
    variants = [client.get("/id/Russia", params=params, headers={"accept": accept}) for params, accept in asked]
    assert len(built) == 2, "other query parameters (a crawler's, a campaign's) neither rebuild nor crowd the cache"
    assert [v.headers["etag"] for v in variants] == [first[1].headers["etag"], *(f.headers["etag"] for f in first[1:3])]
    plain = fetch("text/html", **{"accept-encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.text == first[2].text
    fetch("text/turtle", **{"cache-control": "no-cache"})
    assert built[-1] == "graph_or_rdf" and len(built) == 3
    update = 'INSERT DATA { GRAPH <x:g> { <https://stancegraph.org/id/Russia> <x:says> "something new" } }'
    headers = {"content-type": "application/sparql-update", "authorization": "Bearer ld-token"}
    assert client.post("/sparql", content=update, headers=headers).status_code == 204
    assert "something new" in fetch("text/turtle").text and len(built) == 4
    assert "something new" in fetch("text/html").text and len(built) == 5


def test_a_json_client_gets_json_ld(client):
    response = client.get("/id/Russia", headers={"accept": "application/json"})
    assert response.status_code == 200 and response.headers["content-type"] == "application/ld+json"
    assert response.json()["@id"] == "id:Russia"


def test_unacceptable_and_unknown_formats_are_client_errors(client):
    assert client.get("/id/Russia", headers={"accept": "image/png"}).status_code == 406
    assert client.get("/id/Russia?format=docx").status_code == 400


def test_literals_are_shown_as_text_never_as_markup(make_client, tmp_path):
    http = make_client()
    entities = http.app.state.settings.data_dir / "entities.ttl"
    replace_in(entities, 'rdfs:label "Russia"@en', 'rdfs:label "Russia<script>alert(1)</script>"@en')
    http.app.state.store.reload()
    page = http.get("/id/Russia", headers=TEXT_HTML).text
    assert "<script>alert(1)</script>" not in page
    assert "Russia&lt;script&gt;alert(1)&lt;/script&gt;" in page
    shown = '<span class="literal">Russia&lt;script&gt;alert(1)&lt;/script&gt;</span> <span class="muted">@en</span>'
    assert shown in page
    holder = http.app.state.store.select(f"SELECT ?stance WHERE {{ ?stance <{SG}holder> <{ID}Russia> }} LIMIT 1")
    linking = http.get(f"/id/{holder[0]['stance'].value.removeprefix(ID)}", headers=TEXT_HTML).text
    assert f'<a href="http://testserver/id/Russia" title="{ID}Russia">Russia&lt;script&gt;' in linking
    assert "<script>alert(1)</script>" not in linking


def test_a_long_literal_is_cut_on_the_page_with_its_length(make_client):
    http = make_client()
    entities = http.app.state.settings.data_dir / "entities.ttl"
    replace_in(entities, 'rdfs:label "Russia"@en', f'rdfs:label "Russia"@en ; rdfs:comment "{"x" * 700}<b>"')
    http.app.state.store.reload()
    page = http.get("/id/Russia", headers=TEXT_HTML).text
    assert f'<span class="literal">{"x" * linked_data.MAX_LITERAL}… (703 characters)</span>' in page


def test_void_counts_match_the_store(client, store):
    response = client.get("/.well-known/void", headers={"accept": "text/turtle"})
    assert response.status_code == 200
    void = rdflib.Graph().parse(data=response.text, format="turtle")
    dataset = rdflib.URIRef("http://testserver/.well-known/void#dataset")
    total = store.select(
        "SELECT (COUNT(*) AS ?n) WHERE { { ?s ?p ?o } UNION { GRAPH ?g { ?s ?p ?o } } }", union_default_graph=False
    )[0]["n"]
    assert int(void.value(dataset, VOID.triples)) == int(total.value)
    linksets = {
        str(void.value(linkset, VOID.objectsTarget)): int(void.value(linkset, VOID.triples))
        for linkset in void.objects(dataset, VOID.subset)
    }
    links = {
        ns: int(
            store.select(
                f"SELECT (COUNT(*) AS ?n) WHERE {{ ?s <{SKOS}exactMatch> ?o FILTER STRSTARTS(STR(?o), '{ns}') }}"
            )[0]["n"].value
        )
        for ns in (WD, DBR)
    }
    assert linksets == {"http://www.wikidata.org/": links[WD], "http://dbpedia.org/": links[DBR]}
    assert linksets["http://www.wikidata.org/"] == 8
    assert (dataset, VOID.dataDump, rdflib.URIRef("http://testserver/dump.nq.gz")) in void


def test_the_dump_holds_every_quad_and_is_cached_by_version(client, store):
    response = client.get("/dump.nq.gz")
    assert response.status_code == 200 and response.headers["content-type"] == "application/gzip"
    quads = list(ox.parse(gzip.decompress(response.content), format=ox.RdfFormat.N_QUADS))
    assert len(quads) == quad_count(store)
    again = client.get("/dump.nq.gz", headers={"if-none-match": response.headers["etag"]})
    assert again.status_code == 304
    assert response.headers["etag"].startswith('W/"'), "blank node labels differ between loads: not byte-equal"


def test_a_head_of_the_dump_does_not_make_it(client, store):
    """Link checkers ask HEAD of the VoID `dataDump`: its headers come at once, without making a dump that takes
    seconds at a million triples; once a GET has made it, HEAD gives its length too."""
    forget_dumps()
    head = client.head("/dump.nq.gz")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"] == "application/gzip" and "content-length" not in head.headers
    assert exports.made_dump(store) is None
    got = client.get("/dump.nq.gz")
    again = client.head("/dump.nq.gz")
    assert again.headers["content-length"] == got.headers["content-length"] == str(len(got.content))
    assert head.headers["etag"] == again.headers["etag"] == got.headers["etag"]


def test_a_harvester_resumes_the_dump_where_it_broke_off(client):
    """At 10M triples the dump is over 100 MB: a download cut off midway goes on from where it stopped."""
    whole = client.get("/dump.nq.gz")
    size = len(whole.content)
    assert whole.headers["accept-ranges"] == "bytes" and size > 10_000
    resumed = {"range": "bytes=10000-", "if-range": whole.headers["last-modified"]}
    rest = client.get("/dump.nq.gz", headers=resumed)
    assert rest.status_code == 206 and rest.headers["content-range"] == f"bytes 10000-{size - 1}/{size}"
    assert whole.content[:10_000] + rest.content == whole.content
    weak = client.get("/dump.nq.gz", headers={**resumed, "if-range": whole.headers["etag"]})
    assert weak.status_code == 200 and weak.content == whole.content, "a weak ETag never validates a range"
    head = client.head("/dump.nq.gz", headers={"range": "bytes=10000-"})
    assert head.status_code == 206 and head.content == b"" and head.headers["content-length"] == str(size - 10_000)


def test_the_dump_is_one_file_that_every_app_over_the_cache_directory_sends(client, store):
    """`serve --workers N` made N dumps, each held in its process's memory (at 1M triples 9 s and 11 MB apiece):
    the first app to be asked makes the file, the others send it without asking their store."""
    forget_dumps()
    made = client.get("/dump.nq.gz")
    with TestClient(create_app(store.settings)) as other:

        def dump(*args, **kwargs):
            raise AssertionError("the store was asked for a dump that was made already")

        other.app.state.store.dump = dump
        sent = other.get("/dump.nq.gz")
    assert sent.status_code == 200 and sent.content == made.content
    assert all(sent.headers[name] == made.headers[name] for name in ("etag", "last-modified", "content-length"))


def test_each_data_version_has_its_dump_and_only_the_latest_are_kept(make_client):
    client = make_client(admin_token="ld-token")
    headers = {"content-type": "application/sparql-update", "authorization": "Bearer ld-token"}
    dumps = Path(client.app.state.settings.cache_dir) / "dumps"
    for number in range(exports.KEPT_DUMPS + 2):
        update = f"INSERT DATA {{ GRAPH <x:g> {{ <x:s> <x:p> {number} }} }}"
        assert client.post("/sparql", content=update, headers=headers).status_code == 204
        quads = ox.parse(gzip.decompress(client.get("/dump.nq.gz").content), format=ox.RdfFormat.N_QUADS)
        assert {int(q.object.value) for q in quads if q.subject == ox.NamedNode("x:s")} == set(range(number + 1))
    assert len(list(dumps.glob("dump-*.nq.gz"))) == exports.KEPT_DUMPS
    assert not list(dumps.glob(".making-*"))


def test_the_vocabulary_and_its_context_are_served_and_current(client):
    ontology = rdflib.Graph().parse(data=client.get("/ontology").text, format="turtle")
    stance = rdflib.URIRef(PREFIXES["sg"] + "Stance")
    assert (stance, rdflib.RDF.type, rdflib.OWL.Class) in ontology
    context = client.get("/ontology/context.jsonld")
    assert context.headers["content-type"] == "application/ld+json"
    from app.jsonld import context_text, generate_context
    from app.settings import Settings

    served = context.text
    assert served == (PROJECT_ROOT / "ontology" / "context.jsonld").read_text(encoding="utf-8")
    assert served == context_text(generate_context(Settings().ontology_files())), "run `stancegraph context`"
    assert json.loads(served)["@context"]["holder"] == {"@id": "sg:holder", "@type": "@id"}


@pytest.mark.parametrize("path", ["/id/Russia", "/.well-known/void", "/dump.nq.gz", "/ontology"])
def test_linked_data_routes_are_documented(client, path):
    documented = client.get("/openapi.json").json()["paths"]
    template = "/id/{path}" if path.startswith("/id/") else path
    assert template in documented


def _edges_over_the_whole_dataset(store, pattern: str) -> dict[tuple[str, str], tuple[str, ...]]:
    """(property, value) -> graphs stating it ('' for the default graph), read triple by triple: the answer
    the resource pages must give on every backend, however each one asks."""
    rows = store.select(
        f"SELECT ?p ?v ?g WHERE {{ {{ {pattern} }} UNION {{ GRAPH ?g {{ {pattern} }} }} }}", union_default_graph=False
    )
    edges: dict[tuple[str, str], set[str]] = {}
    for row in rows:
        edges.setdefault((row["p"].value, str(row["v"])), set()).add(row["g"].value if row["g"] else "")
    return {key: tuple(sorted(g for g in graphs if g)) for key, graphs in edges.items()}


@pytest.mark.parametrize("name", ["Russia", "ThirdSite", "doc/000_dcc2f28bf5a60eb8"])
def test_a_resource_s_neighbours_name_the_graphs_that_state_them_and_only_ours(store, name):
    """Over a remote store each edge's graphs come from one query over its union default graph, ours among
    its named graphs: the same graphs as triple by triple, none of the store's own (`.../graph/default`)."""
    iri = ID + name
    described = linked_data.describe_resource(store, iri, None)
    assert described is not None
    for edges, pattern in ((described.outgoing, f"<{iri}> ?p ?v"), (described.incoming, f"?v ?p <{iri}>")):
        assert {(e.property, str(e.value)): tuple(sorted(e.graphs)) for e in edges} == _edges_over_the_whole_dataset(
            store, pattern
        )
    graphs = {g for e in described.outgoing + described.incoming for g in e.graphs}
    assert graphs and not graphs & {GRAPH + "default", GRAPH + "stancegraph"}


def test_a_document_record_s_triples_are_in_the_default_graph(store):
    described = linked_data.describe_resource(store, ID + "doc/000_dcc2f28bf5a60eb8", None)
    assert any(e.graphs == () for e in described.outgoing), "the default graph is said as no graph"


def test_void_counts_each_graph_as_the_store_does(store):
    statistics = service_description.dataset_statistics(store)
    per_graph = store.select(
        "SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g", union_default_graph=False
    )
    assert statistics.graph_triples == {row["g"].value: int(row["n"].value) for row in per_graph}
    default = store.select("SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }", union_default_graph=False)[0]["n"]
    assert statistics.default_graph_triples == int(default.value) > 0


def test_a_cache_directory_that_cannot_be_written_still_gives_the_dump(make_client, tmp_path, caplog):
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the cache directory should be")
    client = make_client(cache_dir=blocked)
    response = client.get("/dump.nq.gz")
    assert response.status_code == 200 and gzip.decompress(response.content).count(b"\n") > 1000
    assert f"dumps cannot be written in {blocked / 'dumps'}" in caplog.text
