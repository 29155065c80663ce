"""Benchmark: Stancegraph on each store backend against `oxigraph serve` (in memory, and on disk for our
on-disk backend), Virtuoso and rdflib-endpoint, same corpus, same run.

    python bench/run.py                                  # ~100k triples, 4 concurrent clients, 3 rounds of 3 s
    python bench/run.py --documents 2000 --rounds 5      # ~1M triples, 5 rounds per query and server
    python bench/run.py --skip rdflib-endpoint           # leave a server out (or Virtuoso, oxigraph serve, memory…)

Virtuoso is measured when Debian's `virtuoso-opensource-7-bin` is installed (`virtuoso-t` on PATH).

It measures, side by side:
- loading: Stancegraph's load (parse, text attachment, quote checks, rules; SHACL off) and pyoxigraph's own
  bulk load of the same quads, each in a fresh process (median of 3 interleaved rounds), with peak memory,
  and Virtuoso's bulk loader; and Stancegraph's load with SHACL, the first time it sees the files, again
  over the same files (which reuses the kept verdict), and with one document edited (only it is checked);
- a fixed query mix over HTTP under concurrent load (wrk when installed — `apt-get install wrk` — else an
  asyncio client): throughput, p50/p99 latency and CPU time per answer, per query, for every server; all the
  servers run side by side and are measured in interleaved rounds (medians reported), so that a slow moment
  of the shared machine falls on all of them;
- Stancegraph's named queries and graph views, cold and cached, on each backend.
It prints Markdown tables with the ratios against the baselines. Stancegraph is measured evaluating every
request (`Cache-Control: no-cache`), and on `memory` also with its answer cache (the mix repeats identical
queries, which the cache answers without the engine until the data changes).
"""

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.generate import generate  # noqa: E402
from tests.live import free_port, oxigraph_process, running, stancegraph_process  # noqa: E402

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
BASELINES = ("oxigraph serve", "Virtuoso", "rdflib-endpoint")
ON_DISK = ("stancegraph oxigraph:PATH", "oxigraph serve --location")  # the same storage on both sides
PROCESSES = 2  # `stancegraph serve --workers 2`: one app process per core of the benchmark machine
BASELINE_VENV = ROOT / ".venv-baselines"  # rdflib-endpoint pins its own FastAPI: kept out of our environment


@dataclass
class Measure:
    """Throughput and latency of one query on one server under concurrent load."""

    throughput: float
    p50: float
    p99: float
    errors: int
    failure: str = ""  # why the server cannot answer the query at all (then nothing is measured)
    requests: int = 0
    cpu_ms: float = math.nan  # CPU used by all the server's processes per request answered


# ---------------------------------------------------------------------- load generators


def wrk(url: str, headers: dict[str, str], clients: int, seconds: float) -> Measure:
    """wrk's numbers (a C client: it measures the server, not the client)."""
    output = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{clients}",
            f"-d{seconds:g}s",
            "--timeout",
            "120s",
            "--latency",
            *[part for name, value in headers.items() for part in ("-H", f"{name}: {value}")],
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    throughput = float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1])
    requests = int(re.search(r"(\d+) requests in", output)[1])
    errors = int(m[1]) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", output)) else 0
    errors += sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    return Measure(throughput, _wrk_ms(output, "50%"), _wrk_ms(output, "99%"), errors, requests=requests)


def _wrk_ms(output: str, percentile: str) -> float:
    value, unit = re.search(rf"{percentile}\s+([\d.]+)(us|ms|s)", output).groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]


def hammer(url: str, headers: dict[str, str], clients: int, seconds: float) -> Measure:
    """The same with an asyncio client (used when wrk is not installed; the client is then the ceiling)."""

    async def run() -> Measure:
        latencies: list[float] = []
        errors = 0
        deadline = time.perf_counter() + seconds
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        async with httpx.AsyncClient(timeout=120, limits=limits, headers=headers) as http:

            async def loop() -> None:
                nonlocal errors
                while time.perf_counter() < deadline:
                    began = time.perf_counter()
                    response = await http.get(url)
                    latencies.append(time.perf_counter() - began)
                    errors += response.status_code != 200

            started = time.perf_counter()
            await asyncio.gather(*(loop() for _ in range(clients)))
            elapsed = time.perf_counter() - started
        ordered = sorted(latencies)
        pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
        return Measure(len(latencies) / elapsed, pick(0.5), pick(0.99), errors, requests=len(latencies))

    return asyncio.run(run())


def accept_for(query: str) -> str:
    return (
        "application/n-triples" if query.split()[0] in ("DESCRIBE", "CONSTRUCT") else "application/sparql-results+json"
    )


WARM_UP = 1.0  # seconds of the same load before each measure: connection pools, threads and caches fill up


@dataclass(frozen=True)
class Target:
    """A server as the mix asks it: its SPARQL endpoint, its processes (whose CPU counts), and whether it may
    answer from its cache (`cached=False` sends Stancegraph `Cache-Control: no-cache`: every request evaluated)."""

    label: str
    endpoint: str
    pids: tuple[int, ...]
    cached: bool = True

    def request(self, query: str) -> tuple[str, dict[str, str]]:
        url = f"{self.endpoint}?{urlencode({'query': PREFIXES + query})}"
        return url, {"Accept": accept_for(query), **({} if self.cached else {"Cache-Control": "no-cache"})}


def run_mixes(
    targets: list[Target], clients: int, seconds: float, rounds: int, load: Callable[..., Measure] | None = None
) -> dict[str, dict[str, Measure]]:
    """Each query of the mix on every server, in `rounds` interleaved rounds, each starting one server later;
    the medians are kept (and the worst p99: see _median). The servers run side by side for the whole mix: on
    this VM the same server measured minutes apart spends up to twice the CPU per answer (oxigraph serve:
    0.10 and 0.19 ms per path query ten minutes apart), so servers measured one after the other compare
    moments as much as servers. `load` is wrk when installed, else an asyncio client."""
    load = load or (wrk if shutil.which("wrk") else hammer)
    mixes: dict[str, dict[str, Measure]] = {target.label: {} for target in targets}
    for name, query in MIX.items():
        asking = []
        for target in targets:
            refusal = _refusal(*target.request(query))
            if refusal:
                mixes[target.label][name] = Measure(0, math.nan, math.nan, 0, refusal)
            else:
                asking.append(target)
        samples: dict[str, list[Measure]] = {target.label: [] for target in asking}
        for round_ in range(rounds if asking else 0):
            shift = round_ % len(asking)
            for target in asking[shift:] + asking[:shift]:
                url, headers = target.request(query)
                load(url, headers, clients, WARM_UP)
                before = cpu_seconds(list(target.pids))
                measure = load(url, headers, clients, seconds)
                measure.cpu_ms = (cpu_seconds(list(target.pids)) - before) * 1000 / max(1, measure.requests)
                samples[target.label].append(measure)
        for label, measures in samples.items():
            mixes[label][name] = _median(measures)
    return mixes


def _median(measures: list[Measure]) -> Measure:
    """The median of each figure over the rounds, except the p99: the worst round's, so that a stall is never
    smoothed away (errors and requests summed)."""
    return Measure(
        statistics.median(m.throughput for m in measures),
        statistics.median(m.p50 for m in measures),
        max(m.p99 for m in measures),
        sum(m.errors for m in measures),
        requests=sum(m.requests for m in measures),
        cpu_ms=statistics.median(m.cpu_ms for m in measures),
    )


def cpu_seconds(roots: list[int]) -> float:
    """User + system CPU time used so far by the processes `roots` and all their descendants, ended ones
    included (the kernel adds a reaped child's time to its parent's). Unlike throughput, this does not move
    with how much of the shared machine the other tenants take, so it compares servers' efficiency."""
    processes: dict[int, tuple[int, float]] = {}  # pid: (parent pid, seconds of it and its reaped children)
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError, ValueError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            processes[int(entry.name)] = (int(fields[1]), sum(int(f) for f in fields[11:15]) / CLOCK_TICKS)
    tree, added = set(roots), True
    while added:
        grown = tree | {pid for pid, (parent, _) in processes.items() if parent in tree}
        added, tree = grown != tree, grown
    return sum(processes[pid][1] for pid in tree if pid in processes)


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _refusal(url: str, headers: dict[str, str]) -> str:
    """The first line of a server's error when it cannot answer a query at all (Virtuoso 7.2 on the cyclic
    `sg:requires+`), so that the table says so instead of timing error responses; "" when it answers."""
    response = httpx.get(url, headers=headers, timeout=600)
    if response.status_code == 200:
        return ""
    return f"HTTP {response.status_code}: {response.text.strip().splitlines()[0][:100]}"


# ---------------------------------------------------------------------- loading, in fresh processes

LOAD_OURS = """
import json, resource, sys, time
from pathlib import Path
from app.settings import Settings
from app.store import open_store
started = time.perf_counter()
shapes = {"validate_on_load": sys.argv[3] == "shacl", "cache_dir": sys.argv[4] if len(sys.argv) > 4 else None}
store = open_store(Settings(data_dir=Path(sys.argv[1]), store=sys.argv[2], **shapes))
print(json.dumps([time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024]))
"""
LOAD_PYOXIGRAPH = """
import json, resource, sys, time
import pyoxigraph as ox
started = time.perf_counter()
store = ox.Store(sys.argv[2] or None)
store.bulk_load(path=sys.argv[1], format=ox.RdfFormat.N_QUADS)
store.flush()
print(json.dumps([time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024]))
"""


LOAD_ROUNDS = 3  # a load is one long sample: take the median of rounds that interleave ours and pyoxigraph's


def timed_load(script: str, *args: str) -> tuple[float, float]:
    """(seconds, peak MB) of a load in a fresh Python process."""
    output = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, check=True, cwd=ROOT)
    seconds, megabytes = json.loads(output.stdout.strip().splitlines()[-1])
    return seconds, megabytes


def timed_loads(data: Path, quads: Path, scratch: Path) -> dict[str, tuple[float, float]]:
    """Median seconds and highest peak MB of each loader over LOAD_ROUNDS rounds; each round runs every loader
    once, in turn, so a busy moment of a shared machine slows all of them rather than one."""
    samples: dict[str, list[tuple[float, float]]] = {}
    for round_ in range(LOAD_ROUNDS):
        disk = scratch / f"load-{round_}"
        disk.mkdir()
        verdicts = str(disk / "verdicts")  # none kept before the first load with SHACL of the round
        with_shacl = (LOAD_OURS, str(data), "memory", "shacl", verdicts)
        loaders = {
            "stancegraph memory": (LOAD_OURS, str(data), "memory", "no-shacl"),
            "pyoxigraph bulk load, memory": (LOAD_PYOXIGRAPH, str(quads), ""),
            "stancegraph oxigraph:PATH": (LOAD_OURS, str(data), f"oxigraph:{disk / 'ours'}", "no-shacl"),
            "pyoxigraph bulk load, disk": (LOAD_PYOXIGRAPH, str(quads), str(disk / "pyoxigraph")),
            "stancegraph memory with SHACL, first load of the files": with_shacl,
            "stancegraph memory with SHACL, the same files again (verdict kept)": with_shacl,
            "stancegraph memory with SHACL, one document edited": (
                LOAD_OURS,
                str(_one_document_edited(data, disk / "edited")),
                "memory",
                "shacl",
                verdicts,
            ),
        }
        for name, (script, *args) in loaders.items():
            os.sync()  # the previous step's writes reach the disk before this clock starts, not during it
            samples.setdefault(name, []).append(timed_load(script, *args))
        shutil.rmtree(disk, ignore_errors=True)
    return {name: (statistics.median(s for s, _ in runs), max(mb for _, mb in runs)) for name, runs in samples.items()}


def _one_document_edited(data: Path, copy: Path) -> Path:
    """A copy of the corpus where one document's encoding has one more (valid) triple."""
    shutil.copytree(data, copy)
    encoding = min((copy / "encodings").glob("*.ttl"))
    with encoding.open("a") as out:
        out.write('\nd:stance-0 rdfs:comment "edited for the benchmark" .\n')
    return copy


# ---------------------------------------------------------------------- servers


def rdflib_endpoint_binary() -> Path:
    """rdflib-endpoint in its own virtual environment, installed on first use (before any timing starts)."""
    binary = BASELINE_VENV / "bin" / "rdflib-endpoint"
    if not binary.exists():
        subprocess.run([sys.executable, "-m", "venv", str(BASELINE_VENV)], check=True)
        subprocess.run(
            [str(BASELINE_VENV / "bin" / "pip"), "install", "-q", "rdflib-endpoint[cli]>=0.6,<0.7"], check=True
        )
    return binary


@contextmanager
def rdflib_endpoint(binary: Path, quads: Path) -> Iterator[tuple[str, int]]:
    """rdflib-endpoint serving the N-Quads; yields its endpoint and process id."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with running(
        [str(binary), "serve", "--host", "127.0.0.1", "--port", str(port), str(quads)],
        f"{base}/?query=ASK%7B%7D",
        timeout=3600,
    ) as server:
        yield f"{base}/", server.pid


VIRTUOSO_INI = """[Database]
DatabaseFile = {dir}/virtuoso.db
ErrorLogFile = {dir}/virtuoso.log
LockFile = {dir}/virtuoso.lck
TransactionFile = {dir}/virtuoso.trx
xa_persistent_file = {dir}/virtuoso.pxa
Striping = 0
TempStorage = TempDatabase

[TempDatabase]
DatabaseFile = {dir}/virtuoso-temp.db
TransactionFile = {dir}/virtuoso-temp.trx
Striping = 0

[Parameters]
ServerPort = {isql_port}
ServerThreads = 20
NumberOfBuffers = 340000
MaxDirtyBuffers = 250000
CheckpointInterval = 0
DirsAllowed = {data}

[HTTPServer]
ServerPort = {http_port}
ServerRoot = {dir}
ServerThreads = 10
MaxClientConnections = 10

[SPARQL]
ResultSetMaxRows = 10000000
MaxQueryExecutionTime = 300
MaxQueryCostEstimationTime = 0
"""


@contextmanager
def virtuoso(quads: Path) -> Iterator[tuple[str, tuple[float, float], int]]:
    """Virtuoso (Debian's `virtuoso-opensource-7-bin`) in a scratch directory on free ports, the N-Quads put in
    with its bulk loader; yields its SPARQL endpoint, (load seconds, server peak MB) and its process id. Its
    default graph is the union of all graphs, like `oxigraph serve --union-default-graph`. Settings as in the
    README: no silent cut at 10,000 rows, 2.6 GB of page buffers (ample for 1M triples)."""
    with tempfile.TemporaryDirectory() as scratch:
        isql_port, http_port = free_port(), free_port()
        ini = Path(scratch) / "virtuoso.ini"
        ini.write_text(VIRTUOSO_INI.format(dir=scratch, data=quads.parent, isql_port=isql_port, http_port=http_port))
        endpoint = f"http://127.0.0.1:{http_port}/sparql"
        with running(
            ["virtuoso-t", "+foreground", "+configfile", str(ini)], f"{endpoint}?query=ASK%7B%7D", timeout=300
        ) as server:
            started = time.perf_counter()
            loader = (
                f"ld_dir('{quads.parent}', '{quads.name}', 'urn:stancegraph:default'); rdf_loader_run(); checkpoint;"
                " SELECT ll_error FROM DB.DBA.LOAD_LIST WHERE ll_error IS NOT NULL;"
            )
            output = subprocess.run(
                ["isql-vt", str(isql_port), "dba", "dba", f"exec={loader}"], capture_output=True, text=True, check=True
            ).stdout
            if "0 Rows." not in output:
                raise RuntimeError(f"Virtuoso's bulk loader refused {quads}: {output[-2000:]}")
            seconds = time.perf_counter() - started
            yield endpoint, (seconds, _peak_mb(server.pid)), server.pid


def _peak_mb(pid: int) -> float:
    """A running process's peak resident memory (VmHWM), MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status)[1]) / 1024


Timing = tuple[float, float, float, float]  # ms: cold, cached (whole answer: httpx, curl), revalidated (304)


def named_queries(base: str, repeats: int = 5) -> dict[str, Timing]:
    """Median latency in ms of each named query: cold (a new question each call: its page and its total are
    kept per question), cached, revalidated. `timeline` is asked from a day before every statement."""
    cases: dict[str, Callable[[int], dict[str, str]]] = {
        "stances-of-actor": lambda n: {"actor": f"id:Actor{n}"},
        "conflicts": lambda n: {"actor": f"id:Actor{n}"},
        "blocked-proposals": lambda n: {"by": f"id:Actor{n}"},
        "preconditions": lambda n: {"issue": f"id:Issue{n}"},
        "timeline": lambda n: {"from": f"1900-01-{n + 1:02d}"},
        "evidence": lambda n: {"resource": f"id:Actor{n}"},  # what each resource page asks
        "search-quotes": lambda n: {"text": f"Actor{n} rejects"},
    }
    out = {}
    with httpx.Client(timeout=600) as http:
        for name, params in cases.items():
            cold, warm, curl, revalidated = [], [], [], []
            for n in range(repeats):
                url = httpx.URL(f"{base}/api/queries/{name}", params=params(n))
                cold.append(_timed(http, url)[0])
                elapsed, etag = _timed(http, url)
                warm.append(elapsed)
                curl.append(_curl_ms(url))
                revalidated.append(_timed(http, url, etag)[0])
            out[f"named query {name}"] = tuple(statistics.median(m) for m in (cold, warm, curl, revalidated))
    return out


# `as_of` days after every statement: each request is a new question (a cache miss) for the whole view.
COLD_DAYS = ("2999-01-01", "2999-01-02", "2999-01-03")


def views(base: str, repeats: int = 20) -> dict[str, Timing]:
    """Each graph view, ms: the median of three requests that miss the cache (cold), then the median of repeated
    requests for the whole answer (cached) and of conditional ones (If-None-Match: 304, what a caching client
    pays). what-blocks is asked for issues not asked about before: a cut from the preconditions view, which
    is then built already."""
    out = {}
    with httpx.Client(timeout=600) as http:
        for name in ("preconditions", "stances", "actors", "timeline"):
            url = f"{base}/views/{name}"
            cold = statistics.median(_timed(http, httpx.URL(url, params={"as_of": day}))[0] for day in COLD_DAYS)
            out[f"view {name}"] = (cold, *_repeated(http, url, repeats))
        issues = [f"{base}/views/what-blocks/id:Issue{n}" for n in range(1, 4)]
        cold = statistics.median(_timed(http, url)[0] for url in issues)
        out["view what-blocks (one issue)"] = (cold, *_repeated(http, issues[0], repeats))
    return out


def _repeated(http: httpx.Client, url: str, repeats: int) -> tuple[float, float, float]:
    """Medians of an answer asked for again: read whole by httpx, by curl, and revalidated (304)."""
    etag = _timed(http, url)[1]
    warm = statistics.median(_timed(http, url)[0] for _ in range(repeats))
    curl = statistics.median(_curl_ms(httpx.URL(url)) for _ in range(repeats))
    revalidated = statistics.median(_timed(http, url, etag=etag)[0] for _ in range(repeats))
    return warm, curl, revalidated


def _timed(http: httpx.Client, url: str | httpx.URL, etag: str | None = None) -> tuple[float, str]:
    """(ms, the answer's ETag); with `etag`, a conditional request that must come back 304 (an answer sent
    without an ETag has nothing to revalidate: that is an error, not a full request timed as a 304)."""
    if etag == "":
        raise RuntimeError(f"{url} sent no ETag")
    headers = {"If-None-Match": etag} if etag else {}
    began = time.perf_counter()
    response = http.get(url, headers=headers)
    elapsed = (time.perf_counter() - began) * 1000
    if etag:
        assert response.status_code == 304, f"{url}: expected 304, got {response.status_code}"
    else:
        response.raise_for_status()
    return elapsed, response.headers.get("etag", "")


def _curl_ms(url: httpx.URL) -> float:
    """The whole answer as curl receives it (ms, its own clock), or NaN without curl: for answers of megabytes
    a Python client spends more time reading than the server does sending."""
    if not shutil.which("curl"):
        return float("nan")
    output = subprocess.run(["curl", "-sf", "-o", "/dev/null", "-w", "%{time_total}", str(url)], capture_output=True)
    return float(output.stdout) * 1000 if output.returncode == 0 else float("nan")


# ---------------------------------------------------------------------- the run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=200, help="corpus size (200 documents ~ 100k triples)")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument(
        "--seconds", type=_whole_seconds, default=3, help="length of one measure in whole seconds (wrk's unit)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per query; medians are reported")
    parser.add_argument("--skip", action="append", default=[], help="a server to leave out (repeatable)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        data = generate(tmp_path / "corpus", args.documents)
        quads = tmp_path / "all.nq"
        subprocess.run(
            [
                str(Path(sys.executable).parent / "stancegraph"),
                "export",
                "--format",
                "nquads",
                "--data-dir",
                str(data),
                "-o",
                str(quads),
            ],
            check=True,
            cwd=ROOT,
            env=_no_validation(),
        )
        triples = sum(1 for _ in quads.open("rb"))
        loads = timed_loads(data, quads, tmp_path)
        extras: dict[str, dict[str, Timing]] = {}
        with ExitStack() as stack:
            targets = _start_servers(stack, args, data, quads, tmp_path, loads, extras)
            mixes = run_mixes(targets, args.clients, args.seconds, args.rounds)
    report(triples, args, loads, mixes, extras)


def _start_servers(
    stack: ExitStack, args, data: Path, quads: Path, scratch: Path, loads: dict, extras: dict
) -> list[Target]:
    """Every server of the run, started side by side (each stays up until the stack closes), in the tables'
    order; Stancegraph's named queries and views are timed on each backend as it starts, and the baselines'
    load times go into `loads`."""
    # Served as the baselines are: without a log line per request (STANCEGRAPH_ACCESS_LOG=false).
    common = {
        "data_dir": data,
        "validate_on_load": "false",
        "query_timeout": 300,
        "max_rows": 10_000_000,
        "access_log": "false",
    }
    targets = []
    backends = {
        "memory": ("memory", 1),
        f"memory, {PROCESSES} processes": ("memory", PROCESSES),
        "oxigraph:PATH": (f"oxigraph:{scratch / 'served-disk'}", 1),
        "sparql: (oxigraph serve)": ("sparql:", 1),
    }
    for label, (store, processes) in backends.items():
        if label in args.skip:
            continue
        remote_pids: tuple[int, ...] = ()
        if store == "sparql:":  # the remote store it is served from, started only when measured
            remote, remote_pid = stack.enter_context(oxigraph_process(union_default_graph=True))
            store = f"sparql:{remote}/query,{remote}/update,{remote}/store"
            remote_pids = (remote_pid,)  # its CPU counts too: it evaluates the backend's queries
        base, server = stack.enter_context(stancegraph_process("--workers", str(processes), store=store, **common))
        _started(server, processes)
        pids = (server.pid, *remote_pids)
        if processes == 1:
            extras[label] = {**views(base), **named_queries(base)}
        targets.append(Target(f"stancegraph {label}", f"{base}/sparql", pids, cached=False))
        if store == "memory":
            targets.append(Target(f"stancegraph {label}, answer cache", f"{base}/sparql", pids))
    if "oxigraph serve" not in args.skip:
        oxigraph, pid = stack.enter_context(oxigraph_process(union_default_graph=True))
        httpx.post(
            f"{oxigraph}/store",
            content=quads.read_bytes(),
            headers={"content-type": "application/n-quads"},
            timeout=3600,
        ).raise_for_status()
        targets.append(Target("oxigraph serve", f"{oxigraph}/query", (pid,)))
    if ON_DISK[1] not in args.skip and ON_DISK[0].removeprefix("stancegraph ") not in args.skip:
        oxigraph, pid = stack.enter_context(oxigraph_process(oxigraph_on_disk(quads, scratch / "oxigraph"), True))
        targets.append(Target(ON_DISK[1], f"{oxigraph}/query", (pid,)))
    if "Virtuoso" not in args.skip and not shutil.which("virtuoso-t"):
        print("Virtuoso left out: apt-get install virtuoso-opensource-7-bin to measure it", file=sys.stderr)
    elif "Virtuoso" not in args.skip:
        endpoint, load, pid = stack.enter_context(virtuoso(quads))
        loads["Virtuoso bulk load (ld_dir, rdf_loader_run, checkpoint)"] = load
        targets.append(Target("Virtuoso", endpoint, (pid,)))
    if "rdflib-endpoint" not in args.skip:
        binary = rdflib_endpoint_binary()
        started = time.perf_counter()
        endpoint, pid = stack.enter_context(rdflib_endpoint(binary, quads))
        loads["rdflib-endpoint (start and parse)"] = (time.perf_counter() - started, float("nan"))
        targets.append(Target("rdflib-endpoint", endpoint, (pid,)))
    return targets


def oxigraph_on_disk(quads: Path, location: Path) -> Path:
    """The quads in an Oxigraph directory by its own bulk loader, compacted (`oxigraph optimize`) as our
    on-disk load is: the baseline of `oxigraph:PATH`."""
    binary = str(Path(sys.executable).parent / "oxigraph")
    subprocess.run([binary, "load", "--location", str(location), "--file", str(quads)], check=True, capture_output=True)
    subprocess.run([binary, "optimize", "--location", str(location)], check=True, capture_output=True)
    return location


def _whole_seconds(text: str) -> int:
    """wrk takes whole seconds only (it refuses `-d2.5s` with no more than a usage line)."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give a whole number of seconds, at least 1")
    return int(text)


def _started(server: subprocess.Popen, processes: int) -> None:
    """Wait until each of the server's app processes has loaded the data (each says so on stderr), so that
    no measurement meets a process still loading."""
    for _ in range(processes):
        while "Application startup complete" not in (line := server.stderr.readline()):
            if not line:
                raise RuntimeError("stancegraph serve ended before its processes started")
    # it stays up for the whole mix: what it logs meanwhile must not fill the pipe and stop it
    threading.Thread(target=server.stderr.read, daemon=True).start()


def _no_validation() -> dict[str, str]:
    return {**os.environ, "STANCEGRAPH_VALIDATE_ON_LOAD": "false"}


def report(triples: int, args, loads, mixes: dict[str, dict[str, Measure]], extras) -> None:
    client = "wrk" if shutil.which("wrk") else "an asyncio httpx client (install wrk for server-bound numbers)"
    print(
        f"\n{triples:,} quads; {args.clients} concurrent clients ({client}); each figure the median of"
        f" {args.rounds} interleaved rounds of {args.seconds:g} s per query and server (p99: the worst round's)\n"
    )
    print("| load | seconds | peak MB |\n|---|---|---|")
    for name, (seconds, megabytes) in loads.items():
        print(f"| {name} | {seconds:.1f} | {'-' if math.isnan(megabytes) else f'{megabytes:,.0f}'} |")
    servers = list(mixes)
    ours = [s for s in ("stancegraph memory", f"stancegraph memory, {PROCESSES} processes") if s in mixes]
    pairs = [(mine, b) for mine in ours for b in BASELINES if b in mixes]
    pairs += [ON_DISK] if all(server in mixes for server in ON_DISK) else []
    print("\nThroughput in requests/s (p50 / p99 latency in ms)\n")
    _mix_table(mixes, pairs, _cell, lambda m: m.throughput)
    failures = [f"{s}, {name}: {mixes[s][name].failure}" for name in MIX for s in servers if mixes[s][name].failure]
    for failure in failures:
        print(f"\n- {failure}")
    print("\nServer CPU per request in ms: all of a server's processes (app, query workers, remote store);")
    print("ratios are ours ÷ the baseline, below 1 = less CPU per answer. It moves less than requests/s with")
    print("the share of the machine the VM gets, but it moves too (hence the interleaved rounds).\n")
    _mix_table(mixes, pairs, lambda m: "-" if m.failure else f"{m.cpu_ms:.3f}", lambda m: m.cpu_ms)
    if extras:
        labels = list(extras)
        print("\nNamed queries and graph views, ms (p50): cold / cached, read by httpx / cached, read by curl /")
        print("revalidated with If-None-Match (304)\n")
        print("| | " + " | ".join(labels) + " |\n" + "|---" * (1 + len(labels)) + "|")
        for name in extras[labels[0]]:
            print(
                f"| {name} | "
                + " | ".join(" / ".join(f"{ms:,.1f}" for ms in extras[label][name]) for label in labels)
                + " |"
            )


def _cell(m: Measure) -> str:
    if m.failure:
        return "fails (see below)"
    flag = f", {m.errors} errors" if m.errors else ""
    return f"{m.throughput:,.0f} ({m.p50:.1f} / {m.p99:.1f}{flag})"


def _mix_table(
    mixes: dict[str, dict[str, Measure]],
    pairs: list[tuple[str, str]],
    cell: Callable[[Measure], str],
    value: Callable[[Measure], float],
) -> None:
    """One Markdown row per query of the mix: a cell per server, then value(ours) ÷ value(baseline) per pair."""
    servers = list(mixes)
    print("| query | " + " | ".join(servers) + "".join(f" | {mine} ÷ {b}" for mine, b in pairs) + " |")
    print("|---" * (1 + len(servers) + len(pairs)) + "|")
    for name in MIX:
        cells = [cell(mixes[server][name]) for server in servers]
        ratios = [_ratio(mixes[mine][name], mixes[b][name], value) for mine, b in pairs]
        print(f"| {name} | " + " | ".join(cells + ratios) + " |")


def _ratio(ours: Measure, baseline: Measure, value: Callable[[Measure], float]) -> str:
    return "-" if ours.failure or baseline.failure else f"{value(ours) / value(baseline):.2f}"


if __name__ == "__main__":
    main()
