"""Load test: N concurrent clients for D seconds, a mixed workload, Stancegraph next to `oxigraph serve`.

    python bench/load.py                          # 8 clients, 60 s, the real data
    python bench/load.py --documents 200          # a synthetic corpus of ~100k triples instead

Each client loops over a mix of simple queries, joins, aggregations, named queries and graph views (each
request with new parameters, so that caches do not answer them). `oxigraph serve` gets the SPARQL part of the
same mix. It prints requests, errors, throughput and p50/p99 latency per server; `tests/test_load.py` runs
it briefly in `make test` and asserts zero errors.
"""

import argparse
import asyncio
import itertools
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.generate import generate  # noqa: E402
from tests.live import oxigraph_server, stancegraph_server  # noqa: E402

PREFIXES = "PREFIX sg: <https://stancegraph.org/ontology#> PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#> "
JSON = {"accept": "application/sparql-results+json"}


def sparql_requests(n: int) -> list[tuple[str, dict]]:
    """The SPARQL part of the mix, different text each round (the `n` makes every query new)."""
    return [
        ("sparql", {"query": PREFIXES + f"SELECT ?l WHERE {{ ?s rdfs:label ?l }} LIMIT {1 + n % 50}"}),
        (
            "sparql",
            {"query": PREFIXES + f"SELECT ?h ?t WHERE {{ ?s sg:holder ?h ; sg:target ?t }} LIMIT {10 + n % 90}"},
        ),
        (
            "sparql",
            {
                "query": PREFIXES
                + f"SELECT ?h (COUNT(?s) AS ?c) WHERE {{ ?s sg:holder ?h }} GROUP BY ?h HAVING (COUNT(?s) > {n % 3})"
            },
        ),
        ("sparql", {"query": PREFIXES + f"SELECT ?a ?b WHERE {{ ?a sg:requires+ ?b }} LIMIT {5 + n % 20}"}),
    ]


def api_requests(n: int) -> list[tuple[str, dict]]:
    """Named queries and views: what analysts ask through the REST API."""
    return [
        ("api/queries/stances-of-actor", {"actor": "id:Russia", "limit": 1 + n % 40}),
        ("api/queries/search-quotes", {"text": "third site"[: 3 + n % 8]}),
        ("views/preconditions", {"min_weight": 1 + n % 2, "as_of": f"20{10 + n % 15}-01-01"}),
        ("views/stances", {"as_of": f"20{10 + n % 15}-06-01"}),
    ]


@dataclass
class LoadResult:
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")

    def row(self, name: str) -> str:
        p50, p99 = self.percentile(0.5), self.percentile(0.99)
        return f"| {name} | {self.requests:,} | {self.errors} | {self.throughput:,.0f} | {p50:.1f} | {p99:.1f} |"


async def _load(base: str, endpoint: str, mix, clients: int, seconds: float) -> LoadResult:
    result = LoadResult()
    counter = itertools.count()
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as http:

        async def client() -> None:
            while time.perf_counter() < deadline:
                for path, params in mix(next(counter)):
                    began = time.perf_counter()
                    try:
                        if path == "sparql":
                            response = await http.get(endpoint, params=params, headers=JSON)
                        else:
                            response = await http.get(f"/{path}", params=params)
                        status = response.status_code
                    except httpx.HTTPError:
                        status = 0
                    result.latencies.append(time.perf_counter() - began)
                    result.statuses[status] = result.statuses.get(status, 0) + 1
                    result.requests += 1
                    result.errors += status != 200

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        result.seconds = time.perf_counter() - started
    return result


def load_stancegraph(base: str, clients: int, seconds: float) -> LoadResult:
    return asyncio.run(_load(base, "/sparql", lambda n: sparql_requests(n) + api_requests(n), clients, seconds))


def load_oxigraph(base: str, clients: int, seconds: float) -> LoadResult:
    return asyncio.run(_load(base, "/query", sparql_requests, clients, seconds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--documents", type=int, default=0, help="a synthetic corpus instead of data/")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = generate(Path(tmp), args.documents) if args.documents else ROOT / "data"
        with stancegraph_server(data_dir=data, validate_on_load="false", max_waiting_queries=64) as ours:
            quads = httpx.get(f"{ours}/store", headers={"accept": "application/n-quads"}, timeout=600).content
            stancegraph = load_stancegraph(ours, args.clients, args.seconds)
        with oxigraph_server(union_default_graph=True) as oxigraph:
            headers = {"content-type": "application/n-quads"}
            httpx.post(f"{oxigraph}/store", content=quads, headers=headers, timeout=600).raise_for_status()
            baseline = load_oxigraph(oxigraph, args.clients, args.seconds)
    lines = quads.count(b"\n")
    print(f"\n{args.clients} clients for {args.seconds:g} s, {lines:,} quads\n")
    print("| server | requests | errors | req/s | p50 ms | p99 ms |\n|---|---|---|---|---|---|")
    print(stancegraph.row("stancegraph (SPARQL + named queries + views)"))
    print(baseline.row("oxigraph serve (SPARQL part)"))
    print(f"\nstatuses: stancegraph {stancegraph.statuses}, oxigraph serve {baseline.statuses}")


if __name__ == "__main__":
    main()
