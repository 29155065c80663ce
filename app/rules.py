"""Derived direct triples (`:Russia sg:rejects :ThirdSite`) from the CONSTRUCT rules in queries/rules/.

Every rule reads the union of the hand-made graphs, never another rule's output: the rules are independent,
so they are evaluated side by side and their order does not matter. Everything they produce goes to one
named graph that is rebuilt on every load, never edited.
"""

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyoxigraph as ox

from app.namespaces import DERIVED_GRAPH
from app.problems import Problem
from app.workers import syntax_position


def rule_files(rules_dir: Path) -> list[Path]:
    return sorted(rules_dir.glob("*.rq"))


def apply_rules(store: ox.Store, rules_dir: Path, name: Callable[[Path], str] = str) -> list[Problem]:
    """Rebuild the derived graph; a broken rule is reported and skipped, the others still derive."""
    derived = ox.NamedNode(DERIVED_GRAPH)
    if store.contains_named_graph(derived):
        store.remove_graph(derived)  # before any rule runs, so that none of them reads a previous derivation
    rules = rule_files(rules_dir)
    # The engine evaluates without holding the GIL: one thread per core.
    with ThreadPoolExecutor(max_workers=min(len(rules), os.cpu_count() or 1) or 1, thread_name_prefix="rule") as pool:
        outcomes = list(pool.map(lambda rule: _derive(store, rule, name), rules))
    store.add_graph(derived)
    for outcome in outcomes:
        if isinstance(outcome, bytes):
            # lenient: the engine wrote these N-Triples itself, checking their IRIs again would only cost time
            store.load(outcome, format=ox.RdfFormat.N_TRIPLES, to_graph=derived, lenient=True)
    return [outcome for outcome in outcomes if isinstance(outcome, Problem)]


def _derive(store: ox.Store, rule: Path, name: Callable[[Path], str]) -> bytes | Problem:
    """A rule's triples as N-Triples (the terms stay inside the engine instead of becoming Python objects)."""
    try:
        triples = store.query(rule.read_text(encoding="utf-8"), use_default_graph_as_union=True)
    except SyntaxError as err:
        line, column, detail = syntax_position(err)
        return Problem(name(rule), line, f"rule does not parse: {detail}", column=column)
    if not isinstance(triples, ox.QueryTriples):
        return Problem(name(rule), 0, "a rule must be a CONSTRUCT query")
    return triples.serialize(format=ox.RdfFormat.N_TRIPLES)
