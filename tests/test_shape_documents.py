"""SHACL document by document finds exactly what pyshacl finds over the whole corpus, also where a node's
triples, or the types of what it points at, are written in other files; and it checks again only the
documents that changed."""

import logging
import re
import shutil
from dataclasses import replace
from pathlib import Path

import pyoxigraph as ox
import pytest
import rdflib
from pyshacl import validate as shacl_validate

from app import shape_documents
from app.corpus import Corpus
from app.loader import attach_texts, check, parse_files
from app.settings import PROJECT_ROOT, Settings
from app.shape_documents import Reach, ShapeResult, document_results, report_results
from app.validation import as_rdflib, own_graphs
from app.verdict_cache import VerdictCache
from bench.generate import generate

DOC = "https://stancegraph.org/id/doc/"
LINKS = """@prefix id: <https://stancegraph.org/id/> .
@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
id:Actor1 skos:exactMatch <http://www.wikidata.org/wiki/Q1> .
id:Actor2 skos:exactMatch <http://www.wikidata.org/entity/Q2> .
"""


def _retarget(path: Path, issue: str) -> None:
    """Point the document's first stance at `issue`."""
    text = path.read_text()
    path.write_text(re.sub(r"(d:stance-0 a sg:Stance ;[^\n]*?sg:target )id:Issue\d+", rf"\1{issue}", text, count=1))


def _append(path: Path, turtle: str) -> None:
    with path.open("a") as out:
        out.write("\n" + turtle + "\n")


@pytest.fixture(scope="module")
def faulty(tmp_path_factory) -> Settings:
    """A generated corpus of 12 documents with faults that only a view across files gets right."""
    root = tmp_path_factory.mktemp("faulty")
    data = generate(root, 12)
    encodings = data / "encodings"
    entities = data / "entities.ttl"
    entities.write_text(entities.read_text().replace('id:Actor3 a sg:State ; rdfs:label "Actor 3"@en .', ""))
    _append(entities, "id:Actor3 a sg:State .")  # a subclass of sg:Actor without a label
    # a second sg:date for document 0's stance, written in document 1's file
    _append(encodings / "000001_synthetic.ttl", f'<{DOC}000000_synthetic/stance-0> sg:date "2001-01-01"^^xsd:date .')
    # an issue typed only in document 2's file, the target of a stance in document 0: valid
    _append(encodings / "000002_synthetic.ttl", 'id:IssueNew a sg:Issue ; rdfs:label "new"@en .')
    _retarget(encodings / "000000_synthetic.ttl", "id:IssueNew")
    _retarget(encodings / "000003_synthetic.ttl", "id:Untyped")  # not an sg:Issue anywhere
    _append(encodings / "000004_synthetic.ttl", "[] a oa:Annotation ; sg:voice voice:direct-quotation .")
    (data / "links" / "wikidata.ttl").write_text(LINKS)  # one page URL where an entity IRI belongs
    return Settings(data_dir=data, cache_dir=root / "verdicts")


def loaded(settings: Settings) -> tuple[ox.Store, Corpus]:
    corpus = Corpus(settings)
    store = ox.Store()
    assert not parse_files(store, corpus)
    attach_texts(store, corpus)
    return store, corpus


def whole_corpus(store: ox.Store, corpus: Corpus) -> set[ShapeResult]:
    shapes = rdflib.Graph().parse(corpus.settings.shapes_file)
    _, report, _ = shacl_validate(as_rdflib(store, corpus), shacl_graph=shapes, inference="none", allow_warnings=True)
    return _blank(report_results(report))


def by_document(store: ox.Store, corpus: Corpus, verdicts: Path) -> set[ShapeResult]:
    results = document_results(store, set(own_graphs(corpus)), corpus.settings.shapes_file, VerdictCache(verdicts))
    assert results is not None, "the project's shapes can be checked document by document"
    return _blank(results)


def _blank(results) -> set[ShapeResult]:
    """Blank nodes are named differently by each parse: one name for all (and the whole corpus at once does not
    know their homes)."""
    return {r if not r.focus.startswith("_:") else replace(r, focus="_:", graph="") for r in results}


def test_document_by_document_finds_what_the_whole_corpus_finds(faulty, tmp_path):
    store, corpus = loaded(faulty)
    found = by_document(store, corpus, tmp_path)
    assert found == whole_corpus(store, corpus)
    about = {(r.focus.rsplit("/", 1)[-1], r.path and r.path.rsplit("#", 1)[-1]) for r in found}
    assert ("Actor3", "label") in about, "a subclass instance is a target"
    assert ("stance-0", "date") in about, "a second date written in another document's file"
    assert any(r.value == "https://stancegraph.org/id/Untyped" for r in found), "sh:class on a value never typed"
    assert not any(r.value == "https://stancegraph.org/id/IssueNew" for r in found), "typed in another file"
    assert any(r.focus == "_:" for r in found), "a quote as a blank node"
    assert any(r.focus.endswith("/Actor1") and "malformed external link" in r.message for r in found)
    assert not any(r.focus.endswith("/Actor2") for r in found)


def test_the_problems_have_file_and_line(faulty, tmp_path, caplog):
    caplog.set_level(logging.INFO, "stancegraph.load")
    shutil.copytree(faulty.data_dir, tmp_path / "data")
    settings = faulty.model_copy(update={"data_dir": tmp_path / "data", "cache_dir": tmp_path / "kept"})
    checked = [str(p) for p in check(Corpus(settings))[1]]
    caplog.clear()
    _append(settings.data_dir / "encodings" / "000005_synthetic.ttl", 'd:stance-0 rdfs:comment "edited" .')
    kept = [str(p) for p in check(Corpus(settings))[1]]
    assert _read_again(caplog.text) == 1, "document 4's verdict is kept"
    for problems in (checked, kept):  # a blank node's label is the load's that checked it, its file is not
        link = r"data/links/wikidata\.ttl:3: error: .*Actor1.*malformed external link"
        assert any(re.match(link, p) for p in problems)
        assert any(p.startswith("data/entities.ttl:") and "Actor3> label" in p for p in problems), problems
        blank = [p for p in problems if p.split(": ", 2)[2].startswith("<_:")]
        assert blank and all(p.startswith("data/encodings/000004_synthetic.ttl: error: <_:") for p in blank), blank


def test_only_changed_documents_are_checked_again(faulty, tmp_path, caplog):
    copy = tmp_path / "data"
    shutil.copytree(faulty.data_dir, copy)
    settings = faulty.model_copy(update={"data_dir": copy})
    document = ("sources/000007_synthetic.ttl", "sources/000007_synthetic.txt", "encodings/000007_synthetic.ttl")
    for part in document:  # held out of the first load
        (tmp_path / "held" / part).parent.mkdir(parents=True, exist_ok=True)
        shutil.move(copy / part, tmp_path / "held" / part)
    caplog.set_level(logging.INFO, "stancegraph.load")
    by_document(*loaded(settings), tmp_path / "verdicts")
    for part in document:
        shutil.move(tmp_path / "held" / part, copy / part)
    caplog.clear()
    store, corpus = loaded(settings)
    again = by_document(store, corpus, tmp_path / "verdicts")
    checked = r"SHACL shapes: 2 of \d+ documents and nodes had changed and were checked"
    assert re.search(checked, caplog.text), caplog.text
    assert again == whole_corpus(store, corpus)


@pytest.mark.parametrize(
    "budget",
    [{"BATCH_TRIPLES": 1_500}, {"BATCH_TEXT": 5_000}, {"MIN_BATCH": 500}],
    ids=["triples", "text", "share of each core"],
)
def test_batches_on_several_cores_find_the_same(faulty, tmp_path, monkeypatch, budget):
    """Batches end at a number of triples, or of characters of literals (full texts are large); a store big
    enough is split so that every core gets batches even below BATCH_TRIPLES."""
    store, corpus = loaded(faulty)
    for name, value in budget.items():
        monkeypatch.setattr(shape_documents, name, value)
    assert len(list(shape_documents._batches(*_all_homes(store, corpus)))) > 2
    assert by_document(store, corpus, tmp_path) == whole_corpus(store, corpus)


def test_batches_give_every_core_work_once_a_worker_pays():
    cores = 2
    assert shape_documents.batch_size(99_150, cores) == 12_393  # 100k: four batches per core
    assert shape_documents.batch_size(2_539, cores) == shape_documents.MIN_BATCH  # two documents: one batch, here
    assert shape_documents.batch_size(10_000_000, cores) == shape_documents.BATCH_TRIPLES  # bounded memory


def _all_homes(store: ox.Store, corpus: Corpus):
    hood = shape_documents.Neighbourhoods(store, set(own_graphs(corpus)), _project_reach())
    return hood, ((home, hood.triples(home)) for home in hood.homes)


def _project_reach() -> Reach:
    return Reach.of(rdflib.Graph().parse(PROJECT_ROOT / "ontology" / "shapes.ttl"))


def test_the_project_shapes_are_read_as_they_are():
    reach = _project_reach()
    assert reach.unsupported is None
    assert "https://stancegraph.org/ontology#Actor" in reach.classes
    assert reach.subjects_of == {"http://www.w3.org/2004/02/skos/core#exactMatch"}
    oa = "http://www.w3.org/ns/oa#"
    assert (oa + "hasTarget", oa + "hasSelector", oa + "exact") in reach.sequences


SHAPES = """@prefix sh: <http://www.w3.org/ns/shacl#> . @prefix ex: <http://example.org/> .
ex:S a sh:NodeShape ; sh:targetClass ex:C ; {constraint} ."""


@pytest.mark.parametrize(
    "constraint",
    [
        "sh:targetNode ex:n",
        "a <http://www.w3.org/2000/01/rdf-schema#Class>",
        "sh:property [ sh:path ex:p ; sh:node ex:T ]",
        "sh:property [ sh:path ex:p ; sh:qualifiedValueShape [ sh:property [ sh:path ex:q ; sh:minCount 1 ] ] ]",
        "sh:property [ sh:path [ sh:inversePath ex:p ] ; sh:minCount 1 ]",
        'sh:sparql [ sh:select "SELECT $this WHERE { ?other ex:p $this }" ]',
        'sh:sparql [ sh:select "SELECT $this WHERE { $this ex:p ?v . ?v ex:q ?w }" ]',
        "sh:property [ sh:path ex:p ; sh:or ( [ sh:equals ex:q ] ) ]",
        "sh:property [ sh:path ex:p ; sh:qualifiedValueShape [ sh:disjoint ex:q ] ; sh:qualifiedMinCount 1 ]",
    ],
)
def test_shapes_that_read_further_are_checked_over_the_whole_corpus(constraint):
    reach = Reach.of(rdflib.Graph().parse(data=SHAPES.format(constraint=constraint), format="turtle"))
    assert reach.unsupported


def test_comparisons_at_the_focus_node_are_checked_document_by_document(faulty, tmp_path):
    """sh:disjoint / sh:equals read the focus node's own triples (of any file): no need for the whole corpus."""
    ontology = tmp_path / "ontology"
    shutil.copytree(PROJECT_ROOT / "ontology", ontology)
    with (ontology / "shapes.ttl").open("a") as shapes:
        shapes.write("\nsg:NotThemselves a sh:NodeShape ; sh:targetClass sg:Stance ;")
        shapes.write(" sh:property [ sh:path sg:holder ; sh:disjoint sg:speaker ] ;")
        shapes.write(" sh:or ( [ sh:disjoint sg:target ] [ sh:equals sg:condition ] ) .\n")
    shutil.copytree(faulty.data_dir, tmp_path / "data")
    settings = faulty.model_copy(update={"ontology_dir": ontology, "data_dir": tmp_path / "data"})
    # stance-0 of document 0 is held by Actor9; document 1's file makes Actor9 its speaker too
    _append(
        settings.data_dir / "encodings" / "000001_synthetic.ttl",
        f"<{DOC}000000_synthetic/stance-0> sg:speaker id:Actor9 .",
    )
    assert Reach.of(rdflib.Graph().parse(settings.shapes_file)).unsupported is None
    store, corpus = loaded(settings)
    found = by_document(store, corpus, tmp_path / "verdicts")
    assert found == whole_corpus(store, corpus)
    disjoint = [
        r for r in found if r.focus.endswith("000000_synthetic/stance-0") and r.path and r.path.endswith("holder")
    ]
    assert disjoint and all(r.value.endswith("/Actor9") for r in disjoint), found


def test_such_shapes_still_find_every_problem(tmp_path):
    ontology = tmp_path / "ontology"
    shutil.copytree(PROJECT_ROOT / "ontology", ontology)
    with (ontology / "shapes.ttl").open("a") as shapes:
        shapes.write("\nsg:NamedRussia a sh:NodeShape ; sh:targetNode id:Russia ; sh:property [ sh:path sg:nickname ;")
        shapes.write(' sh:minCount 1 ; sh:message "Russia needs a nickname" ] .\n')
    problems = [str(p) for p in check(Corpus(Settings(ontology_dir=ontology, cache_dir=tmp_path / "v")))[1]]
    assert any("Russia needs a nickname" in p for p in problems), problems


def _problems(settings: Settings) -> list[str]:
    """The problems of a check, blank nodes named alike (each parse names them anew)."""
    return sorted(re.sub(r"<_:\w+>", "<_:>", str(p)) for p in check(Corpus(settings))[1])


def _read_again(log: str) -> int:
    """How many homes the first check logged since the log was cleared read again."""
    return int(re.findall(r"\((\d+) read, the others untouched", log)[0])


def test_homes_no_changed_file_touches_are_not_even_read(faulty, tmp_path, caplog):
    """After each edit the problems equal those of a check from scratch; only homes that read a subject of a
    changed file (before or after the change) are read again."""
    shutil.copytree(faulty.data_dir, tmp_path / "data")
    settings = faulty.model_copy(update={"data_dir": tmp_path / "data", "cache_dir": tmp_path / "kept"})
    encodings = settings.data_dir / "encodings"
    caplog.set_level(logging.INFO, "stancegraph.load")

    def same_as_from_scratch() -> list[str]:
        found = _problems(settings)
        assert found == _problems(settings.model_copy(update={"cache_dir": tmp_path / f"scratch{len(caplog.text)}"}))
        return found

    first = same_as_from_scratch()
    homes = int(re.findall(r"among (\d+) documents", caplog.text)[-1])
    caplog.clear()
    _append(encodings / "000005_synthetic.ttl", 'd:stance-0 rdfs:comment "edited" .')
    assert same_as_from_scratch() == first
    assert _read_again(caplog.text) <= 2 < homes, "document 5's own home, not the others"
    # a second date that document 1's file wrote for document 0's stance is taken back: the error goes
    caplog.clear()
    second_date = rf"<{DOC}000000_synthetic/stance-0> sg:date[^\n]*\n"
    document_1 = encodings / "000001_synthetic.ttl"
    document_1.write_text(re.sub(second_date, "", document_1.read_text()))
    found = same_as_from_scratch()
    assert not any("000000_synthetic/stance-0> date" in p for p in found) and len(found) < len(first)
    assert _read_again(caplog.text) < homes / 2
    # document 2's file gives document 3's stance a second date: the error appears at document 3's stance
    caplog.clear()
    _append(encodings / "000002_synthetic.ttl", f'<{DOC}000003_synthetic/stance-1> sg:date "2001-01-01"^^xsd:date .')
    assert any("000003_synthetic/stance-1> date" in p for p in same_as_from_scratch())
    assert _read_again(caplog.text) == 2
    # the entities file types what document 3's stance 0 points at: its sh:class error goes, and only the
    # entities' own home and document 3 are read (what the file says of the other entities is the same)
    caplog.clear()
    _append(settings.data_dir / "entities.ttl", 'id:Untyped a sg:Issue ; rdfs:label "now typed"@en .')
    typed = same_as_from_scratch()
    assert not any("Untyped" in p for p in typed)
    assert _read_again(caplog.text) == 2
    # a Wikidata link and a comment on an actor that documents point at: they read only its type, so only the
    # homes that read all its triples are read again: the entities' and the links' (where it is a focus node)
    entities = settings.data_dir / "entities.ttl"
    assert len(re.findall(r"sg:holder id:Actor2\b", "".join(f.read_text() for f in encodings.iterdir()))) > 1
    caplog.clear()
    _append(entities, 'id:Actor2 rdfs:comment "linked" ; rdfs:seeAlso <http://www.wikidata.org/entity/Q2> .')
    assert same_as_from_scratch() == typed
    assert _read_again(caplog.text) == 2
    # the actor's type taken away: the documents that point at it are read again and find their sh:class errors
    caplog.clear()
    entities.write_text(re.sub(r"id:Actor2 a \w+:\w+ ;", "id:Actor2", entities.read_text()))
    untyped = same_as_from_scratch()
    new = set(untyped) - set(typed)
    assert all(p.endswith(", an actor") or "who made it" in p for p in new) and len({p[:40] for p in new}) > 2
    assert _read_again(caplog.text) > 2
    # document 1's file gives document 0's quote a second target, then mends a selector inside it (blank nodes)
    quote = f"<{DOC}000000_synthetic/quote-1>"
    target = "[ oa:hasSource doc:000000_synthetic ; oa:hasSelector [ a oa:TextPositionSelector ; oa:start -1 ] ]"
    _append(document_1, f"{quote} oa:hasTarget {target} .")
    assert any("quote-1>: a quote needs exactly one oa:start" in p for p in same_as_from_scratch())  # two, one < 0
    document_1.write_text(document_1.read_text().replace("; oa:start -1 ]", "]"))
    assert not any("quote-1>: a quote needs exactly one oa:start" in p for p in same_as_from_scratch())
    # document 0's quote gets a target written in document 1's file, whose selector document 2's file then
    # changes: document 0 reads the selector along its path, so it is read again and finds the second start
    shared = f"<{DOC}000001_synthetic/shared"
    _append(document_1, f"{quote} oa:hasTarget {shared}-target> . {shared}-target> oa:hasSelector {shared}-selector> .")
    _append(document_1, f"{shared}-selector> a oa:TextPositionSelector ; oa:start 0 ; oa:end 43 .")
    same_as_from_scratch()
    caplog.clear()
    _append(encodings / "000002_synthetic.ttl", f"{shared}-selector> oa:start 5 .")
    assert any("quote-1>: a quote needs exactly one oa:start" in p for p in same_as_from_scratch())
    assert _read_again(caplog.text) == 2
    # a whole document goes: so do its homes, and nothing else changes
    for part in ("sources/000004_synthetic.ttl", "sources/000004_synthetic.txt", "encodings/000004_synthetic.ttl"):
        (settings.data_dir / part).unlink()
    assert not any("000004" in p for p in same_as_from_scratch())
    # a copy of data/ elsewhere keeps what was recorded: files are named within data/ and ontology/
    shutil.copytree(settings.data_dir, tmp_path / "elsewhere" / "copy")
    settings = settings.model_copy(update={"data_dir": tmp_path / "elsewhere" / "copy"})
    encodings = settings.data_dir / "encodings"
    caplog.clear()
    _append(encodings / "000006_synthetic.ttl", 'd:stance-1 rdfs:comment "edited" .')
    same_as_from_scratch()
    assert _read_again(caplog.text) <= 2
