"""The real encoding says what the two source texts say, traceably."""

import re

import pyoxigraph as ox
import pytest

from app.corpus import Corpus
from app.loader import check
from app.namespaces import DERIVED_GRAPH, ID, sparql_prologue
from app.rules import rules_reading_derived
from app.settings import PROJECT_ROOT, Settings
from app.statistics import document_statistics
from tests.live import stancegraph_process

DOC_2009 = ID + "doc/000_dcc2f28bf5a60eb8"
DOC_2007 = ID + "doc/003_cf8b46a4843bbcf9"

CONFIRMED_LINKS = {
    "Russia": {"http://www.wikidata.org/entity/Q159", "http://dbpedia.org/resource/Russia"},
    "UnitedStates": {"http://www.wikidata.org/entity/Q30", "http://dbpedia.org/resource/United_States"},
    "Poland": {"http://www.wikidata.org/entity/Q36", "http://dbpedia.org/resource/Poland"},
    "CzechRepublic": {"http://www.wikidata.org/entity/Q213", "http://dbpedia.org/resource/Czech_Republic"},
    "Iran": {"http://www.wikidata.org/entity/Q794", "http://dbpedia.org/resource/Iran"},
    "Azerbaijan": {"http://www.wikidata.org/entity/Q227"},
    "VladimirPutin": {"http://www.wikidata.org/entity/Q7747", "http://dbpedia.org/resource/Vladimir_Putin"},
    "USDepartmentOfDefense": {"http://www.wikidata.org/entity/Q11209"},
}


def ask(store, pattern: str) -> bool:
    return store.ask(sparql_prologue() + f"ASK {{ {pattern} }}")


def test_real_data_validates_without_errors(settings):
    _, problems = check(Corpus(settings))
    assert [str(p) for p in problems if p.is_error] == []


@pytest.mark.parametrize(
    "pattern",
    [
        "id:Russia sg:rejects id:ThirdSite",
        "id:UnitedStates sg:proposes id:DeployUSAMDElementsInRussia",
        "id:Russia sg:rejects id:DeployUSAMDElementsInRussia",
        "id:Russia sg:demands id:USRenouncesThirdSite",
        "id:UnitedStates sg:rejects id:USRenouncesThirdSite",
        "id:MeaningfulDialogueOnCooperation sg:requires id:USRenouncesThirdSite",
        "id:RussiaUSInterceptionPartnership sg:requires id:USRenouncesThirdSite",
        "id:Russia sg:proposes id:PutinPackageProposal",
        "id:PutinPackageProposal sg:hasPart id:GabalaRadarOffer , id:ArmavirRadarOffer",
        "id:Russia sg:rejects id:FastenRadarsToThirdSite",
        "id:Russia sg:requests id:USConcreteProposals",
        "id:Russia sg:expects id:UnderstandingOnJointThreatEvaluation",
    ],
)
def test_derived_direct_triples_state_the_texts_positions(store, pattern):
    assert ask(store, f"GRAPH <{DERIVED_GRAPH}> {{ {pattern} }}") or ask(store, pattern)


def test_every_quote_has_its_shortcut_and_no_rule_reads_what_a_rule_derives(settings):
    """sg:quote is the annotation path in one triple (the views ask it for every statement). Re-deriving
    after a write on a remote store runs the rules with the old derived graph in the union: a rule reading
    another's output would then feed on stale triples."""
    store, _ = check(Corpus(settings), shacl=False)
    derived = ox.NamedNode(DERIVED_GRAPH)

    def pairs(where: str) -> set:
        query = sparql_prologue() + f"SELECT ?s ?q WHERE {{ {where} }}"
        return {(row["s"], row["q"]) for row in store.query(query, use_default_graph_as_union=True)}

    annotated = pairs("?s sg:evidence/oa:hasTarget/oa:hasSelector/oa:exact ?q")
    assert annotated == pairs(f"GRAPH {derived} {{ ?s sg:quote ?q }}") and len(annotated) > 40
    assert rules_reading_derived(store, settings.rules_dir) == []  # what `stancegraph validate` asks


def test_dialogue_precondition_carries_speaker_date_and_verbatim_quote(store):
    rows = store.select(
        sparql_prologue()
        + """
        SELECT ?speaker ?date ?exact ?doc WHERE {
          ?pre a sg:Precondition ; sg:dependent id:MeaningfulDialogueOnCooperation ;
               sg:requirement id:USRenouncesThirdSite ; sg:holder id:Russia ; sg:speaker ?speaker ;
               sg:date ?date ; sg:source ?doc ; sg:evidence/oa:hasTarget/oa:hasSelector/oa:exact ?exact .
        }"""
    )
    assert len(rows) == 1
    row = rows[0]
    assert row["speaker"].value == ID + "AndreyNesterenko"
    assert row["date"].value == "2009-06-11"
    assert row["doc"].value == DOC_2009
    assert row["exact"].value.startswith("A meaningful dialogue on cooperation")
    assert "can only start after the US renounces its plans" in row["exact"].value


def test_third_site_and_tpa_are_one_resource_used_by_both_documents(store):
    for doc_id in ("000_dcc2f28bf5a60eb8", "003_cf8b46a4843bbcf9"):
        assert ask(store, f"GRAPH <{ID}graph/{doc_id}> {{ ?s sg:target id:ThirdSite ; sg:polarity pol:rejects }}")
    labels = {r["l"].value for r in store.select(sparql_prologue() + "SELECT ?l { id:ThirdSite skos:altLabel ?l }")}
    assert "third position area (TPA)" in labels


def test_typographic_characters_survive_in_quotes(store):
    assert ask(store, 'FILTER EXISTS { ?s oa:exact "RT’s political analyst Peter Lavelle" }')
    assert ask(store, '?s oa:exact ?e FILTER(CONTAINS(?e, "“partnership”"))')


def test_attribution_distinguishes_quote_paraphrase_and_commentary(store):
    def voices(exact_start: str) -> tuple[str, str]:
        (row,) = store.select(
            sparql_prologue()
            + f"""SELECT ?voice ?who WHERE {{ ?q sg:voice ?voice ; sg:utteredBy ?who ;
                 oa:hasTarget/oa:hasSelector/oa:exact ?e FILTER(STRSTARTS(?e, "{exact_start}")) }}"""
        )
        return row["voice"].value.rsplit("/", 1)[1], row["who"].value.rsplit("/", 1)[1]

    assert voices("A meaningful dialogue") == ("direct-quotation", "AndreyNesterenko")
    assert voices("Nesterenko said that only") == ("indirect-speech", "RT")
    assert voices("Mr. Gates is, as they say") == ("direct-quotation", "PeterLavelle")


def test_documents_metadata_lives_in_the_default_graph_with_full_text(store):
    rows = store.select(
        sparql_prologue()
        + "SELECT ?doc ?date ?text { ?doc a sg:SourceDocument ; dcterms:date ?date ; sg:fullText ?text }",
        union_default_graph=False,
    )
    assert {(r["doc"].value, r["date"].value) for r in rows} == {(DOC_2009, "2009-06-11"), (DOC_2007, "2007-10-31")}
    assert all(len(r["text"].value) > 2000 for r in rows)


def test_each_document_graph_holds_its_own_statements(store):
    rows = store.select(
        sparql_prologue() + "SELECT ?g (COUNT(?s) AS ?n) { GRAPH ?g { ?s sg:source ?doc } ?d sg:graph ?g . "
        "FILTER(?d != ?doc) } GROUP BY ?g"
    )
    assert rows == [], "a statement in one document's graph names another document as its source"


def test_links_use_only_confirmed_identifiers(store):
    rows = store.select(sparql_prologue() + "SELECT ?s ?o { ?s skos:exactMatch ?o }")
    links: dict[str, set[str]] = {}
    for row in rows:
        links.setdefault(row["s"].value.removeprefix(ID), set()).add(row["o"].value)
    assert links == CONFIRMED_LINKS


def test_every_term_of_the_ontology_has_label_and_comment(store):
    rows = store.select(
        sparql_prologue()
        + """SELECT ?term WHERE { GRAPH <https://stancegraph.org/id/graph/ontology> {
               ?term a ?kind FILTER(?kind IN (owl:Class, owl:ObjectProperty, owl:DatatypeProperty))
               FILTER(STRSTARTS(STR(?term), STR(sg:)))
               FILTER NOT EXISTS { ?term rdfs:label ?l ; rdfs:comment ?c } } }"""
    )
    assert [r["term"].value for r in rows] == []


def test_statistics_count_what_each_document_encodes(settings):
    rows = {r["document"]: r for r in document_statistics(Corpus(settings))}
    assert rows[DOC_2009]["stances"] == 15 and rows[DOC_2009]["preconditions"] == 2
    assert rows[DOC_2007]["stances"] == 14 and rows[DOC_2007]["preconditions"] == 4
    assert rows[DOC_2009]["quotes"] == 22 and rows[DOC_2007]["quotes"] == 22
    assert rows[DOC_2007]["events"] == 2 and rows[DOC_2009]["events"] == 1
    assert rows[DOC_2007]["actors"] == 13 and rows[DOC_2009]["actors"] == 11  # of subclasses of sg:Actor too
    assert rows[DOC_2007]["proposals"] == 8 and rows[DOC_2009]["proposals"] == 3


def test_serve_says_what_it_loads_while_it_loads(tmp_path):
    """At millions of triples a load takes minutes: the log says so from its first second, not only once serving."""
    settings = {"validate_on_load": "true", "data_dir": PROJECT_ROOT / "data", "cache_dir": tmp_path}  # no verdicts
    with stancegraph_process(**settings) as (_, process):
        pass
    log = process.stderr.read()
    loading, shapes = log.index("loading "), log.index("checking the SHACL shapes")
    loaded = re.search(r"loaded ([\d,]+) quads from (\d+) files in [\d.]+ s", log)
    assert loaded and loading < shapes < loaded.start() < log.index("Application startup complete")
    assert int(loaded[1].replace(",", "")) > 1000 and int(loaded[2]) > 5
    warnings = [p for p in check(Corpus(Settings()))[1] if not p.is_error]
    assert warnings and all(str(w) in log for w in warnings), "the data's warnings are in the log, with file and line"
