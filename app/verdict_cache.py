"""SHACL verdicts kept on disk, so that a load identical to an earlier one does not run pyshacl again.

pyshacl takes about a minute at a million triples. Without this, every restart over unchanged files would
repeat it, and so would `stancegraph serve --workers N`: its parent builds the store once, then each app
process loads data/ again. A verdict is stored under a key that hashes everything it depends on: the
corpus fingerprint (every data file, text, ontology file, shape and rule), the code that turns pyshacl's
report into problems with file and line, and the versions of pyshacl, rdflib and pyoxigraph. Equal keys,
equal verdicts.
The verdicts of each document, for a corpus that changed, are kept here too (see app.shape_documents).
"""

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from dataclasses import asdict
from importlib.metadata import version
from pathlib import Path
from typing import Any

from app.problems import Problem

log = logging.getLogger("stancegraph.load")
KEPT = 16  # verdict files; the least recently used go first (a corpus's: KB; its documents': ~3.1 KB each)
KEPT_BYTES = 256 * 2**20  # and no more bytes of them than this, but for the last used (62 MB at 10M triples)
# what turns a corpus into its verdict
VERDICT_CODE = ("validation.py", "shape_documents.py", "shape_changes.py", "problems.py")


def verdict_key(*inputs: str) -> str:
    """The key of a verdict on these inputs (a corpus fingerprint; shapes and axioms), under this code and
    these libraries."""
    digest = hashlib.sha256()
    for text in inputs:
        digest.update(hashlib.sha256(text.encode()).digest())
    for library in ("pyshacl", "rdflib", "pyoxigraph"):
        digest.update(f"{library}={version(library)}".encode())
    for code in VERDICT_CODE:
        digest.update(Path(__file__).with_name(code).read_bytes())
    return digest.hexdigest()


class VerdictCache:
    """Verdicts as JSON files in `directory` (None: keep nothing). Reading never fails a load: a missing,
    unreadable or damaged file is a miss, and the shapes run."""

    def __init__(self, directory: Path | None):
        self.directory = directory

    def get(self, key: str) -> list[Problem] | None:
        """The problems kept for a whole corpus."""
        kept = self.read(key)
        try:
            return None if kept is None else [Problem(**fields) for fields in kept]
        except TypeError:
            return None

    def put(self, key: str, verdict: list[Problem]) -> None:
        self.write(key, [asdict(problem) for problem in verdict])

    def read(self, key: str) -> Any:
        if self.directory is None:
            return None
        path = self._path(key)
        try:
            kept = json.loads(path.read_bytes())
        except (OSError, ValueError):
            return None
        with contextlib.suppress(OSError):
            path.touch()  # recently used: pruned last
        return kept

    def write(self, key: str, payload: Any) -> None:
        """Keep a verdict (written whole, then renamed: a reader never sees half a file); failure only logs."""
        if self.directory is None:
            return
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("w", dir=self.directory, suffix=".tmp", delete=False) as out:
                json.dump(payload, out)
            os.replace(out.name, self._path(key))
            self._prune()
        except OSError as err:
            log.warning("cannot keep the SHACL verdict in %s: %s", self.directory, err)

    def _path(self, key: str) -> Path:
        return self.directory / f"shacl-{key}.json"

    def _prune(self) -> None:
        """Keep the KEPT verdicts used last, within KEPT_BYTES: a large corpus whose shapes changed often would
        otherwise leave a 62 MB record per version of its shapes."""
        files = sorted(((*_use(path), path) for path in self.directory.glob("shacl-*.json")), reverse=True)
        total = 0
        for rank, (_, size, path) in enumerate(files):
            total += size
            if rank >= KEPT or (rank and total > KEPT_BYTES):
                path.unlink(missing_ok=True)


def _use(path: Path) -> tuple[float, int]:
    """When the file was last used, and its size."""
    try:
        stat = path.stat()
    except FileNotFoundError:  # pruned meanwhile by another process
        return 0.0, 0
    return stat.st_mtime, stat.st_size
