"""Property tests (Hypothesis) of query and named-query parameters, on every backend.

Whatever the text, a parameter is bound as one RDF term (never spliced into the query), the service answers
200 or a 400 that says what is wrong, and values come back exactly as they went in. STANCEGRAPH_PROPERTY_EXAMPLES
sets the number of cases (default 60 per property; seeded, so runs repeat).
"""

import os
import string
from urllib.parse import parse_qsl, quote

import pyoxigraph as ox
from hypothesis import given, settings
from hypothesis import strategies as st

from app.http_common import form_fields

EXAMPLES = int(os.environ.get("STANCEGRAPH_PROPERTY_EXAMPLES", "60"))
CASES = settings(max_examples=EXAMPLES, deadline=None, derandomize=True)
JSON = {"accept": "application/sparql-results+json"}

# Text that tries to break out of a literal or an IRI, among ordinary characters and any Unicode.
FRAGMENTS = [
    '"',
    "'",
    '"""',
    "\\",
    "}",
    "{",
    "> ",
    "<",
    "#",
    "\n",
    "\t",
    " UNION { ?s ?p ?o } ",
    ") . ?x ?y ?z FILTER(",
    "%00",
    "é",
    "„",
    "🙂",
]
hostile_text = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(min_size=1, max_size=8)), max_size=6).map("".join)
ascii_text = st.text(alphabet=string.ascii_letters + string.digits + string.punctuation + " ", min_size=1, max_size=20)


@CASES
@given(value=st.one_of(hostile_text, st.text(max_size=40)))
def test_literals_come_back_exactly_as_they_went_in(client, value):
    query = f"SELECT ?x WHERE {{ VALUES ?x {{ {ox.Literal(value)} }} }}"
    response = client.get("/sparql", params={"query": query}, headers=JSON)
    assert response.status_code == 200, response.text
    assert response.json()["results"]["bindings"] == [{"x": {"type": "literal", "value": value}}]


@CASES
@given(text=st.one_of(hostile_text, st.text(max_size=200)))
def test_any_query_text_is_answered_or_refused_with_a_position(client, text):
    response = client.get("/sparql", params={"query": text}, headers=JSON)
    federation = response.status_code == 403 and "service" in text.lower() and "allow-list" in response.text
    assert response.status_code in (200, 400) or federation, response.text  # Hypothesis draws words of our code
    if response.status_code == 400:
        assert response.text.strip(), "a refusal says what is wrong"


@CASES
@given(text=hostile_text)
def test_a_search_phrase_is_taken_literally(client, text):
    response = client.get("/api/queries/search-quotes", params={"text": text})
    assert response.status_code in (200, 400), response.text
    if response.status_code == 200:
        quotes = [row["quote"] for row in response.json()["rows"]]
        assert all(text.lower() in quote.lower() for quote in quotes), "only quotes that contain the phrase"


@CASES
@given(data=st.data())
def test_every_piece_of_a_real_quote_finds_that_quote(client, data):
    quotes = quotes_of(client)
    quote = data.draw(st.sampled_from(quotes))
    start = data.draw(st.integers(0, len(quote) - 1))
    phrase = quote[start : start + data.draw(st.integers(1, 30))]
    rows = client.get("/api/queries/search-quotes", params={"text": phrase, "limit": 1000}).json()["rows"]
    assert quote in {row["quote"] for row in rows}


@CASES
@given(actor=st.one_of(hostile_text, ascii_text.map(lambda t: "id:" + t)))
def test_an_iri_parameter_selects_only_that_resource(client, actor):
    response = client.get("/api/queries/stances-of-actor", params={"actor": actor})
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        assert "actor" in response.text
    else:
        assert response.json()["rows"] == [], "no actor of ours has such a name"


@CASES
@given(resource=st.one_of(hostile_text, ascii_text))
def test_view_parameters_never_break_the_service(client, resource):
    response = client.get("/views/what-blocks/" + quote(resource, safe=""))
    assert response.status_code in (200, 400, 404, 422), response.text


# Query strings as clients send them, and as they must not be misread: escapes of any octet (valid UTF-8 or
# not), stray `%`, `+`, backslashes and `\\x` (what the fast decoder rewrites escapes into), separators, Unicode.
ENCODED_PIECES = ["%", "%4", "%zz", "%41", "%c3%a9", "%C3", "%FF", "%25", "+", "&", "=", "\\", "\\x41", "x", "é"]
encoded_text = st.lists(
    st.one_of(
        st.sampled_from(ENCODED_PIECES),
        st.binary(max_size=4).map(lambda octets: quote(octets, safe="")),
        st.text(max_size=6).map(lambda text: quote(text, safe="")),
        st.text(alphabet=string.printable, max_size=6),
    ),
    max_size=12,
).map("".join)


@CASES
@given(encoded=encoded_text)
def test_parameters_are_decoded_exactly_as_urllib_decodes_them(encoded):
    assert form_fields(encoded) == parse_qsl(encoded, keep_blank_values=True)


def quotes_of(client) -> list[str]:
    query = "PREFIX oa: <http://www.w3.org/ns/oa#> SELECT DISTINCT ?q WHERE { ?s oa:exact ?q }"
    rows = client.get("/sparql", params={"query": query}, headers=JSON).json()["results"]["bindings"]
    return sorted(row["q"]["value"] for row in rows)
