"""A bounded load test in `make test`: concurrent clients, mixed workload, zero errors.

STANCEGRAPH_LOAD_SECONDS (default 8) sets the duration; `make load` runs the full 60 s next to `oxigraph serve`
and prints the table the README reports.
"""

import os

from bench.load import load_stancegraph
from tests.live import stancegraph_server

SECONDS = float(os.environ.get("STANCEGRAPH_LOAD_SECONDS", "8"))


def test_mixed_load_from_concurrent_clients_has_no_errors():
    with stancegraph_server(query_workers=2, max_waiting_queries=64) as base:
        result = load_stancegraph(base, clients=8, seconds=SECONDS)
    print(
        f"\n{result.requests} requests in {result.seconds:.1f} s: {result.throughput:.0f} req/s, "
        f"p50 {result.percentile(0.5):.1f} ms, p99 {result.percentile(0.99):.1f} ms, statuses {result.statuses}"
    )
    assert result.errors == 0, result.statuses
    assert result.requests > 8 * SECONDS, "the service kept answering throughout"
