"""A remote store that wants credentials: loads, queries and writes go through with Basic or Digest
authentication (Virtuoso's `/sparql-auth` speaks Digest), and wrong credentials are a clear error.

The store is a real `oxigraph serve` behind a small proxy that checks credentials as such stores do.
"""

import contextlib
import hashlib
import http.server
import io
import os
import secrets
import subprocess
import urllib.request
from collections.abc import Iterator

import httpx
import pyoxigraph as ox
import pytest

from app.settings import Settings
from app.store import StoreUnavailable, open_store
from app.workers import QueryJob
from tests.live import BIN, free_port, handler_server, oxigraph_server

USER, PASSWORD, REALM = "stancegraph", "s3cret-pässword", "test store"


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # Digest's own algorithm


class _Checks:
    """Credentials as a store checks them: Basic, or Digest with qop=auth over a nonce it issued."""

    def __init__(self, scheme: str):
        self.scheme = scheme
        self.nonce = secrets.token_hex(16)
        self.refused = 0

    def challenge(self) -> str:
        if self.scheme == "basic":
            return f'Basic realm="{REALM}"'
        return f'Digest realm="{REALM}", nonce="{self.nonce}", qop="auth", algorithm=MD5'

    def accepts(self, method: str, header: str | None) -> bool:
        if not header or not header.lower().startswith(self.scheme):
            return False
        given = header.split(" ", 1)[1]
        if self.scheme == "basic":
            return given == httpx.BasicAuth(USER, PASSWORD)._auth_header.split(" ", 1)[1]
        fields = urllib.request.parse_keqv_list(urllib.request.parse_http_list(given))
        if fields.get("username") != USER or fields.get("nonce") != self.nonce:
            return False
        known = _md5(f"{USER}:{REALM}:{PASSWORD}")
        asked = _md5(f"{method}:{fields['uri']}")
        expected = _md5(f"{known}:{self.nonce}:{fields['nc']}:{fields['cnonce']}:{fields['qop']}:{asked}")
        return secrets.compare_digest(expected, fields.get("response", ""))


@contextlib.contextmanager
def guarded_store(scheme: str) -> Iterator[tuple[str, _Checks]]:
    """`oxigraph serve` behind a proxy that answers 401 unless the request carries the right credentials."""
    checks = _Checks(scheme)
    with oxigraph_server(union_default_graph=True) as store, httpx.Client(base_url=store, timeout=60) as upstream:

        class Guard(http.server.BaseHTTPRequestHandler):
            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if not checks.accepts(self.command, self.headers.get("Authorization")):
                    checks.refused += 1
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", checks.challenge())
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("content-type", "accept")}
                answer = upstream.request(self.command, self.path, content=body, headers=headers)
                self.send_response(answer.status_code)
                self.send_header("Content-Type", answer.headers.get("content-type", "text/plain"))
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_PUT = do_DELETE = _forward

            def log_message(self, *args) -> None:
                pass

        with handler_server(Guard) as base:
            yield base, checks


def _settings(base: str, **credentials: object) -> Settings:
    return Settings(store=f"sparql:{base}/query,{base}/update,{base}/store", validate_on_load=False, **credentials)


TRIPLE = "<http://example.org/a> <http://example.org/b> 1"
RUSSIA_REJECTS = "ASK { ?s <https://stancegraph.org/ontology#holder> <https://stancegraph.org/id/Russia> }"


@pytest.mark.parametrize("scheme", ["basic", "digest"])
def test_a_store_that_wants_credentials_is_loaded_queried_and_written_with_them(scheme):
    with guarded_store(scheme) as (base, checks):
        store = open_store(_settings(base, store_user=USER, store_password=PASSWORD, store_auth=scheme))
        try:
            answer = store.run(QueryJob(RUSSIA_REJECTS, result_format="application/sparql-results+json"))
            assert b"true" in answer.body
            version = store.data_version
            store.update(f"INSERT DATA {{ GRAPH <http://example.org/g> {{ {TRIPLE} }} }}")
            assert store.data_version != version
            assert store.ask(f"ASK {{ {TRIPLE} }}")
            dumped = io.BytesIO()  # read as it arrives, through the same authentication
            store.dump(dumped, ox.RdfFormat.N_TRIPLES, "http://example.org/g")
            assert dumped.getvalue().startswith(b"<http://example.org/a> <http://example.org/b> ")
        finally:
            store.close()
        if scheme == "digest":  # the challenge is answered once, then reused: not a refused request per query
            assert checks.refused <= 3


def test_an_upload_sent_from_a_file_is_sent_whole_again_after_a_new_digest_challenge(monkeypatch):
    """A Graph Store upload goes to the store as a file (never held as one string); when the store answers
    it with a challenge (its nonce expired), the file is sent again from its start."""
    from app import remote_store

    monkeypatch.setattr(remote_store, "SPOOL_IN_MEMORY", 4096)  # past it, the update is on disk
    triples = "".join(f'<http://example.org/s{n}> <http://example.org/p> "{n}" .\n' for n in range(20_000))
    with guarded_store("digest") as (base, checks):
        store = open_store(_settings(base, store_user=USER, store_password=PASSWORD, store_auth="digest"))
        try:
            refused = checks.refused
            checks.nonce = secrets.token_hex(16)  # the next request is refused with a new challenge
            store.replace_graph("http://example.org/many", triples.encode(), "application/n-triples")
            assert checks.refused == refused + 1
            count = "SELECT (COUNT(*) AS ?n) WHERE { GRAPH <http://example.org/many> { ?s ?p ?o } }"
            assert store.select(count)[0]["n"].value == "20000"
        finally:
            store.close()


def test_wrong_credentials_are_a_clear_error_that_keeps_the_password_secret():
    with guarded_store("basic") as (base, _):
        with pytest.raises(StoreUnavailable) as refused:
            open_store(_settings(base, store_user=USER, store_password="wrong"))
        message = str(refused.value)
        assert "refused our credentials (401)" in message and "STANCEGRAPH_STORE_USER" in message
        assert "wrong" not in message and PASSWORD not in message
        with pytest.raises(StoreUnavailable, match="STANCEGRAPH_STORE_PASSWORD"):
            open_store(_settings(base))


def test_serve_says_in_one_line_why_the_store_cannot_be_used():
    with guarded_store("digest") as (base, _):
        env = {
            **os.environ,
            "STANCEGRAPH_STORE": f"sparql:{base}/query,{base}/update",
            "STANCEGRAPH_STORE_USER": USER,
            "STANCEGRAPH_STORE_PASSWORD": "wrong",
            "STANCEGRAPH_STORE_AUTH": "digest",
        }
        serve = subprocess.run(
            [str(BIN / "stancegraph"), "serve", "--port", str(free_port())], env=env, capture_output=True, text=True
        )
    assert serve.returncode == 1
    assert "store unavailable" in serve.stderr and "refused our credentials (401)" in serve.stderr
    assert "Traceback" not in serve.stderr and "wrong" not in serve.stderr
    unreachable = subprocess.run(
        [str(BIN / "stancegraph"), "serve", "--port", str(free_port())],
        env={**os.environ, "STANCEGRAPH_STORE": f"sparql:http://127.0.0.1:{free_port()}/query"},
        capture_output=True,
        text=True,
    )
    assert unreachable.returncode == 1 and "is unreachable" in unreachable.stderr
    assert "Traceback" not in unreachable.stderr


def test_the_password_never_shows_in_the_settings():
    settings = Settings(store_user=USER, store_password=PASSWORD)
    assert PASSWORD not in repr(settings) and PASSWORD not in str(settings.model_dump())
