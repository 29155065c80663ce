"""Real servers for tests: our own `stancegraph serve`, `oxigraph serve` and Redis, on free 127.0.0.1 ports."""

import contextlib
import http.server
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running(
    command: list[str],
    ready_url: str,
    env: dict[str, str] | None = None,
    timeout: float = 60,
    stdout: IO | int = subprocess.DEVNULL,
) -> Iterator[subprocess.Popen]:
    """Start a server process, wait until `ready_url` answers, and stop it afterwards whatever happens."""
    process = subprocess.Popen(
        command, env={**os.environ, **(env or {})}, stdout=stdout, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{command[0]} exited early: {process.stderr.read()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(ready_url, timeout=1).status_code < 500:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{command[0]} did not answer {ready_url} within {timeout} s")
            time.sleep(0.1)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def stancegraph_process(
    *arguments: str, stdout: IO | int = subprocess.DEVNULL, **settings: object
) -> Iterator[tuple[str, subprocess.Popen]]:
    """`stancegraph serve ARGUMENTS` on a free port with STANCEGRAPH_* settings; yields its URL and process
    (its access log goes to `stdout`)."""
    port = free_port()
    env = {f"STANCEGRAPH_{k.upper()}": str(v) for k, v in settings.items()}
    base = f"http://127.0.0.1:{port}"
    command = [str(BIN / "stancegraph"), "serve", "--port", str(port), *arguments]
    with running(command, f"{base}/health", env, timeout=180, stdout=stdout) as process:
        yield base, process


@contextlib.contextmanager
def stancegraph_server(**settings: object) -> Iterator[str]:
    """`stancegraph serve` on a free port with STANCEGRAPH_* settings; yields its base URL."""
    with stancegraph_process(**settings) as (base, _):
        yield base


@contextlib.contextmanager
def oxigraph_process(location: Path | None = None, union_default_graph: bool = False) -> Iterator[tuple[str, int]]:
    """`oxigraph serve` (the PyPI package) on a free port; yields its base URL and process id."""
    port = free_port()
    command = [str(BIN / "oxigraph"), "serve", "--bind", f"127.0.0.1:{port}"]
    if union_default_graph:
        command.append("--union-default-graph")
    if location is not None:
        command += ["--location", str(location)]
    base = f"http://127.0.0.1:{port}"
    with running(command, f"{base}/query?query=ASK%7B%7D", {}) as process:
        yield base, process.pid


@contextlib.contextmanager
def oxigraph_server(location: Path | None = None, union_default_graph: bool = False) -> Iterator[str]:
    """`oxigraph serve` (the PyPI package) on a free port; yields its base URL."""
    with oxigraph_process(location, union_default_graph) as (base, _):
        yield base


@contextlib.contextmanager
def app_server(app) -> Iterator[str]:
    """An ASGI app served by uvicorn in a thread of this process (so a test may patch what it runs), on a free
    127.0.0.1 port; yields its base URL."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the app did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@contextlib.contextmanager
def handler_server(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """A threaded HTTP server on a free 127.0.0.1 port answering with `handler`; yields its base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def redis_server(unix_socket: Path | None = None) -> Iterator[str]:
    """Debian's `redis-server` on a free port (or only on `unix_socket`), keeping nothing on disk; yields its
    redis:// (or redis+unix://) URL."""
    import redis

    executable = shutil.which("redis-server")
    if executable is None:
        raise RuntimeError("Debian's redis-server is not installed: run `make test` (it installs it as root)")
    if unix_socket is None:
        port = free_port()
        where = ["--bind", "127.0.0.1", "--port", str(port)]
        client, url = redis.Redis(port=port, socket_timeout=1), f"redis://127.0.0.1:{port}/0"
    else:
        where = ["--port", "0", "--unixsocket", str(unix_socket)]
        client, url = redis.Redis(unix_socket_path=str(unix_socket), socket_timeout=1), f"redis+unix://{unix_socket}"
    command = [executable, *where, "--save", "", "--appendonly", "no"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"redis-server exited early: {process.stderr.read()[-2000:]}")
            with contextlib.suppress(redis.ConnectionError):
                if client.ping():
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not answer within 30 s")
            time.sleep(0.05)
        yield url
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=10)
