"""Every HTTP behaviour in the W3C SPARQL 1.1 protocol manifest, executed as written against a live server.

The manifest (tests/w3c/sparql/sparql11/protocol/manifest.ttl) describes each test as HTTP requests with
method, path, headers and body, and the expected status class, result format and boolean. The graphs the
tests query (kasei.us data1..3) are loaded first through the Graph Store Protocol.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import rdflib
from rdflib.collection import Collection

from tests.live import stancegraph_server

PROTOCOL = Path(__file__).parent / "w3c" / "sparql" / "sparql11" / "protocol"
MF = rdflib.Namespace("http://www.w3.org/2001/sw/DataAccess/tests/test-manifest#")
HT = rdflib.Namespace("http://www.w3.org/2011/http#")
CNT = rdflib.Namespace("http://www.w3.org/2011/content#")
TOKEN = "protocol-token"
FORMATS = {
    "tabular": (
        "application/sparql-results+json",
        "application/sparql-results+xml",
        "text/csv",
        "text/tab-separated-values",
    ),
    "boolean": ("application/sparql-results+json", "application/sparql-results+xml"),
    "RDF": ("text/turtle", "application/n-triples", "application/rdf+xml", "application/ld+json"),
}


@dataclass
class Step:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes | None
    statuses: set[str]
    expected_format: str | None
    expected_boolean: bool | None


@dataclass
class ProtocolTest:
    name: str
    title: str
    steps: list[Step] = field(default_factory=list)


def load_protocol_tests() -> list[ProtocolTest]:
    graph = rdflib.Graph().parse(PROTOCOL / "manifest.ttl", format="turtle")
    tests = []
    for test in graph.subjects(rdflib.RDF.type, MF.ProtocolTest):
        action = graph.value(test, MF.action)
        item = ProtocolTest(str(test).rsplit("#", 1)[-1], str(graph.value(test, MF.name)))
        for request in Collection(graph, graph.value(action, HT.requests)):
            headers = {}
            header_list = graph.value(request, HT.headers)
            for header in Collection(graph, header_list) if header_list else []:
                headers[str(graph.value(header, HT.fieldName))] = str(graph.value(header, HT.fieldValue))
            body_node = graph.value(request, HT.body)
            body = None
            if body_node is not None:
                encoding = str(graph.value(body_node, CNT.characterEncoding) or "UTF-8")
                body = str(graph.value(body_node, CNT.chars)).encode(encoding)
            response = graph.value(request, HT.resp)
            boolean = graph.value(response, MF.expectedBoolean)
            item.steps.append(
                Step(
                    method=str(graph.value(request, HT.methodName)),
                    path=str(graph.value(request, HT.absolutePath)).replace("/sparql/", "/sparql", 1),
                    headers=headers,
                    body=body,
                    statuses={
                        str(s).rsplit("StatusCode", 1)[-1][0] for s in graph.objects(response, MF.expectedStatus)
                    },
                    expected_format=str(graph.value(response, MF.expectedFormat) or "") or None,
                    expected_boolean=None if boolean is None else boolean.toPython(),
                )
            )
        tests.append(item)
    return sorted(tests, key=lambda t: t.name)


TESTS = load_protocol_tests()


@pytest.fixture(scope="module")
def server():
    with stancegraph_server(admin_token=TOKEN, validate_on_load=False) as base:
        for n in (1, 2, 3):
            response = httpx.put(
                f"{base}/store",
                params={"graph": f"http://kasei.us/2009/09/sparql/data/data{n}.rdf"},
                content=(PROTOCOL / f"data{n}.nt").read_bytes(),
                headers={"content-type": "application/n-triples", "authorization": f"Bearer {TOKEN}"},
            )
            response.raise_for_status()
        yield base


def test_manifest_has_all_34_protocol_tests():
    assert len(TESTS) == 34


@pytest.mark.parametrize("test", TESTS, ids=[t.name for t in TESTS])
def test_protocol_behaviour(server, test: ProtocolTest):
    with httpx.Client(base_url=server, timeout=30, headers={"authorization": f"Bearer {TOKEN}"}) as http:
        for step in test.steps:
            response = http.request(step.method, step.path, headers=step.headers, content=step.body)
            assert str(response.status_code)[0] in step.statuses, (
                f"{test.title}: {response.status_code} {response.text}"
            )
            if step.expected_format:
                content_type = response.headers["content-type"].split(";")[0]
                assert content_type in FORMATS[step.expected_format], f"{test.title}: {content_type}"
            if step.expected_boolean is not None:
                assert json.loads(response.text)["boolean"] is step.expected_boolean, test.title
