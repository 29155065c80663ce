"""The FastAPI application: assembles settings, the store and the routers; no logic of its own."""

import logging
import time
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import (
    __version__,
    admin,
    api_docs,
    graph_store,
    graph_view_routes,
    linked_data,
    named_query_routes,
    sparql_protocol,
)
from app.graph_page import mount_assets as mount_graph_assets
from app.http_common import ASKED_METHOD, GZIP_FROM, GZIP_LEVEL, accepts_gzip, plain_error
from app.query_ui import mount_assets
from app.rate_limit import RateLimit, RateLimited, rate_limit
from app.settings import Settings
from app.store import Store, open_store
from app.workers import QueryError

access_log = logging.getLogger("stancegraph.access")

PLAIN_PATHS = ("/sparql", "/store", "/admin")

DESCRIPTION = """Stancegraph serves a knowledge graph of who proposes, rejects and conditions what in
international negotiations: SPARQL 1.1 at `/sparql`, the Graph Store Protocol at `/store`."""


def create_app(settings: Settings | None = None, store: Store | None = None) -> FastAPI:
    """Build the app around a loaded store (DataError if data/ does not load)."""
    settings = settings or Settings()
    store = store or open_store(settings, pooled=True)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        store.start()
        yield
        store.close()

    app = StancegraphApp(
        title="Stancegraph",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # FastAPI's pages load from a CDN: ours are api_docs'
        redoc_url=None,
    )
    app.state.store = store
    app.state.settings = settings
    limit = rate_limit(settings.rate_limit, settings.rate_limit_storage)
    if limit:  # innermost, so that a 429 still carries CORS headers and is logged
        app.add_middleware(RateLimited, limit=limit)
        app.limit_direct_sparql(limit)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST", "HEAD", "OPTIONS"],
        allow_headers=["*"],
        expose_headers=[
            "Stancegraph-Data-Version",
            "Stancegraph-Rows",
            "Stancegraph-Row-Limit",
            "Stancegraph-Truncated",
        ],
    )
    app.add_middleware(Compressed)
    app.add_middleware(AccessLog)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(QueryError, query_error)
    app.include_router(sparql_protocol.router)
    graph_store.add_routes(app, settings.writable)
    admin.add_routes(app, settings.writable)
    named_query_routes.add_routes(app, store)
    graph_view_routes.add_routes(app)
    linked_data.add_routes(app)
    api_docs.add_routes(app)
    mount_assets(app)
    mount_graph_assets(app)
    return app


def app_from_environment() -> FastAPI:
    """The app for each process of `stancegraph serve --workers N` (settings from STANCEGRAPH_*)."""
    return create_app(Settings())


class StancegraphApp(FastAPI):
    """FastAPI, except that SPARQL protocol requests go straight to their handlers.

    For a simple query, the framework's middleware layers, routing and dependency solving cost more than
    the rest of the answer. A request to /sparql that needs none of them (no CORS `Origin`) skips them and
    is still rate-limited, logged and timed; its errors are answered by the same handlers. Everything else,
    including /sparql with an `Origin` and /sparql's OpenAPI description, is the framework's.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._sparql = AccessLog(Compressed(self._answer_sparql))

    def openapi(self) -> dict:
        if self.openapi_schema is None:
            self.openapi_schema = api_docs.as_answered(super().openapi(), PLAIN_PATHS)
        return self.openapi_schema

    def limit_direct_sparql(self, limit: RateLimit) -> None:
        """The short way passes the same rate limit as the framework's."""
        self._sparql = AccessLog(Compressed(RateLimited(self._answer_sparql, limit)))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "HEAD":
            await self._head(scope, receive, send)
        elif _plain_sparql_request(scope):
            await self._sparql(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)

    async def _head(self, scope: Scope, receive: Receive, send: Send) -> None:
        """HEAD is GET without the body, on every route (RFC 9110: wherever GET is), where the routes declare
        GET alone and answered 405: link checkers, caches and linked-data clients ask it. Its headers are
        GET's, Content-Length and ETag included."""

        async def bodiless(message: Message) -> None:
            await send({**message, "body": b""} if message["type"] == "http.response.body" else message)

        await self({**scope, "method": "GET", ASKED_METHOD: "HEAD"}, receive, bodiless)

    async def _answer_sparql(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self  # what request.app and url_for use
        request = Request(scope, receive)
        handler = sparql_protocol.sparql_get if scope["method"] == "GET" else sparql_protocol.sparql_post
        try:
            response = await handler(request)
        except HTTPException as exc:
            response = await http_error(request, exc)
        except QueryError as exc:
            response = await query_error(request, exc)
        await response(scope, receive, send)


def _plain_sparql_request(scope: Scope) -> bool:
    return (
        scope["type"] == "http"
        and scope["path"] == "/sparql"
        and scope["method"] in ("GET", "POST")
        and not any(name == b"origin" for name, _ in scope["headers"])
    )


class Compressed:
    """gzip for a client that accepts it (Starlette's middleware: bodies past 128 KB are compressed on a thread,
    a gzip file is left as it is), and nothing in the way of one that does not (wrk, curl, SPARQLWrapper).

    At 1M triples a view is 8 MB of JSON: 0.7 MB gzipped, in 30 ms, which a browser on a remote link gets in a
    tenth of the time (views keep their gzipped answer: see graph_view_routes); a lookup's answer stays below
    GZIP_FROM and is sent as it is."""

    def __init__(self, app: ASGIApp):
        self.app = app
        self.gzip = GZipMiddleware(app, minimum_size=GZIP_FROM, compresslevel=GZIP_LEVEL)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        accepts = scope["type"] == "http" and accepts_gzip(scope["headers"])
        await (self.gzip if accepts else self.app)(scope, receive, send)


class AccessLog:
    """One line per request with its status and time, and a `Server-Timing` header (pure ASGI: no extra task
    or body copy per request, unlike function middleware)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_timed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                elapsed = (time.perf_counter() - started) * 1000
                headers = MutableHeaders(scope=message)
                headers.append("Server-Timing", f"total;dur={elapsed:.1f}")
            await send(message)

        try:
            await self.app(scope, receive, send_timed)
        finally:
            client = scope.get("client")
            access_log.info(
                '%s "%s %s" %d %.1fms',
                client[0] if client else "-",
                scope.get(ASKED_METHOD, scope["method"]),
                scope["path"],
                status,
                (time.perf_counter() - started) * 1000,
            )


async def http_error(request: Request, exc: HTTPException) -> Response:
    """Protocol paths answer errors in plain text (what SPARQL clients show); the REST API in JSON."""
    headers = getattr(exc, "headers", None)
    if request.url.path.startswith(PLAIN_PATHS):
        return plain_error(exc.status_code, str(exc.detail), headers)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)


async def query_error(request: Request, exc: QueryError) -> Response:
    """A query that failed inside a view, a page or a named query: its own status and message, never a 500."""
    if request.url.path.startswith(PLAIN_PATHS):
        return plain_error(exc.status, exc.message, exc.headers)
    return JSONResponse({"detail": exc.message}, status_code=exc.status, headers=exc.headers)


async def validation_error(request: Request, exc: RequestValidationError) -> Response:
    messages = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
    if request.url.path.startswith(PLAIN_PATHS):
        return plain_error(400, f"invalid request: {messages}")
    # a validator's error object in `ctx` (calendar_date's) becomes its message: json.dumps refused it (a 500)
    return JSONResponse({"detail": jsonable_encoder(exc.errors(), custom_encoder={Exception: str})}, status_code=400)
