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
the query an ordinary one. Only the in-memory store answers lookups itself (see EmbeddedStore.answers_lookups)."""

import re
from dataclasses import replace

from app.workers import QueryJob, QueryOutcome

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
    rf"""{_PROLOGUE}
    (?:(?i:SELECT){_KEYWORD_END}{_WS}(?:\*|(?:{_VAR}{_WS})++)|(?i:ASK){_KEYWORD_END})
    {_WS}(?:(?i:WHERE){_KEYWORD_END}{_WS})?\{{{_WS}
    (?P<subject>{_IRI}|{_PNAME}|{_VAR}){_WS}
    (?P<predicate>{_IRI}|{_PNAME}|{_VAR}|a{_KEYWORD_END}){_WS}
    (?P<object>{_IRI}|{_PNAME}|{_VAR}|{_LITERAL}){_WS}(?:\.{_WS})?\}}
    {_WS}(?:(?i:LIMIT){_KEYWORD_END}{_WS}[0-9]+(?![0-9eE]|\.[0-9]){_WS})?""",
    re.VERBOSE,
)
_DESCRIBE = re.compile(rf"{_PROLOGUE}(?i:DESCRIBE){_KEYWORD_END}{_WS}(?:(?:{_IRI}|{_PNAME}){_WS})++")


def is_lookup(job: QueryJob) -> bool:
    """Whether the job is one triple pattern anchored at a constant subject or object, or a DESCRIBE of constant
    IRIs, over the default dataset."""
    if job.default_graphs is not None or job.named_graphs is not None:
        return False
    if _DESCRIBE.fullmatch(job.query):
        return True
    match = _LOOKUP.fullmatch(job.query)
    if match is None:
        return False
    terms = [match["subject"], match["predicate"], match["object"]]
    if terms[0][0] in "?$" and terms[2][0] in "?$":
        return False  # neither end constant: a scan of the whole store
    names = [term[1:] for term in terms if term[0] in "?$"]
    return len(names) == len(set(names))  # `?x ?p ?x` reads every quad to keep a few


def bounded(job: QueryJob) -> QueryJob:
    """The job with its row limit lowered to INLINE_ROWS and its answer limited to INLINE_BYTES (past them
    the engine is stopped: AnswerTooLarge), to be run in-process."""
    limit = INLINE_ROWS if job.max_rows is None else min(job.max_rows, INLINE_ROWS)
    return replace(job, max_rows=limit, max_bytes=INLINE_BYTES)


def complete(job: QueryJob, outcome: QueryOutcome) -> bool:
    """Whether the in-process answer is the answer (else a worker answers with the job's own row limit)."""
    return not outcome.truncated or (job.max_rows is not None and job.max_rows <= INLINE_ROWS)
