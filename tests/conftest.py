"""Shared fixtures: the real data, and writable copies of it for tests that break things on purpose."""

import shutil
from pathlib import Path

import pytest

from app.corpus import Corpus
from app.settings import PROJECT_ROOT, Settings
from app.store import EmbeddedStore, open_store


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session")
def store(settings: Settings) -> EmbeddedStore:
    """The real data, loaded once for the session (read-only use)."""
    return open_store(settings)


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


@pytest.fixture
def make_client(tmp_path: Path):
    """A factory of TestClients over fresh apps with custom settings (each on its own copy of data/)."""
    from fastapi.testclient import TestClient

    from app.server import create_app

    clients = []

    def factory(**overrides) -> TestClient:
        data_dir = tmp_path / f"data{len(clients)}"
        queries_dir = tmp_path / f"queries{len(clients)}"
        shutil.copytree(PROJECT_ROOT / "data", data_dir)
        shutil.copytree(PROJECT_ROOT / "queries", queries_dir)
        settings = Settings(data_dir=data_dir, queries_dir=queries_dir, **overrides)
        client = TestClient(create_app(settings))
        client.__enter__()
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture(scope="module")
def client():
    """A read-only app over the real data (no admin token: writes do not exist)."""
    from fastapi.testclient import TestClient

    from app.server import create_app

    with TestClient(create_app(Settings())) as test_client:
        yield test_client
