"""A synthetic negotiation corpus in Stancegraph's own layout, at any size, deterministic by seed.

    python bench/generate.py --documents 300 --out /tmp/corpus   # about 100k triples
    python bench/generate.py --triples 1000000 --out /tmp/big     # about 3,000 documents

Each document gets a verbatim text made of sentences, its metadata, and an encoding with stances,
preconditions and claims whose quotes are sentences of that text at their exact offsets, over shared pools
of actors and issues (so that conflicts, chains of preconditions and cross-document entities exist). The
corpus loads and validates like the real one.
"""

import argparse
import hashlib
import random
import shutil
from pathlib import Path

import pyoxigraph as ox

POLARITIES = ["proposes", "supports", "rejects", "conditions", "demands", "doubts", "expects", "requests"]
VERBS = {
    "proposes": "proposes",
    "supports": "supports",
    "rejects": "rejects",
    "conditions": "accepts only on conditions",
    "demands": "demands",
    "doubts": "doubts",
    "expects": "hopes for",
    "requests": "asks for",
}
ISSUE_CLASSES = ["Plan", "Idea", "Offer", "Action", "Outcome", "PackageProposal", "CounterIdea"]
TRIPLES_PER_DOCUMENT = 500  # measured on generated corpora; used to turn --triples into documents

PREFIXES = """@prefix sg: <https://stancegraph.org/ontology#> .
@prefix id: <https://stancegraph.org/id/> .
@prefix doc: <https://stancegraph.org/id/doc/> .
@prefix pol: <https://stancegraph.org/id/polarity/> .
@prefix voice: <https://stancegraph.org/id/voice/> .
@prefix pk: <https://stancegraph.org/id/precondition-kind/> .
@prefix oa: <http://www.w3.org/ns/oa#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix dcterms: <http://purl.org/dc/terms/> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
"""


def literal(text: str) -> str:
    return str(ox.Literal(text))


class Document:
    """One generated document: its text grows sentence by sentence; each quote remembers its offsets."""

    def __init__(self, doc_id: str):
        self.doc_id = doc_id
        self.text = ""
        self.turtle: list[str] = []
        self.quotes = 0

    def quote(self, sentence: str, speaker: str) -> str:
        """Append a sentence to the text and the annotation that selects it; returns the annotation name."""
        start = len(self.text)
        self.text += sentence + " "
        end = start + len(sentence)
        self.quotes += 1
        name = f"d:quote-{self.quotes}"
        prefix, suffix = self.text[max(0, start - 32) : start], ""
        self.turtle.append(
            f"{name} a oa:Annotation ; sg:voice voice:direct-quotation ; sg:utteredBy {speaker} ;\n"
            f"    oa:hasTarget [ oa:hasSource doc:{self.doc_id} ;\n"
            f"        oa:hasSelector [ a oa:TextQuoteSelector ; oa:exact {literal(sentence)} ; "
            f"oa:prefix {literal(prefix)} ; oa:suffix {literal(suffix)} ] ,\n"
            f"            [ a oa:TextPositionSelector ; oa:start {start} ; oa:end {end} ] ] .\n"
        )
        return name


def generate(out: Path, documents: int, seed: int = 1) -> Path:
    """Write the corpus to out/data (replacing it) and return that data directory."""
    rng = random.Random(seed)
    data = out / "data"
    if data.exists():
        shutil.rmtree(data)
    (data / "sources").mkdir(parents=True)
    (data / "encodings").mkdir()
    (data / "links").mkdir()
    actors = [f"id:Actor{n}" for n in range(max(20, documents // 10))]
    speakers = [f"id:Speaker{n}" for n in range(max(40, documents // 5))]
    issues = [f"id:Issue{n}" for n in range(max(30, documents // 3))]
    entities = [PREFIXES]
    entities += [f'{a} a sg:State ; rdfs:label "Actor {a.removeprefix("id:Actor")}"@en .\n' for a in actors]
    entities += [f'{s} a sg:Person ; rdfs:label "Speaker {s.removeprefix("id:Speaker")}"@en .\n' for s in speakers]
    for issue in issues:
        kind = rng.choice(ISSUE_CLASSES)
        proposer = f" ; sg:proposedBy {rng.choice(actors)}" if kind not in ("Action", "Outcome") else ""
        entities.append(f'{issue} a sg:{kind} ; rdfs:label "Issue {issue.removeprefix("id:Issue")}"@en{proposer} .\n')
    (data / "entities.ttl").write_text("".join(entities), encoding="utf-8")
    for number in range(documents):
        write_document(data, number, rng, actors, speakers, issues)
    return data


def write_document(data: Path, number: int, rng: random.Random, actors, speakers, issues) -> None:
    doc_id = f"{number:06d}_synthetic"
    document = Document(doc_id)
    day = f"{2000 + number % 20}-{1 + number % 12:02d}-{1 + number % 28:02d}"
    dated = f'"{day}"^^xsd:date'
    body = [f"@prefix d: <https://stancegraph.org/id/doc/{doc_id}/> .\n"]
    for n in range(10):
        holder, speaker, target = rng.choice(actors), rng.choice(speakers), rng.choice(issues)
        polarity = rng.choice(POLARITIES)
        quote = document.quote(f"{holder[3:]} {VERBS[polarity]} {target[3:]}, said {speaker[3:]} ({n}).", speaker)
        condition = ""
        if polarity == "conditions":
            condition = f" ; sg:condition d:precondition-c{n}"
            body.append(
                precondition(f"d:precondition-c{n}", target, rng.choice(issues), holder, speaker, dated, doc_id, quote)
            )
        body.append(
            f"d:stance-{n} a sg:Stance ; sg:holder {holder} ; sg:polarity pol:{polarity} ; sg:target {target} ;\n"
            f"    sg:speaker {speaker} ; sg:date {dated} ; sg:source doc:{doc_id} ; sg:evidence {quote}{condition} .\n"
        )
    for n in range(2):
        dependent, requirement = rng.sample(issues, 2)
        holder, speaker = rng.choice(actors), rng.choice(speakers)
        quote = document.quote(f"{dependent[3:]} can only start after {requirement[3:]} ({n}).", speaker)
        body.append(precondition(f"d:precondition-{n}", dependent, requirement, holder, speaker, dated, doc_id, quote))
    for n in range(3):
        holder, speaker, about = rng.choice(actors), rng.choice(speakers), rng.choice(issues)
        quote = document.quote(f"{holder[3:]} claims that {about[3:]} is a threat ({n}).", speaker)
        body.append(
            f'd:claim-{n} a sg:Claim ; rdfs:label "{about[3:]} is a threat ({n})"@en ; sg:about {about} ;\n'
            f"    sg:holder {holder} ; sg:speaker {speaker} ; sg:date {dated} ; sg:source doc:{doc_id} ;"
            f" sg:evidence {quote} .\n"
        )
    text = document.text
    (data / "sources" / f"{doc_id}.txt").write_text(text, encoding="utf-8")
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    (data / "sources" / f"{doc_id}.ttl").write_text(
        PREFIXES + f'doc:{doc_id} a sg:SourceDocument ; rdfs:label "Synthetic document {number}"@en ;\n'
        f'    dcterms:title "Synthetic document {number}"@en ; dcterms:publisher {actors[number % len(actors)]} ;\n'
        f'    dcterms:date {dated} ; sg:textFile "sources/{doc_id}.txt" ; sg:sha256 "{digest}" ;\n'
        f"    sg:graph <https://stancegraph.org/id/graph/{doc_id}> .\n",
        encoding="utf-8",
    )
    (data / "encodings" / f"{doc_id}.ttl").write_text(PREFIXES + "".join(body + document.turtle), encoding="utf-8")


def precondition(name, dependent, requirement, holder, speaker, dated, doc_id, quote) -> str:
    return (
        f"{name} a sg:Precondition ; sg:dependent {dependent} ; sg:requirement {requirement} ;\n"
        f"    sg:preconditionKind pk:only-after ; sg:holder {holder} ; sg:speaker {speaker} ; sg:date {dated} ;\n"
        f"    sg:source doc:{doc_id} ; sg:evidence {quote} .\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    size = parser.add_mutually_exclusive_group(required=True)
    size.add_argument("--documents", type=int)
    size.add_argument("--triples", type=int, help="approximate size; converted to a number of documents")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    documents = args.documents or max(1, args.triples // TRIPLES_PER_DOCUMENT)
    data = generate(args.out, documents, args.seed)
    print(f"{documents} documents written to {data}")


if __name__ == "__main__":
    main()
