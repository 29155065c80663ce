"""The SPARQL 1.1 Protocol at /sparql, over the real app and the real data."""

import csv
import io
import json
import logging
import re

import httpx
import pyoxigraph as ox
import pytest
import rdflib

from app import http_common
from app.formats import RDF_ALIASES
from app.namespaces import DERIVED_GRAPH, ID, SG, sparql_prologue
from app.remote_store import _head_in_order
from app.sparql_text import reads_named_graphs, select_star, star_in_order, volatile
from tests.live import free_port, stancegraph_process

TOKEN = "test-admin-token"
STANCES = sparql_prologue() + "SELECT (COUNT(?s) AS ?n) WHERE { ?s a sg:Stance }"
RUSSIA_REJECTS = sparql_prologue() + "ASK { id:Russia sg:rejects id:ThirdSite }"
GRAPH_2009 = ID + "graph/000_dcc2f28bf5a60eb8"


def rows(response) -> list[str]:
    """A SPARQL JSON answer's solutions, in an order of their own (the engine's order is not the query's)."""
    return sorted(json.dumps(row, sort_keys=True) for row in response.json()["results"]["bindings"])


def count(response) -> int:
    assert response.status_code == 200, response.text
    return int(response.json()["results"]["bindings"][0]["n"]["value"])


def test_get_form_post_and_direct_post_give_the_same_answer(client):
    by_get = client.get("/sparql", params={"query": RUSSIA_REJECTS})
    by_form = client.post("/sparql", data={"query": RUSSIA_REJECTS})
    by_body = client.post("/sparql", content=RUSSIA_REJECTS, headers={"content-type": "application/sparql-query"})
    for response in (by_get, by_form, by_body):
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/sparql-results+json"
        assert response.json() == {"head": {}, "boolean": True}


@pytest.mark.parametrize(
    ("accept", "content_type"),
    [
        ("application/sparql-results+json", "application/sparql-results+json"),
        ("application/sparql-results+xml", "application/sparql-results+xml"),
        ("text/csv", "text/csv; charset=utf-8"),
        ("text/tab-separated-values", "text/tab-separated-values; charset=utf-8"),
        ("application/json", "application/sparql-results+json"),
        ("text/csv;q=0.5, application/sparql-results+xml", "application/sparql-results+xml"),
    ],
)
def test_select_content_negotiation(client, accept, content_type):
    response = client.get("/sparql", params={"query": STANCES}, headers={"accept": accept})
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert "29" in response.text


@pytest.mark.parametrize(
    ("accept", "rdflib_format"),
    [
        ("text/turtle", "turtle"),
        ("application/n-triples", "nt"),
        ("application/ld+json", "json-ld"),
        ("application/rdf+xml", "xml"),
        ("application/trig", "trig"),
        ("application/n-quads", "nquads"),
        ("application/json", "json-ld"),  # JSON for a graph: JSON-LD
        ("application/xml", "xml"),
        ("text/plain", "nt"),
    ],
)
def test_construct_in_every_rdf_format_parses_back(client, accept, rdflib_format):
    query = sparql_prologue() + "CONSTRUCT { ?h sg:rejects ?t } WHERE { ?h sg:rejects ?t }"
    response = client.get("/sparql", params={"query": query}, headers={"accept": accept})
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == RDF_ALIASES.get(accept, accept)
    dataset = rdflib.Dataset(default_union=True)
    dataset.parse(data=response.content, format=rdflib_format)
    assert (rdflib.URIRef(ID + "Russia"), rdflib.URIRef(SG + "rejects"), rdflib.URIRef(ID + "ThirdSite")) in dataset


def test_format_parameter_overrides_accept(client):
    response = client.get("/sparql", params={"query": STANCES, "format": "csv"}, headers={"accept": "application/json"})
    assert response.headers["content-type"] == "text/csv; charset=utf-8"


def test_format_field_of_a_form_post_overrides_accept(client):
    """HTML forms cannot set Accept: the form's own `format` field chooses, as `format=` does in a GET."""
    response = client.post("/sparql", data={"query": STANCES, "format": "csv"}, headers={"accept": "application/json"})
    assert response.headers["content-type"] == "text/csv; charset=utf-8"


def test_csv_keeps_every_value_in_its_column(client):
    """An IRI with a comma (DBpedia's Washington,_D.C.) must not shift its row, as Oxigraph's own writer would."""
    query = (
        "SELECT ?place ?label ?blank WHERE { VALUES (?place ?label) { "
        '(<http://dbpedia.org/resource/Washington,_D.C.> "Washington, \\"D.C.\\"") '
        '(<http://dbpedia.org/resource/Moscow> "Moscow") '
        "} BIND (BNODE() AS ?blank) } ORDER BY ?label"
    )
    response = client.get("/sparql", params={"query": query}, headers={"accept": "text/csv"})
    assert response.status_code == 200 and response.content.endswith(b"\r\n")
    header, *rows = csv.reader(io.StringIO(response.text, newline=""))
    assert header == ["place", "label", "blank"]
    assert [row[:2] for row in rows] == [
        ["http://dbpedia.org/resource/Moscow", "Moscow"],
        ["http://dbpedia.org/resource/Washington,_D.C.", 'Washington, "D.C."'],
    ]
    assert all(row[2].startswith("_:") and len(row) == 3 for row in rows)


STAR_QUERIES = {  # STAR: the projection, `*` or the variables written out
    "a graph pattern": ("SELECT STAR WHERE { GRAPH ?g { ?stance sg:holder ?holder } }", ["g", "stance", "holder"]),
    "a lookup (answered in the server process)": (
        "SELECT STAR { ?thing ?property id:ThirdSite }",
        ["thing", "property"],
    ),
    "distinct, $, optional, a subquery; what is not in scope left out": (
        "# ?zzz in a comment\nSELECT DISTINCT STAR{ ?stance sg:holder $holder OPTIONAL { ?stance sg:date ?date }"
        ' FILTER NOT EXISTS { ?stance sg:nothing ?hidden } FILTER (?holder != "?aaa")'
        " { SELECT ?stance (COUNT(*) AS ?evidence) WHERE { ?stance sg:evidence ?quote } GROUP BY ?stance } }",
        ["stance", "holder", "date", "evidence"],
    ),
}


@pytest.mark.parametrize("name", STAR_QUERIES)
def test_select_star_lists_the_variables_in_the_order_the_query_mentions_them(client, name):
    """Not alphabetically, as the engine (and Oxigraph server) would: `SELECT * { ?s ?p ?o }` gave o, p, s."""
    query, variables = STAR_QUERIES[name]
    star = client.get("/sparql", params={"query": sparql_prologue() + query.replace("STAR", "*")})
    assert star.status_code == 200, star.text
    assert star.json()["head"]["vars"] == variables
    explicit = client.get(
        "/sparql", params={"query": sparql_prologue() + query.replace("STAR", " ?".join(["", *variables]))}
    )
    assert star.json()["head"] == explicit.json()["head"]
    assert rows(star) == rows(explicit) and rows(star)
    as_csv = client.get("/sparql", params={"query": sparql_prologue() + query.replace("STAR", "*"), "format": "csv"})
    assert as_csv.text.split("\r\n")[0] == ",".join(variables)


@pytest.mark.parametrize(
    ("query", "written"),
    [
        ("SELECT * { ?b ?a }", "SELECT  ?b ?a  { ?b ?a }"),
        (
            "PREFIX p: <x:?a> # ?a\nselect reduced*{ <x:?a> ?b ?a }",
            "PREFIX p: <x:?a> # ?a\nselect reduced ?b ?a { <x:?a> ?b ?a }",
        ),
        ("SELECT * { { SELECT * { ?b ?a } } }", "SELECT  ?b ?a  { { SELECT * { ?b ?a } } }"),
        ('SELECT * { ?a ?b FILTER (?c = "?b ?a") }', None),
        ("SELECT (COUNT(*) AS ?n) { ?b ?a }", None),
        ("ASK { ?b ?a }", None),
    ],
)
def test_only_the_querys_own_select_star_is_written_out(query, written):
    star = select_star(query)
    assert (star_in_order(query, star, ["a", "b"]) if star is not None else None) == written


@pytest.mark.parametrize(
    "head",
    [
        b'{"head":{"vars":["a","b"]},',  # Oxigraph server
        b'{ "head": { "link": [], "vars": ["a", "b"] },\n',  # Virtuoso
        b'{ "head": {\n    "vars": [ "a" , "b" ]\n  } ,\n',  # Fuseki
    ],
)
def test_a_remote_answer_to_select_star_is_read_with_its_variables_in_the_querys_order(head):
    body = head + b' "results": { "bindings": [ { "a": { "type": "literal", "value": "1" } } ] } }'
    answer = ox.parse_query_results(_head_in_order(body, "SELECT * { ?b ?a }"), format=ox.QueryResultsFormat.JSON)
    assert [variable.value for variable in answer.variables] == ["b", "a"]
    assert answer.serialize(format=ox.QueryResultsFormat.CSV) == b"b,a\r\n,1\r\n"


def test_answers_that_change_at_every_evaluation_are_never_kept(client):
    """NOW(), RAND(), UUID() and STRUUID() answer anew at each evaluation: kept by data version, the time stood
    still, `ORDER BY RAND()` drew the same sample again and a 304 said nothing had changed."""
    fresh = "SELECT (STRUUID() AS ?id) (RAND() AS ?r) (NOW() AS ?t) {}"
    first, second = (client.get("/sparql", params={"query": fresh}) for _ in range(2))
    assert "etag" not in first.headers and "etag" not in second.headers
    assert first.json()["results"]["bindings"][0]["id"] != second.json()["results"]["bindings"][0]["id"]
    sample = sparql_prologue() + "SELECT ?s WHERE { ?s a sg:Stance } ORDER BY RAND() LIMIT 5"
    draws = {
        tuple(b["s"]["value"] for b in client.get("/sparql", params={"query": sample}).json()["results"]["bindings"])
        for _ in range(5)
    }
    assert len(draws) > 1, "five draws of 5 stances out of 29 were the same"
    for kept in ('SELECT ?now { BIND ("NOW()" AS ?now) }', "SELECT ?rand { ?rand ?p ?o } LIMIT 1 # RAND()"):
        assert "etag" in client.get("/sparql", params={"query": kept}).headers, kept


@pytest.mark.parametrize(
    ("query", "changing"),
    [
        ("SELECT (NOW() AS ?t) {}", True),
        ("select * { ?s ?p ?o } order by rand ( ) limit 3", True),
        ("CONSTRUCT { ?s <x:id> ?id } WHERE { ?s ?p ?o BIND (UUID() AS ?id) }", True),
        ("SELECT ?x { BIND (STRUUID # a comment\n () AS ?x) }", True),
        ('SELECT ?now { BIND ("NOW()" AS ?now) }', False),
        ("PREFIX ex: <x:> SELECT (ex:rand(?s) AS ?x) { ?s ?p ?o }", False),
        ("SELECT ?rand { ?rand ?p ?o } # ORDER BY RAND()", False),
        ("SELECT ?s { ?s <x:now(> ?o }", False),
    ],
)
def test_a_query_that_answers_anew_at_each_evaluation_is_told_apart(query, changing):
    assert volatile(query) is changing


@pytest.mark.parametrize("accept", ["application/n-triples", "text/turtle", "application/rdf+xml"])
def test_a_describe_writes_each_triple_once_and_counts_it_once(client, accept):
    """The engine's DESCRIBE over the union of the graphs writes a triple once per graph that holds it: the
    entities and a document both say the US proposed the third site, which came twice, and counted as 15 rows."""
    described = client.get("/sparql", params={"query": f"DESCRIBE <{ID}ThirdSite>"}, headers={"accept": accept})
    page = client.get("/id/ThirdSite", headers={"accept": accept})
    fmt = ox.RdfFormat.from_media_type(accept)
    for answer in (described, page):
        assert answer.status_code == 200, answer.text
        triples = list(ox.parse(answer.content, format=fmt))
        assert len(triples) == len(set(triples)) == 14
        assert sum(t.predicate == ox.NamedNode(SG + "proposedBy") for t in triples) == 1
    assert described.headers["stancegraph-rows"] == "14"


def test_nothing_acceptable_is_406(client):
    response = client.get("/sparql", params={"query": STANCES}, headers={"accept": "image/png"})
    assert response.status_code == 406
    construct = client.get(
        "/sparql", params={"query": "CONSTRUCT WHERE { ?s ?p ?o } LIMIT 1"}, headers={"accept": "text/csv"}
    )
    assert construct.status_code == 406
    assert construct.text.startswith("nothing the request accepts can represent triples; acceptable: text/turtle, ")


def test_default_graph_is_the_union_unless_the_request_names_a_dataset(client):
    assert count(client.get("/sparql", params={"query": STANCES})) == 29
    only_2009 = client.get("/sparql", params={"query": STANCES, "default-graph-uri": GRAPH_2009})
    assert count(only_2009) == 15
    named = sparql_prologue() + "SELECT (COUNT(?s) AS ?n) WHERE { GRAPH ?g { ?s a sg:Stance } }"
    assert count(client.get("/sparql", params={"query": named, "named-graph-uri": GRAPH_2009})) == 15
    assert count(client.get("/sparql", params={"query": STANCES, "named-graph-uri": GRAPH_2009})) == 0


def test_without_the_union_the_default_graph_is_ours_and_graph_reads_the_named_ones(client):
    """union-default-graph=false: the default graph holds the document records, the stances are in the
    documents' graphs (a remote store is sent its named graphs only for a query that reads them)."""
    no_union = {"union-default-graph": "false"}
    assert count(client.get("/sparql", params={"query": STANCES, **no_union})) == 0
    named = sparql_prologue() + "SELECT (COUNT(?s) AS ?n) WHERE { GRAPH ?g { ?s a sg:Stance } }"
    assert count(client.get("/sparql", params={"query": named, **no_union})) == 29
    records = sparql_prologue() + "SELECT (COUNT(?d) AS ?n) WHERE { ?d a sg:SourceDocument }"
    assert count(client.get("/sparql", params={"query": records, **no_union})) == 2


@pytest.mark.parametrize(
    ("query", "reads"),
    [
        ("SELECT * WHERE { ?s ?p ?o }", False),
        ("SELECT * WHERE { GRAPH ?g { ?s ?p ?o } }", True),
        ("select * where { graph <urn:g> { ?s ?p ?o } }", True),
        ("PREFIX graph: <urn:g/> SELECT * WHERE { graph:a ?p ?o }", False),
        ('SELECT * WHERE { ?s ?p "GRAPH" } # GRAPH ?g', False),
        ("SELECT * WHERE { ?s <urn:GRAPH> ?graph }", False),
    ],
)
def test_a_graph_clause_is_told_from_the_word_graph_elsewhere(query, reads):
    assert reads_named_graphs(query) is reads


def test_the_querys_own_from_names_its_dataset(client):
    """Told to make the union of the graphs the default graph, the engine (and Oxigraph server) ignored FROM:
    a query `FROM` the 2009 document's graph counted the stances of every document."""
    stances = "SELECT (COUNT(?s) AS ?n) %s WHERE { ?s a sg:Stance }"
    in_2009 = sparql_prologue() + f"PREFIX graph: <{ID}graph/> " + stances % "FROM graph:000_dcc2f28bf5a60eb8"
    assert count(client.get("/sparql", params={"query": in_2009})) == 15
    assert count(client.get("/sparql", params={"query": in_2009, "union-default-graph": "false"})) == 15
    both = sparql_prologue() + stances % f"FROM <{GRAPH_2009}> FROM <{ID}graph/003_cf8b46a4843bbcf9>"
    assert count(client.get("/sparql", params={"query": both})) == 29
    relative = f"BASE <{ID}graph/> " + sparql_prologue() + stances % "FROM <000_dcc2f28bf5a60eb8>"
    assert count(client.get("/sparql", params={"query": relative})) == 15
    named = (
        sparql_prologue()
        + f"SELECT (COUNT(?s) AS ?n) FROM NAMED <{GRAPH_2009}> WHERE {{ GRAPH ?g {{ ?s a sg:Stance }} }}"
    )
    assert count(client.get("/sparql", params={"query": named})) == 15
    nothing_by_default = sparql_prologue() + stances % f"FROM NAMED <{GRAPH_2009}>"  # the default graph is empty
    assert count(client.get("/sparql", params={"query": nothing_by_default})) == 0
    overridden = client.get(
        "/sparql", params={"query": in_2009, "default-graph-uri": f"{ID}graph/003_cf8b46a4843bbcf9"}
    )
    assert count(overridden) == 14  # the request's dataset comes before the query's (SPARQL 1.1 Protocol 2.1.4)


@pytest.mark.parametrize(
    ("request_kwargs", "status", "message"),
    [
        ({"params": {"query": "SELECT ?s WHERE { ?s a }"}}, 400, "SPARQL syntax error at line 1, column 25"),
        ({"params": [("query", "ASK {}"), ("query", "ASK {}")]}, 400, "given 2 times"),
        ({"params": {"query": "ASK {}"}, "headers": {"accept": "garbage"}}, 400, "malformed Accept"),
        ({"params": {"update": "CLEAR ALL"}}, 400, "updates must be sent with POST"),
    ],
)
def test_bad_requests_are_400_with_what_and_where(client, request_kwargs, status, message):
    response = client.get("/sparql", **request_kwargs)
    assert response.status_code == status
    assert message in response.text
    assert "Traceback" not in response.text


def test_wrong_method_and_media_type(client):
    assert client.put("/sparql", content="x").status_code == 405
    response = client.post("/sparql", content="ASK {}", headers={"content-type": "text/plain"})
    assert response.status_code == 415 and "application/sparql-query" in response.text
    both = client.post("/sparql", data={"query": "ASK {}", "update": "CLEAR ALL"})
    assert both.status_code == 400


def test_request_bodies_and_queries_past_the_limit_are_413(make_client):
    small = make_client(max_query_bytes=1000, admin_token=TOKEN, max_upload_bytes=2000)
    long_query = "ASK {} #" + "x" * 2000
    assert (
        small.post("/sparql", content=long_query, headers={"content-type": "application/sparql-query"}).status_code
        == 413
    )
    assert small.get("/sparql", params={"query": long_query}).status_code == 413
    upload = small.put(
        "/store?graph=http://example.org/g",
        content=b"<a:b> <a:c> <a:d> .\n" * 200,
        headers={"content-type": "application/n-triples", "authorization": f"Bearer {TOKEN}"},
    )
    assert upload.status_code == 413
    assert small.get("/store?graph=http://example.org/g").status_code == 404


def test_an_upload_spooled_to_a_file_is_written_whole_or_not_at_all(make_client, monkeypatch):
    """Uploads past the in-memory spool go to a temporary file that the parser and loader read from (a body
    read into memory was held twice, then parsed into Python terms: +841 MB for 92 MB of N-Triples)."""
    monkeypatch.setattr(http_common, "SPOOL_IN_MEMORY", 4096)
    monkeypatch.setattr(http_common, "SPOOL_BATCH", 1000)
    store = make_client(admin_token=TOKEN, max_upload_bytes=500_000)
    headers = {"content-type": "application/n-triples", "authorization": f"Bearer {TOKEN}"}
    lines = [f'<http://e/s{i}> <http://e/p> "{i}" .\n'.encode() for i in range(5000)]  # 160 KB, sent chunked
    graph = "/store?graph=http://example.org/spooled"
    assert store.put(graph, content=iter(lines), headers=headers).status_code == 201
    count = "SELECT (COUNT(*) AS ?n) WHERE { GRAPH <http://example.org/spooled> { ?s ?p ?o } }"
    assert store.get("/sparql", params={"query": count}).json()["results"]["bindings"][0]["n"]["value"] == "5000"
    broken = store.post(graph, content=iter([*lines[:4000], b"<http://e/s> <http://e/p> .\n"]), headers=headers)
    assert broken.status_code == 400 and "line 4001" in broken.text.lower()
    too_large = store.post(graph, content=iter(lines * 4), headers=headers)  # no Content-Length: cut as it comes
    assert too_large.status_code == 413
    assert store.get("/sparql", params={"query": count}).json()["results"]["bindings"][0]["n"]["value"] == "5000"


def test_row_limit_is_announced_never_silent(make_client):
    limited = make_client(max_rows=5)
    response = limited.get("/sparql", params={"query": "SELECT * WHERE { ?s ?p ?o }"})
    assert len(response.json()["results"]["bindings"]) == 5
    assert response.headers["stancegraph-truncated"] == "true"
    assert response.headers["stancegraph-row-limit"] == "5"
    whole = limited.get("/sparql", params={"query": "SELECT * WHERE { ?s ?p ?o } LIMIT 3"})
    assert whole.headers["stancegraph-truncated"] == "false" and whole.headers["stancegraph-rows"] == "3"


def test_runaway_query_is_stopped_at_the_timeout(make_client):
    fast = make_client(query_timeout=1.0)
    cross_join = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"
    response = fast.get("/sparql", params={"query": cross_join})
    assert response.status_code == 503
    assert "stopped after the 1 s time limit" in response.text
    assert fast.get("/sparql", params={"query": RUSSIA_REJECTS}).json()["boolean"] is True


def test_updates_need_the_admin_token_and_change_nothing_without_it(make_client):
    writable = make_client(admin_token=TOKEN)
    insert = "INSERT DATA { <http://example.org/a> <http://example.org/b> <http://example.org/c> }"
    check = {"query": "ASK { <http://example.org/a> ?p ?o }"}
    headers = {"content-type": "application/sparql-update"}
    assert writable.post("/sparql", content=insert, headers=headers).status_code == 401
    wrong = writable.post("/sparql", content=insert, headers={**headers, "authorization": "Bearer nope"})
    assert wrong.status_code == 403
    assert writable.get("/sparql", params=check).json()["boolean"] is False
    version = writable.get("/health").json()["data_version"]
    ok = writable.post("/sparql", content=insert, headers={**headers, "authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 204
    assert writable.get("/sparql", params=check).json()["boolean"] is True
    assert writable.get("/health").json()["data_version"] != version
    by_form = writable.post(
        "/sparql",
        data={"update": "CLEAR GRAPH <http://nowhere.example/>"},
        headers={"authorization": f"Bearer {TOKEN}"},
    )
    assert by_form.status_code == 400 and "update failed" in by_form.text


def test_read_only_by_default(client):
    insert = "INSERT DATA { <http://example.org/a> <http://example.org/b> <http://example.org/c> }"
    response = client.post(
        "/sparql",
        content=insert,
        headers={"content-type": "application/sparql-update", "authorization": "Bearer anything"},
    )
    assert response.status_code == 403 and "writes are disabled" in response.text
    assert client.put("/store?graph=http://example.org/g", content=b"").status_code == 405
    assert client.post("/admin/reload").status_code in (404, 405)
    assert client.get("/sparql", params={"query": "ASK { <http://example.org/a> ?p ?o }"}).json()["boolean"] is False


def test_an_empty_named_graph_exists_and_an_absent_one_does_not(make_client):
    """Whether a graph exists is a seek in the graph index on the embedded stores, a query on a remote one."""
    client = make_client(admin_token=TOKEN)
    update = {"content-type": "application/sparql-update", "authorization": f"Bearer {TOKEN}"}
    created = client.post("/sparql", content="CREATE GRAPH <http://example.org/empty>", headers=update)
    assert created.status_code == 204, created.text
    empty = client.get("/store?graph=http://example.org/empty", headers={"accept": "application/n-triples"})
    assert empty.status_code == 200 and empty.text.strip() == ""
    assert client.get("/store?graph=http://example.org/absent").status_code == 404
    redirect = client.get("/id/graph/000_dcc2f28bf5a60eb8", headers={"accept": "text/turtle"}, follow_redirects=False)
    assert redirect.status_code == 303 and "graph%2F000_dcc2f28bf5a60eb8" in redirect.headers["location"]


def test_after_an_update_the_engine_refuses_the_next_one_is_applied(make_client):
    """The refusal comes from the engine, with the store open for writing (on disk: a read-write handle,
    which holds RocksDB's lock): nothing of it may stop the next write."""
    client = make_client(admin_token=TOKEN)
    update = {"content-type": "application/sparql-update", "authorization": f"Bearer {TOKEN}"}
    create = "CREATE GRAPH <http://example.org/once>"
    assert client.post("/sparql", content=create, headers=update).status_code == 204
    for _ in range(2):
        again = client.post("/sparql", content=create, headers=update)
        assert again.status_code == 400 and "already exists" in again.text, again.text
    insert = "INSERT DATA { GRAPH <http://example.org/once> { <http://e/a> <http://e/b> 1 } }"
    assert client.post("/sparql", content=insert, headers=update).status_code == 204
    assert client.get("/sparql", params={"query": "ASK { <http://e/a> <http://e/b> 1 }"}).json()["boolean"]


def test_graph_store_protocol(make_client):
    store = make_client(admin_token=TOKEN)
    auth = {"authorization": f"Bearer {TOKEN}"}
    graph = "/store?graph=http://example.org/g"
    turtle = {"content-type": "text/turtle", **auth}
    assert store.get(graph).status_code == 404
    assert store.put(graph, content=b"<http://e/a> <http://e/b> 1 .", headers=turtle).status_code == 201
    assert store.put(graph, content=b"<http://e/a> <http://e/b> 2 .", headers=turtle).status_code == 204
    assert store.post(graph, content=b"<http://e/a> <http://e/b> 3 .", headers=turtle).status_code == 204
    got = store.get(graph, headers={"accept": "application/n-triples"})
    assert sorted(got.text.strip().splitlines()) == [
        '<http://e/a> <http://e/b> "2"^^<http://www.w3.org/2001/XMLSchema#integer> .',
        '<http://e/a> <http://e/b> "3"^^<http://www.w3.org/2001/XMLSchema#integer> .',
    ]
    assert store.put(graph, content=b"<a> <b", headers=turtle).status_code == 400
    schema_org = b'{"@context": "https://schema.org/", "@id": "http://e/a", "name": "a"}'  # nothing is fetched
    remote = store.put(graph, content=schema_org, headers={"content-type": "application/ld+json", **auth})
    assert remote.status_code == 400 and "its @context is a URL" in remote.text
    assert store.put(graph, content=b"x", headers={"content-type": "application/pdf", **auth}).status_code == 415
    assert store.put(graph, content=b"<http://e/a> <http://e/b> 4 .").status_code == 401
    assert store.delete(graph, headers=auth).status_code == 204
    assert store.delete(graph, headers=auth).status_code == 404
    assert store.get("/store?default&graph=http://example.org/g").status_code == 400
    whole = store.get("/store", headers={"accept": "application/n-quads"})
    assert GRAPH_2009 in whole.text
    derived = f"/store?graph={DERIVED_GRAPH}"  # the rules would undo a write there at once: refused, not lost
    refused = store.post(derived, content=b"<http://e/a> <http://e/b> 5 .", headers=turtle)
    assert refused.status_code == 403 and "derived by the rules in queries/rules/" in refused.text
    assert store.delete(derived, headers=auth).status_code == 403
    assert store.get(derived, headers={"accept": "application/n-triples"}).status_code == 200


@pytest.mark.parametrize("accept", ["application/n-quads", "application/trig"])
def test_the_whole_dataset_is_sent_complete_and_its_length_said_first(client, accept):
    """GET /store sends every quad from a file written first (held in memory, it cost each request the dataset's
    size: 195 MB at 1M triples), with its length, so a harvester can tell a complete download."""
    whole = client.get("/store", headers={"accept": accept, "accept-encoding": "identity"})  # gzipped: chunked
    assert whole.status_code == 200 and whole.headers["content-type"].startswith(accept)
    assert int(whole.headers["content-length"]) == len(whole.content)
    quads = list(ox.parse(whole.content, format=ox.RdfFormat.from_media_type(accept)))
    stored = "SELECT (COUNT(*) AS ?n) WHERE { { ?s ?p ?o } UNION { GRAPH ?g { ?s ?p ?o } } }"
    assert len(quads) == count(client.get("/sparql", params={"query": stored, "union-default-graph": "false"}))
    assert (
        ox.Quad(
            ox.NamedNode(ID + "Russia"),
            ox.NamedNode(SG + "rejects"),
            ox.NamedNode(ID + "ThirdSite"),
            ox.NamedNode(DERIVED_GRAPH),
        )
        in quads
    )


def test_a_graph_store_payload_is_one_graph_in_any_rdf_format(make_client):
    """A payload fills the graph the request names; one naming graphs of its own is refused and writes nothing
    (it was merged into the target, losing its graphs; written by the loader as it reads, it would have filled
    those graphs, the derived one among them)."""
    store = make_client(admin_token=TOKEN)
    auth = {"authorization": f"Bearer {TOKEN}"}
    graph = "/store?graph=http://example.org/g"
    payloads = {
        "text/turtle": b"<http://e/a> <http://e/b> 1 .",
        "application/n-triples": b'<http://e/a> <http://e/b> "1"^^<http://www.w3.org/2001/XMLSchema#integer> .',
        "application/ld+json": b'{"@id": "http://e/a", "http://e/b": 1}',
        "application/rdf+xml": b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:e="http://e/">'
        b'<rdf:Description rdf:about="http://e/a"><e:b rdf:datatype="http://www.w3.org/2001/XMLSchema#integer">1'
        b"</e:b></rdf:Description></rdf:RDF>",
        "application/trig": b"<http://e/a> <http://e/b> 1 .",  # a dataset format holding the default graph only
    }
    for media_type, payload in payloads.items():
        assert store.put(graph, content=payload, headers={"content-type": media_type, **auth}).is_success, media_type
        got = store.get(graph, headers={"accept": "application/n-triples"}).text.strip()
        assert got == payloads["application/n-triples"].decode(), media_type
    relative = {"content-type": "text/turtle", **auth}  # resolved against the graph's IRI, as Oxigraph server does
    assert store.put(graph, content=b"<#a> <b> <../c> .", headers=relative).is_success
    got = store.get(graph, headers={"accept": "application/n-triples"}).text.strip()
    assert got == "<http://example.org/g#a> <http://example.org/b> <http://example.org/c> ."
    no_base = store.post("/store?default", content=b"<#a> <b> <c> .", headers=relative)  # the default graph: no IRI
    assert no_base.status_code == 400 and "does not parse" in no_base.text
    before = store.get("/store", headers={"accept": "application/n-quads"}).text
    for media_type, payload in {
        "application/trig": b"<http://e/a> <http://e/b> 2 . GRAPH <http://e/other> { <http://e/a> <http://e/b> 3 }",
        "application/n-quads": f"<http://e/a> <http://e/b> <http://e/c> <{DERIVED_GRAPH}> .".encode(),
        "application/ld+json": b'{"@id": "http://e/other", "@graph": [{"@id": "http://e/a", "http://e/b": 3}]}',
    }.items():
        for method in ("PUT", "POST"):
            refused = store.request(method, graph, content=payload, headers={"content-type": media_type, **auth})
            assert refused.status_code == 400, (media_type, method)
            assert "names a graph of its own" in refused.text and "send that graph's triples alone" in refused.text
    assert store.get("/store", headers={"accept": "application/n-quads"}).text == before


@pytest.mark.parametrize("accept", ["application/n-triples", "text/turtle"])
def test_a_named_graph_is_sent_complete_from_a_file_and_its_length_said_first(client, accept):
    """A named graph is written by the store's serializer to a file and sent from there, as the dataset is (it
    went through a query worker under the query time limit, and the app held it: the derived graph at 1M
    triples is 48 MB, at 10M past the 30 s limit)."""
    got = client.get(
        "/store", params={"graph": DERIVED_GRAPH}, headers={"accept": accept, "accept-encoding": "identity"}
    )
    assert got.status_code == 200 and got.headers["content-type"].startswith(accept)
    assert int(got.headers["content-length"]) == len(got.content)
    triples = set(ox.parse(got.content, format=ox.RdfFormat.from_media_type(accept)))
    stored = f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{DERIVED_GRAPH}> {{ ?s ?p ?o }} }}"
    assert len(triples) == count(client.get("/sparql", params={"query": stored})) > 100
    assert ox.Triple(ox.NamedNode(ID + "Russia"), ox.NamedNode(SG + "rejects"), ox.NamedNode(ID + "ThirdSite")) in {
        ox.Triple(t.subject, t.predicate, t.object) for t in triples
    }
    assert client.get("/store", params={"graph": "http://example.org/absent"}).status_code == 404


def test_blank_nodes_of_separate_graph_store_writes_are_separate_nodes(make_client):
    """A blank node label is local to its document: `_:b0` in two uploads is two nodes (the embedded stores
    kept the label, so every client that numbers its blank nodes from b0 wrote into one node)."""
    store = make_client(admin_token=TOKEN)
    headers = {"content-type": "application/n-triples", "authorization": f"Bearer {TOKEN}"}
    for method, graph, text in (("PUT", "a", "in a"), ("PUT", "b", "in b"), ("POST", "b", "posted to b")):
        body = f'_:b0 <http://example.org/p> "{text}" .'.encode()
        target = f"/store?graph=http://example.org/{graph}"
        assert store.request(method, target, content=body, headers=headers).is_success
    nodes = "SELECT (COUNT(DISTINCT ?node) AS ?n) WHERE { GRAPH ?g { ?node <http://example.org/p> ?text } }"
    assert store.get("/sparql", params={"query": nodes}).json()["results"]["bindings"][0]["n"]["value"] == "3"


def test_an_update_writing_to_the_derived_graph_is_refused_and_changes_nothing(make_client):
    """The rules would undo it at once, and it used to be answered 204 as if it had lasted."""
    writable = make_client(admin_token=TOKEN)
    headers = {"content-type": "application/sparql-update", "authorization": f"Bearer {TOKEN}"}
    size = {"query": f"SELECT (COUNT(*) AS ?n) {{ GRAPH <{DERIVED_GRAPH}> {{ ?s ?p ?o }} }}"}

    def derived_triples() -> int:
        return int(writable.get("/sparql", params=size).json()["results"]["bindings"][0]["n"]["value"])

    before, version = derived_triples(), writable.get("/health").json()["data_version"]
    assert before > 100
    for update in (
        f"PREFIX g: <{ID}graph/> INSERT DATA {{ GRAPH g:derived {{ <http://e/a> <http://e/b> 1 }} }}",
        f"CLEAR GRAPH <{DERIVED_GRAPH}>",
        f"WITH <{DERIVED_GRAPH}> DELETE {{ ?s ?p ?o }} WHERE {{ ?s ?p ?o }}",
    ):
        refused = writable.post("/sparql", content=update, headers=headers)
        assert refused.status_code == 403 and "derived by the rules in queries/rules/" in refused.text
    auth = {"authorization": f"Bearer {TOKEN}"}
    by_form = writable.post("/sparql", data={"update": f"DROP GRAPH <{DERIVED_GRAPH}>"}, headers=auth)
    assert by_form.status_code == 403
    assert derived_triples() == before and writable.get("/health").json()["data_version"] == version
    rejections = f"GRAPH <{DERIVED_GRAPH}> {{ ?s <{SG}rejects> ?o }}"
    copy = f"INSERT {{ GRAPH <http://e/copy> {{ ?s <{SG}rejects> ?o }} }} WHERE {{ {rejections} }}"
    assert writable.post("/sparql", content=copy, headers=headers).status_code == 204  # reading it is fine
    copied = f"ASK {{ GRAPH <http://e/copy> {{ <{ID}Russia> <{SG}rejects> <{ID}ThirdSite> }} }}"
    assert writable.get("/sparql", params={"query": copied}).json()["boolean"] is True


def test_an_update_reads_the_graphs_it_names_alike_on_every_backend(make_client, request):
    """What the README tells an update's author: name the graphs its WHERE reads (GRAPH inside it; USING but on
    Oxigraph server, which refuses it next to its union default graph), since the default graph of an update
    is the store's own on the embedded stores, the union on Oxigraph server."""
    writable = make_client(admin_token=TOKEN)
    write = {"content-type": "application/sparql-update", "authorization": f"Bearer {TOKEN}"}
    holders = f"?statement <{SG}holder> ?holder"
    copy = "INSERT {{ GRAPH <http://e/{}> {{ ?statement <http://e/by> ?holder }} }} {} WHERE {{ {} }}"
    inside = copy.format("inside", "", f"GRAPH <{GRAPH_2009}> {{ {holders} }}")
    using = copy.format("using", f"USING <{GRAPH_2009}>", holders)
    assert writable.post("/sparql", content=inside, headers=write).status_code == 204
    with_using = writable.post("/sparql", content=using, headers=write)
    copies = ["http://e/inside"]
    if "sparql" in request.node.callspec.id:  # the store's refusal, passed on: nothing written
        assert (
            with_using.status_code == 400
            and "must not be used with a SPARQL UPDATE containing USING" in with_using.text
        )
    else:
        assert with_using.status_code == 204
        copies.append("http://e/using")
    in_2009 = f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{GRAPH_2009}> {{ {holders} }} }}"
    stated = count(writable.get("/sparql", params={"query": in_2009}))
    for graph in copies:
        copied = f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{graph}> {{ ?s ?p ?o }} }}"
        assert count(writable.get("/sparql", params={"query": copied})) == stated > 15


def test_a_rule_with_from_derives_from_that_graph_alone_after_a_write(make_client):
    """Rules run again after every write, on the remote store too, where its union default graph ignored FROM."""
    writable = make_client(admin_token=TOKEN)
    rules_dir = writable.app.state.store.settings.rules_dir
    (rules_dir / "90-stated-in-2009.rq").write_text(
        f"CONSTRUCT {{ ?holder <http://e/statedIn2009> ?target }} FROM <{GRAPH_2009}>\n"
        f"WHERE {{ ?stance <{SG}holder> ?holder ; <{SG}target> ?target }}\n"
    )
    write = {"content-type": "application/sparql-update", "authorization": f"Bearer {TOKEN}"}
    assert (
        writable.post("/sparql", content="INSERT DATA { <http://e/a> <http://e/b> 1 }", headers=write).status_code
        == 204
    )
    pairs = "SELECT (COUNT(*) AS ?n) WHERE {{ {} }}"
    derived = pairs.format(f"GRAPH <{DERIVED_GRAPH}> {{ ?h <http://e/statedIn2009> ?t }}")
    in_2009 = pairs.format(
        f"SELECT DISTINCT ?h ?t WHERE {{ GRAPH <{GRAPH_2009}> {{ ?s <{SG}holder> ?h ; <{SG}target> ?t }} }}"
    )
    expected = count(writable.get("/sparql", params={"query": in_2009}))
    assert count(writable.get("/sparql", params={"query": derived})) == expected > 10


def test_service_description_has_void_statistics_that_stay_current(make_client):
    writable = make_client(admin_token=TOKEN)
    etags: list[str] = []

    def links_triples() -> int:
        response = writable.get("/sparql", headers={"accept": "text/turtle"})
        assert response.status_code == 200
        etags.append(response.headers["etag"])
        again = writable.get("/.well-known/void", headers={"accept": "text/turtle", "if-none-match": etags[-1]})
        assert again.status_code == 304 and again.headers["etag"] == etags[-1]  # nothing computed or sent again
        assert writable.get("/.well-known/void", headers={"accept": "text/turtle"}).content == response.content
        store = ox.Store()
        store.load(response.content, format=ox.RdfFormat.TURTLE)
        (row,) = store.query(
            "PREFIX sd: <http://www.w3.org/ns/sparql-service-description#> PREFIX void: <http://rdfs.org/ns/void#> "
            "SELECT ?n WHERE { ?s sd:endpoint ?e ; sd:defaultDataset/sd:namedGraph ?g . "
            f"?g sd:name <{ID}graph/links> ; sd:graph/void:triples ?n }}"
        )
        return int(row["n"].value)

    assert links_triples() == 14
    insert = f"INSERT DATA {{ GRAPH <{ID}graph/links> {{ <{ID}Moscow> <http://www.w3.org/2004/02/skos/core#exactMatch> <http://www.wikidata.org/entity/Q649> }} }}"  # noqa: E501
    writable.post(
        "/sparql",
        content=insert,
        headers={"content-type": "application/sparql-update", "authorization": f"Bearer {TOKEN}"},
    )
    assert links_triples() == 15
    assert etags[0] != etags[1]  # the data changed: a client that kept the old description gets the new one


def test_browsers_get_the_query_editor(client):
    page = client.get("/sparql", headers={"accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/assets/yasgui/yasgui.min.js" in page.text and "cdn" not in page.text.lower()
    assert client.get("/assets/yasgui/yasgui.min.js").status_code == 200
    assert client.get("/", headers={"accept": "text/html"}).text == page.text


def test_reload_keeps_the_last_good_graph_and_returns_the_error(make_client, tmp_path):
    writable = make_client(admin_token=TOKEN)
    auth = {"authorization": f"Bearer {TOKEN}"}
    data_dir = writable.app.state.settings.data_dir
    assert writable.post("/admin/reload", headers=auth).json()["status"] == "reloaded"
    version = writable.get("/health").json()["data_version"]
    encoding = data_dir / "encodings/000_dcc2f28bf5a60eb8.ttl"
    encoding.write_text(encoding.read_text().replace("d:stance-03 a sg:Stance ;", "d:stance-03 a sg:Stance ;;["))
    refused = writable.post("/admin/reload", headers=auth)
    assert refused.status_code == 422
    problem = refused.json()["problems"][0]
    assert problem["file"].endswith("encodings/000_dcc2f28bf5a60eb8.ttl") and problem["line"] > 0
    assert writable.get("/health").json()["data_version"] == version
    assert writable.get("/sparql", params={"query": RUSSIA_REJECTS}).json()["boolean"] is True


def test_cors_and_access_log(client, caplog):
    with caplog.at_level(logging.INFO, logger="stancegraph.access"):
        response = client.get("/sparql", params={"query": "ASK {}"}, headers={"origin": "http://elsewhere.example"})
    assert response.headers["access-control-allow-origin"] == "*"
    assert any('"GET /sparql" 200' in record.getMessage() and "ms" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize(
    "request_args",
    [
        {"method": "GET", "params": {"query": STANCES}},
        {"method": "POST", "content": STANCES, "headers": {"content-type": "application/sparql-query"}},
        {"method": "GET", "params": {"query": "SELECT ?s WHERE { ?s ?p }"}},  # 400 with its position
        {"method": "GET", "params": {"query": "ASK {}", "default-graph-uri": "not an iri"}},  # 400
        {"method": "POST", "content": "INSERT DATA {}", "headers": {"content-type": "application/sparql-update"}},
    ],
)
def test_requests_from_other_origins_get_the_same_answers_plus_cors_headers(client, request_args):
    """/sparql without an Origin skips the framework's layers (speed); with one it goes through CORS: the
    answers must not differ."""
    args = {**request_args, "headers": {"accept": "application/sparql-results+json", **request_args.get("headers", {})}}
    direct = client.request(url="/sparql", **args)
    cross = client.request(
        url="/sparql", **{**args, "headers": {**args["headers"], "origin": "http://elsewhere.example"}}
    )
    assert (direct.status_code, direct.text) == (cross.status_code, cross.text)
    assert direct.headers["content-type"] == cross.headers["content-type"]
    assert "access-control-allow-origin" not in direct.headers and cross.headers["access-control-allow-origin"] == "*"
    assert direct.headers["server-timing"].startswith("total;dur=")
    for name in ("stancegraph-rows", "stancegraph-truncated", "etag"):
        assert direct.headers.get(name) == cross.headers.get(name)


@pytest.mark.parametrize("enabled", [True, False])
def test_the_server_logs_one_line_per_request_with_its_time_unless_told_not_to(tmp_path, enabled):
    log = tmp_path / "access.log"
    with log.open("w") as out, stancegraph_process(stdout=out, access_log=str(enabled).lower()) as (base, _):
        httpx.get(f"{base}/sparql", params={"query": "ASK {}"}).raise_for_status()
    lines = [line for line in log.read_text().splitlines() if "/sparql" in line]
    if enabled:  # ours, with the time it took, in place of uvicorn's line without one
        assert len(lines) == 1 and re.search(r'127\.0\.0\.1 "GET /sparql" 200 [\d.]+ms$', lines[0]), lines
    else:
        assert lines == []


def test_identical_queries_are_answered_from_the_cache_until_the_data_changes(make_client):
    writable = make_client(admin_token=TOKEN)
    json = {"accept": "application/sparql-results+json"}
    first = writable.get("/sparql", params={"query": STANCES}, headers=json)
    etag = first.headers["etag"]
    assert (
        writable.get("/sparql", params={"query": STANCES}, headers={**json, "if-none-match": etag}).status_code == 304
    )
    uncached = writable.get("/sparql", params={"query": STANCES}, headers={**json, "cache-control": "no-cache"})
    assert count(uncached) == count(first) and uncached.headers["etag"] == etag
    insert = sparql_prologue() + "INSERT DATA { <http://example.org/new-stance> a sg:Stance }"
    headers = {"content-type": "application/sparql-update", "authorization": f"Bearer {TOKEN}"}
    assert writable.post("/sparql", content=insert, headers=headers).status_code == 204
    after = writable.get("/sparql", params={"query": STANCES}, headers={**json, "if-none-match": etag})
    assert after.status_code == 200 and after.headers["etag"] != etag
    assert count(after) == count(first) + 1


def test_a_head_request_is_logged_as_head(client, caplog):
    with caplog.at_level(logging.INFO, logger="stancegraph.access"):
        assert client.head("/views/stances").status_code == 200
    assert any('"HEAD /views/stances" 200' in record.getMessage() for record in caplog.records)


def test_a_service_that_cannot_be_reached_is_a_502_that_says_so_on_every_backend(make_client):
    """Through `sparql:` the remote store calls the SERVICE itself and, having sent its 200 already, writes
    the failure into its answer (Oxigraph server does): that was a 500 here, the answer failing to parse."""
    endpoint = f"http://127.0.0.1:{free_port()}/sparql"
    client = make_client(federation_allow=[endpoint])
    for query in (
        f"SELECT * WHERE {{ SERVICE <{endpoint}> {{ ?s ?p ?o }} }}",
        f"SELECT * WHERE {{ {{ ?s ?p ?o }} UNION {{ SERVICE <{endpoint}> {{ ?s ?p ?o }} }} }}",  # after some rows
        f"CONSTRUCT {{ ?s ?p ?o }} WHERE {{ {{ ?s ?p ?o }} UNION {{ SERVICE <{endpoint}> {{ ?s ?p ?o }} }} }}",
    ):
        response = client.get("/sparql", params={"query": query})
        assert response.status_code == 502, response.text
        assert "refused" in response.text.lower(), response.text
