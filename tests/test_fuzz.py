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
