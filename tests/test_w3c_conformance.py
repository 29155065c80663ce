"""W3C SPARQL 1.1 query-evaluation tests over HTTP, for our server and for `oxigraph serve` in the same run."""

import pytest

from tests.live import oxigraph_server, stancegraph_server
from tests.w3c_suite import OXIGRAPH, Runner, load_tests

TOKEN = "w3c-token"
TARGET = 232  # Oxigraph's own server, as reported for these folders


@pytest.fixture(scope="module")
def tests():
    return load_tests()


@pytest.fixture(scope="module")
def ours(tests):
    with stancegraph_server(admin_token=TOKEN, validate_on_load=False) as base:
        return Runner(base, TOKEN).run_all(tests)


@pytest.fixture(scope="module")
def oxigraph(tests):
    with oxigraph_server() as base:
        return Runner(base, endpoints=OXIGRAPH).run_all(tests)


def passed(outcomes) -> set[str]:
    return {name for name, (ok, _) in outcomes.items() if ok}


def test_suite_is_complete(tests):
    assert len(tests) == 244


def test_pass_count_meets_the_target(ours):
    failed = sorted(set(ours) - passed(ours))
    print(f"\nW3C SPARQL 1.1 over HTTP: {len(passed(ours))}/{len(ours)} passed; failed: {', '.join(failed)}")
    assert len(passed(ours)) >= TARGET, failed


def test_we_pass_everything_oxigraph_serve_passes(ours, oxigraph):
    print(f"\noxigraph serve, same harness and run: {len(passed(oxigraph))}/{len(oxigraph)}")
    assert passed(oxigraph) - passed(ours) == set()
