"""The SPARQL 1.1 Graph Store HTTP Protocol at /store: read graphs (everyone), replace, merge, delete (admin).

`?default` names the store's own default graph (document metadata), `?graph=IRI` a named graph; GET with
neither returns the whole dataset as quads. Write methods exist only when an admin token is configured.
"""

import os
import tempfile
from collections.abc import Iterator
from typing import BinaryIO

import pyoxigraph as ox
from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from app.formats import RDF_FORMATS, RDF_TYPES, BadAccept, NotAcceptable, negotiate
from app.http_common import plain_error, require_admin, spool_body
from app.store import Store, UpdateError
from app.workers import QueryError, QueryJob

QUAD_TYPES = ["application/n-quads", "application/trig"]


def _target(request: Request) -> str | None:
    """None for ?default, the IRI for ?graph=IRI; 400 for both or neither."""
    params = request.query_params
    graphs = params.getlist("graph")
    if ("default" in params) == bool(graphs) or len(graphs) > 1:
        raise HTTPException(400, "name exactly one graph: ?default or ?graph=IRI")
    if graphs:
        try:
            return ox.NamedNode(graphs[0]).value
        except ValueError:
            raise HTTPException(400, f"{graphs[0]!r} is not a valid IRI") from None
    return None


def _store(request: Request) -> Store:
    return request.app.state.store


def _payload_type(request: Request) -> str:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ox.RdfFormat.from_media_type(media_type) is None:
        raise HTTPException(415, f"unsupported Content-Type {media_type or '(none)'!r}: send an RDF format")
    return media_type


def _spooled_dump(store: Store, fmt: ox.RdfFormat, graph: str | None = None) -> BinaryIO:
    """Every quad of the store, or every triple of a named graph (KeyError if there is none), written to a
    temporary file and sent from there (blocking: called from the thread pool). Held in memory, each request
    took the answer's size: 195 MB of N-Quads for the dataset at 1M triples; a graph went through a query
    worker, under the query time limit, and grew the app by its size (the derived graph at 1M: 48 MB in 2.9 s,
    +118 MB; ten times that at 10M, past the 30 s limit)."""
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by _chunks once sent
    try:
        store.dump(spool, fmt, graph)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool


def _chunks(spool: BinaryIO) -> Iterator[bytes]:
    """The file's bytes a megabyte at a time (read in the thread pool), closing (and so deleting) it at the end
    or when the client goes away."""
    with spool:
        while chunk := spool.read(1 << 20):
            yield chunk


async def read_graph(request: Request) -> Response:
    store = _store(request)
    whole = "default" not in request.query_params and "graph" not in request.query_params
    offered = QUAD_TYPES if whole else RDF_TYPES
    try:
        media_type = negotiate(request.headers.get("accept"), request.query_params.get("format"), offered)
    except (NotAcceptable, BadAccept) as err:
        raise HTTPException(406 if isinstance(err, NotAcceptable) else 400, str(err)) from None
    graph = None if whole else _target(request)
    if whole or graph is not None:
        try:
            spool = await run_in_threadpool(_spooled_dump, store, RDF_FORMATS[media_type][1], graph)
        except KeyError:
            return plain_error(404, f"no graph {graph}")
        except QueryError as err:  # a remote store that did not answer
            return plain_error(err.status, err.message, err.headers)
        size = str(os.fstat(spool.fileno()).st_size)
        content_type = RDF_FORMATS[media_type][0].content_type
        return StreamingResponse(_chunks(spool), media_type=content_type, headers={"Content-Length": size})
    # the store's own default graph (the document records): the one graph `Store.dump` does not name
    job = QueryJob("CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }", union_default_graph=False, graph_format=media_type)
    try:
        outcome = await store.run_async(job)
    except QueryError as err:
        return plain_error(err.status, err.message, err.headers)
    return Response(outcome.body, media_type=RDF_FORMATS[media_type][0].content_type)


async def write_graph(request: Request) -> Response:
    store = _store(request)
    require_admin(request, store.settings)
    graph = _target(request)
    existed = graph is None or await run_in_threadpool(store.has_graph, graph)
    try:
        if request.method == "DELETE":
            if not await run_in_threadpool(store.delete_graph, graph):
                return plain_error(404, f"no graph {graph}")
            return Response(status_code=204)
        media_type = _payload_type(request)
        write = store.replace_graph if request.method == "PUT" else store.add_to_graph
        with await spool_body(request, store.settings.max_upload_bytes) as payload:
            await run_in_threadpool(write, graph, payload, media_type)
    except UpdateError as err:  # a write to the derived graph among them: 403
        return plain_error(err.status, err.message)
    return Response(status_code=204 if existed else 201)


def add_routes(app: FastAPI, writable: bool) -> None:
    router = APIRouter(tags=["Graph Store protocol"])
    operations = [("GET", read_graph, "Read a graph, or the whole dataset as quads")]  # and HEAD (see server)
    if writable:
        operations += [
            ("PUT", write_graph, "Replace a graph (admin token)"),
            ("POST", write_graph, "Merge data into a graph (admin token)"),
            ("DELETE", write_graph, "Delete a graph (admin token)"),
        ]
    for method, handler, summary in operations:
        router.add_api_route(
            "/store",
            handler,
            methods=[method],
            summary=summary,
            operation_id=f"graph_store_{method.lower()}",
            response_class=Response,
        )
    app.include_router(router)
