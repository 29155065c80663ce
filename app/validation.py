"""SHACL validation (pyshacl over rdflib) of the loaded dataset, with each result traced to file and line."""

from collections import deque
from collections.abc import Callable
from pathlib import Path

import pyoxigraph as ox
import rdflib

from app.corpus import Corpus, DataFile
from app.namespaces import ID
from app.problems import Problem, line_of, unparsable
from app.shape_changes import SourceFile
from app.shape_documents import ShapeResult, ShapesRefused, document_results, report_results, run_shapes
from app.verdict_cache import VerdictCache


def own_graphs(corpus: Corpus) -> list[ox.NamedNode | ox.DefaultGraph]:
    """The graphs of the hand-made data: not the derived graph, not imported extracts."""
    graphs = sorted({f.graph for f in corpus.own_files() if f.graph is not None})
    return [ox.DefaultGraph(), *(ox.NamedNode(g) for g in graphs)]


def as_rdflib(store: ox.Store, corpus: Corpus) -> rdflib.Graph:
    """The hand-made data as one rdflib graph for pyshacl."""
    result = store.query("CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }", default_graph=own_graphs(corpus))
    triples = ox.serialize(result, format=ox.RdfFormat.N_TRIPLES)
    return rdflib.Graph().parse(data=triples, format="nt")


def source_files(corpus: Corpus) -> list[SourceFile]:
    """The files whose content is in the hand-made graphs: own RDF files and the documents' texts, with the
    digests the corpus took of them."""
    sha = corpus.digests()

    def source(path: Path, graph: str, subject: str | None = None) -> SourceFile:
        return SourceFile(_source_name(path, corpus), path, graph, sha.get(path, ""), subject)

    texts = [source(d.text, "", d.iri) for d in corpus.documents()]
    return [source(f.path, f.graph or "") for f in corpus.own_files()] + [t for t in texts if t.sha256]


def _source_name(path: Path, corpus: Corpus) -> str:
    """A file's name within data/ or ontology/, so that a copy of either keeps what was recorded about it."""
    for prefix, root in (("", corpus.settings.data_dir), ("ontology/", corpus.settings.ontology_dir)):
        if path.is_relative_to(root):
            return prefix + str(path.relative_to(root))
    return str(path)


def shacl_problems(store: ox.Store, corpus: Corpus, as_loaded: Callable[[], bool] = lambda: False) -> list[Problem]:
    """Run ontology/shapes.ttl, document by document when the shapes allow it (app.shape_documents), else over
    the whole corpus at once; violations are errors, sh:Warning results are warnings. Shapes that do not parse,
    or that pyshacl cannot use, are an error of the shapes file. `as_loaded` says whether the files are still
    those the store was built from (then what each document's check read is kept: see app.shape_changes)."""
    shapes_file, verdicts = corpus.settings.shapes_file, VerdictCache(corpus.settings.cache_dir)
    try:
        deque(ox.parse(path=shapes_file, format=ox.RdfFormat.TURTLE), maxlen=0)  # its syntax, with the line
    except (SyntaxError, OSError) as err:
        return [unparsable(corpus.name(shapes_file), err)]
    try:
        own = set(own_graphs(corpus))
        results = document_results(store, own, shapes_file, verdicts, source_files(corpus), as_loaded)
        if results is None:
            shapes = rdflib.Graph().parse(shapes_file, format="turtle")
            results = report_results(run_shapes(as_rdflib(store, corpus), shapes))
    except ShapesRefused as err:
        return [Problem(corpus.name(shapes_file), 0, f"pyshacl cannot use these shapes: {err}")]
    files = _search_order(corpus)
    return sorted({_placed(result, files, corpus) for result in results})


def _placed(result: ShapeResult, files: list[DataFile], corpus: Corpus) -> Problem:
    file, line = _where(result, files, corpus)
    about = f"<{result.focus}>" + (f" {_short(result.path)}" if result.path else "")
    return Problem(file, line, f"{about}: {result.message}", result.severity)


def _short(iri: str) -> str:
    return iri.split("#")[-1].split("/")[-1]


def _search_order(corpus: Corpus) -> list[DataFile]:
    """Data files to search for a node: encodings first (statements live there), then the rest."""
    return sorted(corpus.own_files(), key=lambda f: f.path.parent.name != "encodings")


def _where(result: ShapeResult, own: list[DataFile], corpus: Corpus) -> tuple[str, int]:
    """File and line of a result: where the offending value is written next to its node, else the node itself;
    for a blank node, which has no name to search for, the file of its home graph when that is one file's."""
    focus, value = result.focus, result.value
    if focus.startswith("_:"):
        homes = [f.path for f in own if result.graph and f.graph == result.graph]
        return corpus.name(homes[0] if len(homes) == 1 else corpus.settings.data_dir), 0
    files = [f.path for f in own]
    doc_prefix = ID + "doc/"
    if focus.startswith(doc_prefix):
        doc_id = focus[len(doc_prefix) :].split("/")[0]
        files = [corpus.settings.data_dir / "encodings" / f"{doc_id}.ttl", *files]
    if value is not None:
        for path in files:
            line = line_of(path, value, anywhere=True)
            if line and line_of(path, focus, anywhere=True):
                return corpus.name(path), line
    for anywhere in (False, True):
        for path in files:
            line = line_of(path, focus, anywhere)
            if line:
                return corpus.name(path), line
    return corpus.name(corpus.settings.data_dir), 0
