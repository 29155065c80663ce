"""The validator catches what encoders get wrong, names the file and line, and the last good graph survives."""

import gc
import http.server
import shutil
import weakref

import httpx
import pytest
from typer.testing import CliRunner

from app import shape_documents
from app.cli import cli
from app.corpus import Corpus
from app.embedded_store import EmbeddedStore
from app.loader import check
from app.namespaces import DERIVED_GRAPH, ID, SG
from app.problems import DataError
from tests.conftest import replace_in
from tests.live import app_server, handler_server

ENCODING_2009 = "encodings/000_dcc2f28bf5a60eb8.ttl"


def errors(corpus: Corpus) -> list[str]:
    _, problems = check(corpus)
    return [str(p) for p in problems if p.is_error]


def test_quote_not_in_the_text(corpus_copy):
    path = corpus_copy.settings.data_dir / ENCODING_2009
    replace_in(
        path,
        'oa:exact "Nobody does things to his own detriment."',
        'oa:exact "Nobody does anything to his own detriment."',
    )
    found = errors(corpus_copy)
    assert any(
        e.startswith("data/encodings/000_dcc2f28bf5a60eb8.ttl:") and "quote-10: quote is not in the text" in e
        for e in found
    ), found


def test_wrong_offsets(corpus_copy):
    path = corpus_copy.settings.data_dir / ENCODING_2009
    replace_in(path, "oa:start 0 ; oa:end 82", "oa:start 1 ; oa:end 83")
    found = errors(corpus_copy)
    assert any("quote-01: offsets 1-83 select" in e and "(it stands at 0-82)" in e for e in found), found


def test_stance_without_holder(corpus_copy):
    path = corpus_copy.settings.data_dir / ENCODING_2009
    replace_in(path, "sg:holder id:Russia ; sg:polarity pol:expects", "sg:polarity pol:expects")
    found = errors(corpus_copy)
    assert any("stance-11> holder: a statement needs exactly one holder" in e for e in found), found
    line = next(e for e in found if "stance-11>" in e).split(":")[1]
    assert (
        (corpus_copy.settings.data_dir / ENCODING_2009)
        .read_text()
        .splitlines()[int(line) - 1]
        .startswith("d:stance-11 a sg:Stance")
    )


def test_stance_without_source(corpus_copy):
    path = corpus_copy.settings.data_dir / ENCODING_2009
    replace_in(
        path,
        'sg:date "2009-06-11"^^xsd:date ; sg:source doc:000_dcc2f28bf5a60eb8 ; sg:evidence d:quote-11 .',
        'sg:date "2009-06-11"^^xsd:date ; sg:evidence d:quote-11 .',
    )
    assert any("stance-11> source: a statement needs exactly one source document" in e for e in errors(corpus_copy))


def test_conditional_stance_without_its_precondition(corpus_copy):
    path = corpus_copy.settings.data_dir / ENCODING_2009
    replace_in(
        path,
        "sg:target id:MeaningfulDialogueOnCooperation ;\n    sg:condition d:precondition-01 ;",
        "sg:target id:MeaningfulDialogueOnCooperation ;",
    )
    found = errors(corpus_copy)
    assert any(
        "stance-05>: a conditional stance must name its precondition" in e and e.startswith(f"data/{ENCODING_2009}:")
        for e in found
    ), found
    assert not any("stance-06>" in e for e in found)  # its sibling still names its precondition


def test_quote_target_checked_through_to_its_selectors(corpus_copy):
    path = corpus_copy.settings.data_dir / ENCODING_2009
    first_target = "oa:hasTarget [ oa:hasSource doc:000_dcc2f28bf5a60eb8 ;\n        oa:hasSelector"
    text = path.read_text()
    at = text.index(first_target, text.index("d:quote-01 a oa:Annotation"))
    path.write_text(text[:at] + "oa:hasTarget [\n        oa:hasSelector" + text[at + len(first_target) :])
    replace_in(
        path,
        "[ a oa:TextPositionSelector ; oa:start 0 ; oa:end 82 ]",
        "[ a oa:TextPositionSelector ; oa:start -1 ; oa:end 82 ]",
    )
    found = [e for e in errors(corpus_copy) if "quote-01>" in e]
    assert any("needs one oa:hasSource" in e for e in found), found
    assert any("a quote needs exactly one oa:start" in e for e in found), found  # -1 is not a valid offset
    assert all(e.startswith(f"data/{ENCODING_2009}:224:") for e in found), found  # reported at the quote itself


def test_malformed_wikidata_iri(corpus_copy):
    replace_in(corpus_copy.settings.data_dir / "links/wikidata.ttl", "wd:Q159", "<https://www.wikidata.org/wiki/Q159>")
    found = errors(corpus_copy)
    assert any(
        e.startswith("data/links/wikidata.ttl:") and "malformed external link https://www.wikidata.org/wiki/Q159" in e
        for e in found
    ), found


def test_turtle_syntax_error_names_file_and_line(corpus_copy):
    path = corpus_copy.settings.data_dir / ENCODING_2009
    replace_in(path, "d:stance-03 a sg:Stance ;", "d:stance-03 a sg:Stance ;;; [")
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if text.startswith("d:stance-03"))
    found = errors(corpus_copy)
    assert len(found) == 1
    assert found[0].startswith(f"data/encodings/000_dcc2f28bf5a60eb8.ttl:{line}"), found
    assert "Turtle syntax error" in found[0]


def test_changed_source_text_is_refused(corpus_copy):
    text = corpus_copy.settings.data_dir / "sources/003_cf8b46a4843bbcf9.txt"
    text.write_text(text.read_text().replace("Calendar", "Calendar!"), encoding="utf-8")
    assert any("003_cf8b46a4843bbcf9.txt has changed" in e for e in errors(corpus_copy))


def test_last_good_graph_keeps_serving_after_a_broken_reload(data_copy):
    store = EmbeddedStore(data_copy)
    store.reload()
    version = store.data_version
    path = data_copy.data_dir / ENCODING_2009
    replace_in(path, "d:stance-03 a sg:Stance ;", "d:stance-03 a sg:Stance ;;; [")
    with pytest.raises(DataError) as raised:
        store.reload()
    assert "000_dcc2f28bf5a60eb8.ttl" in str(raised.value)
    assert store.data_version == version
    assert store.ask("ASK { <https://stancegraph.org/id/Russia> ?p ?o }")


def test_the_version_follows_the_files(data_copy):
    """The same files give the same version (ETags survive restarts); a changed file gives a new one."""
    store = EmbeddedStore(data_copy)
    store.reload()
    first = store.data_version
    store.reload()
    assert store.data_version == first
    replace_in(data_copy.data_dir / ENCODING_2009, "d:stance-03 a sg:Stance ;", "d:stance-03 a sg:Stance ; # edited\n")
    store.reload()
    assert store.data_version != first


def test_cli_validate_exit_codes(data_copy):
    runner = CliRunner()
    ok = runner.invoke(cli, ["validate", "--data-dir", str(data_copy.data_dir)])
    assert ok.exit_code == 0, ok.output
    replace_in(data_copy.data_dir / ENCODING_2009, "oa:start 0 ; oa:end 82", "oa:start 5 ; oa:end 82")
    bad = runner.invoke(cli, ["validate", "--data-dir", str(data_copy.data_dir)])
    assert bad.exit_code == 1
    assert "000_dcc2f28bf5a60eb8.ttl:" in bad.output and "offsets 5-82" in bad.output


def test_a_mistyped_data_directory_is_an_error_not_an_empty_valid_corpus(tmp_path):
    """`validate --data-dir dta` said "valid: 2 files" (the ontology alone), and `serve` served it."""
    runner = CliRunner()
    missing = runner.invoke(cli, ["validate", "--data-dir", str(tmp_path / "dta")])
    assert missing.exit_code == 1 and f"{tmp_path / 'dta'}: error: no data directory here" in missing.output
    stats = runner.invoke(cli, ["stats", "--data-dir", str(tmp_path / "dta")])
    assert stats.exit_code == 1 and "no data directory here" in stats.output
    empty = runner.invoke(cli, ["validate", "--data-dir", str(tmp_path)])
    assert empty.exit_code == 0 and "warning: no sources/ folder: the corpus has no documents" in empty.output


def test_broken_rules_are_refused_with_file_and_position_while_the_others_still_derive(data_copy, tmp_path):
    queries = tmp_path / "queries"
    shutil.copytree(data_copy.queries_dir, queries)
    broken = "PREFIX sg: <https://stancegraph.org/ontology#>\n\nCONSTRUCT { ?s ?p }\n"  # error on line 3
    (queries / "rules" / "70-broken.rq").write_text(broken)
    (queries / "rules" / "80-select.rq").write_text("SELECT * WHERE { ?s ?p ?o }\n")
    store, problems = check(Corpus(data_copy.model_copy(update={"queries_dir": queries})))
    found = sorted(str(p) for p in problems if p.is_error)
    assert len(found) == 2, found
    assert found[0].startswith("queries/rules/70-broken.rq:3:") and "rule does not parse" in found[0]
    assert found[1] == "queries/rules/80-select.rq: error: a rule must be a CONSTRUCT query"
    derived = f"<{DERIVED_GRAPH}>"
    assert store.query(f"ASK {{ GRAPH {derived} {{ <{ID}Russia> <{SG}rejects> <{ID}ThirdSite> }} }}")


def test_rules_read_the_hand_made_graphs_not_each_others_output(data_copy, tmp_path):
    """Rules are independent: a rule over sg:rejects (which 10-direct-stances derives) sees none of it,
    even when it runs after it in file-name order."""
    queries = tmp_path / "queries"
    shutil.copytree(data_copy.queries_dir, queries)
    (queries / "rules" / "90-echo.rq").write_text(
        f"CONSTRUCT {{ ?holder <{SG}echoes> ?target }} WHERE {{ ?holder <{SG}rejects> ?target }}\n"
    )
    store, problems = check(Corpus(data_copy.model_copy(update={"queries_dir": queries})))
    assert not [p for p in problems if p.is_error]
    derived = f"<{DERIVED_GRAPH}>"
    assert store.query(f"ASK {{ GRAPH {derived} {{ <{ID}Russia> <{SG}rejects> <{ID}ThirdSite> }} }}")
    assert not store.query(f"ASK {{ ?s <{SG}echoes> ?o }}", use_default_graph_as_union=True)
    # after a write the rules run with the derived graph present, where it would echo: validate says so
    result = CliRunner().invoke(
        cli,
        ["validate", "--no-shacl", "--data-dir", str(data_copy.data_dir)],
        env={"STANCEGRAPH_QUERIES_DIR": str(queries)},
    )
    assert result.exit_code == 1 and "90-echo.rq: error: the rule reads what the rules derive" in result.output
    shipped = CliRunner().invoke(cli, ["validate", "--no-shacl", "--data-dir", str(data_copy.data_dir)])
    assert shipped.exit_code == 0, shipped.output


def test_a_rule_that_names_its_graphs_with_from_reads_only_those(data_copy, tmp_path):
    """The engine ignored FROM when the union of the graphs was the default graph: such a rule read them all."""
    queries = tmp_path / "queries"
    shutil.copytree(data_copy.queries_dir, queries)
    (queries / "rules" / "90-stated-in-2009.rq").write_text(
        f"CONSTRUCT {{ ?holder <{SG}statedIn2009> ?target }} FROM <{ID}graph/000_dcc2f28bf5a60eb8>\n"
        f"WHERE {{ ?stance <{SG}holder> ?holder ; <{SG}target> ?target }}\n"
    )
    store, problems = check(Corpus(data_copy.model_copy(update={"queries_dir": queries})))
    assert not [p for p in problems if p.is_error]
    stated = store.query(f"SELECT ?s ?o {{ GRAPH <{DERIVED_GRAPH}> {{ ?s <{SG}statedIn2009> ?o }} }}")
    derived = {(str(row["s"]), str(row["o"])) for row in stated}
    in_2009 = f"GRAPH <{ID}graph/000_dcc2f28bf5a60eb8> {{ ?s <{SG}holder> ?h ; <{SG}target> ?t }}"
    from_2009 = store.query(f"SELECT DISTINCT ?h ?t WHERE {{ {in_2009} }}")
    assert derived == {(str(row["h"]), str(row["t"])) for row in from_2009} and len(derived) >= 10


@pytest.mark.parametrize("verdicts_kept", [False, True], ids=["every document checked", "one document edited"])
def test_a_check_keeps_nothing_of_its_caller_alive(data_copy, tmp_path, verdicts_kept):
    """rdflib's SPARQL parser, under pyshacl and under the split of the shapes by document, leaves frames in
    reference cycles, and a frame holds its caller's: a load kept its callers' locals (a query result, whose
    pyoxigraph iterator must be freed on the thread that made it) until a garbage collection, run by whichever
    thread came next."""

    class Result:
        """Stands for what a caller holds while it loads (pyoxigraph's results cannot be weakly referenced)."""

    settings = data_copy.model_copy(update={"cache_dir": tmp_path / "cache" if verdicts_kept else None})
    if verdicts_kept:  # the next load reads the shapes to split them, and runs them on no document
        check(Corpus(settings))
        with next((settings.data_dir / "encodings").glob("*.ttl")).open("a", encoding="utf-8") as encoding:
            encoding.write("# an edit that changes no triple\n")

    def caller() -> weakref.ref:
        held = Result()
        store, problems = check(Corpus(settings))
        assert store and not [p for p in problems if p.is_error]
        return weakref.ref(held)

    gc.disable()  # a collection during the load could free the cycles by chance
    try:
        assert caller()() is None
    finally:
        gc.enable()


def test_a_rule_that_makes_blank_nodes_is_not_taken_for_one_reading_the_derived_graph(data_copy, tmp_path):
    """A blank node in a rule's template is a new node at every evaluation: compared node by node, the rule's
    triples always differed with and without the derived graph, and validate refused a correct rule."""
    queries = tmp_path / "queries"
    shutil.copytree(data_copy.queries_dir, queries)
    (queries / "rules" / "90-notes.rq").write_text(
        f"CONSTRUCT {{ ?stance <{SG}note> [ <{SG}noteOn> ?target ] }} WHERE {{ ?stance <{SG}target> ?target }}\n"
    )
    result = CliRunner().invoke(
        cli,
        ["validate", "--no-shacl", "--data-dir", str(data_copy.data_dir)],
        env={"STANCEGRAPH_QUERIES_DIR": str(queries)},
    )
    assert result.exit_code == 0 and "90-notes.rq" not in result.output, result.output


@pytest.fixture
def own_shapes(data_copy, tmp_path):
    """Settings over a copy of data/ and of ontology/, whose shapes a test may break."""
    shutil.copytree(data_copy.ontology_dir, tmp_path / "ontology")
    return data_copy.model_copy(update={"ontology_dir": tmp_path / "ontology"})


def test_shapes_that_do_not_parse_are_refused_with_file_and_line(own_shapes):
    store = EmbeddedStore(own_shapes)
    store.reload()
    version = store.data_version
    shapes = own_shapes.shapes_file
    line = len(shapes.read_text().splitlines()) + 1
    shapes.write_text(shapes.read_text() + "ex:S sh:minCount 1 .\n")  # ex: is not declared
    with pytest.raises(DataError) as raised:
        store.reload()
    assert str(raised.value).startswith(f"ontology/shapes.ttl:{line}:1: error: "), str(raised.value)
    assert "Turtle syntax error" in str(raised.value)
    assert store.data_version == version and store.ask("ASK { <https://stancegraph.org/id/Russia> ?p ?o }")
    env = {"STANCEGRAPH_ONTOLOGY_DIR": str(own_shapes.ontology_dir)}
    shown = CliRunner().invoke(cli, ["validate", "--data-dir", str(own_shapes.data_dir)], env=env)
    assert shown.exit_code == 1 and f"shapes.ttl:{line}:" in shown.output, shown.output


@pytest.mark.parametrize("where", ["here", "in batch workers"])
@pytest.mark.parametrize(
    ("constraint", "reason"),
    [
        (
            'sh:property [ sh:path sg:holder ; sh:minCount "one" ]',
            "sh:minCount must be a literal with datatype xsd:integer",
        ),
        ('sh:sparql [ sh:select "SELECT $this WHERE { oops" ]', "a SPARQL constraint does not parse"),
    ],
    ids=["constraint", "sparql"],
)
def test_shapes_pyshacl_cannot_use_are_an_error_of_the_shapes_file(own_shapes, monkeypatch, where, constraint, reason):
    """Valid Turtle that pyshacl refuses (document by document, on worker processes, or over the whole corpus
    for the SPARQL shape) is one error naming the shapes file, not a traceback."""
    if where == "in batch workers":
        monkeypatch.setattr(shape_documents, "MIN_BATCH", 100)
    shapes = own_shapes.shapes_file
    shapes.write_text(shapes.read_text() + f"\nsg:Broken a sh:NodeShape ; sh:targetClass sg:Stance ; {constraint} .\n")
    found = errors(Corpus(own_shapes))
    assert len(found) == 1 and found[0].startswith("ontology/shapes.ttl: error: pyshacl cannot use these shapes"), found
    assert reason in found[0]


def test_a_batch_worker_that_dies_fails_the_reload_and_the_last_graph_keeps_serving(data_copy, monkeypatch):
    """Not the files' fault: a 500 that says what happened (no traceback, no 'refused'), and nothing changes."""
    from app.server import create_app

    nothing_kept = {"admin_token": "token", "validate_on_load": True, "cache_dir": None}  # every home is validated
    auth = {"authorization": "Bearer token"}
    russia = {"query": "ASK { <https://stancegraph.org/id/Russia> ?p ?o }"}
    with app_server(create_app(data_copy.model_copy(update=nothing_kept))) as base:
        version = httpx.get(f"{base}/health").json()["data_version"]
        monkeypatch.setattr(shape_documents, "MIN_BATCH", 100)  # several batches: worker processes
        monkeypatch.setattr(shape_documents, "BATCH_WORKER", ["sh", "-c", "kill -KILL $$"])
        failed = httpx.post(f"{base}/admin/reload", headers=auth, timeout=60)
        assert failed.status_code == 500, failed.text
        assert failed.json()["status"] == "failed" and failed.json()["data_version"] == version
        assert "SHACL batch worker ended before answering (killed by SIGKILL" in failed.json()["error"]
        assert httpx.get(f"{base}/health").json()["data_version"] == version
        assert httpx.get(f"{base}/sparql", params=russia).json()["boolean"]
        runner = CliRunner()
        shown = runner.invoke(cli, ["reload", "--url", base, "--admin-token", "token"])
        assert shown.exit_code == 1 and "killed by SIGKILL" in shown.output, shown.output
        assert "keeps serving the previous graph" in shown.output
        validate = ["validate", "--data-dir", str(data_copy.data_dir)]
        shown = runner.invoke(cli, validate, env={"STANCEGRAPH_CACHE_DIR": ""})
        assert shown.exit_code == 1 and "validation could not finish" in shown.output, shown.output
        assert "Traceback" not in shown.output
        monkeypatch.undo()
        assert httpx.post(f"{base}/admin/reload", headers=auth, timeout=60).json()["status"] == "reloaded"


class _ProxyError(http.server.BaseHTTPRequestHandler):
    """What a reverse proxy answers when the app behind it is gone: a plain-text 500."""

    def do_POST(self):
        self.send_response(500)
        self.send_header("content-type", "text/plain")
        self.end_headers()
        self.wfile.write(b"upstream went away")

    def log_message(self, *args):
        pass


def test_reload_through_a_proxy_that_fails_prints_its_answer_not_a_traceback():
    with handler_server(_ProxyError) as base:
        shown = CliRunner().invoke(cli, ["reload", "--url", base, "--admin-token", "token"])
    assert shown.exit_code == 1 and "500: upstream went away" in shown.output, shown.output
    assert shown.exception is None or isinstance(shown.exception, SystemExit)
