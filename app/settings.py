"""All settings in one place: STANCEGRAPH_* environment variables, mirrored by `stancegraph serve` flags."""

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Where the data lives and how the service behaves; read once, passed down explicitly."""

    model_config = SettingsConfigDict(env_prefix="STANCEGRAPH_")

    data_dir: Path = PROJECT_ROOT / "data"
    ontology_dir: Path = PROJECT_ROOT / "ontology"
    queries_dir: Path = PROJECT_ROOT / "queries"
    store: str = "memory"
    # credentials for a `sparql:` store that wants them (Fuseki with Shiro, GraphDB, Virtuoso's *-auth endpoints)
    store_user: str | None = None
    store_password: SecretStr | None = None
    store_auth: Literal["basic", "digest"] = "basic"
    host: str = "127.0.0.1"
    port: int = 8000
    validate_on_load: bool = True
    admin_token: str | None = None
    query_timeout: float = 30.0
    max_rows: int = 100_000
    max_query_bytes: int = 1_000_000
    max_upload_bytes: int = 1_000_000_000
    # two per core: while one worker evaluates, the server sends the next job to another
    query_workers: int = Field(default_factory=lambda: 2 * len(os.sched_getaffinity(0)))
    max_waiting_queries: int = 64
    query_memory_mb: int | None = 4096
    view_cache_mb: int = Field(default=1024, ge=0)  # graph views and their answers kept in memory (LRU)
    # SHACL verdicts of earlier loads, reused by an identical load (see app.verdict_cache); empty: keep none
    cache_dir: Path | None = Field(default_factory=lambda: _user_cache() / "stancegraph")
    cors_origins: list[str] = ["*"]
    rate_limit: str | None = None
    # where the windows live: memory:// (each process its own) or redis://host:port/db (shared by every process)
    rate_limit_storage: str = "memory://"
    access_log: bool = True
    federation_allow: list[str] = ["https://query.wikidata.org/sparql", "https://dbpedia.org/sparql"]

    @field_validator("cache_dir", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def writable(self) -> bool:
        """Updates, the Graph Store Protocol's writes and reloads exist only when an admin token is set."""
        return bool(self.admin_token)

    @property
    def rules_dir(self) -> Path:
        return self.queries_dir / "rules"

    @property
    def shapes_file(self) -> Path:
        return self.ontology_dir / "shapes.ttl"

    @property
    def context_file(self) -> Path:
        """The published JSON-LD context (generated from the ontology by `stancegraph context`)."""
        return self.ontology_dir / "context.jsonld"

    def ontology_files(self) -> list[Path]:
        """The ontology's Turtle files, without the SHACL shapes (those are for validation only)."""
        return [p for p in sorted(self.ontology_dir.glob("*.ttl")) if p.resolve() != self.shapes_file.resolve()]


def _user_cache() -> Path:
    """$XDG_CACHE_HOME, else ~/.cache (the XDG base directory default)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
