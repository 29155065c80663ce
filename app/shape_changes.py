"""Which homes' SHACL neighbourhoods may have changed since their last check, told without reading them.

Reading and canonicalizing every home's neighbourhood to find the one document that changed took 7 s at 1M
and most of two minutes at 10M. A neighbourhood is read by asking the store for the triples of a set of
subjects (the home's focus nodes and every node whose triples or type it follows: its *reads*), so it can only
change if a triple about one of its reads is added or removed, or if its graph gains or loses focus nodes. Both
happen only by changing a file. So each home's reads and each own file's subjects are kept beside the
verdicts, and a home is read again only if a file of its graph changed, or a changed file has or had a triple
about one of its reads (its subjects before and after the change). Nodes are kept as 8-byte hashes of their
IRIs: a collision only reads a home again. Blank nodes are not kept: their triples are all in one file, where
the chain of blank nodes hangs from an IRI that the home reads too, or from a focus node of the home's graph.
A text file is the one triple sg:fullText of its document.
"""

import base64
import functools
import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyoxigraph as ox

HASH_BYTES = 8


@dataclass(frozen=True)
class SourceFile:
    """A file whose content is in the hand-made graphs: RDF (in `graph`, "" for the default graph) or a
    document's text (the sg:fullText of `subject`, in the default graph)."""

    name: str
    path: Path
    graph: str
    subject: str | None = None

    def sha256(self) -> str:
        try:
            return hashlib.sha256(self.path.read_bytes()).hexdigest()
        except FileNotFoundError:
            return ""


def hashes(iris: Iterable[str]) -> bytes:
    return b"".join(sorted({hashlib.blake2b(iri.encode(), digest_size=HASH_BYTES).digest() for iri in iris}))


def node_hashes(nodes: Iterable[ox.NamedNode | ox.BlankNode]) -> bytes:
    return hashes(node.value for node in nodes if isinstance(node, ox.NamedNode))


def _each(blob: bytes) -> Iterator[bytes]:
    return (blob[i : i + HASH_BYTES] for i in range(0, len(blob), HASH_BYTES))


def encode(blob: bytes) -> str:
    return base64.b64encode(blob).decode("ascii")


def decode(text: str) -> bytes:
    return base64.b64decode(text)


FileRecord = tuple[str, str, bytes]  # sha256, graph, subjects


class Changes:
    """The files changed since `recorded` (name -> FileRecord), the graphs they are in and the subjects they
    touch, now and before the change."""

    def __init__(self, sources: list[SourceFile], recorded: dict[str, FileRecord], store: ox.Store):
        self.recorded, self.store = recorded, store
        self.now = {source.name: (source, source.sha256()) for source in sources}
        self.changed = [name for name, (_, sha) in self.now.items() if not sha or recorded.get(name, ("",))[0] != sha]
        self.removed = [name for name in recorded if name not in self.now]
        self.graphs = {self.now[name][0].graph for name in self.changed} | {recorded[n][1] for n in self.removed}
        files_in = Counter(source.graph for source in sources)
        self._alone = {graph for graph, files in files_in.items() if files == 1 and graph}  # its one file's triples
        self._touched: set[bytes] | None = None

    def untouched(self, graph: str, reads: bytes) -> bool:
        """Whether a home in `graph` ("" for a node of the default graph) with these reads is as it was."""
        if graph and graph in self.graphs:
            return False
        if self._touched is None:
            before = [self.recorded[name][2] for name in [*self.changed, *self.removed] if name in self.recorded]
            now = [subjects for _, _, subjects in self._changed_records.values()]
            self._touched = {node for blob in [*before, *now] for node in _each(blob)}
        return not any(node in self._touched for node in _each(reads))

    def files(self) -> dict[str, FileRecord]:
        """The record of every file as it is now."""
        kept = {name: record for name, record in self.recorded.items() if self.now.get(name, (None, ""))[1]}
        return {**kept, **self._changed_records}

    @functools.cached_property
    def _changed_records(self) -> dict[str, FileRecord]:
        return {
            name: (sha, source.graph, self._subjects(source))
            for name in self.changed
            for source, sha in [self.now[name]]
            if sha
        }

    def _subjects(self, source: SourceFile) -> bytes:
        """The hashes of the IRIs a file says something about: read from the store where its graph is its own
        (fast), else from the file."""
        if source.subject is not None:
            return hashes([source.subject])
        if source.graph in self._alone:
            quads = self.store.quads_for_pattern(None, None, None, ox.NamedNode(source.graph))
        else:
            quads = ox.parse(path=source.path, format=ox.RdfFormat.TURTLE)
        return hashes({q.subject.value for q in quads if isinstance(q.subject, ox.NamedNode)})
