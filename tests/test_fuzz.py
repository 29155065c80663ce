"""Schemathesis against our own OpenAPI document: no 5xx and no schema violation on any operation.

Seeded and bounded (STANCEGRAPH_FUZZ_EXAMPLES per operation, 25 by default; `make fuzz` runs 300).
"""

import os

import hypothesis
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from app.server import create_app
from app.settings import Settings

EXAMPLES = int(os.environ.get("STANCEGRAPH_FUZZ_EXAMPLES", "25"))

# With an admin token configured the write routes exist; the fuzzer does not know the token (401 expected).
app = create_app(Settings(query_timeout=5, admin_token="not-known-to-the-fuzzer"))
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@schema.parametrize()
@hypothesis.settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(hypothesis.HealthCheck),
)
def test_no_operation_fails_on_generated_input(case):
    case.call_and_validate(checks=[not_a_server_error, response_schema_conformance, content_type_conformance])


def test_the_document_promises_the_400_a_bad_parameter_gets_not_fastapis_422():
    """A client generated from the document would wait for a 422 that never comes."""
    from fastapi.testclient import TestClient

    with TestClient(app) as client:
        document = client.get("/openapi.json").json()
        statuses = {status for item in document["paths"].values() for op in item.values() for status in op["responses"]}
        assert "422" not in statuses and "HTTPValidationError" not in document["components"]["schemas"]
        promised = document["paths"]["/views/actors"]["get"]["responses"]["400"]["content"]
        refused = client.get("/views/actors", params={"mode": "harmony"})
        assert refused.status_code == 400 and set(promised) == {refused.headers["content-type"]}
        assert refused.json()["detail"][0]["loc"] == ["query", "mode"]
