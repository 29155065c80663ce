"""Verbatim evidence: Web Annotation quote selectors checked against, and computed from, the source texts.

Encoders write only the quote (`oa:exact`); `stancegraph evidence --fix` fills in `oa:prefix`, `oa:suffix` and
a TextPositionSelector (`oa:start`, `oa:end`, counted in Unicode code points as Web Annotation requires),
and every load checks that the stated offsets still select exactly the quoted words.
"""

import difflib
import re
from dataclasses import dataclass
from pathlib import Path

import pyoxigraph as ox

from app.corpus import Corpus, SourceDocument
from app.namespaces import sparql_prologue
from app.problems import Problem, line_of

CONTEXT = 32  # characters of prefix and suffix, enough to pin a short quote to one place

_LITERAL = r'"(?:[^"\\\n]|\\.)*"'
SELECTOR_RE = re.compile(
    r"oa:hasSelector\s+\[\s*a\s+oa:TextQuoteSelector\s*;\s*oa:exact\s+(?P<exact>" + _LITERAL + r")"
    r"(?:\s*;\s*oa:prefix\s+(?P<prefix>" + _LITERAL + r"))?"
    r"(?:\s*;\s*oa:suffix\s+(?P<suffix>" + _LITERAL + r"))?\s*;?\s*\]"
    r"(?:\s*,\s*\[\s*a\s+oa:TextPositionSelector\s*;\s*oa:start\s+(?P<start>\d+)\s*;"
    r"\s*oa:end\s+(?P<end>\d+)\s*;?\s*\])?"
)


@dataclass(frozen=True)
class Selector:
    """A quote pinned to its place in the text."""

    exact: str
    prefix: str
    suffix: str
    start: int
    end: int

    @classmethod
    def at(cls, text: str, start: int, exact: str) -> "Selector":
        end = start + len(exact)
        return cls(exact, text[max(0, start - CONTEXT) : start], text[end : end + CONTEXT], start, end)

    def turtle(self, indent: str) -> str:
        quote = f"oa:exact {_turtle(self.exact)} ; oa:prefix {_turtle(self.prefix)} ; oa:suffix {_turtle(self.suffix)}"
        return (
            f"oa:hasSelector [ a oa:TextQuoteSelector ; {quote} ] ,\n"
            f"{indent}[ a oa:TextPositionSelector ; oa:start {self.start} ; oa:end {self.end} ]"
        )


def _turtle(value: str) -> str:
    return str(ox.Literal(value))


def _decode(literal: str) -> str:
    (triple,) = ox.parse(f"<urn:s> <urn:p> {literal} .", format=ox.RdfFormat.TURTLE)
    return triple.object.value


def occurrences(text: str, exact: str) -> list[int]:
    found, start = [], text.find(exact)
    while exact and start >= 0:
        found.append(start)
        start = text.find(exact, start + 1)
    return found


def place(
    text: str, exact: str, start: int | None = None, prefix: str | None = None, suffix: str | None = None
) -> Selector | None:
    """Where the quote stands: at the stated start if it is right there, else where prefix/suffix fit, else first."""
    found = occurrences(text, exact)
    if not found:
        return None
    if start in found:
        return Selector.at(text, start, exact)
    fitting = [
        s
        for s in found
        if (not prefix or text[:s].endswith(prefix)) and (not suffix or text[s + len(exact) :].startswith(suffix))
    ]
    return Selector.at(text, (fitting or found)[0], exact)


def closest_passage(text: str, exact: str) -> str:
    """The longest stretch of the quote that the text does contain, to show where a quote went wrong."""
    match = difflib.SequenceMatcher(None, text, exact, autojunk=False).find_longest_match(0, len(text), 0, len(exact))
    return exact[match.b : match.b + match.size]


def fix_content(content: str, text: str, line_at) -> tuple[str, int, list[str]]:
    """Rewrite every selector group in a Turtle file's content; returns (content, groups changed, quotes not found)."""
    changed, missing = 0, []

    def rewrite(match: re.Match) -> str:
        nonlocal changed
        exact = _decode(match["exact"])
        optional = {k: _decode(match[k]) if match[k] else None for k in ("prefix", "suffix")}
        start = int(match["start"]) if match["start"] else None
        selector = place(text, exact, start, **optional)
        if selector is None:
            missing.append(f"line {line_at(match.start())}: quote not in the text: {exact!r}")
            return match.group(0)
        line_start = content.rfind("\n", 0, match.start()) + 1
        indent = " " * (match.start() - line_start + 4)
        new = selector.turtle(indent)
        changed += new != match.group(0)
        return new

    return SELECTOR_RE.sub(rewrite, content), changed, missing


def fix_document(doc: SourceDocument) -> tuple[int, list[str]]:
    """Fill in prefix, suffix and offsets of every quote in a document's encoding file, in place."""
    content = doc.encoding.read_text(encoding="utf-8")
    new, changed, missing = fix_content(content, doc.read_text(), lambda offset: content.count("\n", 0, offset) + 1)
    if changed:
        ox.parse(new, format=ox.RdfFormat.TURTLE)  # never write a file that no longer parses
        doc.encoding.write_text(new, encoding="utf-8")
    return changed, missing


QUOTES_QUERY = (
    sparql_prologue()
    + """
SELECT ?graph ?annotation ?document ?exact ?prefix ?suffix ?start ?end WHERE {
  GRAPH ?graph {
    ?annotation oa:hasTarget ?target .
    ?target oa:hasSource ?document ; oa:hasSelector ?quote .
    ?quote a oa:TextQuoteSelector ; oa:exact ?exact .
    OPTIONAL { ?quote oa:prefix ?prefix }
    OPTIONAL { ?quote oa:suffix ?suffix }
    OPTIONAL { ?target oa:hasSelector ?position . ?position a oa:TextPositionSelector ; oa:start ?start ; oa:end ?end }
  }
}
"""
)


def check_quotes(store: ox.Store, corpus: Corpus) -> list[Problem]:
    """Every quote must be in its document's text, at its stated offsets, between its stated prefix and suffix."""
    documents = {doc.iri: doc for doc in corpus.documents()}
    by_graph = corpus.document_by_graph()
    texts: dict[str, str | None] = {}
    problems = []
    for row in store.query(QUOTES_QUERY):
        graph_doc = by_graph.get(row["graph"].value)
        doc = documents.get(row["document"].value)
        messages = list(_quote_problems(row, doc, graph_doc, texts))
        if not messages:
            continue
        file = graph_doc.encoding if graph_doc else corpus.settings.data_dir
        where = (corpus.name(file), line_of(file, row["annotation"].value))
        problems += [Problem(*where, f"{row['annotation'].value}: {message}") for message in messages]
    return problems


def _quote_problems(row, doc: SourceDocument | None, graph_doc: SourceDocument | None, texts: dict[str, str | None]):
    if doc is not None and doc.iri not in texts:  # each text read once, not once per quote
        texts[doc.iri] = doc.read_text() if doc.text.exists() else None
    text = texts[doc.iri] if doc is not None else None
    if text is None:
        yield f"oa:hasSource {row['document'].value} is not a source document with a text"
        return
    if graph_doc is not None and graph_doc.iri != doc.iri:
        yield f"quotes {doc.doc_id} but is encoded in the graph of {graph_doc.doc_id}"
    exact, start, end = row["exact"].value, row["start"], row["end"]
    start, end = (None, None) if start is None else (int(start.value), int(end.value))
    if not exact or start is None or text[start:end] != exact:  # the text is searched only when offsets are wrong
        yield _misplaced(text, exact, start, end, doc)
        return
    prefix, suffix = row["prefix"], row["suffix"]
    if prefix is not None and not text.endswith(prefix.value, 0, start):
        yield f"oa:prefix {prefix.value!r} does not match the text around the quote: run `stancegraph evidence --fix`"
    if suffix is not None and not text.startswith(suffix.value, end):
        yield f"oa:suffix {suffix.value!r} does not match the text around the quote: run `stancegraph evidence --fix`"


def _misplaced(text: str, exact: str, start: int | None, end: int | None, doc: SourceDocument) -> str:
    """Why a quote is not where its selectors say: not in the text at all, no offsets, or wrong offsets."""
    found = occurrences(text, exact)
    if not found:
        return f"quote is not in the text of {doc.doc_id}; the longest part that is: {closest_passage(text, exact)!r}"
    if start is None:
        return "quote has no TextPositionSelector: run `stancegraph evidence --fix`"
    return (
        f"offsets {start}-{end} select {text[start:end]!r}, not the quote "
        f"(it stands at {found[0]}-{found[0] + len(exact)}): run `stancegraph evidence --fix`"
    )


def annotated_documents(corpus: Corpus) -> list[SourceDocument]:
    return [doc for doc in corpus.documents() if doc.encoding.exists() and doc.text.exists()]


def fix_all(corpus: Corpus) -> dict[Path, tuple[int, list[str]]]:
    return {doc.encoding: fix_document(doc) for doc in annotated_documents(corpus)}
