"""Benchmark: Stancegraph's HTTP endpoint against `oxigraph serve` on the same synthetic corpus, same run.

    python bench/run.py                        # ~100k triples, 4 concurrent clients, 5 s per query
    python bench/run.py --documents 2000 --seconds 10 --clients 4

For each server it measures the load time, then latency (p50, p99) and throughput of a fixed query mix over
HTTP under concurrent load; for Stancegraph also its named queries, cold (a different answer each time) and
cached (the same answer again). It prints a table with the ratio Stancegraph / oxigraph serve.
"""

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.generate import generate  # noqa: E402
from tests.live import oxigraph_server, stancegraph_server  # noqa: E402

PREFIXES = """PREFIX sg: <https://stancegraph.org/ontology#>
PREFIX id: <https://stancegraph.org/id/>
PREFIX pol: <https://stancegraph.org/id/polarity/>
PREFIX oa: <http://www.w3.org/ns/oa#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
"""
MIX = {
    "lookup": "SELECT ?label WHERE { id:Actor3 rdfs:label ?label }",
    "join": "SELECT ?target ?date ?quote WHERE { ?s sg:holder id:Actor3 ; sg:target ?target ; sg:date ?date ;"
    " sg:evidence/oa:hasTarget/oa:hasSelector/oa:exact ?quote }",
    "aggregation": "SELECT ?holder (COUNT(?s) AS ?n) WHERE { ?s a sg:Stance ; sg:holder ?holder } GROUP BY ?holder",
    "path": "SELECT (COUNT(*) AS ?n) WHERE { id:Issue1 sg:requires+ ?x }",
    "optional": "SELECT ?s ?speaker WHERE { ?s sg:holder id:Actor3 OPTIONAL { ?s sg:speaker ?speaker } }",
    "describe": "DESCRIBE id:Actor3",
    "construct": "CONSTRUCT { ?h sg:rejects ?t } WHERE { ?s sg:holder ?h ; sg:polarity pol:rejects ; sg:target ?t }",
}


@dataclass
class Measure:
    requests: int
    seconds: float
    latencies: list[float]
    errors: int

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")


async def hammer(url: str, params: dict, clients: int, seconds: float, accept: str) -> Measure:
    """`clients` concurrent loops sending the same request for `seconds`."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=120, limits=limits, headers={"accept": accept}) as http:

        async def loop() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                began = time.perf_counter()
                response = await http.get(url, params=params)
                latencies.append(time.perf_counter() - began)
                errors += response.status_code != 200

        started = time.perf_counter()
        await asyncio.gather(*(loop() for _ in range(clients)))
        return Measure(len(latencies), time.perf_counter() - started, latencies, errors)


def accept_for(query: str) -> str:
    return "text/turtle" if query.split()[0] in ("DESCRIBE", "CONSTRUCT") else "application/sparql-results+json"


def run_mix(endpoint: str, clients: int, seconds: float) -> dict[str, Measure]:
    results = {}
    for name, query in MIX.items():
        text = PREFIXES + query
        results[name] = asyncio.run(hammer(endpoint, {"query": text}, clients, seconds, accept_for(query)))
    return results


def named_queries(base: str, repeats: int = 50) -> dict[str, tuple[float, float]]:
    """Median latency in ms of each named query: cold (new parameters each call) and cached (same call again)."""
    cases = {"stances-of-actor": "actor", "conflicts": "actor", "blocked-proposals": "by", "timeline": None}
    out = {}
    with httpx.Client(timeout=120) as http:
        for name, param in cases.items():
            cold, warm = [], []
            for n in range(repeats):
                params = {param: f"id:Actor{n}"} if param else {"limit": 10 + n}
                began = time.perf_counter()
                http.get(f"{base}/api/queries/{name}", params=params).raise_for_status()
                cold.append(time.perf_counter() - began)
                began = time.perf_counter()
                http.get(f"{base}/api/queries/{name}", params=params).raise_for_status()
                warm.append(time.perf_counter() - began)
            out[name] = (statistics.median(cold) * 1000, statistics.median(warm) * 1000)
    return out


def views(base: str, repeats: int = 20) -> dict[str, tuple[float, float]]:
    """Each graph view: the first (cold) request after the load, and the median of repeated (cached) ones, ms."""
    out = {}
    with httpx.Client(timeout=600) as http:
        for name in ("preconditions", "stances", "actors", "timeline"):
            began = time.perf_counter()
            http.get(f"{base}/views/{name}").raise_for_status()
            cold = time.perf_counter() - began
            warm = []
            for _ in range(repeats):
                began = time.perf_counter()
                http.get(f"{base}/views/{name}").raise_for_status()
                warm.append(time.perf_counter() - began)
            out[name] = (cold * 1000, statistics.median(warm) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=200, help="corpus size (200 documents ~ 100k triples)")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = generate(Path(tmp), args.documents)
        started = time.perf_counter()
        with stancegraph_server(
            data_dir=data, validate_on_load="false", query_timeout=120, max_rows=10_000_000, admin_token="bench"
        ) as ours:
            ours_load = time.perf_counter() - started
            quads = httpx.get(f"{ours}/store", headers={"accept": "application/n-quads"}, timeout=600).content
            triples = quads.count(b"\n")
            ours_mix = run_mix(f"{ours}/sparql", args.clients, args.seconds)
            named = named_queries(ours)
            named.update({f"view {k}": v for k, v in views(ours).items()})
        with oxigraph_server(union_default_graph=True) as oxigraph:
            started = time.perf_counter()
            httpx.post(
                f"{oxigraph}/store", content=quads, headers={"content-type": "application/n-quads"}, timeout=600
            ).raise_for_status()
            oxigraph_load = time.perf_counter() - started
            oxigraph_mix = run_mix(f"{oxigraph}/query", args.clients, args.seconds)
    report(triples, args, ours_load, oxigraph_load, ours_mix, oxigraph_mix, named)


def report(triples, args, ours_load, oxigraph_load, ours_mix, oxigraph_mix, named) -> None:
    print(f"\n{triples:,} quads, {args.clients} concurrent clients, {args.seconds:g} s per query\n")
    print(
        f"load: stancegraph {ours_load:.1f} s (start, parse, quote checks, rules); "
        f"oxigraph serve {oxigraph_load:.1f} s (POST of the N-Quads)\n"
    )
    print("| query | stancegraph req/s | p50 ms | p99 ms | oxigraph req/s | p50 ms | p99 ms | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for name in MIX:
        a, b = ours_mix[name], oxigraph_mix[name]
        flag = "" if a.errors == b.errors == 0 else f" ({a.errors}/{b.errors} errors)"
        print(
            f"| {name} | {a.throughput:,.0f} | {a.percentile(0.5):.1f} | {a.percentile(0.99):.1f} | "
            f"{b.throughput:,.0f} | {b.percentile(0.5):.1f} | {b.percentile(0.99):.1f} | "
            f"{a.throughput / b.throughput:.2f}{flag} |"
        )
    print("\n| named query or view | cold ms | cached ms (p50) |\n|---|---|---|")
    for name, (cold, warm) in named.items():
        print(f"| {name} | {cold:.1f} | {warm:.1f} |")


if __name__ == "__main__":
    main()
