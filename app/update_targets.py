"""The graphs a SPARQL update writes to, read from its text before it runs.

Why: the derived graph is rebuilt by the rules after every write, so an update that writes there (INSERT DATA
into it, CLEAR it, a template with GRAPH <…/derived>, WITH it, LOAD or COPY into it) would be undone at once
and answered 204 as if it had worked. Knowing the targets lets it be refused with a reason, as the Graph Store
Protocol's writes to it are. pyoxigraph offers no parsed update and rdflib's parser takes minutes on a large
INSERT DATA, so this reads the update's few operation forms with a regular-expression scanner, and only when
the text could name the graph at all (see `could_name`). A graph named by a variable (`GRAPH ?g` in a
template) is not known before the update runs, and is not among the targets.
"""

import re
from collections.abc import Iterator
from urllib.parse import urljoin

_TOKEN = re.compile(
    r"""(?P<skip>\s+|\#[^\n]*)
    |(?P<string>\"\"\"(?:[^\\]|\\.)*?\"\"\"|'''(?:[^\\]|\\.)*?'''|"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
    |(?P<iri><(?:[^<>"{}|^`\\\x00-\x20]|\\u[0-9A-Fa-f]{4}|\\U[0-9A-Fa-f]{8})*>)
    |(?P<pname>(?:[^\W\d_][\w.-]*)?:(?:[\w:%-]|\\[_~.!$&'()*+,;=/?\#@%-])(?:[\w.:%-]|\\[_~.!$&'()*+,;=/?\#@%-])*
        |(?:[^\W\d_][\w.-]*)?:)
    |(?P<var>[?$]\w+)
    |(?P<word>[^\W\d]\w*)
    |(?P<other>.)""",
    re.VERBOSE | re.DOTALL,
)
_ESCAPE = re.compile(r"\\u([0-9A-Fa-f]{4})|\\U([0-9A-Fa-f]{8})")
_LOCAL_ESCAPE = re.compile(r"\\(.)")
_DECLARATION = re.compile(r"(?i)(?:PREFIX\s+[\w.-]*:\s*|BASE\s*)<([^>]*)>")


def writes_to(update: str, graph: str, base_iri: str | None) -> bool:
    """Whether the update writes to `graph` (named by IRI); the text is scanned only if it could name it."""
    return could_name(update, graph) and graph in written_graphs(update, base_iri)


def could_name(update: str, graph: str) -> bool:
    """Whether the text may name `graph` (an IRI ending in a word, like `…/graph/derived`) at all, by cheap
    searches: that word, an escape, or a declared namespace ending in its start (`PREFIX g: <…/der>`, `g:ived`).
    An IRI or prefixed name can spell the graph in no other way: local names and relative IRIs keep the word."""
    last = graph.rsplit("/", 1)[-1]
    if last in update or "\\u" in update or "\\U" in update:
        return True
    ends = (namespace.rsplit("/", 1)[-1] for namespace in _DECLARATION.findall(update))
    return any(end and last.startswith(end) for end in ends)


class _Reader:
    """The update's tokens, one at a time, with IRIs and prefixed names resolved as the engine would."""

    def __init__(self, update: str, base_iri: str | None):
        self._tokens = self._scan(update)
        self.base = base_iri or ""
        self.prefixes: dict[str, str] = {}

    @staticmethod
    def _scan(update: str) -> Iterator[tuple[str, str]]:
        for match in _TOKEN.finditer(update):
            kind, text = match.lastgroup or "other", match.group()
            if kind == "pname" and text.endswith("."):  # a local name never ends with a dot: it ends the triple
                yield kind, text.rstrip(".")
                yield from (("other", ".") for _ in range(len(text) - len(text.rstrip("."))))
            elif kind != "skip":
                yield kind, text

    def next(self) -> tuple[str, str]:
        """(kind, text); ("end", "") once the update is read. A word's text is upper case."""
        kind, text = next(self._tokens, ("end", ""))
        return (kind, text.upper()) if kind == "word" else (kind, text)

    def iri(self, kind: str, text: str) -> str | None:
        """The IRI an IRI reference or prefixed name stands for; None for anything else."""
        if kind == "iri":
            reference = _ESCAPE.sub(_character, text[1:-1])
            try:
                return urljoin(self.base, reference) if self.base else reference
            except ValueError:  # `http://[` and the like: the engine refuses the update itself
                return reference
        if kind == "pname":
            prefix, _, local = text.partition(":")
            if prefix in self.prefixes:
                return self.prefixes[prefix] + _LOCAL_ESCAPE.sub(r"\1", local)
        return None


def _character(escape: re.Match) -> str:
    code = int(escape.group(1) or escape.group(2), 16)
    return chr(code) if code <= 0x10FFFF else escape.group()  # beyond Unicode: the engine refuses it


def written_graphs(update: str, base_iri: str | None = None) -> set[str]:
    """The named graphs the update's operations write to, where they are named by IRI."""
    reader, targets = _Reader(update, base_iri), set()
    with_graph = None
    kind, word = reader.next()
    while kind != "end":
        if word == "PREFIX":
            _, name = reader.next()
            reader.prefixes[name.removesuffix(":")] = reader.iri(*reader.next()) or ""
        elif word == "BASE":
            reader.base = reader.iri(*reader.next()) or reader.base
        elif word == "WITH":
            with_graph = reader.iri(*reader.next())
        elif word in ("INSERT", "DELETE"):
            kind, word = reader.next()
            if word in ("DATA", "WHERE"):
                reader.next()  # the opening brace: quads whose default graph is the store's
                targets |= _quad_graphs(reader, None)
            elif word == "{":
                targets |= _quad_graphs(reader, with_graph)
        elif word == "WHERE":
            _skip_group(reader)
        elif word in ("LOAD", "CLEAR", "DROP", "CREATE", "ADD", "MOVE", "COPY"):
            targets |= _graph_management(reader, word)
        elif word == ";":
            with_graph = None
        kind, word = reader.next()
    return {graph for graph in targets if graph is not None}


def _quad_graphs(reader: _Reader, default: str | None) -> set[str | None]:
    """The graphs of a quad block (after its `{`): each `GRAPH <g>`, and `default` if it has triples outside them."""
    graphs, depth = set(), 1
    kind, word = reader.next()
    while kind != "end":
        if word == "GRAPH" and depth == 1:
            graphs.add(reader.iri(*reader.next()))
        elif word == "{":
            depth += 1
        elif word == "}":
            depth -= 1
            if depth == 0:
                break
        elif depth == 1 and word != ".":
            graphs.add(default)
        kind, word = reader.next()
    return graphs


def _skip_group(reader: _Reader) -> None:
    """Past a WHERE group: it only reads."""
    depth = 0
    kind, word = reader.next()
    while kind != "end":
        depth += {"{": 1, "}": -1}.get(word, 0)
        if depth == 0:
            return
        kind, word = reader.next()


def _graph_management(reader: _Reader, operation: str) -> set[str | None]:
    """LOAD … INTO GRAPH g; CLEAR, DROP or CREATE GRAPH g; ADD, MOVE or COPY a TO b (MOVE empties a too)."""
    graphs: list[str | None] = []
    kind, word = reader.next()
    while kind != "end" and word != ";":
        if kind in ("iri", "pname"):
            graphs.append(reader.iri(kind, word))
        elif word == "DEFAULT":
            graphs.append(None)
        elif word in ("ALL", "NAMED"):
            return set()  # every graph: the rules then derive from what is left, which is what was asked
        kind, word = reader.next()
    if operation in ("LOAD", "ADD", "COPY"):
        return set(graphs[1:])  # the first is only read (the document loaded, the graph added or copied)
    return set(graphs)
