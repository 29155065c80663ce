"""Exports of the dataset: files for `stancegraph export`, and the gzipped N-Quads dump for harvesters.

The engine's serializers write every format; JSON-LD is then compacted with our context as it streams
(see jsonld.Compactor), so that it reads like JSON.
"""

import gzip
import io
import tempfile
from typing import BinaryIO

import pyoxigraph as ox

from app.cache import VersionedCache
from app.jsonld import write_compact
from app.store import Store

EXPORT_FORMATS = {
    "trig": ox.RdfFormat.TRIG,
    "nquads": ox.RdfFormat.N_QUADS,
    "jsonld": ox.RdfFormat.JSON_LD,
    "ttl": ox.RdfFormat.TURTLE,
    "nt": ox.RdfFormat.N_TRIPLES,
}

_dumps = VersionedCache(size=1)


def export_dataset(store: Store, out: BinaryIO, format: str, graph: str | None, context: dict) -> None:
    """Write the dataset (or one graph) in `format`; ValueError for a one-graph format without a graph."""
    native = EXPORT_FORMATS[format]
    if native != ox.RdfFormat.JSON_LD:
        store.dump(out, native, graph)
        return
    expanded = ox.RdfFormat.N_QUADS if graph is None else ox.RdfFormat.N_TRIPLES
    with tempfile.TemporaryFile() as spool:  # on disk: a large dataset's N-Quads need not fit in memory
        store.dump(spool, expanded, graph)
        spool.seek(0)
        write_compact(ox.parse(spool, format=expanded), out, context, context["@context"])


def gzipped_dump(store: Store) -> bytes:
    """The whole dataset as gzipped N-Quads, made once per data version (harvesters fetch it repeatedly)."""

    def build() -> bytes:
        buffer = io.BytesIO()
        with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=6, mtime=0) as zipped:
            store.dump(zipped, ox.RdfFormat.N_QUADS)
        return buffer.getvalue()

    return _dumps.get(store.data_version, "dump", build)


def made_dump(store: Store) -> bytes | None:
    """The gzipped dump if it is already made for the current data version, else None (nothing is made)."""
    return _dumps.peek(store.data_version, "dump")
