"""What every HTTP router shares: bounded request bodies, plain-text errors, the admin token check."""

import datetime
import gzip
import hashlib
import hmac
import logging
import tempfile
from collections.abc import AsyncIterator
from importlib import metadata
from pathlib import Path
from typing import Annotated, BinaryIO
from urllib.parse import parse_qsl, unquote_plus

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from pydantic import BeforeValidator
from starlette.concurrency import run_in_threadpool

from app.cache import VersionedCache
from app.named_queries import calendar_date
from app.settings import Settings
from app.store import SPOOL_IN_MEMORY

log = logging.getLogger("stancegraph.http")

# A query parameter that is a day, YYYY-MM-DD only (see calendar_date; documented as a date all the same)
Day = Annotated[datetime.date, BeforeValidator(calendar_date)]


class PayloadTooLarge(HTTPException):
    def __init__(self, limit: int):
        super().__init__(413, f"request body larger than the {limit:,} byte limit")


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes `limit` (never read whole into memory first)."""
    return b"".join([chunk async for chunk in _bounded_chunks(request, limit)])


SPOOL_BATCH = 1 << 20  # written to it a megabyte at a time, in the thread pool (a disk write, off the event loop)


async def spool_body(request: Request, limit: int) -> BinaryIO:
    """The request body in a temporary file, from its start, refused with 413 as soon as it passes `limit`.

    For uploads (up to STANCEGRAPH_MAX_UPLOAD_BYTES, 1 GB): read into memory, a body was held twice at the
    end (its chunks, then the bytes joined from them), and once more while it was parsed and loaded; from a
    file, the parser and the loader read it as they go."""
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 - the caller closes it
    try:
        batch: list[bytes] = []
        batched = 0
        async for chunk in _bounded_chunks(request, limit):
            batch.append(chunk)
            batched += len(chunk)
            if batched >= SPOOL_BATCH:
                await run_in_threadpool(spool.write, b"".join(batch))
                batch, batched = [], 0
        await run_in_threadpool(spool.write, b"".join(batch))
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return spool


async def _bounded_chunks(request: Request, limit: int) -> AsyncIterator[bytes]:
    """The body's chunks as they arrive; 413 as soon as they pass `limit` (or its declared length does)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(limit)
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(limit)
        yield chunk


def form_fields(encoded: str) -> list[tuple[str, str]]:
    """The `name=value` pairs of a query string or form body, blanks kept: what Starlette's `query_params`
    and urllib's `parse_qsl` give, in a fifth of the time on ASCII text. A SPARQL query sent with its
    prefixes is mostly percent escapes, and urllib decodes them one by one in Python: 10% of a lookup."""
    if not encoded.isascii():
        return parse_qsl(encoded, keep_blank_values=True)
    fields = []
    for field in encoded.split("&"):
        if field:
            name, _, value = field.partition("=")
            fields.append((_unquote_plus(name), _unquote_plus(value)))
    return fields


def _unquote_plus(text: str) -> str:
    """urllib's `unquote_plus` for ASCII text, its escapes decoded in C: each `%XX` is made a `\\xXX` escape
    for the `unicode_escape` codec (backslashes doubled first); text with a stray `%` is left to urllib."""
    text = text.replace("+", " ")
    if "%" not in text:
        return text
    escaped = text.replace("\\", "\\\\").replace("%", "\\x").encode("ascii")
    try:
        octets = escaped.decode("unicode_escape").encode("latin-1")
    except UnicodeDecodeError:  # `%` not followed by two hex digits: urllib keeps it as it is
        return unquote_plus(text)
    return octets.decode("utf-8", "replace")


WRITERS = ("pyoxigraph", "rdflib", "networkx", "matplotlib", "pydot")  # libraries whose output we send


def _code_version() -> str:
    """A digest of the code that writes answers: the app's modules and templates, and the versions of the
    libraries that serialize for it. Every instance running the same code computes the same one; a deploy
    that changes a format changes it, so a client's cached answer in the old format is not a 304."""
    digest = hashlib.sha256()
    package = Path(__file__).parent
    for path in sorted(package.rglob("*")):
        if path.suffix in {".py", ".html"}:
            digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
    for name in WRITERS:
        digest.update(f"{name}={metadata.version(name)}".encode())
    return digest.hexdigest()


CODE_VERSION = _code_version()


ASKED_METHOD = "stancegraph.asked_method"  # set by the app on a HEAD it answers as GET without the body


def asked_head(request: Request) -> bool:
    """Whether this GET answers a HEAD: a route whose headers can be known without making the body may skip it."""
    return request.scope.get(ASKED_METHOD) == "HEAD"


def version_etag(version: str, key: object) -> str:
    """A weak ETag for an answer that depends only on the data version, the code and the request `key`."""
    return 'W/"' + hashlib.sha256(f"{CODE_VERSION}{version}{key}".encode()).hexdigest()[:32] + '"'


GZIP_LEVEL = 4  # an 8.2 MB view: 0.7 MB in 30 ms (level 1: 0.9 MB in 19 ms; level 6: 0.6 MB in 53 ms)
GZIP_FROM = 1024  # bytes: a smaller answer is sent as it is


def accepts_gzip(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether a request's raw headers accept a gzipped answer."""
    return any(name == b"accept-encoding" and b"gzip" in value for name, value in headers)


async def kept_response(
    request: Request, cache: VersionedCache, version: str, key: tuple, body: bytes, media_type: str, headers: dict
) -> Response:
    """A body kept in `cache` under `key`, sent as it is or, to a client that accepts it, gzipped, the gzipped
    copy kept beside it (the app's middleware leaves it as it is): a browser asking a cached 1M view again pays
    2 ms, not 30 ms of compression."""
    if len(body) < GZIP_FROM or not accepts_gzip(request.scope["headers"]):
        return Response(body, media_type=media_type, headers=headers)
    zipped_key = (*key, "gzip")
    zipped = cache.peek(version, zipped_key) or await run_in_threadpool(
        cache.get, version, zipped_key, lambda: gzip.compress(body, GZIP_LEVEL)
    )
    return Response(zipped, media_type=media_type, headers=headers | {"Content-Encoding": "gzip"})


def client_has(request: Request, etag: str) -> bool:
    """Whether the request's If-None-Match names this answer's ETag: a 304 is then all the client needs. Compared
    weakly, as RFC 9110 asks for If-None-Match: a `W/` on either side does not count. (`*`, "any representation",
    is not taken: it would be a 304 for an IRI that does not exist, checked only after this.)"""
    ours = etag.removeprefix("W/")
    tags = (tag.strip() for tag in request.headers.get("if-none-match", "").split(","))
    return any(tag.removeprefix("W/") == ours for tag in tags)


def plain_error(status: int, message: str, headers: dict[str, str] | None = None) -> PlainTextResponse:
    """Errors for protocol clients (curl, SPARQLWrapper, YASGUI): the status line and the message, nothing raw."""
    return PlainTextResponse(f"{message}\n", status_code=status, headers=headers)


def require_admin(request: Request, settings: Settings) -> None:
    """401 without credentials, 403 with wrong ones or when writes are disabled; compared in constant time."""
    if not settings.admin_token:
        raise HTTPException(403, "writes are disabled: no admin token is configured (STANCEGRAPH_ADMIN_TOKEN)")
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        log.warning("write refused without credentials from %s", _client(request))
        raise HTTPException(
            401,
            "this operation needs Authorization: Bearer <admin token>",
            headers={"WWW-Authenticate": 'Bearer realm="stancegraph"'},
        )
    if not hmac.compare_digest(token.strip().encode(), settings.admin_token.encode()):
        log.warning("write refused with a wrong token from %s", _client(request))
        raise HTTPException(403, "the admin token is not valid")


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def assets_missing(what: str) -> HTMLResponse:
    """A page whose front-end assets `make` has not installed yet says so instead of failing."""
    return HTMLResponse(
        f"<!doctype html><title>Stancegraph</title><p>The {what} assets are not installed: run "
        "<code>make run</code> (it runs <code>npm ci</code>).</p>",
        status_code=503,
    )


def declared_parameters_only(request: Request) -> None:
    """A dependency for the REST operations: a query-string parameter the operation does not declare is a 400
    naming the ones it does, rather than ignored, for a typo (`mod=conflict`, `acter=id:Russia`) would otherwise
    answer another question with a 200."""
    declared = {field.alias for field in request.scope["route"].dependant.query_params}
    unknown = sorted(set(request.query_params) - declared)
    if unknown:
        raise HTTPException(
            400, f"unknown parameter(s) {', '.join(unknown)}; this operation takes {', '.join(sorted(declared))}"
        )
