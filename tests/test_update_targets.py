"""Which graphs an update writes to, as the store reads them before refusing a write to the derived graph."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.namespaces import DERIVED_GRAPH, GRAPH
from app.update_targets import could_name, written_graphs

G = f"PREFIX g: <{GRAPH}> "
ENDPOINT = "http://127.0.0.1:8000/sparql"

WRITES = [
    G + "INSERT DATA { GRAPH g:derived { <http://e/a> <http://e/b> 1 } }",
    G + "DELETE DATA { <http://e/a> <http://e/b> 1 . GRAPH g:derived { <http://e/a> <http://e/b> 1 } }",
    G + "DELETE WHERE { GRAPH g:derived { ?s ?p ?o } }",
    f"BASE <{GRAPH}> CLEAR GRAPH <derived>",
    f"BASE <{GRAPH}> DROP SILENT GRAPH <derived>",
    f"WITH <{DERIVED_GRAPH}> DELETE {{ ?s ?p ?o }} WHERE {{ ?s ?p ?o }}",
    f"WITH <{DERIVED_GRAPH}> DELETE {{ GRAPH <http://e/g> {{ ?s ?p ?o }} }} INSERT {{ ?s ?p 2 }} WHERE {{ ?s ?p ?o }}",
    f"DELETE {{ GRAPH <http://e/g> {{ ?s ?p ?o }} }} INSERT {{ GRAPH <{DERIVED_GRAPH}> {{ ?s ?p ?o }} }} "
    "WHERE { GRAPH <http://e/g> { ?s ?p ?o } }",
    f"LOAD SILENT <http://e/doc> INTO GRAPH <{DERIVED_GRAPH}>",
    f"ADD DEFAULT TO GRAPH <{DERIVED_GRAPH}>",
    f"COPY <http://e/g> TO <{DERIVED_GRAPH}>",
    f"MOVE <{DERIVED_GRAPH}> TO <http://e/g>",  # empties it
    f"PREFIX g: <{GRAPH}der> INSERT DATA {{ GRAPH g:ived {{ <http://e/a> <http://e/b> 1 }} }}",  # split
    f"INSERT DATA {{ GRAPH <{GRAPH}d\\u0065rived> {{ <http://e/a> <http://e/b> 1 }} }}",  # an escape
    G + "INSERT DATA { <http://e/a> <http://e/b> g:derived. GRAPH g:derived { <http://e/a> <http://e/b> 1 } }",
    "CLEAR GRAPH <http://e/g> ;\n# a comment\n" + G + "CREATE GRAPH g:derived",
]

READS_ONLY = [
    f"INSERT {{ GRAPH <http://e/g> {{ ?s ?p ?o }} }} WHERE {{ GRAPH <{DERIVED_GRAPH}> {{ ?s ?p ?o }} }}",
    f"WITH <{DERIVED_GRAPH}> INSERT {{ GRAPH <http://e/g> {{ ?s ?p ?o }} }} WHERE {{ ?s ?p ?o }}",
    f"COPY <{DERIVED_GRAPH}> TO <http://e/g>",
    f"ADD GRAPH <{DERIVED_GRAPH}> TO DEFAULT",
    G + 'INSERT DATA { <http://e/a> <http://e/says> "GRAPH g:derived { <a> <b> <c> }" }',
    f"# CLEAR GRAPH <{DERIVED_GRAPH}>\nINSERT DATA {{ <http://e/a> <http://e/b> <{DERIVED_GRAPH}> }}",
    "INSERT DATA { GRAPH <http://e/derived> { <http://e/a> <http://e/b> 1 } }",
    "DROP ALL",  # every graph: the rules derive again from what is left, which is what was asked
    f"BASE <{GRAPH}> CLEAR GRAPH <derived/>",
]


@pytest.mark.parametrize("update", WRITES)
def test_an_update_writing_to_the_derived_graph_is_recognised(update):
    assert could_name(update, DERIVED_GRAPH)
    assert DERIVED_GRAPH in written_graphs(update, ENDPOINT)


@pytest.mark.parametrize("update", READS_ONLY)
def test_an_update_reading_or_merely_mentioning_the_derived_graph_is_not(update):
    assert DERIVED_GRAPH not in written_graphs(update, ENDPOINT)


def test_the_other_targets_are_read_too():
    update = G + "INSERT DATA { GRAPH g:one { <http://e/a> <http://e/b> 1 } } ; MOVE <http://e/two> TO <http://e/three>"
    assert written_graphs(update) == {GRAPH + "one", "http://e/two", "http://e/three"}
    assert written_graphs("INSERT DATA { GRAPH <g> { <a> <b> 1 } }", ENDPOINT) == {"http://127.0.0.1:8000/g"}


def test_an_update_that_cannot_name_the_graph_is_not_scanned():
    big = "INSERT DATA { " + " ".join(f"<http://e/s{i}> <http://e/p> {i} ." for i in range(10_000)) + " }"
    assert not could_name(big, DERIVED_GRAPH)
    assert not could_name(f"PREFIX id: <{GRAPH[:-6]}> INSERT DATA {{ GRAPH id:other {{ <a> <b> 1 }} }}", DERIVED_GRAPH)


FRAGMENTS = [
    *"{};.\n#\"'",
    *("INSERT", "DELETE", "DATA", "WHERE", "GRAPH", "WITH", "PREFIX", "BASE", "CLEAR", "DROP", "CREATE"),
    *("LOAD", "INTO", "ADD", "MOVE", "COPY", "TO", "DEFAULT", "ALL", "SILENT", "USING", "NAMED", "?g", "<a>"),
    *("g:", "g:derived", "g:ived", "ived", "<derived>", f"<{GRAPH}>", f"<{GRAPH}der>", f"<{DERIVED_GRAPH}>"),
    *("<http://[>", "\\u0065", "\\U0011FFFF", "<>", "<#x>", "<?q>", "'''", '"""'),
]


@given(st.lists(st.sampled_from(FRAGMENTS), max_size=30), st.sampled_from([" ", ""]))
@settings(max_examples=400, deadline=None, derandomize=True)
def test_any_text_is_read_without_error_and_the_quick_screen_never_misses(fragments, gap):
    """Whatever the text (the engine refuses it afterwards if it is not SPARQL), reading it raises nothing,
    and text that `could_name` lets through unscanned never writes to the derived graph."""
    update = gap.join(fragments)
    written = written_graphs(update, ENDPOINT)
    assert could_name(update, DERIVED_GRAPH) or DERIVED_GRAPH not in written
