"""Does another store answer like the embedded one? Every named query and graph view, run on both and compared.

A SPARQL store that claims SPARQL 1.1 may still differ on property paths over cycles, aggregates over OPTIONAL
and UNION, or non-ASCII text in queries; `stancegraph compare-store` shows where before users rely on it.
"""

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from app.graph_formats import node_link
from app.graph_views import build_view
from app.named_queries import NamedQuery, answer, json_rows
from app.sparql_text import volatile
from app.store import Store
from app.workers import QueryError

COMPARED_VIEWS = ("preconditions", "stances", "actors", "timeline")
SHOWN_ROWS = 2  # rows quoted per side when answers differ
REORDERED = "join the same values in another order (GROUP_CONCAT's order is left to each store)"


@dataclass(frozen=True)
class Comparison:
    """One question asked of both stores: `same`, `reordered` (concatenations in another order), `different`,
    `fails` (on either) or `skipped`, and why."""

    question: str
    verdict: str
    detail: str = ""


def compare_stores(reference: Store, candidate: Store, queries: list[NamedQuery], limit: int) -> list[Comparison]:
    """Each named query (with the examples of its required parameters) and each view, on both stores."""
    checks = [(f"named query {q.name}", _query_rows(q, limit)) for q in queries]
    checks += [(f"view {name}", _view_items(name)) for name in COMPARED_VIEWS]
    return [_compare(question, ask, reference, candidate) for question, ask in checks]


def _query_rows(query: NamedQuery, limit: int):
    values = {p.name: p.example for p in query.params if p.required}

    def ask(store: Store) -> list[Any]:
        if volatile(query.sparql):
            raise LookupError("it calls NOW(), RAND(), UUID() or STRUUID(): every evaluation answers anew")
        missing = [name for name, example in values.items() if example is None]
        if missing:
            raise LookupError(f"no example for the required parameter {', '.join(missing)}")
        return json_rows(answer(store, query, values, limit, 0, cached=False))

    return ask


def _view_items(name: str):
    def ask(store: Store) -> list[Any]:
        document = node_link(build_view(store, name))
        return [{"graph": document["graph"]}, *document["nodes"], *document["links"]]

    return ask


def _compare(question: str, ask, reference: Store, candidate: Store) -> Comparison:
    try:
        expected = ask(reference)
    except LookupError as err:
        return Comparison(question, "skipped", str(err))
    except QueryError as err:
        return Comparison(question, "fails", f"on the embedded store: {err}")
    try:
        found = ask(candidate)
    except QueryError as err:
        return Comparison(question, "fails", str(err))
    return _verdict(question, expected, found)


def _verdict(question: str, expected: list[Any], found: list[Any]) -> Comparison:
    """Answers are compared as multisets (order aside): what is only here, and only there."""
    here, there = Counter(map(_canonical, expected)), Counter(map(_canonical, found))
    if here == there:
        return Comparison(question, "same", f"{len(expected)} items")
    if Counter(_canonical(_words(i)) for i in expected) == Counter(_canonical(_words(i)) for i in found):
        reordered = sum((here - there).values())
        return Comparison(question, "reordered", f"{reordered} of {len(expected)} items {REORDERED}")
    only_here, only_there = list((here - there).elements()), list((there - here).elements())
    detail = f"{len(expected)} items here, {len(found)} there; {len(only_here)} only here, {len(only_there)} only there"
    shown = [*_shown("only here", only_here), *_shown("only there", only_there)]
    return Comparison(question, "different", "\n".join([detail, *shown]))


def _shown(side: str, items: list[str]) -> Iterator[str]:
    for item in items[:SHOWN_ROWS]:
        yield f"  {side}: {item}"


def _words(item: Any) -> Any:
    """An item with the words of every text sorted: equal for concatenations of the same values in any order."""
    if isinstance(item, str):
        return " ".join(sorted(item.split()))
    if isinstance(item, dict):
        return {key: _words(value) for key, value in item.items()}
    return [_words(value) for value in item] if isinstance(item, list) else item


def _canonical(item: Any) -> str:
    return json.dumps(item, sort_keys=True, ensure_ascii=False)
