"""External extracts (Wikidata, DBpedia, ...) imported into their own named graphs, kept as files in data/imports/.

An import is part of the corpus like any other file, so it survives reloads and restarts: the extract is
normalised to N-Triples (`data/imports/NAME.nt`) and described by a provenance file (`NAME.ttl`: graph IRI,
source, date, triple count, checksum) that is loaded into the default graph. Both are written to temporary
files first and renamed, so an interrupted import leaves no half file behind.
"""

import datetime
import hashlib
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pyoxigraph as ox

from app.namespaces import DCTERMS, ID, IMPORT_GRAPHS, PROV, SG, XSD
from app.problems import parser_reason

VOID_TRIPLES = "http://rdfs.org/ns/void#triples"
IMPORTED_GRAPH = SG + "ImportedGraph"
DATA_FILE = SG + "dataFile"
FORMATS = {
    ".nt": ox.RdfFormat.N_TRIPLES,
    ".ttl": ox.RdfFormat.TURTLE,
    ".nq": ox.RdfFormat.N_QUADS,
    ".trig": ox.RdfFormat.TRIG,
    ".jsonld": ox.RdfFormat.JSON_LD,
    ".json": ox.RdfFormat.JSON_LD,
    ".rdf": ox.RdfFormat.RDF_XML,
    ".owl": ox.RdfFormat.RDF_XML,
}


class ImportRefused(ValueError):
    """An import that was refused (bad graph IRI, unknown format, a file that does not parse): nothing written."""


@dataclass(frozen=True)
class ImportedGraph:
    """One import as recorded in its provenance file."""

    graph: str
    data_file: Path
    provenance_file: Path
    triples: int


def imports_dir(data_dir: Path) -> Path:
    return data_dir / "imports"


def default_graph_for(source: Path) -> str:
    """id:graph/import/NAME for a file called NAME.ext."""
    return IMPORT_GRAPHS + _slug(source.name.split(".")[0])


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "import"


def _file_stem(graph: str) -> str:
    """A file name for a graph IRI: readable and unique (a short hash keeps distinct IRIs apart)."""
    tail = graph.rstrip("/#").rsplit("/", 1)[-1].rsplit("#", 1)[-1]
    return f"{_slug(tail)}-{hashlib.sha256(graph.encode()).hexdigest()[:8]}"


def format_of(path: Path, name: str | None = None) -> ox.RdfFormat:
    """The RDF format named (nt, ttl, nq, trig, jsonld, rdfxml) or guessed from the file extension."""
    if name:
        by_name = {"nt": ".nt", "ntriples": ".nt", "ttl": ".ttl", "turtle": ".ttl", "nq": ".nq", "nquads": ".nq"}
        by_name |= {"trig": ".trig", "jsonld": ".jsonld", "json-ld": ".jsonld", "rdfxml": ".rdf"}
        if name.lower() not in by_name:
            raise ImportRefused(f"unknown format {name!r}: use one of {', '.join(sorted(by_name))}")
        return FORMATS[by_name[name.lower()]]
    suffixes = [s.lower() for s in path.suffixes]
    for suffix in reversed(suffixes):
        if suffix in FORMATS:
            return FORMATS[suffix]
    raise ImportRefused(f"cannot tell the RDF format of {path.name}: give --format (nt, ttl, nq, trig, jsonld)")


class _CountingReader:
    """A binary file that reports how many bytes the parser has read (for a progress bar)."""

    def __init__(self, handle: BinaryIO, advance: Callable[[int], None]):
        self._handle = handle
        self._advance = advance

    def read(self, size: int = -1) -> bytes:
        chunk = self._handle.read(size)
        self._advance(len(chunk))
        return chunk

    def readable(self) -> bool:
        return True


def import_file(
    data_dir: Path,
    source: Path,
    graph: str,
    format_name: str | None = None,
    advance: Callable[[int], None] = lambda _: None,
) -> ImportedGraph:
    """Parse `source` fully, then write it as NAME.nt with its provenance; replaces an earlier import of `graph`.

    IRIs in the project's namespace are refused except under id:graph/import/: the rest are our own graphs.
    Quads of a dataset format all land in `graph`: an extract is one graph here, whatever it was before.
    """
    graph = ox.NamedNode(graph).value
    if graph.startswith(ID) and not graph.startswith(IMPORT_GRAPHS):
        raise ImportRefused(f"{graph} is one of the project's own graphs; import into another IRI")
    fmt = format_of(source, format_name)
    target = imports_dir(data_dir)
    target.mkdir(parents=True, exist_ok=True)
    stem = _file_stem(graph)
    data_file, provenance_file = target / f"{stem}.nt", target / f"{stem}.ttl"
    partial = data_file.with_suffix(".nt.partial")
    try:
        with source.open("rb") as handle, partial.open("wb") as out:
            count = _convert(_CountingReader(handle, advance), fmt, out)
    except SyntaxError as err:
        partial.unlink(missing_ok=True)
        detail = parser_reason(re.sub(r"^Parser error at line \d+ column \d+: ", "", str(err.msg)))
        position = f":{err.lineno}" + (f":{err.offset}" if err.offset else "") if err.lineno else ""
        where = f"{source}{position}"  # JSON-LD's structural errors have no line
        raise ImportRefused(f"{where}: does not parse as {fmt.name}: {detail}") from None
    except OSError as err:
        partial.unlink(missing_ok=True)
        raise ImportRefused(f"{source}: {err.strerror or err}") from None
    provenance = _provenance(graph, source, data_file, count, _sha256(partial))
    os.replace(partial, data_file)  # a data file without provenance is not loaded: write it first
    _write_atomically(provenance_file, provenance)
    return ImportedGraph(graph, data_file, provenance_file, count)


def _convert(reader: _CountingReader, fmt: ox.RdfFormat, out: BinaryIO) -> int:
    """Stream the source into N-Triples; returns the number of triples written."""
    count = 0

    def triples() -> Iterator[ox.Triple]:
        nonlocal count
        for item in ox.parse(reader, format=fmt):
            count += 1
            yield item.triple if isinstance(item, ox.Quad) else item

    ox.serialize(triples(), out, format=ox.RdfFormat.N_TRIPLES)
    return count


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _provenance(graph: str, source: Path, data_file: Path, triples: int, sha256: str) -> bytes:
    subject = ox.NamedNode(graph)
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")

    def literal(value: str, datatype: str | None = None) -> ox.Literal:
        return ox.Literal(value, datatype=ox.NamedNode(datatype)) if datatype else ox.Literal(value)

    statements = [
        (ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type"), ox.NamedNode(IMPORTED_GRAPH)),
        (ox.NamedNode(DCTERMS + "source"), literal(source.name)),
        (ox.NamedNode(PROV + "generatedAtTime"), literal(now, XSD + "dateTime")),
        (ox.NamedNode(VOID_TRIPLES), literal(str(triples), XSD + "integer")),
        (ox.NamedNode(DATA_FILE), literal(f"imports/{data_file.name}")),
        (ox.NamedNode(SG + "sha256"), literal(sha256)),
    ]
    header = (
        b"# Provenance of an import (written by `stancegraph import`; remove with `stancegraph import --remove`).\n"
    )
    triples_ = [ox.Triple(subject, p, o) for p, o in statements]
    return header + ox.serialize(triples_, format=ox.RdfFormat.TURTLE, prefixes={"sg": SG, "prov": PROV})


def _write_atomically(path: Path, content: bytes) -> None:
    partial = path.with_suffix(path.suffix + ".partial")
    partial.write_bytes(content)
    os.replace(partial, path)


def imported_graphs(data_dir: Path) -> list[ImportedGraph]:
    """Every import recorded in data/imports/, from its provenance file."""
    found = []
    for provenance_file in sorted(imports_dir(data_dir).glob("*.ttl")):
        found.extend(_read_provenance(provenance_file))
    return found


def _read_provenance(provenance_file: Path) -> list[ImportedGraph]:
    try:
        triples = list(ox.parse(path=provenance_file, format=ox.RdfFormat.TURTLE))
    except SyntaxError:
        return []  # the loader reports the syntax error with its line
    by_subject: dict[str, dict[str, str]] = {}
    for t in triples:
        by_subject.setdefault(t.subject.value, {})[t.predicate.value] = t.object.value
    return [
        ImportedGraph(
            graph,
            provenance_file.parent.parent / values[DATA_FILE],
            provenance_file,
            int(values.get(VOID_TRIPLES, 0)),
        )
        for graph, values in by_subject.items()
        if DATA_FILE in values
    ]


def remove_import(data_dir: Path, graph: str) -> ImportedGraph:
    """Delete an import's files; ImportRefused if no import into `graph` exists."""
    for imported in imported_graphs(data_dir):
        if imported.graph == graph:
            imported.provenance_file.unlink()
            imported.data_file.unlink(missing_ok=True)
            return imported
    raise ImportRefused(f"no import into {graph}")
