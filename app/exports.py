"""Exports of the dataset: files for `stancegraph export`, and the gzipped N-Quads dump for harvesters.

The engine's serializers stream everything except JSON-LD, which is compacted with our context through
rdflib so that it reads like JSON (slower: for large exports prefer N-Quads or TriG).
"""

import gzip
import io
from typing import BinaryIO

import pyoxigraph as ox

from app.cache import VersionedCache
from app.jsonld import compact
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
    buffer = io.BytesIO()
    if graph is None:
        store.dump(buffer, ox.RdfFormat.N_QUADS)
        out.write(compact(buffer.getvalue(), "nquads", context))
    else:
        store.dump(buffer, ox.RdfFormat.N_TRIPLES, graph)
        out.write(compact(buffer.getvalue(), "nt", context))


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
