"""Graph views computed with networkx from the store: what blocks what, who stands where, coalitions.

Each view is one function returning a networkx graph whose nodes and edges carry labels, types, polarity,
dates, source ids and quotes as scalar attributes (so GraphML and GEXF exports open in Gephi). Common
filters: `as_of` (only statements dated on or before that day), `sources` (only statements from those
documents) and `min_weight` (only edges whose weight before any normalisation is at least that: the statements
behind an edge of stances or preconditions, the issues an actor-actor edge stands for). The store answers a few
SELECTs per view (its statements, then the labels and quotes of the resources they name), on every core at
once; the graph algorithms are networkx's.
"""

import datetime
import functools
import itertools
import math
import os
from collections import defaultdict
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from operator import itemgetter, or_
from typing import TypeVar

import networkx as nx
import pyoxigraph as ox

from app.namespaces import ID, SG, XSD, sparql_prologue
from app.store import Store

T = TypeVar("T")
R = TypeVar("R")

SIGNS = {
    "proposes": 1,
    "supports": 1,
    "demands": 1,
    "requests": 1,
    "expects": 1,
    "conditions": 0,
    "doubts": -1,
    "rejects": -1,
}
NORMALISATIONS = ("none", "average", "jaccard", "cosine")
MODES = ("congruence", "conflict", "subtract")
SEPARATOR = " | "
MAX_CHAINS = 5  # reasons listed per blocked issue
MAX_BLOCKERS = 20  # actors named per blocked issue (`blockers` counts them all): issues x actors would not scale
MAX_CYCLES = 20  # example cycles listed when the requirements loop


@dataclass(frozen=True)
class ViewFilter:
    """Which statements a view counts."""

    as_of: datetime.date | None = None
    sources: tuple[str, ...] = field(default_factory=tuple)
    min_weight: int = 1

    def sparql(self, date: str = "?date", source: str = "?source") -> str:
        """FILTER clauses over typed terms written by pyoxigraph (never user text)."""
        clauses = []
        if self.as_of is not None:
            day = ox.Literal(self.as_of.isoformat(), datatype=ox.NamedNode(XSD + "date"))
            clauses.append(f"FILTER ({date} <= {day})")
        if self.sources:
            clauses.append(f"FILTER ({source} IN ({', '.join(str(ox.NamedNode(s)) for s in self.sources)}))")
        return "\n".join(clauses)


def _short(iri: str) -> str:
    return iri.removeprefix(ID)


def _join(values) -> str:
    return SEPARATOR.join(sorted({v for v in values if v}))


Row = dict[str, str]  # a solution's lexical values, "" when unbound (Store.select_values)


def _row_key(row: Row) -> tuple[str, ...]:
    """Sort key over every value of a row, for views whose result depends on the order rows arrive in."""
    return tuple(f"{name}={value}" for name, value in sorted(row.items()))


def _node(graph: nx.Graph, iri: str, label: str, kind: str) -> None:
    if iri not in graph:
        graph.add_node(iri, label=label or _short(iri), type=kind)


Names = dict[str, tuple[str, str]]  # resource -> (label, label of its type)


def _named(names: Names, iri: str, default_type: str) -> tuple[str, str]:
    label, kind = names.get(iri, ("", ""))
    return label, kind or default_type


TYPES_QUERY = """
SELECT ?node ?class WHERE {
  VALUES ?node { %s }
  ?node a ?class
}"""
QUOTES_QUERY = """
SELECT ?node ?quote WHERE {
  VALUES ?node { %s }
  ?node sg:quote ?quote
}"""  # derived by queries/rules/70-quotes.rq: one lookup per statement where the annotation path is four
PER_QUERY = 2000  # resources named in one VALUES block
AT_ONCE = max(1, min(4, len(os.sched_getaffinity(0))))  # such queries of one view asked together: one per core


def _per_resource(store: Store, query: str, resources: set[str]) -> list[Row]:
    """Rows of a query about each resource named by an IRI (its VALUES block gets them; a blank node or a
    literal cannot be named there, and is left without), asked PER_QUERY at a time, AT_ONCE of these queries
    together (the engine runs them on every core: the stances view's quotes at 1M triples on disk, ten
    queries, 1.3 s -> 0.7 s).

    Why: Oxigraph evaluates the right side of an OPTIONAL on its own, over the whole store, and joins after;
    asking about exactly the resources the rows name is what makes labels and quotes cheap (the
    preconditions view at 1M triples: 0.82 s of SPARQL -> 0.2 s).
    """
    named = sorted(filter(None, map(_iri_term, resources)))
    queries = [
        sparql_prologue() + query % " ".join(named[start : start + PER_QUERY])
        for start in range(0, len(named), PER_QUERY)
    ]
    return [row for rows in _at_once(store.select_values, queries) for row in rows]


def _iri_term(value: str) -> str | None:
    """`<value>` if the value is an IRI (select_values gives a blank node as `_:label`, a literal as its text)."""
    try:
        return str(ox.NamedNode(value))
    except ValueError:
        return None


def _at_once(ask: Callable[[T], R], questions: list[T]) -> list[R]:
    """`ask` of each question, AT_ONCE of them together on threads, in the questions' order."""
    if len(questions) < 2 or AT_ONCE < 2:
        return [ask(question) for question in questions]
    with ThreadPoolExecutor(min(AT_ONCE, len(questions)), thread_name_prefix="view") as threads:
        return list(threads.map(ask, questions))


def _names(store: Store, rows: list[Row], *keys: str) -> Names:
    """Label and type of the resources in the `keys` columns, asked once per resource rather than in every
    statement row. Each is named by one label, English or untagged first, by Store.labels as on pages and in
    named queries (a label OPTIONAL named a node by whichever label the engine listed first: "Rússia"), and
    typed by the first of its classes, in IRI order, that has a label."""
    resources = {row[key] for row in rows for key in keys if _iri_term(row[key])}
    classes: dict[str, list[str]] = defaultdict(list)
    for row in _per_resource(store, TYPES_QUERY, resources):
        if _iri_term(row["class"]):
            classes[row["node"]].append(row["class"])
    labels = store.labels(resources | {name for named in classes.values() for name in named})
    return {
        iri: (labels.get(iri, ""), next((labels[c] for c in sorted(classes[iri]) if c in labels), ""))
        for iri in resources
    }


def _quotes(store: Store, rows: list[Row], key: str) -> dict[str, set[str]]:
    """The verbatim quotes of the statements in the `key` column (none for statements without evidence)."""
    return _quotes_by_node(_per_resource(store, QUOTES_QUERY, {row[key] for row in rows}))


def _quotes_by_node(rows: list[Row]) -> dict[str, set[str]]:
    quotes: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        quotes[row["node"]].add(row["quote"])
    return quotes


# The triples of the stances, as seeks from each stance (and VALUES ?holder, a group of holders), or on a store that
# prefers scans (Store.prefers_scans) as one scan of each property, joined: at 1M triples on disk the stances
# view's 20,000 rows take 2.0 s of seeks and 0.46 s of scans, in memory 0.23 s of seeks and 0.43 s of scans.
STANCE_SEEKS = """%s
  ?stance a sg:Stance ; sg:holder ?holder ; sg:target ?target ; sg:polarity ?p ; sg:date ?date ; sg:source ?source ."""


def _scans(node: str, kind: str, *properties: str) -> str:
    """`node a kind ; property value ; …` as one scan per triple pattern, joined on the node (see STANCE_SEEKS);
    each of `properties` is "predicate ?variable"."""
    patterns = [f"{node} a {kind}", *(f"{node} {pair}" for pair in properties)]
    return "\n".join(f"  {{ SELECT * WHERE {{ {pattern} }} }}" for pattern in patterns)


STANCE_SCANS = _scans(
    "?stance",
    "sg:Stance",
    "sg:holder ?holder",
    "sg:target ?target",
    "sg:polarity ?p",
    "sg:date ?date",
    "sg:source ?source",
)
STANCE_QUOTES_SCANS = f"SELECT ?node ?quote WHERE {{\n{_scans('?node', 'sg:Stance', 'sg:quote ?quote')}\n}}"
STANCES_QUERY = """
SELECT ?stance ?holder ?target ?polarity ?date ?source WHERE {
  %s
  BIND (STRAFTER(STR(?p), STR(pol:)) AS ?polarity)
  %s
}"""
STANCE_ORDER = itemgetter("stance", "holder", "target", "polarity", "date", "source")  # every column
POSITION_ORDER = itemgetter("holder", "target", "polarity")
HOLDERS_QUERY = "SELECT ?holder (COUNT(*) AS ?statements) WHERE { ?statement sg:holder ?holder } GROUP BY ?holder"


@dataclass(frozen=True)
class _Stances:
    """The stances a view counts, one row each, with the names of their holders and targets and their quotes."""

    rows: list[Row]
    names: Names
    quotes: dict[str, set[str]]


def _stance_rows(store: Store, view: ViewFilter) -> _Stances:
    """The stances asked by groups of holders, AT_ONCE groups together, each group's rows and then their quotes
    (the stances view's seeks at 1M triples on disk: 2.4 s one after the other, 1.6 s so); where the store
    prefers scans, the stances and the quotes of every stance by one scanning query each, the two together.
    Sorted so that every process builds the same view."""

    def stances_of(holders: str) -> tuple[list[Row], dict[str, set[str]]]:
        rows = store.select_values(sparql_prologue() + STANCES_QUERY % (STANCE_SEEKS % holders, view.sparql()))
        return rows, _quotes(store, rows, "stance")

    _require_sources(store, view)
    if store.prefers_scans:
        asked = [STANCES_QUERY % (STANCE_SCANS, view.sparql()), STANCE_QUOTES_SCANS]
        found, quoted = _at_once(store.select_values, [sparql_prologue() + query for query in asked])
        groups = [(found, _quotes_by_node(quoted))]
    else:
        groups = _at_once(stances_of, _holder_groups(store))
    rows = sorted((row for found, _ in groups for row in found), key=STANCE_ORDER)
    quotes: dict[str, set[str]] = defaultdict(set)
    for _, found in groups:
        quotes.update(found)  # a stance in two groups (two holders) has the same quotes in both
    return _Stances(rows, _names(store, rows, "holder", "target"), quotes)


def _holder_groups(store: Store) -> list[str]:
    """`VALUES ?holder` blocks for AT_ONCE groups of holders with about as many statements each (the largest
    holder first, into the lightest group); one empty block (every holder) if a holder is a blank node, which
    VALUES cannot name, if there is one group, or if the store prefers scans (each group would scan them all)."""
    if AT_ONCE < 2 or store.prefers_scans:
        return [""]
    counted = store.select(sparql_prologue() + HOLDERS_QUERY)
    if any(isinstance(row["holder"], ox.BlankNode) for row in counted):
        return [""]
    statements, members = [0] * AT_ONCE, [[] for _ in range(AT_ONCE)]
    for row in sorted(counted, key=lambda row: (-int(row["statements"].value), str(row["holder"]))):
        lightest = statements.index(min(statements))
        statements[lightest] += int(row["statements"].value)
        members[lightest].append(str(row["holder"]))
    return [f"VALUES ?holder {{ {' '.join(group)} }}" for group in members if group]


def stances(store: Store, view: ViewFilter = ViewFilter()) -> nx.MultiDiGraph:
    """Signed, weighted bipartite network actor -> issue, one edge per polarity; weight = statements."""
    graph = nx.MultiDiGraph(view="stances")
    edges: dict[tuple[str, str, str], dict] = {}
    found = _stance_rows(store, view)
    names = found.names
    for row in found.rows:
        holder, target, polarity = row["holder"], row["target"], row["polarity"]
        _node(graph, holder, *_named(names, holder, "actor"))
        _node(graph, target, *_named(names, target, "issue"))
        graph.nodes[holder]["bipartite"], graph.nodes[target]["bipartite"] = 0, 1
        edge = edges.setdefault(
            (holder, target, polarity), {"statements": set(), "dates": set(), "sources": set(), "quotes": set()}
        )
        edge["statements"].add(row["stance"])
        edge["dates"].add(row["date"])
        edge["sources"].add(row["source"])
        edge["quotes"] |= found.quotes[row["stance"]]
    for (holder, target, polarity), edge in edges.items():
        weight = len(edge["statements"])
        if weight < view.min_weight:
            continue
        graph.add_edge(
            holder,
            target,
            key=polarity,
            polarity=polarity,
            sign=SIGNS.get(polarity, 0),
            weight=weight,
            first=min(edge["dates"]),
            last=max(edge["dates"]),
            sources=_join(edge["sources"]),
            statements=_join(edge["statements"]),
            quotes=_join(edge["quotes"]),
        )
    graph.remove_nodes_from([n for n in list(graph) if graph.degree(n) == 0])
    return graph


def actors(
    store: Store, view: ViewFilter = ViewFilter(), mode: str = "congruence", normalisation: str = "none"
) -> nx.Graph:
    """One-mode actor network (DNA-style): congruence = same polarity on the same issue, conflict =
    opposite signs on the same issue, subtract = congruence - conflict; optionally normalised. `min_weight`
    keeps the edges that stand for at least that many issues (`raw`, before normalisation), as DNA's edge
    threshold does: a tie of many issues each stated once is a strong one."""
    if mode not in MODES or normalisation not in NORMALISATIONS:
        raise ValueError(f"mode must be one of {MODES}, normalisation one of {NORMALISATIONS}")
    graph = nx.Graph(view="actors", mode=mode, normalisation=normalisation)
    positions = _positions(store, view, graph)
    agreeing, opposing = _co_positions(positions)
    counted = (agreeing if mode == "congruence" else opposing).keys()  # the pairs this mode can weigh
    for a, b in sorted(agreeing.keys() | opposing.keys() if mode == "subtract" else counted):
        shared, opposed = agreeing.get((a, b), set()), opposing.get((a, b), set())
        raw = {"congruence": len(shared), "conflict": len(opposed), "subtract": len(shared) - len(opposed)}[mode]
        if raw != 0 and abs(raw) >= view.min_weight:
            weight = _normalise(raw, positions[a], positions[b], normalisation)
            graph.add_edge(
                a,
                b,
                weight=weight,
                raw=raw,
                issues=_join(shared if mode != "conflict" else opposed),
                congruence=len(shared),
                conflict=len(opposed),
            )
    if view.min_weight > 1:  # an actor without a tie of that weight is not part of the network asked for
        graph.remove_nodes_from([n for n in list(graph) if graph.degree(n) == 0])
    return graph


Pair = tuple[str, str]  # two actors, in sorted order


def _co_positions(positions: dict[str, set[tuple[str, int]]]) -> tuple[dict[Pair, set[str]], dict[Pair, set[str]]]:
    """For each pair of actors, the issues on which they take the same signed position, and those on which they
    take opposite ones (neutral positions never count), found from who holds each position: the work grows with
    the pairs that meet on some issue, not with every pair of actors (2,000 actors at 10M: 2 million pairs)."""
    holding: dict[tuple[str, int], list[str]] = defaultdict(list)
    for actor in sorted(positions):
        for issue, sign in positions[actor]:
            if sign:
                holding[issue, sign].append(actor)
    agreeing: dict[Pair, set[str]] = defaultdict(set)
    opposing: dict[Pair, set[str]] = defaultdict(set)
    for (issue, sign), holders in holding.items():
        for pair in itertools.combinations(holders, 2):
            agreeing[pair].add(issue)
        if sign > 0:
            for a, b in itertools.product(holders, holding.get((issue, -sign), ())):
                if a != b:  # an actor on both sides of an issue is not in conflict with itself
                    opposing[(a, b) if a < b else (b, a)].add(issue)
    return agreeing, opposing


POSITIONS_QUERY = """
SELECT ?holder ?target ?polarity WHERE {
  { SELECT DISTINCT ?holder ?target ?p WHERE {
      %s
      %s
    } }
  BIND (STRAFTER(STR(?p), STR(pol:)) AS ?polarity)
}"""


def _positions(store: Store, view: ViewFilter, graph: nx.Graph) -> dict[str, set[tuple[str, int]]]:
    """Each actor's (issue, sign) pairs in the statements the view counts (the actor network needs no quotes
    or dates), by groups of holders asked together; adds the actors to `graph` in order."""
    _require_sources(store, view)
    positions: dict[str, set[tuple[str, int]]] = defaultdict(set)
    asked = [
        sparql_prologue()
        + POSITIONS_QUERY % (STANCE_SCANS if store.prefers_scans else STANCE_SEEKS % holders, view.sparql())
        for holders in _holder_groups(store)
    ]
    rows = sorted((row for found in _at_once(store.select_values, asked) for row in found), key=POSITION_ORDER)
    names = _names(store, rows, "holder")
    for row in rows:
        holder = row["holder"]
        if holder not in graph:
            _node(graph, holder, *_named(names, holder, "actor"))
            graph.nodes[holder]["bipartite"] = 0
        positions[holder].add((row["target"], SIGNS.get(row["polarity"], 0)))
    return positions


def _normalise(raw: int, a: set, b: set, normalisation: str) -> float:
    if normalisation == "average":
        return raw / ((len(a) + len(b)) / 2)
    if normalisation == "jaccard":
        return raw / len(a | b)
    if normalisation == "cosine":
        return raw / math.sqrt(len(a) * len(b))
    return float(raw)


PRECONDITION_SEEKS = """
  ?pre a sg:Precondition ; sg:dependent ?dependent ; sg:requirement ?requirement ; sg:holder ?holder ;
       sg:date ?date ; sg:source ?source ."""
PRECONDITION_SCANS = _scans(  # as STANCE_SCANS (at 1M on disk: 0.69 -> 0.41 s)
    "?pre",
    "sg:Precondition",
    "sg:dependent ?dependent",
    "sg:requirement ?requirement",
    "sg:holder ?holder",
    "sg:date ?date",
    "sg:source ?source",
)
PRECONDITIONS_QUERY = """
SELECT ?pre ?dependent ?requirement ?kind ?holder ?date ?source WHERE {
  %s
  OPTIONAL { ?pre sg:preconditionKind ?kind }
  %s
}"""

BLOCKS_QUERY = """
SELECT ?statement ?issue ?reason ?by ?date ?source WHERE {
  {
    ?statement a sg:Stance ; sg:target ?issue ; sg:polarity pol:rejects ; sg:holder ?by ; sg:date ?date ;
               sg:source ?source .
    BIND ("rejected" AS ?reason)
  } UNION {
    ?statement a sg:Claim ; sg:about ?issue ; sg:statesStatus <https://stancegraph.org/id/status/unfulfilled> ;
               sg:date ?date ; sg:source ?source .
    ?issue sg:agent ?by .
    BIND ("not fulfilled" AS ?reason)
  } UNION {
    ?issue sg:abandons ?plan ; sg:agent ?by .
    ?statement a sg:Claim ; sg:about ?plan ; sg:statesStatus <https://stancegraph.org/id/status/pursued> ;
               sg:date ?date ; sg:source ?source .
    BIND ("the plan it would abandon is still pursued" AS ?reason)
  }
  %s
}"""  # each branch names its statement's date and source: joined after the UNION, they were a join over all


def preconditions(store: Store, view: ViewFilter = ViewFilter()) -> nx.DiGraph:
    """Issues and what they require (edge dependent -> requirement), with whether each issue is blocked,
    by whom and through which chain; the graph records a topological order, or the cycles if there are any."""
    _require_sources(store, view)
    graph = nx.DiGraph(view="preconditions")
    edges: dict[tuple[str, str], dict] = {}
    pattern = PRECONDITION_SCANS if store.prefers_scans else PRECONDITION_SEEKS
    rows = _kinds_named(store, store.select_values(sparql_prologue() + PRECONDITIONS_QUERY % (pattern, view.sparql())))
    names, quotes = _names(store, rows, "dependent", "requirement"), _quotes(store, rows, "pre")
    for row in sorted(rows, key=_row_key):  # the same graph, order and chains whatever order the store answers in
        dependent, requirement = row["dependent"], row["requirement"]
        _node(graph, dependent, *_named(names, dependent, "issue"))
        _node(graph, requirement, *_named(names, requirement, "issue"))
        edge = edges.setdefault((dependent, requirement), defaultdict(set))
        for key in ("pre", "kind", "holder", "date", "source"):
            edge[key].add(row[key])
        edge["quote"] |= quotes[row["pre"]]
    for (dependent, requirement), edge in edges.items():
        if len(edge["pre"]) >= view.min_weight:
            graph.add_edge(
                dependent,
                requirement,
                weight=len(edge["pre"]),
                kind=_join(edge["kind"]),
                stated_by=_join(edge["holder"]),
                dates=_join(edge["date"]),
                sources=_join(edge["source"]),
                quotes=_join(edge["quote"]),
            )
    graph.remove_nodes_from([n for n in list(graph) if graph.degree(n) == 0])
    _mark_blocks(store, graph, view)
    _order(graph)
    return graph


def _kinds_named(store: Store, rows: list[Row]) -> list[Row]:
    """Each precondition's kind (a concept) by one label, English first: labels joined in the query gave a row,
    and so a kind, per language."""
    labels = store.labels({row["kind"] for row in rows if _iri_term(row["kind"])})
    return [{**row, "kind": labels.get(row["kind"], "")} for row in rows]


def _mark_blocks(store: Store, graph: nx.DiGraph, view: ViewFilter) -> None:
    """A requirement is unmet when rejected, stated unfulfilled, or undercut by a pursued plan; an issue is
    blocked when any of its (transitive) requirements is unmet, and the chain says through what."""
    unmet: dict[str, list[str]] = defaultdict(list)
    found = store.select_values(sparql_prologue() + BLOCKS_QUERY % view.sparql())
    rows = [row for row in found if row["issue"] in graph]
    names = {iri: label or _short(iri) for iri, (label, _) in _names(store, rows, "by").items()}
    quotes = _quotes(store, rows, "statement")
    for row in sorted(rows, key=_row_key):
        issue, by = row["issue"], row["by"]
        names.setdefault(by, _short(by))
        unmet[issue].append(f"{names[by]}: {row['reason']} ({row['date']})")
        graph.nodes[issue].setdefault("_by", set()).add(by)
        graph.nodes[issue].setdefault("_quotes", set()).update(quotes[row["statement"]])
    actors = sorted({a for issue in unmet for a in graph.nodes[issue]["_by"]}, key=lambda a: (names[a], a))
    bit = {actor: 1 << i for i, actor in enumerate(actors)}  # actor sets as bit masks, in order of name
    blockers = _blockers(graph, {issue: sum(bit[a] for a in graph.nodes[issue]["_by"]) for issue in unmet})
    chains: dict[str, list[str]] = defaultdict(list)
    short = set(blockers)  # blocked issues with fewer than MAX_CHAINS chains so far: the searches stop when none is
    reverse = graph.reverse(copy=False)
    for requirement in itertools.takewhile(lambda _: short, unmet):  # one search finds every issue it blocks
        for node, path in nx.single_source_shortest_path(reverse, requirement).items():
            if node != requirement and node in short:
                chains[node].append(" -> ".join(_label(graph, n) for n in reversed(path)))
                if len(chains[node]) == MAX_CHAINS:
                    short.discard(node)
    for node in graph.nodes:
        data = graph.nodes[node]
        by = blockers.get(node, 0)
        named = [actors[i] for i in _lowest_bits(by, MAX_BLOCKERS)]
        data.update(
            unmet=node in unmet,
            unmet_because=_join(unmet.get(node, ())),
            blocked=bool(by),
            blockers=by.bit_count(),
            blocked_by=_join(names[b] for b in named),
            blocked_by_iris=_join(named),
            chain=_join(chains[node]),
            quotes=_join(data.pop("_quotes", set())),
        )
        data.pop("_by", None)


def _blockers(graph: nx.DiGraph, unmet_by: dict[str, int]) -> dict[str, int]:
    """Who blocks each issue: everyone who left one of its requirements (direct or transitive, never the issue
    itself) unmet. One pass over the strongly connected components, requirements first, with the actors of
    each as a bit mask (one bit per actor in `unmet_by`): a union is one OR, where sets of thousands of actors
    made this pass and the naming of blockers grow with issues x actors (5.7 of the view's 10.9 s at 10M)."""
    condensed = nx.condensation(graph)
    below: dict[int, int] = {}  # who blocks anything a component requires, outside the component
    within: dict[int, int] = {}  # who blocks any member of the component
    blockers: dict[str, int] = {}
    for component in reversed(list(nx.topological_sort(condensed))):
        members = condensed.nodes[component]["members"]
        once = twice = 0  # who blocks at least one member, at least two
        for member in members:
            twice |= once & unmet_by.get(member, 0)
            once |= unmet_by.get(member, 0)
        within[component] = once
        below[component] = functools.reduce(or_, (below[c] | within[c] for c in condensed.successors(component)), 0)
        for member in members:  # in a loop, the other members are requirements too
            others = twice | (once & ~unmet_by.get(member, 0)) if len(members) > 1 else 0
            if below[component] | others:
                blockers[member] = below[component] | others
    return blockers


def _lowest_bits(mask: int, count: int) -> list[int]:
    """The positions of the `count` lowest set bits of `mask` (the first blockers by name)."""
    positions = []
    while mask and len(positions) < count:
        lowest = mask & -mask
        positions.append(lowest.bit_length() - 1)
        mask ^= lowest
    return positions


def _label(graph: nx.Graph, iri: str) -> str:
    return graph.nodes[iri]["label"] if iri in graph else _short(iri)


def _order(graph: nx.DiGraph) -> None:
    """Requirements before what depends on them. Cycles are reported (a few short ones as examples, and how
    many issues are caught in them) and the order is taken over the condensed graph instead of failing."""
    loops = [c for c in nx.strongly_connected_components(graph) if len(c) > 1 or graph.has_edge(*[*c, *c][:2])]
    examples = _example_cycles(graph, set().union(*loops))
    graph.graph["cycles"] = SEPARATOR.join(" -> ".join(_label(graph, n) for n in cycle) for cycle in examples)
    graph.graph["issues_in_cycles"] = sum(len(c) for c in loops)
    condensed = nx.condensation(graph)
    order = [n for c in reversed(list(nx.topological_sort(condensed))) for n in sorted(condensed.nodes[c]["members"])]
    graph.graph["topological_order"] = SEPARATOR.join(order) if not loops else ""
    for rank, node in enumerate(order):
        graph.nodes[node]["order"] = rank


def _example_cycles(graph: nx.DiGraph, looping: set[str]) -> list[list[str]]:
    """Up to MAX_CYCLES short cycles (at most four issues), the shortest through each looping issue in the
    graph's order. Every process finds the same ones: networkx's simple_cycles starts from sets, whose order
    follows Python's per-process hash seed, and two app processes would send different answers under one ETag."""
    found: dict[tuple[str, ...], list[str]] = {}
    for start in (node for node in graph if node in looping):
        reached = nx.single_source_shortest_path(graph, start, cutoff=3)  # breadth first, in adjacency order
        closing = [path for node, path in reached.items() if graph.has_edge(node, start)]
        if closing:
            cycle = min(closing, key=len)
            turn = cycle.index(min(cycle))
            found.setdefault(tuple(cycle[turn:] + cycle[:turn]), cycle)
        if len(found) == MAX_CYCLES:
            break
    return list(found.values())


def what_blocks(store: Store, full: nx.DiGraph, resource: str) -> nx.DiGraph:
    """Everything the resource requires, directly or not, with the path to each and its evidence; `full` is
    the preconditions view it is cut from (built once for every resource: see graph_view_routes)."""
    return _around(store, full, resource, forward=True)


def what_follows(store: Store, full: nx.DiGraph, resource: str) -> nx.DiGraph:
    """Everything that requires the resource, directly or not, with the path from each."""
    return _around(store, full, resource, forward=False)


def _around(store: Store, full: nx.DiGraph, resource: str, forward: bool) -> nx.DiGraph:
    """The part of `full` reachable from (or reaching) the resource; one breadth-first search gives every
    node its shortest path, where a search per node took time quadratic in the part's size. The part gets its
    own order and cycles: the whole view's would list every issue of the corpus in each answer."""
    name = "what-blocks" if forward else "what-follows"
    if resource not in full:  # nothing required, nothing requiring: the resource alone, if it exists
        graph = _alone(store, nx.DiGraph(), resource)
        paths = {resource: [resource]}
    else:
        paths = nx.single_source_shortest_path(full if forward else full.reverse(copy=False), resource)
        graph = _part(full, paths.keys())
    graph.graph = {"view": name, "resource": resource}
    for node, path in paths.items():
        graph.nodes[node]["path"] = " -> ".join(_label(graph, n) for n in (path if forward else reversed(path)))
        graph.nodes[node]["distance"] = len(path) - 1
    _order(graph)
    return graph


def _part(full: nx.DiGraph, members: Collection[str]) -> nx.DiGraph:
    """The subgraph of `full` on `members`, in the order of `full` (its `order` ranks). networkx's own subgraph
    lists a part smaller than half the graph in the order of a set, which follows the hash seed: two app
    processes would send different answers under one ETag."""
    nodes = sorted(members, key=lambda node: full.nodes[node]["order"])
    part = nx.DiGraph()
    part.add_nodes_from((node, dict(full.nodes[node])) for node in nodes)
    part.add_edges_from(
        (node, requirement, dict(edge))
        for node in nodes
        for requirement, edge in full.adj[node].items()
        if requirement in members
    )
    return part


class UnknownResource(LookupError):
    """A view asked around an IRI that no triple names (a typo, most likely): not an empty answer."""


def _require_sources(store: Store, view: ViewFilter) -> None:
    """Refuse a `sources` filter naming what no statement cites (a typo, most likely): its empty view would
    read as "this document says nothing"."""
    for source in view.sources:
        if not store.ask(f"ASK {{ ?statement <{SG}source> {ox.NamedNode(source)} }}"):
            raise UnknownResource(f"source {source}: no statement cites it as its source")


def _alone(store: Store, graph: nx.DiGraph, resource: str) -> nx.DiGraph:
    """The graph with the resource as its one node, named, when the data mentions it; else UnknownResource."""
    if not store.mentions(resource):
        raise UnknownResource(f"no triple mentions {resource}")
    label, kind = _named(_names(store, [{"resource": resource}], "resource"), resource, "resource")
    _node(graph, resource, label, kind)
    return graph


EGO_QUERY = """
SELECT ?s ?p ?o WHERE {
  VALUES ?n { %s }
  { ?n ?p ?o BIND (?n AS ?s) FILTER (isIRI(?o)) } UNION { ?s ?p ?n BIND (?n AS ?o) FILTER (isIRI(?s)) }
  FILTER (?p NOT IN (rdf:type, sg:mentions, sg:graph))
}"""


EGO_LIMIT = 2000  # nodes: a neighbourhood stops growing at the first depth that reaches them


def ego(store: Store, resource: str, depth: int = 1, limit: int = EGO_LIMIT) -> nx.DiGraph:
    """The resource's neighbourhood in the RDF graph up to `depth` links away, a whole level at a time. No
    level is asked once `limit` nodes are reached (at 1M triples an actor's second level is 8,000), and the
    graph then says so (`truncated`, `depth_reached`) rather than passing for the neighbourhood asked.

    Each level's nodes and predicates are named by Store.labels (English first, `skos:prefLabel` too), not
    by label OPTIONALs in the query: those read every label of the store, gave a row per label of each end
    and named a node by whichever came first (an actor's or an issue's second level at 1M: 0.63-0.77 s ->
    0.36-0.50 s)."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    graph = nx.DiGraph(view="ego", resource=resource, depth=depth)
    frontier, seen, reached = {resource}, {resource}, 0
    while frontier and reached < depth:
        if len(seen) >= limit:
            graph.graph["truncated"] = (
                f"stopped at depth {reached} of {depth}: its {len(seen):,} nodes reached the limit of {limit:,}"
            )
            break
        values = " ".join(str(ox.NamedNode(n)) for n in sorted(frontier))
        rows = store.select_values(sparql_prologue() + EGO_QUERY % values)
        links = [(row["s"], row["p"], row["o"]) for row in rows]
        unnamed = {end for s, _, o in links for end in (s, o) if end not in graph}
        names = store.labels(unnamed | {p for _, p, _ in links})
        found = set()
        for s, p, o in links:
            _node(graph, s, names.get(s, ""), "resource")
            _node(graph, o, names.get(o, ""), "resource")
            graph.add_edge(s, o, predicate=p, label=names.get(p) or _short(p))
            found |= {s, o}
        frontier = found - seen
        seen |= found
        reached += 1
    graph.graph["depth_reached"] = reached
    if resource not in graph:
        return _alone(store, graph, resource)
    return graph


EVENTS_QUERY = """
SELECT ?event ?date WHERE {
  ?event a/rdfs:subClassOf* sg:Event ; sg:date ?date .
  %s
}"""


def timeline(store: Store, view: ViewFilter = ViewFilter()) -> nx.DiGraph:
    """Dated stances (and the events they stand next to), each actor's stances linked in date order."""
    graph = nx.DiGraph(view="timeline")
    by_actor: dict[str, list[tuple[str, str]]] = defaultdict(list)
    found = _stance_rows(store, view)
    for row in found.rows:
        stance = row["stance"]
        if stance not in graph:
            holder, target = (_named(found.names, row[key], "")[0] for key in ("holder", "target"))
            label = f"{holder} {row['polarity']} {target}"
            graph.add_node(
                stance,
                label=label,
                type="stance",
                date=row["date"],
                polarity=row["polarity"],
                actor=row["holder"],
                target=row["target"],
                source=row["source"],
                quotes=_join(found.quotes[stance]),
            )
            by_actor[row["holder"]].append((row["date"], stance))
    dated_only = ViewFilter(as_of=view.as_of)  # events carry no source filter: they are not statements
    events = store.select_values(sparql_prologue() + EVENTS_QUERY % dated_only.sparql())
    names = store.labels({row["event"] for row in events if _iri_term(row["event"])})
    for row in events:
        graph.add_node(row["event"], label=names.get(row["event"], ""), type="event", date=row["date"])
    for actor, items in by_actor.items():
        ordered = sorted(items)
        for (d1, a), (d2, b) in itertools.pairwise(ordered):
            graph.add_edge(a, b, actor=actor, since=d1, until=d2)
    return graph


RESOURCE_VIEWS = ("what-blocks", "what-follows", "ego")
VIEW_NAMES = ("preconditions", "stances", "actors", "timeline", *RESOURCE_VIEWS)


def build_view(
    store: Store,
    name: str,
    resource: str | None = None,
    view: ViewFilter = ViewFilter(),
    mode: str = "congruence",
    normalisation: str = "none",
    depth: int = 1,
    limit: int = EGO_LIMIT,
) -> nx.Graph:
    """Any view by name (the client's embedded mode; the HTTP routes call the functions themselves)."""
    if name in RESOURCE_VIEWS and not resource:
        raise ValueError(f"the {name} view needs a resource")
    builders = {
        "preconditions": lambda: preconditions(store, view),
        "stances": lambda: stances(store, view),
        "actors": lambda: actors(store, view, mode, normalisation),
        "timeline": lambda: timeline(store, view),
        "what-blocks": lambda: what_blocks(store, preconditions(store, view), resource),
        "what-follows": lambda: what_follows(store, preconditions(store, view), resource),
        "ego": lambda: ego(store, resource, depth, limit),
    }
    if name not in builders:
        raise ValueError(f"no view {name!r}: choose one of {', '.join(VIEW_NAMES)}")
    return builders[name]()
