"""A load identical to an earlier one reuses its SHACL verdict; any change to what the verdict depends on runs
the shapes again, and a verdict is never kept for files that changed while it was computed."""

import shutil
from pathlib import Path

import pytest

from app import loader, verdict_cache
from app.corpus import Corpus
from app.loader import check
from app.settings import PROJECT_ROOT, Settings
from app.verdict_cache import VerdictCache, verdict_key
from tests.conftest import replace_in
from tests.live import stancegraph_process

ACTOR_LABEL = 'id:Russia a sg:State ; rdfs:label "Russia"@en ;'


@pytest.fixture
def shapes_runs(monkeypatch) -> list[int]:
    """How many times pyshacl ran (each entry: how many problems it found)."""
    runs: list[int] = []

    def counted(store, corpus, as_loaded):
        found = shacl_problems(store, corpus, as_loaded)
        runs.append(len(found))
        return found

    shacl_problems = loader.shacl_problems
    monkeypatch.setattr(loader, "shacl_problems", counted)
    return runs


@pytest.fixture
def corpus(tmp_path: Path) -> Corpus:
    """A private copy of data/ and ontology/ (a test may edit both) with its own verdict directory."""
    shutil.copytree(PROJECT_ROOT / "data", tmp_path / "data")
    shutil.copytree(PROJECT_ROOT / "ontology", tmp_path / "ontology")
    return Corpus(
        Settings(data_dir=tmp_path / "data", ontology_dir=tmp_path / "ontology", cache_dir=tmp_path / "verdicts")
    )


def test_an_identical_load_reuses_the_verdict(corpus, shapes_runs):
    first = check(corpus)[1]
    again = check(Corpus(corpus.settings))[1]
    assert len(shapes_runs) == 1, "the second load did not run pyshacl"
    assert again == first and any(not p.is_error for p in first), "the same problems, with file and line"


def test_a_changed_data_file_runs_the_shapes_again(corpus, shapes_runs):
    assert not [p for p in check(corpus)[1] if p.is_error]
    entities = corpus.settings.data_dir / "entities.ttl"
    assert ACTOR_LABEL in entities.read_text()
    replace_in(entities, ACTOR_LABEL, "id:Russia a sg:State ;")
    errors = [str(p) for p in check(Corpus(corpus.settings))[1] if p.is_error]
    assert len(shapes_runs) == 2
    assert any(e.startswith("data/entities.ttl:13:") and "Russia> label" in e for e in errors), errors


def test_changed_shapes_run_again(corpus, shapes_runs):
    check(corpus)
    shapes = corpus.settings.shapes_file
    replace_in(shapes, 'sh:message "a document needs one dcterms:title"', 'sh:message "one dcterms:title, please"')
    check(Corpus(corpus.settings))
    assert len(shapes_runs) == 2


def test_the_code_and_libraries_are_part_of_the_key(corpus, monkeypatch):
    fingerprint = corpus.fingerprint()
    before = verdict_key(fingerprint)
    monkeypatch.setattr(verdict_cache, "version", lambda library: "0.0.0")
    assert verdict_key(fingerprint) != before
    assert len({verdict_key(fingerprint), verdict_key(fingerprint + "x")}) == 2


def test_no_verdict_is_kept_for_files_that_changed_while_the_shapes_ran(corpus, monkeypatch, shapes_runs):
    counted = loader.shacl_problems

    def edits_meanwhile(store, loaded, as_loaded):
        replace_in(loaded.settings.data_dir / "entities.ttl", ACTOR_LABEL, "id:Russia a sg:State ;")
        return counted(store, loaded, as_loaded)

    monkeypatch.setattr(loader, "shacl_problems", edits_meanwhile)
    check(corpus)
    kept = [p.name for p in corpus.settings.cache_dir.glob("shacl-*.json")]
    assert [name for name in kept if not name.startswith("shacl-documents-")] == [], "no verdict on the corpus"
    monkeypatch.setattr(loader, "shacl_problems", counted)
    errors = [p for p in check(Corpus(corpus.settings))[1] if p.is_error]
    assert errors and len(shapes_runs) == 2, "the edited files were checked, not given the verdict on the old ones"


def test_a_damaged_verdict_is_a_miss(corpus, shapes_runs):
    first = check(corpus)[1]
    (kept,) = [p for p in corpus.settings.cache_dir.glob("shacl-*.json") if "documents" not in p.name]
    kept.write_text('[{"file": "data/entities.ttl", "line":')
    assert check(Corpus(corpus.settings))[1] == first
    assert len(shapes_runs) == 2
    assert check(Corpus(corpus.settings))[1] == first and len(shapes_runs) == 2, "rewritten whole after the miss"


def test_an_empty_cache_dir_keeps_nothing(corpus, shapes_runs, monkeypatch):
    monkeypatch.setenv("STANCEGRAPH_CACHE_DIR", "")
    settings = Settings(data_dir=corpus.settings.data_dir, ontology_dir=corpus.settings.ontology_dir)
    assert settings.cache_dir is None
    check(Corpus(settings))
    check(Corpus(settings))
    assert len(shapes_runs) == 2


def test_the_least_recently_used_verdicts_go_first(tmp_path, monkeypatch):
    monkeypatch.setattr(verdict_cache, "KEPT", 3)
    verdicts = VerdictCache(tmp_path)
    for key in "abcd":
        verdicts.put(key, [])
    assert verdicts.get("a") is None and verdicts.get("b") == []
    verdicts.put("e", [])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shacl-b.json", "shacl-d.json", "shacl-e.json"]


def test_large_verdicts_are_kept_within_a_byte_budget_but_the_last_is_always_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(verdict_cache, "KEPT_BYTES", 2_500)
    verdicts = VerdictCache(tmp_path)
    for key in "abc":
        verdicts.write(key, "x" * 1_000)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shacl-b.json", "shacl-c.json"]
    verdicts.write("huge", "x" * 10_000)
    assert [p.name for p in tmp_path.iterdir()] == ["shacl-huge.json"] and verdicts.read("huge") == "x" * 10_000


def test_serve_checks_the_shapes_once_for_all_its_app_processes(tmp_path):
    """`serve --workers 2` loads data/ once, and its app processes are forked with it: the shapes run once in
    all, and a restart over the same files does not run them at all."""
    settings = {"validate_on_load": "true", "data_dir": PROJECT_ROOT / "data", "cache_dir": tmp_path}
    with stancegraph_process("--workers", "2", **settings) as (_, process):
        pass
    first = process.stderr.read()
    with stancegraph_process(**settings) as (_, process):
        pass
    restart = process.stderr.read()
    assert first.count("checking the SHACL shapes") == 1, first
    assert first.count("loading ") == 1 and "the verdict on these same files" not in first, first
    assert "checking the SHACL shapes" not in restart and "the verdict on these same files" in restart
    warnings = [str(p) for p in check(Corpus(Settings(cache_dir=None)))[1] if not p.is_error]
    assert warnings and all(w in restart for w in warnings), "a kept verdict's warnings are logged as before"
