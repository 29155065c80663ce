"""What is particular to each backend: persistence and locking on disk, kills during writes, remote stores
shared by several app processes. (Everything else runs on every backend through the conftest fixtures.)"""

import contextlib
import gzip
import http.server
import io
import json
import os
import shutil
import signal
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pyoxigraph as ox
import pytest
import rdflib
from rdflib.compare import isomorphic

from app import linked_data, service_description
from app.embedded_store import OnDiskStore
from app.namespaces import DERIVED_GRAPH, GRAPH, ID, SG, XSD
from app.remote_store import RemoteStore
from app.settings import Settings
from app.store import StoreUnavailable, open_store
from app.workers import QueryJob
from bench.generate import generate
from tests.conftest import replace_in
from tests.live import BIN, free_port, handler_server, oxigraph_server, running, stancegraph_process

TOKEN = "backend-test-token"
MARKER = "<https://example.org/committed> <https://example.org/p> <https://example.org/o>"
ASK_MARKER = f"ASK {{ {MARKER} }}"


def on_disk(settings: Settings, location: Path, **overrides) -> Settings:
    return settings.model_copy(update={"store": f"oxigraph:{location}", **overrides})


def generations(location: Path) -> list[str]:
    return sorted(p.name for p in location.glob("gen-*"))


def test_on_disk_store_keeps_committed_writes_across_restarts_until_the_files_change(data_copy, tmp_path):
    location = tmp_path / "store"
    writable = on_disk(data_copy, location, admin_token=TOKEN)
    first = open_store(writable)
    first.update(f"INSERT DATA {{ {MARKER} }}")
    version = first.data_version
    first.release()

    again = OnDiskStore(writable, location)
    assert again.open() is None, "an unchanged corpus is served from disk, not loaded again"
    assert again.ask(ASK_MARKER) and again.data_version == version
    again.release()

    replace_in(
        data_copy.data_dir / "encodings/000_dcc2f28bf5a60eb8.ttl",
        "d:stance-03 a sg:Stance ;",
        "d:stance-03 a sg:Stance ; # edited\n",
    )
    rebuilt = OnDiskStore(writable, location)
    assert rebuilt.open() is not None, "changed files are loaded again"
    assert not rebuilt.ask(ASK_MARKER) and rebuilt.data_version != version
    assert len(generations(location)) == 1, "the superseded generation is removed"
    rebuilt.release()


def test_one_writer_or_many_readers_per_directory(data_copy, tmp_path):
    location = tmp_path / "store"
    writer = open_store(on_disk(data_copy, location, admin_token=TOKEN))
    with pytest.raises(StoreUnavailable, match="another stancegraph process"):
        open_store(on_disk(data_copy, location))
    writer.release()
    readers = [open_store(on_disk(data_copy, location)) for _ in range(2)]
    assert all(r.ask("ASK { <https://stancegraph.org/id/Russia> ?p ?o }") for r in readers)
    with pytest.raises(StoreUnavailable, match="cannot write to"):
        open_store(on_disk(data_copy, location, admin_token=TOKEN))
    for reader in readers:
        reader.release()


def test_an_on_disk_store_where_no_directory_can_be_is_refused_with_the_reason(settings, tmp_path):
    """`--store oxigraph:FILE` was a FileExistsError traceback."""
    (tmp_path / "afile").write_text("")
    for location, reason in (("afile", "it is a file"), ("afile/store", "Not a directory")):
        with pytest.raises(StoreUnavailable, match=f"cannot use .*{location} as the store's directory: {reason}"):
            open_store(on_disk(settings, tmp_path / location))


def with_an_unnamed_coalition(data_copy: Settings) -> Settings:
    """The data with a stance held by a blank node (its direct triple in the derived graph is about that node)."""
    replace_in(
        data_copy.data_dir / "encodings/000_dcc2f28bf5a60eb8.ttl",
        "sg:holder id:UnitedStates ; sg:polarity pol:proposes ; sg:target id:DeployUSAMDElementsInRussia ;",
        'sg:holder [ a sg:Coalition ; rdfs:label "an unnamed coalition" ] ; sg:polarity pol:proposes ;'
        " sg:target id:DeployUSAMDElementsInRussia ;",
    )
    return data_copy.model_copy(update={"validate_on_load": False, "admin_token": TOKEN})


HELD_AND_DERIVED = f"""PREFIX sg: <{SG}> PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
SELECT ?label ?direct WHERE {{ GRAPH ?encoding {{ ?stance sg:holder ?holder . ?holder rdfs:label ?label }}
  GRAPH <{DERIVED_GRAPH}> {{ ?holder ?direct ?target }} FILTER isBlank(?holder) }} ORDER BY ?direct"""


@pytest.mark.parametrize("backend", ["memory", "oxigraph"])
def test_a_derived_triple_about_a_blank_node_is_about_that_node_after_a_load_and_after_writes(
    backend, data_copy, tmp_path
):
    """The rules' triples were loaded by the engine's loader, which names blank nodes afresh: the unnamed
    coalition's `sg:proposes` was about another, nameless node, and every write replaced it with yet another."""
    coalition = with_an_unnamed_coalition(data_copy)
    store = open_store(coalition if backend == "memory" else on_disk(coalition, tmp_path / "store"))
    expected = [("an unnamed coalition", SG + "proposes"), ("an unnamed coalition", SG + "takesStanceOn")]
    for _ in range(2):
        rows = store.select(HELD_AND_DERIVED, union_default_graph=False)
        assert [(row["label"].value, row["direct"].value) for row in rows] == expected
        store.update(f"INSERT DATA {{ {MARKER} }}")
    store.release()


def test_a_remote_store_says_that_derived_triples_about_blank_nodes_are_about_new_nodes(data_copy, caplog):
    """Neither protocol can name a blank node the remote store holds: the log says so at the load and after
    a write, rather than the derived graph silently holding triples about nameless new nodes."""
    coalition = with_an_unnamed_coalition(data_copy)
    with oxigraph_server(union_default_graph=True) as base:
        remote = coalition.model_copy(update={"store": f"sparql:{base}/query,{base}/update,{base}/store"})
        about_blank_nodes = f"""SELECT (COUNT(*) AS ?n) WHERE {{
          GRAPH <{DERIVED_GRAPH}> {{ ?s ?p ?o FILTER (isBlank(?s) || isBlank(?o)) }} }}"""
        with caplog.at_level("WARNING", logger="stancegraph.store"):
            store = open_store(remote)
            for n in range(2):  # each write replaces them (the only triples of the graph that are not compared)
                store.update(f"INSERT DATA {{ {MARKER.replace('committed', f'committed-{n}')} }}")
                assert store.select(about_blank_nodes)[0]["n"].value == "2"
        warnings = [r.getMessage() for r in caplog.records if "about blank nodes" in r.getMessage()]
        assert len(warnings) == 3 and warnings[0].startswith("2 derived triples are about blank nodes")
        store.release()
    caplog.clear()
    with caplog.at_level("WARNING", logger="stancegraph.store"):
        open_store(coalition.model_copy(update={"store": "memory"})).release()
    assert not [r for r in caplog.records if "about blank nodes" in r.getMessage()]


Relayed = Callable[[str, httpx.Response], tuple[bytes, bool]]


@contextlib.contextmanager
def relayed_store(
    answer: Relayed, accept: Callable[[str], str] = lambda asked: asked
) -> Iterator[tuple[str, list[str]]]:
    """`oxigraph serve` behind a relay that behaves as another store would: `accept` changes the Accept header
    it is sent; `answer(query, response)` gives the body sent back and whether to break it off halfway (send
    half of it, then close the connection, as a store restarting or a network cut does). Yields its URL and
    the queries whose answers the app closed the connection on before it had them all."""
    with oxigraph_server(union_default_graph=True) as store, httpx.Client(base_url=store, timeout=60) as upstream:

        class Relay(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() == "content-type"}
                headers["Accept"] = accept(self.headers.get("Accept", "*/*"))
                response = upstream.request(self.command, self.path, content=body, headers=headers)
                query = urllib.parse.parse_qs(body.decode()).get("query", [""])[0] if self.command == "POST" else ""
                content, cut = answer(query, response)
                self.send_response(response.status_code)
                self.send_header("Content-Type", response.headers.get("content-type", "text/plain"))
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                sent = content[: len(content) // 2] if cut else content
                try:  # a part at a time, as a store writes an answer while it evaluates
                    for start in range(0, len(sent), 1 << 16):
                        self.wfile.write(sent[start : start + (1 << 16)])
                        time.sleep(0.001 if start else 0)
                except (BrokenPipeError, ConnectionResetError):
                    hung_up.append(query)
                    cut = True
                self.close_connection = cut

            do_GET = do_POST = do_PUT = do_DELETE = _forward

            def log_message(self, *args) -> None:
                pass

        hung_up: list[str] = []
        with handler_server(Relay) as base:
            yield base, hung_up


def _remote(settings: Settings, base: str) -> Settings:
    return settings.model_copy(update={"store": f"sparql:{base}/query,{base}/update,{base}/store"})


def test_a_remote_dump_that_breaks_off_is_an_error_not_a_short_dump(data_copy):
    """The dumps are written as the remote store's answer arrives: one cut halfway must not be sent as the
    whole dataset (nor kept as it for harvesters)."""
    from fastapi.testclient import TestClient

    from app.server import create_app

    breaking = threading.Event()

    def half_a_dump(query: str, response: httpx.Response) -> tuple[bytes, bool]:
        return response.content, breaking.is_set() and query.startswith("SELECT ?s ?p ?o ?g")

    cache = data_copy.data_dir.parent / "cache"  # its own: no dump of this data version made by other tests
    settings = data_copy.model_copy(update={"cache_dir": cache})
    with relayed_store(half_a_dump) as (base, _), TestClient(create_app(_remote(settings, base))) as client:
        breaking.set()
        for path, accept in (("/dump.nq.gz", "*/*"), ("/store", "application/n-quads")):
            cut = client.get(path, headers={"Accept": accept})
            assert cut.status_code == 502, path
            assert "the answer broke off" in cut.text, cut.text
        assert not [p for p in (cache / "dumps").iterdir() if p.name != "making.lock"], "no part of it is kept"
        breaking.clear()
        whole = client.get("/dump.nq.gz")
        assert whole.status_code == 200
        quads = list(ox.parse(gzip.decompress(whole.content), format=ox.RdfFormat.N_QUADS))
        embedded, dumped = open_store(data_copy), io.BytesIO()
        embedded.dump(dumped, ox.RdfFormat.N_QUADS)
        embedded.release()
        assert len(quads) == len(list(ox.parse(dumped.getvalue(), format=ox.RdfFormat.N_QUADS))) > 1000
        assert client.get("/store", headers={"Accept": "application/n-quads"}).content == gzip.decompress(whole.content)


def test_a_remote_answer_past_the_row_limit_is_read_no_further(tmp_path):
    """The store's answer is serialized as it arrives and the connection closed at the row limit: read whole,
    `SELECT * { ?s ?p ?o }` at 1M triples took 5.8 s and grew the app by 865 MB for the 100,000 rows sent."""
    as_it_is = lambda query, response: (response.content, False)  # noqa: E731
    with relayed_store(as_it_is) as (base, hung_up):
        corpus = Settings(data_dir=generate(tmp_path / "corpus", documents=100), validate_on_load=False)
        store = open_store(_remote(corpus, base))  # 50,000 triples: answers past what sockets hold
        for query, kind in (("SELECT * WHERE { ?s ?p ?o }", "csv"), ("CONSTRUCT WHERE { ?s ?p ?o }", "turtle")):
            job = QueryJob(query, result_format="text/csv", graph_format="text/turtle", max_rows=10)
            outcome = store.run(job)
            assert outcome.truncated and outcome.rows == 10, kind
            assert wait_for(lambda asked=query: asked in hung_up, 10), kind  # the relay finds it was not read whole
        assert store.ask("ASK { ?s ?p ?o }")  # and the next query goes through
        store.release()


def _as_virtuoso_answers(query: str, response: httpx.Response) -> tuple[bytes, bool]:
    """Virtuoso 7.2 answers an ASK as a SELECT of `__ASK_RETVAL` (a row when true, none when false)."""
    if not query.lstrip().upper().startswith("ASK") or "json" not in response.headers.get("content-type", ""):
        return response.content, False
    true = {"__ASK_RETVAL": {"type": "typed-literal", "datatype": f"{XSD}integer", "value": "1"}}
    rows = [true] if response.json()["boolean"] else []
    return json.dumps({"head": {"vars": ["__ASK_RETVAL"]}, "results": {"bindings": rows}}).encode(), False


def test_a_store_that_answers_as_virtuoso_does_is_asked_for_each_form_in_its_own_format(data_copy):
    """Virtuoso answers in the first type the Accept header names whatever the query's form (a CONSTRUCT as
    solutions of ?s ?p ?o, which failed here), and an ASK as solutions (which read as true even when false)."""
    first_type_only = lambda accept: accept.split(",")[0]  # noqa: E731
    with relayed_store(_as_virtuoso_answers, accept=first_type_only) as (base, _):
        remote = _remote(data_copy, base).model_copy(update={"admin_token": TOKEN})
        store = open_store(remote)
        assert store.ask(f"ASK {{ <{ID}Russia> ?p ?o }}") and not store.ask("ASK { <urn:nothing> ?p ?o }")
        assert store.has_graph(DERIVED_GRAPH) and not store.has_graph("urn:nothing")
        construct = store.run(QueryJob(f"CONSTRUCT WHERE {{ <{ID}Russia> ?p ?o }}", graph_format="text/turtle"))
        assert len(rdflib.Graph().parse(data=construct.body, format="turtle")) > 3
        store.update(f"INSERT DATA {{ GRAPH <http://example.org/a> {{ {_stance('Georgia', 'rejects')} }} }}")
        direct = f"ASK {{ GRAPH <{DERIVED_GRAPH}> {{ <{ID}Georgia> <{SG}rejects> <{ID}ThirdSite> }} }}"
        assert store.ask(direct)
        with pytest.raises(KeyError):
            store.dump(io.BytesIO(), ox.RdfFormat.N_TRIPLES, "urn:nothing")
        store.release()


def test_an_on_disk_load_holds_the_dataset_built_in_memory_blank_nodes_included(data_copy, tmp_path):
    """The load is built in memory and copied to disk: every quad, and a blank node in two graphs (the
    unnamed coalition in its encoding and in the derived graph) still one node."""
    coalition = with_an_unnamed_coalition(data_copy)
    built, copied = open_store(coalition), open_store(on_disk(coalition, tmp_path / "store"))
    assert isomorphic(_one_graph(built), _one_graph(copied))
    assert len(copied.select(HELD_AND_DERIVED, union_default_graph=False)) == 2
    copied.release()


def _one_graph(store) -> rdflib.Graph:
    """The store's quads as one graph whose predicates name their graph too: isomorphic iff the datasets are."""
    out = io.BytesIO()
    store.dump(out, ox.RdfFormat.N_QUADS)
    dataset = rdflib.Dataset()
    dataset.parse(data=out.getvalue(), format="nquads")
    merged = rdflib.Graph()
    for s, p, o, g in dataset.quads():
        merged.add((s, rdflib.URIRef(f"{p}--{g}"), o))
    return merged


def test_unknown_store_settings_are_refused_with_the_accepted_forms(settings):
    for wrong in ("postgres:x", "oxigraph:", "sparql:ftp://x", "memory:x"):
        with pytest.raises(StoreUnavailable, match="QUERY_URL"):
            open_store(settings.model_copy(update={"store": wrong}))


def test_a_remote_store_must_query_the_union_of_its_graphs(data_copy):
    with oxigraph_server(union_default_graph=False) as base:
        remote = f"sparql:{base}/query,{base}/update,{base}/store"
        with pytest.raises(StoreUnavailable, match="--union-default-graph"):
            open_store(data_copy.model_copy(update={"store": remote}))


def test_a_remote_store_is_sent_its_graph_names_only_for_a_query_that_reads_named_graphs(data_copy, monkeypatch):
    """At 2,005 graphs the list is a 156 KB request that costs the store 15-25 ms to take in: resource pages
    and the VoID statistics read the union default graph, a query without GRAPH only our default graph."""
    sent: list[dict[str, list[str]]] = []
    post = RemoteStore._post_query

    def posting(self, query, dataset, *args, **kwargs):
        sent.append(dataset)
        return post(self, query, dataset, *args, **kwargs)

    monkeypatch.setattr(RemoteStore, "_post_query", posting)
    with oxigraph_server(union_default_graph=True) as base:
        store = open_store(_remote(data_copy, base))
        sent.clear()
        assert linked_data.describe_resource(store, ID + "Russia", None) is not None
        service_description.dataset_statistics(store)
        assert sent and not any(dataset.get("named-graph-uri") for dataset in sent)
        assert store.ask(f"ASK {{ <{ID}doc/000_dcc2f28bf5a60eb8> ?p ?o }}", union_default_graph=False)
        assert sent[-1] == {"default-graph-uri": [GRAPH + "default"], "named-graph-uri": []}
        assert store.ask(f"ASK {{ GRAPH ?g {{ <{ID}Russia> ?p ?o }} }}", union_default_graph=False)
        assert DERIVED_GRAPH in sent[-1]["named-graph-uri"] and GRAPH + "default" not in sent[-1]["named-graph-uri"]
        store.release()


def test_a_read_only_remote_store_without_our_data_is_refused(data_copy):
    with (
        oxigraph_server(union_default_graph=True) as base,
        pytest.raises(StoreUnavailable, match="no UPDATE_URL or STORE_URL"),
    ):
        open_store(data_copy.model_copy(update={"store": f"sparql:{base}/query"}))


def ask(base: str, query: str) -> bool:
    response = httpx.get(
        f"{base}/sparql", params={"query": query}, headers={"accept": "application/sparql-results+json"}
    )
    assert response.status_code == 200, response.text
    return response.json()["boolean"]


def wait_for(condition, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.005)
    return False


def test_a_kill_during_writes_loses_no_committed_data(tmp_path):
    """SIGKILL the server while it builds a new generation and while it commits a big Graph Store POST;
    after a restart every committed write is there and the interrupted ones are all there or not at all."""
    data = generate(tmp_path / "corpus", documents=300)
    location = tmp_path / "store"
    config = {"data_dir": data, "store": f"oxigraph:{location}", "admin_token": TOKEN, "validate_on_load": "false"}
    auth = {"authorization": f"Bearer {TOKEN}"}
    update = {**auth, "content-type": "application/sparql-update"}

    with stancegraph_process(**config) as (base, process):
        assert httpx.post(f"{base}/sparql", content=f"INSERT DATA {{ {MARKER} }}", headers=update).status_code == 204
        reload = threading.Thread(target=lambda: _quietly(httpx.post, f"{base}/admin/reload", headers=auth, timeout=60))
        reload.start()
        assert wait_for(lambda: len(generations(location)) == 2), "the reload never started a new generation"
        process.send_signal(signal.SIGKILL)
        reload.join()

    with stancegraph_process(**config) as (base, process):
        assert ask(base, ASK_MARKER), "a committed update survives a kill during a reload"
        assert len(generations(location)) == 1, "the half-built generation is removed"
        triples = 200_000
        payload = "".join(f"<https://example.org/s{i}> <https://example.org/p> {i} .\n" for i in range(triples))
        big = "https://example.org/big"
        post = threading.Thread(
            target=lambda: _quietly(
                httpx.post,
                f"{base}/store",
                params={"graph": big},
                content=payload.encode(),
                headers={**auth, "content-type": "application/n-triples"},
                timeout=60,
            )
        )
        post.start()
        time.sleep(1.0)
        process.send_signal(signal.SIGKILL)
        post.join()

    with stancegraph_process(**config) as (base, _):
        assert ask(base, ASK_MARKER)
        count = f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{big}> {{ ?s ?p ?o }} }}"
        response = httpx.get(f"{base}/sparql", params={"query": count}, headers={"accept": "text/csv"})
        stored = int(response.text.split()[1])
        print(f"\nkilled during a {triples}-triple POST: {stored} triples stored (all or nothing)")
        assert stored in (0, triples)


def _quietly(call, *args, **kwargs) -> None:
    """A request whose server is killed under it: the error is expected."""
    with contextlib.suppress(httpx.HTTPError):
        call(*args, **kwargs)


def test_several_app_processes_share_one_remote_store_and_its_version(tmp_path):
    with oxigraph_server(union_default_graph=True) as remote:
        store = f"sparql:{remote}/query,{remote}/update,{remote}/store"
        with stancegraph_process("--workers", "2", store=store, admin_token=TOKEN) as (base, process):
            versions = {httpx.get(f"{base}/health").json()["data_version"] for _ in range(20)}
            assert len(versions) == 1, "every process reports the same data version"
            headers = {"authorization": f"Bearer {TOKEN}", "content-type": "application/sparql-update"}
            assert (
                httpx.post(f"{base}/sparql", content=f"INSERT DATA {{ {MARKER} }}", headers=headers).status_code == 204
            )
            time.sleep(1.2)  # the version is re-read from the store at most once a second
            after = {httpx.get(f"{base}/health").json()["data_version"] for _ in range(20)}
            assert len(after) == 1 and after != versions
            assert all(ask(base, ASK_MARKER) for _ in range(10))
            children = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True).stdout.split()
            assert len(children) >= 2, "uvicorn runs two app processes"


def test_two_instances_writing_at_once_leave_the_derived_graph_of_both_writes(data_copy):
    """Instance A works out its changes to the derived graph from the data before B's write, and B writes and
    changes the derived graph before A sends them: the graph would then miss B's stance, or hold triples no
    rule derives, until the next write. It must end as the rules derive from both writes."""
    with oxigraph_server(union_default_graph=True) as remote:
        settings = data_copy.model_copy(
            update={"store": f"sparql:{remote}/query,{remote}/update,{remote}/store", "admin_token": TOKEN}
        )
        first, second = open_store(settings), open_store(settings)
        changes_of, interleaved = first._derived_changes, []

        def changes_before_the_other_write() -> str | None:
            changes = changes_of()
            if not interleaved:  # once: B writes and derives after A worked out its changes, before A sends them
                interleaved.append(True)
                second.update(f"INSERT DATA {{ GRAPH <http://example.org/b> {{ {_stance('Poland', 'supports')} }} }}")
            return changes

        first._derived_changes = changes_before_the_other_write
        first.update(f"INSERT DATA {{ GRAPH <http://example.org/a> {{ {_stance('Georgia', 'rejects')} }} }}")
        for holder, polarity in (("Poland", "supports"), ("Georgia", "rejects")):
            direct = f"ASK {{ GRAPH <{DERIVED_GRAPH}> {{ <{ID}{holder}> <{SG}{polarity}> <{ID}ThirdSite> }} }}"
            assert first.ask(direct) and second.ask(direct), holder
        embedded = open_store(data_copy)
        for graph, holder, polarity in (("a", "Georgia", "rejects"), ("b", "Poland", "supports")):
            embedded.update(f"INSERT DATA {{ GRAPH <http://example.org/{graph}> {{ {_stance(holder, polarity)} }} }}")
        assert _derived_lines(first) == _derived_lines(embedded)
        for store in (first, second, embedded):
            store.release()


def test_a_rule_the_remote_store_cannot_evaluate_leaves_the_derived_graph_as_it_was(data_copy, tmp_path, caplog):
    """Half a derived graph would say that the other half no longer holds: the write is done, the derived graph
    is kept whole, and the log names the rule and why (as for Oxigraph's LATERAL on Virtuoso or Fuseki)."""
    queries = tmp_path / "queries"
    shutil.copytree(data_copy.queries_dir, queries)
    with oxigraph_server(union_default_graph=True) as remote:
        settings = data_copy.model_copy(
            update={"store": f"sparql:{remote}/query,{remote}/update,{remote}/store", "queries_dir": queries}
        )
        store = open_store(settings)
        before = _derived_lines(store)
        unreachable = f"http://127.0.0.1:{free_port()}/sparql"
        (queries / "rules" / "80-elsewhere.rq").write_text(
            f"CONSTRUCT {{ ?s ?p ?o }} WHERE {{ SERVICE <{unreachable}> {{ ?s ?p ?o }} }}", encoding="utf-8"
        )
        with caplog.at_level("WARNING", logger="stancegraph.store"):
            store.update(f"INSERT DATA {{ GRAPH <http://example.org/a> {{ {_stance('Georgia', 'rejects')} }} }}")
        assert store.ask(f"ASK {{ <http://example.org/Georgia-stance> <{SG}holder> <{ID}Georgia> }}")
        assert _derived_lines(store) == before
        assert any("left as it was: rule 80-elsewhere.rq failed" in r.getMessage() for r in caplog.records)
        store.release()


def _derived_lines(store) -> set[bytes]:
    dumped = io.BytesIO()
    store.dump(dumped, ox.RdfFormat.N_TRIPLES, DERIVED_GRAPH)
    return set(dumped.getvalue().splitlines())


def _stance(holder: str, polarity: str) -> str:
    return (
        f"<http://example.org/{holder}-stance> a <{SG}Stance> ; <{SG}holder> <{ID}{holder}> ; "
        f"<{SG}target> <{ID}ThirdSite> ; <{SG}polarity> <{ID}polarity/{polarity}> ."
    )


def test_embedded_stores_refuse_writes_shared_by_several_processes(tmp_path):
    result = subprocess.run(
        [str(BIN / "stancegraph"), "serve", "--workers", "2", "--admin-token", TOKEN],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "STANCEGRAPH_STORE": "memory"},
    )
    assert result.returncode == 2
    assert "cannot share writes to an embedded store" in result.stderr


def test_a_remote_store_that_goes_down_shows_in_health_within_a_second_and_recovers(tmp_path):
    """The shared data version is re-read in a thread (handlers never wait for the store to read it); an
    unreachable store is reported, not hidden behind the last version."""
    from fastapi.testclient import TestClient

    from app.server import create_app

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    serve = [str(BIN / "oxigraph"), "serve", "--bind", f"127.0.0.1:{port}", "--union-default-graph"]
    serve += ["--location", str(tmp_path / "remote")]
    ready = f"{base}/query?query=ASK%7B%7D"
    settings = Settings(store=f"sparql:{base}/query,{base}/update,{base}/store", validate_on_load=False)
    with contextlib.ExitStack() as remote:
        remote.enter_context(running(serve, ready))
        with TestClient(create_app(settings)) as client:
            version = client.get("/health").json()["data_version"]
            remote.close()
            time.sleep(1.2)
            down = client.get("/health")
            assert down.status_code == 502 and "unreachable" in down.json()["detail"]
            assert client.get("/sparql", params={"query": "ASK {}"}).status_code == 502
            with running(serve, ready):
                time.sleep(1.2)
                assert client.get("/health").json() == {"status": "ok", "data_version": version}


def test_a_store_url_that_redirects_is_refused_with_where_it_leads(data_copy):
    """Followed, a redirect would take the query and the credentials elsewhere; read as an answer, its empty
    body was the store saying nothing (a 500 later)."""
    from tests.test_ssrf import redirector

    with oxigraph_server(union_default_graph=True) as real, redirector(f"{real}/query") as moved:
        remote = data_copy.model_copy(update={"store": f"sparql:{moved}/query,{real}/update,{real}/store"})
        with pytest.raises(StoreUnavailable, match=rf"sends queries to {real}/query \(30\d\): use that URL"):
            open_store(remote)
