"""SHACL one document at a time: each focus node is validated with exactly the triples the shapes read from it.

pyshacl over the whole corpus takes a minute at a million triples and holds the corpus as an rdflib graph
(13 GB at ten million); adding one document ran it all again. Here the focus nodes are grouped by their home,
the graph whose triples make them a target (one document's encoding; a node of the default graph is a home
of its own), and each home's neighbourhood is read from the store: every triple of its focus nodes, the
triples along the shapes' sequence paths, and the rdf:type of every node these reach (for sh:class), in the
hand-made graphs only. A home whose neighbourhood (blank nodes canonicalized, RDFC-1.0) was validated before,
under the same shapes, subclass axioms and libraries, keeps its verdict; the others are validated together
in batches of about BATCH_TRIPLES triples, on every core when there are several batches, and a batch's
results count only for the focus nodes at home in it. That is exact for the shapes this module can read
(see Reach); any other construct sends the whole corpus through pyshacl at once, as before.
"""

import hashlib
import itertools
import logging
import os
import pickle
import subprocess
import sys
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import pyoxigraph as ox
import rdflib
from pyshacl import validate as shacl_validate
from rdflib.namespace import RDF, RDFS, SH
from rdflib.plugins.sparql import prepareQuery
from rdflib.plugins.sparql.parserutils import CompValue

from app.verdict_cache import VerdictCache, verdict_key

log = logging.getLogger("stancegraph.load")
BATCH_TRIPLES = 100_000  # triples per pyshacl run (about 150 MB in rdflib): bounded memory, work for each core
BATCH_TEXT = 20_000_000  # characters of literals per run: documents' full texts would otherwise pile up in one
RDF_TYPE = ox.NamedNode(str(RDF.type))
SUBCLASS_OF = ox.NamedNode(str(RDFS.subClassOf))
Triple = tuple[ox.NamedNode | ox.BlankNode, ox.NamedNode, ox.NamedNode | ox.BlankNode | ox.Literal]
Home = tuple[str, str]  # (graph, "") for a named graph; ("", focus node) in the default graph


@dataclass(frozen=True)
class ShapeResult:
    """One result of pyshacl's report, before it is placed at a file and line."""

    focus: str  # an IRI, or `_:label` for a blank node
    path: str | None  # the predicate of a predicate path
    message: str
    severity: str  # "error" or "warning"
    value: str | None  # the offending value when it is an IRI


# ---------------------------------------------------------------------- what the shapes read


@dataclass(frozen=True)
class Reach:
    """The targets and sequence paths of a shapes graph whose every constraint reads only its focus node's own
    triples, the nodes along its paths and their rdf:type; `unsupported` says why a shapes graph is not so."""

    classes: frozenset[str]
    subjects_of: frozenset[str]
    sequences: tuple[tuple[str, ...], ...]
    unsupported: str | None = None

    @classmethod
    def of(cls, shapes: rdflib.Graph) -> "Reach":
        for construct in (SH.targetNode, SH.targetObjectsOf, SH.target, SH.node, SH.equals, SH.disjoint):
            if (None, construct, None) in shapes:
                return cls(frozenset(), frozenset(), (), f"the shapes use {shapes.qname(construct)}")
        classes = {RDFS.Class, rdflib.OWL.Class}
        if any(
            c in classes for shape in shapes.subjects(RDF.type, SH.NodeShape) for c in shapes.objects(shape, RDF.type)
        ):
            return cls(frozenset(), frozenset(), (), "a shape is also a class (an implicit class target)")
        targeted = {s for p in (SH.targetClass, SH.targetSubjectsOf) for s in shapes.subjects(p, None)}
        sequences, reason = _sequences(shapes, targeted)
        reason = reason or _sparql_reach(shapes)
        return cls(
            frozenset(str(c) for c in shapes.objects(None, SH.targetClass)),
            frozenset(str(p) for p in shapes.objects(None, SH.targetSubjectsOf)),
            tuple(sorted(sequences)),
            reason,
        )


def _sequences(shapes: rdflib.Graph, targeted: set) -> tuple[set[tuple[str, ...]], str | None]:
    """Every sequence path of two steps or more; a reason if a path is not read from a targeted shape's focus
    node (nested in a value shape) or is not a predicate or a sequence of predicates."""
    sequences = set()
    for holder, path in shapes.subject_objects(SH.path):
        if not _from_focus(shapes, holder, targeted):
            return set(), "a property shape is nested in a value shape"
        if isinstance(path, rdflib.URIRef):
            continue
        steps = list(shapes.items(path))
        if not steps or not all(isinstance(step, rdflib.URIRef) for step in steps):
            return set(), "a path is not a predicate or a sequence of predicates"
        sequences.add(tuple(str(step) for step in steps))
    return sequences, None


def _from_focus(shapes: rdflib.Graph, holder, targeted: set) -> bool:
    """Whether a property shape's path starts at the focus node: it is the sh:property of a node shape that is
    evaluated at the focus node, or is itself one of its logical members."""
    owners = shapes.subjects(SH.property, holder)
    return _at_focus(shapes, holder, targeted, set()) or any(
        shapes.value(owner, SH.path) is None and _at_focus(shapes, owner, targeted, set()) for owner in owners
    )


def _at_focus(shapes: rdflib.Graph, node, targeted: set, seen: set) -> bool:
    """Whether a shape is evaluated with the focus node as its own focus: a targeted shape, or the sh:not or a
    member of the sh:or / sh:and / sh:xone list of a node shape that is (a property shape's apply to values)."""
    if node in targeted:
        return True
    if node in seen:
        return False
    seen.add(node)
    owners = list(shapes.subjects(SH["not"], node))
    for link in shapes.subjects(RDF.first, node):
        head = link
        while (previous := shapes.value(predicate=RDF.rest, object=head)) is not None:
            head = previous
        owners += [owner for p in (SH["or"], SH["and"], SH.xone) for owner in shapes.subjects(p, head)]
    return any(shapes.value(owner, SH.path) is None and _at_focus(shapes, owner, targeted, seen) for owner in owners)


def _sparql_reach(shapes: rdflib.Graph) -> str | None:
    """A reason if a SPARQL constraint reads anything but `$this`'s own triples."""
    for select in shapes.objects(None, SH.select):
        try:
            algebra = prepareQuery(str(select)).algebra
        except Exception:  # whatever the parser raises: pyshacl reports the query; here we only decline to split
            return "a SPARQL constraint could not be read"
        if not all(_reads_own_triples(node) for node in _nodes(algebra)):
            return "a SPARQL constraint reads beyond its focus node's triples"
    return None


def _nodes(node) -> Iterator[CompValue]:
    if isinstance(node, CompValue):
        yield node
        for value in node.values():
            yield from _nodes(value)
    elif isinstance(node, list | tuple):
        for value in node:
            yield from _nodes(value)


def _reads_own_triples(node: CompValue) -> bool:
    if node.name in ("Graph", "ServiceGraphPattern", "ToMultiSet"):
        return False
    if node.name != "BGP":
        return True
    return all(s == rdflib.Variable("this") and isinstance(p, rdflib.URIRef) for s, p, _ in node["triples"])


# ---------------------------------------------------------------------- neighbourhoods in the store


class Neighbourhoods:
    """The focus nodes of each home and what the shapes read from them, in the hand-made graphs."""

    def __init__(self, store: ox.Store, own: set[ox.NamedNode | ox.DefaultGraph], reach: Reach):
        self.store, self.own, self.reach = store, own, reach
        self.classes = self._subclasses(reach.classes)
        self.homes: dict[Home, set[ox.NamedNode | ox.BlankNode]] = defaultdict(set)
        for graph in own:
            for focus in self._targets(graph):
                home = (graph.value, "") if isinstance(graph, ox.NamedNode) else ("", str(focus))
                self.homes[home].add(focus)

    def axioms(self) -> list[Triple]:
        """The subclass axioms pyshacl follows for targets and sh:class: part of every batch and of the key."""
        return sorted(self._own(None, SUBCLASS_OF, None), key=str)

    def triples(self, home: Home) -> set[Triple]:
        found: set[Triple] = set()
        for focus in self.homes[home]:
            for triple in self._own(focus, None, None):
                found.add(triple)
                self._types(triple[2], found)
            for sequence in self.reach.sequences:
                self._along(focus, sequence, found)
        return found

    def _along(self, focus, sequence: tuple[str, ...], found: set[Triple]) -> None:
        nodes = {focus}
        for step in sequence:
            reached = set()
            for node in nodes:
                for triple in self._own(node, ox.NamedNode(step), None):
                    found.add(triple)
                    self._types(triple[2], found)
                    reached.add(triple[2])
            nodes = {node for node in reached if not isinstance(node, ox.Literal)}

    def _types(self, node, found: set[Triple]) -> None:
        if not isinstance(node, ox.Literal):
            found.update(self._own(node, RDF_TYPE, None))

    def _targets(self, graph) -> set[ox.NamedNode | ox.BlankNode]:
        targets = {q.subject for c in self.classes for q in self.store.quads_for_pattern(None, RDF_TYPE, c, graph)}
        for predicate in self.reach.subjects_of:
            targets.update(q.subject for q in self.store.quads_for_pattern(None, ox.NamedNode(predicate), None, graph))
        return targets

    def _subclasses(self, classes: Iterable[str]) -> set[ox.NamedNode]:
        below: dict = defaultdict(set)
        for sub, _, sup in self._own(None, SUBCLASS_OF, None):
            below[sup].add(sub)
        found: set = set()
        todo = [ox.NamedNode(c) for c in classes]
        while todo:
            current = todo.pop()
            if current not in found:
                found.add(current)
                todo.extend(below[current])
        return found

    def _own(self, subject, predicate, obj) -> Iterator[Triple]:
        for quad in self.store.quads_for_pattern(subject, predicate, obj):
            if quad.graph_name in self.own:
                yield quad.subject, quad.predicate, quad.object


def fingerprint(triples: Iterable[Triple]) -> str:
    """The same for the same triples whatever the labels of their blank nodes (RDFC-1.0)."""
    dataset = ox.Dataset(ox.Quad(s, p, o) for s, p, o in triples)
    dataset.canonicalize(ox.CanonicalizationAlgorithm.RDFC_1_0)
    return hashlib.sha256("\n".join(sorted(str(quad) for quad in dataset)).encode()).hexdigest()


def ntriples(triples: Iterable[Triple]) -> str:
    return "".join(f"{s} {p} {o} .\n" for s, p, o in triples)


def node_key(node: ox.NamedNode | ox.BlankNode) -> str:
    return node.value if isinstance(node, ox.NamedNode) else f"_:{node.value}"


# ---------------------------------------------------------------------- validating what changed


def document_results(store: ox.Store, own: set, shapes_file: Path, verdicts: VerdictCache) -> list[ShapeResult] | None:
    """Every SHACL result, home by home, reusing the verdict of each unchanged home; None if the shapes are not
    ones this module can split (then the caller validates the whole corpus at once).

    Each home's neighbourhood is read once: fingerprinted, and if it changed, put in the next batch at once, so
    the batch workers validate while the remaining homes are still being read."""
    shapes_text = shapes_file.read_text(encoding="utf-8")
    reach = Reach.of(rdflib.Graph().parse(data=shapes_text, format="turtle"))
    if reach.unsupported:
        log.info("SHACL shapes over the whole corpus at once: %s", reach.unsupported)
        return None
    hood = Neighbourhoods(store, own, reach)
    axioms = hood.axioms()
    key = f"documents-{verdict_key(shapes_text, ntriples(axioms))}"  # besides each home's own triples
    kept = _kept(verdicts.read(key))
    prints: dict[Home, str] = {}
    checked: list[Home] = []

    def changed() -> Iterator[tuple[Home, set[Triple]]]:
        for home in hood.homes:
            triples = hood.triples(home)
            prints[home] = fingerprint(triples)
            if prints[home] not in kept:
                checked.append(home)
                yield home, triples

    log.info("SHACL shapes: checking what changed among %d documents and nodes since their last check", len(hood.homes))
    found = _validate(hood, changed(), axioms, shapes_text)
    for home in checked:
        kept[prints[home]] = found.get(home, [])
    log.info("SHACL shapes: %d of %d documents and nodes had changed and were checked", len(checked), len(prints))
    current = {digest: kept[digest] for digest in sorted(set(prints.values()))}
    if checked or len(current) != len(kept):
        verdicts.write(key, {digest: [asdict(r) for r in results] for digest, results in current.items()})
    return [result for results in current.values() for result in results]


def _kept(payload: object) -> dict[str, list[ShapeResult]]:
    """The verdicts read back, or none if the file is not what this module writes."""
    try:
        return {digest: [ShapeResult(**fields) for fields in results] for digest, results in payload.items()}
    except (AttributeError, TypeError):
        return {}


def _validate(
    hood: Neighbourhoods, changed: Iterator[tuple[Home, set[Triple]]], axioms: list[Triple], shapes: str
) -> dict[Home, list[ShapeResult]]:
    """The results of the changed homes (those that have any), validated in batches of about BATCH_TRIPLES
    triples: here if there is one, else by one batch worker process per core (see `batch_worker`), each taking
    the next batch when done."""
    jobs = ((ntriples([*triples, *axioms]), shapes, focus) for triples, focus in _batches(hood, changed))
    first, second = next(jobs, None), next(jobs, None)
    if second is None:
        outcomes = [(first[2], validate_batch(*first))] if first else []
    else:
        outcomes = _in_workers(itertools.chain((first, second), jobs))
    results: dict[Home, list[ShapeResult]] = defaultdict(list)
    for focus, outcome in outcomes:
        for result in outcome:
            for home in focus[result.focus]:
                results[home].append(result)
    return results


def _in_workers(jobs: Iterator[tuple]) -> list[tuple[dict, list[ShapeResult]]]:
    """Batches validated by one `python -m app.shape_documents` per core (a fresh interpreter: nothing of the
    server's threads and locks is copied, as fork would). A worker that fails stops the load with its error."""
    lock = threading.Lock()

    def drain() -> list[tuple[dict, list[ShapeResult]]]:
        done = []
        with subprocess.Popen(
            [sys.executable, "-m", "app.shape_documents"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        ) as worker:
            while True:
                with lock:
                    job = next(jobs, None)
                if job is None:
                    break
                try:
                    pickle.dump(job, worker.stdin)
                    worker.stdin.flush()
                    done.append((job[2], pickle.load(worker.stdout)))
                except (EOFError, BrokenPipeError):
                    raise RuntimeError("a SHACL batch worker ended before answering (see its error above)") from None
        return done

    cores = len(os.sched_getaffinity(0))
    with ThreadPoolExecutor(cores, thread_name_prefix="shacl") as threads:
        return [outcome for outcomes in threads.map(lambda _: drain(), range(cores)) for outcome in outcomes]


def _batches(
    hood: Neighbourhoods, changed: Iterable[tuple[Home, set[Triple]]]
) -> Iterator[tuple[set[Triple], dict[str, list[Home]]]]:
    """Homes put together until a batch holds BATCH_TRIPLES triples or BATCH_TEXT characters of literals (the
    documents' full texts); with which homes each focus node is at."""
    triples: set[Triple] = set()
    focus: dict[str, list[Home]] = defaultdict(list)
    text = 0
    for home, neighbourhood in changed:
        new = neighbourhood - triples
        triples |= new
        text += sum(len(o.value) for _, _, o in new if isinstance(o, ox.Literal))
        for node in hood.homes[home]:
            focus[node_key(node)].append(home)
        if len(triples) >= BATCH_TRIPLES or text >= BATCH_TEXT:
            yield triples, focus
            triples, focus, text = set(), defaultdict(list), 0
    if focus:
        yield triples, focus


def validate_batch(data: str, shapes: str, focus: dict[str, list[Home]]) -> list[ShapeResult]:
    """pyshacl over one batch (N-Triples), with the shapes aimed at the batch's own focus nodes only."""
    bnodes: dict[str, rdflib.BNode] = {}
    graph = rdflib.Graph().parse(data=data, format="nt", bnode_context=bnodes)
    labels = {node: f"_:{label}" for label, node in bnodes.items()}
    targets = [bnodes[key[2:]] if key.startswith("_:") else rdflib.URIRef(key) for key in focus]
    aimed = _aimed(rdflib.Graph().parse(data=shapes, format="turtle"), graph, targets)
    _, report, _ = shacl_validate(graph, shacl_graph=aimed, inference="none", allow_warnings=True)
    return [r for r in report_results(report, lambda node: labels.get(node, str(node))) if r.focus in focus]


def _aimed(shapes: rdflib.Graph, data: rdflib.Graph, focus: list[rdflib.term.Node]) -> rdflib.Graph:
    """The shapes with their targets replaced by the focus nodes of the batch they select (sh:targetNode).

    A batch also holds nodes only for their rdf:type (what sh:class reads); with the shapes' own targets these
    would be validated too, without their triples, and fail (a fifth of a batch's work, thrown away).
    """
    types = {node: set(data.objects(node, RDF.type)) for node in focus}
    for shape in {s for p in (SH.targetClass, SH.targetSubjectsOf) for s in shapes.subjects(p, None)}:
        classes = {
            c for t in shapes.objects(shape, SH.targetClass) for c in data.transitive_subjects(RDFS.subClassOf, t)
        }
        predicates = list(shapes.objects(shape, SH.targetSubjectsOf))
        for node in focus:
            if types[node] & classes or any((node, p, None) in data for p in predicates):
                shapes.add((shape, SH.targetNode, node))
        shapes.remove((shape, SH.targetClass, None))
        shapes.remove((shape, SH.targetSubjectsOf, None))
    return shapes


def rdflib_key(node: rdflib.term.Node) -> str:
    """An rdflib node written as node_key writes a store's node."""
    return f"_:{node}" if isinstance(node, rdflib.BNode) else str(node)


def report_results(report: rdflib.Graph, name: Callable[[rdflib.term.Node], str] = rdflib_key) -> list[ShapeResult]:
    """pyshacl's report as ShapeResults; `name` writes a focus node as node_key does."""
    results = []
    for result in report.subjects(RDF.type, SH.ValidationResult):
        path = report.value(result, SH.resultPath)
        value = report.value(result, SH.value)
        message = report.value(result, SH.resultMessage) or "violates " + str(report.value(result, SH.sourceShape))
        results.append(
            ShapeResult(
                focus=name(report.value(result, SH.focusNode)),
                path=str(path) if isinstance(path, rdflib.URIRef) else None,
                message=str(message),
                severity="warning" if report.value(result, SH.resultSeverity) == SH.Warning else "error",
                value=str(value) if isinstance(value, rdflib.URIRef) else None,
            )
        )
    return results


def batch_worker() -> None:
    """`python -m app.shape_documents`: validate the batches pickled on stdin, one answer each on stdout."""
    while True:
        try:
            job = pickle.load(sys.stdin.buffer)
        except EOFError:
            return
        pickle.dump(validate_batch(*job), sys.stdout.buffer)
        sys.stdout.buffer.flush()


if __name__ == "__main__":  # run as a script: answer with the classes of the module itself, not of __main__
    from app.shape_documents import batch_worker as _worker

    _worker()
