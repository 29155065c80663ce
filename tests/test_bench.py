"""The benchmark's own measuring instruments."""

import subprocess
import sys

from bench.run import cpu_seconds

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
