"""The SPARQL 1.1 Protocol at /sparql: query by GET and POST, update by POST (admin), service description.

Handlers only read the request, negotiate a format and hand a QueryJob to the store; the store runs it in a
killable worker and returns bytes from the engine's own serializers. Blocking calls go to the thread pool.
"""

import functools

import pyoxigraph as ox
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from app.cache import VersionedCache
from app.formats import RDF_FORMATS, RDF_TYPES, RESULT_FORMATS, RESULT_TYPES, BadAccept, NotAcceptable, negotiate
from app.http_common import (
    client_has,
    form_fields,
    kept_response,
    plain_error,
    read_body,
    require_admin,
    version_etag,
)
from app.query_ui import query_page
from app.service_description import description, description_cache
from app.sparql_text import TooDeep, UnreadableService, check_nesting, service_endpoints, volatile
from app.store import Store, UpdateError
from app.update_dataset import DatasetConflict, with_using
from app.workers import QueryError, QueryJob, QueryOutcome

router = APIRouter(tags=["SPARQL protocol"])

MAX_CACHED_BYTES = 1_000_000  # answers worth keeping in memory (256 of them at most)
_answers = VersionedCache(size=256)  # identical queries on unchanged data: answered without the engine
FORM = "application/x-www-form-urlencoded"
QUERY_BODY = "application/sparql-query"
UPDATE_BODY = "application/sparql-update"

DOC = """SPARQL 1.1 Protocol endpoint.

* **Query**: `GET /sparql?query=...`, `POST` with `application/x-www-form-urlencoded` (`query=...`) or with
  `application/sparql-query` (the query as body).
* **Dataset**: without `default-graph-uri` / `named-graph-uri` (and without FROM in the query) the default
  graph is the **union of all graphs**; with them, exactly the graphs named. `union-default-graph=false`
  queries the store's own default graph (document metadata) instead of the union.
* **Formats** by `Accept` or `format=` (json, xml, csv, tsv for SELECT/ASK; ttl, nt, jsonld, rdfxml, trig, nq
  for CONSTRUCT/DESCRIBE). 406 if nothing acceptable.
* **Limits**: queries are stopped after `STANCEGRAPH_QUERY_TIMEOUT` seconds (503); results longer than
  `STANCEGRAPH_MAX_ROWS` are cut and the response says so in `Stancegraph-Truncated: true`.
* **Update**: `POST` with `application/sparql-update` or form `update=`, needs `Authorization: Bearer <token>`.
  One that writes to `…/graph/derived` is refused (403): the rules rebuild that graph after every write.
* Without `query`: the service description (RDF) or, for browsers, the query editor.
"""


def _store(request: Request) -> Store:
    return request.app.state.store


def _single(params: list[tuple[str, str]], name: str) -> str | None:
    values = [v for k, v in params if k == name]
    if len(values) > 1:
        raise HTTPException(400, f"the {name!r} parameter was given {len(values)} times; give it once")
    return values[0] if values else None


def _iri(value: str) -> str:
    try:
        return ox.NamedNode(value).value
    except ValueError:
        raise HTTPException(400, f"graph IRI {value!r} is not a valid IRI") from None


def _dataset(params: list[tuple[str, str]]) -> dict[str, object]:
    """Protocol dataset parameters, plus `union-default-graph=false` for the store's own default graph."""
    union = _single(params, "union-default-graph")
    if union not in (None, "true", "false"):
        raise HTTPException(400, "union-default-graph must be true or false")
    default = tuple(_iri(v) for k, v in params if k == "default-graph-uri")
    named = tuple(_iri(v) for k, v in params if k == "named-graph-uri")
    return {"default_graphs": default or None, "named_graphs": named or None, "union_default_graph": union != "false"}


def check_federation(text: str, allowed: list[str]) -> list[str | None]:
    """Refuse SERVICE calls to any endpoint not on the allow-list before anything is evaluated (no SSRF);
    the endpoints called."""
    try:
        endpoints = service_endpoints(text)
    except UnreadableService as err:
        raise HTTPException(400, str(err)) from None
    for endpoint in endpoints:
        if endpoint is None:
            raise HTTPException(
                403, "SERVICE needs a literal endpoint IRI from the federation allow-list, not a variable"
            )
        if endpoint not in allowed:
            raise HTTPException(
                403, f"SERVICE <{endpoint}> is not on the federation allow-list (STANCEGRAPH_FEDERATION_ALLOW)"
            )
    return endpoints


def _endpoint(request: Request) -> str:
    """This endpoint's URL: the base IRI of queries and updates that declare none."""
    scope = request.scope
    server = scope.get("server")
    host = request.headers.get("host")
    return _endpoint_at(scope["scheme"], host, server and tuple(server), scope.get("root_path", ""))


@functools.lru_cache(maxsize=64)
def _endpoint_at(scheme: str, host: str | None, server: tuple[str, int] | None, root_path: str) -> str:
    """Starlette's base URL for these request values, computed once (it parses a URL every time)."""
    scope = {"type": "http", "scheme": scheme, "server": server, "root_path": root_path, "path": "/"}
    scope["headers"] = [(b"host", host.encode("latin-1"))] if host is not None else []
    return f"{Request(scope).base_url}sparql"


def _negotiate(request: Request, params: list[tuple[str, str]]) -> tuple[str | None, str | None]:
    """The best result format and the best RDF format for this request (either may be None); a `format`
    parameter given more than once counts by its last value, as in Starlette's `query_params`."""
    return _formats(request.headers.get("accept"), dict(params).get("format"))


@functools.lru_cache(maxsize=256)
def _formats(accept: str | None, format_param: str | None) -> tuple[str | None, str | None]:
    """Negotiation depends only on these two values, and clients send the same few again and again."""
    chosen = []
    for offered in (RESULT_TYPES, RDF_TYPES):
        try:
            chosen.append(negotiate(accept, format_param, offered))
        except NotAcceptable:
            chosen.append(None)
        except BadAccept as err:
            raise HTTPException(400, str(err)) from None
    if chosen == [None, None]:
        raise HTTPException(406, f"no result format matches Accept {accept!r}; see the service description")
    return chosen[0], chosen[1]


def _response(outcome: QueryOutcome, version: str, etag: str | None, max_rows: int) -> Response:
    table = RDF_FORMATS if outcome.kind == "triples" else RESULT_FORMATS
    headers = {
        "Vary": "Accept",
        "Stancegraph-Data-Version": version,
        "Stancegraph-Rows": str(outcome.rows),
        "Stancegraph-Row-Limit": str(max_rows),
        "Stancegraph-Truncated": "true" if outcome.truncated else "false",
        **({"ETag": etag} if etag else {}),
    }
    return Response(outcome.body, media_type=table[outcome.media_type][0].content_type, headers=headers)


async def answer_query(request: Request, query: str, params: list[tuple[str, str]]) -> Response:
    store = _store(request)
    settings = store.settings
    if len(query.encode()) > settings.max_query_bytes:
        return plain_error(413, f"query longer than the {settings.max_query_bytes:,} byte limit")
    federated = bool(check_federation(query, settings.federation_allow))
    try:
        check_nesting(query)
    except TooDeep as err:
        return plain_error(400, str(err))
    result_format, graph_format = _negotiate(request, params)
    job = QueryJob(
        query,
        result_format=result_format,
        graph_format=graph_format,
        max_rows=settings.max_rows,
        base_iri=_endpoint(request),
        **_dataset(params),
    )
    version = store.data_version
    # answers from other endpoints do not follow our data version, nor do the time and random numbers
    unkept = federated or volatile(query)
    etag = None if unkept else version_etag(version, job)
    if etag and client_has(request, etag):
        return Response(status_code=304, headers={"ETag": etag, "Vary": "Accept"})
    fresh = unkept or "no-cache" in request.headers.get("cache-control", "")
    try:
        outcome = None if fresh else _answers.peek(version, job)  # a repeated question: not asked again
        if outcome is None:
            outcome = await store.run_async(job)
            if etag and len(outcome.body) <= MAX_CACHED_BYTES:
                _answers.put(version, job, outcome)
    except QueryError as err:
        return plain_error(err.status, err.message, err.headers)
    return _response(outcome, version, etag, settings.max_rows)


async def answer_update(request: Request, update: str, params: list[tuple[str, str]]) -> Response:
    store = _store(request)
    require_admin(request, store.settings)
    using = [_iri(v) for k, v in params if k == "using-graph-uri"]
    using_named = [_iri(v) for k, v in params if k == "using-named-graph-uri"]
    check_federation(update, store.settings.federation_allow)
    try:
        check_nesting(update)
        update = with_using(update, using, using_named)
        await run_in_threadpool(store.update, update, _endpoint(request))
    except (DatasetConflict, TooDeep) as err:
        return plain_error(400, str(err))
    except UpdateError as err:  # one writing to the derived graph among them: 403
        return plain_error(err.status, err.message)
    return Response(status_code=204, headers={"Stancegraph-Data-Version": store.data_version})


async def service_description(request: Request) -> Response:
    """The service description with the dataset's VoID (statistics computed off the event loop, cached)."""
    store = _store(request)
    try:
        media_type = negotiate(request.headers.get("accept"), request.query_params.get("format"), RDF_TYPES)
    except NotAcceptable as err:
        raise HTTPException(406, str(err)) from None
    except BadAccept as err:
        raise HTTPException(400, str(err)) from None
    version, key = store.data_version, ("description", str(request.base_url), media_type)
    headers = {"Vary": "Accept", "ETag": version_etag(version, key)}
    if client_has(request, headers["ETag"]):
        return Response(status_code=304, headers=headers)
    body = description_cache.peek(version, key) or await run_in_threadpool(
        description_cache.get, version, key, lambda: description(store, key[1], RDF_FORMATS[media_type][1])
    )
    return await kept_response(
        request, description_cache, version, key, body, RDF_FORMATS[media_type][0].content_type, headers
    )


router.add_api_route(
    "/.well-known/void",
    service_description,
    methods=["GET"],
    summary="VoID description of the dataset: graphs, triple counts, class and property partitions, linksets",
    response_class=Response,
    tags=["linked data"],
)


def wants_html(request: Request) -> bool:
    """A browser asking for a page (text/html preferred over every RDF type)."""
    try:
        return negotiate(request.headers.get("accept"), None, [*RDF_TYPES, "text/html"]) == "text/html"
    except (NotAcceptable, BadAccept):
        return False


def _documented(name: str, description: str, many: bool = False) -> dict[str, object]:
    """An OpenAPI query parameter; the handler reads the raw parameters (repeats are caught, order kept)."""
    schema: dict[str, object] = {"type": "array", "items": {"type": "string"}} if many else {"type": "string"}
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


GET_PARAMETERS = [
    _documented("query", "The SPARQL query."),
    _documented("default-graph-uri", "Graphs forming the default graph.", many=True),
    _documented("named-graph-uri", "Graphs available to GRAPH.", many=True),
    _documented("union-default-graph", "false: the store's own default graph instead of the union of all graphs."),
    _documented("format", "Result format short name, overriding Accept."),
]


@router.get(
    "/sparql",
    name="sparql_get",
    summary="SPARQL query (GET), service description or query editor",
    description=DOC,
    response_class=Response,
    openapi_extra={"parameters": GET_PARAMETERS},
)
async def sparql_get(request: Request) -> Response:
    # Parameters are documented in OpenAPI above but read raw: FastAPI's per-request parameter validation
    # would cost more than the rest of answering a simple query.
    params = _url_fields(request)
    if _single(params, "update") is not None:
        return plain_error(400, "updates must be sent with POST")
    query = _single(params, "query")
    if query is None:
        return await home(request)
    return await answer_query(request, query, params)


def _url_fields(request: Request) -> list[tuple[str, str]]:
    """The URL's parameters in order, repeats kept (so that `_single` can refuse them)."""
    return form_fields(request.scope["query_string"].decode("latin-1"))


@router.get("/", include_in_schema=False)
async def home(request: Request) -> Response:
    """Browsers get the query editor; RDF clients the service description."""
    return query_page(request) if wants_html(request) else await service_description(request)


@router.post("/sparql", summary="SPARQL query or update (POST)", description=DOC, response_class=Response)
async def sparql_post(request: Request) -> Response:
    store = _store(request)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    url_params = _url_fields(request)
    body = await read_body(request, store.settings.max_query_bytes)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return plain_error(400, "the request body is not UTF-8")
    if content_type == FORM:
        params = form_fields(text) + url_params
        query, update = _single(params, "query"), _single(params, "update")
        if query is not None and update is not None:
            return plain_error(400, "give either 'query' or 'update', not both")
        if update is not None:
            return await answer_update(request, update, params)
        if query is None:
            return plain_error(400, "missing 'query' (or 'update') parameter in the form body")
        return await answer_query(request, query, params)
    if content_type == QUERY_BODY:
        return await answer_query(request, text, url_params)
    if content_type == UPDATE_BODY:
        return await answer_update(request, text, url_params)
    return plain_error(
        415, f"unsupported Content-Type {content_type or '(none)'!r}: use {FORM}, {QUERY_BODY} or {UPDATE_BODY}"
    )
