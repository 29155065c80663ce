"""Lookups: queries whose cost is bounded by the rows they return, answered in the server process.

Every other query runs in a worker process that can be killed at its deadline (see workers). For a lookup
such as `SELECT ?label WHERE { id:Actor3 rdfs:label ?label }` that hop costs more than the answer. A query is
a lookup when it is one triple pattern whose subject or object is a constant, as a SELECT (without DISTINCT,
ORDER BY or OFFSET) or an ASK, over the default dataset (the union of all graphs, or the store's default
graph): the engine then seeks its index at that constant and every quad it reads there is a solution, so its
work grows with the rows it writes and with nothing else. So does a `DESCRIBE` of constant IRIs with no
WHERE clause (what linked-data browsers and our own RDF dereference ask): the engine writes every quad it
reads at each IRI, and reads further only at the blank nodes among those quads' objects, each of which is a
row written (it neither merges duplicates nor sorts, and it stops when the sink is full). The rows are
bounded too: the answer is cut after `INLINE_ROWS` rows (or `INLINE_BYTES` bytes) and, if more exist, the
query goes to a worker after all.

The recognizer is one strict expression of that grammar, reading white space, comments and tokens exactly
as the engine does: a text it reads differently could hide more query (a comment that the engine ends at a
CR, say) and run it where nothing can stop it, so tests/test_lookups.py checks that the engine reads every
text taken for a lookup with the same pattern and answers. Anything the grammar does not have (a FILTER, a
property path, a long string, a blank node, a WHERE after DESCRIBE, a dataset named by the request) makes
the query an ordinary one. The in-memory store answers the endpoint's lookups on the event loop; on disk
they go to the workers (a seek may wait for the disk, which the loop must not), and only the lookups made in
a thread that builds an answer (a dereference, a page's labels) are read there (see
EmbeddedStore.lookups_on_the_loop).

A SELECT or ASK lookup is read straight from the store's indexes, at the pattern's constants, rather than
given to the engine: parsing and planning the query cost more than reading its answer (in process 22 µs
against 81 µs; over HTTP 0.36-0.43 ms of CPU per lookup against 0.46-0.57 ms). Where only the engine knows
what the text means, it answers as before: a BASE, a typed literal or a number (which it reads in canonical
form), an undeclared prefix or an IRI it refuses (it then says why), a triple term in the answer, a DESCRIBE."""

import functools
import itertools
import re
from dataclasses import dataclass, replace

import pyoxigraph as ox

from app.bounded_results import AnswerTooLarge
from app.formats import RESULT_FORMATS
from app.namespaces import RDF
from app.workers import QueryJob, QueryOutcome, execute, native_format, reserialize_tsv

INLINE_ROWS = 1_000  # past this many rows a lookup is not cheap any more: a worker answers it
INLINE_BYTES = 1 << 20  # nor past this many bytes (a row may hold a long literal): a worker answers it

# The grammar of a lookup as one expression, in the engine's own terms: white space is the four characters
# SPARQL allows, a comment ends at a CR or an LF, digits are ASCII, and every token ends where the engine's
# scanner ends it (the look-aheads), so a match can never read a text as a different query than the engine.
_WS = r"(?:[ \t\r\n]+|\#[^\r\n]*)*+"
_IRI = r"<[^<>\"{}|^`\\\x00-\x20]*>"
_PREFIX = r"(?:[A-Za-z](?:[A-Za-z0-9_.-]*[A-Za-z0-9_-])?)?:"
_PNAME = rf"{_PREFIX}(?:[A-Za-z0-9_:](?:[A-Za-z0-9_.:-]*[A-Za-z0-9_:-])?)?(?![A-Za-z0-9_:-]|\.[A-Za-z0-9_:-])"
_VAR = r"[?$][A-Za-z_][A-Za-z0-9_]*(?![A-Za-z0-9_])"
_LITERAL = (
    rf"(?:\"[^\"\\\n\r]*\"|'[^'\\\n\r]*')(?:@[A-Za-z]+(?:-[A-Za-z0-9]+)*(?![A-Za-z0-9-])|\^\^(?:{_IRI}|{_PNAME}))?"
    r"|[0-9]+(?![0-9eE]|\.[0-9])"
)
_KEYWORD_END = r"(?![A-Za-z0-9_:-])"
_PROLOGUE = rf"{_WS}(?:(?:(?i:PREFIX){_WS}{_PREFIX}{_WS}{_IRI}|(?i:BASE){_WS}{_IRI}){_WS})*+"
_LOOKUP = re.compile(
    rf"""(?P<prologue>{_PROLOGUE})
    (?:(?i:SELECT){_KEYWORD_END}{_WS}(?P<projection>\*|(?:{_VAR}{_WS})++)|(?i:ASK){_KEYWORD_END})
    {_WS}(?:(?i:WHERE){_KEYWORD_END}{_WS})?\{{{_WS}
    (?P<subject>{_IRI}|{_PNAME}|{_VAR}){_WS}
    (?P<predicate>{_IRI}|{_PNAME}|{_VAR}|a{_KEYWORD_END}){_WS}
    (?P<object>{_IRI}|{_PNAME}|{_VAR}|{_LITERAL}){_WS}(?:\.{_WS})?\}}
    {_WS}(?:(?i:LIMIT){_KEYWORD_END}{_WS}(?P<limit>[0-9]{{1,18}})(?![0-9eE]|\.[0-9]){_WS})?""",
    re.VERBOSE,
)
_DESCRIBE = re.compile(rf"{_PROLOGUE}(?i:DESCRIBE){_KEYWORD_END}{_WS}(?:(?:{_IRI}|{_PNAME}){_WS})++")


def is_lookup(job: QueryJob) -> bool:
    """Whether the job is one triple pattern anchored at a constant subject or object, or a DESCRIBE of constant
    IRIs, over the default dataset."""
    return _over_default_dataset(job) and (_reading(job.query)[0] or _DESCRIBE.fullmatch(job.query) is not None)


def answer_lookup(store: ox.Store, job: QueryJob) -> QueryOutcome | None:
    """A lookup's answer cut at INLINE_ROWS (see bounded), read from the indexes when the grammar tells all
    the query means, else from the engine; None if the job is not a lookup; AnswerTooLarge past INLINE_BYTES."""
    if not _over_default_dataset(job):
        return None
    pattern_lookup, index_read = _reading(job.query)
    if not pattern_lookup and _DESCRIBE.fullmatch(job.query) is None:
        return None
    outcome = index_read.answer(store, job) if index_read else None
    return outcome or execute(store, bounded(job))


def _over_default_dataset(job: QueryJob) -> bool:
    return job.default_graphs is None and job.named_graphs is None


@dataclass(frozen=True)
class IndexRead:
    """A SELECT or ASK lookup as a read of the quads at its pattern: the constants (None where a variable
    stands), the projected variables (None for ASK) and the pattern position each takes, the LIMIT."""

    pattern: tuple[ox.NamedNode | ox.Literal | None, ...]
    names: tuple[str, ...] | None
    columns: tuple[int | None, ...]
    limit: int | None

    def answer(self, store: ox.Store, job: QueryJob) -> QueryOutcome | None:
        """The answer the engine would give, cut at INLINE_ROWS (None: a term only the engine writes)."""
        budget = _inline_rows(job)
        most = budget + 1 if self.limit is None else min(budget + 1, self.limit)
        graph = None if job.union_default_graph else ox.DefaultGraph()
        quads = itertools.islice(store.quads_for_pattern(*self.pattern, graph), most)
        if self.names is None:
            native = native_format(RESULT_FORMATS, job.result_format, "boolean")
            found = ox.parse_query_results(_BOOLEANS[next(quads, None) is not None], format=ox.QueryResultsFormat.JSON)
            return QueryOutcome("boolean", job.result_format, found.serialize(format=native), 1, False)
        native = native_format(RESULT_FORMATS, job.result_format, "solutions")
        lines = ["\t".join("?" + name for name in self.names)]
        for quad in quads:
            terms = (quad.subject, quad.predicate, quad.object)
            row = [None if column is None else terms[column] for column in self.columns]
            if not all(term is None or isinstance(term, _PLAIN_TERMS) for term in row):
                return None
            lines.append("\t".join("" if term is None else str(term) for term in row))
        rows = min(len(lines) - 1, budget)
        try:  # written as TSV, which the engine reads back as it was, and then in the format asked for
            body = reserialize_tsv("\n".join(lines[: rows + 1]).encode() + b"\n", native)
        except (SyntaxError, ValueError):  # a label the results format cannot carry: the engine writes it
            return None
        if len(body) > INLINE_BYTES:
            raise AnswerTooLarge
        return QueryOutcome("solutions", job.result_format, body, rows, len(lines) - 1 > budget)


CACHED_READINGS_CHARS = 2_000  # a lookup text up to this long is read by the grammar once, then remembered


def _reading(query: str) -> tuple[bool, IndexRead | None]:
    """(whether the query is a SELECT or ASK lookup, its read from the indexes if the grammar tells all it
    means); the reading of a short text is remembered: clients repeat their lookups."""
    return _remembered_reading(query) if len(query) <= CACHED_READINGS_CHARS else _read(query)


def _read(query: str) -> tuple[bool, IndexRead | None]:
    match = _LOOKUP.fullmatch(query)
    if match is None:
        return False, None
    terms = [match["subject"], match["predicate"], match["object"]]
    if terms[0][0] in "?$" and terms[2][0] in "?$":
        return False, None  # neither end constant: a scan of the whole store
    names = [term[1:] for term in terms if term[0] in "?$"]
    if len(names) != len(set(names)):
        return False, None  # `?x ?p ?x` reads every quad to keep a few
    return True, _index_read(match)


_remembered_reading = functools.lru_cache(maxsize=1024)(_read)
_DECLARATION = re.compile(rf"{_WS}(?:(?i:PREFIX){_WS}(?P<prefix>{_PREFIX}){_WS}<(?P<namespace>[^>]*)>|(?i:BASE))")
_VARIABLE = re.compile(r"[?$]([A-Za-z_][A-Za-z0-9_]*)")
_PLAIN_TERMS = (ox.NamedNode, ox.BlankNode, ox.Literal)  # not an RDF 1.2 triple term: the engine writes those
RDF_TYPE = ox.NamedNode(RDF + "type")
_BOOLEANS = {value: b'{"head":{},"boolean":%s}' % str(value).lower().encode() for value in (True, False)}


def _index_read(match: re.Match) -> IndexRead | None:
    """How to read the lookup from the indexes, or None when only the engine can tell what the text means."""
    namespaces = _namespaces(match["prologue"])
    if namespaces is None:
        return None
    pattern = [_term(match[position], namespaces) for position in ("subject", "predicate", "object")]
    if None in pattern:
        return None
    positions = {term: at for at, term in enumerate(pattern) if isinstance(term, str)}
    names = list(positions)  # `SELECT *`: in the order they appear
    if match["projection"] not in (None, "*"):
        names = _VARIABLE.findall(match["projection"])
    if match["projection"] and (len(set(names)) < len(names) or not positions.keys() & set(names)):
        return None  # a variable twice, or none bound in any row: left to the engine
    return IndexRead(
        tuple(None if isinstance(term, str) else term for term in pattern),
        None if match["projection"] is None else tuple(names),
        tuple(positions.get(name) for name in names),
        None if match["limit"] is None else int(match["limit"]),
    )


def _namespaces(prologue: str) -> dict[str, str] | None:
    """The prefixes the prologue declares (a later declaration wins, as in the engine); None with a BASE."""
    namespaces, at = {}, 0
    while (declaration := _DECLARATION.match(prologue, at)) and declaration.end() > at:
        if declaration["prefix"] is None:
            return None
        namespaces[declaration["prefix"][:-1]] = declaration["namespace"]
        at = declaration.end()
    return namespaces


def _term(token: str, namespaces: dict[str, str]) -> ox.NamedNode | ox.Literal | str | None:
    """A pattern's term: a variable's name, a constant, or None when the engine must read it."""
    try:
        if token[0] in "?$":
            return token[1:]
        if token == "a":
            return RDF_TYPE
        if token[0] == "<":
            return ox.NamedNode(token[1:-1])  # absolute (a relative IRI is refused: the engine resolves it)
        if token[0] in "\"'":
            end = token.index(token[0], 1)
            value, rest = token[1:end], token[end + 1 :]
            if not rest or rest[0] == "@":
                return ox.Literal(value, language=rest[1:] or None)
            return None  # a datatype: the engine may read the value in its canonical form
        if token[0].isdigit():
            return None
        prefix, _, local = token.partition(":")
        return ox.NamedNode(namespaces[prefix] + local) if prefix in namespaces else None
    except ValueError:  # an IRI or language tag the engine refuses, with a message that says where
        return None


def bounded(job: QueryJob) -> QueryJob:
    """The job with its row limit lowered to INLINE_ROWS and its answer limited to INLINE_BYTES (past them
    the engine is stopped: AnswerTooLarge), to be run in-process."""
    return replace(job, max_rows=_inline_rows(job), max_bytes=INLINE_BYTES)


def _inline_rows(job: QueryJob) -> int:
    return INLINE_ROWS if job.max_rows is None else min(job.max_rows, INLINE_ROWS)


def complete(job: QueryJob, outcome: QueryOutcome) -> bool:
    """Whether the in-process answer is the answer (else a worker answers with the job's own row limit)."""
    return not outcome.truncated or (job.max_rows is not None and job.max_rows <= INLINE_ROWS)
