"""A rate limit shared through Redis by every app process and instance, against Debian's real redis-server."""

import contextlib
import logging
import os
import subprocess
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from app import rate_limit
from app.rate_limit import check_rate_limit
from app.server import create_app
from app.settings import Settings
from tests.live import BIN, free_port, redis_server, stancegraph_process

ASK = "ASK {}"


@pytest.fixture(scope="module")
def redis_url():
    with redis_server() as url:
        yield url


@pytest.fixture(autouse=True)
def empty_windows(redis_url):
    """Each test starts with no request counted."""
    import redis

    with redis.Redis.from_url(redis_url) as client:
        client.flushdb()


def _ask(client) -> httpx.Response:
    return client.get("/sparql", params={"query": ASK})


def test_two_app_instances_over_one_redis_count_a_client_once(redis_url):
    settings = Settings(rate_limit="3/minute", rate_limit_storage=redis_url)
    with TestClient(create_app(settings)) as first, TestClient(create_app(settings)) as second:
        assert [_ask(first).status_code for _ in range(2)] == [200, 200]
        assert _ask(second).status_code == 200
        refused = _ask(second)
        assert refused.status_code == 429 and "rate limit 3/minute" in refused.text
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert _ask(first).status_code == 429, "the other instance sees the same window"
        assert first.get("/health").status_code == 200, "liveness checks are never limited"


def test_redis_is_reached_on_a_unix_socket_too(tmp_path):
    with redis_server(unix_socket=tmp_path / "redis.sock") as url:
        check_rate_limit("2/minute", url)
        settings = Settings(rate_limit="2/minute", rate_limit_storage=url)
        with TestClient(create_app(settings)) as first, TestClient(create_app(settings)) as second:
            assert [_ask(first).status_code, _ask(second).status_code, _ask(first).status_code] == [200, 200, 429]


def test_serve_with_two_processes_admits_exactly_the_rate_in_all(redis_url):
    with stancegraph_process("--workers", "2", rate_limit="6/minute", rate_limit_storage=redis_url) as (base, _):
        # a new connection per request, so that the kernel spreads them over both processes
        statuses = [httpx.get(f"{base}/sparql", params={"query": ASK}).status_code for _ in range(14)]
    assert statuses[:6] == [200] * 6 and statuses[6:] == [429] * 8


def test_when_redis_fails_while_serving_requests_go_through_and_one_warning_says_why(redis_url, caplog):
    with contextlib.ExitStack() as redis_alive:
        own_redis = redis_alive.enter_context(redis_server())
        app = create_app(Settings(rate_limit="2/minute", rate_limit_storage=own_redis))
        with TestClient(app) as client, caplog.at_level(logging.WARNING, logger="stancegraph.rate_limit"):
            assert [_ask(client).status_code for _ in range(3)] == [200, 200, 429]
            redis_alive.close()
            assert [_ask(client).status_code for _ in range(3)] == [200, 200, 200]
    warnings = [record.getMessage() for record in caplog.records if record.name == "stancegraph.rate_limit"]
    assert len(warnings) == 1, "one warning a minute, not one per request"
    assert "rate limit not applied" in warnings[0] and own_redis in warnings[0]


def test_the_limit_holds_on_both_ways_to_sparql_and_its_refusals_are_logged_with_cors_headers(caplog):
    """/sparql without an `Origin` takes the short way past the framework; with one, the CORS layer: one limit."""
    browser = {"Origin": "https://analyst.example.org"}
    with TestClient(create_app(Settings(rate_limit="4/minute"))) as client, caplog.at_level(logging.INFO):
        assert [_ask(client).status_code for _ in range(2)] == [200, 200]
        assert [client.get("/sparql", params={"query": ASK}, headers=browser).status_code for _ in range(2)] == [
            200,
            200,
        ]
        refused = client.get("/sparql", params={"query": ASK}, headers=browser)
        assert refused.status_code == 429 and refused.headers["access-control-allow-origin"] == "*"
        assert _ask(client).status_code == 429
        assert client.get("/views/actors").status_code == 429, "every route counts, not only /sparql"
    logged = [record.getMessage() for record in caplog.records if record.name == "stancegraph.access"]
    assert sum('"GET /sparql" 429' in line for line in logged) == 2


def test_a_request_one_rule_refuses_uses_up_nothing_of_the_others():
    with TestClient(create_app(Settings(rate_limit="2/second;3/minute"))) as client:
        assert [_ask(client).status_code for _ in range(5)] == [200, 200, 429, 429, 429]
        time.sleep(1.1)  # the second's window is free again; the minute's counted only the two answered
        assert [_ask(client).status_code for _ in range(2)] == [200, 429]


def test_a_redis_that_stops_answering_costs_one_slow_request_then_the_limit_resumes(redis_url, monkeypatch):
    import redis

    monkeypatch.setattr(rate_limit, "PAUSE_AFTER_FAILURE", 1.0)
    settings = Settings(rate_limit="2/minute", rate_limit_storage=redis_url)
    with TestClient(create_app(settings)) as client, redis.Redis.from_url(redis_url) as admin:
        assert [_ask(client).status_code for _ in range(3)] == [200, 200, 429]
        admin.client_pause(1500)  # Redis holds every client's commands for 1.5 s: it hangs, then recovers
        hanging = [_timed_ask(client) for _ in range(4)]
        time.sleep(1.6)
        assert _ask(client).status_code == 429, "the window survived the outage and is used again"
    assert [status for status, _ in hanging] == [200] * 4, "unlimited while the storage fails"
    assert hanging[0][1] >= 0.4, "the first request waits for the Redis timeout"
    assert all(seconds < 0.3 for _, seconds in hanging[1:]), "the next ones do not ask it again at once"


def _timed_ask(client) -> tuple[int, float]:
    started = time.perf_counter()
    status = _ask(client).status_code
    return status, time.perf_counter() - started


def _serve(**settings: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **{f"STANCEGRAPH_{name.upper()}": value for name, value in settings.items()}}
    command = [str(BIN / "stancegraph"), "serve", "--port", str(free_port())]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        ({"rate_limit_storage": "redis://:hunter2@127.0.0.1:{port}/0"}, "does not answer"),
        ({"rate_limit_storage": "memcached://127.0.0.1:11211"}, "use memory:// (this process) or redis://"),
        ({"rate_limit_storage": "memory://", "rate_limit": "often"}, "is not a rate like '20/second;600/minute'"),
    ],
    ids=["unreachable", "unknown storage", "bad rule"],
)
def test_serve_refuses_rate_limit_settings_that_cannot_work_in_one_line(settings, says):
    settings = {"rate_limit": "5/second", **settings}
    settings["rate_limit_storage"] = settings["rate_limit_storage"].format(port=free_port())
    serve = _serve(**settings)
    assert serve.returncode == 1 and "rate limit:" in serve.stderr and says in serve.stderr
    assert "Traceback" not in serve.stderr and len(serve.stderr.strip().splitlines()) == 1
    assert "hunter2" not in serve.stderr, "a password in the URI is never shown"


def test_a_password_protected_redis_is_reached_with_the_password_in_the_uri(redis_url):
    import redis

    with redis.Redis.from_url(redis_url) as admin:
        admin.config_set("requirepass", "s3cret")
        try:
            with pytest.raises(ValueError, match="does not answer") as wrong:
                check_rate_limit("5/second", redis_url.replace("redis://", "redis://:nope@"))
            assert "nope" not in str(wrong.value)
            guarded = redis_url.replace("redis://", "redis://:s3cret@")
            check_rate_limit("5/second", guarded)
            with TestClient(create_app(Settings(rate_limit="1/minute", rate_limit_storage=guarded))) as client:
                assert [_ask(client).status_code for _ in range(2)] == [200, 429]
        finally:
            with redis.Redis.from_url(redis_url.replace("redis://", "redis://:s3cret@")) as guarded_admin:
                guarded_admin.config_set("requirepass", "")
