"""Exports of the dataset: files for `stancegraph export`, and the gzipped N-Quads dump file for harvesters.

The engine's serializers write every format; JSON-LD is then compacted with our context as it streams
(see jsonld.Compactor), so that it reads like JSON.
"""

import atexit
import contextlib
import fcntl
import functools
import gzip
import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pyoxigraph as ox

from app.http_common import CODE_VERSION
from app.jsonld import write_compact
from app.store import Store

EXPORT_FORMATS = {
    "trig": ox.RdfFormat.TRIG,
    "nquads": ox.RdfFormat.N_QUADS,
    "jsonld": ox.RdfFormat.JSON_LD,
    "ttl": ox.RdfFormat.TURTLE,
    "nt": ox.RdfFormat.N_TRIPLES,
}

log = logging.getLogger("stancegraph.exports")
KEPT_DUMPS = 3  # dump files kept in the cache directory, the most recently made first


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


def dump_file(store: Store) -> Path:
    """The whole dataset as gzipped N-Quads, a file made once per data version (and code) and shared by every
    process that uses the same cache directory: kept in each process's memory, `serve --workers N` held N
    copies and made each (at 1M triples 9 MB and 9-13 s apiece), and a harvester may resume a download
    with a Range request. Blocking: call off the event loop."""
    path = _dump_path(store)
    if path.is_file():
        return path
    with _making_dumps(path.parent):  # one process makes it; the others wait for it and take it
        if not path.is_file():
            _write_dump(store, path)
            _prune_dumps(path.parent)
    return path


def made_dump(store: Store) -> Path | None:
    """The dump file if it is already made for the current data version, else None (nothing is made)."""
    path = _dump_path(store)
    return path if path.is_file() else None


def _dump_path(store: Store) -> Path:
    key = hashlib.sha256(f"{CODE_VERSION}{store.data_version}".encode()).hexdigest()[:32]
    return _dumps_directory(store.settings.cache_dir) / f"dump-{key}.nq.gz"


@functools.cache
def _dumps_directory(cache_dir: Path | None) -> Path:
    """`CACHE_DIR/dumps`, or a directory of this process's own when the settings keep no cache or it cannot be
    written there (said once: the dump is then made by each process again)."""
    if cache_dir is None:
        return _private_directory()
    directory = cache_dir / "dumps"
    with contextlib.suppress(OSError):
        directory.mkdir(parents=True, exist_ok=True)
    if os.access(directory, os.W_OK | os.X_OK):
        return directory
    log.warning("dumps cannot be written in %s: each process makes its own in a temporary directory", directory)
    return _private_directory()


@functools.cache
def _private_directory() -> Path:
    private = Path(tempfile.mkdtemp(prefix="stancegraph-dumps-"))
    atexit.register(_remove_if_mine, private, os.getpid())
    return private


def _remove_if_mine(directory: Path, maker: int) -> None:
    """Remove the private directory at exit, from the process that made it (not from its forked children)."""
    if os.getpid() == maker:
        shutil.rmtree(directory, ignore_errors=True)


@contextlib.contextmanager
def _making_dumps(directory: Path) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / "making.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
        yield


def _write_dump(store: Store, path: Path) -> None:
    """Write the dump beside `path`, then rename it there: no reader ever sees half a dump, and one the store
    broke off (an error) leaves nothing behind."""
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".making-", delete=False) as spool:
        try:
            with gzip.GzipFile(fileobj=spool, mode="wb", compresslevel=6, mtime=0) as zipped:
                store.dump(zipped, ox.RdfFormat.N_QUADS)
        except BaseException:
            os.unlink(spool.name)
            raise
    os.replace(spool.name, path)


def _prune_dumps(directory: Path) -> None:
    """Keep the KEPT_DUMPS most recently made dumps (a download under way keeps reading a removed file), and no
    part of a dump whose making was killed: the caller holds the lock, so none is being made."""
    dumps = sorted(directory.glob("dump-*.nq.gz"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in [*dumps[KEPT_DUMPS:], *directory.glob(".making-*")]:
        old.unlink(missing_ok=True)
