"""Named queries over HTTP: the real answers on the two source texts, safe binding, true pages, formats."""

import csv
import datetime
import io
import threading

import pandas as pd
import pyoxigraph as ox
import pytest
from typer.testing import CliRunner

from app import named_queries
from app.cache import VersionedCache
from app.cli import cli
from app.client import Stancegraph, StancegraphError
from app.named_queries import answer, load_named_queries
from app.namespaces import ID, SG
from app.server import create_app
from app.sparql_text import bind_values, count_query

TOKEN = "nq-token"
DOC_2009 = ID + "doc/000_dcc2f28bf5a60eb8"


def rows(client, name: str, **params) -> list[dict]:
    response = client.get(f"/api/queries/{name}", params={"limit": 1000, **params})
    assert response.status_code == 200, response.text
    return response.json()["rows"]


def iri(cell) -> str:
    return cell["iri"].removeprefix(ID) if isinstance(cell, dict) else cell


def test_stances_of_an_actor_with_polarity_and_dates(client):
    rejected = {iri(r["target"]) for r in rows(client, "stances-of-actor", actor="id:Russia", polarity="rejects")}
    assert rejected == {
        "ThirdSite",
        "DeployUSAMDElementsInRussia",
        "ThirdSitePartnership",
        "RussianParticipationInThirdSite",
        "FastenRadarsToThirdSite",
        "HolyAllianceAgainstIran",
    }
    in_2009 = rows(client, "stances-of-actor", actor="id:Russia", polarity="rejects", **{"from": "2009-01-01"})
    assert {r["date"] for r in in_2009} == {"2009-06-11"} and len(in_2009) == 4
    first = in_2009[0]
    assert first["source"]["iri"] == DOC_2009 and first["speaker"]["label"] and first["quote"]


def test_who_rejects_what(client):
    pairs = {(iri(r["actor"]), iri(r["target"])) for r in rows(client, "who-stands-where", polarity="rejects")}
    assert ("Russia", "ThirdSite") in pairs and ("UnitedStates", "USRenouncesThirdSite") in pairs
    assert len(pairs) == 7
    conditions = rows(client, "who-stands-where", polarity="conditions")
    assert {iri(r["target"]) for r in conditions} == {
        "MeaningfulDialogueOnCooperation",
        "RussiaUSInterceptionPartnership",
    }


def test_preconditions_direct_and_transitive(client):
    (dialogue,) = rows(client, "preconditions", issue="id:MeaningfulDialogueOnCooperation")
    assert iri(dialogue["requirement"]) == "USRenouncesThirdSite" and dialogue["direct"] is True
    assert iri(dialogue["statedBy"]) == "Russia" and dialogue["date"] == "2009-06-11"
    assert "can only start after the US renounces its plans" in dialogue["quote"]
    result = {(iri(r["requirement"]), r["direct"]) for r in rows(client, "preconditions", issue="id:ResultSuitingAll")}
    assert result == {("FrankSubstantiveDialogue", True), ("USConcreteProposals", False)}


@pytest.mark.parametrize("name", ["preconditions", "blocked-proposals"])
def test_rows_sorted_by_keys_the_query_makes_are_in_the_order_of_the_iris(client, name):
    """The two queries sort by `CONCAT("~", STR(?iri))` keys (fast on disk): the order must stay the IRIs'."""
    found = [(row["issue"]["iri"], row["requirement"]["iri"]) for row in rows(client, name)]
    assert len(found) > 5 and found == sorted(found)


def test_blocked_proposals_and_by_whom(client):
    blocked = rows(client, "blocked-proposals")
    found = {(iri(r["issue"]), iri(r["requirement"]), r["reason"], iri(r["by"])) for r in blocked}
    assert ("MeaningfulDialogueOnCooperation", "USRenouncesThirdSite", "rejected", "UnitedStates") in found
    assert ("ExpertWorkOnUSIdeas", "USConcreteProposals", "not fulfilled", "UnitedStates") in found
    assert ("ResultSuitingAll", "USConcreteProposals", "not fulfilled", "UnitedStates") in found
    rejected = next(r for r in blocked if r["reason"] == "rejected")
    assert "Mr. Gates is of a different opinion" in rejected["quote"]


@pytest.mark.parametrize(
    ("name", "parameter", "value"),
    [
        ("blocked-proposals", "by", "UnitedStates"),
        ("conflicts", "target", "DeployUSAMDElementsInRussia"),
        ("conflicts", "target", "ThirdSite"),
    ],
)
def test_a_parameter_inside_a_subquery_filters_like_one_outside(client, name, parameter, value):
    """The query restricts its subqueries through `VALUES ?name { UNDEF }` placeholders: same rows as filtering all."""
    whole = [r for r in rows(client, name) if iri(r[parameter]) == value]
    assert whole and sorted(map(repr, rows(client, name, **{parameter: f"id:{value}"}))) == sorted(map(repr, whole))


def test_placeholders_are_filled_only_where_they_are_values():
    query = (
        'SELECT * WHERE { { SELECT ?by WHERE { VALUES ?by { UNDEF } ?s ?p ?by } } ?s ?q "VALUES ?by { UNDEF }" .\n'
        "# VALUES ?by { UNDEF }\n VALUES ?other { UNDEF } }"
    )
    bound = bind_values(query, {"by": ox.NamedNode("https://example.org/a")})
    assert bound.count("VALUES ?by { <https://example.org/a> }") == 1
    assert '"VALUES ?by { UNDEF }"' in bound and "# VALUES ?by { UNDEF }" in bound
    assert "VALUES ?other { UNDEF }" in bound and bound.startswith("SELECT * WHERE { VALUES (?by)")


def test_a_total_is_counted_without_sorting_and_equals_the_rows():
    """The engine sorts even inside a count, so the count leaves the ORDER BY out; only the top-level one:
    a subquery's ORDER BY with LIMIT chooses rows, and LIMIT, OFFSET and a final VALUES change the count."""
    store = ox.Store()
    p = ox.NamedNode("https://example.org/p")
    for n in range(8):
        store.add(ox.Quad(ox.NamedNode(f"https://example.org/s{n}"), p, ox.Literal(n)))
    query = (
        "PREFIX order: <https://example.org/>\n"
        "SELECT ?s ?o WHERE { { SELECT ?s ?o WHERE { ?s order:p ?o } ORDER BY DESC(?o) LIMIT 6 } "
        'FILTER (STR(?o) != "ORDER BY") } ORDER BY (EXISTS { ?s order:p 7 }) ?s # ORDER BY ?o\n'
        "OFFSET 1 VALUES ?o { 0 1 2 5 }"
    )
    counted = count_query(query)
    assert counted.count("ORDER BY") == 2  # the subquery's and the string's
    assert "OFFSET 1 VALUES ?o { 0 1 2 5 }" in counted and "EXISTS" not in counted
    (total,) = store.query(counted)
    assert int(total["total"].value) == len(list(store.query(query))) == 1  # 2 and 5 are in the first 6; 1 skipped


def test_conflicts_between_actors(client):
    conflicts = rows(client, "conflicts")
    assert {iri(r["target"]) for r in conflicts} == {
        "ThirdSite",
        "DeployUSAMDElementsInRussia",
        "ThirdSitePartnership",
        "FastenRadarsToThirdSite",
        "USRenouncesThirdSite",
    }
    (third_site,) = rows(client, "conflicts", target="id:ThirdSite")
    assert (iri(third_site["actorA"]), iri(third_site["polarityA"])) == ("Russia", "polarity/rejects")
    assert (iri(third_site["actorB"]), iri(third_site["polarityB"])) == ("UnitedStates", "polarity/proposes")


def test_conflicts_of_one_actor_are_those_it_takes_part_in_on_either_side(client):
    whole = rows(client, "conflicts")
    actors = {iri(r["actorA"]) for r in whole} | {iri(r["actorB"]) for r in whole}
    assert len(actors) >= 2
    for actor in actors | {"Poland"}:
        theirs = [r for r in whole if actor in (iri(r["actorA"]), iri(r["actorB"]))]
        assert rows(client, "conflicts", actor=f"id:{actor}") == theirs


def test_contradictions_are_none_in_the_two_texts_and_found_when_an_actor_turns(make_client):
    writable = make_client(admin_token=TOKEN)
    assert rows(writable, "contradictions") == []
    turn = f"""PREFIX sg: <https://stancegraph.org/ontology#>
    INSERT DATA {{ GRAPH <{ID}graph/000_dcc2f28bf5a60eb8> {{
      <{DOC_2009}/stance-99> a sg:Stance ; sg:holder <{ID}UnitedStates> ; sg:target <{ID}ThirdSite> ;
        sg:polarity <{ID}polarity/rejects> ; sg:date "2009-06-11"^^<http://www.w3.org/2001/XMLSchema#date> ;
        sg:source <{DOC_2009}> ; sg:evidence <{DOC_2009}/quote-07> . }} }}"""
    response = writable.post(
        "/sparql",
        content=turn,
        headers={"content-type": "application/sparql-update", "authorization": f"Bearer {TOKEN}"},
    )
    assert response.status_code == 204
    (change,) = rows(writable, "contradictions")
    assert iri(change["actor"]) == "UnitedStates" and iri(change["target"]) == "ThirdSite"
    assert rows(writable, "contradictions", actor="id:UnitedStates") == [change]
    assert rows(writable, "contradictions", actor="id:Russia") == []
    assert (iri(change["earlierPolarity"]), iri(change["laterPolarity"])) == ("polarity/proposes", "polarity/rejects")


def test_timeline_in_date_order(client):
    until_2008 = rows(client, "timeline", to="2008-01-01")
    dates = [r["date"] for r in until_2008]
    assert dates == sorted(dates) and dates[0] == "2007-10-12" and max(dates) <= "2008-01-01"
    assert {r["kind"] for r in until_2008} == {"stance", "proposal", "event"}
    assert any(iri(r["item"]) == "TwoPlusTwoMeeting2007" for r in until_2008)
    (proposal,) = [r for r in until_2008 if r["kind"] == "proposal"]  # dated by the 2007 commentary: its source
    assert iri(proposal["item"]) == "USCounterIdeas2007" and iri(proposal["source"]) == "doc/003_cf8b46a4843bbcf9"
    everything = rows(client, "timeline")
    assert everything[-1]["date"] == "2009-06-11" and len(everything) > len(until_2008)


def test_an_event_without_evidence_is_on_the_timeline_once(make_client):
    writable = make_client(admin_token=TOKEN)
    summit = f"""PREFIX sg: <https://stancegraph.org/ontology#>
    INSERT DATA {{ GRAPH <{ID}graph/000_dcc2f28bf5a60eb8> {{
      <{ID}SochiSummit2008> a sg:Meeting ; sg:date "2008-04-06"^^<http://www.w3.org/2001/XMLSchema#date> . }} }}"""
    response = writable.post(
        "/sparql",
        content=summit,
        headers={"content-type": "application/sparql-update", "authorization": f"Bearer {TOKEN}"},
    )
    assert response.status_code == 204
    (event,) = rows(writable, "timeline", **{"from": "2008-04-06", "to": "2008-04-06"})
    assert (iri(event["item"]), event["kind"]) == ("SochiSummit2008", "event")
    assert not event["quote"] and event["source"] is None
    with_evidence = [r for r in rows(writable, "timeline") if iri(r["item"]) == "NesterenkoBriefing2009"]
    assert len(with_evidence) == 1 and "Nesterenko" in with_evidence[0]["quote"]


def test_evidence_for_a_resource(client):
    quotes = {r["quote"] for r in rows(client, "evidence", resource="id:ThirdSite")}
    assert any("what is known as the third site" in q for q in quotes)
    assert any(q.startswith("we will not participate in the creation of an antimissile potential") for q in quotes)


PLACEHOLDER_CASES = [
    (
        "evidence",
        "resource",
        ["ThirdSite", "Russia", "VladimirPutin", "AndreyNesterenko", "doc/003_cf8b46a4843bbcf9/stance-02"],
    ),
    ("preconditions", "issue", ["MeaningfulDialogueOnCooperation", "ResultSuitingAll", "ThirdSiteActivation"]),
]


@pytest.mark.parametrize(("name", "parameter", "values"), PLACEHOLDER_CASES)
def test_a_parameter_filled_in_where_the_engine_needs_it_gives_the_rows_of_the_query_restricted_once(
    store, name, parameter, values
):
    """Placeholders carry a parameter into a UNION's branches (evidence) or an OPTIONAL (preconditions), where the
    engine would otherwise list the whole corpus: they change how fast, never which rows, against the VALUES block
    that opens the query alone."""
    query = next(q for q in load_named_queries(store.settings.queries_dir)[0] if q.name == name)
    once = query.sparql.replace(f"VALUES ?{parameter} {{ UNDEF }}", "")
    assert once != query.sparql
    for value in values:
        bound = query.bindings({parameter: f"id:{value}"})
        found = [sorted(map(repr, store.select(bind_values(text, bound)))) for text in (query.sparql, once)]
        assert found[0] and found[0] == found[1], value


def test_quotes_by_speaker_include_paraphrases_in_text_order(client):
    quotes = rows(client, "quotes-by-speaker", speaker="id:AndreyNesterenko")
    assert len(quotes) == 10
    assert [q["start"] for q in quotes] == sorted(q["start"] for q in quotes)
    voices = {q["voice"]["label"] for q in quotes}
    assert voices == {"direct quotation", "indirect speech"}


def test_proposals_by_proposer(client):
    proposals = {iri(r["proposal"]) for r in rows(client, "proposals-by-proposer", proposer="id:UnitedStates")}
    assert proposals == {
        "DeployUSAMDElementsInRussia",
        "ThirdSitePartnership",
        "ThirdSite",
        "USCounterIdeas2007",
        "FastenRadarsToThirdSite",
        "RussianAccessToThirdSite",
    }
    russian = {iri(r["proposal"]) for r in rows(client, "proposals-by-proposer", proposer="id:Russia")}
    assert russian == {"PutinPackageProposal", "GabalaRadarOffer", "ArmavirRadarOffer"}


def test_entities_mentioned_in_more_than_one_document(client):
    found = rows(client, "multi-document-entities")
    entities = {iri(r["entity"]) for r in found}
    russia = next(r for r in found if iri(r["entity"]) == "Russia")
    assert russia["documents"] == 2 and len(russia["sources"].split()) == 2 and russia["type"]["iri"] == SG + "State"
    assert {"ThirdSite", "Russia", "UnitedStates", "RobertGates", "RussianParticipationInThirdSite"} <= entities
    assert "AndreyNesterenko" not in entities and "MikhailKamynin" not in entities


@pytest.mark.parametrize("hostile", ['"} UNION { ?s ?p ?o }', "x' . } # \n SELECT * {", '\\"; DROP ALL', "}}}}", '"""'])
def test_injection_strings_are_plain_values(client, hostile):
    response = client.get("/api/queries/search-quotes", params={"text": hostile})
    assert response.status_code == 200 and response.json()["total"] == 0
    as_iri = client.get("/api/queries/stances-of-actor", params={"actor": hostile})
    assert as_iri.status_code == 400 and "valid iri" in as_iri.json()["detail"]
    assert client.get("/api/queries/search-quotes", params={"text": "third site"}).json()["total"] == 1


def test_pages_are_true_and_linked(client):
    first = client.get("/api/queries/timeline", params={"limit": 10})
    total = int(first.headers["x-total-count"])
    assert total == first.json()["total"] == len(rows(client, "timeline"))
    links = first.headers["link"]
    assert 'rel="first"' in links and 'rel="next"' in links and 'rel="prev"' not in links
    last_offset = (total - 1) // 10 * 10
    last = client.get("/api/queries/timeline", params={"limit": 10, "offset": last_offset})
    assert (
        'rel="next"' not in last.headers["link"] and f'offset={last_offset - 10}>; rel="prev"' in last.headers["link"]
    )
    assert len(last.json()["rows"]) == total - last_offset
    beyond = client.get("/api/queries/timeline", params={"limit": 10, "offset": total + 50})
    assert beyond.json()["rows"] == [] and f'offset={last_offset}>; rel="prev"' in beyond.headers["link"]
    pages = [r for offset in range(0, total, 10) for r in rows(client, "timeline", limit=10, offset=offset)]
    assert pages == rows(client, "timeline")


def test_a_page_that_is_not_one_is_a_clear_error_everywhere(client, store):
    """`--limit -1` was a traceback from the CLI (it became `LIMIT -1` in the query text); limit=0 from the
    Python client gave a first page of up to 10,000 rows."""
    for params in ({"limit": 0}, {"limit": -1}, {"offset": -1}):
        refused = client.get("/api/queries/timeline", params=params)
        assert refused.status_code == 400 and next(iter(params)) in refused.text
    (timeline,) = (q for q in load_named_queries(store.settings.queries_dir)[0] if q.name == "timeline")
    with pytest.raises(ValueError, match="limit >= 1 and offset >= 0"):
        answer(store, timeline, {}, -1, 0)


def test_a_page_that_is_not_one_is_a_clear_error_from_the_cli_and_the_python_client():
    for option in ("--limit=-1", "--limit=0", "--offset=-1"):
        result = CliRunner().invoke(cli, ["query", "timeline", option])
        assert result.exit_code == 2 and "greater than or equal to" in result.output, option
    unknown = CliRunner().invoke(cli, ["query", "timeline", "--format", "xml"])  # was printed as a table
    assert unknown.exit_code == 2 and "unknown format 'xml': use one of table, csv, json" in unknown.output
    embedded = Stancegraph.embedded()
    for params in ({"limit": 0}, {"offset": -1}):
        with pytest.raises(StancegraphError, match="limit must be at least 1"):
            embedded.query("timeline", **params)


def test_a_blank_node_in_an_answer_is_told_apart_from_a_string(make_client):
    """A stance held by a blank node (an unnamed coalition): its holder came out as the bare id, like a string."""
    writable = make_client(admin_token=TOKEN)
    coalition = (
        f"INSERT DATA {{ GRAPH <http://example.org/g> {{ <http://example.org/s> a <{SG}Stance> ; <{SG}holder> [] ;"
        f' <{SG}target> <{ID}ThirdSite> ; <{SG}polarity> <{ID}polarity/rejects> ; <{SG}date> "2009-01-01"^^'
        f'<http://www.w3.org/2001/XMLSchema#date> ; <{SG}source> <http://example.org/doc> ; <{SG}quote> "no" }} }}'
    )
    write = {"content-type": "application/sparql-update", "authorization": f"Bearer {TOKEN}"}
    assert writable.post("/sparql", content=coalition, headers=write).status_code == 204
    actors = [r["actor"] for r in rows(writable, "who-stands-where", target="id:ThirdSite", polarity="rejects")]
    assert any(isinstance(a, str) and a.startswith("_:") for a in actors)
    assert any(isinstance(a, dict) and a["iri"] == f"{ID}Russia" for a in actors)
    table = writable.get("/api/queries/who-stands-where", params={"target": "id:ThirdSite", "format": "csv"}).text
    assert "\n_:" in table


def test_formats_json_csv_and_sparql_json(client):
    params = {"actor": "id:Russia", "polarity": "demands"}
    as_csv = client.get("/api/queries/stances-of-actor", params={**params, "format": "csv"})
    assert as_csv.headers["content-type"] == "text/csv; charset=utf-8"
    table = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert table[0]["target_label"] == "US renounces the third site"
    by_accept = client.get(
        "/api/queries/stances-of-actor", params=params, headers={"accept": "application/sparql-results+json"}
    )
    solutions = list(ox.parse_query_results(by_accept.content, format=ox.QueryResultsFormat.JSON))
    assert solutions[0]["target"] == ox.NamedNode(ID + "USRenouncesThirdSite")
    assert (
        client.get("/api/queries/stances-of-actor", params=params, headers={"accept": "image/png"}).status_code == 406
    )


def test_a_named_query_asking_the_time_is_answered_anew_each_time(make_client):
    """A query file may ask NOW() (statements of the last 30 days, say): its answers, kept by data version,
    stayed those of the first day, with ETags saying so."""
    writable = make_client(admin_token=TOKEN)
    (writable.app.state.settings.queries_dir / "asked-at.rq").write_text(
        "#+ summary: Stances, and when this was asked\n"
        "PREFIX sg: <https://stancegraph.org/ontology#>\n"
        "SELECT ?stance (STRUUID() AS ?asking) WHERE { ?stance a sg:Stance } ORDER BY ?stance\n",
        encoding="utf-8",
    )
    assert writable.post("/admin/reload", headers={"authorization": f"Bearer {TOKEN}"}).status_code == 200
    first, second = (writable.get("/api/queries/asked-at", params={"limit": 2}) for _ in range(2))
    assert first.status_code == second.status_code == 200 and "etag" not in first.headers
    assert first.json()["total"] == second.json()["total"] == 29
    assert first.json()["rows"][0]["asking"] != second.json()["rows"][0]["asking"]


def test_answers_have_etags_and_a_client_that_has_one_gets_a_304(client):
    """Repeated analyst questions cost a revalidation, not an answer (the bench timed full answers as 304s)."""
    url, params = "/api/queries/stances-of-actor", {"actor": "id:Russia", "limit": 5}
    first = client.get(url, params=params)
    etag = first.headers["etag"]
    again = client.get(url, params=params, headers={"if-none-match": etag})
    assert again.status_code == 304 and again.headers["etag"] == etag and again.content == b""
    for sent in (etag.removeprefix("W/"), f'W/"other", {etag}'):  # compared weakly; one of a list
        assert client.get(url, params=params, headers={"if-none-match": sent}).status_code == 304, sent
    assert client.get(url, params=params, headers={"if-none-match": 'W/"other"'}).status_code == 200
    as_csv = client.get(url, params={**params, "format": "csv"})
    next_page = client.get(url, params={**params, "offset": 5})
    assert len({etag, as_csv.headers["etag"], next_page.headers["etag"]}) == 3, "one ETag per format and page"


def test_bad_parameters_are_400_with_the_reason(client):
    missing = client.get("/api/queries/stances-of-actor")
    assert missing.status_code == 400 and "actor" in missing.text
    wrong_enum = client.get("/api/queries/stances-of-actor", params={"actor": "id:Russia", "polarity": "loves"})
    assert wrong_enum.status_code == 400
    bad_date = client.get("/api/queries/timeline", params={"from": "2008-13-01"})
    assert bad_date.status_code == 400
    typo = client.get("/api/queries/who-stands-where", params={"acter": "id:Russia"})  # not every actor's stances
    assert typo.status_code == 400
    assert typo.json()["detail"] == (
        "unknown parameter(s) acter; this operation takes actor, format, limit, offset, polarity, target"
    )


@pytest.mark.parametrize(
    "written", ["0", "86400", "2009", "2009-06", "20090611", "2009-6-11", "2009-02-30", "2009-06-11T00:00"]
)
def test_a_day_is_written_yyyy_mm_dd_or_refused_saying_so(client, written):
    """A Unix timestamp was taken for a day (`from=0` or `as_of=0`: 1970-01-01, `86400`: the 2nd), a year was
    refused as a moment 'with time', and the Python client took 20090611 and week dates."""
    for url, name in (("/api/queries/timeline", "from"), ("/views/stances", "as_of")):
        refused = client.get(url, params={name: written})
        assert refused.status_code == 400, (url, refused.text)
        assert f"'{written}' is not a" in refused.json()["detail"][0]["msg"]
    sg = Stancegraph.embedded()
    for ask in (lambda: sg.query("timeline", **{"from": written}), lambda: sg.view("stances", as_of=written)):
        with pytest.raises(StancegraphError, match=f"'{written}' is not a"):
            ask()


def test_a_day_is_taken_as_text_a_date_or_a_midnight(client):
    dated = [r["date"] for r in rows(client, "timeline", **{"from": "2009-06-11"})]
    assert dated and set(dated) == {"2009-06-11"}
    sg = Stancegraph.embedded()
    for day in (datetime.date(2009, 6, 11), datetime.datetime(2009, 6, 11), pd.Timestamp("2009-06-11")):
        assert set(sg.query("timeline", **{"from": day})["date"].dt.date.astype(str)) == {"2009-06-11"}
    with pytest.raises(StancegraphError, match="is a moment, not a day"):
        sg.query("timeline", **{"from": datetime.datetime(2009, 6, 11, 12, 30)})


@pytest.mark.parametrize("with_examples", [False, True])
def test_no_named_query_answers_a_row_twice_for_a_fact_two_documents_state(client, with_examples):
    """The union of the graphs is a bag in the engine (Oxigraph 0.5, oxigraph#1919): a triple two graphs hold
    is matched twice. Both documents say the US proposed the third site and Russia is the agent of its part in
    it; every named query must still answer each row once (the README tells ad-hoc queries to use DISTINCT)."""
    doubled = client.get("/sparql", params={"query": f"SELECT ?by WHERE {{ <{ID}ThirdSite> <{SG}proposedBy> ?by }}"})
    assert len(doubled.json()["results"]["bindings"]) == 2, "the engine's bag: if this fails, the fix has landed"
    for query in client.get("/api/queries").json()["queries"]:
        given = [p for p in query["parameters"] if p["required"] or (with_examples and p["example"] is not None)]
        params = {p["name"]: p["example"] for p in given}
        answer = client.get(query["url"], params={**params, "limit": 10_000, "format": "csv"})
        assert answer.status_code == 200, (query["name"], answer.text)
        lines = answer.text.splitlines()
        assert len(lines) == len(set(lines)), f"{query['name']} answers a row twice"


def test_every_query_is_a_documented_operation(client):
    listed = client.get("/api/queries").json()
    names = {q["name"] for q in listed["queries"]}
    assert {"stances-of-actor", "blocked-proposals", "conflicts", "timeline", "evidence"} <= names
    assert listed["problems"] == []
    paths = client.get("/openapi.json").json()["paths"]
    for name in names:
        assert f"/api/queries/{name}" in paths
    operation = paths["/api/queries/stances-of-actor"]["get"]
    parameters = {p["name"]: p for p in operation["parameters"]}
    assert parameters["actor"]["required"] is True and parameters["actor"]["schema"]["examples"] == ["id:Russia"]
    assert "rejects" in str(parameters["polarity"]["schema"]) and parameters["limit"]["schema"]["maximum"] == 10000
    assert "date" in str(parameters["from"]["schema"])
    assert operation["summary"] == "Stances of an actor"


def test_a_named_query_out_of_time_says_which_parameters_narrow_it(make_client):
    """A 503 that only says "time limit" leaves the analyst guessing; the parameters left unset are the way."""
    slow = make_client(query_timeout=1)
    (slow.app.state.settings.queries_dir / "everything-thrice.rq").write_text(
        "#+ summary: A cross join that cannot finish\n#+ params:\n#+   - name: actor\n#+     type: iri\n"
        "SELECT ?actor (COUNT(*) AS ?n) WHERE { ?actor ?p ?o . ?a ?b ?c . ?d ?e ?f } GROUP BY ?actor\n",
        encoding="utf-8",
    )
    slow.app.state.named_queries.refresh()  # what a reload does after reading data/
    out_of_time = slow.get("/api/queries/everything-thrice")
    assert out_of_time.status_code == 503
    assert out_of_time.json()["detail"] == (
        "query stopped after the 1 s time limit; narrow everything-thrice with one of its parameters: actor"
    )


HEADER = "#+ summary: s\n#+ params:\n#+   - name: actor\n#+     type: {type}\n"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (HEADER.format(type="iri") + "SELECT ?x WHERE { ?x ?p ?o }", "parameter actor is declared but the query never"),
        (HEADER.format(type="iri") + "# ?actor\nSELECT ?x WHERE { ?x ?p ?actors }", "never uses ?actor"),
        (HEADER.format(type="colour") + "SELECT ?x WHERE { ?x ?p ?actor }", "type must be one of"),
        (HEADER.format(type="iri") + "SELECT ?x WHERE { ?x ?p ?actor } LIMIT 5", "must not set LIMIT or OFFSET"),
        (HEADER.format(type="iri") + "ASK { ?x ?p ?actor }", "must be a SELECT query"),
        ("#+ summary: [unclosed\nSELECT ?x WHERE { ?x ?p ?o }", "bad #+ header"),
        ("SELECT ?x WHERE { ?x ?p }", "SPARQL syntax error"),
    ],
)
def test_a_query_file_that_cannot_answer_as_declared_is_a_problem_with_its_file(tmp_path, text, problem):
    """A declared parameter the query never uses filtered nothing: `--actor id:Russia` answered everyone."""
    (tmp_path / "mine.rq").write_text(text, encoding="utf-8")
    queries, problems = load_named_queries(tmp_path)
    assert queries == [] and len(problems) == 1
    assert problems[0].file.endswith("mine.rq") and problem in problems[0].message


def test_a_new_query_file_becomes_an_endpoint_on_reload(make_client):
    writable = make_client(admin_token=TOKEN)
    queries_dir = writable.app.state.settings.queries_dir
    (queries_dir / "actors-by-type.rq").write_text(
        "#+ summary: Actors of a type\n#+ params:\n#+   - name: type\n#+     type: iri\n#+     example: sg:State\n"
        "SELECT ?actor WHERE { ?actor a ?type } ORDER BY ?actor\n",
        encoding="utf-8",
    )
    (queries_dir / "broken.rq").write_text("#+ summary: broken\nSELECT ?x WHERE { ?x ", encoding="utf-8")
    assert writable.get("/api/queries/actors-by-type").status_code == 404
    reload = writable.post("/admin/reload", headers={"authorization": f"Bearer {TOKEN}"})
    assert reload.status_code == 200 and "actors-by-type" in reload.json()["queries"]
    assert any("broken.rq:2" in p for p in reload.json()["query_problems"])
    states = rows(writable, "actors-by-type", type="sg:State")
    assert {iri(r["actor"]) for r in states} == {
        "Russia",
        "UnitedStates",
        "Poland",
        "CzechRepublic",
        "Iran",
        "Azerbaijan",
    }
    assert "/api/queries/actors-by-type" in writable.get("/openapi.json").json()["paths"]
    assert rows(writable, "stances-of-actor", actor="id:Russia")


def test_cli_prints_the_same_answer(client):
    result = CliRunner().invoke(cli, ["query", "conflicts", "--target", "id:ThirdSite", "--format", "csv"])
    assert result.exit_code == 0, result.output
    table = list(csv.DictReader(io.StringIO(result.output)))
    assert [(r["actorA_label"], r["polarityA_label"], r["actorB_label"]) for r in table] == [
        ("Russia", "rejects", "United States")
    ]
    api = rows(client, "conflicts", target="id:ThirdSite")
    assert table[0]["quoteA"] == api[0]["quoteA"]


def test_cli_answers_from_an_on_disk_store_without_loading_the_files_again(tmp_path):
    """At millions of triples `stancegraph query` loaded data/ into memory at every call (minutes with the
    shapes); with --store oxigraph:PATH the first call builds the store and later calls read it as it is."""
    location = tmp_path / "store"
    asked = ["query", "conflicts", "--target", "id:ThirdSite", "--format", "csv"]
    in_memory = CliRunner().invoke(cli, asked)
    built = CliRunner().invoke(cli, [*asked, "--store", f"oxigraph:{location}"])
    generation = sorted(location.glob("gen-*"))
    again = CliRunner().invoke(cli, [*asked, "--store", f"oxigraph:{location}"])
    assert in_memory.exit_code == built.exit_code == again.exit_code == 0, again.output
    assert in_memory.output == built.output == again.output and "Russia" in again.output
    assert len(generation) == 1 and sorted(location.glob("gen-*")) == generation, "read as it was, not rebuilt"
    exported = CliRunner().invoke(cli, ["export", "--format", "nquads", "--store", f"oxigraph:{location}"])
    whole = CliRunner().invoke(cli, ["export", "--format", "nquads"])
    assert exported.exit_code == 0 and len(exported.output.splitlines()) == len(whole.output.splitlines()) > 2000
    (tmp_path / "afile").write_text("")
    refused = CliRunner().invoke(cli, [*asked, "--store", f"oxigraph:{tmp_path / 'afile'}"])
    assert refused.exit_code == 1 and "it is a file" in refused.output


def test_following_next_evaluates_the_query_once_per_ten_pages_and_counts_it_once(store, settings, monkeypatch):
    """Every page evaluates and sorts the whole query (12.5 s a page for blocked-proposals at 1M triples), so a
    cold page brings the next ones with it, and the total is counted once for all the pages of a question."""
    monkeypatch.setattr(named_queries, "_cache", VersionedCache(size=1024))
    timeline = {q.name: q for q in load_named_queries(settings.queries_dir)[0]}["timeline"]
    asked = []
    run = store.run  # selects go through it too
    monkeypatch.setattr(store, "run", lambda job, *a: asked.append(job.query) or run(job, *a))
    pages = [answer(store, timeline, {}, 3, offset) for offset in range(0, 34, 3)]
    evaluations = [q for q in asked if "LIMIT 30 OFFSET" in q or "(COUNT(*) AS ?total)" in q]
    assert len(evaluations) == 3, "pages 1-10 in one evaluation, 11-12 in another, one count"
    assert [len(p.rows) for p in pages] == [3] * 11 + [1] and {p.total for p in pages} == {34}


def test_a_cache_that_keeps_nothing_still_evaluates_a_page_and_counts_it_once(store, settings, monkeypatch):
    monkeypatch.setattr(named_queries, "_cache", VersionedCache(budget=0, weigh=named_queries._weight))
    timeline = {q.name: q for q in load_named_queries(settings.queries_dir)[0]}["timeline"]
    asked = []
    run = store.run
    monkeypatch.setattr(store, "run", lambda job, *a: asked.append(job.query) or run(job, *a))
    assert answer(store, timeline, {}, 3, 0).total == 34
    assert len([q for q in asked if "LIMIT 30 OFFSET 0" in q or "(COUNT(*) AS ?total)" in q]) == 2


@pytest.mark.parametrize("limit", [1, 3, 4, 7])
def test_a_page_fetched_ahead_is_the_page_asked_alone(store, settings, monkeypatch, limit):
    """Every page of the 34 rows of `timeline`, and pages at offsets that are not a multiple of the limit (with
    3 rows a page, rows 28-30 lie across two blocks of ten pages)."""
    monkeypatch.setattr(named_queries, "_cache", VersionedCache(size=1024))
    timeline = {q.name: q for q in load_named_queries(settings.queries_dir)[0]}["timeline"]
    for offset in [*range(0, 36, limit), 1, 5, 28, 29]:
        ahead, alone = answer(store, timeline, {}, limit, offset), answer(store, timeline, {}, limit, offset, False)
        assert (ahead.rows, ahead.total, ahead.offset, ahead.labels) == (alone.rows, alone.total, offset, alone.labels)
        assert ahead.page.body == alone.page.body and ahead.page.rows == alone.page.rows == len(alone.rows)


def test_cached_answers_stay_within_their_memory_budget(store, settings, monkeypatch):
    """Bounded by entries alone, 1,024 cached pages of 10,000 rows could hold 10 GB; the budget is
    STANCEGRAPH_VIEW_CACHE_MB, as for the views."""
    timeline = {q.name: q for q in load_named_queries(settings.queries_dir)[0]}["timeline"]
    budget = 3 * named_queries._weight(answer(store, timeline, {}, 34, 0, cached=False))  # of the 34 answers below
    monkeypatch.setattr(named_queries, "_cache", VersionedCache(size=4096, budget=budget, weigh=named_queries._weight))
    for limit in range(1, 35):
        answer(store, timeline, {}, limit, 0)
        assert 0 < named_queries._cache.weight <= budget
    asked = []
    run = store.run
    monkeypatch.setattr(store, "run", lambda job, *a: asked.append(job) or run(job, *a))
    assert len(answer(store, timeline, {}, 34, 0).rows) == 34 and asked == [], "the latest answer is kept"
    create_app(settings.model_copy(update={"view_cache_mb": 7}))
    assert named_queries._cache.budget == 7 << 20


def test_a_cold_answer_asks_for_its_page_and_its_total_at_once(store, settings, monkeypatch):
    """Both evaluate the whole query: asked one after the other, a cold answer would take twice as long."""
    both_asked = threading.Barrier(2, timeout=10)
    first_calls = {"select", "run"}

    def meeting(name: str, ask):
        def call(*args, **kwargs):
            if name in first_calls:
                first_calls.discard(name)
                both_asked.wait()  # broken (an error) unless the other one is asked meanwhile
            return ask(*args, **kwargs)

        return call

    for name in ("select", "run"):
        monkeypatch.setattr(store, name, meeting(name, getattr(store, name)))
    queries = {q.name: q for q in load_named_queries(settings.queries_dir)[0]}
    result = answer(store, queries["timeline"], {}, 10, 0, cached=False)
    assert len(result.rows) == 10 and result.total > 10
