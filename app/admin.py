"""Operations: liveness, and an atomic reload of data/ (admin token) that keeps the old graph on failure."""

import logging

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from app.http_common import require_admin
from app.problems import DataError, LoadFailed

log = logging.getLogger("stancegraph.load")


async def health(request: Request) -> dict[str, object]:
    store = request.app.state.store
    return {"status": "ok", "data_version": store.data_version}


async def reload(request: Request) -> JSONResponse:
    """Re-read data/; if anything fails to parse or validate, nothing changes and the problems are returned."""
    store = request.app.state.store
    require_admin(request, store.settings)
    queries = request.app.state.named_queries
    try:
        report = await run_in_threadpool(store.reload)
    except DataError as err:
        await run_in_threadpool(queries.refresh)
        problems = [{"file": p.file, "line": p.line, "column": p.column, "message": p.message} for p in err.problems]
        return JSONResponse(
            {"status": "refused", "data_version": store.data_version, "problems": problems}, status_code=422
        )
    except LoadFailed as err:
        log.error("reload failed, the previous graph keeps serving: %s", err)
        return JSONResponse({"status": "failed", "data_version": store.data_version, "error": str(err)}, 500)
    await run_in_threadpool(queries.refresh)
    return JSONResponse(
        {
            "status": "reloaded",
            "data_version": store.data_version,
            "files": report.files,
            "quads": report.quads,
            "seconds": round(report.seconds, 3),
            "warnings": [str(w) for w in report.warnings],
            "queries": sorted(queries.queries),
            "query_problems": [str(p) for p in queries.problems],
        }
    )


def add_routes(app: FastAPI, writable: bool) -> None:
    router = APIRouter(tags=["operations"])
    router.add_api_route("/health", health, methods=["GET"], summary="Liveness and the current data version")
    if writable:
        router.add_api_route(
            "/admin/reload", reload, methods=["POST"], summary="Re-read data/ atomically (admin token)"
        )
    app.include_router(router)
