"""Derived direct triples (`:Russia sg:rejects :ThirdSite`) from the CONSTRUCT rules in queries/rules/.

Every rule reads the union of the graphs, never another rule's output: the rules are independent, so they
are evaluated side by side and their order does not matter. Everything they produce goes to one named graph,
derived again at every load and after every write (see the stores' writes), never edited by hand.
"""

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyoxigraph as ox

from app.namespaces import DERIVED_GRAPH
from app.problems import Problem
from app.sparql_text import names_dataset
from app.workers import syntax_position


def rule_files(rules_dir: Path) -> list[Path]:
    return sorted(rules_dir.glob("*.rq"))


def apply_rules(store: ox.Store, rules_dir: Path, name: Callable[[Path], str] = str) -> list[Problem]:
    """Bring the derived graph to what the rules derive from the data now; a broken rule is reported.

    At a load the graph is new and takes every triple derived (a broken rule's are missing, the others still
    derive). After a write only the triples that differ are removed or added: removing and adding the whole
    graph took 19-24 s at 1M triples on disk. A broken rule then leaves the graph as it was, since removing
    its old triples would say they no longer hold."""
    derived = ox.NamedNode(DERIVED_GRAPH)
    rules = rule_files(rules_dir)
    # The engine evaluates without holding the GIL: one thread per core. No rule reads the derived graph.
    with ThreadPoolExecutor(max_workers=min(len(rules), os.cpu_count() or 1) or 1, thread_name_prefix="rule") as pool:
        outcomes = list(pool.map(lambda rule: _derive(store, rule, name), rules))
    problems = [outcome for outcome in outcomes if isinstance(outcome, Problem)]
    triples = [outcome for outcome in outcomes if isinstance(outcome, bytes)]
    if not store.contains_named_graph(derived):
        store.add_graph(derived)
        for part in triples:
            _add_derived(store, derived, part)
    elif not problems:
        _replace_differences(store, derived, triples)
    return problems


def _replace_differences(store: ox.Store, derived: ox.NamedNode, triples: list[bytes]) -> None:
    """Make `derived` hold exactly the rules' `triples`, touching only the ones that differ. Both sides are lines the
    engine wrote (one triple each, in one canonical form), compared as bytes, never as Python terms; only the
    held lines are kept whole (at 10M triples the derived graph is 3 million lines)."""
    held = store.dump(format=ox.RdfFormat.N_TRIPLES, from_graph=derived).splitlines()
    stale, missing = line_differences(held, (line for part in triples for line in part.splitlines()))
    for quad in ox.parse(b"\n".join(stale), format=ox.RdfFormat.N_TRIPLES):
        store.remove(ox.Quad(quad.subject, quad.predicate, quad.object, derived))
    _add_derived(store, derived, b"\n".join(missing))


def line_differences(held: Iterable[bytes], derived: Iterable[bytes]) -> tuple[list[bytes], set[bytes]]:
    """(the held lines no longer derived, the derived lines not held). Only the held lines are kept whole; the
    derived ones are read once, one rule's at a time. A line two rules derive is in neither if it is held."""
    still_derived = dict.fromkeys(held, False)
    missing = set()
    for line in derived:
        if line in still_derived:
            still_derived[line] = True
        else:
            missing.add(line)
    return [line for line, derived_now in still_derived.items() if not derived_now], missing


def _add_derived(store: ox.Store, derived: ox.NamedNode, ntriples: bytes) -> None:
    """Add N-Triples a rule's evaluation wrote to the derived graph, each blank node staying the node it was.

    The engine's loader names blank nodes afresh, which would cut a derived triple off the node it is about
    (an unnamed coalition's `sg:rejects`, a blank statement's label) and make it differ at every write; the
    lines with one are parsed keeping their labels instead. Lenient: the engine wrote these lines itself."""
    if b"_:" not in ntriples:
        store.load(ntriples, format=ox.RdfFormat.N_TRIPLES, to_graph=derived, lenient=True)
        return
    lines = ntriples.split(b"\n")
    plain = b"\n".join(line for line in lines if b"_:" not in line)
    store.load(plain, format=ox.RdfFormat.N_TRIPLES, to_graph=derived, lenient=True)
    with_blank_nodes = ox.parse(b"\n".join(line for line in lines if b"_:" in line), format=ox.RdfFormat.N_TRIPLES)
    store.extend(ox.Quad(t.subject, t.predicate, t.object, derived) for t in with_blank_nodes)


def _derive(store: ox.Store, rule: Path, name: Callable[[Path], str]) -> bytes | Problem:
    """A rule's triples as N-Triples (the terms stay inside the engine instead of becoming Python objects)."""
    try:
        text = rule.read_text(encoding="utf-8")
        triples = store.query(text, use_default_graph_as_union=not names_dataset(text))
    except SyntaxError as err:
        line, column, detail = syntax_position(err)
        return Problem(name(rule), line, f"rule does not parse: {detail}", column=column)
    if not isinstance(triples, ox.QueryTriples):
        return Problem(name(rule), 0, "a rule must be a CONSTRUCT query")
    return triples.serialize(format=ox.RdfFormat.N_TRIPLES)


def rules_reading_derived(store: ox.Store, rules_dir: Path, name: Callable[[Path], str] = str) -> list[Problem]:
    """Rules whose triples change when the derived graph is in the union: they read what the rules derive.

    A load evaluates the rules without the derived graph and a write with the previous one present, so such a
    rule derives one thing after a load and another after a write. `stancegraph validate` asks this of the
    store it checked, which it then throws away: the derived graph is removed to evaluate each rule without
    it (naming every other graph as the dataset instead took minutes at 1M triples)."""
    rules = [(rule, rule.read_text(encoding="utf-8")) for rule in rule_files(rules_dir)]
    seeing = {rule: _triples(store, text) for rule, text in rules}
    store.remove_graph(ox.NamedNode(DERIVED_GRAPH))
    problems = []
    for rule, text in rules:
        if differing := seeing[rule] ^ _triples(store, text):
            problems.append(
                Problem(
                    name(rule),
                    0,
                    f"the rule reads what the rules derive ({DERIVED_GRAPH}): {len(differing)} of its triples differ"
                    f" when that graph is present, e.g. {' '.join(min(differing))} .; rules run without it after a"
                    " load and with it after a write, so read the hand-made statements instead",
                )
            )
    return problems


def _triples(store: ox.Store, rule: str) -> set[tuple[str, str, str]]:
    """A rule's triples over the union of the graphs, every blank node written `[]`: a blank node of the rule's
    template is a new one at each evaluation, so only what is not a blank node can tell two evaluations apart.
    None for a rule that does not parse (the load said so)."""
    try:
        triples = store.query(rule, use_default_graph_as_union=not names_dataset(rule))
    except SyntaxError:
        return set()
    return {tuple("[]" if isinstance(term, ox.BlankNode) else str(term) for term in triple) for triple in triples}
