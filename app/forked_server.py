"""`serve --workers N` over the in-memory store: N app processes forked from one process that loaded data/.

uvicorn's own supervisor spawns fresh interpreters, so each app process parsed and checked data/ again and held
its own copy of the store: at 1M triples, 9 s to start two processes and 1.6 GB. Forked after the load, they
share the loaded store's pages (copy-on-write: the store is read-only here) and start at once. The parent
only supervises: it forwards SIGINT and SIGTERM, and forks a new app process, from the same loaded store,
when one dies (an out-of-memory kill, say), so the port keeps its N processes. One that fails to start (its
query workers cannot be forked, say) stops the server, as gunicorn does, rather than being forked again
every second for ever: the next would fail the same way.
"""

import contextlib
import logging
import os
import signal
import time

import uvicorn
from uvicorn.config import STARTUP_FAILURE

log = logging.getLogger("stancegraph.serve")

SIGNALS = {signal.SIGINT, signal.SIGTERM}
RESTART_PAUSE = 1.0  # seconds between a process that died and its replacement: no fork storm if each dies at once


def serve_forked(config: uvicorn.Config, processes: int) -> int:
    """Serve `config.app` (already loaded) from `processes` forked app processes sharing one socket; the exit
    status: 0 once stopped by a signal, uvicorn's STARTUP_FAILURE when an app process could not start."""
    sock = config.bind_socket()
    children: set[int] = set()
    stopping = False

    def stop(signum: int, _frame) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM if signum == signal.SIGTERM else signal.SIGINT)

    def fork() -> None:
        """One more app process; SIGINT and SIGTERM wait until it is counted (and, in it, until it has its own
        handling of them), so that a Ctrl-C at that moment reaches every process once."""
        signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
        try:
            pid = os.fork()
            if pid == 0:  # the child: one uvicorn server on the shared socket, never back into the parent's code
                status = 1
                try:
                    for sig in SIGNALS:
                        signal.signal(sig, signal.SIG_DFL)  # uvicorn installs its own when it starts
                    signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)
                    server = uvicorn.Server(config)
                    try:
                        server.run(sockets=[sock])
                    except SystemExit as ended:  # how recent uvicorn (0.54 here) says the app failed to start
                        status = ended.code if isinstance(ended.code, int) else 1
                    else:  # older ones return without having started
                        status = 0 if server.started else STARTUP_FAILURE
                finally:
                    os._exit(status)
            children.add(pid)
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)

    previous = {sig: signal.signal(sig, stop) for sig in SIGNALS}
    outcome = 0
    try:
        for _ in range(processes):
            fork()
        while children:
            pid, status = os.wait()
            if pid not in children:
                continue  # not an app process (they are the only children it forks, but be sure)
            children.discard(pid)
            if stopping:
                continue
            if os.WIFEXITED(status) and os.WEXITSTATUS(status) == STARTUP_FAILURE:
                log.error("app process %d failed to start (see above): stopping the server", pid)
                outcome = STARTUP_FAILURE
                stop(signal.SIGTERM, None)
                continue
            log.warning("app process %d ended (%s): forking another", pid, _ending(status))
            time.sleep(RESTART_PAUSE)
            if not stopping:
                fork()
        return outcome
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()


def _ending(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit status {os.WEXITSTATUS(status)}"
