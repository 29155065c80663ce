"""HTTP/1.1 to a remote SPARQL store: keep-alive connections of the standard library, kept in a pool.

Why not httpx, as elsewhere: every query of a `sparql:` store makes a round trip, and the app process holds
the GIL while it builds and reads it. On a lookup to `oxigraph serve`, httpx spends 0.28 ms of CPU per round
trip and `http.client` 0.06 ms; through `sparql:`, one app process answered about 1,300 lookups/s with httpx
and 2,200 with this (100k triples, side by side). Authentication is still httpx's (Basic, and Digest with its
challenge remembered), driven through its documented auth flow, so a Digest store is asked without
credentials once, not per query. Proxies are taken from the environment, as httpx takes them.
"""

import base64
import functools
import http.client
import io
import select
import ssl
import threading
import traceback
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, BinaryIO

import httpx

BLOCK = 1 << 20  # bytes of a file sent at a time (http.client's default is 8 KB)
CONNECT_TIMEOUT = 5.0  # seconds to open a connection; a query's own limit applies to its answer
# what a connection the store closed while it was idle raises when it is used again
STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, ConnectionAbortedError)
# reads a successful answer as it arrives: (its media type, its body) -> what the caller wants of it
Reader = Callable[[str, BinaryIO], Any]


class Unreachable(Exception):
    """No answer: the connection could not be made, or broke (the message says why)."""


class TooSlow(Exception):
    """The store sent nothing for longer than the time allowed."""


@dataclass(frozen=True)
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes  # empty when a reader took it
    url: str  # the URL asked, without its query string: for messages
    read: Any = None  # what the reader returned

    @property
    def media_type(self) -> str:
        return _media_type(self.headers)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


@dataclass(frozen=True)
class _Origin:
    scheme: str
    host: str
    port: int

    @property
    def netloc(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class _Route:
    """How an origin is reached: straight, or through the proxy the environment names for its scheme
    (`http_proxy`, `https_proxy`, `all_proxy`, unless `no_proxy` lists the host), as httpx did."""

    host: str
    port: int
    proxy_headers: dict[str, str]  # Proxy-Authorization, from credentials in the proxy's URL
    proxied: bool = False


def _route(origin: _Origin) -> _Route:
    proxies = urllib.request.getproxies()
    proxy = proxies.get(origin.scheme) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass(origin.host):
        return _Route(origin.host, origin.port, {})
    parts = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    if parts.scheme != "http" or not parts.hostname:
        raise Unreachable(f"the proxy {parts.scheme}://{parts.hostname} is not an http:// proxy")
    credentials = {}
    if parts.username is not None:
        user_password = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
        credentials["Proxy-Authorization"] = "Basic " + base64.b64encode(user_password.encode()).decode()
    return _Route(parts.hostname, parts.port or 80, credentials, proxied=True)


@dataclass(frozen=True)
class _Request:
    method: str
    origin: _Origin
    target: str  # path and query, as sent
    body: bytes | BinaryIO  # a file is sent from its start, with its size
    headers: dict[str, str]
    timeout: float | None
    idempotent: bool
    url: str  # without its query string: for messages
    reader: Reader | None


class StoreConnections:
    """Requests to one remote store, over at most `keep` idle keep-alive connections per origin (thread-safe)."""

    def __init__(self, auth: httpx.Auth | None, keep: int):
        self._auth = auth
        self._auth_lock = threading.Lock()  # httpx's Digest auth counts its nonces in the object
        self._keep = keep
        self._idle: dict[_Origin, list[http.client.HTTPConnection]] = {}
        self._routes: dict[_Origin, _Route] = {}
        self._lock = threading.Lock()

    def request(
        self,
        method: str,
        url: str,
        body: bytes | BinaryIO = b"",
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
        idempotent: bool = False,
        reader: Reader | None = None,
    ) -> Reply:
        """The store's reply (any status); Unreachable or TooSlow (after `timeout` seconds of silence; None:
        wait). An idempotent request is sent again, on another connection, if the store had closed the one it
        went on while it was idle (one that a store closes as it answers is not sent again). A successful
        answer is given to `reader` as it arrives, if there is one, rather than held whole."""
        parts = urllib.parse.urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        request = _Request(
            method,
            _Origin(parts.scheme, parts.hostname or "", port),
            (parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
            body,
            headers or {},
            timeout,
            idempotent,
            urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")),
            reader,
        )
        return self._send(request) if self._auth is None else self._authenticated(request, url)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()

    def _authenticated(self, request: _Request, url: str) -> Reply:
        """Send as httpx's auth flow asks: with its credentials, and again if the store answers a challenge."""
        content = request.body if isinstance(request.body, bytes) else b""  # neither scheme reads it
        asked = httpx.Request(request.method, url, content=content, headers=request.headers)
        with self._auth_lock:
            flow = self._auth.sync_auth_flow(asked)
            asked = next(flow)
        while True:
            credentials = {k: v for k, v in asked.headers.items() if k.lower() == "authorization"}
            target = asked.url.raw_path.decode("ascii")  # what a Digest header was computed for
            reply = self._send(replace(request, target=target, headers=request.headers | credentials))
            response = httpx.Response(reply.status, headers=reply.headers, content=reply.body, request=asked)
            with self._auth_lock:
                try:
                    asked = flow.send(response)
                except StopIteration:
                    return reply

    def _send(self, request: _Request) -> Reply:
        while True:
            connection, reused = self._take(request.origin)
            try:
                if connection.sock is None:
                    connection.connect()
            except OSError as err:
                connection.close()
                raise Unreachable(str(err) or type(err).__name__) from None
            connection.sock.settimeout(request.timeout)
            target, headers = request.target, request.headers
            if not isinstance(request.body, bytes):  # from its start at each sending (a Digest challenge, a retry)
                headers = headers | {"Content-Length": str(request.body.seek(0, io.SEEK_END))}
                request.body.seek(0)
            route = self._routes[request.origin]
            if route.proxied and request.origin.scheme == "http":  # HTTPS goes through a tunnel instead
                target, headers = f"http://{request.origin.netloc}{target}", headers | route.proxy_headers
            try:
                connection.request(request.method, target, body=request.body, headers=headers)
                response = connection.getresponse()
                streamed = request.reader is not None and 200 <= response.status < 300
                content = b"" if streamed else response.read()
            except TimeoutError:
                connection.close()
                raise TooSlow(f"no answer within {request.timeout:g} s") from None
            except STALE as err:
                connection.close()
                if reused and request.idempotent:
                    continue
                raise Unreachable(str(err) or type(err).__name__) from None
            except (OSError, http.client.HTTPException) as err:
                connection.close()
                raise Unreachable(str(err) or type(err).__name__) from None
            read = self._stream(request, connection, response) if streamed else None
            if response.will_close or not response.isclosed():  # a reader may have left the end of the answer
                connection.close()
            else:
                self._give_back(request.origin, connection)
            return Reply(response.status, response.getheaders(), content, request.url, read)

    @staticmethod
    def _stream(request: _Request, connection: http.client.HTTPConnection, response: http.client.HTTPResponse) -> Any:
        """The reader's value of an answer read as it arrives. Never sent again if it breaks: the reader may
        have written part of it already."""
        body = _Body(response)
        try:
            return request.reader(_media_type(response.getheaders()), body)
        except BaseException as err:
            connection.close()
            # what the reader made lives on in its frames: freed here, not in the thread the error goes to
            # (pyoxigraph's parsers must be dropped in the thread that made them)
            traceback.clear_frames(err.__traceback__)
            if isinstance(err, TimeoutError):
                raise TooSlow(f"the answer stopped for over {request.timeout:g} s") from None
            if isinstance(err, ConnectionError | http.client.HTTPException):
                raise Unreachable(f"the answer broke off ({str(err) or type(err).__name__})") from None
            if isinstance(err, SyntaxError):
                raise Malformed(err, body.tail, body.start) from None
            raise

    def _take(self, origin: _Origin) -> tuple[http.client.HTTPConnection, bool]:
        """An idle connection the store has not closed meanwhile (reused = True), or a new one."""
        with self._lock:
            idle = self._idle.get(origin, [])
            while idle:
                connection = idle.pop()
                if not _closed_by_peer(connection):
                    return connection, True
                connection.close()
        route = self._routes.get(origin) or self._routes.setdefault(origin, _route(origin))
        if origin.scheme != "https":
            return http.client.HTTPConnection(route.host, route.port, timeout=CONNECT_TIMEOUT, blocksize=BLOCK), False
        connection = http.client.HTTPSConnection(
            route.host, route.port, timeout=CONNECT_TIMEOUT, context=self._tls, blocksize=BLOCK
        )
        if route.proxied:
            connection.set_tunnel(origin.host, origin.port, headers=route.proxy_headers)
        return connection, False

    @functools.cached_property
    def _tls(self) -> ssl.SSLContext:
        """Verifying against the system's authorities (or SSL_CERT_FILE's): read once, not per connection."""
        return ssl.create_default_context()

    def _give_back(self, origin: _Origin, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault(origin, [])
            if len(idle) < self._keep:
                idle.append(connection)
                return
        connection.close()


class Malformed(Exception):
    """A successful answer its reader could not parse: the parser's error, and the end of what it had read
    (`tail`, which starts `start` bytes into the answer), where a store that failed midway says why."""

    def __init__(self, error: SyntaxError, tail: bytes, start: int):
        super().__init__(str(error))
        self.error, self.tail, self.start = error, tail, start


class _Body(io.RawIOBase):
    """An answer's body as it arrives. Read a part at a time, http.client ends an answer cut short of its
    Content-Length silently, as if it were whole: here that is an IncompleteRead. The last part read is kept
    for a Malformed error."""

    def __init__(self, response: http.client.HTTPResponse):
        self._response = response
        self.tail, self.start = b"", 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        count = self._response.readinto(buffer)
        if not count and len(buffer) and self._response.length:
            raise http.client.IncompleteRead(b"", self._response.length)
        if count:
            self.start += len(self.tail)
            self.tail = bytes(buffer[:count])
        return count


def _media_type(headers: list[tuple[str, str]]) -> str:
    return next((v.split(";")[0].strip() for k, v in headers if k.lower() == "content-type"), "")


def _closed_by_peer(connection: http.client.HTTPConnection) -> bool:
    """An idle connection is readable only if the store closed it (or sent what nobody asked for). With
    poll, not select: a busy server's descriptors may be numbered past select's 1,024."""
    poller = select.poll()
    poller.register(connection.sock, select.POLLIN)
    return bool(poller.poll(0))
