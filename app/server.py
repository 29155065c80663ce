"""The FastAPI application: assembles settings, the store and the routers; no logic of its own."""

from fastapi import FastAPI

from app import __version__
from app.settings import Settings
from app.store import EmbeddedStore, open_store


def create_app(settings: Settings | None = None, store: EmbeddedStore | None = None) -> FastAPI:
    """Build the app around a loaded store (DataError if data/ does not load)."""
    settings = settings or Settings()
    store = store or open_store(settings)
    app = FastAPI(title="Stancegraph", version=__version__, description=__doc__)
    app.state.store = store
    app.state.settings = settings

    @app.get("/health", tags=["operations"], summary="Liveness and the current data version")
    def health() -> dict[str, object]:
        return {"status": "ok", "data_version": store.data_version, "graphs": len(store.named_graphs())}

    return app
