"""`stancegraph import` and `export`: external extracts in their own graphs that survive reloads; full exports."""

import io
import json

import httpx
import pyoxigraph as ox
import pytest
import rdflib
from typer.testing import CliRunner

from app.cli import cli
from app.named_queries import answer, json_rows, load_named_queries
from app.namespaces import ID, sparql_prologue
from app.settings import PROJECT_ROOT, Settings
from app.store import open_store
from tests.conftest import quad_count
from tests.live import oxigraph_server, stancegraph_server

EXTRACT = PROJECT_ROOT / "examples" / "wikidata-extract.ttl"
WIKIDATA_GRAPH = ID + "graph/import/wikidata"
runner = CliRunner()


def run(*args: str):
    result = runner.invoke(cli, list(args))
    return result.exit_code, result.output


def external_facts(settings: Settings, actor: str) -> list[dict]:
    queries = {q.name: q for q in load_named_queries(settings.queries_dir)[0]}
    return json_rows(answer(open_store(settings), queries["external-facts"], {"actor": actor}, 100, 0))


def test_an_import_enriches_our_actors_and_survives_reloads_until_removed(data_copy):
    data = str(data_copy.data_dir)
    code, output = run("import", str(EXTRACT), "--graph", "id:graph/import/wikidata", "--data-dir", data)
    assert code == 0, output
    assert "imported 46 triples into https://stancegraph.org/id/graph/import/wikidata" in output
    rows = external_facts(data_copy, "id:Poland")
    wikidata = [r for r in rows if r["external"]["iri"].startswith("http://www.wikidata.org/")]
    assert wikidata[0]["isoCode"] == "PL" and wikidata[0]["memberOf"] == "European Union, NATO"

    store = open_store(data_copy)  # a fresh load from the files: the import is part of the corpus now
    provenance = store.select(
        sparql_prologue() + f"SELECT ?n ?source WHERE {{ <{WIKIDATA_GRAPH}> a sg:ImportedGraph ; "
        "<http://rdfs.org/ns/void#triples> ?n ; dcterms:source ?source }"
    )
    assert [(int(r["n"].value), r["source"].value) for r in provenance] == [(46, "wikidata-extract.ttl")]
    assert store.has_graph(WIKIDATA_GRAPH)

    code, output = run("import", "--remove", "id:graph/import/wikidata", "--data-dir", data)
    assert code == 0 and "removed" in output
    assert not open_store(data_copy).has_graph(WIKIDATA_GRAPH)
    assert not list((data_copy.data_dir / "imports").iterdir())


def test_imports_are_not_validated_as_our_own_data(data_copy):
    """An extract says things our shapes would reject (a wd: item typed sg:Proposal without a proposer)."""
    extract = data_copy.data_dir.parent / "odd.nt"
    extract.write_text(
        "<http://www.wikidata.org/entity/Q1> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> "
        "<https://stancegraph.org/ontology#Stance> .\n"
    )
    assert run("import", str(extract), "--data-dir", str(data_copy.data_dir))[0] == 0
    code, output = run("validate", "--data-dir", str(data_copy.data_dir))
    assert code == 0, output


@pytest.mark.parametrize(
    ("content", "suffix", "graph", "message"),
    [
        ("<http://a> <http://b> .\n", ".nt", None, "odd.nt:1:23: does not parse as N-Triples: The object"),
        ("<http://a> <http://b> <http://c> .\n", ".nt", "id:graph/entities", "one of the project's own graphs"),
        ("<http://a> <http://b> <http://c> .\n", ".docx", None, "cannot tell the RDF format"),
        ('{"@context": "https://schema.org/"}', ".jsonld", None, "odd.jsonld: does not parse as JSON-LD: its @context"),
    ],
)
def test_bad_imports_are_refused_and_write_nothing(data_copy, content, suffix, graph, message):
    extract = data_copy.data_dir.parent / f"odd{suffix}"
    extract.write_text(content)
    args = ["import", str(extract), "--data-dir", str(data_copy.data_dir)] + (["--graph", graph] if graph else [])
    code, output = run(*args)
    assert code == 1 and message in output.replace("\n", "")
    imports = data_copy.data_dir / "imports"
    assert not imports.exists() or not list(imports.iterdir())


def test_json_ld_and_n_quads_extracts_land_in_one_graph(data_copy, tmp_path):
    quads = tmp_path / "extract.nq"
    quads.write_text(
        '<http://www.wikidata.org/entity/Q36> <http://www.w3.org/2000/01/rdf-schema#label> "Polska"@pl <http://g1> .\n'
        '<http://www.wikidata.org/entity/Q36> <http://www.wikidata.org/prop/direct/P297> "PL" .\n'
    )
    jsonld = tmp_path / "extract.jsonld"
    jsonld.write_text(json.dumps({"@id": "http://www.wikidata.org/entity/Q213", "http://schema.org/name": "Czechia"}))
    for path, graph in ((quads, "http://example.org/q"), (jsonld, "http://example.org/j")):
        code, output = run("import", str(path), "--graph", graph, "--data-dir", str(data_copy.data_dir))
        assert code == 0, output
    store = open_store(data_copy)
    counts = {
        row["g"].value: int(row["n"].value)
        for row in store.select(
            "SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g", union_default_graph=False
        )
    }
    assert counts["http://example.org/q"] == 2 and counts["http://example.org/j"] == 1
    assert "http://g1" not in counts


def test_exports_round_trip_every_quad(store, tmp_path):
    for format in ("trig", "nquads"):
        target = tmp_path / f"all.{format}"
        code, output = run("export", "--format", format, "--output", str(target))
        assert code == 0, output
        parsed = list(ox.parse(path=target, format=ox.RdfFormat.TRIG if format == "trig" else ox.RdfFormat.N_QUADS))
        assert len(parsed) == quad_count(store)


def test_json_ld_export_of_one_graph_is_compact_and_complete(tmp_path):
    target = tmp_path / "links.jsonld"
    code, output = run("export", "--format", "jsonld", "--graph", "id:graph/links", "-o", str(target))
    assert code == 0, output
    document = json.loads(target.read_text())
    assert document["@context"]["exactMatch"] == {"@id": "skos:exactMatch", "@type": "@id"}
    graph = rdflib.Graph().parse(data=target.read_text(), format="json-ld")
    assert len(graph) == 14


def test_an_export_that_fails_midway_leaves_the_earlier_file_as_it_was(data_copy, tmp_path):
    """JSON-LD cannot hold an IRI that reads as one of the context's terms: the export stops partway, and the
    file it was to replace kept the cut-off text (52 KB of invalid JSON for data/)."""
    odd = tmp_path / "odd.nt"
    odd.write_text('<sg:x> <http://example.org/p> "a" .\n')
    assert run("import", str(odd), "--graph", "http://example.org/odd", "--data-dir", str(data_copy.data_dir))[0] == 0
    exports = tmp_path / "exports"
    exports.mkdir()
    earlier = exports / "stancegraph.jsonld"
    earlier.write_text('{"an": "earlier export"}')
    code, output = run("export", "--format", "jsonld", "-o", str(earlier), "--data-dir", str(data_copy.data_dir))
    assert code == 2 and "<sg:x> cannot be written in JSON-LD" in output
    assert earlier.read_text() == '{"an": "earlier export"}' and list(exports.iterdir()) == [earlier]
    assert run("export", "--format", "trig", "-o", str(earlier), "--data-dir", str(data_copy.data_dir))[0] == 0
    assert len(list(ox.parse(path=earlier, format=ox.RdfFormat.TRIG))) > 2_000


def test_single_graph_formats_need_a_graph(tmp_path):
    code, output = run("export", "--format", "ttl")
    assert code == 2 and "Turtle holds one graph" in output
    code, output = run("export", "--format", "ttl", "--graph", "id:graph/nothing")
    assert code == 1 and "no graph" in output


def test_export_into_a_missing_directory_says_so_before_loading(tmp_path):
    code, output = run("export", "--format", "nquads", "-o", str(tmp_path / "missing" / "all.nq"))
    assert code == 2 and f"no directory {tmp_path / 'missing'}" in output


def test_export_into_a_directory_that_refuses_the_file_says_why():
    """/proc exists but takes no new file: that was a FileNotFoundError traceback."""
    code, output = run("export", "--format", "nquads", "-o", "/proc/stancegraph.nq")
    assert code == 1 and "cannot write /proc/stancegraph.nq: No such file or directory" in output


def test_a_federated_query_joins_our_stances_with_an_allow_listed_wikidata_extract():
    """Who rejects what, with the rejecter's NATO membership from a Wikidata-shaped server (no internet)."""
    with oxigraph_server() as wikidata:
        extract = EXTRACT.read_bytes()
        loaded = httpx.post(f"{wikidata}/store?default", content=extract, headers={"content-type": "text/turtle"})
        assert loaded.status_code in (200, 201, 204)
        with stancegraph_server(federation_allow=f'["{wikidata}/query"]') as base:
            query = (
                sparql_prologue()
                + f"""
                PREFIX wdt: <http://www.wikidata.org/prop/direct/>
                SELECT DISTINCT ?actor ?code ?alliance WHERE {{
                  ?stance sg:holder ?actor ; sg:polarity pol:proposes .
                  ?actor skos:exactMatch ?item FILTER STRSTARTS(STR(?item), STR(wd:))
                  SERVICE <{wikidata}/query> {{
                    ?item wdt:P297 ?code . OPTIONAL {{ ?item wdt:P463 ?org . ?org rdfs:label ?alliance }}
                  }}
                }} ORDER BY ?actor ?alliance"""
            )
            response = httpx.get(f"{base}/sparql", params={"query": query}, headers={"accept": "text/csv"}, timeout=30)
    assert response.status_code == 200, response.text
    rows = list(csvrows(response.text))
    assert ("https://stancegraph.org/id/UnitedStates", "US", "NATO") in rows
    assert all(actor != ID + "Iran" for actor, _, _ in rows)  # Iran proposes nothing in the texts


def csvrows(text: str):
    import csv

    reader = csv.reader(io.StringIO(text))
    next(reader)
    for row in reader:
        yield tuple(row)
