"""Named queries: `queries/*.rq` files with a header of `#+` decorators (grlc style, YAML).

    #+ summary: Stances of an actor
    #+ params:
    #+   - name: actor
    #+     type: iri
    #+     required: true

Parameters are converted to typed RDF terms and bound through a VALUES block that opens the query's WHERE
group — never spliced into the query text — so a value such as `"} UNION { ?s ?p ?o` stays a plain value;
a `VALUES ?name { UNDEF }` placeholder inside a subquery gets the same term (app.sparql_text.fill_placeholders).
Pages are true: a COUNT over the same bindings gives the total; answers are cached per data version.
"""

import datetime
import functools
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyoxigraph as ox
import yaml

from app.cache import VersionedCache
from app.namespaces import PREFIXES, XSD
from app.problems import Problem
from app.sparql_text import bind_values, count_query, has_solution_limit, page_query, volatile
from app.store import TSV, Row, Store
from app.workers import NoWorkerFree, QueryJob, QueryOutcome, QueryTimeout, syntax_position

PARAM_TYPES = {"iri", "string", "date", "integer", "decimal", "boolean"}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ParameterError(ValueError):
    """A parameter value that cannot become the RDF term its declaration asks for."""


@dataclass(frozen=True)
class Param:
    """A declared parameter: its SPARQL variable name, type, and what the API documents about it."""

    name: str
    type: str = "string"
    required: bool = False
    default: Any = None
    enum: tuple[str, ...] = ()
    prefix: str | None = None
    description: str = ""
    example: Any = None

    def term(self, value: Any) -> ox.NamedNode | ox.Literal:
        """The typed RDF term for a value (ParameterError if it does not fit the declaration)."""
        if self.enum and str(value) not in self.enum:
            raise ParameterError(f"{self.name} must be one of {', '.join(self.enum)}, not {value!r}")
        try:
            if self.type == "iri":
                return ox.NamedNode(expand_iri(str(value), self.prefix))
            if self.type == "date":
                return ox.Literal(calendar_date(value).isoformat(), datatype=ox.NamedNode(XSD + "date"))
            if self.type == "integer":
                return ox.Literal(str(int(value)), datatype=ox.NamedNode(XSD + "integer"))
            if self.type == "decimal":
                return ox.Literal(str(float(value)), datatype=ox.NamedNode(XSD + "decimal"))
            if self.type == "boolean":
                return ox.Literal(_boolean(value), datatype=ox.NamedNode(XSD + "boolean"))
            return ox.Literal(str(value))
        except ValueError as err:
            raise ParameterError(f"{self.name}: {value!r} is not a valid {self.type} ({err})") from None


_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def calendar_date(value: object) -> datetime.date:
    """A day, written YYYY-MM-DD (or a date; a datetime at midnight counts as its day), else a ValueError that
    says how to write it. Why: pydantic's dates also take Unix timestamps (`from=0` was 1970-01-01, and
    `from=2009` was refused as a moment 'with time'), and Python's fromisoformat takes 20090101 and week dates."""
    if isinstance(value, datetime.datetime):
        if value.time() != datetime.time(0):
            raise ValueError(f"{value.isoformat()} is a moment, not a day")
        return value.date()
    if isinstance(value, datetime.date):
        return value
    if not _DAY.fullmatch(str(value)):
        raise ValueError(f"{str(value)!r} is not a date: write the day as YYYY-MM-DD, e.g. 2009-06-11")
    try:
        return datetime.date.fromisoformat(str(value))
    except ValueError as err:
        raise ValueError(f"{str(value)!r} is not a day of the calendar ({err})") from None


def _boolean(value: Any) -> str:
    text = str(value).lower()
    if text not in ("true", "false", "1", "0"):
        raise ValueError("use true or false")
    return "true" if text in ("true", "1") else "false"


def expand_iri(value: str, prefix: str | None = None) -> str:
    """A full IRI from `https://...`, a prefixed name (`id:Russia`) or, with a declared prefix, a bare name."""
    value = value.strip()
    head, colon, tail = value.partition(":")
    if colon and head in PREFIXES and not tail.startswith("//"):
        return PREFIXES[head] + tail
    if colon:
        return ox.NamedNode(value).value
    if prefix:
        return PREFIXES[prefix] + value
    raise ValueError("give a full IRI or a prefixed name such as id:Russia")


@dataclass(frozen=True)
class NamedQuery:
    """One .rq file: its name (file stem), decorators, parameters and SPARQL text."""

    name: str
    path: Path
    sparql: str
    summary: str = ""
    description: str = ""
    tags: tuple[str, ...] = ()
    params: tuple[Param, ...] = field(default_factory=tuple)

    def bindings(self, values: dict[str, Any]) -> dict[str, ox.NamedNode | ox.Literal]:
        """Typed terms for the given values plus declared defaults; ParameterError for missing or bad ones."""
        unknown = set(values) - {p.name for p in self.params}
        if unknown:
            raise ParameterError(f"unknown parameter(s) {', '.join(sorted(unknown))} for {self.name}")
        terms = {}
        for param in self.params:
            value = values.get(param.name, param.default)
            if value is None or value == "":
                if param.required:
                    raise ParameterError(f"{param.name} is required")
                continue
            terms[param.name] = param.term(value)
        return terms


def parse_decorators(text: str) -> dict:
    """The YAML held by the leading `#+` lines of a query file."""
    lines = []
    for line in text.splitlines():
        if not line.startswith("#+"):
            break
        lines.append(line[2:].removeprefix(" "))
    data = yaml.safe_load("\n".join(lines)) if lines else {}
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError("the #+ header must be YAML key: value lines")
    return data


def _param(spec: Any) -> Param:
    if not isinstance(spec, dict) or not _NAME.match(str(spec.get("name", ""))):
        raise ValueError(f"each parameter needs a name made of letters, digits and _ (got {spec!r})")
    kind = spec.get("type", "string")
    if kind not in PARAM_TYPES:
        raise ValueError(f"parameter {spec['name']}: type must be one of {', '.join(sorted(PARAM_TYPES))}")
    if spec.get("prefix") is not None and spec["prefix"] not in PREFIXES:
        raise ValueError(f"parameter {spec['name']}: unknown prefix {spec['prefix']!r}")
    param = Param(
        name=spec["name"],
        type=kind,
        required=bool(spec.get("required", False)),
        default=spec.get("default"),
        enum=tuple(str(v) for v in spec.get("enum") or ()),
        prefix=spec.get("prefix"),
        description=str(spec.get("description", "")),
        example=spec.get("example"),
    )
    for value in (param.default, param.example, *param.enum):
        if value is not None:
            param.term(value)
    return param


_COMMENT_LINE = re.compile(r"(?m)^\s*#.*$")


def read_named_query(path: Path) -> NamedQuery:
    """Parse and check one file (ValueError / yaml.YAMLError / SyntaxError with a line where known)."""
    text = path.read_text(encoding="utf-8")
    decorators = parse_decorators(text)
    params = tuple(_param(spec) for spec in decorators.get("params") or ())
    query = NamedQuery(
        name=path.stem,
        path=path,
        sparql=text,
        summary=str(decorators.get("summary", path.stem)),
        description=str(decorators.get("description", "")),
        tags=tuple(str(t) for t in decorators.get("tags") or ()),
        params=params,
    )
    if has_solution_limit(text):
        raise ValueError("a named query must not set LIMIT or OFFSET: the API pages it (limit, offset)")
    body = _COMMENT_LINE.sub("", text)
    for param in params:  # bound to a variable the query never uses, a parameter would answer everything
        if not re.search(rf"[?$]{re.escape(param.name)}\b", body):
            raise ValueError(f"parameter {param.name} is declared but the query never uses ?{param.name}")
    result = ox.Store().query(text)  # parses (with the full text, so error lines are file lines)
    if not isinstance(result, ox.QuerySolutions):
        raise ValueError("a named query must be a SELECT query")
    return query


def load_named_queries(queries_dir: Path, name=str) -> tuple[list[NamedQuery], list[Problem]]:
    """Every query file in the folder (rules/ excluded); a broken file is reported, the others still load."""
    queries, problems = [], []
    for path in sorted(queries_dir.glob("*.rq")):
        try:
            queries.append(read_named_query(path))
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            problems.append(Problem(name(path), (mark.line + 1) if mark else 1, f"bad #+ header: {err}"))
        except SyntaxError as err:
            line, column, detail = syntax_position(err)
            problems.append(Problem(name(path), line, f"SPARQL syntax error: {detail}", column=column))
        except ValueError as err:
            problems.append(Problem(name(path), 1, str(err)))
    return queries, problems


@dataclass(frozen=True)
class Answer:
    """A page of a named query's answer, its true total, and labels for the IRIs it contains."""

    variables: list[str]
    rows: list[Row]
    total: int
    limit: int
    offset: int
    labels: dict[str, str]
    page: QueryOutcome


@dataclass(frozen=True)
class _Block:
    """Rows `start` onwards of a question's ordered answer, as the TSV lines the engine wrote (one per row)."""

    header: bytes
    lines: list[bytes]
    start: int


def _weight(value: "Answer | _Block | int") -> int:
    """Bytes a cached value holds, by estimate: an answer's rows as Python terms take about four times their TSV
    (10 MB for a page of 10,000 rows of blocked-proposals, whose TSV is 2.6 MB); a block, its lines."""
    if isinstance(value, Answer):
        return 4 * len(value.page.body) + 1024
    if isinstance(value, _Block):
        return sum(len(line) + 40 for line in value.lines) + 1024
    return 64


# bounded in bytes, as the views are (STANCEGRAPH_VIEW_CACHE_MB, set by the app): by entries alone 1,024 pages of
# 10,000 rows could hold 10 GB
_cache = VersionedCache(size=4096, budget=1024 << 20, weigh=_weight)


def keep_answers_within(megabytes: int) -> None:
    _cache.budget = megabytes << 20


PAGES_AHEAD = 10  # pages fetched in one evaluation, for the client that follows `next`...
ROWS_AHEAD = 100_000  # ...but never more rows at once than this


def answer(
    store: Store, query: NamedQuery, values: dict[str, Any], limit: int, offset: int, cached: bool = True
) -> Answer:
    """Run a named query (blocking): one page, the total count and labels; cached until the data changes
    (`cached=False` asks the store itself, e.g. to compare two stores that hold the same data version), unless
    the query calls NOW(), RAND(), UUID() or STRUUID() (see volatile)."""
    if limit < 1 or offset < 0:  # they become LIMIT and OFFSET in the query text, where they would not parse
        raise ParameterError(f"a page needs limit >= 1 and offset >= 0 (got limit {limit}, offset {offset})")
    bindings = query.bindings(values)
    asked = (query.name, query.sparql, tuple(sorted((k, str(v)) for k, v in bindings.items())))
    try:
        if not cached or volatile(query.sparql):
            bound = bind_values(query.sparql, bindings)
            tsv, total = _page_and_total(store, bound, limit, offset, lambda: _count(store, bound))
            return _answer_of(store, tsv, total, limit, offset)
        page = functools.partial(_cut_from_block, store, bind_values(query.sparql, bindings), asked, limit, offset)
        return _cache.get(store.data_version, (*asked, limit, offset), page)
    except QueryTimeout as err:
        raise _narrowing(query, bindings, err) from None


def _cut_from_block(store: Store, bound: str, asked: tuple, limit: int, offset: int) -> Answer:
    """A page not asked before, cut from the block of pages it belongs to.

    Every page evaluates and sorts the whole query (at 1M triples 12.5 s for each page of blocked-proposals),
    so pages are fetched PAGES_AHEAD at a time (at most ROWS_AHEAD rows) and kept as the engine's TSV lines for
    the client that follows `next`, each parsed and labelled only when asked. The total does not depend on
    the page: it is counted once per question, beside the first block."""
    version = store.data_version

    @functools.cache  # counted beside the block, and taken from there (also when the cache keeps nothing)
    def total() -> int:
        return _cache.get(version, ("total", *asked), lambda: _count(store, bound))

    span = limit * max(1, min(PAGES_AHEAD, ROWS_AHEAD // limit))
    start = offset - offset % span
    if offset + limit > start + span:  # across two blocks: an offset that is not a multiple of the limit
        return _answer_of(store, *_page_and_total(store, bound, limit, offset, total), limit, offset)

    def fetch() -> _Block:
        tsv, _ = _page_and_total(store, bound, span, start, total)
        header, *lines = tsv.removesuffix(b"\n").split(b"\n")
        return _Block(header, lines, start)

    block = _cache.get(version, ("block", *asked, span, start), fetch)
    lines = block.lines[offset - start : offset - start + limit]
    return _answer_of(store, b"".join(line + b"\n" for line in [block.header, *lines]), total(), limit, offset)


def _narrowing(query: NamedQuery, bindings: dict, timeout: QueryTimeout) -> QueryTimeout:
    """A query stopped at the time limit, with the parameters left unset that would ask for less (a busy
    server's timeout is left as it is: asking for less is not what it needs)."""
    unset = [p.name for p in query.params if p.name not in bindings]
    if isinstance(timeout, NoWorkerFree) or not unset:
        return timeout
    return QueryTimeout(f"{timeout.message}; narrow {query.name} with one of its parameters: {', '.join(unset)}")


def _page_and_total(store: Store, bound: str, limit: int, offset: int, total: Callable[[], int]) -> tuple[bytes, int]:
    """(the page as TSV, the total). Asked at once: each evaluates the whole query (a sorted page needs every
    solution), so side by side, in two query workers, a cold answer costs one evaluation's time, not two."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="named-query-total") as counting:
        counted = counting.submit(total)
        page = store.run(QueryJob(page_query(bound, limit, offset), result_format=TSV))
        return page.body, counted.result()


def _answer_of(store: Store, tsv: bytes, total: int, limit: int, offset: int) -> Answer:
    """A page's rows as terms, with the labels of the IRIs they name."""
    solutions = ox.parse_query_results(tsv, format=ox.QueryResultsFormat.TSV)
    variables = [v.value for v in solutions.variables]
    rows = [{name: solution[name] for name in variables} for solution in solutions]
    page = QueryOutcome("solutions", TSV, tsv, len(rows), False)
    return Answer(variables, rows, total, limit, offset, _labels(store, rows), page)


def _count(store: Store, bound: str) -> int:
    (row,) = store.select(count_query(bound))
    return int(row["total"].value)


def _labels(store: Store, rows: list[Row]) -> dict[str, str]:
    return store.labels({t.value for row in rows for t in row.values() if isinstance(t, ox.NamedNode)})


def plain_value(term: ox.NamedNode | ox.BlankNode | ox.Literal | None) -> Any:
    """A literal as the JSON value a client expects: numbers as numbers, booleans as booleans; a blank node
    as `_:id`, told apart from a string (its bare id read as one)."""
    if term is None:
        return None
    if isinstance(term, ox.BlankNode):
        return str(term)
    if isinstance(term, ox.Literal):
        datatype = term.datatype.value
        if datatype == XSD + "integer":
            return int(term.value)
        if datatype in (XSD + "decimal", XSD + "double", XSD + "float"):
            return float(term.value)
        if datatype == XSD + "boolean":
            return term.value == "true"
    return term.value


def json_rows(result: Answer) -> list[dict[str, Any]]:
    """Rows with every IRI as {iri, label} and every literal as a plain JSON value."""
    return [
        {
            name: {"iri": term.value, "label": result.labels.get(term.value)}
            if isinstance(term, ox.NamedNode)
            else plain_value(term)
            for name, term in row.items()
        }
        for row in result.rows
    ]


def column_types(result: Answer) -> dict[str, str]:
    """Per variable: "iri", the one datatype IRI of its literals, or "mixed" (so clients can type columns)."""
    types = {}
    for name in result.variables:
        kinds = {
            "iri" if isinstance(t, ox.NamedNode) else t.datatype.value if isinstance(t, ox.Literal) else "blank"
            for row in result.rows
            if (t := row[name]) is not None
        }
        types[name] = kinds.pop() if len(kinds) == 1 else ("mixed" if kinds else "unbound")
    return types


def answer_document(query: NamedQuery, values: dict[str, Any], result: Answer) -> dict[str, Any]:
    """The JSON answer of a named query: its page of rows, the true total, paging, and column types."""
    return {
        "query": query.name,
        "parameters": {
            k: (v.isoformat() if isinstance(v, datetime.date) else v) for k, v in values.items() if v is not None
        },
        "total": result.total,
        "limit": result.limit,
        "offset": result.offset,
        "variables": result.variables,
        "types": column_types(result),
        "rows": json_rows(result),
    }


def table_rows(result: Answer) -> tuple[list[str], list[list[Any]]]:
    """Columns and rows for CSV and terminal tables: each IRI column followed by its label column."""
    iri_columns = {name for row in result.rows for name, t in row.items() if isinstance(t, ox.NamedNode)}
    columns = [c for name in result.variables for c in ((name, f"{name}_label") if name in iri_columns else (name,))]
    rows = []
    for row in result.rows:
        cells: list[Any] = []
        for name in result.variables:
            term = row[name]
            cells.append(plain_value(term))
            if name in iri_columns:
                cells.append(result.labels.get(term.value) if isinstance(term, ox.NamedNode) else None)
        rows.append(cells)
    return columns, rows
