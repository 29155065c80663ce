"""Which homes' SHACL neighbourhoods may have changed since their last check, told without reading them.

Reading and canonicalizing every home's neighbourhood to find the one document that changed took 7 s at 1M
and most of two minutes at 10M. A neighbourhood is read by asking the store for the triples of a set of
subjects (its *reads*): of the home's focus nodes and the nodes its sequence paths go through, all their
triples; of every other node they point at, only its rdf:type (what sh:class reads). So it can only change if
a triple about one of its reads is added or removed (for a type read, an rdf:type triple), or if its graph
gains or loses focus nodes. Both happen only by changing a file. So each home's reads are kept beside the
verdicts, and for each own file what it says of each subject (a hash of its predicates and objects there, and
one of its types); a home is read again only if a file of its graph changed, or a changed file changed what
it says of one of the home's reads. A new label or Wikidata link on an actor thus reads again only the homes
that read the actor's triples, not every document that names it. Nodes are kept as 8-byte hashes of their
IRIs: a collision only reads a home again. Blank nodes are not kept: their triples are all in one file, where
the chain of blank nodes hangs from an IRI (whose content then counts as changed whenever its file changes)
or is a focus node of the home's graph. A text file is the one triple sg:fullText of its document.
"""

import base64
import functools
import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
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
ENTRY = 3 * HASH_BYTES  # a subject, the hash of what a file says of it, and the hash of its types there
RDF_TYPE = str(ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type"))


def _hash(text: str) -> bytes:
    return hashlib.blake2b(text.encode(), digest_size=HASH_BYTES).digest()


NO_TYPES = _hash("")  # what a file that gives a subject no rdf:type says of its types


@dataclass
class Reads:
    """The nodes a neighbourhood was read from: `whole`, all their triples (or those along a path); `types`,
    only their rdf:type."""

    whole: set = field(default_factory=set)
    types: set = field(default_factory=set)

    def hashes(self) -> tuple[bytes, bytes]:
        """(the whole reads, the type-only reads) as the record keeps them."""
        return node_hashes(self.whole), node_hashes(self.types - self.whole)


def node_hashes(nodes: Iterable[ox.NamedNode | ox.BlankNode]) -> bytes:
    return b"".join(sorted({_hash(node.value) for node in nodes if isinstance(node, ox.NamedNode)}))


def _each(blob: bytes, size: int = HASH_BYTES) -> Iterator[bytes]:
    return (blob[i : i + size] for i in range(0, len(blob), size))


def contents(quads: Iterable[ox.Quad]) -> bytes:
    """For each IRI subject of these quads, sorted 24-byte entries: its hash, the hash of what they say of it
    and the hash of its types among it (VOLATILE where a blank node is among them: its triples may change while
    these stay the same)."""
    said: dict[str, set[str]] = {}
    for quad in quads:
        if isinstance(quad.subject, ox.NamedNode):
            obj = quad.object
            said.setdefault(quad.subject.value, set()).add(
                f"{quad.predicate} {'_:' if isinstance(obj, ox.BlankNode) else obj}"
            )
    return b"".join(sorted(_entry(subject, lines) for subject, lines in said.items()))


def _entry(subject: str, lines: set[str]) -> bytes:
    types = {line for line in lines if line.startswith(RDF_TYPE)}
    return _hash(subject) + _content(lines) + (_content(types) if types else NO_TYPES)


def _content(lines: set[str]) -> bytes:
    return VOLATILE if any(line.endswith(" _:") for line in lines) else _hash("\n".join(sorted(lines)))


def text_contents(subject: str, sha256: str) -> bytes:
    """What a document's text file says: one untyped triple of its subject, which changes with the file."""
    return _hash(subject) + _hash(sha256) + NO_TYPES


def _by_subject(blob: bytes) -> dict[bytes, tuple[bytes, bytes]]:
    return {entry[:HASH_BYTES]: (entry[HASH_BYTES:-HASH_BYTES], entry[-HASH_BYTES:]) for entry in _each(blob, ENTRY)}


def _differing(before: bytes, after: bytes) -> tuple[set[bytes], set[bytes]]:
    """(the subjects whose content is not the same in two `contents` of a file, those whose types are not)."""
    old, new = _by_subject(before), _by_subject(after)
    absent = (None, NO_TYPES)
    subjects = old.keys() | new.keys()
    return (
        {s for s in subjects if _unlike(old.get(s, absent)[0], new.get(s, absent)[0])},
        {s for s in subjects if _unlike(old.get(s, absent)[1], new.get(s, absent)[1])},
    )


def _unlike(before: bytes | None, after: bytes | None) -> bool:
    return before != after or before == VOLATILE


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
        self.now = {source.name: source for source in sources}
        self.changed = [
            name for name, now in self.now.items() if recorded.get(name, ("",))[0] != now.sha256 or not now.sha256
        ]
        self.removed = [name for name in recorded if name not in self.now]
        self.graphs = {self.now[name].graph for name in self.changed} | {recorded[n][1] for n in self.removed}
        files_in = Counter(source.graph for source in sources)
        self._alone = {graph for graph, files in files_in.items() if files == 1 and graph}  # its one file's triples

    def untouched(self, graph: str, whole: bytes, types: bytes) -> bool:
        """Whether a home in `graph` ("" for a node of the default graph) that read all the triples of the nodes
        hashed in `whole` and the types of those in `types` is as it was."""
        if graph and graph in self.graphs:
            return False
        touched, retyped = self._touched
        return not any(node in touched for node in _each(whole)) and not any(node in retyped for node in _each(types))

    @functools.cached_property
    def _touched(self) -> tuple[set[bytes], set[bytes]]:
        """(the subjects of which a changed file now says something else, those whose types it changed)."""
        touched: set[bytes] = set()
        retyped: set[bytes] = set()
        now = self._changed_records
        for name in [*self.changed, *self.removed]:
            said, typed = _differing(self.recorded.get(name, ("", "", b""))[2], now.get(name, ("", "", b""))[2])
            touched |= said
            retyped |= typed
        return touched, retyped

    def files(self) -> dict[str, FileRecord]:
        """The record of every file as it is now."""
        kept = {name: record for name, record in self.recorded.items() if name in self.now and self.now[name].sha256}
        return {**kept, **self._changed_records}

    @functools.cached_property
    def _changed_records(self) -> dict[str, FileRecord]:
        changed = [self.now[name] for name in self.changed]
        return {
            source.name: (source.sha256, source.graph, self._contents(source)) for source in changed if source.sha256
        }

    def _contents(self, source: SourceFile) -> bytes:
        """What the file says of each subject: read from the store where its graph is its own (fast), else from
        the file; a text says its one triple, which changes with the file."""
        if source.subject is not None:
            return text_contents(source.subject, source.sha256)
        if source.graph in self._alone:
            return contents(self.store.quads_for_pattern(None, None, None, ox.NamedNode(source.graph)))
        return contents(ox.parse(path=source.path, format=ox.RdfFormat.TURTLE))
