"""JSON-LD compacted with our context: it means exactly the quads it was made from, reads like JSON, and says
clearly what it cannot hold. STANCEGRAPH_PROPERTY_EXAMPLES sets the number of generated datasets."""

import io
import json
import os

import pyoxigraph as ox
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.exports import export_dataset
from app.jsonld import Compactor, load_context, write_compact
from app.namespaces import ID, OA, PREFIXES, RDFS, SG, XSD

EXAMPLES = int(os.environ.get("STANCEGRAPH_PROPERTY_EXAMPLES", "60"))
CASES = settings(max_examples=EXAMPLES, deadline=None, derandomize=True)


def canonical(data: bytes, format: ox.RdfFormat) -> set[ox.Quad]:
    """The quads, with blank nodes named canonically: equal sets mean the same dataset."""
    dataset = ox.Dataset(ox.parse(data, format=format))
    dataset.canonicalize(ox.CanonicalizationAlgorithm.RDFC_1_0)
    return set(dataset)


def test_the_export_of_the_dataset_holds_every_quad(store, settings):
    """Each quote's target and selector (blank nodes behind `@id`-typed terms) and the default graph's
    document records were lost or moved by rdflib's serializer: 440 of 2,616 quads of data/."""
    context = load_context(settings.context_file)
    exported, quads = io.BytesIO(), io.BytesIO()
    export_dataset(store, exported, "jsonld", None, context)
    export_dataset(store, quads, "nquads", None, context)
    assert canonical(exported.getvalue(), ox.RdfFormat.JSON_LD) == canonical(quads.getvalue(), ox.RdfFormat.N_QUADS)
    document = json.loads(exported.getvalue())
    assert document["@context"] == context["@context"]
    named = [item for item in document["@graph"] if "@graph" in item]
    graphs = {item["@id"]: {node["@id"]: node for node in item["@graph"]} for item in named}
    assert graphs["id:graph/entities"]["id:Russia"]["label"] == {"@value": "Russia", "@language": "en"}
    assert "wd:Q159" in graphs["id:graph/links"]["id:Russia"]["exactMatch"]
    records = [item for item in document["@graph"] if "@graph" not in item]
    assert {"doc:000_dcc2f28bf5a60eb8", "doc:003_cf8b46a4843bbcf9"} <= {node["@id"] for node in records}


def test_values_take_the_short_form_their_term_allows(settings):
    context = load_context(settings.context_file)
    quote = ox.NamedNode(ID + "doc/d/quote-1")
    quads = [
        ox.Quad(quote, ox.NamedNode(PREFIXES["rdf"] + "type"), ox.NamedNode(SG + "Stance")),
        ox.Quad(quote, ox.NamedNode(OA + "hasTarget"), ox.BlankNode("target")),
        ox.Quad(ox.BlankNode("target"), ox.NamedNode(OA + "exact"), ox.Literal("the third site")),
        ox.Quad(quote, ox.NamedNode(SG + "latestDate"), ox.Literal("2009-06-11", datatype=ox.NamedNode(XSD + "date"))),
        ox.Quad(quote, ox.NamedNode(SG + "latestDate"), ox.Literal("June 2009")),  # not a date: not coerced
        ox.Quad(quote, ox.NamedNode(OA + "hasSource"), ox.Literal("a literal where an IRI is expected")),
        ox.Quad(quote, ox.NamedNode(RDFS + "label"), ox.Literal("quote", language="en")),
    ]
    out = io.BytesIO()
    write_compact(quads, out, context, "https://example.org/context.jsonld")
    document = json.loads(out.getvalue())
    nodes = {node["@id"]: node for node in document["@graph"]}
    assert nodes["doc:d/quote-1"] == {
        "@id": "doc:d/quote-1",
        "@type": "Stance",
        "hasTarget": "_:target",
        "latestDate": "2009-06-11",
        "sg:latestDate": "June 2009",
        "oa:hasSource": "a literal where an IRI is expected",
        "label": {"@value": "quote", "@language": "en"},
    }
    assert nodes["_:target"] == {"@id": "_:target", "exact": "the third site"}


def test_a_triple_two_graphs_hold_is_one_value_of_a_resource(client):
    """The engine's DESCRIBE over the union of the graphs writes it once per graph (serialize keeps it once)."""
    document = client.get("/id/ThirdSite", headers={"accept": "application/ld+json"}).json()
    assert document["proposedBy"] == "id:UnitedStates"


IRIS = [ID + "Russia", ID + "doc/000_x/stance-01", SG + "Stance", "http://example.org/a", "urn:isbn:0451450523"]
PREDICATES = [
    PREFIXES["rdf"] + "type",
    OA + "hasTarget",  # typed @id
    SG + "latestDate",  # typed xsd:date
    RDFS + "label",  # a plain term
    SG + "notATerm",
    "http://example.org/p",
]
local_name = st.text(alphabet="abcXYZ019-_./:~", min_size=1, max_size=8)
iris = st.one_of(st.sampled_from(IRIS), local_name.map(lambda name: ID + name), local_name.map(lambda n: SG + n))
resources = st.one_of(iris.map(ox.NamedNode), st.sampled_from("abc").map(ox.BlankNode))
datatypes = st.sampled_from([XSD + "date", XSD + "integer", XSD + "string", ID + "datatype", SG + "Stance"])
literals = st.one_of(
    st.text(max_size=12).map(ox.Literal),
    st.builds(lambda text, tag: ox.Literal(text, language=tag), st.text(max_size=8), st.sampled_from(["en", "ru"])),
    st.builds(lambda text, dt: ox.Literal(text, datatype=ox.NamedNode(dt)), st.text(max_size=8), datatypes),
)
graphs = st.one_of(
    st.just(ox.DefaultGraph()),
    st.sampled_from([ID + "graph/entities", "http://example.org/g"]).map(ox.NamedNode),
    st.just(ox.BlankNode("g")),
)
predicates = st.sampled_from(PREDICATES).map(ox.NamedNode)
quads = st.builds(ox.Quad, resources, predicates, st.one_of(resources, literals), graphs)


@CASES
@given(drawn=st.lists(quads, max_size=25))
def test_any_dataset_means_the_same_quads_in_json_ld(settings, drawn):
    """Whatever the mix of terms, types, graphs and order, parsing the document gives back the quads."""
    out = io.BytesIO()
    context = load_context(settings.context_file)
    write_compact(drawn, out, context, context["@context"])
    nquads = "".join(f"{quad} .\n" for quad in drawn).encode()
    assert canonical(out.getvalue(), ox.RdfFormat.JSON_LD) == canonical(nquads, ox.RdfFormat.N_QUADS)


@pytest.mark.parametrize(
    ("term", "message"),
    [
        (ox.NamedNode("sg:Stance"), "reads as a term's IRI"),
        (ox.Triple(ox.NamedNode(ID + "a"), ox.NamedNode(ID + "b"), ox.NamedNode(ID + "c")), "triple terms"),
    ],
)
def test_what_json_ld_cannot_hold_is_refused_with_the_reason(settings, term, message):
    """An IRI whose scheme is one of the context's prefixes would be read back as another IRI."""
    compactor = Compactor(load_context(settings.context_file))
    with pytest.raises(ValueError, match=message):
        compactor.entry(RDFS + "seeAlso", term)
