"""The `stancegraph` command: serve, validate, fix evidence, report statistics."""

import contextlib
import copy
import csv
import logging.config
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, BinaryIO

import typer
from rich.console import Console
from rich.markup import escape as rich_escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from app.corpus import Corpus
from app.evidence import fix_all
from app.exports import EXPORT_FORMATS, export_dataset
from app.imports import ImportRefused, default_graph_for, import_file, remove_import
from app.jsonld import context_text, generate_context, load_context
from app.loader import check
from app.named_queries import (
    Answer,
    ParameterError,
    answer,
    expand_iri,
    json_rows,
    load_named_queries,
    table_rows,
)
from app.namespaces import compact
from app.problems import DataError, LoadFailed
from app.rate_limit import RateLimitError, check_rate_limit
from app.rules import rules_reading_derived
from app.settings import Settings
from app.statistics import document_statistics
from app.store import StoreUnavailable, open_store, prepare_store
from app.store_check import compare_stores

cli = typer.Typer(help="Stancegraph: who proposes, rejects and conditions what in international negotiations.")
# Output that goes to a pipe or a file is not squeezed into 80 columns.
console = Console(soft_wrap=True, emoji=False, width=None if sys.stdout.isatty() else 200)
errors = Console(stderr=True, soft_wrap=True, emoji=False, width=None if sys.stderr.isatty() else 200)

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Folder with sources/, encodings/, links/.")]
StoreSetting = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="Store backend: memory, oxigraph:PATH (on disk) or sparql:QUERY_URL[,UPDATE_URL][,STORE_URL] "
        "[STANCEGRAPH_STORE].",
    ),
]


def _settings(data_dir: Path | None = None, **overrides) -> Settings:
    values = {k: v for k, v in overrides.items() if v is not None}
    if data_dir is not None:
        values["data_dir"] = data_dir
    return Settings(**values)


@cli.command()
def validate(data_dir: DataDir = None, shacl: bool = typer.Option(True, help="Run the SHACL shapes too.")) -> None:
    """Parse every file, run SHACL, check every quote and link; print problems as file:line and exit 1 on errors."""
    corpus = Corpus(_settings(data_dir))
    try:
        store, problems = check(corpus, shacl=shacl)
    except LoadFailed as err:
        errors.print(f"[red]validation could not finish:[/red] {rich_escape(str(err))}", highlight=False)
        raise typer.Exit(1) from err
    if not any(p.is_error for p in problems):  # the rules derived from a complete load
        problems += rules_reading_derived(store, corpus.settings.rules_dir, corpus.name)
    for problem in problems:
        (errors if problem.is_error else console).print(str(problem), markup=False, highlight=False)
    failed = sum(p.is_error for p in problems)
    warned = len(problems) - failed
    if failed:
        errors.print(f"[red]{failed} error(s)[/red], {warned} warning(s) in {len(corpus.data_files())} files")
        raise typer.Exit(1)
    console.print(f"[green]valid[/green]: {len(corpus.data_files())} files, {warned} warning(s)")


@cli.command()
def evidence(
    fix: bool = typer.Option(False, "--fix", help="Write prefix, suffix and offsets of every quote into the files."),
    data_dir: DataDir = None,
) -> None:
    """Check the quote selectors of every encoding, or fill them in with --fix (encoders never count characters)."""
    corpus = Corpus(_settings(data_dir))
    if not fix:
        _, problems = check(corpus, shacl=False)
        quote_problems = [p for p in problems if "quote" in p.message or "oa:" in p.message]
        for problem in quote_problems:
            errors.print(str(problem), markup=False, highlight=False)
        if quote_problems:
            raise typer.Exit(1)
        console.print("[green]every quote is at its stated place[/green]")
        return
    missing_any = False
    for path, (changed, missing) in fix_all(corpus).items():
        console.print(f"{corpus.name(path)}: {changed} selector(s) updated")
        for message in missing:
            missing_any = True
            errors.print(f"{corpus.name(path)}: {message}", markup=False, highlight=False)
    if missing_any:
        raise typer.Exit(1)


@cli.command()
def stats(data_dir: DataDir = None) -> None:
    """Counts per source document: actors, proposals, stances, preconditions, claims, events, quotes."""
    corpus = Corpus(_settings(data_dir))
    try:
        rows = document_statistics(corpus)
    except DataError as err:
        errors.print(str(err), markup=False, highlight=False)
        raise typer.Exit(1) from err
    table = Table(title="Encoded per source document")
    columns = list(rows[0]) if rows else []
    for column in columns:
        table.add_column(column, justify="left" if column == "document" else "right")
    for row in rows:
        table.add_row(*(compact(str(row[c])) for c in columns))
    console.print(table)


ANSWER_FORMATS = ("table", "csv", "json")


@cli.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def query(
    context: typer.Context,
    name: Annotated[str, typer.Argument(help="The named query (file stem in queries/); `list` shows them all.")],
    format: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
    limit: Annotated[int, typer.Option(min=1, help="Rows per page.")] = 100,
    offset: Annotated[int, typer.Option(min=0, help="Rows to skip.")] = 0,
    store: StoreSetting = None,
    data_dir: DataDir = None,
) -> None:
    """Run a named query: `stancegraph query stances-of-actor --actor id:Russia --polarity rejects`."""
    if format not in ANSWER_FORMATS:  # an unknown one was printed as a table, as if it had been understood
        errors.print(f"unknown format {format!r}: use one of {', '.join(ANSWER_FORMATS)}")
        raise typer.Exit(2)
    settings = _settings(data_dir, store=store)
    queries, problems = load_named_queries(settings.queries_dir)
    for problem in problems:
        errors.print(str(problem), markup=False, highlight=False)
    by_name = {q.name: q for q in queries}
    if name == "list" or name not in by_name:
        if name != "list":
            errors.print(f"no named query {name!r}")
        table = Table("name", "parameters", "summary", title="Named queries")
        for q in queries:
            table.add_row(q.name, " ".join(f"--{p.name}{'*' if p.required else ''}" for p in q.params), q.summary)
        console.print(table)
        raise typer.Exit(0 if name == "list" else 2)
    try:
        values = _extra_options(context.args)
        store = _loaded(lambda: open_store(settings))
        result = answer(store, by_name[name], values, limit, offset)
    except (ParameterError, ValueError) as err:
        errors.print(f"[red]{err}[/red]")
        raise typer.Exit(2) from err
    _print_answer(name, result, format)


def _extra_options(args: list[str]) -> dict[str, str]:
    """`--actor id:Russia --polarity=rejects` as {"actor": "id:Russia", "polarity": "rejects"}."""
    values, pending = {}, None
    for arg in args:
        if arg.startswith("--"):
            key, equals, value = arg[2:].partition("=")
            if equals:
                values[key] = value
            else:
                pending = key
        elif pending is not None:
            values[pending], pending = arg, None
        else:
            raise ValueError(f"unexpected argument {arg!r}: give parameters as --name value")
    if pending is not None:
        raise ValueError(f"--{pending} needs a value")
    return values


def _print_answer(name: str, result: Answer, format: str) -> None:
    if format == "json":
        console.print_json(data={"query": name, "total": result.total, "rows": json_rows(result)})
        return
    columns, rows = table_rows(result)
    if format == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(rows)
        return
    shown = [c for c in columns if c.endswith("_label") or f"{c}_label" not in columns]
    table = Table(*shown, title=f"{name}: {len(rows)} of {result.total} rows (offset {result.offset})")
    for row in rows:
        cells = dict(zip(columns, row, strict=True))
        table.add_row(*("" if cells[c] is None else str(cells[c]) for c in shown))
    console.print(table)


@cli.command("import")
def import_(
    file: Annotated[
        Path | None, typer.Argument(help="The extract: N-Triples, Turtle, N-Quads, TriG, JSON-LD, RDF/XML.")
    ] = None,
    graph: Annotated[
        str | None, typer.Option(help="Named graph to load it into [default: id:graph/import/NAME].")
    ] = None,
    format: Annotated[
        str | None, typer.Option(help="nt, ttl, nq, trig, jsonld, rdfxml [default: from the extension].")
    ] = None,
    remove: Annotated[
        str | None, typer.Option("--remove", help="Take the import into this graph IRI out again.")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Import an external extract (e.g. from Wikidata) into its own named graph, kept in data/imports/."""
    settings = _settings(data_dir)
    try:
        if remove:
            removed = remove_import(settings.data_dir, expand_iri(remove))
            console.print(f"removed {removed.graph} ({removed.triples} triples)")
        elif file is None:
            raise ImportRefused("give the FILE to import, or --remove IRI")
        else:
            _import_with_progress(settings, file, expand_iri(graph) if graph else default_graph_for(file), format)
    except (ImportRefused, ValueError) as err:
        errors.print(f"[red]{err}[/red]", highlight=False)
        raise typer.Exit(1) from err
    console.print("a running server picks it up with `stancegraph reload`")


def _import_with_progress(settings: Settings, file: Path, graph: str, format: str | None) -> None:
    if not file.is_file():
        raise ImportRefused(f"{file}: no such file")
    with Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn(), console=errors
    ) as progress:
        task = progress.add_task(f"importing {file.name}", total=file.stat().st_size)
        imported = import_file(settings.data_dir, file, graph, format, advance=lambda n: progress.advance(task, n))
    console.print(f"[green]imported[/green] {imported.triples} triples into {imported.graph}")
    console.print(f"  {Corpus(settings).name(imported.data_file)} (provenance in {imported.provenance_file.name})")


@contextlib.contextmanager
def _whole_file(path: Path) -> Iterator[BinaryIO]:
    """A file that appears at `path` only when complete: an export that fails midway (an IRI JSON-LD cannot
    hold, a graph that is not there) leaves an earlier export at `path` as it was, not cut off."""
    if path.exists() and not path.is_file():  # a device or a pipe (/dev/stdout): nothing to replace
        with path.open("wb") as out:
            yield out
        return
    partial = path.with_name(path.name + ".partial")
    try:
        with partial.open("wb") as out:
            yield out
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


@cli.command()
def export(
    format: Annotated[str, typer.Option(help="trig, nquads, jsonld, ttl or nt (ttl and nt need --graph).")] = "trig",
    graph: Annotated[
        str | None, typer.Option(help="Only this named graph (a full IRI or e.g. id:graph/entities).")
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write [default: stdout].")] = None,
    store: StoreSetting = None,
    data_dir: DataDir = None,
) -> None:
    """Write the whole dataset (every named graph, the derived one included) or one graph."""
    if format not in EXPORT_FORMATS:
        errors.print(f"unknown format {format!r}: use one of {', '.join(EXPORT_FORMATS)}")
        raise typer.Exit(2)
    if output and not output.absolute().parent.is_dir():
        errors.print(f"cannot write {output}: no directory {output.absolute().parent}")
        raise typer.Exit(2)
    settings = _settings(data_dir, store=store)
    try:
        dataset = _loaded(lambda: open_store(settings))
        target = expand_iri(graph) if graph else None
        with _whole_file(output) if output else contextlib.nullcontext(sys.stdout.buffer) as out:
            export_dataset(dataset, out, format, target, load_context(settings.context_file))
    except KeyError as err:
        errors.print(f"no graph {err.args[0]} in the dataset")
        raise typer.Exit(1) from err
    except ValueError as err:
        errors.print(str(err))
        raise typer.Exit(2) from err
    except OSError as err:  # a directory that refuses the file (permissions, /proc, a full disk)
        errors.print(f"cannot write {output}: {err.strerror}")
        raise typer.Exit(1) from err


@cli.command()
def context(
    check: bool = typer.Option(False, "--check", help="Only check that ontology/context.jsonld is current."),
) -> None:
    """Regenerate ontology/context.jsonld (the JSON-LD context) from the ontology."""
    settings = Settings()
    text = context_text(generate_context(settings.ontology_files()))
    current = settings.context_file.read_text(encoding="utf-8") if settings.context_file.exists() else ""
    if check:
        if text != current:
            errors.print(f"{settings.context_file.name} is out of date: run `stancegraph context`")
            raise typer.Exit(1)
        console.print(f"{settings.context_file.name} is current")
        return
    settings.context_file.write_text(text, encoding="utf-8")
    console.print(f"wrote {settings.context_file}")


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on [STANCEGRAPH_HOST].")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port [STANCEGRAPH_PORT].")] = None,
    store: StoreSetting = None,
    admin_token: Annotated[
        str | None, typer.Option(help="Enables updates, Graph Store writes and reload [STANCEGRAPH_ADMIN_TOKEN].")
    ] = None,
    query_timeout: Annotated[
        float | None, typer.Option(help="Seconds before a query is stopped [STANCEGRAPH_QUERY_TIMEOUT].")
    ] = None,
    max_rows: Annotated[int | None, typer.Option(help="Rows or triples per answer [STANCEGRAPH_MAX_ROWS].")] = None,
    query_workers: Annotated[
        int | None, typer.Option(help="Query worker processes per app process [STANCEGRAPH_QUERY_WORKERS].")
    ] = None,
    workers: Annotated[
        int, typer.Option(min=1, help="App processes sharing the port (read-only unless the store is sparql:).")
    ] = 1,
    data_dir: DataDir = None,
) -> None:
    """Load data/ into the store and serve it over HTTP."""
    import uvicorn

    from app.server import create_app

    overrides = dict(
        host=host,
        port=port,
        store=store,
        admin_token=admin_token,
        query_timeout=query_timeout,
        max_rows=max_rows,
        query_workers=query_workers,
    )
    settings = _settings(data_dir, **overrides)
    logging.config.dictConfig(_logging(settings)["log_config"])  # uvicorn's, already now: loading takes a while
    _loaded(lambda: check_rate_limit(settings.rate_limit, settings.rate_limit_storage))
    if workers == 1:
        application = _loaded(lambda: create_app(settings))
        uvicorn.run(application, host=settings.host, port=settings.port, **_logging(settings))
        return
    _check_shared_writes(settings)
    if settings.store == "memory":  # loaded once, here: the app processes are forked with it
        from app.forked_server import serve_forked

        shared = settings.model_copy(update={"query_workers": query_workers_per_process(settings, workers)})
        application = _loaded(lambda: create_app(shared))
        application.state.store.close()  # its query workers: each app process forks its own when it starts
        config = uvicorn.Config(application, host=settings.host, port=settings.port, **_logging(settings))
        status = serve_forked(config, workers)
        if status:
            raise typer.Exit(status)
        return
    _loaded(lambda: prepare_store(settings))  # build once here, so that the app processes only open it
    _export_settings(data_dir, {**overrides, "query_workers": query_workers_per_process(settings, workers)})
    uvicorn.run(
        "app.server:app_from_environment",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        **_logging(settings),
    )


def _logging(settings: Settings) -> dict[str, object]:
    """uvicorn's logging, with our access log (it has each request's time) in place of uvicorn's own line."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["handlers"]["requests"] = {**config["handlers"]["access"], "formatter": "default"}  # stdout
    config["loggers"]["stancegraph"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    config["loggers"]["stancegraph.access"] = {
        "handlers": ["requests"],
        "level": "INFO" if settings.access_log else "WARNING",
        "propagate": False,
    }
    return {"log_config": config, "access_log": False}


def _loaded(make):
    """Run `make` (which loads the store), turning load, store and rate limit errors into one line and exit 1."""
    try:
        return make()
    except DataError as err:
        errors.print("[red]data/ does not load:[/red]")
        errors.print(str(err), markup=False, highlight=False)
        raise typer.Exit(1) from err
    except StoreUnavailable as err:
        errors.print(f"[red]store unavailable:[/red] {rich_escape(str(err))}", highlight=False)
        raise typer.Exit(1) from err
    except LoadFailed as err:
        errors.print(f"[red]data/ could not be loaded:[/red] {rich_escape(str(err))}", highlight=False)
        raise typer.Exit(1) from err
    except RateLimitError as err:
        errors.print(f"[red]rate limit:[/red] {rich_escape(str(err))}", highlight=False)
        raise typer.Exit(1) from err


def _check_shared_writes(settings: Settings) -> None:
    """Several processes share writes only through a remote store: each embedded process has its own data."""
    if settings.writable and not settings.store.startswith("sparql:"):
        errors.print(
            "several app processes cannot share writes to an embedded store: serve read-only (no admin token), "
            "use --workers 1, or put the data in a SPARQL store (--store sparql:...)"
        )
        raise typer.Exit(2)


def query_workers_per_process(settings: Settings, processes: int) -> int:
    """The default two query workers per core are for the machine, so N app processes share them; a number
    set explicitly is kept. More would oversubscribe the cores: two processes with four workers each answered
    10% fewer lookups/s than with two each, on two cores."""
    if "query_workers" in settings.model_fields_set:
        return settings.query_workers
    return max(1, settings.query_workers // processes)


def _export_settings(data_dir: Path | None, overrides: dict) -> None:
    """Hand the command-line settings to the app processes, which read STANCEGRAPH_* like this one."""
    values = {k: v for k, v in overrides.items() if v is not None}
    if data_dir is not None:
        values["data_dir"] = data_dir.resolve()
    for key, value in values.items():
        os.environ[f"STANCEGRAPH_{key.upper()}"] = str(value)


def _reload_failure(response) -> str | None:
    """The error of a reload the server reports as failed (500, JSON status "failed"); None for any other answer,
    such as a proxy's plain-text 500, which is printed as it is."""
    if response.status_code != 500 or not response.headers.get("content-type", "").startswith("application/json"):
        return None
    body = response.json()
    return str(body["error"]) if isinstance(body, dict) and body.get("status") == "failed" else None


@cli.command()
def reload(
    url: Annotated[str, typer.Option(help="Base URL of the running server.")] = "http://127.0.0.1:8000",
    admin_token: Annotated[
        str | None, typer.Option(envvar="STANCEGRAPH_ADMIN_TOKEN", help="The server's admin token.")
    ] = None,
) -> None:
    """Ask a running server to re-read data/; on any error it keeps serving the previous graph."""
    import httpx

    if not admin_token:
        errors.print("reload needs the admin token: --admin-token or STANCEGRAPH_ADMIN_TOKEN")
        raise typer.Exit(2)
    try:
        response = httpx.post(
            f"{url.rstrip('/')}/admin/reload", headers={"authorization": f"Bearer {admin_token}"}, timeout=600
        )
    except httpx.HTTPError as err:
        errors.print(f"cannot reach {url}: {err}")
        raise typer.Exit(1) from err
    if response.status_code == 422:
        for problem in response.json()["problems"]:
            where = f"{problem['file']}:{problem['line']}" if problem["line"] else problem["file"]
            errors.print(f"{where}: {problem['message']}", markup=False, highlight=False)
        errors.print("[red]refused[/red]: the server keeps serving the previous graph")
        raise typer.Exit(1)
    failure = _reload_failure(response)
    if failure is not None:
        errors.print(f"[red]failed[/red]: {rich_escape(failure)}; the server keeps serving the previous graph")
        raise typer.Exit(1)
    if response.status_code != 200:
        errors.print(f"{response.status_code}: {response.text.strip()}", markup=False, highlight=False)
        raise typer.Exit(1)
    body = response.json()
    console.print(
        f"[green]reloaded[/green]: {body['quads']} quads from {body['files']} files, version {body['data_version']}"
    )


@cli.command("compare-store")
def compare_store(
    store: Annotated[
        str, typer.Argument(help="The store to check: sparql:QUERY_URL[,UPDATE_URL][,STORE_URL] or oxigraph:PATH.")
    ],
    limit: Annotated[int, typer.Option(min=1, help="Rows compared per named query.")] = 10_000,
    data_dir: DataDir = None,
) -> None:
    """Load data/ into STORE and into the embedded store, answer every named query and graph view on both, and
    say which answers differ (exit code 1 if any does): check a SPARQL store before pointing the service at it."""
    reference_settings = _settings(data_dir, store="memory")
    reference = _loaded(lambda: open_store(reference_settings))
    candidate = _loaded(lambda: open_store(_settings(data_dir, store=store)))
    queries, _ = load_named_queries(reference_settings.queries_dir)
    comparisons = compare_stores(reference, candidate, queries, limit)
    table = Table("question", "answer on " + store.split(",")[0], "detail", show_lines=True)
    colours = {"same": "green", "reordered": "green", "different": "red", "fails": "red", "skipped": "yellow"}
    for c in comparisons:
        table.add_row(c.question, f"[{colours[c.verdict]}]{c.verdict}[/]", rich_escape(c.detail))
    console.print(table)
    differing = sum(c.verdict in ("different", "fails") for c in comparisons)
    console.print(f"{len(comparisons) - differing} of {len(comparisons)} answers agree")
    if differing:
        raise typer.Exit(1)


def main() -> None:
    cli()
