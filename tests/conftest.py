"""Shared fixtures: the real data on every store backend, and writable copies for tests that break things.

Store-dependent tests run once per backend: `memory`, `oxigraph` (on disk, in a temporary directory) and
`sparql` (a real `oxigraph serve` on 127.0.0.1). STANCEGRAPH_TEST_BACKENDS=memory,oxigraph narrows the set.
"""

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.corpus import Corpus
from app.settings import PROJECT_ROOT, Settings
from app.store import Store, open_store
from tests.live import oxigraph_server

BACKENDS = os.environ.get("STANCEGRAPH_TEST_BACKENDS", "memory,oxigraph,sparql").split(",")


def pytest_configure(config) -> None:
    """SHACL verdicts of this run (and of the servers it starts) go to its own directory, not ~/.cache."""
    os.environ["STANCEGRAPH_CACHE_DIR"] = tempfile.mkdtemp(prefix="stancegraph-verdicts-")


def pytest_unconfigure(config) -> None:
    shutil.rmtree(os.environ.pop("STANCEGRAPH_CACHE_DIR", ""), ignore_errors=True)


def store_setting(backend: str, directory: Path, remote: Callable[[], str]) -> str:
    """The STANCEGRAPH_STORE value for a backend (`remote()` gives the base URL of an `oxigraph serve`)."""
    if backend == "memory":
        return "memory"
    if backend == "oxigraph":
        return f"oxigraph:{directory / 'store'}"
    base = remote()
    return f"sparql:{base}/query,{base}/update,{base}/store"


@pytest.fixture(scope="session")
def remote_base(tmp_path_factory) -> Iterator[Callable[[], str]]:
    """A shared `oxigraph serve --union-default-graph`, started on first use, stopped at the end."""
    with contextlib.ExitStack() as stack:
        started: list[str] = []

        def base() -> str:
            if not started:
                started.append(stack.enter_context(oxigraph_server(union_default_graph=True)))
            return started[0]

        yield base


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session", params=BACKENDS)
def store(request, tmp_path_factory, remote_base) -> Store:
    """The real data, loaded once per backend for the session (read-only use)."""
    directory = tmp_path_factory.mktemp(f"store-{request.param}")
    return open_store(Settings(store=store_setting(request.param, directory, remote_base)))


@pytest.fixture
def data_copy(tmp_path: Path) -> Settings:
    """Settings pointing at a private copy of data/ that a test may edit."""
    shutil.copytree(PROJECT_ROOT / "data", tmp_path / "data")
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
def corpus_copy(data_copy: Settings) -> Corpus:
    return Corpus(data_copy)


def replace_in(path: Path, old: str, new: str) -> None:
    """Edit a data file, failing loudly if the text to replace is not there (so tests cannot go stale)."""
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.fixture(params=BACKENDS)
def make_client(request, tmp_path: Path):
    """A factory of TestClients over fresh apps with custom settings, each on its own copy of data/ and
    its own store (for `sparql`, its own `oxigraph serve`), on every backend."""
    from fastapi.testclient import TestClient

    from app.server import create_app

    with contextlib.ExitStack() as stack:

        def factory(**overrides) -> TestClient:
            number = len(stack._exit_callbacks)
            data_dir = tmp_path / f"data{number}"
            queries_dir = tmp_path / f"queries{number}"
            shutil.copytree(PROJECT_ROOT / "data", data_dir)
            shutil.copytree(PROJECT_ROOT / "queries", queries_dir)
            remote = lambda: stack.enter_context(oxigraph_server(union_default_graph=True))  # noqa: E731
            overrides.setdefault("store", store_setting(request.param, tmp_path / f"store{number}", remote))
            settings = Settings(data_dir=data_dir, queries_dir=queries_dir, **overrides)
            empty_caches()
            return stack.enter_context(TestClient(create_app(settings)))

        yield factory


@pytest.fixture(scope="module")
def client(store: Store):
    """A read-only app over the real data (no admin token: writes do not exist), on the `store` fixture's
    backend and store (so that tests may compare the two)."""
    from fastapi.testclient import TestClient

    from app.server import create_app

    empty_caches()
    with TestClient(create_app(store.settings)) as test_client:
        yield test_client


def empty_caches() -> None:
    """Each app starts with empty caches, as a new process does: the backends load the same files, hence share
    data versions, and answers kept by another backend's app would stand in for this one's."""
    from app import graph_view_routes, named_queries, service_description, sparql_protocol

    for cache in (
        sparql_protocol._answers,
        graph_view_routes._cache,
        named_queries._cache,
        service_description._statistics,
        service_description.description_cache,
    ):
        cache.clear()
    forget_dumps()


def forget_dumps() -> None:
    """Remove the dump files of this run's cache directory (shared by every app of the run, like a deployment's)."""
    shutil.rmtree(Path(os.environ["STANCEGRAPH_CACHE_DIR"]) / "dumps", ignore_errors=True)


def quad_count(store: Store) -> int:
    """Every quad the store serves, counted by the store itself (whatever the backend)."""
    query = "SELECT (COUNT(*) AS ?n) WHERE { { ?s ?p ?o } UNION { GRAPH ?g { ?s ?p ?o } } }"
    return int(store.select(query, union_default_graph=False)[0]["n"].value)
