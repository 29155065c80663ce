"""SHACL one document at a time: each focus node is validated with exactly the triples the shapes read from it.

pyshacl over the whole corpus takes a minute at a million triples and holds the corpus as an rdflib graph
(13 GB at ten million); adding one document ran it all again. Here the focus nodes are grouped by their home,
the graph whose triples make them a target (one document's encoding; a node of the default graph is a home
of its own), and each home's neighbourhood is read from the store: every triple of its focus nodes, the
triples along the shapes' sequence paths, and the rdf:type of every node these reach (for sh:class), in the
hand-made graphs only. A home that no changed file touched is not even read (see app.shape_changes); a home
whose neighbourhood (blank nodes canonicalized, RDFC-1.0) was validated before, under the same shapes,
subclass axioms and libraries, keeps its verdict; the others are validated together
in batches (see batch_size), on every core when there are several batches, and a batch's
results count only for the focus nodes at home in it. That is exact for the shapes this module can read
(see Reach); any other construct sends the whole corpus through pyshacl at once, as before.
"""

import contextlib
import functools
import hashlib
import itertools
import logging
import os
import pickle
import signal
import subprocess
import sys
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import pyoxigraph as ox
import rdflib
from pyparsing import ParseBaseException
from pyshacl import validate as shacl_validate
from pyshacl.errors import ReportableRuntimeError
from rdflib.namespace import RDF, RDFS, SH
from rdflib.plugins.sparql import prepareQuery
from rdflib.plugins.sparql.parserutils import CompValue

from app.problems import LoadFailed
from app.shape_changes import Changes, FileRecord, Reads, SourceFile, decode, encode
from app.verdict_cache import VerdictCache, verdict_key

log = logging.getLogger("stancegraph.load")
BATCH_TRIPLES = 100_000  # most triples per pyshacl run (about 150 MB in rdflib): bounded memory
TYPES_KEPT = 1 << 16  # nodes whose rdf:type is remembered while the neighbourhoods are read
BATCH_WORKER = [sys.executable, "-m", "app.shape_documents"]  # see batch_worker
MIN_BATCH = 10_000  # fewer triples are validated faster here than by starting a worker
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
    graph: str = ""  # for a blank focus node, the graph of its home: where it is written (its label is not)


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
        for construct in (SH.targetNode, SH.targetObjectsOf, SH.target, SH.node):
            if (None, construct, None) in shapes:
                return cls(frozenset(), frozenset(), (), f"the shapes use {shapes.qname(construct)}")
        classes = {RDFS.Class, rdflib.OWL.Class}
        if any(
            c in classes for shape in shapes.subjects(RDF.type, SH.NodeShape) for c in shapes.objects(shape, RDF.type)
        ):
            return cls(frozenset(), frozenset(), (), "a shape is also a class (an implicit class target)")
        targeted = {s for p in (SH.targetClass, SH.targetSubjectsOf) for s in shapes.subjects(p, None)}
        sequences, reason = _sequences(shapes, targeted)
        reason = reason or _comparisons_reach(shapes, targeted) or _sparql_reach(shapes)
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


def _comparisons_reach(shapes: rdflib.Graph, targeted: set) -> str | None:
    """A reason if sh:equals or sh:disjoint compares with another node's triples: they read the values of a
    predicate at the node their shape is evaluated at, which is the focus node for a property shape (whose path
    _sequences checked) or a node shape evaluated at it, but a value for a node shape nested in a value shape."""
    for holder in {s for p in (SH.equals, SH.disjoint) for s in shapes.subjects(p, None)}:
        if shapes.value(holder, SH.path) is None and not _at_focus(shapes, holder, targeted, set()):
            return "sh:equals or sh:disjoint compares a value's triples (in a value shape)"
    return None


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
        self.paths = _paths(reach.sequences)
        # classes, actors, issues and vocabulary are pointed at from every document: their types are read once
        self._types = functools.lru_cache(maxsize=TYPES_KEPT)(lambda node: self._own(node, RDF_TYPE, None))
        self.homes: dict[Home, set[ox.NamedNode | ox.BlankNode]] = defaultdict(set)
        for graph in own:
            for focus in self._targets(graph):
                home = (graph.value, "") if isinstance(graph, ox.NamedNode) else ("", str(focus))
                self.homes[home].add(focus)

    def axioms(self) -> list[Triple]:
        """The subclass axioms pyshacl follows for targets and sh:class: part of every batch and of the key."""
        return sorted(self._own(None, SUBCLASS_OF, None), key=str)

    def triples(self, home: Home, reads: Reads | None = None) -> set[Triple]:
        """The home's neighbourhood; `reads` receives the nodes whose triples it asked for (the focus nodes and
        those on its paths) and those whose type it asked for (whatever their triples point at): see
        app.shape_changes."""
        found: set[Triple] = set()
        reads = reads if reads is not None else Reads()
        for focus in self.homes[home]:
            self._follow(self._add(self._own(focus, None, None), found), self.paths, found, reads.whole)
        reads.whole.update(self.homes[home])
        reads.types.update(o for _, _, o in found if not isinstance(o, ox.Literal))
        return found

    def _follow(self, triples: list[Triple], paths: "Paths", found: set[Triple], followed: set) -> None:
        """From a node's `triples`, the triples along each path's next step (and on), each prefix read once; the
        nodes read on the way go to `followed`."""
        for step, further in paths.items():
            for _, predicate, obj in triples:
                if predicate == step and not isinstance(obj, ox.Literal):
                    if further:  # at a path's end only the node's type is read (by _add)
                        followed.add(obj)
                    self._follow(self._add(self._steps(obj, further), found), further, found, followed)

    def _steps(self, node, paths: "Paths") -> list[Triple]:
        """The node's triples along the next steps of `paths`: in one read when there are several."""
        if len(paths) == 1:
            return self._own(node, next(iter(paths)), None)
        return [triple for triple in self._own(node, None, None) if triple[1] in paths] if paths else []

    def _add(self, triples: list[Triple], found: set[Triple]) -> list[Triple]:
        """Add `triples` and the rdf:type of the nodes they point at (what sh:class reads)."""
        found.update(triples)
        for _, _, obj in triples:
            if not isinstance(obj, ox.Literal):
                found.update(self._types(obj))
        return triples

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

    def _own(self, subject, predicate, obj) -> list[Triple]:
        own = self.own
        return [
            (q.subject, q.predicate, q.object)
            for q in self.store.quads_for_pattern(subject, predicate, obj)
            if q.graph_name in own
        ]


Paths = dict[ox.NamedNode, "Paths"]  # the sequence paths as a tree: each step, then the steps after it


def _paths(sequences: Iterable[tuple[str, ...]]) -> Paths:
    tree: Paths = {}
    for sequence in sequences:
        level = tree
        for step in sequence:
            level = level.setdefault(ox.NamedNode(step), {})
    return tree


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


def document_results(
    store: ox.Store,
    own: set,
    shapes_file: Path,
    verdicts: VerdictCache,
    sources: Sequence[SourceFile] = (),
    as_loaded: Callable[[], bool] = lambda: False,
) -> list[ShapeResult] | None:
    """Every SHACL result, home by home, reusing the verdict of each unchanged home; None if the shapes are not
    ones this module can split (then the caller validates the whole corpus at once).

    A home that no changed file touched since its last check keeps its verdict without being read (see
    app.shape_changes; `sources` are the files of the hand-made graphs, and `as_loaded` says whether they are
    still those the store was built from: only then are they recorded). Every other home's neighbourhood is read
    once: fingerprinted, and if it changed, put in the next batch at once, so the batch workers validate while
    the remaining homes are still being read."""
    shapes_text = shapes_file.read_text(encoding="utf-8")
    reach = Reach.of(rdflib.Graph().parse(data=shapes_text, format="turtle"))
    if reach.unsupported:
        log.info("SHACL shapes over the whole corpus at once: %s", reach.unsupported)
        return None
    hood = Neighbourhoods(store, own, reach)
    axioms = hood.axioms()
    key = f"documents-{verdict_key(shapes_text, ntriples(axioms))}"  # besides each home's own triples
    record = Record.of(verdicts.read(key))
    prints: dict[Home, tuple[str, bytes, bytes]] = {}  # each home's fingerprint and reads (whole, types)
    read, checked = [], []  # the homes read again, and those of them that had changed
    changes = Changes(list(sources), record.files, store)

    def changed() -> Iterator[tuple[Home, set[Triple]]]:
        for home in hood.homes:
            kept = record.homes.get(home_key(home))
            if kept and kept[0] in record.verdicts and changes.untouched(home[0], *kept[1:]):
                prints[home] = kept
                continue
            reads = Reads()
            triples = hood.triples(home, reads)
            read.append(home)
            prints[home] = fingerprint(triples), *reads.hashes()
            if prints[home][0] not in record.verdicts:
                checked.append(home)
                yield home, triples

    homes = len(hood.homes)
    log.info("SHACL shapes: checking what changed among %d documents and nodes since their last check", homes)
    found = _validate(hood, changed(), axioms, shapes_text)
    verdicts_now = {**record.verdicts, **{prints[home][0]: found.get(home, []) for home in checked}}
    log.info(
        "SHACL shapes: %d of %d documents and nodes had changed and were checked (%d read, the others untouched "
        "by the files that changed)",
        len(checked),
        homes,
        len(read),
    )
    now = Record({digest: verdicts_now[digest] for digest, *_ in prints.values()}, {}, {})
    if as_loaded():
        now.homes, now.files = {home_key(home): kept for home, kept in prints.items()}, changes.files()
    if now != record:
        verdicts.write(key, now.payload())
    return [_homed(result, home) for home, (digest, *_) in prints.items() for result in now.verdicts[digest]]


def _homed(result: ShapeResult, home: Home) -> ShapeResult:
    """A blank focus node's result with its home's graph: its label is the load's that checked it."""
    return replace(result, graph=home[0]) if result.focus.startswith("_:") else result


def home_key(home: Home) -> str:
    return "\t".join(home)


@dataclass
class Record:
    """What is kept of a check: the verdict of each neighbourhood (by fingerprint), and, when the files checked
    were the files loaded, each home's fingerprint and reads and each file's record (see app.shape_changes)."""

    verdicts: dict[str, list[ShapeResult]]
    homes: dict[str, tuple[str, bytes, bytes]]
    files: dict[str, FileRecord]

    @classmethod
    def of(cls, payload: object) -> "Record":
        """The record read back, or an empty one if the file is not what this module writes."""
        try:
            verdicts, homes, files = payload["verdicts"].items(), payload["homes"].items(), payload["files"].items()
            return cls(
                {digest: [ShapeResult(**fields) for fields in results] for digest, results in verdicts},
                {home: (digest, decode(whole), decode(types)) for home, (digest, whole, types) in homes},
                {name: (sha, graph, decode(subjects)) for name, (sha, graph, subjects) in files},
            )
        except (AttributeError, KeyError, TypeError, ValueError):
            return cls({}, {}, {})

    def payload(self) -> dict:
        return {
            "verdicts": {digest: [asdict(r) for r in results] for digest, results in sorted(self.verdicts.items())},
            "homes": {home: (kept[0], *map(encode, kept[1:])) for home, kept in self.homes.items()},
            "files": {name: (sha, graph, encode(subjects)) for name, (sha, graph, subjects) in self.files.items()},
        }


def _validate(
    hood: Neighbourhoods, changed: Iterator[tuple[Home, set[Triple]]], axioms: list[Triple], shapes: str
) -> dict[Home, list[ShapeResult]]:
    """The results of the changed homes (those that have any), validated in batches (see `batch_size`): here if
    there is one, else by one batch worker process per core (see `batch_worker`), each taking the next batch
    when done."""
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
    lock, failed = threading.Lock(), threading.Event()

    def drain() -> list[tuple[dict, list[ShapeResult]]]:
        done = []
        worker = subprocess.Popen(BATCH_WORKER, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            while not failed.is_set():  # once one worker failed, the load fails: the others stop too
                with lock:
                    job = next(jobs, None)
                if job is None:
                    break
                done.append((job[2], _exchange(worker, job)))
        except Exception:
            failed.set()
            raise
        finally:
            _stop(worker)
        return done

    cores = _cores()
    with ThreadPoolExecutor(cores, thread_name_prefix="shacl") as threads:
        return [outcome for outcomes in threads.map(lambda _: drain(), range(cores)) for outcome in outcomes]


def _exchange(worker: subprocess.Popen, job: tuple) -> list[ShapeResult]:
    """One batch's results from a worker."""
    try:
        pickle.dump(job, worker.stdin)
        worker.stdin.flush()
        answer = pickle.load(worker.stdout)
    except (EOFError, BrokenPipeError):
        raise LoadFailed(f"a SHACL batch worker ended before answering ({_ending(worker.wait())})") from None
    if isinstance(answer, ShapesRefused):
        raise answer
    return answer


def _stop(worker: subprocess.Popen) -> None:
    """End a worker (it stops at the end of its input) and wait for it, also if it died with a job unread."""
    with contextlib.suppress(BrokenPipeError):
        worker.stdin.close()
    worker.stdout.close()
    worker.wait()


def _ending(status: int) -> str:
    if status < 0:
        return f"killed by {signal.Signals(-status).name}; out of memory?"
    return f"exit status {status}; its error is on standard error"


def batch_size(quads: int, cores: int) -> int:
    """Triples per batch for a store of `quads`: a quarter of each core's share, so that every core has work and
    one that finishes early takes another batch; at least MIN_BATCH, at most BATCH_TRIPLES.

    One batch of a whole 100k corpus took 8.6 s where batches of 12k on two cores took 4.8 s."""
    return min(BATCH_TRIPLES, max(MIN_BATCH, quads // (4 * cores)))


def _cores() -> int:
    return len(os.sched_getaffinity(0))


def _batches(
    hood: Neighbourhoods, changed: Iterable[tuple[Home, set[Triple]]]
) -> Iterator[tuple[set[Triple], dict[str, list[Home]]]]:
    """Homes put together until a batch holds `batch_size` triples or BATCH_TEXT characters of literals (the
    documents' full texts); with which homes each focus node is at."""
    size = functools.cache(lambda: batch_size(len(hood.store), _cores()))  # counting costs 0.6 s at 10M: if needed
    triples: set[Triple] = set()
    focus: dict[str, list[Home]] = defaultdict(list)
    text = 0
    for home, neighbourhood in changed:
        new = neighbourhood - triples
        triples |= new
        text += sum(len(o.value) for _, _, o in new if isinstance(o, ox.Literal))
        for node in hood.homes[home]:
            focus[node_key(node)].append(home)
        if len(triples) >= size() or text >= BATCH_TEXT:
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
    report = run_shapes(graph, aimed)
    return [r for r in report_results(report, lambda node: labels.get(node, str(node))) if r.focus in focus]


class ShapesRefused(Exception):
    """pyshacl cannot use the shapes (an unknown constraint, a malformed SPARQL constraint...): its reason."""


def run_shapes(data: rdflib.Graph, shapes: rdflib.Graph) -> rdflib.Graph:
    """pyshacl's report of `data` against `shapes` (warnings do not make it fail)."""
    try:
        _, report, _ = shacl_validate(data, shacl_graph=shapes, inference="none", allow_warnings=True)
    except ReportableRuntimeError as err:  # a constraint pyshacl cannot read
        raise ShapesRefused(err.message) from None
    except ParseBaseException as err:  # the query of a SPARQL constraint
        raise ShapesRefused(f"a SPARQL constraint does not parse: {err}") from None
    return report


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
        try:
            answer: object = validate_batch(*job)
        except ShapesRefused as err:
            answer = err
        pickle.dump(answer, sys.stdout.buffer)
        sys.stdout.buffer.flush()


if __name__ == "__main__":  # run as a script: answer with the classes of the module itself, not of __main__
    from app.shape_documents import batch_worker as _worker

    _worker()
