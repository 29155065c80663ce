"""Which homes' SHACL neighbourhoods may have changed since their last check, told without reading them.

Reading and canonicalizing every home's neighbourhood to find the one document that changed took 7 s at 1M
and most of two minutes at 10M. A neighbourhood is read by asking the store for the triples of a set of
subjects (the home's focus nodes and every node whose triples or type it follows: its *reads*), so it can only
change if a triple about one of its reads is added or removed, or if its graph gains or loses focus nodes. Both
happen only by changing a file. So each home's reads are kept beside the verdicts, and for each own file the
content of each subject it speaks of (a hash of its predicates and objects there); a home is read again only if
a file of its graph changed, or a changed file changed what it says of one of the home's reads. Nodes are kept
as 8-byte hashes of their IRIs: a collision only reads a home again. Blank nodes are not kept: their triples
are all in one file, where the chain of blank nodes hangs from an IRI (whose content then counts as changed
whenever its file changes) or is a focus node of the home's graph. A text file is the one triple sg:fullText of
its document.
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
    sha256: str  # "" for a file that is missing
    subject: str | None = None


VOLATILE = b"\xff" * HASH_BYTES  # the content of a subject with a blank node: changed whenever its file is


def _hash(text: str) -> bytes:
    return hashlib.blake2b(text.encode(), digest_size=HASH_BYTES).digest()


def node_hashes(nodes: Iterable[ox.NamedNode | ox.BlankNode]) -> bytes:
    return b"".join(sorted({_hash(node.value) for node in nodes if isinstance(node, ox.NamedNode)}))


def _each(blob: bytes, size: int = HASH_BYTES) -> Iterator[bytes]:
    return (blob[i : i + size] for i in range(0, len(blob), size))


def contents(quads: Iterable[ox.Quad]) -> bytes:
    """Each IRI subject's hash and the hash of what these quads say of it (VOLATILE if a blank node is among
    it: its triples may change while these stay the same), as sorted 16-byte entries."""
    said: dict[str, set[str]] = {}
    for quad in quads:
        if isinstance(quad.subject, ox.NamedNode):
            obj = quad.object
            said.setdefault(quad.subject.value, set()).add(
                "_:" if isinstance(obj, ox.BlankNode) else f"{quad.predicate} {obj}"
            )
    return b"".join(
        sorted(
            _hash(subject) + (VOLATILE if "_:" in lines else _hash("\n".join(sorted(lines))))
            for subject, lines in said.items()
        )
    )


def _by_subject(blob: bytes) -> dict[bytes, bytes]:
    return {entry[:HASH_BYTES]: entry[HASH_BYTES:] for entry in _each(blob, 2 * HASH_BYTES)}


def _differing(before: bytes, after: bytes) -> set[bytes]:
    """The subjects whose content is not the same in two `contents` of a file."""
    old, new = _by_subject(before), _by_subject(after)
    return {
        subject
        for subject in old.keys() | new.keys()
        if old.get(subject) != new.get(subject) or old.get(subject) == VOLATILE
    }


def encode(blob: bytes) -> str:
    return base64.b64encode(blob).decode("ascii")


def decode(text: str) -> bytes:
    return base64.b64decode(text)


FileRecord = tuple[str, str, bytes]  # sha256, graph, contents


class Changes:
    """The files changed since `recorded` (name -> FileRecord), the graphs they are in and the subjects they
    touch, now and before the change."""

    def __init__(self, sources: list[SourceFile], recorded: dict[str, FileRecord], store: ox.Store):
        self.recorded, self.store = recorded, store
        self.now = {source.name: (source, source.sha256) for source in sources}
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
            now = self._changed_records
            self._touched = {
                subject
                for name in [*self.changed, *self.removed]
                for subject in _differing(self.recorded.get(name, ("", "", b""))[2], now.get(name, ("", "", b""))[2])
            }
        return not any(node in self._touched for node in _each(reads))

    def files(self) -> dict[str, FileRecord]:
        """The record of every file as it is now."""
        kept = {name: record for name, record in self.recorded.items() if self.now.get(name, (None, ""))[1]}
        return {**kept, **self._changed_records}

    @functools.cached_property
    def _changed_records(self) -> dict[str, FileRecord]:
        return {
            name: (sha, source.graph, self._contents(source, sha))
            for name in self.changed
            for source, sha in [self.now[name]]
            if sha
        }

    def _contents(self, source: SourceFile, sha: str) -> bytes:
        """What the file says of each subject: read from the store where its graph is its own (fast), else from
        the file; a text says its one triple, which changes with the file."""
        if source.subject is not None:
            return _hash(source.subject) + _hash(sha)
        if source.graph in self._alone:
            return contents(self.store.quads_for_pattern(None, None, None, ox.NamedNode(source.graph)))
        return contents(ox.parse(path=source.path, format=ox.RdfFormat.TURTLE))
