"""Derived direct triples (`:Russia sg:rejects :ThirdSite`) from the CONSTRUCT rules in queries/rules/.

Rules run in file-name order over the union of all graphs, so a later rule may use an earlier rule's
output; everything they produce goes to one named graph that is rebuilt on every load, never edited.
"""

from collections.abc import Callable
from pathlib import Path

import pyoxigraph as ox

from app.namespaces import DERIVED_GRAPH
from app.problems import Problem
from app.workers import syntax_position


def rule_files(rules_dir: Path) -> list[Path]:
    return sorted(rules_dir.glob("*.rq"))


def apply_rules(store: ox.Store, rules_dir: Path, name: Callable[[Path], str] = str) -> list[Problem]:
    """Run every rule into the derived graph; a broken rule is reported and skipped, the others still run."""
    derived = ox.NamedNode(DERIVED_GRAPH)
    if store.contains_named_graph(derived):
        store.remove_graph(derived)
    store.add_graph(derived)
    problems = []
    for rule in rule_files(rules_dir):
        try:
            triples = store.query(rule.read_text(encoding="utf-8"), use_default_graph_as_union=True)
        except SyntaxError as err:
            line, column, detail = syntax_position(err)
            problems.append(Problem(name(rule), line, f"rule does not parse: {detail}", column=column))
            continue
        if not isinstance(triples, ox.QueryTriples):
            problems.append(Problem(name(rule), 0, "a rule must be a CONSTRUCT query"))
            continue
        # Handed over as N-Triples: the terms stay inside the engine instead of becoming Python objects.
        store.load(triples.serialize(format=ox.RdfFormat.N_TRIPLES), format=ox.RdfFormat.N_TRIPLES, to_graph=derived)
    return problems
