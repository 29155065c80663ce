"""Which files make up the dataset and which named graph each one goes to.

Layout (see docs/encoding.md):
  ontology/*.ttl            -> graph id:graph/ontology      (shapes.ttl is for validation only)
  data/entities.ttl         -> graph id:graph/entities      (the authority file of actors, proposals, ...)
  data/links/*.ttl          -> graph id:graph/links         (skos:exactMatch to Wikidata, DBpedia)
  data/sources/ID.ttl       -> default graph                (document metadata)
  data/sources/ID.txt       -> sg:fullText of the document  (verbatim text)
  data/encodings/ID.ttl     -> graph id:graph/ID            (everything encoded from document ID)
  data/imports/NAME.ttl     -> default graph                (provenance of an external extract)
  data/imports/NAME.nt      -> the graph NAME.ttl names     (the extract, written by `stancegraph import`)
"""

import hashlib
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from app.imports import imported_graphs
from app.namespaces import ENTITIES_GRAPH, LINKS_GRAPH, ONTOLOGY_GRAPH, document_graph, document_iri
from app.problems import Problem, relative
from app.settings import Settings


@dataclass(frozen=True)
class DataFile:
    """An RDF file and the named graph it is loaded into (None: the default graph)."""

    path: Path
    graph: str | None


@dataclass(frozen=True)
class SourceDocument:
    """A source text with its metadata file and (once encoded) its encoding file."""

    doc_id: str
    metadata: Path
    text: Path
    encoding: Path

    @property
    def iri(self) -> str:
        return document_iri(self.doc_id)

    @property
    def graph(self) -> str:
        return document_graph(self.doc_id)

    def read_text(self) -> str:
        return self.text.read_text(encoding="utf-8")

    def sha256(self) -> str:
        return hashlib.sha256(self.text.read_bytes()).hexdigest()


@dataclass(frozen=True)
class Corpus:
    """Everything under data/ and ontology/ that is loaded, found by convention rather than listed by hand."""

    settings: Settings

    @property
    def root(self) -> Path:
        return self.settings.data_dir.parent

    def documents(self) -> list[SourceDocument]:
        sources = self.settings.data_dir / "sources"
        encodings = self.settings.data_dir / "encodings"
        return [
            SourceDocument(meta.stem, meta, meta.with_suffix(".txt"), encodings / meta.name)
            for meta in sorted(sources.glob("*.ttl"), key=_by_name)
        ]

    def snapshot(self) -> "CorpusSnapshot":
        """This corpus listed once, for a load: it asks for the same lists many times and must see one state."""
        return CorpusSnapshot(self.settings)

    def document_by_graph(self) -> dict[str, SourceDocument]:
        return {doc.graph: doc for doc in self.documents()}

    def data_files(self) -> list[DataFile]:
        """Every RDF file to load, in load order."""
        data = self.settings.data_dir
        ontology = [DataFile(p, ONTOLOGY_GRAPH) for p in self.settings.ontology_files()]
        entities = [DataFile(p, ENTITIES_GRAPH) for p in sorted(data.glob("entities*.ttl"))]
        links = [DataFile(p, LINKS_GRAPH) for p in sorted((data / "links").glob("*.ttl"))]
        documents = self.documents()
        metadata = [DataFile(doc.metadata, None) for doc in documents]
        encodings = [DataFile(doc.encoding, doc.graph) for doc in documents if doc.encoding.exists()]
        imports = [
            f
            for i in imported_graphs(data)
            for f in (DataFile(i.provenance_file, None), DataFile(i.data_file, i.graph))
        ]
        return ontology + entities + links + metadata + encodings + imports

    def fingerprint(self) -> str:
        """A hash of everything a load reads (data, texts, shapes, rules, the validation switch).

        Equal fingerprints mean an equal load, so a persistent store built from these files can serve again
        without rebuilding, and every process serving them agrees on the data version.
        """
        digest = hashlib.sha256(f"validate={self.settings.validate_on_load}".encode())
        root = self.root.absolute()
        for path, sha in self.digests().items():  # names without resolving symlinks: thousands cost a second at 1M
            digest.update(os.path.relpath(path.absolute(), root).encode() + b"\0")
            digest.update(bytes.fromhex(sha))
        return digest.hexdigest()

    def digests(self) -> dict[Path, str]:
        """Each file a load reads and the sha256 of its bytes ("" if it is missing)."""
        inputs = [f.path for f in self.data_files()] + [d.text for d in self.documents() if d.text.exists()]
        inputs += [self.settings.shapes_file, *sorted(self.settings.rules_dir.glob("*.rq"))]
        return {path: _sha256(path) for path in inputs}

    def own_files(self) -> list[DataFile]:
        """The files written by this project: everything but imported extracts (ours to validate)."""
        imported = {p for i in imported_graphs(self.settings.data_dir) for p in (i.data_file, i.provenance_file)}
        return [f for f in self.data_files() if f.path not in imported]

    def layout_problems(self) -> list[Problem]:
        """Files that break the layout: a text without metadata, an encoding without a document, and a data
        directory that is not there (a mistyped --data-dir was validated as an empty, valid corpus)."""
        data = self.settings.data_dir
        if not data.is_dir():
            return [Problem(str(data), 0, "no data directory here: check --data-dir or STANCEGRAPH_DATA_DIR")]
        problems = []
        if not (data / "sources").is_dir():
            problems.append(Problem(str(data), 0, "no sources/ folder: the corpus has no documents", "warning"))
        documents = self.documents()
        known = {doc.doc_id for doc in documents}
        for doc in documents:
            if not doc.text.exists():
                problems.append(Problem(self.name(doc.metadata), 0, f"text file {doc.text.name} is missing"))
        for encoding in sorted((self.settings.data_dir / "encodings").glob("*.ttl"), key=_by_name):
            if encoding.stem not in known:
                problems.append(
                    Problem(self.name(encoding), 0, f"no source document sources/{encoding.stem}.ttl for this encoding")
                )
        for text in sorted((self.settings.data_dir / "sources").glob("*.txt"), key=_by_name):
            if text.stem not in known:
                problems.append(Problem(self.name(text), 0, f"no metadata file sources/{text.stem}.ttl for this text"))
        return problems

    def name(self, path: Path) -> str:
        """The path as shown in messages: relative to the project."""
        return relative(path, self.root)


class CorpusSnapshot(Corpus):
    """The documents and data files as they were when first asked for (2,000 documents take 70 ms to list)."""

    @cached_property
    def _documents(self) -> list[SourceDocument]:
        return super().documents()

    @cached_property
    def _data_files(self) -> list[DataFile]:
        return super().data_files()

    @cached_property
    def _digests(self) -> dict[Path, str]:
        return super().digests()

    def documents(self) -> list[SourceDocument]:
        return self._documents

    def data_files(self) -> list[DataFile]:
        return self._data_files

    def digests(self) -> dict[Path, str]:
        """As the files were when first asked for: the SHACL check records these, the fingerprint before the
        load vouches for them."""
        return self._digests

    def snapshot(self) -> "CorpusSnapshot":
        return self


def _sha256(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return ""


def _by_name(path: Path) -> str:
    """Sort key for the files of one directory (comparing Path objects costs a tenth of a second per 2,000)."""
    return path.name
