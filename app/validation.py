"""SHACL validation (pyshacl over rdflib) of the loaded dataset, with each result traced to file and line."""

from pathlib import Path

import pyoxigraph as ox
import rdflib
from pyshacl import validate as shacl_validate
from rdflib.namespace import SH

from app.corpus import Corpus
from app.namespaces import ID
from app.problems import Problem, line_of


def as_rdflib(store: ox.Store, corpus: Corpus) -> rdflib.Graph:
    """The hand-made data (not the derived graph, not imported extracts) as one rdflib graph for pyshacl."""
    graphs = sorted({f.graph for f in corpus.own_files() if f.graph is not None})
    own = [ox.DefaultGraph(), *(ox.NamedNode(g) for g in graphs)]
    result = store.query("CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }", default_graph=own)
    triples = ox.serialize(result, format=ox.RdfFormat.N_TRIPLES)
    return rdflib.Graph().parse(data=triples, format="nt")


def shacl_problems(store: ox.Store, corpus: Corpus) -> list[Problem]:
    """Run ontology/shapes.ttl; violations are errors, sh:Warning results are warnings."""
    shapes = rdflib.Graph().parse(corpus.settings.shapes_file, format="turtle")
    _, report, _ = shacl_validate(as_rdflib(store, corpus), shacl_graph=shapes, inference="none", allow_warnings=True)
    files = _search_order(corpus)
    problems = []
    for result in report.subjects(rdflib.RDF.type, SH.ValidationResult):
        focus = report.value(result, SH.focusNode)
        path = report.value(result, SH.resultPath)
        message = report.value(result, SH.resultMessage) or "violates " + str(report.value(result, SH.sourceShape))
        severity = "warning" if report.value(result, SH.resultSeverity) == SH.Warning else "error"
        file, line = _where(focus, report.value(result, SH.value), files, corpus)
        about = f"<{focus}>" + (f" {_short(path)}" if isinstance(path, rdflib.URIRef) else "")
        problems.append(Problem(file, line, f"{about}: {message}", severity))
    return sorted(set(problems))


def _short(iri: rdflib.URIRef) -> str:
    return iri.split("#")[-1].split("/")[-1]


def _search_order(corpus: Corpus) -> list[Path]:
    """Data files to search for a node: encodings first (statements live there), then the rest."""
    files = [f.path for f in corpus.own_files()]
    return sorted(files, key=lambda p: p.parent.name != "encodings")


def _where(
    focus: rdflib.term.Node, value: rdflib.term.Node | None, files: list[Path], corpus: Corpus
) -> tuple[str, int]:
    """File and line of a result: where the offending value is written next to its node, else the node itself."""
    if not isinstance(focus, rdflib.URIRef):
        return corpus.name(corpus.settings.data_dir), 0
    doc_prefix = ID + "doc/"
    if focus.startswith(doc_prefix):
        doc_id = focus[len(doc_prefix) :].split("/")[0]
        files = [corpus.settings.data_dir / "encodings" / f"{doc_id}.ttl", *files]
    if isinstance(value, rdflib.URIRef):
        for path in files:
            line = line_of(path, str(value), anywhere=True)
            if line and line_of(path, str(focus), anywhere=True):
                return corpus.name(path), line
    for anywhere in (False, True):
        for path in files:
            line = line_of(path, str(focus), anywhere)
            if line:
                return corpus.name(path), line
    return corpus.name(corpus.settings.data_dir), 0
