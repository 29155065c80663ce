"""Graph views over HTTP: `GET /views/{name}` in the format asked for, cached per data version with ETags."""

import itertools
import sys
from collections.abc import Hashable, Iterator
from typing import Annotated, Literal

import networkx as nx
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from app import graph_formats, graph_views
from app.cache import VersionedCache
from app.formats import BadAccept, NotAcceptable, negotiate
from app.graph_page import graph_page
from app.http_common import Day, client_has, declared_parameters_only, kept_response, version_etag
from app.named_queries import expand_iri
from app.store import Store

router = APIRouter(prefix="/views", tags=["graph views"], dependencies=[Depends(declared_parameters_only)])


def _weight(value: nx.Graph | tuple[bytes, str] | bytes) -> int:
    """Bytes a cached value holds: an answer's body (or its gzipped copy), or a graph's attributes and adjacency
    (within about a third of what tracemalloc counts for the views of a 1M-triple corpus)."""
    if isinstance(value, bytes):
        return len(value)
    if isinstance(value, tuple):
        return len(value[0])
    nodes, edges = value.number_of_nodes(), value.number_of_edges()  # a multigraph counts its edges by a walk
    held = _estimated_bytes((data for _, data in value.nodes(data=True)), nodes)
    held += _estimated_bytes((data for *_, data in value.edges(data=True)), edges)
    return held + 200 * (nodes + edges)


WEIGHED = 512  # attribute dicts sized per graph: every one of 20,000 edges took 100-140 ms of a cold 1M view


def _estimated_bytes(attributes: Iterator[dict], count: int) -> int:
    """The size of `count` attribute dicts, from an evenly spaced sample of them (all of them up to `WEIGHED`)."""
    sample = [
        sys.getsizeof(data) + sum(sys.getsizeof(v) for v in data.values())
        for data in itertools.islice(attributes, 0, None, max(1, count // WEIGHED))
    ]
    return sum(sample) * count // len(sample) if sample else 0


# at 10M triples one view and its answer take 100-300 MB: the budget is STANCEGRAPH_VIEW_CACHE_MB (add_routes)
_cache = VersionedCache(size=256, budget=1024 << 20, weigh=_weight)
FormatName = Literal["json", "cytoscape", "graphml", "gexf", "csv", "dot", "svg", "html"]

AsOf = Annotated[Day | None, Query(description="Only statements made on or before this day.")]
Sources = Annotated[list[str] | None, Query(alias="source", description="Only statements from these documents.")]
MinWeight = Annotated[
    int,
    Query(
        ge=1,
        description="Only edges of at least this weight before normalisation: statements behind an actor-issue or"
        " a precondition edge, issues an actor-actor edge stands for.",
    ),
]
Format = Annotated[FormatName | None, Query(description="Export format, overriding Accept.")]

VIEWS = {
    "preconditions": "Issues and what they require; blocked issues, by whom and why; topological order.",
    "stances": "Signed, weighted bipartite network actor -> issue (one edge per polarity).",
    "actors": "One-mode actor network: congruence, conflict or subtract, optionally normalised.",
    "timeline": "Dated stances linked per actor in date order, and events.",
    "what-blocks/{resource}": "Everything a resource requires, with the path and evidence of each edge.",
    "what-follows/{resource}": "Everything that requires a resource.",
    "ego/{resource}": "The neighbourhood of any resource to a depth.",
}


UNKNOWN_RESOURCE: dict[int | str, dict] = {
    404: {"description": "No triple mentions the resource, or no statement cites the `source` (a typo?)."}
}


def _filter(as_of, sources, min_weight) -> graph_views.ViewFilter:
    try:
        iris = tuple(expand_iri(s) for s in sources or ())
    except ValueError as err:
        raise HTTPException(400, f"source: {err}") from None
    return graph_views.ViewFilter(as_of=as_of, sources=iris, min_weight=min_weight)


def _resource(value: str) -> str:
    try:
        return expand_iri(value)
    except ValueError as err:
        raise HTTPException(400, f"resource {value!r}: {err}") from None


def _negotiated(request: Request) -> str:
    offered = [*graph_formats.FORMATS.values(), "text/html"]
    try:
        media_type = negotiate(request.headers.get("accept"), None, offered, aliases=False)
    except NotAcceptable as err:
        raise HTTPException(406, str(err)) from None
    except BadAccept as err:
        raise HTTPException(400, str(err)) from None
    return next((name for name, value in graph_formats.FORMATS.items() if value == media_type), "html")


async def _answer(request: Request, graph_key: Hashable, compute, format_name: str | None) -> Response:
    """Negotiate the format, answer 304 when the client has this version, else build (cached) and send.

    The graph is cached under `graph_key`, what it depends on (view, filter, resource), so that every format
    of a view, and what-blocks and what-follows with the preconditions view, share one graph."""
    store: Store = request.app.state.store
    name = format_name or _negotiated(request)
    if name == "html":
        return graph_page(request)
    key = (request.url.path, str(sorted(request.query_params.multi_items())), name)
    etag = version_etag(store.data_version, key)
    headers = {"ETag": etag, "Vary": "Accept, Accept-Encoding", "Stancegraph-Data-Version": store.data_version}
    if client_has(request, etag):
        return Response(status_code=304, headers=headers)

    def build() -> tuple[bytes, str]:
        graph = _cache.get(store.data_version, graph_key, compute)
        return graph_formats.serialize(graph, name)

    answer = _cache.peek(store.data_version, key)  # sent again: no thread hop
    if answer is None:
        try:
            answer = await run_in_threadpool(_cache.get, store.data_version, key, build)
        except ValueError as err:
            raise HTTPException(400, str(err)) from None
        except graph_views.UnknownResource as err:
            raise HTTPException(404, str(err)) from None
    body, content_type = answer
    return await kept_response(request, _cache, store.data_version, key, body, content_type, headers)


@router.get("", summary="The graph views and what they show")
def list_views() -> dict[str, str]:
    return VIEWS


def _filtered_view(name: str):
    """A route for a view that takes only the common filters (preconditions, stances), built by the function
    of graph_views with its name."""

    async def route(
        request: Request, as_of: AsOf = None, source: Sources = None, min_weight: MinWeight = 1, format: Format = None
    ) -> Response:
        view = _filter(as_of, source, min_weight)
        return await _answer(
            request, (name, view), lambda: getattr(graph_views, name)(request.app.state.store, view), format
        )

    router.add_api_route(
        f"/{name}",
        route,
        methods=["GET"],
        summary=VIEWS[name],
        name=f"view_{name}",
        response_class=Response,
        responses=UNKNOWN_RESOURCE,
    )


def _preconditions(store: Store, view: graph_views.ViewFilter) -> nx.DiGraph:
    """The preconditions view under a filter, the graph its own route caches: built once per data version for
    itself and every resource's what-blocks and what-follows (at 10M triples 7 s to build, a cut one search)."""
    return _cache.get(store.data_version, ("preconditions", view), lambda: graph_views.preconditions(store, view))


_filtered_view("preconditions")
_filtered_view("stances")


@router.get("/actors", summary=VIEWS["actors"], response_class=Response, responses=UNKNOWN_RESOURCE)
async def actors(
    request: Request,
    mode: Annotated[Literal["congruence", "conflict", "subtract"], Query()] = "congruence",
    normalisation: Annotated[Literal["none", "average", "jaccard", "cosine"], Query()] = "none",
    as_of: AsOf = None,
    source: Sources = None,
    min_weight: MinWeight = 1,
    format: Format = None,
) -> Response:
    view = _filter(as_of, source, min_weight)
    store = request.app.state.store
    key = ("actors", view, mode, normalisation)
    return await _answer(request, key, lambda: graph_views.actors(store, view, mode, normalisation), format)


@router.get("/timeline", summary=VIEWS["timeline"], response_class=Response, responses=UNKNOWN_RESOURCE)
async def timeline(request: Request, as_of: AsOf = None, source: Sources = None, format: Format = None) -> Response:
    view = _filter(as_of, source, 1)
    return await _answer(
        request, ("timeline", view), lambda: graph_views.timeline(request.app.state.store, view), format
    )


def _path_view(name: str, build):
    """A route for a view around one resource, given in the path (what-blocks, what-follows)."""

    async def route(
        request: Request, resource: str, as_of: AsOf = None, source: Sources = None, format: Format = None
    ) -> Response:
        iri, view = _resource(resource), _filter(as_of, source, 1)
        store = request.app.state.store
        return await _answer(request, (name, iri, view), lambda: build(store, _preconditions(store, view), iri), format)

    router.add_api_route(
        f"/{name}/{{resource:path}}",
        route,
        methods=["GET"],
        summary=VIEWS[f"{name}/{{resource}}"],
        name=f"view_{name}",
        response_class=Response,
        responses=UNKNOWN_RESOURCE,
    )


_path_view("what-blocks", graph_views.what_blocks)
_path_view("what-follows", graph_views.what_follows)


@router.get(
    "/ego/{resource:path}", summary=VIEWS["ego/{resource}"], response_class=Response, responses=UNKNOWN_RESOURCE
)
async def ego(
    request: Request,
    resource: str,
    depth: Annotated[int, Query(ge=0, le=4)] = 1,
    limit: Annotated[
        int,
        Query(ge=1, le=50_000, description="No further level is asked once the neighbourhood has this many nodes"),
    ] = graph_views.EGO_LIMIT,
    format: Format = None,
) -> Response:
    iri = _resource(resource)
    store = request.app.state.store
    return await _answer(request, ("ego", iri, depth, limit), lambda: graph_views.ego(store, iri, depth, limit), format)


def add_routes(app: FastAPI) -> None:
    _cache.budget = app.state.settings.view_cache_mb << 20
    app.include_router(router)
