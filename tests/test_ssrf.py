"""SSRF: whatever the query, no request leaves for a host that is not on the federation allow-list.

Every check listens on 127.0.0.1 and asserts that nothing connected; nothing leaves the machine.
"""

import contextlib
import http.server
import socket
import threading
from collections.abc import Iterator

import httpx
import pytest

from tests.live import handler_server, stancegraph_server


@contextlib.contextmanager
def listener() -> Iterator[tuple[int, list]]:
    """A socket on 127.0.0.1 that records every connection made to it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.settimeout(0.2)
    connections: list = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError, OSError):
                connection, _ = sock.accept()
                connections.append(connection)
                connection.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1], connections
    finally:
        stop.set()
        thread.join()
        sock.close()


@contextlib.contextmanager
def redirector(location: str) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 that answers every request with a redirect to `location`."""

    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", location)
            self.end_headers()

        do_POST = do_GET

        def log_message(self, *args) -> None:
            pass

    with handler_server(Redirect) as base:
        yield f"{base}/sparql"


@pytest.fixture(scope="module")
def server():
    with stancegraph_server() as base:
        yield base


def disguises(port: int) -> list[str]:
    """SERVICE clauses aimed at 127.0.0.1:port or private ranges, in the forms attackers use."""
    return [
        f"SERVICE <http://127.0.0.1:{port}/sparql> {{ ?s ?p ?o }}",
        f"SERVICE SILENT <http://127.0.0.1:{port}/> {{ ?s ?p ?o }}",
        f"service <http://2130706433:{port}/> {{ ?s ?p ?o }}",  # decimal form of 127.0.0.1
        f"SERVICE <http://0x7f000001:{port}/> {{ ?s ?p ?o }}",  # hexadecimal form
        f"SERVICE <http://0177.0.0.1:{port}/> {{ ?s ?p ?o }}",  # octal form
        f"SERVICE <http://[::ffff:127.0.0.1]:{port}/> {{ ?s ?p ?o }}",
        f"SERVICE <http://localhost:{port}/> {{ ?s ?p ?o }}",  # a name that resolves to loopback
        f"SERVICE <http://localtest.me:{port}/> {{ ?s ?p ?o }}",
        "SERVICE <http://169.254.169.254/latest/meta-data/> { ?s ?p ?o }",  # cloud metadata
        "SERVICE <http://10.0.0.1/sparql> { ?s ?p ?o }",
        f"VALUES ?e {{ <http://127.0.0.1:{port}/> }} SERVICE ?e {{ ?s ?p ?o }}",
        f"{{ SELECT * WHERE {{ SERVICE <http://127.0.0.1:{port}/> {{ ?s ?p ?o }} }} }}",
        f"SERVICE # a comment between\n <http://127.0.0.1:{port}/> {{ ?s ?p ?o }}",
        f"SERVICE SILENT#another\n<http://127.0.0.1:{port}/> {{ ?s ?p ?o }}",
    ]


def test_no_disguise_of_a_local_or_private_address_gets_through(server):
    with listener() as (port, connections):
        for clause in disguises(port):
            response = httpx.get(f"{server}/sparql", params={"query": f"SELECT * WHERE {{ {clause} }}"})
            assert response.status_code == 403, (clause, response.text)
            assert "allow-list" in response.text
        prefixed = f"PREFIX ex: <http://127.0.0.1:{port}/> SELECT * WHERE {{ SERVICE ex:sparql {{ ?s ?p ?o }} }}"
        assert httpx.get(f"{server}/sparql", params={"query": prefixed}).status_code == 403
    assert connections == []


def test_an_endpoint_that_cannot_be_read_is_a_400_that_says_where(server):
    """Nearly always a typo: a federation refusal would send its author looking at the allow-list."""
    with listener() as (port, connections):
        for clause in [
            f"SERVICE <http://127.0.0.1:{port}/sparql {{ ?s ?p ?o }}",  # the closing > forgotten
            "SERVICE ex:sparql { ?s ?p ?o }",  # a prefix never declared
            "SERVICE SILENTex:sparql { ?s ?p ?o }",
            f"SERVICE> <http://127.0.0.1:{port}/> {{ ?s ?p ?o }}",
        ]:
            response = httpx.get(f"{server}/sparql", params={"query": f"SELECT * WHERE {{\n  {clause} }}"})
            assert response.status_code == 400, (clause, response.text)
            assert response.text.startswith("the endpoint of the SERVICE at line 2, column 3 cannot be read")
    assert connections == []


def test_service_words_inside_strings_and_comments_are_not_calls(server):
    query = 'SELECT ?x WHERE { BIND ("SERVICE <http://10.0.0.1/> { }" AS ?x) } # SERVICE <http://10.0.0.1/>'
    response = httpx.get(f"{server}/sparql", params={"query": query}, headers={"accept": "text/csv"})
    assert response.status_code == 200 and "SERVICE" in response.text


def test_an_allow_listed_endpoint_cannot_redirect_the_server_elsewhere():
    with listener() as (port, connections), redirector(f"http://127.0.0.1:{port}/sparql") as allowed:
        with stancegraph_server(federation_allow=f'["{allowed}"]') as base:
            query = f"SELECT * WHERE {{ SERVICE <{allowed}> {{ ?s ?p ?o }} }}"
            response = httpx.get(f"{base}/sparql", params={"query": query}, timeout=30)
        assert response.status_code == 502, response.text
    assert connections == []
