"""Graph views on the real data: what blocks what, who stands where, coalitions; exports that round-trip."""

import datetime
import functools
import io
import operator
import os
import subprocess
import sys
import threading

import networkx as nx
import pydot
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app import graph_formats, graph_views
from app.graph_views import ViewFilter
from app.named_queries import answer, expand_iri, load_named_queries
from app.namespaces import DERIVED_GRAPH, ID, SG, sparql_prologue
from app.settings import PROJECT_ROOT
from app.store import open_store
from tests.conftest import replace_in

DIALOGUE = ID + "MeaningfulDialogueOnCooperation"
RENOUNCE = ID + "USRenouncesThirdSite"


def test_dialogue_requires_renouncing_the_third_site_and_is_blocked_by_the_us(store):
    graph = graph_views.preconditions(store)
    assert graph.has_edge(DIALOGUE, RENOUNCE)
    edge = graph.edges[DIALOGUE, RENOUNCE]
    assert "can only start after" in edge["kind"] and "can only start after the US renounces" in edge["quotes"]
    dialogue = graph.nodes[DIALOGUE]
    assert dialogue["blocked"] is True and dialogue["blocked_by"] == "United States"
    assert "meaningful dialogue on missile-risk cooperation -> US renounces the third site" in dialogue["chain"]
    renounce = graph.nodes[RENOUNCE]
    assert renounce["unmet"] and "rejected (2009-06-11)" in renounce["unmet_because"]
    assert "the plan it would abandon is still pursued" in renounce["unmet_because"]
    order = graph.graph["topological_order"].split(" | ")
    assert order.index(RENOUNCE) < order.index(DIALOGUE) and graph.graph["cycles"] == ""


def test_cycles_are_reported_not_fatal():
    graph = nx.DiGraph()
    for a, b in (("a", "b"), ("b", "a")):
        graph.add_edge(a, b)
    for node in graph:
        graph.nodes[node]["label"] = node
    graph_views._order(graph)
    assert graph.graph["cycles"] in ("a -> b", "b -> a") and graph.graph["topological_order"] == ""


requirement_graphs = st.lists(st.tuples(st.integers(0, 11), st.integers(0, 11)), max_size=40).map(nx.DiGraph)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(graph=requirement_graphs, unmet=st.dictionaries(st.integers(0, 11), st.integers(1, 63), max_size=12))
def test_blockers_are_whoever_leaves_any_transitive_requirement_unmet(graph, unmet):
    """The one-pass computation over components and bit masks equals the definition, loops included."""
    unmet = {issue: actors for issue, actors in unmet.items() if issue in graph}
    expected = {}
    for issue in graph:
        mask = functools.reduce(operator.or_, (unmet.get(r, 0) for r in nx.descendants(graph, issue)), 0)
        if mask:
            expected[issue] = mask
    assert graph_views._blockers(graph, unmet) == expected


positions_held = st.dictionaries(
    st.sampled_from([f"actor{i}" for i in range(6)]),
    st.sets(st.tuples(st.sampled_from([f"issue{i}" for i in range(4)]), st.sampled_from([-1, 0, 1])), max_size=6),
)


@settings(max_examples=300, deadline=None)
@given(positions=positions_held)
def test_actors_meet_where_the_pairwise_definition_says(positions):
    """Pairs found from who holds each position equal DNA's definition over every pair of actors: the same
    signed position on an issue agrees, opposite signs oppose, neutral ones never count."""
    expected_agreeing, expected_opposing = {}, {}
    names = sorted(positions)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            signed = {(t, s) for t, s in positions[a] if s != 0}
            shared = {t for t, _ in signed & positions[b]}
            opposed = {t for t, _ in signed & {(t, -s) for t, s in positions[b]}}
            if shared:
                expected_agreeing[a, b] = shared
            if opposed:
                expected_opposing[a, b] = opposed
    agreeing, opposing = graph_views._co_positions(positions)
    assert (dict(agreeing), dict(opposing)) == (expected_agreeing, expected_opposing)


CYCLES_PROGRAM = """
import networkx as nx
from app import graph_views
graph = nx.DiGraph()
for i in range(40):  # a ring with chords: many short cycles to choose examples from
    graph.add_edge(f"i{i}", f"i{(i + 1) % 40}")
    graph.add_edge(f"i{i}", f"i{(i + 3) % 40}")
    graph.add_edge(f"i{(i + 2) % 40}", f"i{i}")
for dependent, requirement in [("a", "b"), ("b", "c"), ("c", "b"), ("b", "d"), ("a", "e")]:  # a small part
    graph.add_edge(dependent, requirement)
for node in graph:
    graph.nodes[node]["label"] = node
graph_views._order(graph)
print(graph.graph["cycles"])
part = graph_views.what_blocks(None, graph, "a")
print(list(part.nodes), list(part.edges), part.graph["cycles"])
"""


def test_example_cycles_and_parts_are_the_same_in_every_process():
    """Several app processes answer under one ETag: their example cycles, and the nodes of a what-blocks
    part, must not follow the hash seed."""
    answers = {
        subprocess.run(
            [sys.executable, "-c", CYCLES_PROGRAM],
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
            capture_output=True,
            text=True,
            check=True,
            cwd=PROJECT_ROOT,
        ).stdout
        for seed in range(4)
    }
    (answer,) = answers
    cycles, part = answer.splitlines()
    assert part.endswith(" b -> c"), "the part's own example cycle"
    examples = cycles.strip().split(" | ")
    assert len(examples) == graph_views.MAX_CYCLES and len(set(examples)) == len(examples)
    for example in examples:
        issues = example.split(" -> ")
        assert 1 < len(issues) <= 4


def test_views_read_values_the_same_on_every_backend(store):
    """Views read lexical values ("" when unbound) decoded from SPARQL CSV; commas, quotes, line breaks,
    language tags and datatypes must not shift or leak into them."""
    (row,) = store.select_values(
        "SELECT ?iri ?text ?tagged ?day ?none WHERE { BIND (<https://example.org/a,b> AS ?iri) "
        'BIND ("say \\"no\\",\\nthen, \\"yes\\"" AS ?text) BIND ("nyet"@ru AS ?tagged) '
        'BIND ("2009-06-11"^^<http://www.w3.org/2001/XMLSchema#date> AS ?day) OPTIONAL { ?none ?p ?none } }'
    )
    assert row == {
        "iri": "https://example.org/a,b",
        "text": 'say "no",\nthen, "yes"',
        "tagged": "nyet",
        "day": "2009-06-11",
        "none": "",
    }


def test_as_of_removes_what_was_not_yet_said(store):
    before = graph_views.preconditions(store, ViewFilter(as_of=datetime.date(2008, 1, 1)))
    assert DIALOGUE not in before
    assert before.nodes[ID + "ExpertWorkOnUSIdeas"]["blocked"] is True


def test_what_blocks_and_what_follows_carry_paths(store):
    full = graph_views.preconditions(store)
    blocks = graph_views.what_blocks(store, full, ID + "ResultSuitingAll")
    assert set(blocks) == {ID + "ResultSuitingAll", ID + "FrankSubstantiveDialogue", ID + "USConcreteProposals"}
    assert blocks.nodes[ID + "USConcreteProposals"]["distance"] == 2
    follows = graph_views.what_follows(store, full, RENOUNCE)
    assert set(follows) == {RENOUNCE, DIALOGUE, ID + "RussiaUSInterceptionPartnership"}
    assert follows.nodes[DIALOGUE]["path"].endswith("US renounces the third site")


def test_a_part_has_its_own_order_and_cycles_not_the_whole_views(store):
    """A what-blocks answer listed every issue of the corpus in its order and the corpus's cycles."""
    full = nx.DiGraph()
    for dependent, requirement in [("a", "b"), ("c", "d"), ("d", "c"), ("x", "y")]:
        full.add_edge(dependent, requirement)
    nx.set_node_attributes(full, {n: n.upper() for n in full}, "label")
    graph_views._order(full)
    assert full.graph["issues_in_cycles"] == 2
    part = graph_views.what_blocks(store, full, "a")
    assert part.graph == {
        "view": "what-blocks",
        "resource": "a",
        "cycles": "",
        "issues_in_cycles": 0,
        "topological_order": "b | a",
    }
    assert [part.nodes[n]["order"] for n in ("b", "a")] == [0, 1]
    looping = graph_views.what_follows(store, full, "c")
    assert looping.graph["issues_in_cycles"] == 2 and looping.graph["cycles"] == "C -> D"
    assert looping.graph["topological_order"] == "", "no order exists through a cycle"


def test_what_blocks_an_actor_is_the_actor_alone_and_an_unknown_iri_is_not_found(store, client):
    full = graph_views.preconditions(store)
    assert ID + "Russia" not in full, "an actor requires nothing"
    alone = graph_views.what_blocks(store, full, ID + "Russia")
    assert dict(alone.nodes(data=True)) == {
        ID + "Russia": {"label": "Russia", "type": "state", "path": "Russia", "distance": 0, "order": 0}
    }
    assert alone.graph["view"] == "what-blocks" and alone.graph["topological_order"] == ID + "Russia"
    for path in ("what-blocks/id:Russa", "what-follows/id:Russa", "ego/id:Russa"):
        response = client.get(f"/views/{path}", params={"format": "json"})
        assert response.status_code == 404, path
        assert response.json()["detail"] == f"no triple mentions {ID}Russa"
    assert client.get("/views/ego/id:Russia", params={"format": "json"}).status_code == 200


def test_a_source_no_statement_cites_is_not_found_rather_than_an_empty_view(client):
    """A typo in `source` (or an actor where a document belongs) would give an empty view, which reads as
    "this document says nothing"."""
    for path in ("stances", "actors", "timeline", "preconditions", "what-blocks/id:MeaningfulDialogueOnCooperation"):
        for source in ("id:doc/000_nosuchdoc", "id:Russia"):
            response = client.get(f"/views/{path}", params={"source": source, "format": "json"})
            assert response.status_code == 404, (path, source)
            assert response.json()["detail"] == f"source {expand_iri(source)}: no statement cites it as its source"
        known = client.get(f"/views/{path}", params={"source": "id:doc/000_dcc2f28bf5a60eb8", "format": "json"})
        assert known.status_code == 200 and known.json()["nodes"], path


def test_stance_network_is_signed_and_weighted(store):
    graph = graph_views.stances(store)
    rejections = graph.get_edge_data(ID + "Russia", ID + "ThirdSite")["rejects"]
    assert rejections["sign"] == -1 and rejections["weight"] == 2
    assert rejections["first"] == "2007-10-31" and rejections["last"] == "2009-06-11"
    assert graph.get_edge_data(ID + "UnitedStates", ID + "ThirdSite")["proposes"]["sign"] == 1
    only_2009 = graph_views.stances(store, ViewFilter(sources=(ID + "doc/000_dcc2f28bf5a60eb8",)))
    assert only_2009.get_edge_data(ID + "Russia", ID + "ThirdSite")["rejects"]["weight"] == 1
    assert graph_views.stances(store, ViewFilter(min_weight=2)).number_of_edges() < graph.number_of_edges()


@pytest.mark.parametrize("normalisation", graph_views.NORMALISATIONS)
def test_russia_and_the_us_are_in_conflict_not_in_coalition(store, normalisation):
    conflict = graph_views.actors(store, mode="conflict", normalisation=normalisation)
    assert conflict.has_edge(ID + "Russia", ID + "UnitedStates")
    edge = conflict.edges[ID + "Russia", ID + "UnitedStates"]
    assert edge["raw"] == 6 and ID + "ThirdSite" in edge["issues"]
    assert 0 < edge["weight"] <= (6 if normalisation == "none" else 1)
    congruence = graph_views.actors(store, mode="congruence", normalisation=normalisation)
    assert not congruence.has_edge(ID + "Russia", ID + "UnitedStates")
    subtract = graph_views.actors(store, mode="subtract")
    assert subtract.edges[ID + "Russia", ID + "UnitedStates"]["raw"] == -6


def test_a_neighbourhood_cut_short_by_its_limit_says_so_rather_than_passing_for_the_whole(store, client):
    """At 1M triples an actor's second level is 8,000 nodes: asking depth 3 gave depth 2, saying depth 3."""
    whole = graph_views.ego(store, ID + "ThirdSite", depth=2)
    assert whole.graph["depth_reached"] == 2 and "truncated" not in whole.graph
    cut = graph_views.ego(store, ID + "ThirdSite", depth=3, limit=10)
    assert cut.graph["depth_reached"] == 1 and cut.number_of_nodes() == graph_views.ego(store, ID + "ThirdSite").order()
    assert cut.graph["truncated"] == f"stopped at depth 1 of 3: its {cut.order()} nodes reached the limit of 10"
    answer = client.get("/views/ego/id:ThirdSite", params={"depth": 3, "limit": 10, "format": "json"}).json()
    assert answer["graph"]["truncated"] == cut.graph["truncated"]
    more = client.get("/views/ego/id:ThirdSite", params={"depth": 3, "limit": 50_000, "format": "json"}).json()
    assert "truncated" not in more["graph"] and more["graph"]["depth_reached"] == 3
    assert client.get("/views/ego/id:ThirdSite", params={"limit": 0}).status_code == 400


def test_ego_and_timeline(store):
    ego = graph_views.ego(store, ID + "ThirdSite", depth=1)
    assert ego.has_node(ID + "UnitedStates") and ego.nodes[ID + "ThirdSite"]["label"] == "third site"
    timeline = graph_views.timeline(store)
    dates = nx.get_node_attributes(timeline, "date")
    assert all(dates[u] <= dates[v] for u, v in timeline.edges)
    assert any(d.get("type") == "event" for _, d in timeline.nodes(data=True))


def test_views_name_each_node_by_one_label_english_first_or_by_its_preferred_label(data_copy):
    """As pages and named queries do: a node labelled in several languages is named in English whatever
    order the engine lists its labels in (the views named Russia "Rússia", an event by its last label, a
    precondition's kind in every language), one named only by skos:prefLabel by that label rather than by the
    end of its IRI."""
    entities = data_copy.data_dir / "entities.ttl"
    replace_in(
        entities,
        'rdfs:label "Russia"@en',
        'rdfs:label "Russia"@en , "Rusko"@cs , "Venäjä"@fi , "Rusland"@nl , "Oroszország"@hu , "Rússia"@pt',
    )
    replace_in(
        entities,
        'id:ThirdSite a sg:Plan ; rdfs:label "third site"@en ;',
        'id:ThirdSite skos:related id:MissileShield . id:MissileShield skos:prefLabel "missile shield"@en .\n'
        'id:ThirdSite a sg:Plan ; rdfs:label "tercer emplazamiento"@es , "trzecia lokalizacja"@pl , "third site"@en ;',
    )
    with entities.open("a", encoding="utf-8") as more:
        more.write(
            '<https://stancegraph.org/id/precondition-kind/only-if> rdfs:label "ist nur möglich, wenn"@de ,'
            ' "n\'est possible que si"@fr .\n'
            'id:TwoPlusTwoMeeting2007 rdfs:label "Treffen zwei plus zwei"@de , "rencontre deux plus deux"@fr .\n'
        )
    store = open_store(data_copy)
    kinds = [kind for *_, kind in graph_views.preconditions(store).edges(data="kind")]
    assert "is possible only if" in kinds and not any("möglich" in kind or "possible que" in kind for kind in kinds)
    named = {q.name: q for q in load_named_queries(PROJECT_ROOT / "queries")[0]}["preconditions"]
    kinds = [str(row.get("kind", "")) for row in answer(store, named, {}, 1000, 0).rows]
    assert any("is possible only if" in kind for kind in kinds) and not any("möglich" in kind for kind in kinds)
    meeting = graph_views.timeline(store).nodes[ID + "TwoPlusTwoMeeting2007"]["label"]
    assert meeting == '"two plus two" meeting, Moscow, 12 October 2007'
    russia = ID + "Russia"
    held = f"{sparql_prologue()} SELECT ?stance ?label WHERE {{ ?stance a sg:Stance ; sg:holder <{russia}> %s }}"
    labels, stances = (store.select_values(held % more) for more in ("; rdfs:label ?label", "BIND (1 AS ?label)"))
    assert len(labels) == len(stances) > 5 and all(row["label"].startswith("Russia ") for row in labels)
    assert graph_views.stances(store).nodes[russia]["label"] == "Russia"
    assert graph_views.actors(store).nodes[russia]["label"] == "Russia"
    in_timeline = [d["label"] for _, d in graph_views.timeline(store).nodes(data=True) if d.get("actor") == russia]
    assert in_timeline and all(label.startswith("Russia ") for label in in_timeline)
    for resource in ("ThirdSite", "UnitedStates", "Russia"):
        assert graph_views.ego(store, ID + resource, depth=2).nodes[ID + "ThirdSite"]["label"] == "third site"
    assert graph_views.ego(store, ID + "ThirdSite").nodes[ID + "MissileShield"]["label"] == "missile shield"


VIEWS = {
    "preconditions": graph_views.preconditions,
    "stances": graph_views.stances,
    "actors in conflict": functools.partial(graph_views.actors, mode="conflict"),
    "timeline": graph_views.timeline,
}


@pytest.mark.parametrize("view", VIEWS)
def test_labels_and_quotes_asked_in_many_queries_at_once_give_the_same_view(store, view, monkeypatch):
    """Labels and quotes are asked PER_QUERY resources at a time, AT_ONCE queries together on threads: cut
    into many small queries answered in any order, each view is the same graph."""
    whole = VIEWS[view](store)
    asked_on: list[str] = []
    select_values = store.select_values

    def counted(*args, **dataset):
        asked_on.append(threading.current_thread().name)
        return select_values(*args, **dataset)

    monkeypatch.setattr(store, "select_values", counted)
    monkeypatch.setattr(graph_views, "PER_QUERY", 2)
    monkeypatch.setattr(graph_views, "AT_ONCE", 3)
    cut = VIEWS[view](store)
    assert nx.utils.graphs_equal(cut, whole) and whole.number_of_edges() > 0
    assert list(cut.nodes) == list(whole.nodes), "in the same order: every process sends the same view"
    assert sum(name.startswith("view") for name in asked_on) >= 2, "several small queries, on the view's threads"


@pytest.mark.parametrize("view", VIEWS)
def test_statements_scanned_or_sought_give_the_same_view(store, view, monkeypatch):
    """On disk the views scan each property of the stances (and their quotes) and of the preconditions
    (Store.prefers_scans: up to 4x faster there), elsewhere they seek from each statement: with or without
    filters, the same graph in the same order."""
    edges = graph_views.stances(store).edges(data=True)
    cited = next(data["sources"] for *_, data in edges).split(graph_views.SEPARATOR)[0]
    filters = [ViewFilter(), ViewFilter(as_of=datetime.date(2008, 12, 31)), ViewFilter(sources=(cited,))]
    built = {}
    for scans in (False, True):
        monkeypatch.setattr(store, "prefers_scans", scans)
        built[scans] = [VIEWS[view](store, view_filter) for view_filter in filters]
    for sought, scanned in zip(built[False], built[True], strict=True):
        assert nx.utils.graphs_equal(sought, scanned) and list(sought.nodes) == list(scanned.nodes)
        assert sought.number_of_nodes() > 0
    whole, said_by_2009, one_source = (graph.number_of_nodes() for graph in built[True])
    assert min(said_by_2009, one_source) < whole, "the filters apply to the scans too"


@pytest.mark.parametrize("mode", ["conflict", "subtract"])
def test_min_weight_keeps_the_actor_ties_that_stand_for_that_many_issues(store, mode):
    """Russia and the US are opposed on 6 issues, each stated once or twice: `min_weight` counted each actor's
    statements per issue, so asking for ties of at least 3 issues (at 1M triples, of at least 5) gave nothing."""
    pair = (ID + "Russia", ID + "UnitedStates")
    tie = graph_views.actors(store, mode=mode).edges[pair]
    assert abs(tie["raw"]) == 6
    kept = graph_views.actors(store, ViewFilter(min_weight=6), mode=mode, normalisation="jaccard")
    assert kept.has_edge(*pair) and kept.edges[pair]["raw"] == tie["raw"]
    assert set(kept) == set(pair), "an actor without a tie of that weight is left out"
    assert graph_views.actors(store, ViewFilter(min_weight=7), mode=mode).number_of_nodes() == 0


def test_a_stance_held_by_a_blank_node_is_counted_too(data_copy):
    """Stances are asked by groups of holders named in VALUES, which cannot name a blank node: then the
    stances are asked all at once, and none is left out."""
    store = open_store(data_copy.model_copy(update={"admin_token": "views-test"}))
    before = graph_views.stances(store).number_of_edges()
    store.update(
        "PREFIX sg: <https://stancegraph.org/ontology#> PREFIX id: <https://stancegraph.org/id/> "
        "PREFIX pol: <https://stancegraph.org/id/polarity/> INSERT DATA { GRAPH <http://example.org/g> { "
        "<http://example.org/s> a sg:Stance ; sg:holder [ a sg:Coalition ] ; sg:target id:ThirdSite ; "
        'sg:polarity pol:rejects ; sg:date "2009-01-01"^^<http://www.w3.org/2001/XMLSchema#date> ; '
        "sg:source <http://example.org/doc> } }"
    )
    graph = graph_views.stances(store)
    assert graph.number_of_edges() == before + 1
    assert any("http://example.org/s" in data["statements"] for *_, data in graph.edges(data=True))
    coalition = next(node for node in graph if node.startswith("_:"))
    assert graph_views.actors(store).has_edge(coalition, ID + "Russia"), "it rejects the third site as Russia does"


@pytest.mark.parametrize("view", ["preconditions", "stances", "actors", "timeline"])
def test_graphml_gexf_and_dot_round_trip_with_the_same_nodes(store, view):
    graph = getattr(graph_views, view)(store)
    back = nx.read_graphml(io.BytesIO(graph_formats.graphml(graph)))
    assert (back.number_of_nodes(), back.number_of_edges()) == (graph.number_of_nodes(), graph.number_of_edges())
    gexf = nx.read_gexf(io.BytesIO(graph_formats.gexf(graph)))
    assert gexf.number_of_nodes() == graph.number_of_nodes()
    (parsed,) = pydot.graph_from_dot_data(graph_formats.dot(graph))  # every IRI was one node `https` in DOT
    dot = nx.nx_pydot.from_pydot(parsed)
    assert set(dot.nodes) == {str(node) for node in graph.nodes}
    assert dot.number_of_edges() == graph.number_of_edges()


def test_http_views_in_every_format_with_etags(client):
    for name in graph_formats.FORMATS:
        response = client.get("/views/stances", params={"format": name})
        assert response.status_code == 200 and response.headers["content-type"].startswith(graph_formats.FORMATS[name])
    first = client.get("/views/preconditions")
    assert first.json()["graph"]["view"] == "preconditions"
    assert client.get("/views/preconditions", headers={"if-none-match": first.headers["etag"]}).status_code == 304
    by_accept = client.get("/views/preconditions", headers={"accept": "application/graphml+xml"})
    assert by_accept.content.startswith(b"<?xml")
    blocks = client.get("/views/what-blocks/id:MeaningfulDialogueOnCooperation").json()
    assert {n["id"] for n in blocks["nodes"]} == {DIALOGUE, RENOUNCE}
    assert client.get("/views/ego/not an iri").status_code == 400
    typo = client.get("/views/actors", params={"mod": "conflict"})  # not the congruence network
    assert typo.status_code == 400
    assert typo.json()["detail"].startswith("unknown parameter(s) mod; this operation takes")
    assert client.get("/views/stances", headers={"accept": "image/png"}).status_code == 406


def test_a_deploy_of_other_code_is_not_a_304(client, monkeypatch):
    """A client's cached view was written by the code that served it: new code (another format, another
    library version) over the same data answers in full, where the data version alone would say 304."""
    from app import http_common

    before = client.get("/views/stances")
    monkeypatch.setattr(http_common, "CODE_VERSION", "another deploy")
    after = client.get("/views/stances", headers={"if-none-match": before.headers["etag"]})
    assert after.status_code == 200 and after.headers["etag"] != before.headers["etag"]
    assert after.headers["stancegraph-data-version"] == before.headers["stancegraph-data-version"]


def test_views_and_derived_triples_are_rebuilt_after_the_data_changes(make_client):
    """A written stance shows in the views with its quote, and its direct triple is derived at once: the
    derived graph was rebuilt only at the next load (SPARQL over sg:supports missed it until a restart)."""
    writable = make_client(admin_token="t")
    before = writable.get("/views/stances", params={"format": "csv"})
    stance, evidence = f"{ID}doc/000_dcc2f28bf5a60eb8/stance-98", f"{ID}doc/000_dcc2f28bf5a60eb8/quote-19"
    update = f"""PREFIX sg: <https://stancegraph.org/ontology#>
    INSERT DATA {{ GRAPH <{ID}graph/000_dcc2f28bf5a60eb8> {{
      <{stance}> a sg:Stance ; sg:holder <{ID}Poland> ; sg:target <{ID}ThirdSite> ;
        sg:polarity <{ID}polarity/supports> ; sg:evidence <{evidence}> ;
        sg:date "2009-06-11"^^<http://www.w3.org/2001/XMLSchema#date> ;
        sg:source <{ID}doc/000_dcc2f28bf5a60eb8> . }} }}"""
    write = {"content-type": "application/sparql-update", "authorization": "Bearer t"}
    assert writable.post("/sparql", content=update, headers=write).status_code == 204
    after = writable.get("/views/stances", params={"format": "csv"}, headers={"if-none-match": before.headers["etag"]})
    assert after.status_code == 200 and after.headers["etag"] != before.headers["etag"]
    assert f"{ID}Poland" in after.text and f"{ID}Poland" not in before.text
    direct = f"ASK {{ GRAPH <{DERIVED_GRAPH}> {{ <{ID}Poland> <{SG}supports> <{ID}ThirdSite> }} }}"
    assert writable.get("/sparql", params={"query": direct}).json()["boolean"] is True
    exact = f"{sparql_prologue()} SELECT ?q WHERE {{ <{evidence}> oa:hasTarget/oa:hasSelector/oa:exact ?q }}"
    quote = writable.get("/sparql", params={"query": exact}).json()["results"]["bindings"][0]["q"]["value"]
    edges = writable.get("/views/stances", params={"format": "json"}).json()["links"]
    supports = next(e for e in edges if e["source"] == f"{ID}Poland" and e["target"] == f"{ID}ThirdSite")
    assert supports["quotes"] == quote
    forget = f"DELETE WHERE {{ GRAPH ?g {{ <{stance}> ?p ?o }} }}"
    assert writable.post("/sparql", content=forget, headers=write).status_code == 204
    assert writable.get("/sparql", params={"query": direct}).json()["boolean"] is False


@pytest.fixture(scope="module")
def many_actors_client(tmp_path_factory):
    """An app over a generated corpus of 250 documents and 25 actors, each of whom leaves some requirement
    of nearly every issue unmet: more blockers per issue than the view names."""
    from fastapi.testclient import TestClient

    from app.server import create_app
    from app.settings import Settings
    from bench.generate import generate

    data = generate(tmp_path_factory.mktemp("corpus") / "corpus", documents=250)
    with TestClient(create_app(Settings(data_dir=data, validate_on_load=False))) as client:
        yield client


def test_a_blocked_issue_names_a_bounded_number_of_blockers_and_counts_them_all(many_actors_client):
    """Issues x actors would make the view grow with the square of the corpus (707 MB at 10M triples)."""
    nodes = many_actors_client.get("/views/preconditions").json()["nodes"]
    crowded = [n for n in nodes if n["blockers"] > graph_views.MAX_BLOCKERS]
    assert crowded, "the generated corpus has issues blocked by more actors than the view names"
    for node in crowded:
        names, iris = node["blocked_by"].split(" | "), node["blocked_by_iris"].split(" | ")
        assert len(names) == len(iris) == graph_views.MAX_BLOCKERS
        assert names == sorted(names), "the first blockers by name, the same in every process"
    issue = crowded[0]["id"]
    blocks = many_actors_client.get(f"/views/what-blocks/{issue}").json()
    requirements = [n for n in blocks["nodes"] if n["id"] != issue]
    unmet_by = {reason.split(":")[0] for n in requirements for reason in n["unmet_because"].split(" | ") if reason}
    assert len(unmet_by) == crowded[0]["blockers"], "what-blocks shows who leaves each requirement unmet: all of them"


def test_what_blocks_and_what_follows_are_cut_from_one_preconditions_graph(many_actors_client, monkeypatch):
    """Each resource's question costs a search, not a rebuild of the whole view."""
    builds = []
    build = graph_views.preconditions
    monkeypatch.setattr(graph_views, "preconditions", lambda *args: builds.append(args) or build(*args))
    issues = [
        n["id"] for n in many_actors_client.get("/views/preconditions", params={"as_of": "2030-01-01"}).json()["nodes"]
    ]
    for issue in issues[:5]:
        for name, end in (("what-blocks", 0), ("what-follows", -1)):
            graph = many_actors_client.get(f"/views/{name}/{issue}", params={"as_of": "2030-01-01"}).json()
            label = next(n["label"] for n in graph["nodes"] if n["id"] == issue)
            for node in graph["nodes"]:
                hops = node["path"].split(" -> ")
                assert len(hops) == node["distance"] + 1 and hops[end] == label
    graphml = many_actors_client.get("/views/preconditions", params={"as_of": "2030-01-01", "format": "graphml"})
    assert graphml.status_code == 200 and graphml.content.startswith(b"<?xml")
    assert len(builds) == 1, "one graph for every format and every resource's cut"


def test_views_kept_in_memory_stay_within_the_byte_budget(many_actors_client, monkeypatch):
    """At 10M triples one view holds 100-300 MB: a sweep over `as_of` days must not keep hundreds of them."""
    from app import graph_view_routes

    cache = graph_view_routes._cache
    many_actors_client.get("/views/preconditions", params={"as_of": "2040-01-01"})
    one_view = cache.weight  # the graph and its JSON answer (this module's earlier views count too)
    monkeypatch.setattr(cache, "budget", one_view + 1)
    builds = []
    build = graph_views.preconditions
    monkeypatch.setattr(graph_views, "preconditions", lambda *args: builds.append(args) or build(*args))
    for day in range(2, 12):
        response = many_actors_client.get("/views/preconditions", params={"as_of": f"2040-01-{day:02}"})
        assert response.status_code == 200 and response.json()["nodes"]
        assert cache.weight <= cache.budget
    assert many_actors_client.get("/views/preconditions", params={"as_of": "2040-01-11"}).status_code == 200
    assert len(builds) == 10, "the latest view is still kept: asked again, it is not built again"
    kept = cache.weight
    monkeypatch.setattr(cache, "budget", 1000)
    assert many_actors_client.get("/views/stances", params={"as_of": "2040-02-01"}).status_code == 200
    assert cache.weight == kept, "a view heavier than the whole budget is answered, not kept"


@pytest.mark.parametrize("name", ["stances", "preconditions", "actors", "timeline"])
def test_a_cached_view_weighs_about_what_it_holds_in_memory(many_actors_client, name):
    """The cache's byte budget counts a graph by a sample of its attributes: it must stay near what Python holds."""
    import pickle
    import tracemalloc

    from app.graph_view_routes import WEIGHED, _weight

    graph = graph_views.build_view(many_actors_client.app.state.store, name)
    blob = pickle.dumps(graph)
    tracemalloc.start()
    try:
        copy = pickle.loads(blob)
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert copy.number_of_edges() == graph.number_of_edges()
    assert held / 1.5 <= _weight(graph) <= held * 1.5
    if name in ("stances", "timeline"):
        assert max(graph.number_of_nodes(), graph.number_of_edges()) > 2 * WEIGHED, "weighed by a sample"


def test_the_view_cache_budget_is_a_setting(monkeypatch):
    from fastapi.testclient import TestClient

    from app import graph_view_routes
    from app.server import create_app
    from app.settings import Settings

    monkeypatch.setattr(graph_view_routes._cache, "budget", graph_view_routes._cache.budget)  # restored after
    monkeypatch.setenv("STANCEGRAPH_VIEW_CACHE_MB", "3")
    with TestClient(create_app(Settings())) as client:
        assert client.get("/views/stances").status_code == 200
        assert graph_view_routes._cache.budget == 3 << 20 and graph_view_routes._cache.weight <= 3 << 20


def test_a_cold_view_asked_by_many_clients_at_once_is_built_once(monkeypatch):
    """A dashboard's panels ask the same view together after the data changed: one build, every answer."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    from app.server import create_app
    from app.settings import Settings
    from tests.live import app_server

    builds = []
    build = graph_views.stances

    def slow(*args):
        builds.append(args)
        time.sleep(0.5)  # the other requests arrive while it is built
        return build(*args)

    monkeypatch.setattr(graph_views, "stances", slow)
    with app_server(create_app(Settings())) as base, ThreadPoolExecutor(8) as clients:
        url = f"{base}/views/stances?as_of=2031-07-01&format=csv"
        answers = list(clients.map(lambda _: httpx.get(url, timeout=30), range(8)))
    assert [a.status_code for a in answers] == [200] * 8 and len({a.content for a in answers}) == 1
    assert len(builds) == 1, "built once, not once per client"


def test_a_graph_too_large_to_draw_says_so_and_how_to_see_it(client, monkeypatch):
    """At 1M triples the preconditions view's SVG was a 500 (networkx lays out 500 nodes with scipy)."""
    with pytest.raises(graph_formats.TooLargeToDraw, match="500 nodes and 499 edges are too many to draw"):
        graph_formats.svg(nx.path_graph(500, create_using=nx.DiGraph))
    lines = nx.gnm_random_graph(60, graph_formats.MAX_DRAWN_ARROWS + 1, seed=1)
    assert graph_formats.svg(lines).startswith(b"<?xml"), "an undirected view draws lines, not arrows: cheaper"
    with pytest.raises(graph_formats.TooLargeToDraw):
        graph_formats.svg(nx.DiGraph(lines))
    monkeypatch.setattr(graph_formats, "MAX_DRAWN_ARROWS", 10)
    refused = client.get("/views/stances", params={"format": "svg", "as_of": "2030-01-01"})
    assert refused.status_code == 400 and "export graphml or gexf for Gephi" in refused.json()["detail"]


def test_a_view_is_gzipped_once_and_sent_gzipped_again_from_the_cache(client, monkeypatch):
    """A browser always asks for gzip: compressing a 1M view (30 ms) on every request would cost more than the
    cached answer itself (2 ms)."""
    import gzip

    from app import graph_view_routes, http_common
    from app.cache import VersionedCache

    monkeypatch.setattr(graph_view_routes, "_cache", VersionedCache(size=16))  # the backends share data versions
    compressions, compress = [], gzip.compress
    monkeypatch.setattr(http_common.gzip, "compress", lambda *a: compressions.append(1) or compress(*a))
    params = {"format": "json", "as_of": "2031-01-01"}
    answers = [client.get("/views/stances", params=params, headers={"accept-encoding": "gzip"}) for _ in range(3)]
    plain = client.get("/views/stances", params=params, headers={"accept-encoding": "identity"})
    assert all(a.headers["content-encoding"] == "gzip" and a.content == plain.content for a in answers)
    assert "content-encoding" not in plain.headers and "Accept-Encoding" in plain.headers["vary"]
    assert len(compressions) == 1
