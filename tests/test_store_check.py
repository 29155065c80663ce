"""`stancegraph compare-store`: every named query and view on the embedded store and on another, compared."""

from typer.testing import CliRunner

from app.cli import cli
from app.named_queries import load_named_queries
from app.settings import Settings
from app.store import open_store
from app.store_check import compare_stores
from tests.conftest import replace_in
from tests.live import oxigraph_server

runner = CliRunner()


def test_oxigraph_server_answers_every_question_like_the_embedded_store():
    with oxigraph_server(union_default_graph=True) as remote:
        spec = f"sparql:{remote}/query,{remote}/update,{remote}/store"
        result = runner.invoke(cli, ["compare-store", spec], env={"STANCEGRAPH_VALIDATE_ON_LOAD": "false"})
    assert result.exit_code == 0, result.output
    queries = len(load_named_queries(Settings().queries_dir)[0])
    assert f"{queries + 4} of {queries + 4} answers agree" in result.output
    assert "view preconditions" in result.output and "different" not in result.output


def test_a_store_that_answers_otherwise_is_named_with_the_rows_that_differ(data_copy):
    """A store holding other data stands in for an engine that evaluates differently."""
    encoding = data_copy.data_dir / "encodings" / "000_dcc2f28bf5a60eb8.ttl"
    replace_in(
        encoding,
        "sg:holder id:Russia ; sg:polarity pol:rejects ; sg:target id:DeployUSAMDElementsInRussia",
        "sg:holder id:Russia ; sg:polarity pol:supports ; sg:target id:DeployUSAMDElementsInRussia",
    )
    reference = open_store(Settings(validate_on_load=False))
    candidate = open_store(Settings(data_dir=data_copy.data_dir, validate_on_load=False))
    queries = load_named_queries(Settings().queries_dir)[0]
    verdicts = {c.question: c for c in compare_stores(reference, candidate, queries, limit=1000)}
    conflicts = verdicts["named query conflicts"]
    assert conflicts.verdict == "different"
    assert "only here" in conflicts.detail and "DeployUSAMDElementsInRussia" in conflicts.detail
    assert verdicts["view stances"].verdict == "different"
    assert verdicts["named query external-facts"].verdict == "same"
    assert verdicts["named query stances-of-actor"].verdict == "different"  # run with its example, id:Russia


def test_a_query_that_answers_anew_at_each_evaluation_is_skipped_saying_why(tmp_path):
    """Two evaluations of NOW() or STRUUID() differ on any store: comparing them would blame the store."""
    (tmp_path / "asked-at.rq").write_text(
        "#+ summary: when this was asked\nSELECT (NOW() AS ?asked) (STRUUID() AS ?id) {}\n", encoding="utf-8"
    )
    store = open_store(Settings(validate_on_load=False))
    verdicts = {c.question: c for c in compare_stores(store, store, load_named_queries(tmp_path)[0], limit=10)}
    verdict = verdicts["named query asked-at"]
    assert verdict.verdict == "skipped" and "every evaluation answers anew" in verdict.detail
