"""The connections to a remote SPARQL store: kept alive, renewed when the store closed them, bounded in time.

Each test runs a small HTTP/1.1 server that behaves as a store may (keeps connections, drops them, stalls).
"""

import contextlib
import http.client
import http.server
import select
import socket
import ssl
import threading
import time
import urllib.parse
from typing import ClassVar

import pytest
import trustme

from app.remote_http import StoreConnections, TooSlow, Unreachable
from tests.live import free_port, handler_server


class _Store(http.server.BaseHTTPRequestHandler):
    """Answers `ok` over HTTP/1.1 keep-alive; counts connections; `/drop` closes after answering without
    saying so (as a store restarting or timing out idle connections does), `/slow` stalls for 2 s. `/stream`
    sends its answer in two chunks, the second once `read_on` is set (or 5 s passed); `/cut` breaks off after
    the first, `/stall` stops for 2 s after it; `/refuse` is a 400."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are written apart: no 40 ms wait for an ACK
    connections = 0
    lock = threading.Lock()
    read_on = threading.Event()
    waited_for_reader = False

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _chunked(self) -> None:
        """The streamed answers: as a store writes a large result while it evaluates."""
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self._chunk(b"first line\n")
        if self.path == "/cut":
            self.close_connection = True
            return
        if self.path == "/stall":
            time.sleep(2)
        _Store.waited_for_reader = _Store.read_on.wait(5)
        self._chunk(b"the rest")
        self.wfile.write(b"0\r\n\r\n")

    def setup(self) -> None:
        with _Store.lock:
            _Store.connections += 1
        super().setup()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path in ("/stream", "/cut", "/stall"):
            return self._chunked()
        if self.path == "/slow":
            time.sleep(2)
        answer = b"ok " + body
        self.send_response(400 if self.path == "/refuse" else 200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)
        if self.path == "/drop":
            self.close_connection = True

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def store():
    _Store.connections = 0
    _Store.read_on.clear()
    with handler_server(_Store) as base:
        yield base


def test_one_connection_serves_request_after_request(store):
    connections = StoreConnections(None, keep=2)
    replies = [connections.request("POST", f"{store}/query", f"q{n}".encode()) for n in range(20)]
    assert [r.body for r in replies] == [f"ok q{n}".encode() for n in range(20)]
    assert replies[0].media_type == "text/plain" and replies[0].url == f"{store}/query"
    assert _Store.connections == 1
    connections.close()


def test_a_connection_the_store_closed_is_replaced_not_reported(store):
    connections = StoreConnections(None, keep=2)
    for n in range(10):
        assert connections.request("POST", f"{store}/drop", b"x", idempotent=n % 2 == 0).body == b"ok x"
        time.sleep(0.01)  # the store closes its end meanwhile
    assert _Store.connections == 10


def test_a_file_is_sent_whole_from_its_start_each_time(store, tmp_path):
    """How a large update goes out: from a file, with its Content-Length, again from its start on a retry."""
    connections = StoreConnections(None, keep=2)
    with open(tmp_path / "update", "w+b") as update:
        update.write(b"x" * (3 << 20) + b"end")  # past the 1 MB blocks it is sent in
        for _ in range(2):
            reply = connections.request("POST", f"{store}/query", update, idempotent=True)
            assert reply.body == b"ok " + b"x" * (3 << 20) + b"end"
    assert _Store.connections == 1


def test_a_silent_store_is_too_slow_and_the_next_request_is_answered(store):
    connections = StoreConnections(None, keep=2)
    started = time.monotonic()
    with pytest.raises(TooSlow, match=r"no answer within 0\.5 s"):
        connections.request("POST", f"{store}/slow", b"", timeout=0.5)
    assert time.monotonic() - started < 1.5
    assert connections.request("POST", f"{store}/query", b"again", timeout=5).body == b"ok again"


def test_a_store_that_is_not_there_is_unreachable():
    with pytest.raises(Unreachable, match="refused"):
        StoreConnections(None, keep=2).request("POST", f"http://127.0.0.1:{free_port()}/query", b"")


def _read_as_it_comes(media_type: str, answer) -> tuple[str, bytes, bytes]:
    """A reader that takes the first line, lets the store send the rest, then takes that."""
    first = answer.readline()
    _Store.read_on.set()
    return media_type, first, answer.read()


def test_a_reader_gets_the_answer_as_it_arrives_and_the_connection_serves_again(store):
    """How a dump of millions of quads is written without holding the store's answer whole."""
    connections = StoreConnections(None, keep=2)
    reply = connections.request("POST", f"{store}/stream", b"", timeout=10, reader=_read_as_it_comes)
    assert reply.read == ("text/plain", b"first line\n", b"the rest") and reply.body == b""
    assert _Store.waited_for_reader  # the reader had the first line before the store sent the rest
    assert connections.request("POST", f"{store}/query", b"next").body == b"ok next"
    assert _Store.connections == 1


def test_an_answer_that_breaks_off_or_stops_is_an_error_not_a_short_answer(store):
    connections = StoreConnections(None, keep=2)
    with pytest.raises(Unreachable, match="the answer broke off"):
        connections.request("POST", f"{store}/cut", b"", timeout=10, idempotent=True, reader=_read_as_it_comes)
    with pytest.raises(TooSlow, match=r"the answer stopped for over 0\.5 s"):
        connections.request("POST", f"{store}/stall", b"", timeout=0.5, reader=_read_as_it_comes)
    assert connections.request("POST", f"{store}/query", b"again", timeout=5).body == b"ok again"
    assert _Store.connections == 3  # neither broken connection went back to the pool


def test_a_refusal_is_held_whole_for_its_message_and_not_given_to_the_reader(store):
    def reader(media_type: str, answer) -> None:
        raise AssertionError("a refusal was given to the reader")

    reply = StoreConnections(None, keep=2).request("POST", f"{store}/refuse", b"why", reader=reader)
    assert (reply.status, reply.body, reply.read) == (400, b"ok why", None)


def test_threads_share_the_pool_without_mixing_answers(store):
    connections = StoreConnections(None, keep=8)
    answers: dict[int, list[bytes]] = {}

    def ask(thread: int) -> None:
        answers[thread] = [
            connections.request("POST", f"{store}/query", f"{thread}-{n}".encode()).body for n in range(50)
        ]

    threads = [threading.Thread(target=ask, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(answers[t] == [f"ok {t}-{n}".encode() for n in range(50)] for t in range(8))
    assert _Store.connections <= 8


@contextlib.contextmanager
def _tls_store(authority: trustme.CA):
    """The store above behind TLS, with a certificate for 127.0.0.1 from `authority`."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Store)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_https_is_verified_against_the_trusted_authorities(monkeypatch):
    """An unknown authority is refused with the reason; SSL_CERT_FILE adds one (a private CA, say)."""
    authority = trustme.CA()
    with _tls_store(authority) as store, authority.cert_pem.tempfile() as trusted:
        with pytest.raises(Unreachable, match="certificate verify failed"):
            StoreConnections(None, keep=2).request("POST", f"{store}/query", b"x")
        monkeypatch.setenv("SSL_CERT_FILE", trusted)
        connections = StoreConnections(None, keep=2)
        _Store.connections = 0
        assert [connections.request("POST", f"{store}/query", b"%d" % n).body for n in range(3)] == [
            b"ok 0",
            b"ok 1",
            b"ok 2",
        ]
        assert _Store.connections == 1
        connections.close()


class _Proxy(http.server.BaseHTTPRequestHandler):
    """A forward proxy as a network may put in front of a store: it relays requests with absolute targets and
    tunnels CONNECT, and records what it was asked and with which Proxy-Authorization."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    asked: ClassVar[list[tuple[str, str, str | None]]] = []

    def do_POST(self) -> None:
        _Proxy.asked.append((self.command, self.path, self.headers.get("Proxy-Authorization")))
        target = urllib.parse.urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
        upstream.request("POST", target.path, body=body)
        answer = upstream.getresponse()
        content = answer.read()
        upstream.close()
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.getheader("Content-Type", "text/plain"))
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    def do_CONNECT(self) -> None:
        _Proxy.asked.append((self.command, self.path, self.headers.get("Proxy-Authorization")))
        host, port = self.path.rsplit(":", 1)
        upstream = socket.create_connection((host, int(port)), timeout=10)
        self.send_response(200)
        self.end_headers()
        ends = [self.connection, upstream]
        while readable := select.select(ends, [], [], 10)[0]:
            for end in readable:
                data = end.recv(65536)
                if not data:
                    upstream.close()
                    self.close_connection = True
                    return
                (upstream if end is self.connection else self.connection).sendall(data)
        upstream.close()
        self.close_connection = True

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def proxy(monkeypatch):
    _Proxy.asked = []
    for name in ("no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    with handler_server(_Proxy) as base:
        yield urllib.parse.urlsplit(base).netloc


def test_a_proxy_the_environment_names_is_used_unless_no_proxy_lists_the_store(store, proxy, monkeypatch):
    """As httpx did: `http_proxy` (with credentials in its URL) carries the requests, `no_proxy` exempts hosts."""
    monkeypatch.setenv("http_proxy", f"http://analyst:p%40ss@{proxy}")
    assert StoreConnections(None, keep=2).request("POST", f"{store}/query", b"via").body == b"ok via"
    netloc = urllib.parse.urlsplit(store).netloc
    assert _Proxy.asked == [("POST", f"http://{netloc}/query", "Basic YW5hbHlzdDpwQHNz")]  # analyst:p@ss
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    assert StoreConnections(None, keep=2).request("POST", f"{store}/query", b"direct").body == b"ok direct"
    assert len(_Proxy.asked) == 1


def test_https_goes_through_the_proxy_in_a_tunnel_and_is_still_verified(proxy, monkeypatch):
    authority = trustme.CA()
    with _tls_store(authority) as store, authority.cert_pem.tempfile() as trusted:
        monkeypatch.setenv("https_proxy", f"http://{proxy}")
        monkeypatch.setenv("SSL_CERT_FILE", trusted)
        connections = StoreConnections(None, keep=2)
        assert [connections.request("POST", f"{store}/query", b"%d" % n).body for n in range(2)] == [b"ok 0", b"ok 1"]
        assert _Proxy.asked == [("CONNECT", urllib.parse.urlsplit(store).netloc, None)]  # one tunnel, kept alive
        connections.close()
