"""Lookups (one triple pattern anchored at a constant) are answered in the server process, without a worker:
the same answers, whatever their size, and only for queries whose cost is bounded by their rows."""

import hypothesis
import pytest

from app.lookups import INLINE_ROWS, answer_lookup, bounded, is_lookup
from app.workers import QueryError, QueryJob, execute

TOKEN = "lookup-test-token"
SG = "PREFIX sg: <https://stancegraph.org/ontology#>\nPREFIX id: <https://stancegraph.org/id/>\n"

LOOKUPS = [
    "SELECT ?label WHERE { <https://stancegraph.org/id/Russia> <http://www.w3.org/2000/01/rdf-schema#label> ?label }",
    SG + "SELECT ?p ?o WHERE { id:Russia ?p ?o }",
    SG + "SELECT * { ?stance sg:holder id:Russia . } LIMIT 5",
    SG + "select ?s where { ?s a sg:Stance }",
    "ASK { <https://stancegraph.org/id/Russia> ?p ?o }",
    'ASK{?s<http://www.w3.org/2000/01/rdf-schema#label>"Russia"@en}',
    'SELECT ?s { ?s <x:count> "5"^^<http://www.w3.org/2001/XMLSchema#integer> }',
    "SELECT ?s { ?s <x:count> 5 }",
    "PREFIX ex: <http://example.org/> # a comment { ?x ?y ?z }\nSELECT ?o # the object\nWHERE { ex:a ex:b ?o }",
    "BASE <http://example.org/>\nSELECT ?o { <a> ?p ?o }",
    # what rdflib's SPARQLStore sends for graph.triples((s, None, None)) and graph.subjects(None, o)
    "SELECT ?p ?o  { <https://stancegraph.org/id/Russia> ?p ?o }",
    "SELECT ?s ?p  { ?s ?p <https://stancegraph.org/id/Russia> }",
    # what linked-data browsers, YASGUI's links and our RDF dereference ask
    "DESCRIBE <https://stancegraph.org/id/Russia>",
    SG + "describe id:Russia id:UnitedStates # both\n",
    "BASE <https://stancegraph.org/id/>\nDESCRIBE<Russia><UnitedStates>",
]
NOT_LOOKUPS = {
    "no constant subject or object": "SELECT * { ?s ?p ?o }",
    "constant predicate only": "SELECT * { ?s <x:p> ?o }",
    "a variable twice": "SELECT * { <x:s> ?p ?p }",
    "the same variable with both sigils": "SELECT * { ?s ?p $s }",
    "two patterns": SG + "SELECT * { ?s sg:holder id:Russia ; sg:target ?t }",
    "DISTINCT": "SELECT DISTINCT ?p { <x:s> ?p ?o }",
    "ORDER BY": "SELECT ?o { <x:s> ?p ?o } ORDER BY ?o",
    "OFFSET": "SELECT ?o { <x:s> ?p ?o } OFFSET 100000",
    "FILTER": "SELECT ?o { <x:s> ?p ?o FILTER(?o != 1) }",
    "property path": "SELECT ?o { <x:s> <x:p>+ ?o }",
    "GRAPH": "SELECT ?o { GRAPH ?g { <x:s> ?p ?o } }",
    "FROM": "SELECT ?o FROM <x:g> { <x:s> ?p ?o }",
    "an expression": "SELECT (COUNT(*) AS ?n) { <x:s> ?p ?o }",
    "a blank node": "SELECT ?o { _:b ?p ?o }",
    "a long string": 'SELECT ?s { ?s ?p """x""" }',
    "a string with an escape": 'SELECT ?s { ?s ?p "a\\"b" }',
    "VALUES": "SELECT ?o { <x:s> ?p ?o } VALUES ?o { 1 }",
    "CONSTRUCT": "CONSTRUCT WHERE { <x:s> ?p ?o }",
    "DESCRIBE of a variable": "DESCRIBE ?s WHERE { ?s ?p ?o }",
    "DESCRIBE with a WHERE": "DESCRIBE <x:s> WHERE { ?a ?b ?c }",
    "DESCRIBE *": "DESCRIBE * WHERE { <x:s> ?p ?o }",
    "DESCRIBE FROM": "DESCRIBE <x:s> FROM <x:g>",
    "DESCRIBE of a blank node": "DESCRIBE _:b",
    "DESCRIBE with a solution modifier": "DESCRIBE <x:s> LIMIT 1",
    "DESCRIBE with more after a comment ended by a CR": "DESCRIBE <x:s> #\r?x WHERE { ?x ?p ?o }",
    "a local name the engine reads as one term": "PREFIX ex: <x:>\nSELECT ?o { ex:s:p ?o }",
    "a decimal the engine reads as one number": "SELECT ?s { ?s ?p 5.0 }",
    # a comment ends at a CR for the engine: after it, a cross join of the whole store
    "a comment ended by a CR": "SELECT * { <x:s> ?p ?o #\r. ?a ?b ?c . ?d ?e ?f\n}",
    "white space the engine does not know": "SELECT\u00a0?o { <x:s> ?p ?o }",
    "a digit the engine does not know": "SELECT ?s { ?s ?p \u0665 }",
}


@pytest.mark.parametrize("query", LOOKUPS)
def test_one_pattern_anchored_at_a_constant_is_a_lookup(query):
    assert is_lookup(QueryJob(query))


@pytest.mark.parametrize("query", NOT_LOOKUPS.values(), ids=NOT_LOOKUPS.keys())
def test_anything_else_is_left_to_the_workers(query):
    assert not is_lookup(QueryJob(query))


def test_a_dataset_named_by_the_request_is_left_to_the_workers():
    query = "SELECT ?o { <x:s> ?p ?o }"
    assert not is_lookup(QueryJob(query, default_graphs=("x:g",)))
    assert not is_lookup(QueryJob(query, named_graphs=("x:g",)))


def test_a_huge_query_is_refused_in_linear_time():
    """The recognizer runs on every query up to the byte limit: no input makes it backtrack."""
    import time

    texts = [" " * 1_000_000 + "x", "SELECT " + "?a " * 300_000 + "{", "# c\n" * 250_000 + "x", "#" * 1_000_000]
    for text in texts:
        started = time.perf_counter()
        assert not is_lookup(QueryJob(text))
        assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize("accept", ["application/sparql-results+json", "application/sparql-results+xml", "text/csv"])
def test_a_lookup_answers_what_a_worker_answers(client, accept):
    """The same pattern with a FILTER that keeps everything goes to a worker: the rows are the same."""
    lookup = SG + "SELECT ?p ?o WHERE { id:Russia ?p ?o }"
    worker = SG + "SELECT ?p ?o WHERE { id:Russia ?p ?o FILTER(true) }"
    assert is_lookup(QueryJob(lookup)) and not is_lookup(QueryJob(worker))
    answers = [client.get("/sparql", params={"query": q}, headers={"accept": accept}) for q in (lookup, worker)]
    assert [a.status_code for a in answers] == [200, 200]
    assert answers[0].headers["stancegraph-rows"] == answers[1].headers["stancegraph-rows"] != "0"
    assert answers[0].headers["content-type"] == answers[1].headers["content-type"]
    assert sorted(answers[0].text.splitlines()) == sorted(answers[1].text.splitlines())


@pytest.mark.parametrize("media_type", ["application/n-triples", "text/turtle", "application/ld+json"])
def test_a_describe_answers_what_a_worker_answers(make_client, media_type):
    """`DESCRIBE <iri>` is answered in-process, with the blank nodes it reaches; the same DESCRIBE with an
    empty WHERE goes to a worker: the triples are the same."""
    import rdflib
    from rdflib.compare import isomorphic

    client = make_client(admin_token=TOKEN)
    nested = '<x:hub> <x:has> [ <x:name> "n" ; <x:more> [ <x:deep> 1 ] ] ; <x:next> <x:other> .'
    _update(client, f"INSERT DATA {{ GRAPH <x:nested> {{ {nested} }} }}")
    in_process, worker = "DESCRIBE <x:hub>", "DESCRIBE <x:hub> WHERE {}"
    assert is_lookup(QueryJob(in_process)) and not is_lookup(QueryJob(worker))
    answers = [client.get("/sparql", params={"query": q}, headers={"accept": media_type}) for q in (in_process, worker)]
    assert [a.status_code for a in answers] == [200, 200]
    assert answers[0].headers["content-type"] == answers[1].headers["content-type"]
    assert answers[0].headers["stancegraph-rows"] == answers[1].headers["stancegraph-rows"] == "5"
    rdflib_format = {"application/n-triples": "nt", "text/turtle": "turtle", "application/ld+json": "json-ld"}
    graphs = [rdflib.Graph().parse(data=a.text, format=rdflib_format[media_type]) for a in answers]
    assert isomorphic(*graphs) and len(graphs[0]) == 5


def test_a_describe_with_more_rows_than_answered_in_process_gets_every_row(make_client):
    client = make_client(admin_token=TOKEN)
    _insert_many(client, INLINE_ROWS + 500)
    response = client.get("/sparql", params={"query": "DESCRIBE <x:hub>", "format": "nt"})
    assert response.headers["stancegraph-rows"] == str(INLINE_ROWS + 500)
    assert len(response.text.splitlines()) == INLINE_ROWS + 500
    assert response.headers["stancegraph-truncated"] == "false"


def test_a_lookup_with_a_syntax_error_is_a_400_that_says_where(client):
    response = client.get("/sparql", params={"query": "SELECT ?o { undeclared:s ?p ?o }"})
    assert response.status_code == 400 and "line 1" in response.text


def _insert_many(client, count: int) -> None:
    triples = " ".join(f"<x:hub> <x:has> <x:item{i}> ." for i in range(count))
    _update(client, f"INSERT DATA {{ GRAPH <x:many> {{ {triples} }} }}")


def _update(client, update: str) -> None:
    response = client.post(
        "/sparql",
        content=update,
        headers={"content-type": "application/sparql-update", "authorization": f"Bearer {TOKEN}"},
    )
    assert response.status_code == 204, response.text


def test_a_lookup_with_more_rows_than_answered_in_process_gets_every_row(make_client):
    client = make_client(admin_token=TOKEN)
    _insert_many(client, INLINE_ROWS + 500)
    for query in ("SELECT ?o { <x:hub> <x:has> ?o }", "SELECT ?o { <x:hub> ?p ?o } LIMIT 1200"):
        response = client.get("/sparql", params={"query": query}, headers={"accept": "text/tab-separated-values"})
        expected = min(INLINE_ROWS + 500, 1200 if "LIMIT" in query else INLINE_ROWS + 500)
        assert response.headers["stancegraph-rows"] == str(expected)
        assert len(response.text.splitlines()) == expected + 1
        assert response.headers["stancegraph-truncated"] == "false"


def test_a_lookup_with_more_bytes_than_answered_in_process_gets_every_byte(make_client):
    client = make_client(admin_token=TOKEN)
    literals = ["a" * 500_000, "b" * 500_000, "c" * 500_000]  # three rows, 1.5 MB: past INLINE_BYTES
    triples = "".join(f'<x:big> <x:has> "{text}" .\n' for text in literals)
    uploaded = client.post(
        "/store",
        params={"graph": "x:big"},
        content=triples,
        headers={"content-type": "application/n-triples", "authorization": f"Bearer {TOKEN}"},
    )
    assert uploaded.status_code in (201, 204), uploaded.text
    response = client.get("/sparql", params={"query": "SELECT ?o { <x:big> <x:has> ?o }", "format": "json"})
    values = sorted(binding["o"]["value"] for binding in response.json()["results"]["bindings"])
    assert values == literals and response.headers["stancegraph-truncated"] == "false"


def test_a_lookup_is_cut_at_the_row_limit_and_says_so(make_client):
    client = make_client(admin_token=TOKEN, max_rows=10)
    _insert_many(client, 50)
    response = client.get("/sparql", params={"query": "SELECT ?o { <x:hub> <x:has> ?o }", "format": "json"})
    assert len(response.json()["results"]["bindings"]) == 10
    assert response.headers["stancegraph-truncated"] == "true" and response.headers["stancegraph-rows"] == "10"


def test_a_lookup_sees_an_update_at_once(make_client):
    client = make_client(admin_token=TOKEN)
    ask = {"query": "ASK { <x:hub> <x:has> <x:item0> }", "format": "json"}
    before = client.get("/sparql", params=ask)
    _insert_many(client, 1)
    after = client.get("/sparql", params=ask)
    assert before.json()["boolean"] is False and after.json()["boolean"] is True
    assert before.headers["stancegraph-data-version"] != after.headers["stancegraph-data-version"]


@pytest.mark.parametrize("store", ["memory", "oxigraph"])
def test_lookups_writes_and_killed_workers_together_never_wedge_the_server(store, tmp_path):
    """Lookups and dereferences in the server process (on disk: the dereferences, in the page's thread),
    updates (each forks new workers; on disk each closes and reopens the store's handles) and timeouts (each
    forks a replacement) at once: no fork may copy the engine mid-lookup, so every request keeps being answered."""
    import concurrent.futures
    import time

    import httpx

    from tests.live import stancegraph_server

    slow = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"
    backend = "memory" if store == "memory" else f"oxigraph:{tmp_path / 'store'}"
    with stancegraph_server(store=backend, admin_token=TOKEN, query_timeout=0.5, query_workers=2) as base:
        with httpx.Client(base_url=base, timeout=30) as client:
            _update(client, "INSERT DATA { GRAPH <x:g> { <https://stancegraph.org/id/Hub> <x:has> 0 } }")
        until = time.monotonic() + 6

        def lookups() -> list[int]:
            with httpx.Client(timeout=30) as client:
                statuses = []
                while time.monotonic() < until:
                    query = {"query": "ASK { <https://stancegraph.org/id/Hub> ?p ?o }"}
                    statuses.append(client.get(f"{base}/sparql", params=query).status_code)
                    turtle = {"accept": "text/turtle", "cache-control": "no-cache"}
                    statuses.append(client.get(f"{base}/id/Hub", headers=turtle).status_code)
                return statuses

        def updates() -> list[int]:
            with httpx.Client(timeout=30) as client:
                statuses, n = [], 0
                while time.monotonic() < until:
                    n += 1
                    statuses.append(
                        client.post(
                            f"{base}/sparql",
                            content=f"INSERT DATA {{ GRAPH <x:g> {{ <https://stancegraph.org/id/Hub> <x:has> {n} }} }}",
                            headers={"content-type": "application/sparql-update", "authorization": f"Bearer {TOKEN}"},
                        ).status_code
                    )
                return statuses

        def timeouts() -> list[int]:
            with httpx.Client(timeout=30) as client:
                statuses = []
                while time.monotonic() < until:
                    statuses.append(client.get(f"{base}/sparql", params={"query": slow}).status_code)
                return statuses

        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            runs = [pool.submit(task) for task in (lookups, lookups, updates, timeouts)]
            first, second, written, stopped = (run.result() for run in runs)
        lookups_answered = len(first + second)
        print(f"\n{lookups_answered} lookups, {len(written)} updates, {len(stopped)} queries stopped at their deadline")
        # on disk each update waits for the queries in flight (here up to their 0.5 s deadline), then reopens
        # the handles and workers, holding the readers back: a handful of requests, where memory answers 1,000
        assert set(first + second) == {200} and lookups_answered > (50 if store == "memory" else 5)
        assert set(written) == {204} and len(written) > 5
        assert set(stopped) == {503} and len(stopped) > 3
        final = httpx.get(f"{base}/id/Hub", params={"format": "nt"}, headers={"cache-control": "no-cache"}, timeout=30)
        assert final.text.count("<x:has>") == len(written) + 1, "the dereference sees every update"


# Separators a client (or an attacker) may put between the terms of a lookup: white space of every kind the
# engine knows, comments ended by LF or CR, and comments followed on their next line by more query.
SEPARATORS = [" ", "\t", "\n", "\r", "\r\n", "# c\n", "# c\r", "#}\n", "# c\r. ?a ?b ?c .\n", "#\r?x <x:p> ?y .\n"]
TERMS = {
    "subject": ["<x:s>", "ex:s", "?s", "$s"],
    "predicate": ["<x:p>", "ex:p", "a", "?p"],
    "object": ["<x:o>", '"o"', '"o"@en', "7", "?o", "ex:o"],
}


@hypothesis.settings(max_examples=300, deadline=None, derandomize=True)
@hypothesis.given(
    separators=hypothesis.strategies.lists(hypothesis.strategies.sampled_from(SEPARATORS), min_size=6, max_size=6),
    subject=hypothesis.strategies.sampled_from(TERMS["subject"]),
    predicate=hypothesis.strategies.sampled_from(TERMS["predicate"]),
    obj=hypothesis.strategies.sampled_from(TERMS["object"]),
)
def test_what_is_taken_for_a_lookup_is_what_the_engine_reads(separators, subject, predicate, obj):
    """The engine's own reading of any text taken for a lookup has exactly the pattern's variables and its
    answers: nothing hidden from the recognizer (by a comment ended with a CR, say) is evaluated."""
    one, two, three, four, five, six = separators
    text = f"PREFIX ex: <x:>{one}SELECT *{two}WHERE {{{three}{subject}{four}{predicate}{five}{obj}{six}}}"
    if not is_lookup(QueryJob(text)):
        return
    store = _small_store()
    seen = store.query(text, use_default_graph_as_union=True)
    variables = {term[1:] for term in (subject, predicate, obj) if term[0] in "?$"}
    assert {variable.value for variable in seen.variables} == variables, repr(text)
    plain = f"PREFIX ex: <x:> SELECT * WHERE {{ {subject} {predicate} {obj} }}"
    assert _rows(seen) == _rows(store.query(plain, use_default_graph_as_union=True)), repr(text)


@hypothesis.settings(max_examples=200, deadline=None, derandomize=True)
@hypothesis.given(
    separators=hypothesis.strategies.lists(hypothesis.strategies.sampled_from(SEPARATORS), min_size=3, max_size=3),
    described=hypothesis.strategies.lists(
        hypothesis.strategies.sampled_from(["<x:s>", "ex:s", "<x:o>", "ex:o"]), min_size=1, max_size=2
    ),
)
def test_what_is_taken_for_a_describe_lookup_is_what_the_engine_reads(separators, described):
    """The same for DESCRIBE: a text taken for a lookup describes exactly its IRIs, nothing hidden after them."""
    one, two, three = separators
    text = f"PREFIX ex: <x:>{one}DESCRIBE{two}{' '.join(described)}{three}"
    if not is_lookup(QueryJob(text)):
        return
    store = _small_store()
    plain = "DESCRIBE " + " ".join(
        term.replace("ex:", "<x:") + (">" if term.startswith("ex:") else "") for term in described
    )
    seen = {str(t) for t in store.query(text, use_default_graph_as_union=True)}
    assert seen == {str(t) for t in store.query(plain, use_default_graph_as_union=True)} != set(), repr(text)


# Terms whose meaning the grammar alone tells (read from the indexes) and terms only the engine can read
# (a typed literal or number it writes in canonical form, an undeclared prefix, a relative IRI, a language tag or
# an IRI it refuses): either way the answer must be the engine's, byte for byte, or the engine's error.
INDEX_TERMS = {
    "subject": ["<x:s>", "ex:s", "?s", "$s", "<x:t>", "<x:b>", "<s>", "no:s", "<x:s s>"],
    "predicate": ["<x:p>", "ex:p", "a", "?p", "<x:r>"],
    "object": ["<x:o>", '"o"', "'o'", '"o"@EN', '"o"@abcdefghijk', '"7"^^xsd:integer', "7", "007", "?o", "ex:o"],
}
PROLOGUES = [
    "PREFIX ex: <x:> PREFIX xsd: <http://www.w3.org/2001/XMLSchema#>\n",
    "PREFIX ex: <y:> PREFIX ex:<x:>PREFIX xsd: <http://www.w3.org/2001/XMLSchema#>",
    "BASE <x:/> PREFIX ex: <x:> PREFIX xsd: <http://www.w3.org/2001/XMLSchema#>\n",
]


@hypothesis.settings(max_examples=400, deadline=None, derandomize=True)
@hypothesis.given(
    prologue=hypothesis.strategies.sampled_from(PROLOGUES),
    form=hypothesis.strategies.sampled_from(["SELECT *", "SELECT ?o ?s", "SELECT ?p ?absent", "SELECT ?o ?o", "ASK"]),
    subject=hypothesis.strategies.sampled_from(INDEX_TERMS["subject"]),
    predicate=hypothesis.strategies.sampled_from(INDEX_TERMS["predicate"]),
    obj=hypothesis.strategies.sampled_from(INDEX_TERMS["object"]),
    limit=hypothesis.strategies.sampled_from(["", " LIMIT 0", " LIMIT 1", " LIMIT 2"]),
    media_type=hypothesis.strategies.sampled_from(
        ["application/sparql-results+json", "application/sparql-results+xml", "text/tab-separated-values", "text/csv"]
    ),
    union=hypothesis.strategies.booleans(),
)
def test_a_lookup_read_from_the_indexes_is_the_engines_answer(
    prologue, form, subject, predicate, obj, limit, media_type, union
):
    """The answer read from the quads at the pattern is the engine's, byte for byte: columns in the engine's
    order, rows repeated once per graph that holds them over the union, unbound columns, blank nodes, language
    tags in lower case, LIMIT (0 too, and on ASK); and what only the engine can read gets its answer or error."""
    text = f"{prologue}{form} WHERE {{ {subject} {predicate} {obj} }}{limit}"
    job = QueryJob(text, union_default_graph=union, result_format=media_type, max_rows=10_000)
    if not is_lookup(job):
        return
    store = _small_store()
    try:
        expected = execute(store, bounded(job))
    except QueryError as engine_error:
        with pytest.raises(type(engine_error)) as error:
            answer_lookup(store, job)
        assert error.value.message == engine_error.message
        return
    assert answer_lookup(store, job) == expected, repr(text)


def test_plain_lookups_are_read_from_the_indexes_and_the_rest_by_the_engine(monkeypatch):
    """So that parsing and planning are skipped where the grammar tells all (not only in the tests above, where
    either path gives the same answer)."""
    import app.lookups

    store = _small_store()
    engine = []
    monkeypatch.setattr(app.lookups, "execute", lambda store, job: engine.append(job.query))
    read_from_indexes = [
        "SELECT ?label WHERE { <x:s> <http://www.w3.org/2000/01/rdf-schema#label> ?label }",
        "PREFIX ex: <x:> SELECT * { ex:s ?p ?o } LIMIT 5",
        "PREFIX : <x:> ASK { ?s a :o }",
        "SELECT ?s { ?s <x:p> 'o'@en }",
    ]
    for text in read_from_indexes:
        assert answer_lookup(store, QueryJob(text)) is not None and engine == [], text
    read_by_the_engine = [
        "BASE <x:> SELECT ?o { <s> ?p ?o }",
        "SELECT ?s { ?s <x:p> 7 }",
        'PREFIX xsd: <http://www.w3.org/2001/XMLSchema#> SELECT ?s { ?s <x:p> "7"^^xsd:integer }',
        "SELECT ?o { undeclared:s ?p ?o }",
        "SELECT ?o { <x:r> <x:r> ?o }",  # an RDF 1.2 triple term as the object
        "DESCRIBE <x:s>",
    ]
    for text in read_by_the_engine:
        answer_lookup(store, QueryJob(text))
    assert engine == read_by_the_engine


def _small_store():
    import pyoxigraph as ox

    store = ox.Store()
    rdf_type = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
    for s, p, o in [
        ("x:s", "x:p", ox.NamedNode("x:o")),
        ("x:s", "x:p", ox.Literal("o")),
        ("x:s", "x:p", ox.Literal("o", language="en")),
        ("x:s", rdf_type, ox.NamedNode("x:o")),
        ("x:t", "x:p", ox.Literal("7", datatype=ox.NamedNode("http://www.w3.org/2001/XMLSchema#integer"))),
        ("x:o", "x:q", ox.NamedNode("x:s")),
    ]:
        store.add(ox.Quad(ox.NamedNode(s), ox.NamedNode(p), o, ox.NamedNode("x:g")))
    store.add(ox.Quad(ox.NamedNode("x:s"), ox.NamedNode("x:p"), ox.NamedNode("x:o"), ox.NamedNode("x:other")))
    store.add(ox.Quad(ox.NamedNode("x:s"), ox.NamedNode("x:p"), ox.Literal("default"), ox.DefaultGraph()))
    store.add(ox.Quad(ox.NamedNode("x:b"), ox.NamedNode("x:p"), ox.BlankNode("b1"), ox.NamedNode("x:g")))
    triple_term = ox.Triple(ox.NamedNode("x:s"), ox.NamedNode("x:p"), ox.NamedNode("x:o"))
    store.add(ox.Quad(ox.NamedNode("x:r"), ox.NamedNode("x:r"), triple_term, ox.NamedNode("x:g")))
    return store


def _rows(solutions) -> list[str]:
    return sorted(str(sorted((v.value, str(s[v])) for v in solutions.variables if s[v] is not None)) for s in solutions)
