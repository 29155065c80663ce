"""The benchmark's own measuring instruments."""

import http.server
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from bench.run import MIX, PREFIXES, WARM_UP, Measure, Target, cpu_seconds, oxigraph_on_disk, run_mixes
from tests.live import handler_server

BURN_THEN_WAIT = """
import os, sys, time
pid = os.fork()
if pid == 0:
    end = time.process_time() + 0.5
    while time.process_time() < end:
        pass
    os._exit(0)
os.waitpid(pid, 0)
print("reaped", flush=True)
sys.stdin.read()
"""


def test_server_cpu_counts_the_work_of_descendants_that_ended():
    """A query worker killed and replaced during a measure still counts: its time moved to its parent."""
    server = subprocess.Popen(
        [sys.executable, "-c", BURN_THEN_WAIT], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout.readline().strip() == "reaped"
        assert 0.45 <= cpu_seconds([server.pid]) < 5  # /proc counts whole clock ticks: a few may be cut off
    finally:
        server.communicate("")


class Answering(http.server.BaseHTTPRequestHandler):
    """A server that answers every query, except the path query (as Virtuoso does with a cyclic graph)."""

    def do_GET(self):
        refused = "requires%2B" in self.path
        self.send_response(500 if refused else 200)
        self.end_headers()
        self.wfile.write(b"Error: transitive temp memory exceeded" if refused else b"{}")

    def log_message(self, *args):
        pass


def test_servers_are_measured_in_interleaved_rounds_and_their_medians_reported():
    """Every round measures every server once per query, each round starting one server later, so that a slow
    minute of the machine falls on all of them; a figure is the median of its rounds (the p99 the worst); a
    query a server refuses is reported with its error instead of being timed."""
    measured: list[tuple[str, str]] = []
    throughputs = {"a": iter([10.0, 50.0, 30.0] * len(MIX)), "b": iter([7.0, 1.0, 4.0] * len(MIX))}

    def load(url: str, headers: dict[str, str], clients: int, seconds: float) -> Measure:
        server = "a" if url.startswith(first) else "b"
        if seconds == WARM_UP:
            return Measure(0, 0, 0, 0)
        measured.append((server, parse_qs(urlsplit(url).query)["query"][0]))
        throughput = next(throughputs[server])
        return Measure(throughput, 1.0, throughput / 10, 0, requests=100)

    with handler_server(Answering) as first, handler_server(Answering) as second:
        targets = [Target("a", f"{first}/sparql", (os.getpid(),)), Target("b", f"{second}/query", (os.getpid(),))]
        mixes = run_mixes(targets, clients=4, seconds=3, rounds=3, load=load)

    lookup = PREFIXES + MIX["lookup"]
    assert [server for server, query in measured if query == lookup] == ["a", "b", "b", "a", "a", "b"]
    assert mixes["a"]["lookup"].throughput == 30.0 and mixes["b"]["lookup"].throughput == 4.0
    assert mixes["a"]["lookup"].p99 == 5.0, "the worst round's p99: a stall is not smoothed away"
    assert mixes["a"]["lookup"].requests == 300 and not mixes["a"]["lookup"].failure
    assert "transitive temp memory" in mixes["a"]["path"].failure
    assert not [query for _, query in measured if "requires+" in query]


def test_a_measure_length_wrk_cannot_take_is_refused_before_anything_runs():
    """wrk takes whole seconds: `--seconds 2.5` would fail after minutes of loading, so it is refused at once."""
    bench = Path(__file__).parent.parent / "bench" / "run.py"
    ran = subprocess.run([sys.executable, str(bench), "--seconds", "2.5"], capture_output=True, text=True, timeout=60)
    assert ran.returncode == 2
    assert "'2.5': give a whole number of seconds, at least 1" in ran.stderr


def test_the_on_disk_baseline_holds_the_quads_of_the_corpus_in_their_graphs(tmp_path):
    """`oxigraph serve --location` is measured over the very quads our on-disk backend serves."""
    import pyoxigraph as ox

    quads = tmp_path / "all.nq"
    quads.write_text('<x:a> <x:b> "1" <x:g1> .\n<x:a> <x:b> "2" <x:g2> .\n<x:c> <x:d> <x:e> .\n', encoding="utf-8")
    store = ox.Store.read_only(str(oxigraph_on_disk(quads, tmp_path / "oxigraph")))
    assert sorted(str(q) for q in store) == sorted(str(q) for q in ox.parse(path=quads, format=ox.RdfFormat.N_QUADS))
