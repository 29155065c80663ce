"""Files in data/ and ontology/ -> a checked pyoxigraph store, or every problem found with file and line.

A load either yields a complete store (parsed, texts attached, quotes verified, shapes satisfied, rules
applied) or raises DataError: callers keep serving their previous store, so broken files lose nothing.
"""

import functools
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pyoxigraph as ox

from app.corpus import Corpus
from app.evidence import check_quotes
from app.namespaces import SG
from app.problems import DataError, Problem, unparsable
from app.rules import apply_rules
from app.validation import shacl_problems
from app.verdict_cache import VerdictCache, verdict_key

log = logging.getLogger("stancegraph.load")
SHOWN_WARNINGS = 10  # in the log of a load; `stancegraph validate` lists them all
FULL_TEXT = ox.NamedNode(SG + "fullText")
SHA256 = ox.NamedNode(SG + "sha256")


@dataclass
class LoadReport:
    """What a load did, for logs and the CLI."""

    files: int
    quads: int
    seconds: float
    warnings: list[Problem] = field(default_factory=list)


def parse_files(store: ox.Store, corpus: Corpus) -> list[Problem]:
    """Load every file into its graph; a file that does not parse is reported with its line and column."""
    problems = corpus.layout_problems()
    for data_file in corpus.data_files():
        graph = ox.NamedNode(data_file.graph) if data_file.graph else ox.DefaultGraph()
        try:
            store.load(path=data_file.path, format=ox.RdfFormat.TURTLE, to_graph=graph)
        except (SyntaxError, OSError) as err:
            problems.append(unparsable(corpus.name(data_file.path), err))
    return problems


def attach_texts(store: ox.Store, corpus: Corpus) -> list[Problem]:
    """Add each document's verbatim text as sg:fullText, refusing texts whose checksum no longer matches."""
    problems = []
    for doc in corpus.documents():
        if not doc.text.exists():
            continue
        subject = ox.NamedNode(doc.iri)
        stated = {q.object.value for q in store.quads_for_pattern(subject, SHA256, None, ox.DefaultGraph())}
        if stated and doc.sha256() not in stated:
            problems.append(
                Problem(
                    corpus.name(doc.metadata),
                    0,
                    f"{doc.text.name} has changed (sha256 {doc.sha256()}, metadata says {', '.join(sorted(stated))}): "
                    "re-check its quotes, then update sg:sha256",
                )
            )
        store.add(ox.Quad(subject, FULL_TEXT, ox.Literal(doc.read_text()), ox.DefaultGraph()))
    return problems


def check(corpus: Corpus, shacl: bool = True, fingerprint: str | None = None) -> tuple[ox.Store, list[Problem]]:
    """Parse and check everything; returns the store (with derived triples) and all problems found.

    The rules run in a thread while the quote and shape checks run here: the engine evaluates them without
    holding the GIL, the checks only read the hand-made graphs, and the rules write only the derived graph.
    `fingerprint` is the corpus's if the caller took it already, before any file was read.
    """
    corpus = corpus.snapshot()  # one listing and one digest of the files for the whole load
    if shacl and fingerprint is None:  # taken before reading (by the caller, or here): the files checked, or newer
        fingerprint = corpus.fingerprint()
    store = ox.Store()
    problems = parse_files(store, corpus)
    if any(p.is_error for p in problems):
        return store, problems  # later checks on a partial graph would only repeat the same fault
    problems += attach_texts(store, corpus)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="rules") as rules:
        derived = rules.submit(apply_rules, store, corpus.settings.rules_dir, corpus.name)
        problems += check_quotes(store, corpus)
        if shacl:
            problems += _shapes_apart(store, corpus, fingerprint)
        problems += derived.result()
    return store, sorted(problems)


def _shapes_apart(store: ox.Store, corpus: Corpus, fingerprint: str) -> list[Problem]:
    """shape_problems in a thread of its own, waited for. rdflib's SPARQL parser (pyparsing, under pyshacl and
    app.shape_documents) leaves exceptions and their frames in reference cycles, and a frame keeps its caller's
    frame: run in the caller's thread, it kept the caller's whole stack and what its frames held alive until the
    next full collection, in whichever thread that ran (pyo3 will not free pyoxigraph's results and iterators on
    another thread than theirs: it warns and leaks them)."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="shapes") as apart:
        return apart.submit(shape_problems, store, corpus, fingerprint).result()


def shape_problems(store: ox.Store, corpus: Corpus, fingerprint: str) -> list[Problem]:
    """The SHACL verdict on the loaded files: kept from an identical earlier load, else from pyshacl.

    `fingerprint` is the corpus's, taken before its files were read. The verdict is kept only if no file
    changed until the shapes had run (the fingerprint after agrees), so a kept verdict is always the verdict
    on the files its key describes.
    """
    verdicts, key = VerdictCache(corpus.settings.cache_dir), verdict_key(fingerprint)
    kept = verdicts.get(key)
    if kept is not None:
        log.info("SHACL shapes: the verdict on these same files, kept in %s", verdicts.directory)
        return kept
    log.info("checking the SHACL shapes (minutes at millions of triples: STANCEGRAPH_VALIDATE_ON_LOAD=false)")
    as_loaded = functools.cache(lambda: Corpus(corpus.settings).fingerprint() == fingerprint)
    found = shacl_problems(store, corpus, as_loaded)
    if as_loaded():
        verdicts.put(key, found)
    return found


def build(corpus: Corpus, shacl: bool = True, fingerprint: str | None = None) -> tuple[ox.Store, LoadReport]:
    """A new, complete store from the corpus, or DataError listing every error."""
    started, files = time.perf_counter(), len(corpus.data_files())
    log.info("loading %d files from %s", files, corpus.settings.data_dir)
    store, problems = check(corpus, shacl, fingerprint)
    errors = [p for p in problems if p.is_error]
    if errors:
        raise DataError(errors)
    quads = len(store)
    report = LoadReport(files, quads, time.perf_counter() - started, problems)
    log.info("loaded %s quads from %d files in %.1f s", f"{quads:,}", files, report.seconds)
    for problem in problems[:SHOWN_WARNINGS]:
        log.warning("%s", problem)
    if len(problems) > SHOWN_WARNINGS:
        log.warning("%d warnings in all: `stancegraph validate` lists every one", len(problems))
    return store, report
