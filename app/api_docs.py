"""The API's documentation page: Swagger UI over our OpenAPI document, served from node_modules (installed by
`make`, never from a CDN).

FastAPI's own /docs and /redoc load their scripts and styles from a CDN: on a machine that cannot reach it
(an analyst's laptop on a plane, a locked-down deployment) the pages linked from every Stancegraph page were
blank. The same Swagger UI, with every request it makes going to this server.
"""

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from app.http_common import assets_missing
from app.settings import PROJECT_ROOT

SWAGGER_DIR = PROJECT_ROOT / "node_modules" / "swagger-ui-dist"
ASSETS = "/assets/swagger-ui"
OAUTH2_REDIRECT = "/docs/oauth2-redirect"

BAD_REQUEST = "A parameter that does not fit its declaration."
BAD_REQUEST_JSON = {
    "application/json": {
        "schema": {
            "type": "object",
            "required": ["detail"],
            "properties": {
                "detail": {
                    "anyOf": [
                        {"type": "string"},
                        {"type": "array", "items": {"$ref": "#/components/schemas/ValidationError"}},
                    ]
                }
            },
        }
    }
}
BAD_REQUEST_PLAIN = {"text/plain": {"schema": {"type": "string"}}}


def add_routes(app: FastAPI) -> None:
    """/docs (and its OAuth2 redirect page), with the Swagger UI build mounted if `make` installed it."""
    if SWAGGER_DIR.is_dir():
        app.mount(ASSETS, StaticFiles(directory=SWAGGER_DIR), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    def docs(request: Request) -> HTMLResponse:
        if not SWAGGER_DIR.is_dir():
            return assets_missing("API page's")
        root = request.scope.get("root_path", "").rstrip("/")  # behind a proxy that serves us under a prefix
        return get_swagger_ui_html(
            openapi_url=root + app.openapi_url,
            title=f"{app.title} API",
            swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS}/favicon-32x32.png",
            oauth2_redirect_url=root + OAUTH2_REDIRECT,
            swagger_ui_parameters={"validatorUrl": None},  # else it asks validator.swagger.io about the document
        )

    @app.get(OAUTH2_REDIRECT, include_in_schema=False)
    def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()


def as_answered(schema: dict, plain_paths: tuple[str, ...]) -> dict:
    """FastAPI's document says a parameter that does not validate gets a 422; this app answers 400 (what SPARQL
    and REST clients expect of a bad request): JSON with the reason or the list of errors, or plain text on the
    protocol paths. A client generated from the document would otherwise wait for a status that never comes."""
    for path, item in schema.get("paths", {}).items():
        for operation in item.values():
            responses = operation.get("responses", {})
            if responses.pop("422", None) is not None:
                bad = responses.setdefault("400", {"description": BAD_REQUEST})
                bad["content"] = BAD_REQUEST_PLAIN if path.startswith(plain_paths) else BAD_REQUEST_JSON
    schema.get("components", {}).get("schemas", {}).pop("HTTPValidationError", None)
    return schema
