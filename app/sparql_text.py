"""Small, careful edits of SPARQL text that pyoxigraph offers no API for.

A scanner finds keywords and braces outside strings, IRIs and comments, so that a VALUES block can be put at
the start of a query's WHERE group (and `VALUES ?name { UNDEF }` placeholders filled), a count or a page can
wrap a query, and USING clauses can be added to an update. Values are always RDF terms written by pyoxigraph
(N-Triples syntax), never user text.
"""

import itertools
import re
import urllib.parse
from collections.abc import Iterator, Sequence

import pyoxigraph as ox

_IRI = re.compile(r"<[^<>\"{}|^`\\\s]*>")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_VARNAME = re.compile(r"[\w\u00B7\u0300-\u036F\u203F\u2040]+")
_PROLOGUE = re.compile(r"\A(?:\s+|#[^\n]*\n?|(?i:PREFIX)\s+[\w.-]*:\s*<[^>]*>|(?i:BASE)\s*<[^>]*>)*")


def tokens(text: str, variables: bool = False, start: int = 0) -> Iterator[tuple[int, int, str]]:
    """(position, brace depth, token) for every word, brace and parenthesis outside strings, IRIs and comments;
    with `variables`, every variable too, as written (`?name` or `$name`). From `start`, a position at depth 0
    outside strings, IRIs and comments."""
    depth, i, n = 0, start, len(text)
    while i < n:
        char = text[i]
        if char == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif char in "\"'":
            quote = text[i : i + 3] if text[i : i + 3] in ('"""', "'''") else char
            i += len(quote)
            while i < n and not text.startswith(quote, i):
                i += 2 if text[i] == "\\" else 1
            i += len(quote)
        elif char == "<" and (iri := _IRI.match(text, i)):
            i = iri.end()
        elif char == "{":
            yield i, depth, "{"
            depth, i = depth + 1, i + 1
        elif char == "}":
            depth, i = depth - 1, i + 1
            yield i - 1, depth, "}"
        elif char in "()":
            yield i, depth, char
            i += 1
        elif variables and char in "?$" and (name := _VARNAME.match(text, i + 1)):
            yield i, depth, char + name.group(0)
            i = name.end()
        elif char in "?$:" or char.isalnum():
            word = _WORD.match(text, i)
            if word and (i == 0 or text[i - 1] not in "?$:") and not (i > 0 and text[i - 1].isalnum()):
                yield i, depth, word.group(0).upper()
                i = word.end()
            else:
                i += 1
        else:
            i += 1


def top_level_words(text: str) -> list[tuple[int, str]]:
    return [(pos, tok) for pos, depth, tok in tokens(text) if depth == 0 and tok not in "{}()"]


class TooDeep(ValueError):
    """A query nested deeper than the parser can safely follow (it would exhaust the worker's stack)."""


def check_nesting(text: str, limit: int = 200) -> None:
    """TooDeep, with line and column, for groups or expressions nested more than `limit` levels."""
    if text.count("{") + text.count("(") <= limit:
        return  # cannot nest deeper than it opens: no need to scan
    level = 0
    for pos, _, token in tokens(text):
        if token in "{(":
            level += 1
            if level > limit:
                line = text.count("\n", 0, pos) + 1
                column = pos - (text.rfind("\n", 0, pos) + 1) + 1
                raise TooDeep(
                    f"query nests groups or expressions more than {limit} levels deep at line {line}, column {column}"
                )
        elif token in "})":
            level -= 1


def split_prologue(query: str) -> tuple[str, str]:
    """(PREFIX/BASE declarations and comments, the rest of the query)."""
    end = _PROLOGUE.match(query).end()
    return query[:end], query[end:]


def values_block(bindings: dict[str, ox.NamedNode | ox.Literal]) -> str:
    """`VALUES (?a ?b) { (<iri> "literal"^^<type>) }` from typed terms (pyoxigraph writes the terms)."""
    names = " ".join(f"?{name}" for name in bindings)
    terms = " ".join(str(term) for term in bindings.values())
    return f"VALUES ({names}) {{ ({terms}) }}"


_PLACEHOLDER = re.compile(r"(?i)VALUES\s*[?$](\w+)\s*\{\s*UNDEF\s*\}")


def bind_values(query: str, bindings: dict[str, ox.NamedNode | ox.Literal]) -> str:
    """The query with a VALUES block opening its WHERE group, so every pattern and FILTER sees the values, and
    with each `VALUES ?name { UNDEF }` placeholder of a bound parameter filled in (see fill_placeholders)."""
    if not bindings:
        return query
    query = fill_placeholders(query, bindings)
    opening = next(pos for pos, depth, tok in tokens(query) if depth == 0 and tok == "{")
    return f"{query[: opening + 1]} {values_block(bindings)} {query[opening + 1 :]}"


def fill_placeholders(query: str, bindings: dict[str, ox.NamedNode | ox.Literal]) -> str:
    """`VALUES ?name { UNDEF }` (a no-op as written) becomes `VALUES ?name { <term> }` for a bound parameter.

    Why: the engine does not carry the outer VALUES block into subqueries, so a query that groups before it
    joins would compute every group and filter afterwards; a placeholder inside the subquery restricts it
    where its author chose, and the query stays valid SPARQL as written."""
    filled = []
    for pos, _, token in tokens(query):
        if token == "VALUES" and (placeholder := _PLACEHOLDER.match(query, pos)) and placeholder[1] in bindings:
            name = placeholder[1]
            filled.append((placeholder.start(), placeholder.end(), f"VALUES ?{name} {{ {bindings[name]} }}"))
    for start, end, block in reversed(filled):
        query = f"{query[:start]}{block}{query[end:]}"
    return query


def count_query(query: str) -> str:
    """SELECT (COUNT(*) AS ?total) over the query's solutions (its own prefixes kept), without its ORDER BY."""
    prologue, body = split_prologue(without_order(query))
    return f"{prologue}SELECT (COUNT(*) AS ?total) WHERE {{ {body}\n}}"


def without_order(query: str) -> str:
    """The query without its top-level ORDER BY clause, which no count depends on (with LIMIT and OFFSET too).

    Why: the engine sorts even inside a count, decoding both terms at every comparison; on disk at 1M
    triples that was 1.2 of the 2.1 s of counting `who-stands-where`, and 25 of the 31 s of `preconditions`."""
    words = [(pos, word) for pos, word in top_level_words(query) if not query.startswith(":", pos + len(word))]
    for (start, word), (_, following) in itertools.pairwise(words):
        if (word, following) == ("ORDER", "BY"):
            after = (pos for pos, word in words if pos > start and word in ("LIMIT", "OFFSET", "VALUES"))
            end = next(after, len(query))
            return f"{query[:start]}{query[end:]}"
    return query


def page_query(query: str, limit: int, offset: int) -> str:
    """The query with LIMIT and OFFSET appended (named queries keep their own ORDER BY, never a LIMIT)."""
    return f"{query}\nLIMIT {int(limit)} OFFSET {int(offset)}"


def has_solution_limit(query: str) -> bool:
    return any(tok in ("LIMIT", "OFFSET") for _, tok in top_level_words(query))


_PREFIX_DECLARATION = re.compile(r"(?i)PREFIX\s+([\w.-]*):\s*<([^>]*)>")
_SERVICE_WORD = re.compile(r"(?i)service")
_GAP = r"(?:[ \t\r\n]+|\#[^\r\n]*)"  # what the engine skips between tokens: its white space and comments
_SERVICE_TARGET = re.compile(rf"(?i){_GAP}*(?:SILENT{_GAP}+)?(<[^<>\s]*>|[?$]\w+|[\w.-]*:[^\s{{}}]*)")


class UnreadableService(ValueError):
    """A SERVICE whose endpoint is neither an IRI, a declared prefixed name nor a variable, as far as the
    scanner reads: refused, and said where, since it is nearly always a typo (`SERVICE <https://x/sparql {`)."""


def calls_service(query: str) -> bool:
    """Whether the query may have a SERVICE clause (the word anywhere: a cheap test that errs on the safe side)."""
    return bool(_SERVICE_WORD.search(query))


def service_endpoints(query: str) -> list[str | None]:
    """The endpoint of every SERVICE clause (None where it is a variable); UnreadableService where it cannot
    be read, which is never taken for an endpoint the engine might call."""
    if not calls_service(query):
        return []  # most queries: no need to scan
    prefixes = dict(_PREFIX_DECLARATION.findall(query))
    endpoints: list[str | None] = []
    for pos, _, token in tokens(query):
        if token != "SERVICE":
            continue
        target = _SERVICE_TARGET.match(query, pos + len("SERVICE"))
        text = target.group(1) if target else ""
        prefix, colon, local = text.partition(":")
        if text.startswith("<"):
            endpoints.append(text[1:-1])
        elif text.startswith(("?", "$")):
            endpoints.append(None)
        elif colon and prefix in prefixes:
            endpoints.append(prefixes[prefix] + local)
        else:
            line, column = query.count("\n", 0, pos) + 1, pos - (query.rfind("\n", 0, pos) + 1) + 1
            raise UnreadableService(
                f"the endpoint of the SERVICE at line {line}, column {column} cannot be read: write it as an IRI "
                "(<https://...>) or a prefixed name declared by the query, right after SERVICE or SERVICE SILENT"
            )
    return endpoints


def names_dataset(query: str) -> bool:
    """Whether the query names its own dataset (FROM, FROM NAMED). Why: told to make the union of the graphs
    the default graph, the engine (pyoxigraph 0.5.13, and `oxigraph serve --union-default-graph`) ignores a
    FROM: `SELECT ... FROM <entities graph>` counted every graph's triples."""
    return bool(_dataset_clauses(query))


def _dataset_clauses(query: str) -> list[int]:
    """Where the query's FROM keywords are (not a prefix named `from:`)."""
    if "from" not in query.lower():
        return []  # most queries: no need to scan
    return [pos for pos, word in top_level_words(query) if word == "FROM" and not query.startswith(":", pos + 4)]


def reads_named_graphs(query: str) -> bool:
    """Whether the query has a GRAPH clause (not a prefix named `graph:`): only such a query needs the
    store's named graphs listed in its dataset, which at 2,005 graphs is a 156 KB request."""
    if "graph" not in query.lower():
        return False  # most queries: no need to scan
    return any(word == "GRAPH" and not query.startswith(":", pos + 5) for pos, _, word in tokens(query))


_DATASET_CLAUSE = re.compile(rf"(?i:FROM){_GAP}+(?:(?i:(NAMED)){_GAP}+)?(<[^<>\s]*>|[\w.-]*:[^\s{{}}#]*)")
_BASE_DECLARATION = re.compile(r"(?i)BASE\s*<([^>]*)>")


def query_dataset(query: str, base_iri: str | None) -> tuple[list[str], list[str]] | None:
    """The IRIs of the query's FROM and of its FROM NAMED clauses (prefixed names expanded, relative IRIs
    resolved against its BASE, else `base_iri`), to name them to a store that ignores them (see names_dataset);
    None for a query without any. A clause the scanner cannot read is left out: the store says what is wrong."""
    clauses = _dataset_clauses(query)
    if not clauses:
        return None
    prologue = split_prologue(query)[0]
    prefixes = dict(_PREFIX_DECLARATION.findall(prologue))
    base = ([*_BASE_DECLARATION.findall(prologue)] or [base_iri or ""])[-1]
    default: list[str] = []
    named: list[str] = []
    for clause in filter(None, (_DATASET_CLAUSE.match(query, pos) for pos in clauses)):
        prefix, _, local = clause[2].partition(":")
        if clause[2].startswith("<"):
            iri = urllib.parse.urljoin(base, clause[2][1:-1])
        elif prefix in prefixes:
            iri = prefixes[prefix] + local
        else:
            continue
        (named if clause[1] else default).append(iri)
    return default, named


_VOLATILE = {"NOW", "RAND", "UUID", "STRUUID"}


def volatile(query: str) -> bool:
    """Whether the query calls NOW(), RAND(), UUID() or STRUUID(): each evaluation answers differently (the
    time, a sample drawn with ORDER BY RAND(), new identifiers), so no answer of it may be kept or said to be
    unchanged. Asked of every query, on the lookups' path too: the names looked for in the lowered text rule out
    nearly every query in 3 us (a case-blind regular expression took 38 us on a lookup with our prefixes); the
    scanner then reads only calls outside strings, IRIs and comments (`?now`, `ex:rand(`, "NOW()" are not)."""
    lowered = query.lower()
    if "now" not in lowered and "rand" not in lowered and "uuid" not in lowered:
        return False
    read = ((word, following) for (_, _, word), (_, _, following) in itertools.pairwise(tokens(query)))
    return any(word in _VOLATILE and following == "(" for word, following in read)


def describes(query: str) -> bool:
    """Whether the query is a DESCRIBE."""
    return "DESCRIBE" in query.upper() and query_form(query) == "DESCRIBE"


_FIRST_WORD = re.compile(r"[A-Za-z]+")


def query_form(query: str) -> str:
    """SELECT, CONSTRUCT, ASK or DESCRIBE: the query's first word after its prologue, in capitals."""
    word = _FIRST_WORD.match(split_prologue(query)[1])
    return word[0].upper() if word else ""


_SELECT_STAR = re.compile(rf"(?i:SELECT)(?:{_GAP}+(?i:DISTINCT|REDUCED))?{_GAP}*\*")


def select_star(query: str) -> int | None:
    """Where the `*` of the query's own `SELECT *` (or `SELECT DISTINCT *`) is; None for any other query."""
    if "*" not in query:
        return None  # most queries: no need to read the prologue
    prologue, body = split_prologue(query)
    match = _SELECT_STAR.match(body)
    return len(prologue) + match.end() - 1 if match else None


def in_order_of_appearance(query: str, names: Sequence[str], start: int) -> list[str]:
    """Variable `names` in the order the query (from `start` on) first mentions them; unmentioned ones last."""
    first: dict[str, int] = {}
    for pos, _, token in tokens(query, variables=True, start=start):
        if token[0] in "?$":
            first.setdefault(token[1:], pos)
    return sorted(names, key=lambda name: first.get(name, len(query)))


def star_in_order(query: str, star: int, in_scope: Sequence[str]) -> str | None:
    """The query with its `SELECT *` (the `*` at `star`, see select_star) written out as its variables
    (`in_scope`, as the engine lists them) in the order they first appear; None when they are in that order.

    Why: the engine lists them alphabetically, so `SELECT * { ?s ?p ?o }` had the columns o, p, s in every
    table, CSV file and DataFrame, where Jena, Fuseki, Virtuoso and GraphDB give s, p, o. The set is the
    engine's own, so the query means what it meant: only the columns' order changes."""
    ordered = in_order_of_appearance(query, in_scope, star)
    if ordered == list(in_scope):
        return None
    return f"{query[:star]} {' '.join(f'?{name}' for name in ordered)} {query[star + 1 :]}"
