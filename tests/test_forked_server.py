"""`serve --workers N` over the in-memory store: app processes forked from one process that loaded data/."""

import os
import signal
import time
from pathlib import Path

import httpx

from tests.live import stancegraph_process


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
