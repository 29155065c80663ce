"""`serve --workers N` over the in-memory store: app processes forked from one process that loaded data/."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from uvicorn.config import STARTUP_FAILURE

from tests.live import free_port, stancegraph_process


def _children(pid: int) -> set[int]:
    return {int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def _settle(server: int, count: int, unlike: set[int] = frozenset()) -> set[int]:
    """The server's app processes once there are `count` of them, none of them in `unlike`."""
    deadline = time.monotonic() + 60
    while len(apps := _children(server)) != count or apps & unlike:
        assert time.monotonic() < deadline, apps
        time.sleep(0.1)
    return apps


def test_app_processes_share_one_load_are_replaced_when_killed_and_stop_together():
    with stancegraph_process("--workers", "2", validate_on_load=False) as (base, server):
        apps = _settle(server.pid, 2)
        workers = set().union(*(_children(app) for app in apps))
        victim = min(apps)
        os.kill(victim, signal.SIGKILL)  # as the kernel's OOM killer would
        after = _settle(server.pid, 2, unlike={victim})
        assert all(httpx.get(f"{base}/health").status_code == 200 for _ in range(20))
        workers |= set().union(*(_children(app) for app in after))
    log = server.stderr.read()
    assert log.count("loaded ") == 1, "data/ is loaded once, before the app processes are forked"
    assert f"app process {victim} ended (signal SIGKILL): forking another" in log
    deadline = time.monotonic() + 10
    while any(map(_alive, apps | after | workers)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(map(_alive, apps | after | workers)), "no app process or query worker outlives the server"


REFUSING_START = """
import sys
import uvicorn
from app.forked_server import serve_forked
from app.server import create_app
from app.settings import Settings

application = create_app(Settings(validate_on_load=False))
application.state.store.close()


def refuse() -> None:
    raise OSError("cannot fork the query workers")


application.state.store.start = refuse  # what each app process does first, in its lifespan
sys.exit(serve_forked(uvicorn.Config(application, host="127.0.0.1", port=int(sys.argv[1])), 2))
"""


def test_app_processes_that_cannot_start_stop_the_server_instead_of_being_forked_again_and_again():
    """The next fork would fail the same way: a supervisor forking one every second for ever hides the fault."""
    ran = subprocess.run(
        [sys.executable, "-c", REFUSING_START, str(free_port())], capture_output=True, text=True, timeout=120
    )
    assert ran.returncode == STARTUP_FAILURE, ran.stderr[-2000:]
    assert "OSError: cannot fork the query workers" in ran.stderr
    assert "failed to start (see above): stopping the server" in ran.stderr
    assert "forking another" not in ran.stderr
