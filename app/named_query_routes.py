"""Named queries as a REST API: one documented operation per `queries/*.rq`, rebuilt on every reload.

Each query becomes `GET /api/queries/{name}` whose query-string parameters are the query's declared
parameters (typed, with defaults, allowed values and examples in the OpenAPI document) plus `limit`,
`offset` and `format`. Answers carry their true total (`X-Total-Count`) and RFC 8288 `Link` headers.
"""

import csv
import inspect
import io
from typing import Any, Literal

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from app.api_docs import BAD_REQUEST
from app.formats import BadAccept, NotAcceptable, negotiate
from app.http_common import Day, client_has, declared_parameters_only, version_etag
from app.named_queries import (
    Answer,
    NamedQuery,
    Param,
    ParameterError,
    answer,
    answer_document,
    keep_answers_within,
    load_named_queries,
    table_rows,
)
from app.sparql_text import volatile
from app.store import Store
from app.workers import QueryError

PREFIX = "/api/queries"
MAX_LIMIT = 10_000
FORMATS = {"json": "application/json", "csv": "text/csv", "sparql-json": "application/sparql-results+json"}
PYTHON_TYPES = {"iri": str, "string": str, "date": Day, "integer": int, "decimal": float, "boolean": bool}


class NamedQueryRoutes:
    """The named-query endpoints of one app; `refresh()` re-reads queries/ and replaces them."""

    def __init__(self, app: FastAPI, store: Store):
        self.app = app
        self.store = store
        self.queries: dict[str, NamedQuery] = {}
        self.problems: list = []
        self._routes: list[APIRoute] = []

    def refresh(self) -> None:
        queries, self.problems = load_named_queries(self.store.settings.queries_dir, self.store.corpus.name)
        self.queries = {q.name: q for q in queries}
        routes = self.app.router.routes
        for route in self._routes:
            routes.remove(route)
        before = len(routes)
        for query in queries:
            self.app.add_api_route(
                f"{PREFIX}/{query.name}",
                self._endpoint(query),
                methods=["GET"],
                name=f"query_{query.name}",
                operation_id=f"query_{query.name.replace('-', '_')}",
                summary=query.summary,
                description=query.description,
                tags=["named queries", *query.tags],
                response_class=Response,
                responses=_documented_responses(),
                dependencies=[Depends(declared_parameters_only)],
            )
        self._routes = routes[before:]
        self.app.openapi_schema = None  # regenerated with the new operations on the next request

    def listing(self, request: Request) -> dict[str, Any]:
        return {
            "queries": [
                {
                    "name": q.name,
                    "summary": q.summary,
                    "description": q.description,
                    "tags": list(q.tags),
                    "url": str(request.url_for(f"query_{q.name}")),
                    "parameters": [_describe(p) for p in q.params],
                }
                for q in self.queries.values()
            ],
            "problems": [{"file": p.file, "line": p.line, "message": p.message} for p in self.problems],
        }

    def _endpoint(self, query: NamedQuery):
        store = self.store

        async def endpoint(request: Request, **kwargs: Any) -> Response:
            limit, offset, fmt = kwargs.pop("limit"), kwargs.pop("offset"), kwargs.pop("format")
            values = {p.name: kwargs[_python_name(p)] for p in query.params}
            try:
                accept = request.headers.get("accept")
                media_type = negotiate(accept, fmt and FORMATS[fmt], list(FORMATS.values()), aliases=False)
                # the query's text too: an edited queries/*.rq, reloaded, answers otherwise under one data version
                key = (query.name, query.sparql, str(sorted(request.query_params.multi_items())), media_type)
                etag = None if volatile(query.sparql) else version_etag(store.data_version, key)
                if etag and client_has(request, etag):
                    return Response(status_code=304, headers={"ETag": etag, "Vary": "Accept"})
                result = await run_in_threadpool(answer, store, query, values, limit, offset)
            except (ParameterError, BadAccept) as err:
                return JSONResponse({"detail": str(err)}, status_code=400)
            except NotAcceptable as err:
                return JSONResponse({"detail": str(err)}, status_code=406)
            except QueryError as err:
                return JSONResponse({"detail": err.message}, status_code=err.status, headers=err.headers)
            return render(request, query, values, result, media_type, store.data_version, etag)

        endpoint.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request)]
            + [_signature_parameter(p) for p in query.params]
            + _paging_parameters()
        )
        endpoint.__name__ = f"query_{query.name.replace('-', '_')}"
        return endpoint


def _python_name(param: Param) -> str:
    return f"p_{param.name}"


def _signature_parameter(param: Param) -> inspect.Parameter:
    annotation: Any = Literal[tuple(param.enum)] if param.enum else PYTHON_TYPES[param.type]  # type: ignore[valid-type]
    if not param.required:
        annotation = annotation | None
    hint = " (a full IRI or a prefixed name such as id:Russia)"
    described = param.description + (
        hint if param.type == "iri" and not param.enum and "prefixed" not in param.description else ""
    )
    query = Query(
        ... if param.required else param.default,
        alias=param.name,
        description=described.strip(),
        examples=[param.example] if param.example is not None else None,
    )
    return inspect.Parameter(_python_name(param), inspect.Parameter.KEYWORD_ONLY, default=query, annotation=annotation)


def _paging_parameters() -> list[inspect.Parameter]:
    keyword = inspect.Parameter.KEYWORD_ONLY
    return [
        inspect.Parameter(
            "limit", keyword, annotation=int, default=Query(100, ge=1, le=MAX_LIMIT, description="Rows per page.")
        ),
        inspect.Parameter("offset", keyword, annotation=int, default=Query(0, ge=0, description="Rows to skip.")),
        inspect.Parameter(
            "format",
            keyword,
            annotation=Literal["json", "csv", "sparql-json"] | None,
            default=Query(None, description="Answer format, overriding Accept."),
        ),
    ]


def _documented_responses() -> dict[int | str, dict[str, Any]]:
    return {
        200: {
            "description": "One page of rows with the total count; Link headers point to the other pages.",
            "content": {"application/json": {}, "text/csv": {}, "application/sparql-results+json": {}},
        },
        400: {"description": BAD_REQUEST},
    }


def _describe(param: Param) -> dict[str, Any]:
    return {
        "name": param.name,
        "type": param.type,
        "required": param.required,
        "default": param.default,
        "enum": list(param.enum) or None,
        "description": param.description,
        "example": param.example,
    }


def render(
    request: Request, query: NamedQuery, values: dict, result: Answer, media_type: str, version: str, etag: str | None
) -> Response:
    headers = {
        "Link": link_header(request, result),
        "X-Total-Count": str(result.total),
        "Vary": "Accept",
        "Stancegraph-Data-Version": version,
        **({"ETag": etag} if etag else {}),
    }
    if media_type == "text/csv":
        columns, rows = table_rows(result)
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(columns)
        writer.writerows(rows)
        return Response(buffer.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)
    if media_type == "application/sparql-results+json":
        import pyoxigraph as ox

        solutions = ox.parse_query_results(result.page.body, format=ox.QueryResultsFormat.TSV)
        return Response(
            solutions.serialize(format=ox.QueryResultsFormat.JSON),
            media_type="application/sparql-results+json",
            headers=headers,
        )
    return JSONResponse(answer_document(query, values, result), headers=headers)


def link_header(request: Request, result: Answer) -> str:
    """RFC 8288 links: first and last always, prev and next only where such a page exists."""
    limit, offset, total = result.limit, result.offset, result.total
    last = max(0, (total - 1) // limit * limit)
    pages = {"first": 0, "last": last}
    if offset > 0:
        pages["prev"] = max(0, min(offset - limit, last))
    if offset + limit < total:
        pages["next"] = offset + limit
    return ", ".join(
        f'<{request.url.include_query_params(limit=limit, offset=start)}>; rel="{rel}"' for rel, start in pages.items()
    )


def add_routes(app: FastAPI, store: Store) -> NamedQueryRoutes:
    keep_answers_within(store.settings.view_cache_mb)
    registry = NamedQueryRoutes(app, store)

    @app.get(PREFIX, tags=["named queries"], summary="All named queries with their parameters")
    def list_queries(request: Request) -> dict[str, Any]:
        return registry.listing(request)

    registry.refresh()
    app.state.named_queries = registry
    return registry
