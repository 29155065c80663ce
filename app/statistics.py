"""Counts of what is encoded per source document (the numbers an encoder checks after a change)."""

import pyoxigraph as ox

from app.corpus import Corpus
from app.loader import build
from app.sparql_text import names_dataset


def plain(term: ox.NamedNode | ox.BlankNode | ox.Literal | None) -> object:
    """A term as the Python value a table shows: integers as int, everything else as its lexical value."""
    if term is None:
        return None
    if isinstance(term, ox.Literal) and term.datatype.value.endswith("#integer"):
        return int(term.value)
    return term.value


def document_statistics(corpus: Corpus) -> list[dict[str, object]]:
    store, _ = build(corpus, shacl=False)
    query = (corpus.settings.queries_dir / "document-statistics.rq").read_text(encoding="utf-8")
    solutions = store.query(query, use_default_graph_as_union=not names_dataset(query))
    names = [v.value for v in solutions.variables]
    return [{name: plain(row[name]) for name in names} for row in solutions]
